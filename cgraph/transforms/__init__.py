"""Derivatives beyond one backward pass, built on the engine's passes and the ops' rules.

- :func:`jvp` and :func:`jacobian`: forward mode, and whole Jacobians by either mode;
- :func:`gradient_graph` and :func:`tangent_graph`: the reverse and forward passes
  declared as new graphs of named nodes, which can be differentiated again;
- :func:`hessian` and :func:`hvp`: second derivatives, by forward mode over the
  gradient graph;
- :func:`gradcheck` and :func:`numerical_gradient`: every gradient checked against
  central finite differences.
"""

from cgraph.transforms.forward_mode import jacobian, jvp
from cgraph.transforms.gradcheck import gradcheck, numerical_gradient
from cgraph.transforms.gradient_graph import gradient_graph
from cgraph.transforms.hessian import hessian, hvp
from cgraph.transforms.tangent_graph import tangent_graph

__all__ = [
    "gradcheck",
    "gradient_graph",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "numerical_gradient",
    "tangent_graph",
]

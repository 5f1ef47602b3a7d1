"""The engine: nodes, the cached schedule, the forward and backward passes, and GraphCore.

:class:`GraphCore` declares named nodes and runs the passes; everything else in
cgraph (forward mode, second derivatives, drawings, files, optimisers) is built
on its public interface and on the two passes here.
"""

from cgraph.engine.core import GraphCore
from cgraph.engine.nodes import Constant, Input, Node, OperationNode
from cgraph.engine.passes import EvaluatedPass, leaf_values, run_backward, run_forward
from cgraph.engine.schedule import Schedule

__all__ = [
    "Constant",
    "EvaluatedPass",
    "GraphCore",
    "Input",
    "Node",
    "OperationNode",
    "Schedule",
    "leaf_values",
    "run_backward",
    "run_forward",
]

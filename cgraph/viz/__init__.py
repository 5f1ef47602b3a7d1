"""Seeing a graph: drawings (matplotlib), DOT text, and the chain rule written out.

:func:`draw` and :func:`to_dot` lay the graph out left to right with each node's
value and gradient once known (:mod:`cgraph.viz.layout` decides what to show,
:mod:`cgraph.viz.draw` renders it); :func:`explain` lists every path of the chain
rule with its local derivatives. matplotlib is imported only when drawing.
"""

from cgraph.viz.draw import draw, repr_svg, to_dot
from cgraph.viz.explain import Explanation, explain

__all__ = ["Explanation", "draw", "explain", "repr_svg", "to_dot"]

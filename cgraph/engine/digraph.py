"""Adding declared nodes to the graph's ``networkx.DiGraph``, at the cost of a dict write.

networkx's ``add_edge`` checks both ends, makes an attribute dict and clears the
graph's cache on every edge: half the cost of declaring a node. A declared
node is always new and its inputs always exist, so none of that checking is
needed, and its edges can be written straight into the DiGraph's adjacency:
the dict-of-dicts layout networkx documents for ``DiGraph`` (``_succ``,
``_pred``, ``_node``, one attribute dict shared by both directions of an edge).
The result is the graph ``add_edge`` would build, and is tested to be.

Examples
--------
>>> import networkx as nx
>>> graph = nx.DiGraph()
>>> graph.add_nodes_from(["x", "y"])
>>> add_children(graph, [("f", ("x", "y", "x"))])
>>> sorted(graph.edges), list(graph.predecessors("f"))
([('x', 'f'), ('y', 'f')], ['x', 'y'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx

__all__ = ["add_children"]


def add_children(graph: nx.DiGraph, children: Iterable[tuple[str, Sequence[str]]]) -> None:
    """Add each new node with an edge from each of its inputs, which are already nodes.

    Parameters
    ----------
    graph : networkx.DiGraph
        A plain DiGraph (the one a ``ComputationalGraph`` makes), without
        custom dict factories.
    children : iterable of (str, sequence of str)
        Each new node's name and its inputs' names; an input may repeat (one edge).

    Examples
    --------
    >>> import networkx as nx
    >>> graph = nx.DiGraph()
    >>> graph.add_node("x")
    >>> add_children(graph, [("a", ("x",)), ("b", ("a", "x"))])
    >>> sorted(graph.edges), graph.nodes["b"]
    ([('a', 'b'), ('x', 'a'), ('x', 'b')], {})
    """
    succ, pred, attributes = graph._succ, graph._pred, graph._node
    for name, parents in children:
        attributes[name] = {}
        succ[name] = {}
        into: dict[str, Any] = {}
        pred[name] = into
        for parent in parents:
            if parent not in into:
                into[parent] = succ[parent][name] = {}  # one data dict, as add_edge shares
    # What add_edge does after each edge: drop graphs converted for other backends.
    cache = getattr(graph, "__networkx_cache__", None)
    if cache:
        cache.clear()

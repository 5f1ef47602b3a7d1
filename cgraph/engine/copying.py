"""Copying a graph in memory (``copy.deepcopy``), and refusing to pickle one.

A copy is a graph of its own: new nodes, ops and networkx graph, the values and
gradients the original shows, and its last pass, so that ``backward`` can follow
the ``forward`` that came before the copy. What belongs to one graph object is
made anew: its lock, its threads' records, and its compiled plans and derived
caches, which hold the original's nodes and are written again on demand.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from cgraph.errors import GraphError

__all__ = ["copied_graph", "refuse_pickling"]

#: Attributes made anew in a copy rather than copied.
_OWN = frozenset({"lock", "_thread", "_caches"})
_NO_PASS = object()  # a thread that has run no pass on the graph


def copied_graph(graph: Any, memo: dict[int, Any]) -> Any:
    """A deep copy of ``graph`` (a GraphCore), for ``copy.deepcopy`` and ``copy.copy``.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> _ = cg.forward("y")
    >>> twin = copied_graph(cg, {})
    >>> twin.inputs["x"].output = 5.0
    >>> twin.forward("y"), cg.get_value("y"), twin.nodes["y"] is cg.nodes["y"]
    (25.0, 9.0, False)
    """
    with graph.lock:  # one whole state, never a pass half kept
        twin = object.__new__(type(graph))
        memo[id(graph)] = twin
        for key, value in vars(graph).items():
            if key not in _OWN:
                setattr(twin, key, copy.deepcopy(value, memo))
        twin.lock = threading.RLock()
        twin._thread = threading.local()
        twin._caches = {}
        # This thread's last pass (None after a failed one), which its backward differentiates.
        own = getattr(graph._thread, "evaluated", _NO_PASS)
        if own is not _NO_PASS:
            twin._thread.evaluated = copy.deepcopy(own, memo)
        return twin


def refuse_pickling(graph: Any) -> GraphError:
    """The error for pickling a graph: what to use instead.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> print(refuse_pickling(ComputationalGraph()))  # doctest: +ELLIPSIS
    a ComputationalGraph cannot be pickled (unpickling can run any code...
    """
    return GraphError(
        f"a {type(graph).__name__} cannot be pickled (unpickling can run any code, which "
        "loading a graph never should): save it to a graph file with cg.save(path) and read "
        "it back with ComputationalGraph.load(path), or copy it in memory with copy.deepcopy(cg)"
    )

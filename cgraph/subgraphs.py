"""Subgraphs as operations: a graph declared once, used in other graphs any number of times.

A *use* of a subgraph declares a copy of its nodes in the outer graph, each
named ``{use}/{inner name}``: an LSTM cell used at step 3 as ``cell@t3`` has
the nodes ``cell@t3/h``, ``cell@t3/c``... Its inputs are bound to nodes of the
outer graph (the previous step's state, shared weights), or become inputs of
their own (``cell@t3/W``, parameters of that use alone). Being nodes, the
copies are read by name in values, gradients and summaries, are drawn as one
box per use by default, and differentiate in every mode, nested included: a
gradient graph (:meth:`ComputationalGraph.gradient_graph`) is a graph like any
other, so a derivative can be used inside another problem with no node
copied by hand.

This is how PyTensor's ``OpFromGraph`` with ``inline=True`` and XLA's inlining
of functions work: the outer graph sees the subgraph's operations, so it
schedules, compiles and differentiates them with its own.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> square_plus = ComputationalGraph()
>>> square_plus.add_inputs(a=0.0, b=0.0)
>>> square_plus.add_computation_node("a2", "square", ("a",))
>>> square_plus.add_computation_node("out", "add", ("a2", "b"))
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x=3.0, y=1.0)
>>> add_subgraph(cg, "first", square_plus, inputs={"a": "x", "b": "y"})
{'out': 'first/out'}
>>> add_subgraph(cg, "second", square_plus, inputs={"a": "first/out", "b": "x"})
{'out': 'second/out'}
>>> cg.forward("second/out"), cg.backward("second/out")
(103.0, {'x': 121.0, 'y': 20.0})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from cgraph.engine.core import GraphCore
from cgraph.engine.nodes import Input, OperationNode
from cgraph.errors import DuplicateNodeError, GraphError, InvalidValueError, UnknownNodeError
from cgraph.messages import did_you_mean

__all__ = ["add_subgraph", "ancestors"]


def add_subgraph(
    cg: GraphCore,
    name: str,
    graph: GraphCore,
    inputs: Mapping[str, str] | None = None,
    outputs: str | Iterable[str] | None = None,
) -> dict[str, str]:
    """Use ``graph`` in ``cg`` as the nodes ``{name}/{inner name}``: a subgraph as an operation.

    Declares a copy of the nodes that ``outputs`` depend on, each named
    ``{name}/{inner name}`` and computing the same operation with the same
    parameters. ``graph`` is not changed, and may be used again, in ``cg`` or
    elsewhere. The use is recorded in ``cg.subgraphs``, which drawings collapse
    into one box by default.

    Parameters
    ----------
    cg : ComputationalGraph
        The graph to declare the copy in.
    name : str
        The use's name: the prefix of its nodes' names (``"cell@t3"``).
    graph : ComputationalGraph
        The subgraph.
    inputs : mapping of str to str, optional
        For inputs of ``graph``, the node of ``cg`` that feeds each. Every other
        input the outputs depend on becomes an input of ``cg`` named
        ``{name}/{input}``, with the subgraph input's value and trainability (a
        parameter of this use alone). Constants are copied as ``{name}/{constant}``.
    outputs : str or iterable of str, optional
        The nodes of ``graph`` the use computes; by default its sinks.

    Returns
    -------
    dict of str to str
        The outer name of each output (``{"h": "cell@t3/h"}``).

    Raises
    ------
    UnknownNodeError
        If an output or a bound input is not a node of ``graph`` (or not one of its
        inputs), or a bound node is not a node of ``cg``.
    DuplicateNodeError
        If a name the use would declare is already a node of ``cg``.
    InvalidValueError
        If ``name`` is not a non-empty string, or ``graph`` is not a graph.

    A call that raises declares nothing.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cell = ComputationalGraph()
    >>> cell.add_inputs(h=0.0, x=0.0, w=0.5)
    >>> cell.add_computation_node("wh", "mul", ("w", "h"))
    >>> cell.add_computation_node("pre", "add", ("wh", "x"))
    >>> cell.add_computation_node("h_next", "tanh", ("pre",))
    >>> rnn = ComputationalGraph()
    >>> rnn.add_inputs(h0=0.0, w=0.5, x0=1.0, x1=-1.0)
    >>> h = "h0"
    >>> for t in range(2):
    ...     h = add_subgraph(rnn, f"cell@t{t}", cell, {"h": h, "x": f"x{t}", "w": "w"})["h_next"]
    >>> h, round(rnn.forward(h), 6), sorted(rnn.subgraphs)
    ('cell@t1/h_next', -0.550573, ['cell@t0', 'cell@t1'])
    >>> round(rnn.backward(h)["w"], 6)
    0.530732
    """
    bound = dict(inputs or {})
    wanted = _outputs(graph, outputs)
    copied = ancestors(graph, wanted)
    _check(cg, name, graph, bound, copied)
    declared: dict[str, str] = dict(bound)
    for node in copied:  # leaves first: every declaration finds its inputs declared
        if node.name in bound:
            continue
        outer = declared[node.name] = f"{name}/{node.name}"
        if isinstance(node, Input):
            cg.add_input(outer, _copy(node.output), trainable=node.trainable)
        elif not isinstance(node, OperationNode):
            cg.add_constant(outer, _copy(node.output))
    cg.add_computation_nodes(
        (declared[node.name], node.op, tuple(declared[parent.name] for parent in node.parents))
        for node in copied
        if isinstance(node, OperationNode)
    )
    cg.subgraphs[name] = wanted
    return {output: declared[output] for output in wanted}


def _outputs(graph: GraphCore, outputs: str | Iterable[str] | None) -> list[str]:
    if not isinstance(graph, GraphCore):
        raise InvalidValueError(
            f"add_subgraph: {graph!r} is not a graph; give a ComputationalGraph"
        )
    if outputs is None:
        sinks = [name for name, degree in graph.graph.out_degree() if degree == 0]
        if not sinks:
            raise GraphError("add_subgraph: the subgraph is empty: declare its nodes first")
        return sinks
    wanted = [outputs] if isinstance(outputs, str) else list(outputs)
    for output in wanted:
        if output not in graph.nodes:
            raise UnknownNodeError(
                f"add_subgraph: output {output!r} is not a node of the subgraph"
                f"{did_you_mean(output, graph.nodes)}",
                nodes=[str(output)],
            )
    return wanted


def ancestors(graph: GraphCore, wanted: list[str]) -> list[Any]:
    """The nodes ``wanted`` and their ancestors in ``graph``, in declaration order, iteratively.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0, y=2.0)
    >>> cg.add_computation_node("a", "neg", ("x",))
    >>> [node.name for node in ancestors(cg, ["a"])]
    ['x', 'a']
    """
    seen: set[str] = set()
    stack = list(wanted)
    while stack:
        node = graph.nodes[stack.pop()]
        if node.name not in seen:
            seen.add(node.name)
            stack.extend(parent.name for parent in getattr(node, "parents", ()))
    return sorted((graph.nodes[name] for name in seen), key=lambda node: node.index)


def _check(
    cg: GraphCore, name: Any, graph: GraphCore, bound: dict[str, Any], copied: list[Any]
) -> None:
    """Everything a use could refuse, before anything is declared."""
    if type(name) is not str or not name:
        raise InvalidValueError(
            f"add_subgraph: the use's name must be a non-empty string, not {name!r}"
        )
    for inner, outer in bound.items():
        if inner not in graph.inputs:
            raise UnknownNodeError(
                f"add_subgraph {name!r}: {inner!r} is not an input of the subgraph; its inputs "
                f"are {sorted(graph.inputs)}",
                nodes=[str(inner)],
            )
        if not isinstance(outer, str) or outer not in cg.nodes:
            raise UnknownNodeError(
                f"add_subgraph {name!r}: input {inner!r} is bound to {outer!r}, which is not "
                f"a node of the graph{did_you_mean(str(outer), cg.nodes)}",
                nodes=[str(outer)],
            )
    taken = [
        f"{name}/{node.name}"
        for node in copied
        if node.name not in bound and f"{name}/{node.name}" in cg.nodes
    ]
    if taken or name in cg.subgraphs:
        raise DuplicateNodeError(
            f"add_subgraph {name!r}: the graph already has "
            f"{'nodes ' + ', '.join(map(repr, taken[:5])) if taken else 'a use of that name'}; "
            "give this use another name",
            nodes=taken[:5] or [name],
        )


def _copy(value: Any) -> Any:
    return np.array(value) if isinstance(value, np.ndarray) else value

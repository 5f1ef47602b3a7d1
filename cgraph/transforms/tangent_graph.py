"""Forward mode as a graph: the tangent pass declared as named nodes of registered ops.

``jvp`` pushes numbers forward. :func:`tangent_graph` instead declares, in a new
:class:`~cgraph.graph.ComputationalGraph`, the nodes that compute them: the
forward nodes the root needs (same names), an input ``tangent/{root}/{x}`` for
each input ``x`` given a tangent, and for every node ``n`` that a tangent
reaches, a node ``tangent/{root}/{n}`` holding d n along the tangents. Each op's
``pushforward`` rule, run on terms (:mod:`cgraph.ops.terms`) instead of
numbers, writes itself out as ops; its pieces are named
``tangent/{root}/{n}/{op}``. The result is an ordinary graph, so it can be
drawn, read by name and differentiated again in either mode:
forward-over-forward (``tangent_graph`` of it), reverse-over-forward
(``backward`` of a tangent: a Hessian-vector product).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.engine.passes import run_forward
from cgraph.errors import InvalidValueError
from cgraph.ops.terms import Builder, Term, apply
from cgraph.transforms.forward_mode import checked_tangent, point_of
from cgraph.transforms.gradient_graph import G, TermDeclarer, forward_copy, rule_failure

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["tangent_graph", "tangent_name"]


def tangent_name(root: str, node: str) -> str:
    """The name of the node holding the tangent of ``node`` in a tangent graph of ``root``.

    Examples
    --------
    >>> tangent_name("f", "x")
    'tangent/f/x'
    """
    return f"tangent/{root}/{node}"


def tangent_graph(
    cg: G,
    root: str | None,
    tangents: Mapping[str, Any],
    feed: Mapping[str, Any] | None = None,
) -> G:
    """The forward-mode pass as a new graph of named nodes, to draw, read or differentiate.

    The new graph holds the forward nodes ``root`` needs (same names, inputs
    and values), an input ``tangent/{root}/{x}`` holding the tangent of each
    input ``x`` in ``tangents``, and for every node ``n`` a tangent reaches a
    node ``tangent/{root}/{n}`` computing its directional derivative: the
    root's is ``J t``, as ``jvp`` gives. Each op's pushforward rule, run on
    terms, declares its pieces, named ``tangent/{root}/{n}/{op}``.

    The result differentiates again in either mode: its own tangent graph is
    forward-over-forward, and ``backward`` of ``tangent/{root}/{root}`` is
    reverse-over-forward (``H t`` for a scalar root). Feed the tangent inputs
    to move the direction without rebuilding. This graph is not changed.

    Parameters
    ----------
    root : str or None
        The node whose tangent is wanted; None for the graph's only sink.
    tangents : mapping of str to float or array_like
        A tangent for each input to move, shaped like it (or broadcastable).
    feed : mapping of str to value, optional
        Input values to use instead of the inputs' own.

    Returns
    -------
    ComputationalGraph
        A new graph; ``tangent/{root}/{root}`` is the root's tangent (a zero
        constant if no tangent reaches it).

    Raises
    ------
    UnknownNodeError, InvalidValueError, ShapeError
        For tangents of nodes that are not float inputs, or of the wrong shape.
    InvalidOperationError
        If an op on the way has no pushforward rule that runs on terms.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0)
    >>> cg.add_computation_node("sq", "square", ("x",))
    >>> cg.add_computation_node("f", "mul", ("sq", "x"))       # f = x^3
    >>> tg = cg.tangent_graph("f", {"x": 1.0})
    >>> tg.forward("tangent/f/f")                              # 3 x^2
    12.0
    >>> tg.backward("tangent/f/f")["x"]                        # reverse over forward: 6x
    12.0
    >>> tg2 = tg.tangent_graph("tangent/f/f", {"x": 1.0})       # forward over forward
    >>> tg2.forward("tangent/tangent/f/f/tangent/f/f")
    12.0
    """
    if not isinstance(tangents, Mapping) or not tangents:
        raise InvalidValueError(
            "a tangent graph needs tangents as a mapping of input names to tangents, "
            "e.g. {'x': 1.0}"
        )
    schedule = cg.schedule(root)
    feed_values = cg.check_feed(feed)
    seeds = {}
    for name, tangent in tangents.items():
        value = point_of(cg, name, feed_values, "a tangent")
        seeds[name] = checked_tangent(name, value, tangent)
    root_name = schedule.root.name
    tg = forward_copy(cg, schedule, feed_values)
    _TangentDeclarer(tg, root_name).build(seeds)
    return tg


class _TangentDeclarer(TermDeclarer):
    """Declares the tangent pass of ``root`` into ``tg``, which holds its forward nodes."""

    def __init__(self, tg: GraphCore, root: str) -> None:
        super().__init__(tg, {tangent_name(root, name) for name in tg.nodes})
        self.root = root

    def build(self, seeds: dict[str, Any]) -> None:
        tg, root = self.gg, self.root
        schedule = tg.schedule(root)
        values = run_forward(schedule, {})
        for node, value in zip(schedule.nodes, values, strict=True):
            node.output = value
        tangent_of: list[str | None] = [None] * len(schedule.nodes)
        for pos, leaf in enumerate(schedule.nodes[: schedule.leaf_count]):
            if leaf.name in seeds:
                tangent = tangent_of[pos] = tangent_name(root, leaf.name)
                tg.add_input(tangent, seeds[leaf.name])
        builder = Builder()
        for pos, node, op, parents in schedule.steps:
            incoming = tuple(
                None if (name := tangent_of[parent]) is None else self.term(name)
                for parent in parents
            )
            if all(tangent is None for tangent in incoming):
                continue
            try:
                rule = op.pushforward(
                    builder, incoming, self.term(node.name), *map(self.term, node.input_names)
                )
            except Exception as error:
                raise rule_failure(f"tangent graph of {root!r}", node, error) from error
            if rule is not None:
                tangent_of[pos] = self._fitted(rule, node)
        if tangent_of[-1] is None:  # no tangent reaches the root: it is zero
            tg.add_constant(tangent_name(root, root), 0.0 * np.ones_like(values[-1]))

    def _fitted(self, rule: Any, node: Any) -> str:
        """Declare ``tangent/{root}/{node}``: the rule's tangent broadcast to the node's shape."""
        name = tangent_name(self.root, node.name)
        shape = np.shape(node.output)
        fresh = isinstance(rule, Term) and rule.name is None
        if fresh and np.shape(rule.value) == shape:
            return self.declare(rule, name, name)
        # A tangent passed on unchanged (Add's of its one tangent input), a number, or one
        # of another shape: the engine's jvp broadcasts it to the output, so does this node.
        pieces = self.declare(rule, None, name)
        return self.declare(apply("broadcast_to", self.term(pieces), shape=shape), name, name)

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

from cgraph.errors import InvalidValueError
from cgraph.nodes import Input
from cgraph.ops.terms import Builder, Term, apply
from cgraph.passes import run_forward
from cgraph.symbolic import TermDeclarer, rule_failure

if TYPE_CHECKING:
    from cgraph.graph import ComputationalGraph

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
    cg: ComputationalGraph, root: str | None, tangents: Mapping[str, Any],
    feed: Mapping[str, Any] | None = None,
) -> ComputationalGraph:
    """A new graph computing the tangent of ``root`` by named nodes: ``cg.tangent_graph``.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> tg = tangent_graph(cg, "y", {"x": 1.0})
    >>> tg.forward("tangent/y/y")
    6.0
    """
    from cgraph.graph import ComputationalGraph
    from cgraph.modes import _checked_tangent, _point_of  # jvp's own refusals

    if not isinstance(tangents, Mapping) or not tangents:
        raise InvalidValueError(
            "a tangent graph needs tangents as a mapping of input names to tangents, "
            "e.g. {'x': 1.0}")
    schedule = cg._schedule(root)
    feed_values = cg._checked_feed(feed) if feed else {}
    seeds = {}
    for name, tangent in tangents.items():
        value = _point_of(cg, name, feed_values, "a tangent")
        seeds[name] = _checked_tangent(name, value, tangent)
    root_name = schedule.root.name
    tg = ComputationalGraph()
    for leaf in schedule.nodes[: schedule.leaf_count]:
        value = feed_values.get(leaf.name, leaf.output)
        if isinstance(leaf, Input):
            tg.add_input(leaf.name, value, trainable=leaf.trainable)
        else:
            tg.add_constant(leaf.name, value)
    for _, node, op, _ in schedule.steps:
        tg.add_computation_node(node.name, op, node.input_names)
    _TangentDeclarer(tg, root_name).build(seeds)
    return tg


class _TangentDeclarer(TermDeclarer):
    """Declares the tangent pass of ``root`` into ``tg``, which holds its forward nodes."""

    def __init__(self, tg: ComputationalGraph, root: str) -> None:
        super().__init__(tg, {tangent_name(root, name) for name in tg.nodes})
        self.root = root

    def build(self, seeds: dict[str, Any]) -> None:
        tg, root = self.gg, self.root
        schedule = tg._schedule(root)
        values = run_forward(schedule, {})
        for node, value in zip(schedule.nodes, values, strict=True):
            node.output = value
        tangent_of: list[str | None] = [None] * len(schedule.nodes)
        for pos, leaf in enumerate(schedule.nodes[: schedule.leaf_count]):
            if leaf.name in seeds:
                tangent_of[pos] = tangent_name(root, leaf.name)
                tg.add_input(tangent_of[pos], seeds[leaf.name])
        builder = Builder()
        for pos, node, op, parents in schedule.steps:
            incoming = tuple(None if tangent_of[parent] is None else self.term(tangent_of[parent])
                             for parent in parents)
            if all(tangent is None for tangent in incoming):
                continue
            try:
                rule = op.pushforward(builder, incoming, self.term(node.name),
                                      *map(self.term, node.input_names))
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

"""The gradient as a graph: the backward pass declared as named nodes of registered ops.

``backward`` computes numbers. :func:`gradient_graph` instead declares, in a new
:class:`~cgraph.graph.ComputationalGraph`, the nodes that compute them: the
forward nodes the root needs (same names), then for every node ``n`` on a path
to the inputs asked for, a node ``grad/{root}/{n}`` holding d root / d n. Each
op's ``pullback`` rule, run on terms (:mod:`cgraph.ops.terms`) instead of
numbers, writes its pullback out as registered ops (``upstream * p.cos(x)``
becomes ``mul(upstream, cos(x))``); the pieces of node ``c``'s pullback are named
``grad/{root}/{c}/{op}``, and a node reached from several children sums their
contributions, ``grad/{root}/{n}/from_{child}``, in the order backward adds them.
Broadcasting is undone by ``unbroadcast`` nodes, as the engine does in backward.

Because the result is an ordinary graph of ops that all have the same rules, it
can be drawn, read by name, and differentiated again, in either mode: that is
how :mod:`cgraph.higher` computes Hessians.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.errors import GraphError, InvalidOperationError, NoGradientError, OperationError
from cgraph.nodes import Input
from cgraph.ops.terms import Builder, Term, apply
from cgraph.passes import ones_like, run_forward

if TYPE_CHECKING:
    from cgraph.graph import ComputationalGraph

__all__ = ["gradient_graph", "gradient_name", "wrt_names", "TermDeclarer"]


def gradient_name(root: str, node: str) -> str:
    """The name of the node holding d root / d node in a gradient graph.

    Examples
    --------
    >>> gradient_name("f", "x")
    'grad/f/x'
    """
    return f"grad/{root}/{node}"


def wrt_names(cg: ComputationalGraph, wrt: str | Sequence[str], what: str) -> list[str]:
    """The names in ``wrt``, checked: trainable inputs holding floats.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> wrt_names(cg, "x", "a gradient graph")
    ['x']
    """
    from cgraph.modes import _point_of  # the same refusals as jacobian's

    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not names:
        raise GraphError(f"{what} needs at least one input name in wrt")
    for name in names:
        _point_of(cg, name, {}, what)
        if not cg.inputs[name].trainable:
            raise NoGradientError(
                f"{what}: input {name!r} is not trainable, so it has no gradient; declare it "
                "trainable (add_input(..., trainable=True)) to differentiate with respect to it",
                nodes=[name])
    return names


def gradient_graph(
    cg: ComputationalGraph, root: str | None, wrt: str | Sequence[str],
    feed: dict[str, Any] | None = None,
) -> ComputationalGraph:
    """A new graph computing d root / d wrt by named nodes: ``cg.gradient_graph`` does this.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> gg = gradient_graph(cg, "y", "x")
    >>> gg.forward("grad/y/x")
    6.0
    """
    names = wrt_names(cg, wrt, "a gradient graph")
    schedule = cg._schedule(root)
    feed = feed or {}
    from cgraph.graph import ComputationalGraph

    gg = ComputationalGraph()
    for leaf in schedule.nodes[: schedule.leaf_count]:
        value = feed.get(leaf.name, leaf.output)
        if isinstance(leaf, Input):
            gg.add_input(leaf.name, value, trainable=leaf.trainable)
        else:
            gg.add_constant(leaf.name, value)
    for _, node, op, _ in schedule.steps:
        gg.add_computation_node(node.name, op, node.input_names)
    points = {name: feed.get(name, cg.inputs[name].output) for name in names}
    _Declarer(gg, schedule.root.name, names).build(points)
    return gg


class TermDeclarer:
    """Declares terms (:mod:`cgraph.ops.terms`) as named nodes of a graph, with their values.

    The gradient and tangent graphs both write rules out as terms; this names
    their nodes ``prefix/op``, ``prefix/op_2``... and their numbers as constants
    ``prefix/2.0`` (one per value under each prefix).

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> gg = ComputationalGraph()
    >>> gg.add_inputs(x=3.0)
    >>> declarer = TermDeclarer(gg)
    >>> x = declarer.term("x")
    >>> declarer.declare(2.0 * x, None, "d")
    'd/mul'
    >>> gg.get_value("d/mul")
    6.0
    """

    def __init__(self, gg: ComputationalGraph, reserved: set[str] | None = None) -> None:
        self.gg = gg
        self.used: dict[str, int] = {}  # labels taken under each prefix
        self.constants: dict[tuple[str, str], str] = {}
        # Names the caller will give fixed nodes later: a piece's label must not take one
        # (graph names hold slashes, so prefix/label can spell another node's name).
        self.reserved = reserved or set()

    def term(self, name: str) -> Term:
        """The term of an existing node of the graph, holding its value."""
        return Term.node(name, self.gg.nodes[name].output)

    def declare(self, term: Any, name: str | None, prefix: str) -> str:
        """Declare a term (and the terms it uses, under ``prefix``); return its node's name."""
        if isinstance(term, str):
            return term
        if not isinstance(term, Term):  # a number or an array: a constant
            label = repr(float(term)) if np.ndim(term) == 0 else "constant"
            key = (prefix, label if np.ndim(term) == 0 else str(id(term)))
            if key not in self.constants:
                self.constants[key] = self.label(prefix, label)
                self.gg.add_constant(self.constants[key], term)
            return self.constants[key]
        if term.name is None:
            inputs = [self.declare(item, None, prefix) for item in term.inputs]
            label = name or self.label(prefix, term.op.name or type(term.op).__name__.lower())
            self.gg.add_computation_node(label, term.op, inputs)
            self.gg.nodes[label].output = term.value
            term.name = label
        return term.name

    def label(self, prefix: str, label: str) -> str:
        """``prefix/label``, numbered from 2 when the label is taken under the prefix."""
        name = f"{prefix}/{label}"
        while True:
            count = self.used.get(name, 0) + 1
            self.used[name] = count
            candidate = name if count == 1 else f"{name}_{count}"
            if candidate not in self.gg.nodes and candidate not in self.reserved:
                return candidate


def rule_failure(what: str, node: Any, error: Exception) -> GraphError:
    """The error for a rule that failed while it was written out as terms, naming the node."""
    where = f"{what}: node {node.name!r} ({type(node.op).__name__})"
    if isinstance(error, GraphError):
        return type(error)(f"{where}: {error}", nodes=[node.name])
    return OperationError(f"{where} failed with {type(error).__name__}: {error}",
                          nodes=[node.name])


class _Declarer(TermDeclarer):
    """Declares the backward pass of ``root`` into ``gg``, which holds its forward nodes."""

    def __init__(self, gg: ComputationalGraph, root: str, wrt: list[str]) -> None:
        super().__init__(gg, {gradient_name(root, name) for name in gg.nodes})
        self.root, self.wrt = root, wrt

    def build(self, points: dict[str, Any]) -> None:
        """Declare every gradient; ``points`` are the values of the inputs in wrt."""
        gg, root = self.gg, self.root
        schedule = gg._schedule(root)
        values = run_forward(schedule, {})
        for node, value in zip(schedule.nodes, values, strict=True):
            node.output = value
        nodes = schedule.nodes
        leads = [node.name in self.wrt for node in nodes]  # on a path to an input in wrt
        for pos, _, _, parents in schedule.steps:
            leads[pos] = any(leads[parent] for parent in parents)
        # How many contributions each node will get: its slots in the children that lead.
        self.expected = [0] * len(nodes)
        for pos, _, _, parents in schedule.steps:
            for parent in parents if leads[pos] else ():
                self.expected[parent] += leads[parent]
        self.contributions: dict[int, list[str]] = {}
        root_grad = gradient_name(root, root)
        gg.add_constant(root_grad, ones_like(values[-1]))  # the seed, as backward's
        builder = Builder()
        for pos, node, op, parents in reversed(schedule.steps):
            if not leads[pos]:
                continue
            upstream = root_grad if pos == len(nodes) - 1 else self._finalize(pos, node)
            if upstream is None:  # no child passes it a gradient: its own are zero
                continue
            try:
                rule = op.pullback(builder, self.term(upstream), self.term(node.name),
                                   *map(self.term, node.input_names))
            except Exception as error:
                raise rule_failure(f"gradient graph of {root!r}", node, error) from error
            rule = rule if isinstance(rule, tuple) else (rule,)
            if len(rule) != len(parents):
                raise InvalidOperationError(
                    f"node {node.name!r}: {type(op).__name__}'s pullback returned "
                    f"{len(rule)} gradient(s) for {len(parents)} input(s)", nodes=[node.name])
            for parent, item in zip(parents, rule, strict=True):
                if item is not None and leads[parent]:
                    self._contribute(parent, nodes[parent], node.name, item)
        for pos, node in enumerate(nodes[: schedule.leaf_count]):
            if node.name in self.wrt:
                self._finalize(pos, node)
        for name in self.wrt:  # inputs the root does not depend on: a zero gradient
            if gradient_name(root, name) not in gg.nodes:
                gg.add_constant(gradient_name(root, name), 0.0 * ones_like(points[name]))

    def _contribute(self, pos: int, node: Any, child: str, item: Any) -> None:
        """Declare ``child``'s contribution to ``node``'s gradient, named for what it is."""
        name = gradient_name(self.root, node.name)
        alone = self.expected[pos] == 1  # then it is the gradient itself
        label = name if alone else self.label(name, f"from_{child}")
        shape = np.shape(node.output)
        self.contributions.setdefault(pos, []).append(
            self._fitted(item, child, label, shape, always=alone))

    def _finalize(self, pos: int, node: Any) -> str | None:
        """Declare ``grad/{root}/{node}``: the sum of its children's contributions, or None."""
        parts = self.contributions.pop(pos, [])[::-1]  # the order backward adds them in
        name = gradient_name(self.root, node.name)
        if not parts:
            return None
        if len(parts) == 1:
            if parts[0] == name:
                return name
            return self.declare(apply("unbroadcast", self.term(parts[0]), shape=np.shape(
                node.output)), name, name)  # a rule gave None where a term was expected
        total = parts[0]
        for count, part in enumerate(parts[1:], start=2):
            label = name if count == len(parts) else self.label(name, f"sum{count}")
            total = self.declare(apply("add", self.term(total), self.term(part)), label, name)
        return total

    def _fitted(self, item: Any, child: str, name: str, shape: tuple[int, ...],
                always: bool = False) -> str:
        """The contribution as a node shaped like its input, named ``name`` when new."""
        prefix = gradient_name(self.root, child)
        if isinstance(item, Term) and item.name is None:
            if np.shape(item.value) == shape:
                return self.declare(item, name, prefix)
            self.declare(item, None, prefix)
        item = self.declare(item, None, prefix)
        if np.shape(self.gg.nodes[item].output) == shape and not always:
            return item
        fit = "unbroadcast" if np.ndim(self.gg.nodes[item].output) else "broadcast_to"
        return self.declare(apply(fit, self.term(item), shape=shape), name, prefix)

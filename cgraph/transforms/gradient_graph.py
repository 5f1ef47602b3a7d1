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
how :mod:`cgraph.transforms.hessian` computes Hessians.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from cgraph.engine.nodes import Input
from cgraph.engine.passes import ones_like, run_forward
from cgraph.engine.schedule import Schedule
from cgraph.errors import GraphError, InvalidOperationError, NoGradientError, OperationError
from cgraph.ops.kinds import nan_safe
from cgraph.ops.terms import Builder, Term, apply
from cgraph.transforms.forward_mode import point_of

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

#: The class of the graph transformed, which the new graph shares.
G = TypeVar("G", bound="GraphCore")

__all__ = ["gradient_graph", "gradient_name", "wrt_names", "forward_copy", "TermDeclarer"]


def gradient_name(root: str, node: str) -> str:
    """The name of the node holding d root / d node in a gradient graph.

    Examples
    --------
    >>> gradient_name("f", "x")
    'grad/f/x'
    """
    return f"grad/{root}/{node}"


def wrt_names(cg: GraphCore, wrt: str | Sequence[str], what: str) -> list[str]:
    """The names in ``wrt``, checked: trainable inputs holding floats.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> wrt_names(cg, "x", "a gradient graph")
    ['x']
    """
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not names:
        raise GraphError(f"{what} needs at least one input name in wrt")
    for name in names:
        point_of(cg, name, {}, what)
        if not cg.inputs[name].trainable:
            raise NoGradientError(
                f"{what}: input {name!r} is not trainable, so it has no gradient; declare it "
                "trainable (add_input(..., trainable=True)) to differentiate with respect to it",
                nodes=[name],
            )
    return names


def gradient_graph(
    cg: G,
    root: str | None,
    wrt: str | Sequence[str],
    feed: Mapping[str, Any] | None = None,
) -> G:
    """The backward pass as a new graph of named nodes, to draw, read or differentiate again.

    The new graph holds the forward nodes ``root`` needs (same names, inputs and
    values) and, for every node ``n`` on a path from the root to an input in
    ``wrt``, a node ``grad/{root}/{n}`` computing d root / d n: ``grad/f/x`` for
    input ``x``. Each op's pullback rule, run on terms, declares its pieces,
    named ``grad/{root}/{child}/{op}``; a node used by several
    children sums their contributions (``grad/{root}/{n}/from_{child}``) in the
    order ``backward`` does, and broadcasting is undone by ``unbroadcast`` nodes.
    The root is seeded with ones (``grad/{root}/{root}``), as by ``backward``.

    Every value is computed at the inputs' current values; the new graph's
    ``forward`` recomputes them, and its ``backward`` or its own gradient graph
    differentiates the gradient again. This graph is not changed.

    Parameters
    ----------
    root : str or None
        The node to differentiate; None for the graph's only sink.
    wrt : str or sequence of str
        The trainable inputs whose gradients ``grad/{root}/{name}`` are wanted.

    Returns
    -------
    ComputationalGraph
        A new graph; ``grad/{root}/{name}`` for each name in ``wrt`` is its
        gradient (a zero constant if the root does not depend on the input).

    Raises
    ------
    UnknownNodeError
        If ``root`` or a name in ``wrt`` is not a node.
    InvalidValueError
        If ``wrt`` names a constant, an operation or an integer input.
    NoGradientError
        If an input in ``wrt`` is not trainable.
    InvalidOperationError
        If an op on the way has no symbolic rule (a classic op without
        ``backward_graph``).
    OperationError, ShapeError
        As for ``forward``.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0)
    >>> cg.add_computation_node("s", "sin", ("x",))
    >>> cg.add_computation_node("f", "mul", ("s", "x"))      # f = x sin x
    >>> gg = cg.gradient_graph("f", "x")
    >>> [name for name in gg if name.startswith("grad/")]
    ['grad/f/f', 'grad/f/s', 'grad/f/x/from_f', 'grad/f/s/cos', 'grad/f/x/from_s', 'grad/f/x']
    >>> round(gg.forward("grad/f/x"), 6)                      # sin x + x cos x
    0.077004
    >>> round(gg.backward("grad/f/x")["x"], 6)                # f'' = 2 cos x - x sin x
    -2.650889
    """
    names = wrt_names(cg, wrt, "a gradient graph")
    schedule = cg.schedule(root)
    feed = feed or {}

    gg = forward_copy(cg, schedule, feed)
    points = {name: feed.get(name, cg.inputs[name].output) for name in names}
    _Declarer(gg, schedule.root.name, names).build(points)
    return gg


def forward_copy(cg: G, schedule: Schedule, feed: Mapping[str, Any]) -> G:
    """A new graph of ``cg``'s class holding the schedule's nodes, inputs at today's point.

    Gradient and tangent graphs start from it: the forward pass they differentiate,
    with the fed values (or the inputs' own) as the new graph's inputs.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0, unused=1.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> copy = forward_copy(cg, cg.schedule("y"), {"x": 2.0})
    >>> list(copy), copy.forward("y")
    (['x', 'y'], 4.0)
    """
    copy = type(cg)()
    for leaf in schedule.nodes[: schedule.leaf_count]:
        value = feed.get(leaf.name, leaf.output)
        if isinstance(leaf, Input):
            copy.add_input(leaf.name, value, trainable=leaf.trainable)
        else:
            copy.add_constant(leaf.name, value)
    for _, node, op, _ in schedule.steps:
        copy.add_computation_node(node.name, op, node.input_names)
    return copy


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

    def __init__(self, gg: GraphCore, reserved: set[str] | None = None) -> None:
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
            assert term.op is not None  # a term not yet a node is an op's
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


@contextmanager
def _only_leading(op: Any, leads: list[bool]) -> Iterator[None]:
    """While a rule runs, its op's inputs on no path to wrt want no gradient.

    A rule may then skip them (a loop's adjoint carries fewer gradients); the
    op's own flags are back afterwards.
    """
    if all(leads):
        yield
        return
    own = "needs_input_grad" in getattr(op, "__dict__", ())
    flags, op.needs_input_grad = op.needs_input_grad, tuple(leads)
    try:
        yield
    finally:
        if own:
            op.needs_input_grad = flags
        else:
            del op.needs_input_grad


def rule_failure(what: str, node: Any, error: Exception) -> GraphError:
    """The error for a rule that failed while it was written out as terms, naming the node."""
    where = f"{what}: node {node.name!r} ({type(node.op).__name__})"
    if isinstance(error, GraphError):
        return type(error)(f"{where}: {error}", nodes=[node.name])
    return OperationError(f"{where} failed with {type(error).__name__}: {error}", nodes=[node.name])


class _Declarer(TermDeclarer):
    """Declares the backward pass of ``root`` into ``gg``, which holds its forward nodes."""

    def __init__(self, gg: GraphCore, root: str, wrt: list[str]) -> None:
        super().__init__(gg, {gradient_name(root, name) for name in gg.nodes})
        self.root, self.wrt = root, wrt

    def build(self, points: dict[str, Any]) -> None:
        """Declare every gradient; ``points`` are the values of the inputs in wrt."""
        gg, root = self.gg, self.root
        schedule = gg.schedule(root)
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
                with _only_leading(op, [leads[parent] for parent in parents]):
                    rule = op.pullback(
                        builder,
                        self.term(upstream),
                        self.term(node.name),
                        *map(self.term, node.input_names),
                    )
            except Exception as error:
                raise rule_failure(f"gradient graph of {root!r}", node, error) from error
            rule = rule if isinstance(rule, tuple) else (rule,)
            if schedule.guarded is not None and schedule.guarded[pos] and len(rule) == len(parents):
                # It feeds a where, as in backward: zero times its derivative counts as zero.
                rule = nan_safe(builder, self.term(upstream), rule)
            if len(rule) != len(parents):
                raise InvalidOperationError(
                    f"node {node.name!r}: {type(op).__name__}'s pullback returned "
                    f"{len(rule)} gradient(s) for {len(parents)} input(s)",
                    nodes=[node.name],
                )
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
            self._fitted(item, child, label, shape, always=alone)
        )

    def _finalize(self, pos: int, node: Any) -> str | None:
        """Declare ``grad/{root}/{node}``: the sum of its children's contributions, or None."""
        parts = self.contributions.pop(pos, [])[::-1]  # the order backward adds them in
        name = gradient_name(self.root, node.name)
        if not parts:
            return None
        if len(parts) == 1:
            if parts[0] == name:
                return name
            return self.declare(
                apply("unbroadcast", self.term(parts[0]), shape=np.shape(node.output)), name, name
            )  # a rule gave None where a term was expected
        total = parts[0]
        for count, part in enumerate(parts[1:], start=2):
            label = name if count == len(parts) else self.label(name, f"sum{count}")
            total = self.declare(apply("add", self.term(total), self.term(part)), label, name)
        return total

    def _fitted(
        self, item: Any, child: str, name: str, shape: tuple[int, ...], always: bool = False
    ) -> str:
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

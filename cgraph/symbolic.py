"""The gradient as a graph: the backward pass declared as named nodes of registered ops.

``backward`` computes numbers. :func:`gradient_graph` instead declares, in a new
:class:`~cgraph.graph.ComputationalGraph`, the nodes that compute them: the
forward nodes the root needs (same names), then for every node ``n`` on a path
to the inputs asked for, a node ``grad/{root}/{n}`` holding d root / d n. Each
op's ``backward_graph`` rule supplies its pullback as terms of registered ops
(``g.mul(upstream, g.cos(x))``); the pieces of node ``c``'s pullback are named
``grad/{root}/{c}/{op}``, and a node reached from several children sums their
contributions, ``grad/{root}/{n}/from_{child}``, in the order backward adds them.
Broadcasting is undone by ``unbroadcast`` nodes, as the engine does in backward.

Because the result is an ordinary graph of ops that all have ``backward``,
``jvp`` and ``backward_graph``, it can be drawn, read by name, and differentiated
again: that is how :mod:`cgraph.higher` computes Hessians.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.errors import GraphError, InvalidOperationError, NoGradientError, OperationError
from cgraph.nodes import Input
from cgraph.operation import OPERATIONS, resolve_operation
from cgraph.passes import ones_like, run_forward

if TYPE_CHECKING:
    from cgraph.graph import ComputationalGraph

__all__ = ["Term", "Builder", "gradient_graph", "gradient_name", "wrt_names"]


class Term:
    """A node of a gradient graph before it is declared: a registered op applied to inputs.

    Inputs are node names, other terms, or numbers (declared as constants).

    Examples
    --------
    >>> Term("mul", ("u", Term("cos", ("x",), {})), {})
    mul(u, cos(x))
    """

    __slots__ = ("op", "inputs", "params", "name")

    def __init__(self, op: str, inputs: tuple[Any, ...], params: dict[str, Any]) -> None:
        self.op, self.inputs, self.params = op, inputs, params
        self.name: str | None = None  # set once declared

    def __repr__(self) -> str:
        params = "".join(f", {key}={value!r}" for key, value in self.params.items())
        return f"{self.op}({', '.join(map(str, self.inputs))}{params})"


class Builder:
    """What a ``backward_graph`` rule writes with: ``g.OPNAME(*inputs, **params)`` is a Term.

    Examples
    --------
    >>> g = Builder()
    >>> g.sum(g.mul("u", 2.0), axis=0)
    sum(mul(u, 2.0), axis=0)
    """

    def __getattr__(self, op: str) -> Any:
        if op.startswith("_") or op not in OPERATIONS:
            raise AttributeError(f"no operation is registered as {op!r}")

        def term(*inputs: Any, **params: Any) -> Term:
            return Term(op, inputs, params)

        return term


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


class _Declarer:
    """Declares the backward pass of ``root`` into ``gg``, which holds its forward nodes."""

    def __init__(self, gg: ComputationalGraph, root: str, wrt: list[str]) -> None:
        self.gg, self.root, self.wrt = gg, root, wrt
        self.used: dict[str, int] = {}  # labels taken under each prefix
        self.constants: dict[tuple[str, str], str] = {}

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
                rule = op.backward_graph(builder, upstream, node.name, *node.input_names)
            except GraphError as error:
                raise type(error)(
                    f"gradient graph of {root!r}: node {node.name!r} ({type(op).__name__}): "
                    f"{error}", nodes=[node.name]) from error
            rule = rule if isinstance(rule, tuple) else (rule,)
            if len(rule) != len(parents):
                raise InvalidOperationError(
                    f"node {node.name!r}: {type(op).__name__}.backward_graph returned "
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
        label = name if alone else self._label(name, f"from_{child}")
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
            return self._declare(Term("unbroadcast", (parts[0],), {"shape": np.shape(
                node.output)}), name, name)  # a rule gave None where a term was expected
        total = parts[0]
        for count, part in enumerate(parts[1:], start=2):
            label = name if count == len(parts) else self._label(name, f"sum{count}")
            total = self._declare(Term("add", (total, part), {}), label, name)
        return total

    def _fitted(self, item: Any, child: str, name: str, shape: tuple[int, ...],
                always: bool = False) -> str:
        """The contribution as a node shaped like its input, named ``name`` when new."""
        prefix = gradient_name(self.root, child)
        if isinstance(item, Term) and item.name is None:
            inputs, value, op = self._evaluate(item, prefix)
            if np.shape(value) == shape:
                item.name = self._add(name, op, inputs, value)
                return item.name
            item.name = self._add(self._label(prefix, item.op), op, inputs, value)
        if isinstance(item, Term):
            item = item.name
        if np.shape(self.gg.nodes[item].output) == shape and not always:
            return item
        fit = "unbroadcast" if np.ndim(self.gg.nodes[item].output) else "broadcast_to"
        return self._declare(Term(fit, (item,), {"shape": shape}), name, prefix)

    def _declare(self, term: Any, name: str | None, prefix: str) -> str:
        """Declare a term (and the terms it uses, under ``prefix``); return its node's name."""
        if isinstance(term, str):
            return term
        if not isinstance(term, Term):  # a number or an array: a constant
            label = repr(float(term)) if np.ndim(term) == 0 else "constant"
            key = (prefix, label if np.ndim(term) == 0 else str(id(term)))
            if key not in self.constants:
                self.constants[key] = self._label(prefix, label)
                self.gg.add_constant(self.constants[key], term)
            return self.constants[key]
        if term.name is None:
            inputs, value, op = self._evaluate(term, prefix)
            term.name = self._add(name or self._label(prefix, term.op), op, inputs, value)
        return term.name

    def _evaluate(self, term: Term, prefix: str) -> tuple[list[str], Any, Any]:
        """Declare the term's inputs and compute its value with a new instance of its op."""
        inputs = [self._declare(item, None, prefix) for item in term.inputs]
        op = resolve_operation(term.op, prefix, term.params)
        try:
            value = op.forward(*[self.gg.nodes[item].output for item in inputs])
        except GraphError:
            raise
        except Exception as error:
            raise OperationError(
                f"gradient graph of {self.root!r}: {term.op} of {inputs} under {prefix!r} "
                f"failed with {type(error).__name__}: {error}", nodes=[prefix]) from error
        return inputs, value, op

    def _add(self, name: str, op: Any, inputs: list[str], value: Any) -> str:
        self.gg.add_computation_node(name, op, inputs)  # copies the evaluated op's state
        self.gg.nodes[name].output = value
        return name

    def _label(self, prefix: str, label: str) -> str:
        """``prefix/label``, numbered from 2 when the label is taken under the prefix."""
        name = f"{prefix}/{label}"
        count = self.used.get(name, 0) + 1
        self.used[name] = count
        return name if count == 1 else f"{name}_{count}"

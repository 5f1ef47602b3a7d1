"""Hypothesis strategies for cgraph's tests: op domains, small shapes, values, random graphs.

``DOMAINS`` says, for every operation class, where each of its inputs may lie
so that the op is defined, smooth enough for central differences, and small
enough that nothing overflows: log and sqrt need ``x >= 0.1``, denominators
``|x| >= 0.2``, kinks (relu, abs) are kept ``0.05`` away, and maximum/minimum
keep their inputs ``0.05`` apart so that no element sits on a tie.
Tensor and loss ops, whose inputs must have particular shapes, are described
instead by ``TENSOR_CASES``: for each op, the parameters and argument shapes
it is tested with. ``op_cases`` gives every op's cases in one form.
Adding an operation to cgraph means adding a row to one of the two tables:
``tests/test_ops.py`` fails for any registered op without one.

Examples
--------
>>> DOMAINS[ops.Log].admits(0.5), DOMAINS[ops.Log].admits(0.0)
(True, False)
>>> DOMAINS[ops.Maximum].admits(1.0, 1.01)
False
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cgraph import ComputationalGraph, Operation, ops
from cgraph.ops import elementwise
from cgraph.ops.kinds import Flat

__all__ = [
    "DOMAINS",
    "TENSOR_CASES",
    "OpCase",
    "Labels",
    "Mask",
    "MASK_OPS",
    "Spaced",
    "op_cases",
    "ELEMENTWISE_OPS",
    "Domain",
    "Interval",
    "RandomGraph",
    "broadcastable_shapes",
    "op_arguments",
    "random_graphs",
    "random_networks",
    "small_shapes",
    "sub_shapes",
    "values_in",
]


@dataclass(frozen=True)
class Interval:
    """The closed interval ``[low, high]`` without the band ``|x| < gap`` around zero.

    Examples
    --------
    >>> Interval(-1.0, 1.0, gap=0.2).contains(np.array([0.5, -0.3]))
    True
    >>> Interval(-1.0, 1.0, gap=0.2) & Interval(0.5, 2.0)
    Interval(low=0.5, high=1.0, gap=0.2)
    """

    low: float
    high: float
    gap: float = 0.0

    def contains(self, value: Any) -> bool:
        """Whether every element of ``value`` lies in the interval."""
        value = np.asarray(value)
        return bool(np.all((value >= self.low) & (value <= self.high) & (abs(value) >= self.gap)))

    def floats(self, width: int = 64) -> st.SearchStrategy[float]:
        """Python floats in the interval, exactly representable in ``width`` bits (32 or 64)."""
        floats = st.floats(self.low, self.high)
        if width == 32:
            floats = floats.map(lambda x: float(np.float32(x)))
        return floats.filter(self.contains)

    def __and__(self, other: Interval) -> Interval:
        return Interval(max(self.low, other.low), min(self.high, other.high),
                        max(self.gap, other.gap))


@dataclass(frozen=True)
class Domain:
    """Where an op's inputs may lie: one interval per input, and how far apart they must be.

    Attributes
    ----------
    arguments : tuple of Interval
        One interval per input, in argument order.
    tie_gap : float
        The least ``|a - b|`` between the (broadcast) inputs of an op with a kink
        where they tie (maximum, minimum); 0 for the others.
    """

    arguments: tuple[Interval, ...]
    tie_gap: float = 0.0

    def admits(self, *values: Any) -> bool:
        """Whether the op may be applied to ``values``."""
        pairs = zip(self.arguments, values, strict=True)
        inside = all(interval.contains(value) for interval, value in pairs)
        if not inside or not self.tie_gap:
            return inside
        first, second = (np.asarray(v) for v in values)
        return bool(np.all(abs(first - second) >= self.tie_gap))


#: Moderate values: ops that do not amplify their input much.
MODERATE = Interval(-10.0, 10.0)
#: Larger values, for ops whose output is no bigger than their inputs.
LARGE = Interval(-100.0, 100.0)
POSITIVE = Interval(0.1, 10.0)
NONZERO = Interval(-10.0, 10.0, gap=0.2)
AWAY_FROM_KINK = Interval(-100.0, 100.0, gap=0.05)

DOMAINS: dict[type[Operation], Domain] = {
    # Arithmetic
    ops.Add: Domain((LARGE, LARGE)),
    ops.Sub: Domain((LARGE, LARGE)),
    ops.Multiply: Domain((MODERATE, MODERATE)),
    ops.Div: Domain((MODERATE, NONZERO)),
    ops.Inv: Domain((NONZERO,)),
    ops.Neg: Domain((LARGE,)),
    ops.Square: Domain((MODERATE,)),
    ops.Pow: Domain((Interval(0.5, 2.0), Interval(-2.0, 2.0))),
    # Exponentials, logarithms and roots
    ops.Exp: Domain((Interval(-3.0, 3.0),)),
    ops.Log: Domain((POSITIVE,)),
    ops.Sqrt: Domain((POSITIVE,)),
    # Trigonometric and activation functions
    ops.Sin: Domain((MODERATE,)),
    ops.Cos: Domain((MODERATE,)),
    ops.Tanh: Domain((MODERATE,)),
    ops.Sigmoid: Domain((MODERATE,)),
    ops.ReLU: Domain((AWAY_FROM_KINK,)),
    ops.Abs: Domain((AWAY_FROM_KINK,)),
    # Comparisons: ties are a kink, where finite differences disagree with any rule.
    ops.Maximum: Domain((LARGE, LARGE), tie_gap=0.05),
    ops.Minimum: Domain((LARGE, LARGE), tie_gap=0.05),
    # The flat ops of gradient graphs: the jump at 0 is a kink for finite differences.
    ops.Step: Domain((AWAY_FROM_KINK,)),
    ops.Sign: Domain((AWAY_FROM_KINK,)),
}

#: The comparisons: they make masks (bools), not values to differentiate, so they have no
#: place in the gradient tables; tests/test_ops.py checks them against numpy and torch.
MASK_OPS: tuple[type[Operation], ...] = (ops.Equal, ops.Greater, ops.GreaterEqual, ops.Less,
                                         ops.LessEqual, ops.LogicalAnd)

#: The elementwise ops (the ones random graphs are made of), by name.
ELEMENTWISE_OPS: tuple[type[Operation], ...] = tuple(sorted(
    (cls for cls in DOMAINS
     if cls.__module__ == elementwise.__name__ and not issubclass(cls, Flat)),
    key=lambda c: c.name))


# --------------------------------------------------------------------------------------
# Shapes and values
# --------------------------------------------------------------------------------------


def small_shapes() -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes of at most 2 dimensions of at most 3 elements each, () included."""
    return hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)


def broadcastable_shapes(count: int = 2) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """``count`` small shapes that broadcast together, such as (2, 3) and (3,) for a pair."""
    return hnp.mutually_broadcastable_shapes(num_shapes=count, max_dims=2, max_side=3).map(
        lambda shapes: shapes.input_shapes)


@st.composite
def sub_shapes(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shapes that broadcast to ``shape``: leading axes dropped, some axes set to 1."""
    kept = shape[draw(st.integers(0, len(shape))):]
    return tuple(draw(st.sampled_from((1, side))) for side in kept)


def values_in(interval: Interval, shape: tuple[int, ...], dtype: Any = np.float64,
              scalar: bool | None = None) -> st.SearchStrategy[Any]:
    """Values in ``interval``: numpy arrays of ``shape`` and ``dtype``.

    For shape ``()`` the value is a Python float when ``scalar`` is True, a 0-d
    array when it is False, and either one when it is None.
    """
    elements = interval.floats(width=np.finfo(dtype).bits)
    if shape == () and scalar is not False:
        return elements if scalar else st.one_of(elements, values_in(interval, (), dtype, False))
    return hnp.arrays(dtype, shape, elements=elements)


def op_arguments(op_class: type[Operation], shapes: tuple[tuple[int, ...], ...],
                 dtype: Any = np.float64) -> st.SearchStrategy[list[Any]]:
    """Arguments for ``op_class`` inside its domain, one per shape (() gives a Python float)."""
    domain = DOMAINS[op_class]
    return st.tuples(*(
        values_in(interval, shape, dtype, scalar=True)
        for interval, shape in zip(domain.arguments, shapes, strict=True)
    )).filter(lambda values: domain.admits(*values)).map(list)


# --------------------------------------------------------------------------------------
# Test cases of every op: elementwise ops on broadcast shapes, tensor ops on fixed ones
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """Integer class labels in ``[0, classes)``: a non-trainable input, never differentiated."""

    classes: int


@dataclass(frozen=True)
class Mask:
    """A boolean mask (``where``'s condition): a non-trainable input, never differentiated."""


@dataclass(frozen=True)
class Spaced:
    """Distinct values at least ``gap`` apart in random order, so a max or min has no tie."""

    gap: float = 0.5


#: How one argument is drawn: a float interval, integer labels, or spaced distinct values.
Argument = Interval | Labels | Mask | Spaced


def _draw_value(draw: st.DrawFn, kind: Argument, shape: tuple[int, ...], dtype: Any) -> Any:
    if isinstance(kind, Labels):
        labels = st.integers(0, kind.classes - 1)
        return draw(labels) if shape == () else draw(hnp.arrays(np.int64, shape, elements=labels))
    if isinstance(kind, Mask):
        return draw(st.booleans()) if shape == () else draw(hnp.arrays(np.bool_, shape))
    if isinstance(kind, Spaced):
        size = int(np.prod(shape))
        order = np.array(draw(st.permutations(range(size))), dtype=dtype)
        jitter = draw(hnp.arrays(dtype, size, elements=Interval(0.0, kind.gap / 2).floats(
            np.finfo(dtype).bits)))
        values = (order - size / 2) * kind.gap + jitter
        return float(values[0]) if shape == () else values.reshape(shape)
    return draw(values_in(kind, shape, dtype, scalar=True))


@dataclass(frozen=True)
class OpCase:
    """One way the op tests call an op: its parameters, its arguments' shapes and ranges.

    Attributes
    ----------
    op_class : type[Operation]
    shapes : tuple of shapes, or None
        One shape per argument (``()`` is a Python float); None for shapes that
        hypothesis draws (broadcastable together, for elementwise ops).
    arguments : tuple of Interval, Labels or Spaced
        How each argument is drawn.
    params : dict
        Keyword arguments for the op's constructor.
    admits : callable, optional
        Extra condition on the drawn values (away from kinks and ties).
    """

    op_class: type[Operation]
    shapes: tuple[tuple[int, ...], ...] | None
    arguments: tuple[Argument, ...]
    params: dict[str, Any] = field(default_factory=dict)
    admits: Callable[..., bool] | None = None

    @property
    def id(self) -> str:
        shapes = "random shapes" if self.shapes is None else ",".join(
            "x".join(map(str, shape)) if shape else "float" for shape in self.shapes)
        params = ",".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{self.op_class.name}[{shapes}{';' + params if params else ''}]"

    @property
    def fixed(self) -> tuple[int, ...]:
        """The positions of arguments that are not trainable (labels)."""
        return tuple(i for i, kind in enumerate(self.arguments)
                     if isinstance(kind, (Labels, Mask)))

    def op(self) -> Operation:
        """A new instance of the op with this case's parameters."""
        return self.op_class(**self.params)

    def draw(self, data: st.DataObject, dtype: Any = np.float64) -> tuple[tuple, list[Any]]:
        """Draw the shapes (when not fixed) and the arguments: ``(shapes, arguments)``."""
        shapes = self.shapes
        if shapes is None:
            shapes = data.draw(broadcastable_shapes(len(self.arguments)), label="shapes")

        @st.composite
        def arguments(draw: st.DrawFn) -> list[Any]:
            return [_draw_value(draw, kind, shape, dtype)
                    for kind, shape in zip(self.arguments, shapes, strict=True)]

        admits = self.admits or (lambda *values: True)
        drawn = data.draw(arguments().filter(lambda values: admits(*values)), label="arguments")
        return shapes, drawn


def _hinge_away_from_kinks(scores: Any, labels: Any, margin: float = 1.0) -> bool:
    """No wrong class's margin s_j - s_label + margin within 0.05 of 0 (the hinge's kink)."""
    scores = np.atleast_2d(scores)
    labels = np.atleast_1d(labels)
    correct = scores[np.arange(len(labels)), labels][:, np.newaxis]
    margins = scores - correct + margin
    margins[np.arange(len(labels)), labels] = 1.0
    return bool(np.all(abs(margins) >= 0.05))


def _cases(op_class: type[Operation], shape_list: list[tuple], *arguments: Argument,
           admits: Callable[..., bool] | None = None, **params: Any) -> list[OpCase]:
    """Cases of one op and parameter set over several argument shapes."""
    return [OpCase(op_class, shapes, arguments or (MODERATE,) * len(shapes), params, admits)
            for shapes in shape_list]


#: Matrix products of every numpy promotion rule, with broadcast batch axes.
_MATMUL_SHAPES = [((2, 3), (3, 4)), ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)),
                  ((2, 2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2)), ((3,), (2, 3, 2))]

TENSOR_CASES: dict[type[Operation], list[OpCase]] = {
    ops.Where: _cases(ops.Where, [((2, 3), (2, 3), (3,)), ((), (), ()), ((3,), (), (2, 3))],
                      Mask(), LARGE, LARGE),
    # Products
    ops.MatMul: _cases(ops.MatMul, _MATMUL_SHAPES),
    ops.Dot: _cases(ops.Dot, [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2))]),
    ops.Outer: _cases(ops.Outer, [((3,), (2,)), ((2, 2), (3,)), ((), (2,))]),
    ops.Linear: _cases(ops.Linear, [((4, 3), (2, 3), (2,)), ((3,), (2, 3), (2,)),
                                    ((2, 4, 3), (2, 3), (2,)), ((4, 3), (2, 3), ())]),
    # Reductions
    **{cls: [
        *_cases(cls, [((2, 3),), ((),), ((4,),)]),
        *_cases(cls, [((2, 3),)], axis=0),
        *_cases(cls, [((2, 3),)], axis=-1, keepdims=True),
        *_cases(cls, [((2, 3, 2),)], axis=(0, 2)),
    ] for cls in (ops.Sum, ops.Mean)},
    **{cls: [
        *_cases(cls, [((2, 3),), ((5,),)], Spaced()),
        *_cases(cls, [((2, 3),)], Spaced(), axis=0),
        *_cases(cls, [((2, 3, 2),)], Spaced(), axis=(0, 2), keepdims=True),
    ] for cls in (ops.Max, ops.Min)},
    # Shape and selection
    ops.Reshape: [*_cases(ops.Reshape, [((2, 3),)], shape=(3, 2)),
                  *_cases(ops.Reshape, [((2, 3),)], shape=-1),
                  *_cases(ops.Reshape, [((),)], shape=(1, 1))],
    ops.Transpose: [*_cases(ops.Transpose, [((2, 3),), ((3,),)]),
                    *_cases(ops.Transpose, [((2, 3, 4),)], axes=(1, 2, 0))],
    ops.Index: [*_cases(ops.Index, [((4,),)], index=1),
                *_cases(ops.Index, [((4,),)], index=slice(1, 3)),
                *_cases(ops.Index, [((4,),)], index=[0, 0, 3]),
                *_cases(ops.Index, [((3, 4),)], index=(slice(None), [2, 0, 2])),
                *_cases(ops.Index, [((3, 4),)], index=(1, Ellipsis)),
                *_cases(ops.Index, [((3, 2),)], index=np.array([True, False, True]))],
    ops.Concat: [*_cases(ops.Concat, [((2,), (3,)), ((2, 3),)]),
                 *_cases(ops.Concat, [((2, 3), (2, 1), (2, 2))], axis=1)],
    ops.Stack: [*_cases(ops.Stack, [((3,), (3,)), ((), (), ())]),
                *_cases(ops.Stack, [((2, 3), (2, 3))], axis=-1)],
    # Softmax
    **{cls: [*_cases(cls, [((4,),), ((2, 3),)]), *_cases(cls, [((2, 3),)], axis=0)]
       for cls in (ops.Softmax, ops.LogSoftmax)},
    # Losses
    ops.CrossEntropy: [
        *_cases(ops.CrossEntropy, [((3, 4), (3,))], MODERATE, Labels(4)),
        *_cases(ops.CrossEntropy, [((4,), ())], MODERATE, Labels(4)),
        *_cases(ops.CrossEntropy, [((3, 4), (3,))], MODERATE, Labels(4), reduction="sum"),
        *_cases(ops.CrossEntropy, [((3, 4), (3,))], MODERATE, Labels(4), reduction="none"),
    ],
    ops.Hinge: [
        *_cases(ops.Hinge, [((3, 4), (3,)), ((4,), ())], MODERATE, Labels(4),
                admits=_hinge_away_from_kinks),
        *_cases(ops.Hinge, [((3, 4), (3,))], MODERATE, Labels(4), reduction="none",
                admits=_hinge_away_from_kinks),
        *_cases(ops.Hinge, [((3, 4), (3,))], MODERATE, Labels(4), margin=0.5, reduction="sum",
                admits=lambda s, y: _hinge_away_from_kinks(s, y, margin=0.5)),
    ],
    ops.MSE: [*_cases(ops.MSE, [((2, 3), (2, 3)), ((2, 3), (3,)), ((), ())]),
              *_cases(ops.MSE, [((2, 3), (2, 3))], reduction="none")],
    ops.BCEWithLogits: [
        *_cases(ops.BCEWithLogits, [((4,), (4,)), ((), ())], MODERATE, Interval(0.0, 1.0)),
        *_cases(ops.BCEWithLogits, [((2, 3), (2, 3))], MODERATE, Interval(0.0, 1.0),
                reduction="sum"),
    ],
    # The ops of gradient graphs
    ops.Unbroadcast: [*_cases(ops.Unbroadcast, [((2, 3),)], shape=(3,)),
                      *_cases(ops.Unbroadcast, [((2, 3),)], shape=(2, 1)),
                      *_cases(ops.Unbroadcast, [((2, 3),)], shape=()),
                      *_cases(ops.Unbroadcast, [((3,),)], shape=(3,))],
    ops.BroadcastTo: [*_cases(ops.BroadcastTo, [((3,),)], shape=(2, 3)),
                      *_cases(ops.BroadcastTo, [((),)], shape=(2,)),
                      *_cases(ops.BroadcastTo, [((2, 1),)], shape=(2, 3))],
    ops.Scatter: [*_cases(ops.Scatter, [((2,),)], index=slice(1, 3), shape=(4,)),
                  *_cases(ops.Scatter, [((3,),)], index=[0, 0, 3], shape=(4,)),
                  *_cases(ops.Scatter, [((3, 3),)], index=(slice(None), [2, 0, 2]), shape=(3, 4)),
                  *_cases(ops.Scatter, [((),)], index=1, shape=(4,))],
    **{cls: [*_cases(cls, [((2, 3),), ((5,),)], Spaced()),
             *_cases(cls, [((2, 3),)], Spaced(), axis=(1,))]
       for cls in (ops.MaxWeights, ops.MinWeights)},
    ops.CrossEntropyGrad: _cases(ops.CrossEntropyGrad, [((3, 4), (3,)), ((4,), ())], MODERATE,
                                 Labels(4)),
    ops.HingeGrad: _cases(ops.HingeGrad, [((3, 4), (3,)), ((4,), ())], MODERATE, Labels(4),
                          admits=_hinge_away_from_kinks),
}

#: Argument shapes of the elementwise ops: () is a Python float; None means drawn.
ELEMENTWISE_SHAPES = [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ()),
                      None]


def op_cases(op_class: type[Operation]) -> list[OpCase]:
    """Every case the op tests run for ``op_class``: broadcast shapes or its TENSOR_CASES."""
    if op_class in TENSOR_CASES:
        return TENSOR_CASES[op_class]
    domain = DOMAINS[op_class]
    cases = {}
    for pair in ELEMENTWISE_SHAPES:
        shapes = None if pair is None else pair[: op_class.arity]
        case = OpCase(op_class, shapes, domain.arguments, admits=domain.admits)
        cases[case.id] = case  # unary ops see each first shape once
    return list(cases.values())


# --------------------------------------------------------------------------------------
# Random graphs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomGraph:
    """A graph as the declarations that build it; its repr is the code to rebuild it.

    Attributes
    ----------
    declarations : tuple of tuple
        ``("input", name, value, trainable)``, ``("constant", name, value)`` or
        ``("op", name, op_name, input_names)``, in declaration order.
    root : str
        The last operation node.
    """

    declarations: tuple[tuple[Any, ...], ...]
    root: str

    def build(self) -> ComputationalGraph:
        """A new graph with these declarations (inputs hold copies of the values)."""
        cg = ComputationalGraph()
        for kind, name, *rest in self.declarations:
            if kind == "input":
                cg.add_input(name, np.copy(rest[0]) if np.ndim(rest[0]) else rest[0], rest[1])
            elif kind == "constant":
                cg.add_constant(name, rest[0])
            else:
                cg.add_computation_node(name, *rest)
        return cg

    def __repr__(self) -> str:
        calls = {"input": "cg.add_input", "constant": "cg.add_constant",
                 "op": "cg.add_computation_node"}
        lines = [f"{calls[kind]}{tuple(rest)!r}" for kind, *rest in self.declarations]
        return "\n".join(["cg = ComputationalGraph()", *lines, f"root = {self.root!r}"])


@st.composite
def random_graphs(draw: st.DrawFn, max_nodes: int = 40) -> RandomGraph:
    """Random DAGs of 2 to ``max_nodes`` nodes over the elementwise ops, on small arrays.

    Every leaf's shape broadcasts to one shape drawn per graph, so any two
    nodes broadcast together. Each new operation takes as inputs existing nodes
    whose values lie in its domain (mostly nodes nothing uses yet) or new leaves
    drawn from it; an op whose inputs would tie (maximum, minimum) is not added.
    Every value thus stays in the domain of the ops that read it, and bounded
    (by 200). Finally the nodes nothing uses are summed by ``add`` nodes (add is
    smooth everywhere) into the root, so the root depends on every leaf.
    """
    size = draw(st.integers(2, max_nodes))
    full_shape = draw(small_shapes())
    declarations: list[tuple[Any, ...]] = []
    values: dict[str, Any] = {}
    unused: list[str] = []

    def declare(declaration: tuple[Any, ...], value: Any) -> str:
        declarations.append(declaration)
        values[declaration[1]] = value
        unused.append(declaration[1])
        return declaration[1]

    def new_leaf(interval: Interval) -> tuple[Any, ...]:
        value = draw(values_in(interval, draw(sub_shapes(full_shape))))
        kind = draw(st.sampled_from(("input", "input", "input", "fixed", "constant")))
        return (kind, value)

    def argument(interval: Interval) -> Any:
        """An existing node's name, or (kind, value) of a leaf to declare."""
        candidates = [name for name, value in values.items() if interval.contains(value)]
        idle = [name for name in unused if name in candidates]
        if idle and draw(st.integers(0, 3)) > 0:
            return draw(st.sampled_from(idle))
        if candidates and draw(st.booleans()):
            return draw(st.sampled_from(candidates))
        return new_leaf(interval)

    def add_leaf(kind: str, value: Any) -> str:
        name = f"x{len(declarations)}"
        if kind == "constant":
            return declare(("constant", name, value), value)
        return declare(("input", name, value, kind == "input"), value)

    add_leaf("input", draw(values_in(MODERATE, draw(sub_shapes(full_shape)))))
    for _ in range(4 * size):
        op_class = draw(st.sampled_from(ELEMENTWISE_OPS))
        domain = DOMAINS[op_class]
        chosen = [argument(interval) for interval in domain.arguments]
        new_leaves = sum(isinstance(arg, tuple) for arg in chosen)
        consumed = len({arg for arg in chosen if isinstance(arg, str) and arg in unused})
        # Declarations once the unused nodes are summed: one more op, its new leaves,
        # and one addition fewer for each unused node it consumes.
        if len(declarations) + len(unused) + new_leaves + 1 - consumed > size:
            continue
        if not domain.admits(*(arg[1] if isinstance(arg, tuple) else values[arg]
                               for arg in chosen)):
            continue
        inputs = tuple(add_leaf(*arg) if isinstance(arg, tuple) else arg for arg in chosen)
        value = op_class().forward(*(values[name] for name in inputs))
        unused[:] = [name for name in unused if name not in inputs]
        declare(("op", f"n{len(declarations)}", op_class.name, inputs), value)
        if len(declarations) + len(unused) - 1 >= size:
            break
    if not any(kind == "op" for kind, *_ in declarations):
        declare(("op", f"n{len(declarations)}", "neg", (unused.pop(),)), None)
    root = unused[0]
    for name in unused[1:]:
        root = declare(("op", f"n{len(declarations)}", "add", (root, name)), None)
    return RandomGraph(tuple(declarations), root)


#: Smooth one-input ops that keep shapes and stay bounded on any input.
_SMOOTH_UNARY = ("tanh", "sigmoid", "sin")


@st.composite
def random_networks(draw: st.DrawFn, max_layers: int = 6) -> RandomGraph:
    """Random feed-forward networks over the tensor ops, ending in a loss.

    A batch ``X`` of shape (N, F) flows through 1 to ``max_layers`` steps, each
    drawn from: a linear layer or a matrix product with new weights, a smooth
    activation, softmax or log-softmax on either axis, an elementwise sum or
    product with an earlier node of the same shape (so values take several
    paths), a transpose, a column slice or integer-array pick, concatenation
    or stacking with an earlier node, and a max, min, sum or mean over the last
    axis with ``keepdims``. It ends in cross-entropy against integer labels,
    mean squared error against a target, or a sum. Shapes are tracked so
    every op is applied where numpy defines it; weights lie in [-1, 1] so
    nothing overflows.
    """
    declarations: list[tuple[Any, ...]] = []
    shapes: dict[str, tuple[int, ...]] = {}

    def new_name(prefix: str) -> str:
        return f"{prefix}{len(declarations)}"

    def add_input(shape: tuple[int, ...], interval: Interval = Interval(-1.0, 1.0),
                  trainable: bool = True) -> str:
        name = new_name("w" if trainable else "d")
        declarations.append(("input", name, draw(values_in(interval, shape, scalar=False)),
                             trainable))
        shapes[name] = shape
        return name

    def add_op(op: Any, inputs: tuple[str, ...], shape: tuple[int, ...]) -> str:
        name = new_name("n")
        declarations.append(("op", name, op, inputs))
        shapes[name] = shape
        return name

    side = st.integers(1, 4)
    batch, features = draw(side), draw(side)
    current = add_input((batch, features), MODERATE, trainable=draw(st.booleans()))
    for _ in range(draw(st.integers(1, max_layers))):
        rows, cols = shapes[current]
        same_shape = [name for name, shape in shapes.items()
                      if shape == (rows, cols) and name != current]
        step = draw(st.sampled_from(("linear", "matmul", "unary", "softmax", "combine",
                                     "transpose", "index", "join", "reduce")))
        if step == "linear":
            width = draw(side)
            weight, bias = add_input((width, cols)), add_input((width,))
            current = add_op("linear", (current, weight, bias), (rows, width))
        elif step == "matmul":
            width = draw(side)
            current = add_op("matmul", (current, add_input((cols, width))), (rows, width))
        elif step == "unary":
            current = add_op(draw(st.sampled_from(_SMOOTH_UNARY)), (current,), (rows, cols))
        elif step == "softmax":
            op_class = draw(st.sampled_from((ops.Softmax, ops.LogSoftmax)))
            current = add_op(op_class(axis=draw(st.sampled_from((0, -1)))), (current,),
                             (rows, cols))
        elif step == "combine":
            other = draw(st.sampled_from(same_shape)) if same_shape else add_input((cols,))
            current = add_op(draw(st.sampled_from(("add", "mul"))), (current, other),
                             (rows, cols))
        elif step == "transpose":
            current = add_op("transpose", (current,), (cols, rows))
        elif step == "index":
            picks = draw(st.lists(st.integers(0, cols - 1), min_size=1, max_size=4))
            if draw(st.booleans()):
                current = add_op(ops.Index((slice(None), picks)), (current,), (rows, len(picks)))
            else:
                stop = draw(st.integers(1, cols))
                current = add_op(ops.Index((slice(None), slice(0, stop))), (current,),
                                 (rows, stop))
        elif step == "join":
            other = draw(st.sampled_from(same_shape)) if same_shape else current
            if draw(st.booleans()):
                current = add_op(ops.Concat(axis=1), (current, other), (rows, 2 * cols))
            else:
                stacked = add_op(ops.Stack(axis=0), (current, other), (2, rows, cols))
                current = add_op(ops.Sum(axis=0), (stacked,), (rows, cols))
        else:
            op_class = draw(st.sampled_from((ops.Max, ops.Min, ops.Sum, ops.Mean)))
            current = add_op(op_class(axis=-1, keepdims=True), (current,), (rows, 1))
    rows, cols = shapes[current]
    loss = draw(st.sampled_from(("cross_entropy", "mse", "sum")))
    if loss == "cross_entropy":
        labels = new_name("labels")
        declarations.append(("input", labels, draw(hnp.arrays(
            np.int64, (rows,), elements=st.integers(0, cols - 1))), False))
        root = add_op("cross_entropy", (current, labels), ())
    elif loss == "mse":
        root = add_op("mse", (current, add_input((rows, cols), trainable=False)), ())
    else:
        root = add_op("sum", (current,), ())
    return RandomGraph(tuple(declarations), root)

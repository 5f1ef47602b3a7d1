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
    "Invertible",
    "PositiveDefinite",
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
        return Interval(
            max(self.low, other.low), min(self.high, other.high), max(self.gap, other.gap)
        )


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
#: Values of at most 1, for sums of many products (convolutions) that float32 keeps to 1e-5.
UNIT = Interval(-1.0, 1.0)

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
    # Special functions: log1p needs x > -1; lgamma and digamma stay right of the poles at 0.
    ops.Log1p: Domain((Interval(-0.9, 10.0),)),
    ops.Expm1: Domain((Interval(-5.0, 5.0),)),
    ops.Erf: Domain((Interval(-3.0, 3.0),)),
    ops.Lgamma: Domain((POSITIVE,)),
    ops.Digamma: Domain((POSITIVE,)),
    # The flat ops of gradient graphs: the jump at 0 is a kink for finite differences.
    ops.Step: Domain((AWAY_FROM_KINK,)),
    ops.Sign: Domain((AWAY_FROM_KINK,)),
}

#: The comparisons: they make masks (bools), not values to differentiate, so they have no
#: place in the gradient tables; tests/test_ops.py checks them against numpy and torch.
MASK_OPS: tuple[type[Operation], ...] = (
    ops.Equal,
    ops.Greater,
    ops.GreaterEqual,
    ops.Less,
    ops.LessEqual,
    ops.LogicalAnd,
)

#: The elementwise ops (the ones random graphs are made of), by name.
ELEMENTWISE_OPS: tuple[type[Operation], ...] = tuple(
    sorted(
        (
            cls
            for cls in DOMAINS
            if cls.__module__ == elementwise.__name__ and not issubclass(cls, Flat)
        ),
        key=lambda c: c.name,
    )
)


# --------------------------------------------------------------------------------------
# Shapes and values
# --------------------------------------------------------------------------------------


def small_shapes() -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes of at most 2 dimensions of at most 3 elements each, () included."""
    return hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)


def broadcastable_shapes(count: int = 2) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """``count`` small shapes that broadcast together, such as (2, 3) and (3,) for a pair."""
    return hnp.mutually_broadcastable_shapes(num_shapes=count, max_dims=2, max_side=3).map(
        lambda shapes: shapes.input_shapes
    )


@st.composite
def sub_shapes(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shapes that broadcast to ``shape``: leading axes dropped, some axes set to 1."""
    kept = shape[draw(st.integers(0, len(shape))) :]
    return tuple(draw(st.sampled_from((1, side))) for side in kept)


def values_in(
    interval: Interval, shape: tuple[int, ...], dtype: Any = np.float64, scalar: bool | None = None
) -> st.SearchStrategy[Any]:
    """Values in ``interval``: numpy arrays of ``shape`` and ``dtype``.

    For shape ``()`` the value is a Python float when ``scalar`` is True, a 0-d
    array when it is False, and either one when it is None.
    """
    elements = interval.floats(width=np.finfo(dtype).bits)
    if shape == () and scalar is not False:
        return elements if scalar else st.one_of(elements, values_in(interval, (), dtype, False))
    return hnp.arrays(dtype, shape, elements=elements)


def op_arguments(
    op_class: type[Operation], shapes: tuple[tuple[int, ...], ...], dtype: Any = np.float64
) -> st.SearchStrategy[list[Any]]:
    """Arguments for ``op_class`` inside its domain, one per shape (() gives a Python float)."""
    domain = DOMAINS[op_class]
    return (
        st.tuples(
            *(
                values_in(interval, shape, dtype, scalar=True)
                for interval, shape in zip(domain.arguments, shapes, strict=True)
            )
        )
        .filter(lambda values: domain.admits(*values))
        .map(list)
    )


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


@dataclass(frozen=True)
class Invertible:
    """Square matrices (..., n, n) far from singular: entries in [-1, 1] plus 2n on the
    diagonal (eigenvalues at least n from 0), each row's sign drawn (determinants of both signs).
    """


@dataclass(frozen=True)
class PositiveDefinite:
    """Symmetric positive-definite matrices (..., n, n): M M^T + n I, M's entries in [-1, 1]."""


#: How one argument is drawn: a float interval, integer labels, spaced distinct values, or
#: well-conditioned matrices.
Argument = Interval | Labels | Mask | Spaced | Invertible | PositiveDefinite


def _draw_matrix(
    draw: st.DrawFn, kind: Invertible | PositiveDefinite, shape: tuple[int, ...], dtype: Any
) -> np.ndarray:
    n = shape[-1]
    entries = draw(
        hnp.arrays(dtype, shape, elements=Interval(-1.0, 1.0).floats(np.finfo(dtype).bits))
    )
    if isinstance(kind, PositiveDefinite):
        product = entries @ np.swapaxes(entries, -1, -2)
        symmetric = (product + np.swapaxes(product, -1, -2)) / 2  # exactly symmetric
        return symmetric + n * np.eye(n, dtype=dtype)
    signs = draw(hnp.arrays(dtype, shape[:-1], elements=st.sampled_from((-1.0, 1.0))))
    return (entries + 2 * n * np.eye(n, dtype=dtype)) * signs[..., np.newaxis]


def _draw_value(draw: st.DrawFn, kind: Argument, shape: tuple[int, ...], dtype: Any) -> Any:
    if isinstance(kind, (Invertible, PositiveDefinite)):
        return _draw_matrix(draw, kind, shape, dtype)
    if isinstance(kind, Labels):
        labels = st.integers(0, kind.classes - 1)
        return draw(labels) if shape == () else draw(hnp.arrays(np.int64, shape, elements=labels))
    if isinstance(kind, Mask):
        return draw(st.booleans()) if shape == () else draw(hnp.arrays(np.bool_, shape))
    if isinstance(kind, Spaced):
        size = int(np.prod(shape))
        order = np.array(draw(st.permutations(range(size))), dtype=dtype)
        jitter = draw(
            hnp.arrays(
                dtype, size, elements=Interval(0.0, kind.gap / 2).floats(np.finfo(dtype).bits)
            )
        )
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
        shapes = (
            "random shapes"
            if self.shapes is None
            else ",".join("x".join(map(str, shape)) if shape else "float" for shape in self.shapes)
        )
        params = ",".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{self.op_class.name}[{shapes}{';' + params if params else ''}]"

    @property
    def fixed(self) -> tuple[int, ...]:
        """The positions of arguments that are not trainable (labels)."""
        return tuple(i for i, kind in enumerate(self.arguments) if isinstance(kind, (Labels, Mask)))

    def op(self) -> Operation:
        """A new instance of the op with this case's parameters."""
        return self.op_class(**self.params)

    def graph(self, arguments: list[Any]) -> ComputationalGraph:
        """A graph whose node ``y`` applies the op to inputs ``x0, x1, ...`` holding ``arguments``.

        The arguments at the positions in :attr:`fixed` (labels) are not trainable.
        """
        cg = ComputationalGraph()
        names = [f"x{i}" for i in range(len(arguments))]
        for index, (name, value) in enumerate(zip(names, arguments, strict=True)):
            cg.add_input(name, value, trainable=index not in self.fixed)
        cg.add_computation_node("y", self.op(), names)
        return cg

    def draw(self, data: st.DataObject, dtype: Any = np.float64) -> tuple[tuple, list[Any]]:
        """Draw the shapes (when not fixed) and the arguments: ``(shapes, arguments)``."""
        shapes = self.shapes
        if shapes is None:
            shapes = data.draw(broadcastable_shapes(len(self.arguments)), label="shapes")

        @st.composite
        def arguments(draw: st.DrawFn) -> list[Any]:
            return [
                _draw_value(draw, kind, shape, dtype)
                for kind, shape in zip(self.arguments, shapes, strict=True)
            ]

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


def _cases(
    op_class: type[Operation],
    shape_list: list[tuple],
    *arguments: Argument,
    admits: Callable[..., bool] | None = None,
    **params: Any,
) -> list[OpCase]:
    """Cases of one op and parameter set over several argument shapes."""
    return [
        OpCase(op_class, shapes, arguments or (MODERATE,) * len(shapes), params, admits)
        for shapes in shape_list
    ]


def _away_from(*points: float, gap: float = 0.05) -> Callable[[Any], bool]:
    """A condition on one argument: every element at least ``gap`` from each of ``points``
    (the kinks of a piecewise op, where finite differences disagree with any rule)."""
    return lambda x: all(bool(np.all(abs(np.asarray(x) - point) >= gap)) for point in points)


#: A one-input op with parameters on arrays (first: the float32 test uses it), a float, and
#: drawn shapes.
_UNARY_SHAPES = [((2, 3),), ((),), None]


#: Away from 0, a norm's kink; small, so that cumulative products stay moderate, and away from
#: 0 too, where torch's cumprod gradient divides by x (inexact for tiny x; cgraph's does not).
AWAY_FROM_ZERO = Interval(-10.0, 10.0, gap=0.05)
SMALL = Interval(-2.0, 2.0, gap=0.1)


def _largest_magnitude_untied(axis: int | None) -> Callable[[Any], bool]:
    """A condition on one argument: along ``axis`` (all of it for None) the largest |x| is at
    least 0.05 above the next, so the inf-norm's gradient has no tie to split."""

    def admits(x: Any) -> bool:
        magnitude = np.abs(np.asarray(x, dtype=float))
        lines = (
            magnitude.reshape(1, -1)
            if axis is None
            else np.moveaxis(magnitude, axis, -1).reshape(-1, magnitude.shape[axis])
        )
        ordered = np.sort(lines, axis=-1)
        return ordered.shape[-1] < 2 or bool(np.all(ordered[:, -1] - ordered[:, -2] >= 0.05))

    return admits


#: Matrix products of every numpy promotion rule, with broadcast batch axes.
_MATMUL_SHAPES = [
    ((2, 3), (3, 4)),
    ((3,), (3,)),
    ((3,), (3, 2)),
    ((2, 3), (3,)),
    ((2, 2, 3), (3, 4)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((3,), (2, 3, 2)),
]

TENSOR_CASES: dict[type[Operation], list[OpCase]] = {
    ops.Where: _cases(
        ops.Where, [((2, 3), (2, 3), (3,)), ((), (), ()), ((3,), (), (2, 3))], Mask(), LARGE, LARGE
    ),
    # Products
    ops.MatMul: _cases(ops.MatMul, _MATMUL_SHAPES),
    ops.Dot: _cases(ops.Dot, [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2))]),
    ops.Outer: _cases(ops.Outer, [((3,), (2,)), ((2, 2), (3,)), ((), (2,))]),
    ops.Linear: _cases(
        ops.Linear,
        [
            ((4, 3), (2, 3), (2,)),
            ((3,), (2, 3), (2,)),
            ((2, 4, 3), (2, 3), (2,)),
            ((4, 3), (2, 3), ()),
        ],
    ),
    # Reductions
    **{
        cls: [
            *_cases(cls, [((2, 3),), ((),), ((4,),)]),
            *_cases(cls, [((2, 3),)], axis=0),
            *_cases(cls, [((2, 3),)], axis=-1, keepdims=True),
            *_cases(cls, [((2, 3, 2),)], axis=(0, 2)),
        ]
        for cls in (ops.Sum, ops.Mean)
    },
    **{
        cls: [
            *_cases(cls, [((2, 3),), ((5,),)], Spaced()),
            *_cases(cls, [((2, 3),)], Spaced(), axis=0),
            *_cases(cls, [((2, 3, 2),)], Spaced(), axis=(0, 2), keepdims=True),
        ]
        for cls in (ops.Max, ops.Min)
    },
    # Shape and selection
    ops.Reshape: [
        *_cases(ops.Reshape, [((2, 3),)], shape=(3, 2)),
        *_cases(ops.Reshape, [((2, 3),)], shape=-1),
        *_cases(ops.Reshape, [((),)], shape=(1, 1)),
    ],
    ops.Transpose: [
        *_cases(ops.Transpose, [((2, 3),), ((3,),)]),
        *_cases(ops.Transpose, [((2, 3, 4),)], axes=(1, 2, 0)),
    ],
    ops.Index: [
        *_cases(ops.Index, [((4,),)], index=1),
        *_cases(ops.Index, [((4,),)], index=slice(1, 3)),
        *_cases(ops.Index, [((4,),)], index=[0, 0, 3]),
        *_cases(ops.Index, [((3, 4),)], index=(slice(None), [2, 0, 2])),
        *_cases(ops.Index, [((3, 4),)], index=(1, Ellipsis)),
        *_cases(ops.Index, [((3, 2),)], index=np.array([True, False, True])),
    ],
    ops.Concat: [
        *_cases(ops.Concat, [((2,), (3,)), ((2, 3),)]),
        *_cases(ops.Concat, [((2, 3), (2, 1), (2, 2))], axis=1),
    ],
    ops.Stack: [
        *_cases(ops.Stack, [((3,), (3,)), ((), (), ())]),
        *_cases(ops.Stack, [((2, 3), (2, 3))], axis=-1),
    ],
    # Variance, norms and scans (ops/reductions.py); cumprod at zeros: tests/test_reductions.py
    # (std's kink is where all the elements reduced together are equal: Spaced keeps them apart)
    **{
        cls: [
            *_cases(cls, [((2, 3),), ((4,),)], kind),
            *_cases(cls, [((2, 3),)], kind, axis=0, ddof=1),
            *_cases(cls, [((2, 3),)], kind, axis=-1, keepdims=True),
            *_cases(cls, [((2, 3, 2),)], kind, axis=(0, 2), ddof=1),
        ]
        for cls, kind in ((ops.Var, MODERATE), (ops.Std, Spaced()))
    },
    ops.Norm: [
        *_cases(ops.Norm, [((2, 3),), ((4,),), ((),)], AWAY_FROM_ZERO),
        *_cases(ops.Norm, [((2, 3),)], AWAY_FROM_ZERO, axis=0),
        *_cases(ops.Norm, [((2, 3, 2),)], AWAY_FROM_ZERO, axis=(0, 2), keepdims=True),
        *_cases(ops.Norm, [((2, 3),)], AWAY_FROM_ZERO, ord=1),
        *_cases(ops.Norm, [((2, 3),)], AWAY_FROM_ZERO, ord=1, axis=-1, keepdims=True),
        *_cases(
            ops.Norm,
            [((2, 3),)],
            AWAY_FROM_ZERO,
            ord=np.inf,
            admits=_largest_magnitude_untied(None),
        ),
        *_cases(
            ops.Norm,
            [((2, 3),)],
            AWAY_FROM_ZERO,
            ord=np.inf,
            axis=1,
            admits=_largest_magnitude_untied(1),
        ),
    ],
    ops.CumSum: [
        *_cases(ops.CumSum, [((2, 3),), ((),)]),
        *_cases(ops.CumSum, [((2, 3),)], axis=0),
        *_cases(ops.CumSum, [((2, 3, 2),)], axis=-2, reverse=True),
    ],
    ops.CumProd: [
        *_cases(ops.CumProd, [((2, 3),), ((),)], SMALL),
        *_cases(ops.CumProd, [((4,),)], SMALL, axis=0),
        *_cases(ops.CumProd, [((2, 3, 2),)], SMALL, axis=1),
    ],
    # Products and structure (ops/structure.py)
    ops.Einsum: [
        *_cases(ops.Einsum, [((2, 3), (3, 4))], subscripts="ij,jk->ik"),
        *_cases(ops.Einsum, [((2, 3), (3, 2))], subscripts="ij,jk"),
        *_cases(ops.Einsum, [((3,), (3,))], subscripts="i,i"),
        *_cases(ops.Einsum, [((2, 2, 3), (2, 3, 2))], subscripts="bij,bjk->bik"),
        *_cases(ops.Einsum, [((2, 3), (4,), (3,))], subscripts="ij,k,j->ki"),
        *_cases(ops.Einsum, [((3, 3),)], subscripts="ii->i"),
        *_cases(ops.Einsum, [((3, 3),)], subscripts="ii"),
        *_cases(ops.Einsum, [((3, 3), (3,))], subscripts="ii,i->"),
        *_cases(ops.Einsum, [((2, 3),)], subscripts="ij->j"),
        *_cases(ops.Einsum, [((2, 3), (4,))], subscripts="ij,k->ikj"),
        *_cases(ops.Einsum, [((2, 2, 3), (3, 2))], subscripts="...ij,...jk->...ik"),
        *_cases(ops.Einsum, [((2, 2, 3), (2, 3))], subscripts="...j,...j->..."),
    ],
    ops.Cross: [
        *_cases(ops.Cross, [((2, 3), (2, 3)), ((3,), (3,)), ((2, 3), (3,))]),
        *_cases(ops.Cross, [((3, 2), (3, 2))], axis=0),
    ],
    **{
        cls: [
            *_cases(cls, [((3, 3),), ((2, 4),)]),
            *_cases(cls, [((2, 4),)], k=1),
            *_cases(cls, [((2, 3, 3),)], k=-1),
        ]
        for cls in (ops.Tril, ops.Triu)
    },
    # Indexing by data (ops/indexing.py): integer indices are non-trainable inputs
    ops.Take: [
        *_cases(ops.Take, [((2, 3), (2, 4))], MODERATE, Labels(3), axis=1),
        *_cases(ops.Take, [((4,), (6,))], MODERATE, Labels(4), axis=0),
        *_cases(ops.Take, [((3, 2), (4, 1))], MODERATE, Labels(3), axis=0),
        *_cases(ops.Take, [((1, 3), (2, 2))], MODERATE, Labels(3)),
        *_cases(ops.Take, [((2, 3), (5,))], MODERATE, Labels(6), axis=None),
    ],
    ops.ScatterAdd: [
        *_cases(ops.ScatterAdd, [((2, 3), (2, 4), (2, 4))], MODERATE, Labels(3), MODERATE),
        *_cases(
            ops.ScatterAdd,
            [((4,), (6,), (6,)), ((3, 2), (4, 2), (2,))],
            MODERATE,
            Labels(3),
            MODERATE,
            axis=0,
        ),
        *_cases(ops.ScatterAdd, [((2, 3), (2, 1), (2, 1))], MODERATE, Labels(3), MODERATE),
        *_cases(ops.ScatterAdd, [((2, 3), (5,), (5,))], MODERATE, Labels(6), MODERATE, axis=None),
    ],
    ops.IndexPut: [
        *_cases(ops.IndexPut, [((4,), (2,))], index=slice(1, 3)),
        *_cases(ops.IndexPut, [((3, 4), (3,)), ((3, 4), ())], index=(slice(None), 2)),
        *_cases(ops.IndexPut, [((4,), (2,))], index=[3, 0]),
        *_cases(
            ops.IndexPut, [((3, 2), (2, 2)), ((3, 2), (2,))], index=np.array([True, False, True])
        ),
        *_cases(ops.IndexPut, [((4,), (3,))], index=[0, 0, 2], accumulate=True),
        *_cases(ops.IndexPut, [((3, 4), (2, 4))], index=slice(0, 2), accumulate=True),
    ],
    # Softmax
    **{
        cls: [*_cases(cls, [((4,),), ((2, 3),)]), *_cases(cls, [((2, 3),)], axis=0)]
        for cls in (ops.Softmax, ops.LogSoftmax)
    },
    # Losses
    ops.CrossEntropy: [
        *_cases(ops.CrossEntropy, [((3, 4), (3,))], MODERATE, Labels(4)),
        *_cases(ops.CrossEntropy, [((4,), ())], MODERATE, Labels(4)),
        *_cases(ops.CrossEntropy, [((3, 4), (3,))], MODERATE, Labels(4), reduction="sum"),
        *_cases(ops.CrossEntropy, [((3, 4), (3,))], MODERATE, Labels(4), reduction="none"),
    ],
    ops.Hinge: [
        *_cases(
            ops.Hinge,
            [((3, 4), (3,)), ((4,), ())],
            MODERATE,
            Labels(4),
            admits=_hinge_away_from_kinks,
        ),
        *_cases(
            ops.Hinge,
            [((3, 4), (3,))],
            MODERATE,
            Labels(4),
            reduction="none",
            admits=_hinge_away_from_kinks,
        ),
        *_cases(
            ops.Hinge,
            [((3, 4), (3,))],
            MODERATE,
            Labels(4),
            margin=0.5,
            reduction="sum",
            admits=lambda s, y: _hinge_away_from_kinks(s, y, margin=0.5),
        ),
    ],
    ops.MSE: [
        *_cases(ops.MSE, [((2, 3), (2, 3)), ((2, 3), (3,)), ((), ())]),
        *_cases(ops.MSE, [((2, 3), (2, 3))], reduction="none"),
    ],
    ops.BCEWithLogits: [
        *_cases(ops.BCEWithLogits, [((4,), (4,)), ((), ())], MODERATE, Interval(0.0, 1.0)),
        *_cases(
            ops.BCEWithLogits, [((2, 3), (2, 3))], MODERATE, Interval(0.0, 1.0), reduction="sum"
        ),
    ],
    # Linear algebra, on well-conditioned matrices and stacks of them
    **{
        cls: _cases(cls, [((3, 3),), ((1, 1),), ((2, 2, 2),), ((2, 1, 3, 3),)], Invertible())
        for cls in (ops.Inverse, ops.Det, ops.LogAbsDet, ops.Slogdet)
    },
    ops.Solve: _cases(
        ops.Solve,
        [
            ((3, 3), (3,)),
            ((3, 3), (3, 2)),
            ((2, 3, 3), (3,)),
            ((2, 3, 3), (3, 1)),
            ((2, 3, 3), (2, 3, 2)),
            ((3, 3), (2, 3, 2)),
        ],
        Invertible(),
        MODERATE,
    ),
    ops.Cholesky: _cases(ops.Cholesky, [((3, 3),), ((1, 1),), ((2, 4, 4),)], PositiveDefinite()),
    # Convolution, pooling and dropout: N, C <= 2, 5x5 images, 3x3 kernels
    ops.Conv1d: [
        *_cases(ops.Conv1d, [((2, 2, 5), (3, 2, 3), (3,))], UNIT, UNIT, UNIT),
        *_cases(ops.Conv1d, [((1, 1, 5), (2, 1, 3))], UNIT, UNIT),
        *_cases(ops.Conv1d, [((2, 2, 5), (2, 2, 3))], UNIT, UNIT, stride=2, padding=1),
    ],
    ops.Conv2d: [
        *_cases(ops.Conv2d, [((2, 2, 5, 5), (2, 2, 3, 3), (2,))], UNIT, UNIT, UNIT),
        *_cases(ops.Conv2d, [((1, 1, 5, 5), (2, 1, 3, 3))], UNIT, UNIT),
        *_cases(
            ops.Conv2d, [((2, 2, 5, 5), (2, 2, 3, 3), (2,))], UNIT, UNIT, UNIT, stride=2, padding=1
        ),
        *_cases(
            ops.Conv2d, [((1, 2, 5, 5), (2, 2, 3, 3))], UNIT, UNIT, stride=(2, 1), padding=(0, 2)
        ),
    ],
    ops.ConvInputGrad: [
        *_cases(ops.ConvInputGrad, [((2, 2, 3, 3), (2, 2, 3, 3))], UNIT, UNIT, size=(5, 5)),
        *_cases(
            ops.ConvInputGrad,
            [((2, 2, 3, 3), (2, 1, 3, 3))],
            UNIT,
            UNIT,
            size=(5, 5),
            stride=2,
            padding=1,
        ),
        *_cases(
            ops.ConvInputGrad, [((1, 2, 2, 2), (2, 2, 3, 3))], UNIT, UNIT, size=(6, 5), stride=2
        ),
        *_cases(
            ops.ConvInputGrad, [((2, 3, 3), (3, 2, 3))], UNIT, UNIT, size=(5,), stride=2, padding=1
        ),
    ],
    ops.ConvWeightGrad: [
        *_cases(ops.ConvWeightGrad, [((2, 2, 5, 5), (2, 2, 3, 3))], UNIT, UNIT, size=(3, 3)),
        *_cases(
            ops.ConvWeightGrad,
            [((2, 1, 5, 5), (2, 2, 3, 3))],
            UNIT,
            UNIT,
            size=(3, 3),
            stride=2,
            padding=1,
        ),
        *_cases(
            ops.ConvWeightGrad, [((1, 2, 6, 5), (1, 2, 2, 2))], UNIT, UNIT, size=(3, 3), stride=2
        ),
        *_cases(
            ops.ConvWeightGrad, [((2, 2, 5), (2, 3, 3))], UNIT, UNIT, size=(3,), stride=2, padding=1
        ),
    ],
    # Max pooling on distinct values, so that no window has a tie (a kink)
    ops.MaxPool2d: [
        *_cases(ops.MaxPool2d, [((2, 2, 5, 5),)], Spaced(), kernel_size=2),
        *_cases(ops.MaxPool2d, [((1, 2, 5, 5),)], Spaced(), kernel_size=3, stride=1),
        *_cases(ops.MaxPool2d, [((2, 1, 5, 5),)], Spaced(), kernel_size=3, stride=2, padding=1),
        *_cases(ops.MaxPool2d, [((1, 2, 5, 5),)], Spaced(), kernel_size=(2, 3), stride=(1, 2)),
    ],
    ops.MaxPool2dGrad: [
        *_cases(
            ops.MaxPool2dGrad, [((2, 2, 5, 5), (2, 2, 2, 2))], Spaced(), MODERATE, kernel_size=2
        ),
        *_cases(
            ops.MaxPool2dGrad,
            [((1, 2, 5, 5), (1, 2, 3, 3))],
            Spaced(),
            MODERATE,
            kernel_size=3,
            stride=1,
        ),
        *_cases(
            ops.MaxPool2dGrad,
            [((2, 1, 5, 5), (2, 1, 3, 3))],
            Spaced(),
            MODERATE,
            kernel_size=3,
            stride=2,
            padding=1,
        ),
    ],
    ops.MaxPool2dGather: [
        *_cases(
            ops.MaxPool2dGather, [((2, 2, 5, 5), (2, 2, 5, 5))], Spaced(), MODERATE, kernel_size=2
        ),
        *_cases(
            ops.MaxPool2dGather,
            [((1, 2, 5, 5), (1, 2, 5, 5))],
            Spaced(),
            MODERATE,
            kernel_size=3,
            stride=1,
        ),
        *_cases(
            ops.MaxPool2dGather,
            [((2, 1, 5, 5), (2, 1, 5, 5))],
            Spaced(),
            MODERATE,
            kernel_size=3,
            stride=2,
            padding=1,
        ),
    ],
    # Dropout's second input: 0 (the identity) or a mask number, fixed like labels
    ops.Dropout: [
        *_cases(ops.Dropout, [((2, 3), ()), ((2, 2, 5, 5), ())], MODERATE, Labels(4)),
        *_cases(ops.Dropout, [((4,), ()), ((), ())], MODERATE, Labels(4), p=0.2, seed=7),
    ],
    # Activations: elementwise, with parameters; kinks and thresholds kept 0.05 away
    ops.Softplus: [
        *_cases(ops.Softplus, _UNARY_SHAPES, MODERATE),
        *_cases(
            ops.Softplus, [((2, 3),)], MODERATE, beta=2.0, threshold=4.0, admits=_away_from(2.0)
        ),
    ],
    ops.LeakyReLU: [
        *_cases(ops.LeakyReLU, _UNARY_SHAPES, AWAY_FROM_KINK),
        *_cases(ops.LeakyReLU, [((2, 3),)], AWAY_FROM_KINK, negative_slope=0.2),
    ],
    ops.ELU: [
        *_cases(ops.ELU, _UNARY_SHAPES, Interval(-10.0, 10.0, gap=0.05)),
        *_cases(ops.ELU, [((2, 3),)], Interval(-10.0, 10.0, gap=0.05), alpha=0.5),
    ],
    ops.GELU: [
        *_cases(ops.GELU, _UNARY_SHAPES, MODERATE),
        *_cases(ops.GELU, [((2, 3),), ((),)], MODERATE, approximate="tanh"),
    ],
    ops.Clip: [
        *_cases(
            ops.Clip,
            _UNARY_SHAPES,
            Interval(-5.0, 5.0),
            min=-1.0,
            max=2.0,
            admits=_away_from(-1.0, 2.0),
        ),
        *_cases(ops.Clip, [((2, 3),)], Interval(-5.0, 5.0), min=0.5, admits=_away_from(0.5)),
        *_cases(ops.Clip, [((2, 3),)], Interval(-5.0, 5.0), max=-0.5, admits=_away_from(-0.5)),
    ],
    # Log-sum-exp: a reduction, as sum
    ops.LogSumExp: [
        *_cases(ops.LogSumExp, [((4,),), ((2, 3),), ((),)]),
        *_cases(ops.LogSumExp, [((2, 3),)], axis=1),
        *_cases(ops.LogSumExp, [((2, 3),)], axis=0, keepdims=True),
        *_cases(ops.LogSumExp, [((2, 3, 2),)], axis=(0, 2), keepdims=True),
    ],
    # Polygamma: digamma's derivatives, right of the pole at 0
    ops.Polygamma: [
        *_cases(ops.Polygamma, _UNARY_SHAPES, Interval(0.5, 10.0), n=1),
        *_cases(ops.Polygamma, [((2, 3),)], Interval(0.5, 10.0), n=2),
    ],
    # The ops of gradient graphs
    ops.Unbroadcast: [
        *_cases(ops.Unbroadcast, [((2, 3),)], shape=(3,)),
        *_cases(ops.Unbroadcast, [((2, 3),)], shape=(2, 1)),
        *_cases(ops.Unbroadcast, [((2, 3),)], shape=()),
        *_cases(ops.Unbroadcast, [((3,),)], shape=(3,)),
    ],
    ops.BroadcastTo: [
        *_cases(ops.BroadcastTo, [((3,),)], shape=(2, 3)),
        *_cases(ops.BroadcastTo, [((),)], shape=(2,)),
        *_cases(ops.BroadcastTo, [((2, 1),)], shape=(2, 3)),
    ],
    ops.Scatter: [
        *_cases(ops.Scatter, [((2,),)], index=slice(1, 3), shape=(4,)),
        *_cases(ops.Scatter, [((3,),)], index=[0, 0, 3], shape=(4,)),
        *_cases(ops.Scatter, [((3, 3),)], index=(slice(None), [2, 0, 2]), shape=(3, 4)),
        *_cases(ops.Scatter, [((),)], index=1, shape=(4,)),
    ],
    **{
        cls: [
            *_cases(cls, [((2, 3),), ((5,),)], Spaced()),
            *_cases(cls, [((2, 3),)], Spaced(), axis=(1,)),
        ]
        for cls in (ops.MaxWeights, ops.MinWeights)
    },
    ops.CrossEntropyGrad: _cases(
        ops.CrossEntropyGrad, [((3, 4), (3,)), ((4,), ())], MODERATE, Labels(4)
    ),
    ops.HingeGrad: _cases(
        ops.HingeGrad,
        [((3, 4), (3,)), ((4,), ())],
        MODERATE,
        Labels(4),
        admits=_hinge_away_from_kinks,
    ),
}

#: Argument shapes of the elementwise ops: () is a Python float; None means drawn.
ELEMENTWISE_SHAPES = [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ()), None]


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
        calls = {
            "input": "cg.add_input",
            "constant": "cg.add_constant",
            "op": "cg.add_computation_node",
        }
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
        if not domain.admits(
            *(arg[1] if isinstance(arg, tuple) else values[arg] for arg in chosen)
        ):
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

    def add_input(
        shape: tuple[int, ...], interval: Interval = Interval(-1.0, 1.0), trainable: bool = True
    ) -> str:
        name = new_name("w" if trainable else "d")
        declarations.append(
            ("input", name, draw(values_in(interval, shape, scalar=False)), trainable)
        )
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
        same_shape = [
            name for name, shape in shapes.items() if shape == (rows, cols) and name != current
        ]
        step = draw(
            st.sampled_from(
                (
                    "linear",
                    "matmul",
                    "unary",
                    "softmax",
                    "combine",
                    "transpose",
                    "index",
                    "join",
                    "reduce",
                )
            )
        )
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
            current = add_op(
                op_class(axis=draw(st.sampled_from((0, -1)))), (current,), (rows, cols)
            )
        elif step == "combine":
            other = draw(st.sampled_from(same_shape)) if same_shape else add_input((cols,))
            current = add_op(draw(st.sampled_from(("add", "mul"))), (current, other), (rows, cols))
        elif step == "transpose":
            current = add_op("transpose", (current,), (cols, rows))
        elif step == "index":
            picks = draw(st.lists(st.integers(0, cols - 1), min_size=1, max_size=4))
            if draw(st.booleans()):
                current = add_op(ops.Index((slice(None), picks)), (current,), (rows, len(picks)))
            else:
                stop = draw(st.integers(1, cols))
                current = add_op(ops.Index((slice(None), slice(0, stop))), (current,), (rows, stop))
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
        declarations.append(
            (
                "input",
                labels,
                draw(hnp.arrays(np.int64, (rows,), elements=st.integers(0, cols - 1))),
                False,
            )
        )
        root = add_op("cross_entropy", (current, labels), ())
    elif loss == "mse":
        root = add_op("mse", (current, add_input((rows, cols), trainable=False)), ())
    else:
        root = add_op("sum", (current,), ())
    return RandomGraph(tuple(declarations), root)

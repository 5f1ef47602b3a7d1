"""Tensor operations with numpy's semantics: products, reductions, and reshaping.

Each op is a ``forward`` and one derivative rule, its ``pullback``, written with
the primitives ``p`` (:mod:`cgraph.ops.numeric`), so that the same rule gives
``backward`` and declares gradient graphs. Products are multilinear and the
reshaping ops linear (:mod:`cgraph.ops.kinds`), so their forward mode follows;
max and min state theirs. Gradients come back shaped like each input (the graph
still sums any broadcast batch axes away); a reduction to a single float64
number gives a Python float, as the elementwise ops do.

Every op computes with the array library of its inputs: numpy for floats and
numpy arrays (numpy's own calls, unchanged), otherwise the array-API namespace
of the inputs (:mod:`cgraph.ops.namespaces`), so a Dask array stays lazy and an
array-api-strict array stays one. Indexing that the array API lacks (integer
arrays, boolean masks, adding at repeated indices) is done with positions
numpy computes from the index and the shape alone: a gather (``take``) of the
flattened array, and for the scatter a gather per repetition of a position.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError
from cgraph.ops.arrays import as_output, normalize_axes, shape_errors, tangent_sum
from cgraph.ops.kinds import LinearMap, Multilinear
from cgraph.ops.namespaces import accepts_numpy, namespace
from cgraph.ops.operation import Operation

__all__ = [
    "MatMul",
    "Dot",
    "Outer",
    "Linear",
    "Sum",
    "Mean",
    "Max",
    "Min",
    "Reshape",
    "Transpose",
    "Index",
    "Concat",
    "Stack",
]


# --------------------------------------------------------------------------------------
# Array libraries: the namespace of the inputs, and indexing by positions numpy computes
# --------------------------------------------------------------------------------------


def _adopt(xp: ModuleType, value: Any) -> Any:
    """A numpy array met among another library's arrays (a Dask computation's parameters)
    as an array of that library; anything else as it is (a number keeps its own type)."""
    return xp.asarray(value) if type(value) is np.ndarray else value


def _constant(xp: ModuleType, value: np.ndarray) -> Any:
    """A numpy constant (positions, a mask) for computing with ``xp``: numpy's own array where
    the library takes numpy operands (Dask), else a copy in the library (on its device)."""
    return value if accepts_numpy(xp) else xp.asarray(value)


def _take_last(xp: ModuleType, x: Any, positions: np.ndarray, fill: float | None = None) -> Any:
    """x[..., positions] for positions numpy computed (any shape): shape (*lead, *positions).

    With ``fill``, position ``x.shape[-1]`` (one past the end) reads ``fill`` (padding).
    """
    lead = tuple(x.shape[:-1])
    if fill is not None:
        x = xp.concat([x, xp.full((*lead, 1), fill, dtype=x.dtype)], axis=-1)
    picked = xp.take(x, _constant(xp, positions.reshape(-1)), axis=-1)
    return xp.reshape(picked, (*lead, *positions.shape))


def _gather(xp: ModuleType, x: Any, positions: np.ndarray) -> Any:
    """The elements of x at flat ``positions`` (numpy ints), shaped like ``positions``."""
    return _take_last(xp, xp.reshape(x, (-1,)), positions)


def _repetitions(flat: np.ndarray) -> list[np.ndarray]:
    """``flat``'s indices split so that each part names each position once: the first time
    every position comes, then the second time, ... (each part in increasing order).

    Examples
    --------
    >>> _repetitions(np.array([3, 0, 3, 3]))
    [array([0, 1]), array([2]), array([3])]
    """
    if not flat.size:
        return []
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts = np.ones(flat.size, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    steps = np.arange(flat.size)
    rank = np.empty(flat.size, dtype=np.intp)
    rank[order] = steps - np.maximum.accumulate(np.where(starts, steps, 0))
    return [np.flatnonzero(rank == k) for k in range(int(rank.max()) + 1)]


def _scatter_plan(positions: np.ndarray, size: int) -> list[np.ndarray]:
    """How _scatter_last adds values at ``positions`` into ``size`` places: one gather per
    repetition, each naming for every place the value it takes (or the zero after them).

    Examples
    --------
    >>> _scatter_plan(np.array([2, 0, 2]), 3)
    [array([1, 3, 0]), array([3, 3, 2])]
    """
    flat = positions.reshape(-1)
    plan = []
    for chosen in _repetitions(flat):
        inverse = np.full(size, flat.size, dtype=np.intp)  # the appended zero, but where named
        inverse[flat[chosen]] = chosen
        plan.append(inverse)
    return plan


def _scatter_last(
    xp: ModuleType,
    values: Any,
    positions: np.ndarray,
    size: int,
    base: Any = None,
    plan: Sequence[np.ndarray] | None = None,
) -> Any:
    """``base`` (zeros when None), shape (*lead, size), with ``values`` (*lead, *positions)
    added at ``positions`` (numpy ints) along the last axis, as np.add.at: a position named
    twice adds both, in the order they come. Each repetition is one gather: no library needs
    a scatter, or writes in place. ``plan`` is :func:`_scatter_plan`'s, where kept.
    """
    lead = tuple(values.shape[: len(values.shape) - positions.ndim])
    padded = xp.concat(
        [xp.reshape(values, (*lead, -1)), xp.zeros((*lead, 1), dtype=values.dtype)], axis=-1
    )
    total = base
    for inverse in _scatter_plan(positions, size) if plan is None else plan:
        level = xp.take(padded, _constant(xp, inverse), axis=-1)
        total = level if total is None else total + level
    return xp.zeros((*lead, size), dtype=values.dtype) if total is None else total


def _positions(key: tuple[Any, ...], shape: tuple[int, ...], index: Any) -> np.ndarray:
    """The flat positions numpy's ``x[key]`` picks from an x of ``shape``, shaped as it is.

    Raises
    ------
    ShapeError
        If the index does not fit the shape.
    """
    try:
        return np.arange(math.prod(shape)).reshape(shape)[key]
    except IndexError as error:
        raise ShapeError(f"index {index!r} does not fit shape {shape}: {error}") from error


def _basic_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A basic index as the array API takes it: ints as ints, and every axis named (a
    trailing ``...`` where numpy leaves the rest implicit)."""
    parts = tuple(int(part) if isinstance(part, np.integer) else part for part in key)
    return parts if any(part is Ellipsis for part in parts) else (*parts, Ellipsis)


# --------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------


class MatMul(Multilinear):
    """Matrix product y = a @ b, as np.matmul; dL/da = u @ b^T, dL/db = a^T @ u.

    Vectors are promoted as numpy does (a 1-D ``a`` is a row, a 1-D ``b`` a
    column, and the added axis is removed again); leading axes are batch axes
    that broadcast, and their gradients are summed back to each input's shape.

    Examples
    --------
    >>> import numpy as np
    >>> op = MatMul()
    >>> op.forward(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0]))
    array([3., 7.])
    >>> from cgraph.ops import numeric
    >>> op.pullback(numeric, np.array([1.0, 0.0]), None, np.eye(2) + 1, np.array([1.0, 2.0]))
    (array([[1., 2.],
           [0., 0.]]), array([2., 1.]))
    """

    name = "matmul"

    def forward(self, a: Any, b: Any) -> Any:
        xp = namespace(a, b)
        if xp is np:
            a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul needs arrays of 1 or more dimensions, not shapes {a.shape} and "
                f"{b.shape}; multiply by a scalar with 'mul'"
            )
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] != inner_b:
            which = "only" if b.ndim == 1 else "second-to-last"
            raise ShapeError(
                f"matmul shapes {a.shape} and {b.shape} do not align: {a.shape[-1]} != "
                f"{inner_b}; the last axis of a must match the {which} axis of b"
            )
        return as_output(xp.matmul(a, b))

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        wants_a, wants_b = self.wants_grad(0), self.wants_grad(1)
        ndim_a, ndim_b = p.ndim(a), p.ndim(b)
        if ndim_a == 2 and ndim_b == 2:  # the common case, without reshaping
            return (
                p.matmul(upstream, p.swap_last(b)) if wants_a else None,
                p.matmul(p.swap_last(a), upstream) if wants_b else None,
            )
        # Vectors get their matrix axis back ((n,) is (1, n) as a, (n, 1) as b), and the
        # upstream gradient the axes the product dropped.
        shape_a, shape_b = p.shape(a), p.shape(b)
        a2 = a if ndim_a > 1 else p.reshape(a, (1, -1))
        b2 = b if ndim_b > 1 else p.reshape(b, (-1, 1))
        batch = np.broadcast_shapes(shape_a[:-2], shape_b[:-2])
        rows = shape_a[-2] if ndim_a > 1 else 1
        up = p.reshape(upstream, (*batch, rows, shape_b[-1] if ndim_b > 1 else 1))
        grad_a = grad_b = None
        if wants_a:
            grad_a = p.matmul(up, p.swap_last(b2))
            grad_a = grad_a if ndim_a > 1 else p.reshape(grad_a, (*batch, -1))
        if wants_b:
            grad_b = p.matmul(p.swap_last(a2), up)
            grad_b = grad_b if ndim_b > 1 else p.reshape(grad_b, (*batch, -1))
        return grad_a, grad_b


class Dot(MatMul):
    """Dot product, as np.dot for vectors and matrices: y = a . b; dL/da = u b, dL/db = u a.

    For 1-D and 2-D arrays ``np.dot`` is the matrix product, so the gradients
    are MatMul's. Arrays of more dimensions are refused: use ``matmul``, whose
    batching is numpy's recommended one.

    Examples
    --------
    >>> import numpy as np
    >>> op = Dot()
    >>> op.forward(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]))
    32.0
    >>> from cgraph.ops import numeric
    >>> op.pullback(numeric, 1.0, 32.0, np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]))
    (array([4., 5., 6.]), array([1., 2., 3.]))
    """

    name = "dot"

    def forward(self, a: Any, b: Any) -> Any:
        shapes = np.shape(a), np.shape(b)
        if not all(len(shape) in (1, 2) for shape in shapes):
            raise ShapeError(
                f"dot takes vectors and matrices, not shapes {shapes[0]} and {shapes[1]}; "
                "use 'mul' for scalars and 'matmul' for stacks of matrices"
            )
        return super().forward(a, b)


class Outer(Multilinear):
    """Outer product y_ij = a_i b_j of the flattened inputs, as np.outer.

    dL/da_i = sum_j u_ij b_j and dL/db_j = sum_i u_ij a_i, reshaped like each input.

    Examples
    --------
    >>> import numpy as np
    >>> op = Outer()
    >>> op.forward(np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0]))
    array([[ 3.,  4.,  5.],
           [ 6.,  8., 10.]])
    >>> from cgraph.ops import numeric
    >>> op.pullback(numeric, np.ones((2, 3)), None, np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0]))
    (array([12., 12.]), array([3., 3., 3.]))
    """

    name = "outer"

    def forward(self, a: Any, b: Any) -> Any:
        xp = namespace(a, b)
        if xp is np:
            return np.outer(np.ravel(a), np.ravel(b))
        # np.outer's own formula: a column times a row.
        return xp.reshape(_adopt(xp, a), (-1, 1)) * xp.reshape(_adopt(xp, b), (1, -1))

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return (
            p.reshape(p.matmul(upstream, p.reshape(b, (-1,))), p.shape(a))
            if self.wants_grad(0)
            else None,
            p.reshape(p.matmul(p.reshape(a, (-1,)), upstream), p.shape(b))
            if self.wants_grad(1)
            else None,
        )


class Linear(Operation):
    """Affine map y = x W^T + b, as torch.nn.functional.linear; W is (out, in).

    dL/dx = u W, dL/dW = u^T x (summed over the batch), dL/db = u summed over
    the batch. Fused so a dense layer is one node whose pre-activation output
    is inspectable by name (``layer1/z``).

    Examples
    --------
    >>> import numpy as np
    >>> op = Linear()
    >>> op.forward(np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]), np.zeros(2))
    array([[1., 3.]])
    >>> from cgraph.ops import numeric
    >>> x, w = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> grad_x, grad_w, grad_b = op.pullback(numeric, np.array([[1.0, 1.0]]), None, x, w, 0.0)
    >>> grad_x, grad_w
    (array([[2., 1.]]), array([[1., 2.],
           [1., 2.]]))
    """

    name = "linear"

    def forward(self, x: Any, weight: Any, bias: Any) -> Any:
        xp = namespace(x, weight, bias)
        if xp is np:
            x, weight = np.asarray(x), np.asarray(weight)
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ShapeError(
                f"linear needs a weight of shape (out, in) and an input whose last axis is "
                f"in; got input {x.shape} and weight {weight.shape}"
            )
        if xp is np:
            return np.matmul(x, weight.T) + bias
        return xp.matmul(x, xp.matrix_transpose(_adopt(xp, weight))) + bias

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, weight: Any, bias: Any) -> Any:
        grad_x = p.matmul(upstream, weight) if self.wants_grad(0) else None
        grad_w = None
        if self.wants_grad(1):
            if p.ndim(x) == 1:
                grad_w = p.outer(upstream, x)
            elif p.ndim(x) == 2:
                grad_w = p.matmul(p.swap_last(upstream), x)
            else:  # sum over every batch axis at once: one matrix product
                outputs, features = p.shape(weight)
                grad_w = p.matmul(
                    p.swap_last(p.reshape(upstream, (-1, outputs))), p.reshape(x, (-1, features))
                )
        return grad_x, grad_w, upstream  # the graph sums the bias's batch axes

    def pushforward(
        self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any, weight: Any, bias: Any
    ) -> Any:
        # Bilinear in (x, W) plus b: Multilinear's rule would add linear(x, W, b)'s bias
        # to each product term, and filling b's zero is wasted work: so it is spelled out.
        tx, tw, tb = tangents
        return tangent_sum(
            None if tx is None else p.matmul(tx, p.swap_last(weight)),
            None if tw is None else p.matmul(x, p.swap_last(tw)),
            tb,
        )


# --------------------------------------------------------------------------------------
# Reductions
# --------------------------------------------------------------------------------------


class _Reduction(Operation):
    """A reduction over ``axis`` (every axis when None), keeping them as size 1 if ``keepdims``."""

    def __init__(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> None:
        self.axis = axis
        self.keepdims = keepdims

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis, "keepdims": self.keepdims}

    def _axes(self, p: Any, x: Any) -> tuple[int, ...]:
        """The reduced axes of ``x``, checked, as non-negative ints."""
        return normalize_axes(self.axis, p.ndim(x))

    def _kept(self, p: Any, reduced: Any, x: Any) -> Any:
        """A reduced value (the output, its gradient) with the reduced axes back, as size 1."""
        axes = self._axes(p, x)
        if self.keepdims or not axes:
            return reduced
        kept = tuple(1 if axis in axes else side for axis, side in enumerate(p.shape(x)))
        return p.reshape(reduced, kept)


class Sum(_Reduction, LinearMap):
    """Sum y = sum of x over ``axis``, as np.sum; dy/dx = 1 for every element summed.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Sum(axis=0)
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> op.forward(x)
    array([4., 6.])
    >>> op.pullback(numeric, np.array([1.0, 10.0]), None, x)
    (array([[ 1., 10.],
           [ 1., 10.]]),)
    """

    name = "sum"

    def forward(self, x: Any) -> Any:
        xp = namespace(x)
        return as_output(
            xp.sum(x, axis=normalize_axes(self.axis, np.ndim(x)), keepdims=self.keepdims)
        )

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.broadcast_to(self._kept(p, upstream, x), p.shape(x)),)


class Mean(_Reduction, LinearMap):
    """Mean y = sum of x over ``axis`` / n, as np.mean; dy/dx = 1 / n for each of the n elements.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Mean()
    >>> op.forward(np.array([1.0, 2.0, 6.0]))
    3.0
    >>> op.pullback(numeric, 1.0, 3.0, np.array([1.0, 2.0, 6.0]))
    (array([0.33333333, 0.33333333, 0.33333333]),)
    """

    name = "mean"

    def forward(self, x: Any) -> Any:
        xp = namespace(x)
        return as_output(
            xp.mean(x, axis=normalize_axes(self.axis, np.ndim(x)), keepdims=self.keepdims)
        )

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        shape = p.shape(x)
        count = float(np.prod([shape[axis] for axis in self._axes(p, x)]))
        return (p.broadcast_to(self._kept(p, upstream / count, x), shape),)


def _extreme(
    select: Any, name: str, x: Any, axis: int | tuple[int, ...] | None, keepdims: bool
) -> Any:
    """``select`` (np.max or np.min) of x over ``axis``, refusing an empty x.

    On an array of another library, its namespace's function of the same name.

    Raises
    ------
    ShapeError
        If an axis is out of range, or x is empty (it has no extreme).
    """
    xp = namespace(x)
    if xp is np:
        x = np.asarray(x)
    else:
        select = xp.max if select is np.max else xp.min
    shape = tuple(x.shape)
    axes = normalize_axes(axis, len(shape))
    if math.prod(shape) == 0:
        raise ShapeError(f"{name} of an empty array (shape {shape}) has no value")
    return select(x, axis=axes, keepdims=keepdims)


class _Extreme(_Reduction):
    """Max or min over ``axis``; the gradient goes to the extreme element, split among ties."""

    name: ClassVar[str]  # each concrete class is registered under one
    select: Any  # np.max or np.min

    def forward(self, x: Any) -> Any:
        return as_output(_extreme(type(self).select, self.name, x, self.axis, self.keepdims))

    def _weights(self, p: Any, output: Any, x: Any) -> Any:
        """1/k at each of the k elements equal to the extreme (ties share), 0 elsewhere."""
        weights = p.max_weights if type(self).select is np.max else p.min_weights
        return weights(x, axis=self._axes(p, x))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (self._kept(p, upstream, x) * self._weights(p, output, x),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any) -> Any:
        # The extreme's tangent (the mean of tied ones): the pullback's transpose, which
        # cannot be read off the pullback without transposing it, so it is written out.
        weighted = tangents[0] * self._weights(p, output, x)
        return p.sum(weighted, axis=self._axes(p, x), keepdims=self.keepdims)


class Max(_Extreme):
    """Maximum over ``axis``, as np.max; dy/dx = 1 at the arg-max, 1/k for each of k ties.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Max(axis=1)
    >>> x = np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 3.0]])
    >>> op.forward(x)
    array([5., 7.])
    >>> op.pullback(numeric, np.ones(2), op.forward(x), x)
    (array([[0. , 0.5, 0.5],
           [1. , 0. , 0. ]]),)
    """

    name = "max"
    aliases = ("amax",)
    select = np.max


class Min(_Extreme):
    """Minimum over ``axis``, as np.min; dy/dx = 1 at the arg-min, 1/k for each of k ties.

    Examples
    --------
    >>> import numpy as np
    >>> Min().forward(np.array([3.0, -1.0, 2.0]))
    -1.0
    """

    name = "min"
    aliases = ("amin",)
    select = np.min


# --------------------------------------------------------------------------------------
# Shape and selection: linear, so each is its own tangent rule
# --------------------------------------------------------------------------------------


class Reshape(LinearMap):
    """Reshape to ``shape`` (one axis may be -1), as np.reshape; the gradient is reshaped back.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Reshape((2, -1))
    >>> op.forward(np.arange(6.0)).shape
    (2, 3)
    >>> op.pullback(numeric, np.ones((2, 3)), None, np.arange(6.0))[0].shape
    (6,)
    """

    name = "reshape"

    def __init__(self, shape: int | tuple[int, ...]) -> None:
        self.shape = tuple(shape) if isinstance(shape, Iterable) and np.ndim(shape) else (shape,)

    def params(self) -> dict[str, Any]:
        return {"shape": self.shape}

    def forward(self, x: Any) -> Any:
        with shape_errors("reshape", "give a shape with as many elements as the input"):
            xp = namespace(x)
            if xp is np:
                return as_output(np.reshape(x, self.shape))
            try:
                return xp.reshape(x, self.shape)
            except NotImplementedError:  # Dask splits and merges axes, not both at once
                return xp.reshape(xp.reshape(x, (-1,)), self.shape)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.reshape(upstream, p.shape(x)),)


class Transpose(LinearMap):
    """Permute axes (reverse them when ``axes`` is None), as np.transpose; the gradient is
    permuted back.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Transpose((1, 2, 0))
    >>> op.forward(np.zeros((2, 3, 4))).shape
    (3, 4, 2)
    >>> op.pullback(numeric, np.zeros((3, 4, 2)), None, np.zeros((2, 3, 4)))[0].shape
    (2, 3, 4)
    """

    name = "transpose"

    def __init__(self, axes: tuple[int, ...] | None = None) -> None:
        self.axes = None if axes is None else tuple(axes)

    def params(self) -> dict[str, Any]:
        return {"axes": self.axes}

    def forward(self, x: Any) -> Any:
        with shape_errors("transpose", "give axes that permute all of the input's axes"):
            xp = namespace(x)
            if xp is np:
                return as_output(np.transpose(x, self.axes))
            ndim = len(x.shape)
            axes = tuple(reversed(range(ndim))) if self.axes is None else self.axes
            if len(axes) != ndim:
                raise ValueError(f"axes {self.axes} don't match array of {ndim} dimensions")
            return xp.permute_dims(x, normalize_axes(axes, ndim))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        inverse = None if self.axes is None else tuple(int(a) for a in np.argsort(self.axes))
        return (p.transpose(upstream, axes=inverse),)


def _index_key(index: Any) -> Any:
    """Check an index: ints, slices, None, Ellipsis and integer or boolean arrays."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, (int, np.integer, slice)) or part is None or part is Ellipsis:
            continue
        kind = np.asarray(part).dtype.kind
        if kind not in "iub":
            raise InvalidOperationError(
                f"index {part!r} is not an int, a slice, None, ... or an array of integers "
                "or booleans"
            )
    return tuple(np.asarray(p) if isinstance(p, list) else p for p in parts)


def _is_basic(key: tuple[Any, ...]) -> bool:
    """Whether numpy's basic indexing applies (no arrays): no element is picked twice."""
    return not any(isinstance(part, np.ndarray) for part in key)


class Index(LinearMap):
    """Select elements x[index], as numpy indexing; the gradient is scattered back.

    ``index`` holds ints, slices, None, ``...`` and integer (or boolean) arrays.
    An element picked twice by an integer array gets both gradients: the
    scatter uses ``np.add.at``.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Index([0, 0, 2])
    >>> op.forward(np.array([10.0, 20.0, 30.0]))
    array([10., 10., 30.])
    >>> op.pullback(numeric, np.ones(3), None, np.zeros(3))
    (array([2., 0., 1.]),)
    """

    name = "index"
    aliases = ("getitem",)

    def __init__(self, index: Any) -> None:
        self.index = index
        self.key = _index_key(index)
        self.basic = _is_basic(self.key)

    def params(self) -> dict[str, Any]:
        return {"index": self.index}

    def forward(self, x: Any) -> Any:
        xp = namespace(x)
        if xp is not np:
            return self._select(xp, x)
        x = np.asarray(x)
        try:
            return as_output(x[self.key])
        except IndexError as error:
            raise ShapeError(
                f"index {self.index!r} does not fit shape {x.shape}: {error}"
            ) from error

    def _select(self, xp: ModuleType, x: Any) -> Any:
        """x[index] for an array of another library: basic indexing is the array API's;
        integer arrays and masks gather the positions they pick."""
        shape = tuple(x.shape)
        if not self.basic:
            return _gather(xp, x, _positions(self.key, shape, self.index))
        try:
            return x[_basic_key(self.key)]
        except IndexError as error:
            raise ShapeError(f"index {self.index!r} does not fit shape {shape}: {error}") from error

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.scatter(upstream, index=self.index, shape=p.shape(x)),)


class _Join(LinearMap):
    """An op joining any number of inputs along ``axis``."""

    min_arity = 1  # joining nothing is refused when the node is declared

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}


class Concat(_Join):
    """Join arrays along an existing ``axis``, as np.concatenate; the gradient is split back.

    Takes any number of inputs (at least one).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Concat(axis=0)
    >>> a, b = np.array([1.0, 2.0]), np.array([3.0])
    >>> op.forward(a, b)
    array([1., 2., 3.])
    >>> op.pullback(numeric, np.array([10.0, 20.0, 30.0]), None, a, b)
    (array([10., 20.]), array([30.]))
    """

    name = "concat"
    aliases = ("concatenate",)

    def forward(self, *arrays: Any) -> Any:
        with shape_errors("concat", "inputs must match on every axis but the one joined"):
            xp = namespace(*arrays)
            if xp is np:
                return np.concatenate(arrays, axis=self.axis)
            return xp.concat(arrays, axis=self.axis)

    def pullback(self, p: Any, upstream: Any, output: Any, *arrays: Any) -> Any:
        axis = normalize_axes(self.axis, p.ndim(upstream))[0]
        stops = np.cumsum([p.shape(array)[axis] for array in arrays])
        starts = [0, *stops[:-1]]
        return tuple(
            p.index(upstream, index=_along(axis, slice(int(start), int(stop))))
            for start, stop in zip(starts, stops, strict=True)
        )


class Stack(_Join):
    """Join arrays of one shape along a new ``axis``, as np.stack; the gradient is unstacked.

    Takes any number of inputs (at least one).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Stack(axis=1)
    >>> a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    >>> op.forward(a, b)
    array([[1., 3.],
           [2., 4.]])
    >>> op.pullback(numeric, np.array([[1.0, 2.0], [3.0, 4.0]]), None, a, b)
    (array([1., 3.]), array([2., 4.]))
    """

    name = "stack"

    def forward(self, *arrays: Any) -> Any:
        with shape_errors("stack", "give inputs of one shape"):
            return namespace(*arrays).stack(arrays, axis=self.axis)

    def pullback(self, p: Any, upstream: Any, output: Any, *arrays: Any) -> Any:
        return tuple(p.index(upstream, index=_along(self.axis, i)) for i in range(len(arrays)))


def _along(axis: int, part: int | slice) -> tuple[Any, ...]:
    """The index that takes ``part`` along ``axis`` (negative from the end) and all of the rest."""
    if axis >= 0:
        return (*(slice(None),) * axis, part)
    return (Ellipsis, part, *(slice(None),) * (-axis - 1))

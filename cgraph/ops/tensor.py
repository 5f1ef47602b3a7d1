"""Tensor operations with numpy's semantics: products, reductions, and reshaping.

Each op keeps what its ``backward`` and ``jvp`` need from ``forward`` on its own
instance; ``jvp`` gets a tangent (or None, zero) per input and returns the output's.
Gradients come back shaped like each input (the graph still sums any broadcast
batch axes away); a reduction to a single float64 number gives a Python float,
as the elementwise ops do. ``backward_graph`` declares the same gradients as ops
(reading only shapes and parameters from ``self``), for second derivatives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError
from cgraph.operation import Operation
from cgraph.ops._arrays import (
    as_output,
    expand_reduced,
    normalize_axes,
    shape_errors,
    tangent_sum,
)

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
# Products
# --------------------------------------------------------------------------------------


class MatMul(Operation):
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
    >>> op.backward(np.array([1.0, 0.0]))
    (array([[1., 1.],
           [0., 0.]]), array([1., 2.]))
    """

    name = "matmul"

    def forward(self, a: Any, b: Any) -> Any:
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul needs arrays of 1 or more dimensions, not shapes {a.shape} and "
                f"{b.shape}; multiply by a scalar with 'mul'")
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] != inner_b:
            which = "only" if b.ndim == 1 else "second-to-last"
            raise ShapeError(
                f"matmul shapes {a.shape} and {b.shape} do not align: {a.shape[-1]} != "
                f"{inner_b}; the last axis of a must match the {which} axis of b")
        self.a, self.b = a, b
        return as_output(np.matmul(a, b))

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        a, b = self.a, self.b
        wants_a, wants_b = self.wants_grad(0), self.wants_grad(1)
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshaping
            return (upstream @ b.T if wants_a else None, a.T @ upstream if wants_b else None)
        # Give vectors their matrix axis back: a (n,) is (1, n), b (n,) is (n, 1).
        a2 = a[np.newaxis, :] if a.ndim == 1 else a
        b2 = b[:, np.newaxis] if b.ndim == 1 else b
        up = np.asarray(upstream)
        if b.ndim == 1:
            up = up[..., np.newaxis]
        if a.ndim == 1:
            up = np.expand_dims(up, -2)
        grad_a = grad_b = None
        if wants_a:
            grad_a = up @ np.swapaxes(b2, -1, -2)
            grad_a = grad_a[..., 0, :] if a.ndim == 1 else grad_a
        if wants_b:
            grad_b = np.swapaxes(a2, -1, -2) @ up
            grad_b = grad_b[..., 0] if b.ndim == 1 else grad_b
        return grad_a, grad_b

    def jvp(self, ta: Any, tb: Any) -> Any:
        return tangent_sum(None if ta is None else np.matmul(ta, self.b),
                           None if tb is None else np.matmul(self.a, tb))

    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        ndim_a, ndim_b = self.a.ndim, self.b.ndim
        if ndim_a == 2 and ndim_b == 2:
            return g.matmul(upstream, g.transpose(b)), g.matmul(g.transpose(a), upstream)
        # As backward: vectors get their matrix axis back, the upstream gradient its lost axes.
        a2 = a if ndim_a > 1 else g.reshape(a, shape=(1, -1))
        b2 = b if ndim_b > 1 else g.reshape(b, shape=(-1, 1))
        batch = np.broadcast_shapes(self.a.shape[:-2], self.b.shape[:-2])
        rows = self.a.shape[-2] if ndim_a > 1 else 1
        up = g.reshape(upstream, shape=(*batch, rows, self.b.shape[-1] if ndim_b > 1 else 1))
        grad_a = g.matmul(up, g.transpose(b2, axes=_swap_last(max(ndim_b, 2))))
        grad_b = g.matmul(g.transpose(a2, axes=_swap_last(max(ndim_a, 2))), up)
        return (grad_a if ndim_a > 1 else g.reshape(grad_a, shape=(*batch, -1)),
                grad_b if ndim_b > 1 else g.reshape(grad_b, shape=(*batch, -1)))


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
    >>> op.backward(1.0)
    (array([4., 5., 6.]), array([1., 2., 3.]))
    """

    name = "dot"

    def forward(self, a: Any, b: Any) -> Any:
        shapes = np.shape(a), np.shape(b)
        if not all(len(shape) in (1, 2) for shape in shapes):
            raise ShapeError(
                f"dot takes vectors and matrices, not shapes {shapes[0]} and {shapes[1]}; "
                "use 'mul' for scalars and 'matmul' for stacks of matrices")
        return super().forward(a, b)


class Outer(Operation):
    """Outer product y_ij = a_i b_j of the flattened inputs, as np.outer.

    dL/da_i = sum_j u_ij b_j and dL/db_j = sum_i u_ij a_i, reshaped like each input.

    Examples
    --------
    >>> import numpy as np
    >>> op = Outer()
    >>> op.forward(np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0]))
    array([[ 3.,  4.,  5.],
           [ 6.,  8., 10.]])
    >>> op.backward(np.ones((2, 3)))
    (array([12., 12.]), array([3., 3., 3.]))
    """

    name = "outer"

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = np.shape(a), np.shape(b)
        self.a, self.b = np.ravel(a), np.ravel(b)
        return np.outer(self.a, self.b)

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        shape_a, shape_b = self.shapes
        return (
            np.reshape(upstream @ self.b, shape_a) if self.wants_grad(0) else None,
            np.reshape(self.a @ upstream, shape_b) if self.wants_grad(1) else None,
        )

    def jvp(self, ta: Any, tb: Any) -> Any:
        return tangent_sum(None if ta is None else np.outer(ta, self.b),
                           None if tb is None else np.outer(self.a, tb))

    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        shape_a, shape_b = self.shapes
        grad_a = g.reshape(g.matmul(upstream, g.reshape(b, shape=(-1,))), shape=shape_a)
        return grad_a, g.reshape(g.matmul(g.reshape(a, shape=(-1,)), upstream), shape=shape_b)


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
    >>> grad_x, grad_w, grad_b = op.backward(np.array([[1.0, 1.0]]))
    >>> grad_x, grad_w
    (array([[2., 1.]]), array([[1., 2.],
           [1., 2.]]))
    """

    name = "linear"

    def forward(self, x: Any, weight: Any, bias: Any) -> Any:
        x, weight = np.asarray(x), np.asarray(weight)
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ShapeError(
                f"linear needs a weight of shape (out, in) and an input whose last axis is "
                f"in; got input {x.shape} and weight {weight.shape}")
        self.x, self.weight = x, weight
        return np.matmul(x, weight.T) + bias

    def backward(self, upstream: Any) -> tuple[Any, Any, Any]:
        x, weight = self.x, self.weight
        grad_x = upstream @ weight if self.wants_grad(0) else None
        grad_w = None
        if self.wants_grad(1):
            if x.ndim == 1:
                grad_w = np.outer(upstream, x)
            else:  # sum over every batch axis at once: one matrix product
                grad_w = upstream.reshape(-1, weight.shape[0]).T @ x.reshape(-1, x.shape[-1])
        return grad_x, grad_w, upstream  # the graph sums the bias's batch axes

    def jvp(self, tx: Any, tw: Any, tb: Any) -> Any:
        return tangent_sum(None if tx is None else np.matmul(tx, self.weight.T),
                           None if tw is None else np.matmul(self.x, np.transpose(tw)), tb)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any, weight: Any,
                       bias: Any) -> Any:
        outputs, features = self.weight.shape
        if self.x.ndim == 1:
            grad_w = g.outer(upstream, x)
        elif self.x.ndim == 2:
            grad_w = g.matmul(g.transpose(upstream), x)
        else:  # every batch axis at once, as backward
            grad_w = g.matmul(g.transpose(g.reshape(upstream, shape=(-1, outputs))),
                              g.reshape(x, shape=(-1, features)))
        return g.matmul(upstream, weight), grad_w, upstream


def _swap_last(ndim: int) -> tuple[int, ...]:
    """The axes of a transpose that swaps the last two of ``ndim`` axes."""
    return (*range(ndim - 2), ndim - 1, ndim - 2)


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

    def _prepare(self, x: Any) -> tuple[int, ...]:
        """Save the input's shape and the reduced axes (checked) for backward."""
        self.shape = np.shape(x)
        self.axes = normalize_axes(self.axis, len(self.shape))
        return self.axes

    def _spread(self, upstream: Any) -> Any:
        """The upstream gradient copied back over the reduced axes, as a writable array."""
        expanded = expand_reduced(upstream, self.axes, self.keepdims)
        return np.array(np.broadcast_to(expanded, self.shape))

    def _expanded(self, g: Any, upstream: Any) -> Any:
        """The upstream gradient term with the reduced axes back as size 1 (backward_graph)."""
        if self.keepdims or not self.axes:
            return upstream
        kept = tuple(1 if axis in self.axes else side for axis, side in enumerate(self.shape))
        return g.reshape(upstream, shape=kept)


class Sum(_Reduction):
    """Sum y = sum of x over ``axis``, as np.sum; dy/dx = 1 for every element summed.

    Examples
    --------
    >>> import numpy as np
    >>> op = Sum(axis=0)
    >>> op.forward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([4., 6.])
    >>> op.backward(np.array([1.0, 10.0]))
    (array([[ 1., 10.],
           [ 1., 10.]]),)
    """

    name = "sum"

    def forward(self, x: Any) -> Any:
        return as_output(np.sum(x, axis=self._prepare(x), keepdims=self.keepdims))

    def backward(self, upstream: Any) -> tuple[Any]:
        return (self._spread(upstream),)

    def jvp(self, t: Any) -> Any:
        return np.sum(t, axis=self.axes, keepdims=self.keepdims)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.broadcast_to(self._expanded(g, upstream), shape=self.shape),)


class Mean(_Reduction):
    """Mean y = sum of x over ``axis`` / n, as np.mean; dy/dx = 1 / n for each of the n elements.

    Examples
    --------
    >>> import numpy as np
    >>> op = Mean()
    >>> op.forward(np.array([1.0, 2.0, 6.0]))
    3.0
    >>> op.backward(1.0)
    (array([0.33333333, 0.33333333, 0.33333333]),)
    """

    name = "mean"

    def forward(self, x: Any) -> Any:
        axes = self._prepare(x)
        self.count = int(np.prod([self.shape[a] for a in axes]))
        return as_output(np.mean(x, axis=axes, keepdims=self.keepdims))

    def backward(self, upstream: Any) -> tuple[Any]:
        return (self._spread(upstream / self.count),)

    def jvp(self, t: Any) -> Any:
        return np.mean(t, axis=self.axes, keepdims=self.keepdims)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        spread = self._expanded(g, g.div(upstream, float(self.count)))
        return (g.broadcast_to(spread, shape=self.shape),)


class _Extreme(_Reduction):
    """Max or min over ``axis``; the gradient goes to the extreme element, split among ties."""

    select: Any  # np.max or np.min

    def forward(self, x: Any) -> Any:
        axes = self._prepare(x)
        x = np.asarray(x)
        if x.size == 0:
            raise ShapeError(f"{self.name} of an empty array (shape {x.shape}) has no value")
        extreme = type(self).select(x, axis=axes, keepdims=True)
        winners = x == extreme
        # Ties share the gradient equally (as torch.amax), so the gradients sum to upstream.
        self.weights = winners / np.sum(winners, axis=axes, keepdims=True, dtype=x.dtype)
        return as_output(extreme if self.keepdims else np.squeeze(extreme, axis=axes))

    def backward(self, upstream: Any) -> tuple[Any]:
        return (expand_reduced(upstream, self.axes, self.keepdims) * self.weights,)

    def jvp(self, t: Any) -> Any:  # the extreme's tangent; the mean of tied ones
        return np.sum(t * self.weights, axis=self.axes, keepdims=self.keepdims)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        weights = (g.max_weights if type(self).select is np.max else g.min_weights)(
            x, axis=self.axes)
        return (g.mul(self._expanded(g, upstream), weights),)


class Max(_Extreme):
    """Maximum over ``axis``, as np.max; dy/dx = 1 at the arg-max, 1/k for each of k ties.

    Examples
    --------
    >>> import numpy as np
    >>> op = Max(axis=1)
    >>> op.forward(np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 3.0]]))
    array([5., 7.])
    >>> op.backward(np.ones(2))
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
# Shape and selection
# --------------------------------------------------------------------------------------


class Reshape(Operation):
    """Reshape to ``shape`` (one axis may be -1), as np.reshape; the gradient is reshaped back.

    Examples
    --------
    >>> import numpy as np
    >>> op = Reshape((2, -1))
    >>> op.forward(np.arange(6.0)).shape
    (2, 3)
    >>> op.backward(np.ones((2, 3))).shape
    (6,)
    """

    name = "reshape"

    def __init__(self, shape: int | tuple[int, ...]) -> None:
        self.shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)

    def params(self) -> dict[str, Any]:
        return {"shape": self.shape}

    def forward(self, x: Any) -> Any:
        self.input_shape = np.shape(x)
        with shape_errors("reshape", "give a shape with as many elements as the input"):
            return as_output(np.reshape(x, self.shape))

    def backward(self, upstream: Any) -> Any:
        return np.reshape(upstream, self.input_shape)

    def jvp(self, t: Any) -> Any:
        return np.reshape(t, self.shape)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return g.reshape(upstream, shape=self.input_shape)


class Transpose(Operation):
    """Permute axes (reverse them when ``axes`` is None), as np.transpose; the gradient is
    permuted back.

    Examples
    --------
    >>> import numpy as np
    >>> op = Transpose((1, 2, 0))
    >>> op.forward(np.zeros((2, 3, 4))).shape
    (3, 4, 2)
    >>> op.backward(np.zeros((3, 4, 2))).shape
    (2, 3, 4)
    """

    name = "transpose"

    def __init__(self, axes: tuple[int, ...] | None = None) -> None:
        self.axes = None if axes is None else tuple(axes)

    def params(self) -> dict[str, Any]:
        return {"axes": self.axes}

    def forward(self, x: Any) -> Any:
        self.inverse = None if self.axes is None else tuple(np.argsort(self.axes))
        with shape_errors("transpose", "give axes that permute all of the input's axes"):
            return as_output(np.transpose(x, self.axes))

    def backward(self, upstream: Any) -> Any:
        return np.transpose(upstream, self.inverse)

    def jvp(self, t: Any) -> Any:
        return np.transpose(t, self.axes)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        inverse = None if self.inverse is None else tuple(int(axis) for axis in self.inverse)
        return g.transpose(upstream, axes=inverse)


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
                "or booleans")
    return tuple(np.asarray(p) if isinstance(p, list) else p for p in parts)


def _is_basic(key: tuple[Any, ...]) -> bool:
    """Whether numpy's basic indexing applies (no arrays): no element is picked twice."""
    return not any(isinstance(part, np.ndarray) for part in key)


class Index(Operation):
    """Select elements x[index], as numpy indexing; the gradient is scattered back.

    ``index`` holds ints, slices, None, ``...`` and integer (or boolean) arrays.
    An element picked twice by an integer array gets both gradients: the
    scatter uses ``np.add.at``.

    Examples
    --------
    >>> import numpy as np
    >>> op = Index([0, 0, 2])
    >>> op.forward(np.array([10.0, 20.0, 30.0]))
    array([10., 10., 30.])
    >>> op.backward(np.ones(3))
    array([2., 0., 1.])
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
        x = np.asarray(x)
        self.shape, self.dtype = x.shape, x.dtype
        try:
            return as_output(x[self.key])
        except IndexError as error:
            raise ShapeError(
                f"index {self.index!r} does not fit shape {x.shape}: {error}") from error

    def backward(self, upstream: Any) -> Any:
        grad = np.zeros(self.shape, np.result_type(upstream, self.dtype, np.float16))
        if self.basic:
            grad[self.key] = upstream
        else:
            np.add.at(grad, self.key, upstream)
        return grad

    def jvp(self, t: Any) -> Any:
        return np.asarray(t)[self.key]

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return g.scatter(upstream, index=self.index, shape=self.shape)


class Concat(Operation):
    """Join arrays along an existing ``axis``, as np.concatenate; the gradient is split back.

    Takes any number of inputs.

    Examples
    --------
    >>> import numpy as np
    >>> op = Concat(axis=0)
    >>> op.forward(np.array([1.0, 2.0]), np.array([3.0]))
    array([1., 2., 3.])
    >>> op.backward(np.array([10.0, 20.0, 30.0]))
    (array([10., 20.]), array([30.]))
    """

    name = "concat"
    aliases = ("concatenate",)

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def forward(self, *arrays: Any) -> Any:
        with shape_errors("concat", "inputs must match on every axis but the one joined"):
            out = np.concatenate(arrays, axis=self.axis)
        axis = normalize_axes(self.axis, out.ndim)[0]
        self.splits = np.cumsum([np.shape(a)[axis] for a in arrays[:-1]])
        self.shapes = [np.shape(a) for a in arrays]  # for jvp: zeros where there is no tangent
        return out

    def backward(self, upstream: Any) -> tuple[Any, ...]:
        return tuple(np.split(upstream, self.splits, axis=self.axis))

    def jvp(self, *tangents: Any) -> Any:
        return np.concatenate(_zeros_for_none(tangents, self.shapes), axis=self.axis)

    def backward_graph(self, g: Any, upstream: Any, output: Any, *arrays: Any) -> Any:
        stops = [*map(int, self.splits), sum(shape[self.axis] for shape in self.shapes)]
        starts = [0, *stops[:-1]]
        return tuple(g.index(upstream, index=_along(self.axis, slice(start, stop)))
                     for start, stop in zip(starts, stops, strict=True))


class Stack(Operation):
    """Join arrays of one shape along a new ``axis``, as np.stack; the gradient is unstacked.

    Takes any number of inputs.

    Examples
    --------
    >>> import numpy as np
    >>> op = Stack(axis=1)
    >>> op.forward(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    array([[1., 3.],
           [2., 4.]])
    >>> op.backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    (array([1., 3.]), array([2., 4.]))
    """

    name = "stack"

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def forward(self, *arrays: Any) -> Any:
        with shape_errors("stack", "give inputs of one shape"):
            return np.stack(arrays, axis=self.axis)

    def backward(self, upstream: Any) -> tuple[Any, ...]:
        return tuple(np.moveaxis(upstream, self.axis, 0))

    def jvp(self, *tangents: Any) -> Any:
        shape = np.shape(next(t for t in tangents if t is not None))  # inputs share one shape
        return np.stack(_zeros_for_none(tangents, [shape] * len(tangents)), axis=self.axis)

    def backward_graph(self, g: Any, upstream: Any, output: Any, *arrays: Any) -> Any:
        return tuple(g.index(upstream, index=_along(self.axis, i)) for i in range(len(arrays)))


def _along(axis: int, part: int | slice) -> tuple[Any, ...]:
    """The index that takes ``part`` along ``axis`` (negative from the end) and all of the rest."""
    if axis >= 0:
        return (*(slice(None),) * axis, part)
    return (Ellipsis, part, *(slice(None),) * (-axis - 1))


def _zeros_for_none(tangents: tuple[Any, ...], shapes: list[tuple[int, ...]]) -> list[Any]:
    """The tangents with zeros of each input's shape in place of None, for joining."""
    dtype = np.result_type(*(t for t in tangents if t is not None))
    return [np.zeros(shape, dtype) if t is None else t
            for t, shape in zip(tangents, shapes, strict=True)]

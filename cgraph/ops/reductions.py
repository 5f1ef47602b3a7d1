"""Reductions beyond sum and mean (variance, standard deviation, norms) and the scans.

Variance, standard deviation and the norms reduce over ``axis`` as
:class:`~cgraph.ops.Sum` does (the reduction helpers of :mod:`cgraph.ops.tensor`),
and each states its derivative as one weight per element, ``dy/dx`` shaped like
``x``: the pullback spreads the upstream gradient over the reduced axes and
scales it by the weights, the pushforward sums the tangent scaled by them, so
one formula serves both modes and, written with the primitives ``p``, every order.

The scans keep the input's shape: ``cumsum`` is linear (its transpose is the
sum from the other end), ``cumprod``'s derivative is written without dividing
by ``x``, so it is exact where an element is zero.

Each op computes with its input's array library: numpy for numbers and numpy
arrays, else the array-API namespace of the input (``var(correction=ddof)``,
``cumulative_sum``...), so a Dask array stays lazy.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError
from cgraph.ops import numeric
from cgraph.ops.arrays import as_output, float_dtype, normalize_axes
from cgraph.ops.kinds import LinearMap
from cgraph.ops.namespaces import namespace
from cgraph.ops.operation import Operation
from cgraph.ops.tensor import _extreme, _Reduction

__all__ = ["Var", "Std", "Norm", "CumSum", "CumProd"]


# --------------------------------------------------------------------------------------
# Reductions whose derivative is one weight per element
# --------------------------------------------------------------------------------------


class _Weighted(_Reduction):
    """A reduction stating ``weights`` = dy/dx, shaped like x: both modes follow from them."""

    def weights(self, p: Any, output: Any, x: Any) -> Any:
        """dy/dx for each element of x, from the output with its reduced axes kept (size 1)."""
        raise NotImplementedError

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (self._kept(p, upstream, x) * self.weights(p, self._kept(p, output, x), x),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any) -> Any:
        weighted = tangents[0] * self.weights(p, self._kept(p, output, x), x)
        return p.sum(weighted, axis=self._axes(p, x), keepdims=self.keepdims)


def _inverse_or_zero(p: Any, value: Any) -> Any:
    """1 / value, and 0 where value is 0 (torch's masked convention), with no 1/0 on the way.

    Where the norm or the deviation is 0 its gradient, and (the branch being a
    constant) its derivative, is then 0, as torch's are.
    """
    zero = p.equal(value, 0.0)
    return p.where(zero, 0.0, 1.0 / p.where(zero, 1.0, value))


class _Spread(_Weighted):
    """A spread of x about its mean over ``axis``, divided by n - ``ddof`` (numpy's ddof)."""

    def __init__(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, ddof: int = 0
    ) -> None:
        super().__init__(axis, keepdims)
        self.ddof = ddof

    def params(self) -> dict[str, Any]:
        return {**super().params(), "ddof": self.ddof}

    def _centred_over_dof(self, p: Any, x: Any) -> Any:
        """(x - mean) / (n - ddof), the mean over the reduced axes; inf or nan for n <= ddof."""
        axes = self._axes(p, x)
        count = math.prod(p.shape(x)[axis] for axis in axes)
        # As numpy, n - ddof is taken as 0 when ddof exceeds n (the forward value is inf or nan).
        scale = numeric.divide(1.0, float(max(count - self.ddof, 0)))
        return (x - p.mean(x, axis=axes, keepdims=True)) * scale


class Var(_Spread):
    """Variance y = sum((x - mean)^2) / (n - ddof) over ``axis``, as np.var; dy/dx = 2 (x - mean) / (n - ddof).

    ``ddof`` is numpy's (0 by default: the population variance); torch's
    ``correction`` is the same number (torch's default is 1, the sample variance).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> x = np.array([1.0, 2.0, 6.0])
    >>> Var().forward(x), Var(ddof=1).forward(x)
    (4.666666666666667, 7.0)
    >>> Var(ddof=1).pullback(numeric, 1.0, 7.0, x)
    (array([-2., -1.,  3.]),)
    """  # noqa: E501

    name = "var"

    def forward(self, x: Any) -> Any:
        axes = normalize_axes(self.axis, np.ndim(x))
        xp = namespace(x)
        if xp is np:
            return as_output(np.var(x, axis=axes, ddof=self.ddof, keepdims=self.keepdims))
        return xp.var(x, axis=axes, correction=self.ddof, keepdims=self.keepdims)

    def weights(self, p: Any, output: Any, x: Any) -> Any:
        return self._centred_over_dof(p, x) * 2.0


class Std(_Spread):
    """Standard deviation y = sqrt(var(x)) over ``axis``, as np.std; dy/dx = (x - mean) / ((n - ddof) y).

    ``ddof`` as in :class:`Var` (torch's ``correction``). Where y = 0 (every
    element equal) the gradient is 0, as torch's, not 0/0.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> x = np.array([1.0, 3.0])
    >>> Std().forward(x)
    1.0
    >>> Std().pullback(numeric, 1.0, 1.0, x)
    (array([-0.5,  0.5]),)
    >>> Std().pullback(numeric, 1.0, 0.0, np.ones(2))   # constant input: 0, not nan
    (array([0., 0.]),)
    """  # noqa: E501

    name = "std"

    def forward(self, x: Any) -> Any:
        axes = normalize_axes(self.axis, np.ndim(x))
        xp = namespace(x)
        if xp is np:
            return as_output(np.std(x, axis=axes, ddof=self.ddof, keepdims=self.keepdims))
        return xp.std(x, axis=axes, correction=self.ddof, keepdims=self.keepdims)

    def weights(self, p: Any, output: Any, x: Any) -> Any:
        return self._centred_over_dof(p, x) * _inverse_or_zero(p, output)


class Norm(_Weighted):
    """Vector norm over ``axis``, as torch.linalg.vector_norm: ``ord`` 2, 1 or inf.

    - ord=2 (the default; Frobenius for a matrix): y = sqrt(sum x^2); dy/dx = x / y.
    - ord=1: y = sum |x|; dy/dx = sign(x).
    - ord=inf: y = max |x|; dy/dx = sign(x) at the largest |x|, split equally among ties.

    ``axis`` None takes the norm of all the elements (the flattened array), as
    torch's ``vector_norm`` does; a tuple of axes likewise flattens those axes
    (never a matrix norm, unlike ``np.linalg.norm`` with two axes and an ``ord``).
    At x = 0 every norm's gradient is 0 (torch's convention: 0 is a subgradient),
    never nan. Where the squares of the 2-norm overflow or underflow, x is
    divided by its largest |x| first (as hypot does), so the norm is right
    wherever it is itself representable.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> x = np.array([3.0, -4.0])
    >>> Norm().forward(x), Norm(ord=1).forward(x), Norm(ord=np.inf).forward(x)
    (5.0, 7.0, 4.0)
    >>> Norm().pullback(numeric, 1.0, 5.0, x)
    (array([ 0.6, -0.8]),)
    >>> Norm().pullback(numeric, 1.0, 0.0, np.zeros(2))   # at 0: 0, not nan
    (array([0., 0.]),)
    >>> Norm().forward(np.array([3.0, 4.0]) * 2.0**600) == 5.0 * 2.0**600  # no overflow
    True
    """

    name = "norm"
    aliases = ("vector_norm",)

    def __init__(
        self,
        ord: float | None = 2,
        axis: int | tuple[int, ...] | None = None,
        keepdims: bool = False,
    ) -> None:
        super().__init__(axis, keepdims)
        ord = 2 if ord is None else ord
        if ord not in (1, 2, math.inf):
            raise InvalidOperationError(
                f"norm takes ord 1, 2 or inf (math.inf, np.inf), not {ord!r}"
            )
        self.ord = ord

    def params(self) -> dict[str, Any]:
        return {"ord": self.ord, **super().params()}

    def forward(self, x: Any) -> Any:
        xp = namespace(x)
        if xp is not np:
            return self._norm(xp, x)
        x = np.asarray(x)
        axes = normalize_axes(self.axis, x.ndim)
        magnitude = np.abs(x)
        if self.ord == 1:
            return as_output(np.sum(magnitude, axis=axes, keepdims=self.keepdims))
        if self.ord == math.inf:
            return as_output(_extreme(np.max, self.name, magnitude, axes, self.keepdims))
        with np.errstate(over="ignore", under="ignore"):  # both are caught just below
            squares = np.sum(np.square(magnitude), axis=axes, keepdims=True)
        norm = np.sqrt(squares)
        risky = ~np.isfinite(squares) | (squares < np.finfo(float_dtype(x)).tiny)
        if np.any(risky):  # squares overflowed or underflowed: scale by the largest |x| first
            scale = np.max(magnitude, axis=axes, keepdims=True, initial=0.0)
            scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
            scaled = scale * np.sqrt(np.sum(np.square(x / scale), axis=axes, keepdims=True))
            norm = np.where(risky, scaled, norm)
        return as_output(norm if self.keepdims else np.squeeze(norm, axis=axes))

    def _norm(self, xp: ModuleType, x: Any) -> Any:
        """forward's steps for an array of another library, which may not be read: the
        scaled 2-norm is computed everywhere and chosen where the squares over- or underflow."""
        axes = normalize_axes(self.axis, x.ndim)
        magnitude = xp.abs(x)
        if self.ord == 1:
            return xp.sum(magnitude, axis=axes, keepdims=self.keepdims)
        if self.ord == math.inf:
            return _extreme(np.max, self.name, magnitude, axes, self.keepdims)
        squares = xp.sum(magnitude * magnitude, axis=axes, keepdims=True)
        norm = xp.sqrt(squares)
        if math.prod(x.shape[axis] for axis in axes):  # else every norm is 0, and exact
            risky = ~xp.isfinite(squares) | (squares < xp.finfo(x.dtype).smallest_normal)
            scale = xp.max(magnitude, axis=axes, keepdims=True)
            scale = xp.where((scale > 0) & xp.isfinite(scale), scale, 1.0)
            ratio = x / scale
            scaled = scale * xp.sqrt(xp.sum(ratio * ratio, axis=axes, keepdims=True))
            norm = xp.where(risky, scaled, norm)
        return norm if self.keepdims else xp.squeeze(norm, axis=axes)

    def weights(self, p: Any, output: Any, x: Any) -> Any:
        if self.ord == 1:
            return p.sign(x)
        if self.ord == math.inf:
            return p.sign(x) * p.max_weights(p.abs(x), axis=self._axes(p, x))
        return x * _inverse_or_zero(p, output)


# --------------------------------------------------------------------------------------
# Scans: cumulative sums and products along an axis
# --------------------------------------------------------------------------------------


def _scanned(x: Any, axis: int | None) -> tuple[ModuleType, Any, int]:
    """x's namespace, x as an array and the axis to scan: the flattened array and 0 for
    ``axis`` None."""
    xp = namespace(x)
    if xp is np:
        x = np.asarray(x)
        if axis is None:
            return xp, x.ravel(), 0
    elif axis is None:
        return xp, xp.reshape(x, (-1,)), 0
    return xp, x, normalize_axes(axis, x.ndim)[0]


class _Scan(Operation):
    """A scan along ``axis`` (over the flattened array when None, as numpy)."""

    def __init__(self, axis: int | None = None) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def _permutation(self, p: Any, value: Any) -> tuple[int, ...] | None:
        """The axes putting the scanned axis last, or None when it already is."""
        ndim = p.ndim(value)
        axis = normalize_axes(self.axis, ndim)[0]
        if axis == ndim - 1:
            return None
        return (*(a for a in range(ndim) if a != axis), axis)

    def _lines(self, p: Any, value: Any) -> Any:
        """``value`` (shaped like the input, or like the output) with the scanned axis last."""
        if self.axis is None:
            return p.reshape(value, (-1,))
        axes = self._permutation(p, value)
        return value if axes is None else p.transpose(value, axes=axes)

    def _unlines(self, p: Any, lines: Any, like: Any) -> Any:
        """Undo :meth:`_lines`: the scanned axis back in place, shaped like ``like``."""
        if self.axis is None:
            shape = p.shape(like)
            return lines if p.shape(lines) == shape else p.reshape(lines, shape)
        axes = self._permutation(p, like)
        return (
            lines
            if axes is None
            else p.transpose(lines, axes=tuple(int(a) for a in np.argsort(axes)))
        )


class CumSum(_Scan, LinearMap):
    """Cumulative sum y_i = sum_{j <= i} x_j along ``axis``, as np.cumsum; dL/dx_j = sum_{i >= j} u_i.

    ``axis`` None scans the flattened array (numpy's default). ``reverse=True``
    sums from the end instead, y_i = sum_{j >= i} x_j (as ``jax.lax.cumsum``):
    the transpose of the forward sum, so the gradient of one is the other.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> CumSum().forward(x)
    array([ 1.,  3.,  6., 10.])
    >>> CumSum(axis=1).forward(x), CumSum(axis=1, reverse=True).forward(x)
    (array([[1., 3.],
           [3., 7.]]), array([[3., 2.],
           [7., 4.]]))
    >>> CumSum(axis=0).pullback(numeric, np.ones((2, 2)), None, x)
    (array([[2., 2.],
           [1., 1.]]),)
    """  # noqa: E501

    name = "cumsum"

    def __init__(self, axis: int | None = None, reverse: bool = False) -> None:
        super().__init__(axis)
        self.reverse = reverse

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis, "reverse": self.reverse}

    def forward(self, x: Any) -> Any:
        xp, x, axis = _scanned(x, self.axis)
        if xp is np:
            if self.reverse:
                return np.flip(np.cumsum(np.flip(x, axis), axis), axis)
            return np.cumsum(x, axis)
        if self.reverse:
            return xp.flip(xp.cumulative_sum(xp.flip(x, axis=axis), axis=axis), axis=axis)
        return xp.cumulative_sum(x, axis=axis)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        grad = p.cumsum(upstream, axis=self.axis, reverse=not self.reverse)
        return (self._unlines(p, grad, x) if self.axis is None else grad,)


def _shifted(p: Any, v: Any, shift: int, forward: bool) -> Any:
    """v moved ``shift`` places along its last axis, zeros coming in: v_{i-shift} (forward)
    or v_{i+shift}."""
    n = p.shape(v)[-1]
    zeros = p.zeros_like(v)[..., :shift]  # a number in both interpretations: a constant
    if forward:
        return p.concat(zeros, p.index(v, index=(Ellipsis, slice(0, n - shift))), axis=-1)
    return p.concat(p.index(v, index=(Ellipsis, slice(shift, n))), zeros, axis=-1)


def _recurrence(p: Any, a: Any, b: Any, forward: bool) -> Any:
    """r with r_i = b_i + a_i r_{i-1} (forward) or r_i = b_i + a_i r_{i+1} along the last
    axis, r = 0 past the ends: log2(n) doublings of the step (Hillis and Steele's scan)."""
    n, shift = p.shape(b)[-1], 1
    while shift < n:  # from r_i = b_i + a_i r_{i-s} to r_i = b'_i + a'_i r_{i-2s}
        b = b + a * _shifted(p, b, shift, forward)
        if 2 * shift < n:
            a = a * _shifted(p, a, shift, forward)
        shift *= 2
    return b


class CumProd(_Scan):
    """Cumulative product y_i = prod_{j <= i} x_j along ``axis``, as np.cumprod; dy_i/dx_k = prod_{j <= i, j != k} x_j.

    ``axis`` None scans the flattened array (numpy's default). The derivative
    never divides by x, so it is exact where elements are 0 (y_i / x_k would
    be nan there), to every order: with E_k = y_{k-1} = prod_{j < k} x_j,
    dL/dx_k = E_k R_k for R_k = u_k + x_{k+1} R_{k+1}, and the tangent is
    T_i = E_i t_i + x_i T_{i-1}; both recurrences run as log2(n) steps of
    products and shifts (O(n log n) per line of n elements).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> x = np.array([2.0, 0.0, 3.0])
    >>> y = CumProd().forward(x)
    >>> y
    array([2., 0., 0.])
    >>> CumProd().pullback(numeric, np.ones(3), y, x)   # exact at the zero
    (array([1., 8., 0.]),)
    """  # noqa: E501

    name = "cumprod"

    def forward(self, x: Any) -> Any:
        xp, x, axis = _scanned(x, self.axis)
        return np.cumprod(x, axis) if xp is np else xp.cumulative_prod(x, axis=axis)

    def _before(self, p: Any, output: Any) -> Any:
        """E_k = prod_{j < k} x_j along the lines: the output moved one place, 1 first."""
        lines = self._lines(p, output)
        ones = p.zeros_like(lines)[..., :1] + 1.0
        if p.shape(lines)[-1] == 1:
            return ones
        return p.concat(ones, p.index(lines, index=(Ellipsis, slice(0, -1))), axis=-1)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        # dL/dx_k = E_k sum_{i >= k} u_i prod_{k < j <= i} x_j: the sum is R_k, read backwards.
        after = _shifted(p, self._lines(p, x), 1, forward=False)  # x_{k+1}, 0 at the end
        sums = _recurrence(p, after, self._lines(p, upstream), forward=False)
        return (self._unlines(p, self._before(p, output) * sums, x),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any) -> Any:
        # T_i = sum_{k <= i} t_k E_k prod_{k < j <= i} x_j = E_i t_i + x_i T_{i-1}.
        weighted = self._before(p, output) * self._lines(p, tangents[0])
        return self._unlines(p, _recurrence(p, self._lines(p, x), weighted, forward=True), output)

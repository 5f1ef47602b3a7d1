"""Indexing by data: gather along an axis, its adjoint scatter-add, and setting entries.

``take`` picks, along one axis, the elements an integer array names (numpy's
``take_along_axis``, torch's ``gather``); the indices are an input, so they may
be data (labels, the arg-max of another node). Its adjoint is ``scatter_add``
(torch's): x with values added at those indices. Each is the other's pullback,
so gradient graphs of either can be differentiated again. ``index_put`` sets
(or adds to) the entries a fixed numpy index names, as ``x[index] = values``
does, without changing x: its index is a parameter, checked as ``index``'s is.

Indices get no gradient; their tangent is ignored.

Each op computes with its inputs' array library: numpy for numpy arrays, else
their array-API namespace. ``take`` gathers the flat positions its indices
name; ``scatter_add``, whose positions are data, adds by a comparison of each
index with every position along the axis (the array API has no scatter), which
holds m x n booleans per line for m indices into n elements; ``index_put``'s
positions come from its fixed index, by numpy. The indices' values are checked
where they can be read without computing anything: not on a lazy (Dask) array,
where an index out of range fails when the array is computed.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from cgraph.errors import InvalidValueError, ShapeError
from cgraph.ops.arrays import as_output, float_dtype, normalize_axes
from cgraph.ops.gradient_ops import _scatter
from cgraph.ops.kinds import LinearMap
from cgraph.ops.namespaces import is_foreign, is_lazy, namespace
from cgraph.ops.operation import Operation
from cgraph.ops.tensor import (
    _adopt,
    _constant,
    _index_key,
    _is_basic,
    _positions,
    _scatter_last,
)

__all__ = ["Take", "ScatterAdd", "IndexPut"]


# --------------------------------------------------------------------------------------
# Gather along an axis and its adjoint
# --------------------------------------------------------------------------------------


def _whole(name: str, index: Any) -> np.ndarray:
    """Indices as an integer array; floats holding whole numbers (a trainable input's) too."""
    index = np.asarray(index)
    if index.dtype.kind in "iu":
        return index
    if index.dtype.kind != "f" or not np.all(np.mod(index, 1) == 0):
        raise InvalidValueError(
            f"{name}: indices must be whole numbers; give an integer array, not {index.dtype}"
        )
    return index.astype(np.intp)


def _along_axis(name: str, shape: tuple[int, ...], index: Any, axis: int) -> tuple[Any, ...]:
    """The numpy index picking ``index`` along ``axis`` from an array of ``shape``.

    As np.take_along_axis: the index has as many axes as the array, and their
    other axes broadcast together (an axis of size 1 in the array is read again
    for each index along it).

    Raises
    ------
    ShapeError
        If the index has another number of axes, or its other axes do not broadcast.
    InvalidValueError
        If an index is not a whole number in [-n, n) for n elements along the axis.
    """
    index = _whole(name, index)
    ndim = len(shape)
    if index.ndim != ndim:
        raise ShapeError(
            f"{name}: the indices have {index.ndim} axes but the array {ndim} (shape {shape}); "
            "give indices with as many axes (of size 1 where they broadcast)"
        )
    axis = normalize_axes(axis, ndim)[0]
    side = shape[axis]
    if index.size and (index.min() < -side or index.max() >= side):
        raise InvalidValueError(
            f"{name}: indices {index.min()}..{index.max()} are out of range for {side} "
            f"elements along axis {axis}; give indices in [{-side}, {side})"
        )
    try:
        result = np.broadcast_shapes(
            (*shape[:axis], 1, *shape[axis + 1 :]),
            (*index.shape[:axis], 1, *index.shape[axis + 1 :]),
        )
    except ValueError:
        raise ShapeError(
            f"{name}: indices of shape {index.shape} do not fit an array of shape {shape} "
            f"along axis {axis}: the other axes must match or be 1"
        ) from None
    key: list[Any] = []
    for dim, length in enumerate(result):
        if dim == axis:
            key.append(index)
        else:  # every position along the other axes (position 0 of an axis of size 1)
            picks = np.arange(length) if shape[dim] == length else np.zeros(length, np.intp)
            key.append(picks.reshape((-1,) + (1,) * (ndim - 1 - dim)))
    return tuple(key)


def _foreign_whole(name: str, xp: ModuleType, index: Any) -> Any:
    """_whole for an array of another library: whole floats checked where they can be read."""
    if xp.isdtype(index.dtype, "integral"):
        return index
    if not xp.isdtype(index.dtype, "real floating") or (
        not is_lazy(index) and not bool(xp.all(index == xp.floor(index)))
    ):
        raise InvalidValueError(
            f"{name}: indices must be whole numbers; give an integer array, not {index.dtype}"
        )
    return xp.astype(index, xp.int64)


def _foreign_along_axis(
    name: str, xp: ModuleType, shape: tuple[int, ...], index: Any, axis: int
) -> tuple[Any, tuple[int, ...], int]:
    """For an array of another library: the indices along ``axis`` (non-negative, broadcast
    to the result's shape), the result's shape, and the axis, checked as _along_axis checks.
    """
    index = _foreign_whole(name, xp, xp.asarray(index) if not is_foreign(index) else index)
    ndim = len(shape)
    if index.ndim != ndim:
        raise ShapeError(
            f"{name}: the indices have {index.ndim} axes but the array {ndim} (shape {shape}); "
            "give indices with as many axes (of size 1 where they broadcast)"
        )
    axis = normalize_axes(axis, ndim)[0]
    side = shape[axis]
    if (
        not is_lazy(index)
        and math.prod(index.shape)
        and bool(xp.any((index < -side) | (index >= side)))
    ):
        low, high = int(xp.min(index)), int(xp.max(index))
        raise InvalidValueError(
            f"{name}: indices {low}..{high} are out of range for {side} "
            f"elements along axis {axis}; give indices in [{-side}, {side})"
        )
    try:
        result = np.broadcast_shapes(
            (*shape[:axis], 1, *shape[axis + 1 :]),
            (*index.shape[:axis], 1, *index.shape[axis + 1 :]),
        )
    except ValueError:
        raise ShapeError(
            f"{name}: indices of shape {tuple(index.shape)} do not fit an array of shape "
            f"{shape} along axis {axis}: the other axes must match or be 1"
        ) from None
    result = (*result[:axis], index.shape[axis], *result[axis + 1 :])
    index = xp.where(index < 0, index + side, index)
    return xp.broadcast_to(index, result), result, axis


class _AlongAxis(Operation):
    """An op indexing along ``axis`` by an integer input (the flattened array for None)."""

    name: ClassVar[str]  # each concrete class is registered under one

    def __init__(self, axis: int | None = -1) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def _key(self, x: np.ndarray, index: Any) -> tuple[np.ndarray, tuple[Any, ...]]:
        """x (flattened for axis None) and the numpy index picking ``index`` from it."""
        if self.axis is None:
            x = x.ravel()
        return x, _along_axis(self.name, x.shape, index, 0 if self.axis is None else self.axis)


class Take(_AlongAxis):
    """Gather along ``axis``: y[..., i, ...] = x[..., index[..., i, ...], ...], as np.take_along_axis; dL/dx = scatter_add(0, index, u).

    This is numpy's ``take_along_axis`` and torch's ``gather`` (registered under
    both names), not ``np.take``: ``index`` is an integer input with as many
    axes as x, picking along ``axis`` separately at every position of the other
    axes (the label of each row, the top entries of each row). Their other axes
    broadcast as numpy's do; torch's gather needs them no larger than x's.
    ``np.take(x, ids, axis=0)`` (an embedding lookup) is
    ``take(x, ids.reshape(-1, 1), axis=0)``. ``axis`` None indexes the
    flattened x with a 1-D index. Indices may be negative, as in numpy. An
    element picked twice gets both gradients: the pullback is
    :class:`ScatterAdd`, adding u into zeros at the indices.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> x = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    >>> index = np.array([[2, 2], [0, 1]])
    >>> Take(axis=1).forward(x, index)
    array([[30., 30.],
           [40., 50.]])
    >>> Take(axis=1).pullback(numeric, np.ones((2, 2)), None, x, index)
    (array([[0., 0., 2.],
           [1., 1., 0.]]), None)
    """  # noqa: E501

    name = "take"
    aliases = ("take_along_axis", "gather")

    def forward(self, x: Any, index: Any) -> Any:
        xp = namespace(x, index)
        if xp is not np:
            return self._gather(xp, x, index)
        x, key = self._key(np.asarray(x), index)
        return as_output(x[key])

    def _gather(self, xp: ModuleType, x: Any, index: Any) -> Any:
        """x's elements at the indices, for an array of another library: one take of the
        flattened x at the flat positions (those of the other axes computed by numpy)."""
        flat = xp.reshape(_adopt(xp, x), (-1,))
        shape = tuple(flat.shape) if self.axis is None else tuple(x.shape)
        axis = 0 if self.axis is None else self.axis
        index, result, axis = _foreign_along_axis(self.name, xp, shape, index, axis)
        strides = np.cumprod((1, *shape[:0:-1]))[::-1]
        offsets = np.zeros((1,) * len(shape), dtype=np.int64)
        for dim, length in enumerate(result):
            if dim != axis and shape[dim] == length:  # else position 0 of an axis of size 1
                along = (1,) * dim + (length,) + (1,) * (len(shape) - 1 - dim)
                offsets = offsets + np.arange(length).reshape(along) * int(strides[dim])
        positions = index * int(strides[axis]) + _constant(xp, offsets)
        picked = xp.take(flat, xp.reshape(positions, (-1,)), axis=0)
        return xp.reshape(picked, result)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, index: Any) -> Any:
        if not self.wants_grad(0):
            return None, None
        return p.scatter_add(p.zeros_like(x), index, upstream, axis=self.axis), None

    def pushforward(
        self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any, index: Any
    ) -> Any:
        return None if tangents[0] is None else p.take(tangents[0], index, axis=self.axis)


class ScatterAdd(_AlongAxis):
    """x with src added at ``index`` along ``axis``, as torch.scatter_add; dL/dx = u, dL/dsrc = take(u, index).

    y = x, then y[..., index[..., i, ...], ...] += src[..., i, ...] for every
    position of ``index``: the adjoint (transpose) of :class:`Take`, and its
    pullback. Repeated indices add up (``np.add.at``). ``src`` broadcasts to
    what ``take(x, index)`` would return (torch reads only the leading part of
    a larger src; this refuses it). ``axis`` None adds into the flattened x,
    with a 1-D index. The index gets no gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> index = np.array([0, 0, 2])
    >>> ScatterAdd(axis=0).forward(np.zeros(4), index, np.array([1.0, 2.0, 3.0]))
    array([3., 0., 3., 0.])
    >>> ScatterAdd(axis=0).pullback(numeric, np.array([1.0, 2.0, 3.0, 4.0]), None,
    ...                             np.zeros(4), index, np.zeros(3))
    (array([1., 2., 3., 4.]), None, array([1., 1., 3.]))
    """  # noqa: E501

    name = "scatter_add"

    def forward(self, x: Any, index: Any, src: Any) -> Any:
        xp = namespace(x, index, src)
        if xp is not np:
            return self._add(xp, x, index, src)
        x = np.asarray(x)
        flat, key = self._key(x, index)
        added = flat + _scatter(src, key, False, flat.shape)
        return as_output(added.reshape(x.shape))

    def _add(self, xp: ModuleType, x: Any, index: Any, src: Any) -> Any:
        """forward for arrays of another library, whose positions are data: each index is
        compared with every position along the axis, and the src values it names summed."""
        x = _adopt(xp, x)
        base = xp.reshape(x, (-1,)) if self.axis is None else x
        shape = tuple(base.shape)
        index, result, axis = _foreign_along_axis(
            self.name, xp, shape, index, 0 if self.axis is None else self.axis
        )
        if not is_foreign(src):
            src = xp.asarray(src, dtype=float_dtype(x))
        # numpy's sums are in floats (its scatter's zeros are): an integer x or src too.
        src = xp.astype(src, float_dtype(src))
        base = xp.astype(base, xp.result_type(float_dtype(base), src.dtype))
        if np.broadcast_shapes(tuple(src.shape), result) != result:
            raise ShapeError(
                f"scatter into shape {shape}: values of shape {tuple(src.shape)} do not "
                f"broadcast to the selection's shape {result}; give values shaped like "
                "x[index] for an x of that shape"
            )
        lines = xp.moveaxis(xp.broadcast_to(src, result), axis, -1)[..., None]  # (..., m, 1)
        named = xp.moveaxis(index, axis, -1)[..., None] == xp.arange(shape[axis])  # (..., m, n)
        added = xp.moveaxis(xp.sum(xp.where(named, lines, 0.0), axis=-2), -1, axis)
        # An axis of size 1 in x that the indices broadcast over takes all their sums.
        spread = tuple(d for d, side in enumerate(shape) if side == 1 and result[d] != 1)
        if spread:
            added = xp.sum(added, axis=spread, keepdims=True)
        return xp.reshape(base + added, tuple(x.shape))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, index: Any, src: Any) -> Any:
        return (
            upstream if self.wants_grad(0) else None,
            None,
            p.take(upstream, index, axis=self.axis) if self.wants_grad(2) else None,
        )

    def pushforward(
        self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any, index: Any, src: Any
    ) -> Any:
        tangent_x, _, tangent_src = tangents
        if tangent_src is None:
            return tangent_x
        base = p.zeros_like(x) if tangent_x is None else tangent_x
        return p.scatter_add(base, index, tangent_src, axis=self.axis)


# --------------------------------------------------------------------------------------
# Setting entries
# --------------------------------------------------------------------------------------


class IndexPut(LinearMap):
    """x with x[``index``] set to values, as torch's index_put (x[index] = values, out of place); dL/dx = u with 0 at [index], dL/dvalues = u[index].

    ``index`` is a numpy index, as :class:`~cgraph.ops.Index`'s: ints, slices,
    None, ``...`` and integer or boolean arrays; ``values`` broadcast to the
    shape of x[index]. x itself is unchanged. With ``accumulate=True`` the
    values are added instead (torch's ``accumulate``; ``np.add.at``, so an
    element named twice gets both) and dL/dx = u. Setting an element twice
    is refused: numpy keeps the last value and torch leaves it undefined, and
    the gradient could not say which value won.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = IndexPut(index=(slice(None), 0))
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> op.forward(x, np.array([-1.0, -3.0]))
    array([[-1.,  2.],
           [-3.,  4.]])
    >>> op.pullback(numeric, np.array([[1.0, 2.0], [3.0, 4.0]]), None, x, np.zeros(2))
    (array([[0., 2.],
           [0., 4.]]), array([1., 3.]))
    >>> IndexPut(index=[0, 0], accumulate=True).forward(np.zeros(2), 1.0)
    array([2., 0.])
    """  # noqa: E501

    name = "index_put"

    def __init__(self, index: Any, accumulate: bool = False) -> None:
        self.index = index
        self.key = _index_key(index)
        self.basic = _is_basic(self.key)
        self.accumulate = bool(accumulate)

    def params(self) -> dict[str, Any]:
        return {"index": self.index, "accumulate": self.accumulate}

    def forward(self, x: Any, values: Any) -> Any:
        xp = namespace(x, values)
        if xp is not np:
            return self._put(xp, x, values)
        x = np.asarray(x)
        dtype = np.result_type(x, values)
        out = x.astype(dtype if dtype.kind == "f" else float_dtype(x), copy=True)
        try:
            if self.accumulate:
                # Checked first: numpy 2.4's add.at crashes the interpreter on values of
                # more dimensions than the selection.
                target = np.shape(out[self.key])
                if np.broadcast_shapes(np.shape(values), target) != target:
                    raise ValueError(
                        f"values of shape {np.shape(values)} do not broadcast to "
                        f"the selection's shape {target}"
                    )
                np.add.at(out, self.key, values)
            else:
                if not self.basic:
                    self._check_each_once(x.shape)
                out[self.key] = values
        except (IndexError, ValueError) as error:
            if isinstance(error, InvalidValueError):
                raise
            raise ShapeError(
                f"index_put: index {self.index!r} with values of shape {np.shape(values)} does "
                f"not fit shape {x.shape}: {error}; give values that broadcast to x[index]"
            ) from error
        return as_output(out)

    def _put(self, xp: ModuleType, x: Any, values: Any) -> Any:
        """forward for arrays of another library, which writes nothing in place: the values
        gathered to the positions the index names (numpy's), and chosen there."""
        shape = tuple(x.shape)
        if is_foreign(values):
            dtype = xp.result_type(x, values)
            if not xp.isdtype(dtype, "real floating"):
                dtype = float_dtype(x)
        else:  # a number (the pullback's 0.0) takes x's float type, as numpy's
            dtype = float_dtype(x)
        values = xp.asarray(values, dtype=dtype) if not is_foreign(values) else values
        positions = _positions(self.key, shape, self.index)
        target = positions.shape
        if np.broadcast_shapes(tuple(values.shape), target) != target:
            raise ShapeError(
                f"index_put: index {self.index!r} with values of shape {tuple(values.shape)} "
                f"does not fit shape {shape}: values of shape {tuple(values.shape)} do not "
                f"broadcast to the selection's shape {target}; give values that broadcast "
                "to x[index]"
            )
        if not self.accumulate and not self.basic:
            self._check_each_once(shape)
        flat = xp.reshape(xp.astype(_adopt(xp, x), dtype), (-1,))
        values = xp.broadcast_to(xp.astype(values, dtype), target)
        size = math.prod(shape)
        if self.accumulate:
            return xp.reshape(_scatter_last(xp, values, positions, size, base=flat), shape)
        chosen = np.zeros(size, dtype=bool)
        chosen[positions.reshape(-1)] = True
        put = xp.where(_constant(xp, chosen), _scatter_last(xp, values, positions, size), flat)
        return xp.reshape(put, shape)

    def _check_each_once(self, shape: tuple[int, ...]) -> None:
        positions = np.arange(math.prod(shape)).reshape(shape)[self.key]
        if np.unique(positions).size != positions.size:
            raise InvalidValueError(
                f"index_put: index {self.index!r} names an element twice; give each once, or "
                "accumulate=True to add the values"
            )

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, values: Any) -> Any:
        grad_x = None
        if self.wants_grad(0):
            grad_x = upstream if self.accumulate else p.index_put(upstream, 0.0, index=self.index)
        return grad_x, p.index(upstream, index=self.index) if self.wants_grad(1) else None

"""Indexing by data: gather along an axis, its adjoint scatter-add, and setting entries.

``take`` picks, along one axis, the elements an integer array names (numpy's
``take_along_axis``, torch's ``gather``); the indices are an input, so they may
be data (labels, the arg-max of another node). Its adjoint is ``scatter_add``
(torch's): x with values added at those indices. Each is the other's pullback,
so gradient graphs of either can be differentiated again. ``index_put`` sets
(or adds to) the entries a fixed numpy index names, as ``x[index] = values``
does, without changing x: its index is a parameter, checked as ``index``'s is.

Indices get no gradient; their tangent is ignored.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from cgraph.errors import InvalidValueError, ShapeError
from cgraph.ops.arrays import as_output, float_dtype, normalize_axes
from cgraph.ops.gradient_ops import _scatter
from cgraph.ops.kinds import LinearMap
from cgraph.ops.operation import Operation
from cgraph.ops.tensor import _index_key, _is_basic

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
        x, key = self._key(np.asarray(x), index)
        return as_output(x[key])

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
        x = np.asarray(x)
        flat, key = self._key(x, index)
        added = flat + _scatter(src, key, False, flat.shape)
        return as_output(added.reshape(x.shape))

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

"""Small helpers the ops share: axes, float types, scalar outputs, labels, tangent sums.

Errors raised here carry no node name: the graph adds the node's name and its
inputs when it reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from cgraph.errors import InvalidValueError, ShapeError
from cgraph.ops.namespaces import is_foreign, namespace

__all__ = [
    "as_output",
    "float_dtype",
    "normalize_axes",
    "class_indices",
    "shape_errors",
    "tangent_sum",
]


def as_output(value: Any) -> Any:
    """A 0-d float64 result as a Python float, as the elementwise ops give; else the array.

    Examples
    --------
    >>> as_output(np.float64(2.5)), as_output(np.float32(2.5))
    (2.5, array(2.5, dtype=float32))
    """
    if type(value) is np.ndarray and value.ndim:  # the common case, without numpy's calls
        return value
    if is_foreign(value):  # a 0-d Dask or GPU array stays one: a float would compute or copy it
        return value
    if np.ndim(value) == 0:
        return float(value) if np.result_type(value) == np.float64 else np.asarray(value)
    return value


_FLOAT64 = np.dtype(np.float64)


def float_dtype(x: Any) -> np.dtype:
    """The float type values computed from ``x`` take: x's own if it is one, else float64.

    Examples
    --------
    >>> float_dtype(np.ones(2, np.float32)), float_dtype(np.arange(2)), float_dtype(1.0)
    (dtype('float32'), dtype('float64'), dtype('float64'))
    """
    if is_foreign(x):  # its own dtypes: numpy's asarray would copy it off its device
        xp = namespace(x)
        return x.dtype if xp.isdtype(x.dtype, "real floating") else xp.float64
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else _FLOAT64


@contextmanager
def shape_errors(op_name: str, hint: str) -> Iterator[None]:
    """Report numpy's refusal of a shape (a ValueError) as a ShapeError, with a hint.

    Examples
    --------
    >>> with shape_errors("reshape", "give a shape with as many elements"):
    ...     np.reshape(np.zeros(6), (4,))
    Traceback (most recent call last):
    cgraph.errors.ShapeError: reshape: cannot reshape array of size 6 into shape (4,); give a shape with as many elements
    """  # noqa: E501
    try:
        yield
    except ShapeError:
        raise
    except ValueError as error:
        raise ShapeError(f"{op_name}: {error}; {hint}") from error


def normalize_axes(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """The axes an ``axis`` argument names, as non-negative ints; every axis for ``None``.

    Raises
    ------
    ShapeError
        If an axis is out of range or repeated.

    Examples
    --------
    >>> normalize_axes(-1, 3), normalize_axes(None, 2), normalize_axes((0, -1), 3)
    ((2,), (0, 1), (0, 2))
    """
    if axis is None:
        return tuple(range(ndim))
    # A numpy integer or 0-d array is one axis too; the loop checks each axis's value.
    axes: tuple[Any, ...] = tuple(axis) if isinstance(axis, Iterable) and np.ndim(axis) else (axis,)
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(
                f"axis {a} is out of range for an input with {ndim} dimension(s); "
                f"use an axis in [{-ndim}, {ndim})"
            )
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"axis {axis} repeats an axis; name each axis once")
    return tuple(normalized)


def class_indices(labels: Any, batch_shape: tuple[int, ...], classes: int) -> np.ndarray:
    """Integer class labels checked against the scores they index: shape and range.

    Labels may be integers, or floats that hold whole numbers (an input declared
    trainable turns integers into floats).

    Raises
    ------
    ShapeError
        If ``labels`` is not shaped like the scores without their class axis.
    InvalidValueError
        If a label is not a whole number in ``[0, classes)``.

    Labels of another array library stay in it (as int64): eager ones (CuPy,
    array-api-strict) are checked at once, Dask's block by block as they are computed,
    so that they stay lazy (a bad label raises when the result is computed).

    Examples
    --------
    >>> class_indices(np.array([2.0, 0.0]), (2,), classes=3)
    array([2, 0])
    """
    if is_foreign(labels):
        from cgraph.ops.namespaces import is_lazy

        xp = namespace(labels)
        if tuple(labels.shape) != batch_shape:
            raise ShapeError(
                f"labels have shape {tuple(labels.shape)} but the scores "
                f"{(*batch_shape, classes)} need one label per row, shape {batch_shape}"
            )
        integral = xp.isdtype(labels.dtype, "integral")
        if not integral and not xp.isdtype(labels.dtype, "real floating"):
            raise InvalidValueError(
                "labels must be whole numbers (class indices); give an integer array"
            )
        if is_lazy(labels):  # numpy's checks below, on each block as Dask computes it
            return labels.map_blocks(
                lambda block: class_indices(block, block.shape, classes), dtype=np.intp
            )
        if not integral and not bool(xp.all(labels % 1 == 0)):
            raise InvalidValueError(
                "labels must be whole numbers (class indices); give an integer array"
            )
        labels = xp.astype(labels, xp.int64)
        if all(labels.shape) and not bool(xp.all((labels >= 0) & (labels < classes))):
            raise InvalidValueError(
                f"labels must lie in [0, {classes}) for {classes} classes; "
                f"found {int(xp.min(labels))}..{int(xp.max(labels))}"
            )
        return labels
    labels = np.asarray(labels)
    if labels.shape != batch_shape:
        raise ShapeError(
            f"labels have shape {labels.shape} but the scores {(*batch_shape, classes)} need "
            f"one label per row, shape {batch_shape}"
        )
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind != "f" or not np.all(np.mod(labels, 1) == 0):
            raise InvalidValueError(
                "labels must be whole numbers (class indices); give an integer array"
            )
        labels = labels.astype(np.intp)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise InvalidValueError(
            f"labels must lie in [0, {classes}) for {classes} classes; "
            f"found {labels.min()}..{labels.max()}"
        )
    return labels


def tangent_sum(*terms: Any) -> Any:
    """The sum of the tangent terms that are not None (None is a zero tangent); None if all are.

    Examples
    --------
    >>> tangent_sum(None, 2.0, 3.0), tangent_sum(None, None)
    (5.0, None)
    """
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total

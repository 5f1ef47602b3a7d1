"""The operations gradient graphs are made of, beyond the ordinary ones.

Derivative rules are written with the primitives of :mod:`cgraph.ops.numeric`,
and every primitive is an op, so that a gradient graph (``cg.gradient_graph``)
can declare any rule as nodes. Most rules need only the ordinary ops; these
supply the rest: the weights that max and min pass gradients through
(``max_weights``, ``min_weights``) and the hinge loss's gradient
(``hinge_grad``), all flat, so their own derivative is zero; the pair that
undoes broadcasting and redoes it (``unbroadcast``, ``broadcast_to``, each the
other's adjoint); the adjoint of indexing (``scatter``); and cross-entropy's
gradient (``cross_entropy_grad``), whose derivative is softmax's.

Each is an op like every other, with its own rule, so gradient graphs can be
differentiated again, to any order. Each computes with its inputs' array library
(numpy for numbers and numpy arrays, else their array-API namespace); the
scatter adds at repeated positions by gathers (:func:`cgraph.ops.tensor._scatter_last`),
as the array API has no scatter.
"""

from __future__ import annotations

import math
import operator
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError
from cgraph.messages import shown
from cgraph.ops import numeric
from cgraph.ops.arrays import as_output, float_dtype, normalize_axes, shape_errors
from cgraph.ops.kinds import Flat, LinearMap
from cgraph.ops.losses import (
    Softmax,
    _at_labels,
    _class_inputs,
    _hinge_margins,
    _label_mask,
    _softmax,
)
from cgraph.ops.namespaces import namespace
from cgraph.ops.operation import Operation
from cgraph.ops.tensor import (
    _extreme,
    _index_key,
    _is_basic,
    _positions,
    _scatter_last,
)

__all__ = [
    "Unbroadcast",
    "BroadcastTo",
    "Scatter",
    "MaxWeights",
    "MinWeights",
    "CrossEntropyGrad",
    "HingeGrad",
]


# --------------------------------------------------------------------------------------
# Flat functions: steps, signs and selection weights (derivative zero)
# --------------------------------------------------------------------------------------


class _ExtremeWeights(Flat):
    """1/k at each of the k extreme elements along ``axis``, 0 elsewhere: max's gradient weights."""

    name: ClassVar[str]  # each concrete class is registered under one
    select: ClassVar[Any]

    def __init__(self, axis: int | tuple[int, ...] | None = None) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def forward(self, x: Any) -> Any:
        xp = namespace(x)
        if xp is np:
            x = np.asarray(x)
        winners = x == _extreme(type(self).select, self.name, x, self.axis, keepdims=True)
        axes = normalize_axes(self.axis, x.ndim)
        if xp is np:
            return as_output(winners / np.sum(winners, axis=axes, keepdims=True, dtype=x.dtype))
        # The array API divides no booleans: the mask in x's float type first (0s and 1s).
        weights = xp.astype(winners, float_dtype(x))
        return weights / xp.sum(weights, axis=axes, keepdims=True)


class MaxWeights(_ExtremeWeights):
    """Where the maximum over ``axis`` is: 1 at the arg-max, 1/k at each of k ties; derivative 0.

    Examples
    --------
    >>> import numpy as np
    >>> MaxWeights(axis=1).forward(np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 3.0]]))
    array([[0. , 0.5, 0.5],
           [1. , 0. , 0. ]])
    """

    name = "max_weights"
    select = np.max


class MinWeights(_ExtremeWeights):
    """Where the minimum over ``axis`` is: 1 at the arg-min, 1/k at each of k ties; derivative 0.

    Examples
    --------
    >>> import numpy as np
    >>> MinWeights().forward(np.array([3.0, -1.0, 2.0]))
    array([0., 1., 0.])
    """

    name = "min_weights"
    select = np.min


class HingeGrad(Flat):
    """The hinge loss's gradient per sample: 1 per violated margin, minus their count at the label.

    Piecewise constant in the scores (derivative 0); labels get no gradient.

    Examples
    --------
    >>> import numpy as np
    >>> HingeGrad().forward(np.array([3.2, 5.1, -1.7]), 0)
    array([-1.,  1.,  0.])
    """

    name = "hinge_grad"

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = float(margin)

    def params(self) -> dict[str, Any]:
        return {"margin": self.margin}

    def forward(self, scores: Any, labels: Any) -> Any:
        scores, labels = _class_inputs(self.name, scores, labels)
        if type(scores) is not np.ndarray:  # the same steps, with a mask for the writes
            xp = namespace(scores)
            mask = _label_mask(xp, labels, scores.shape[-1])
            picked = xp.sum(xp.where(mask, scores, 0.0), axis=-1, keepdims=True)
            violated = xp.where(mask, 0.0, scores - picked + self.margin) > 0
            grad = xp.astype(violated, scores.dtype)
            return xp.where(mask, -xp.sum(grad, axis=-1, keepdims=True), grad)
        grad = (_hinge_margins(scores, labels, self.margin) > 0).astype(scores.dtype)
        grad[_at_labels(labels)] = -np.sum(grad, axis=-1)
        return grad


# --------------------------------------------------------------------------------------
# Broadcasting and indexing, and their adjoints
# --------------------------------------------------------------------------------------


def _shape(shape: Any) -> tuple[int, ...]:
    """A shape parameter as a tuple of whole numbers >= 0, as numpy takes it.

    Refuses, with the value, what ``int`` would have rounded (2.5), parsed ("3") or
    failed on (inf: an OverflowError).

    Examples
    --------
    >>> _shape(3), _shape((2, np.int64(3)))
    ((3,), (2, 3))
    """
    sides = (
        shape
        if isinstance(shape, (tuple, list)) or (isinstance(shape, np.ndarray) and shape.ndim)
        else (shape,)
    )
    try:
        checked = tuple(operator.index(side) for side in sides)
    except TypeError:  # a float, a string, None, a nested sequence
        checked = None
    if checked is None or any(side < 0 for side in checked) or isinstance(shape, bool):
        raise InvalidOperationError(
            f"shape must be a whole number >= 0 or a tuple of them, such as (2, 3), not "
            f"{shown(shape)}"
        )
    return checked


class _ToShape(LinearMap):
    """An op to a given ``shape``, a parameter."""

    def __init__(self, shape: int | tuple[int, ...]) -> None:
        self.shape = _shape(shape)

    def params(self) -> dict[str, Any]:
        return {"shape": self.shape}


class Unbroadcast(_ToShape):
    """Sum over the axes broadcasting added, down to ``shape``; the gradient is broadcast back.

    What the engine does to every broadcast gradient in backward, as a node.

    Examples
    --------
    >>> import numpy as np
    >>> Unbroadcast(shape=(3,)).forward(np.ones((2, 3)))
    array([2., 2., 2.])
    """

    name = "unbroadcast"
    aliases = ("sum_to",)

    def forward(self, x: Any) -> Any:
        try:
            if np.ndim(x) < len(self.shape):  # numeric.sum_to would broadcast a scalar
                raise ShapeError(f"shape {np.shape(x)} does not sum down to {self.shape}")
            return as_output(numeric.sum_to(x, self.shape))
        except ShapeError as error:
            raise ShapeError(
                f"unbroadcast: {error}; give a shape that broadcasts to the input's"
            ) from None

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.broadcast_to(upstream, p.shape(x)),)


class BroadcastTo(_ToShape):
    """Broadcast to ``shape``, as np.broadcast_to; the gradient is summed back (unbroadcast).

    Examples
    --------
    >>> import numpy as np
    >>> BroadcastTo(shape=(2, 3)).forward(np.array([1.0, 2.0, 3.0]))
    array([[1., 2., 3.],
           [1., 2., 3.]])
    """

    name = "broadcast_to"

    def forward(self, x: Any) -> Any:
        with shape_errors("broadcast_to", "give a shape the input broadcasts to"):
            return as_output(numeric.broadcast_to(x, self.shape))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.sum_to(upstream, p.shape(x)),)


def _scatter(values: Any, key: tuple[Any, ...], basic: bool, shape: tuple[int, ...]) -> Any:
    xp = namespace(values)
    if xp is not np:
        return _scatter_foreign(xp, values, key, shape)
    out = np.zeros(shape, float_dtype(values))
    try:
        if basic:  # no element is picked twice
            out[key] = values
        else:
            # Checked first: numpy 2.4's add.at crashes the interpreter (a segmentation
            # fault) on values of more dimensions than the selection, with a slice and an
            # integer array in the index.
            picked = out[key].shape
            if np.broadcast_shapes(np.shape(values), picked) != picked:
                raise ValueError(
                    f"values of shape {np.shape(values)} do not broadcast to "
                    f"the selection's shape {picked}"
                )
            np.add.at(out, key, values)
    except (IndexError, ValueError) as error:
        raise ShapeError(
            f"scatter into shape {shape}: {error}; give values shaped like "
            "x[index] for an x of that shape"
        ) from error
    return as_output(out)


def _scatter_foreign(
    xp: ModuleType, values: Any, key: tuple[Any, ...], shape: tuple[int, ...]
) -> Any:
    """_scatter for an array of another library: the positions the index picks, gathered into."""
    try:
        positions = _positions(key, shape, key)
        picked = positions.shape
        if np.broadcast_shapes(tuple(values.shape), picked) != picked:
            raise ValueError(
                f"values of shape {tuple(values.shape)} do not broadcast to "
                f"the selection's shape {picked}"
            )
    except (ShapeError, ValueError) as error:
        raise ShapeError(
            f"scatter into shape {shape}: {error}; give values shaped like "
            "x[index] for an x of that shape"
        ) from error
    values = xp.broadcast_to(xp.astype(values, float_dtype(values)), picked)
    return xp.reshape(_scatter_last(xp, values, positions, math.prod(shape)), shape)


class Scatter(LinearMap):
    """Zeros of ``shape`` with u added at ``[index]`` (np.add.at): the adjoint of ``index``.

    dL/du = (dL/dy)[index], so the gradient of a scatter is an index, and back.

    Examples
    --------
    >>> import numpy as np
    >>> Scatter(index=[0, 0, 2], shape=(4,)).forward(np.array([1.0, 2.0, 3.0]))
    array([3., 0., 3., 0.])
    """

    name = "scatter"

    def __init__(self, index: Any, shape: int | tuple[int, ...]) -> None:
        self.index = index
        self.key = _index_key(index)
        self.basic = _is_basic(self.key)
        self.shape = _shape(shape)

    def params(self) -> dict[str, Any]:
        return {"index": self.index, "shape": self.shape}

    def forward(self, u: Any) -> Any:
        return _scatter(u, self.key, self.basic, self.shape)

    def pullback(self, p: Any, upstream: Any, output: Any, u: Any) -> Any:
        return (p.index(upstream, index=self.index),)


# --------------------------------------------------------------------------------------
# Cross-entropy's gradient
# --------------------------------------------------------------------------------------


#: Cross-entropy's gradient is softmax(z) less a constant: its derivative is softmax's rule.
_SOFTMAX = Softmax(axis=-1)


class CrossEntropyGrad(Operation):
    """Cross-entropy's gradient per sample y = softmax(z) - onehot(label); dL/dz = s (u - sum(u s)).

    Its derivative in the logits is softmax's (the Hessian of cross-entropy);
    labels get no gradient.

    Examples
    --------
    >>> import numpy as np
    >>> CrossEntropyGrad().forward(np.array([0.0, 0.0]), 1)
    array([ 0.5, -0.5])
    """

    name = "cross_entropy_grad"

    def forward(self, logits: Any, labels: Any) -> Any:
        logits, labels = _class_inputs(self.name, logits, labels)
        grad = _softmax(logits, -1)
        if type(logits) is not np.ndarray:  # the same numbers, with a mask for the write
            xp = namespace(logits)
            return xp.where(_label_mask(xp, labels, logits.shape[-1]), grad - 1, grad)
        grad[_at_labels(labels)] -= 1
        return grad

    def pullback(self, p: Any, upstream: Any, output: Any, logits: Any, labels: Any) -> Any:
        return _SOFTMAX.pullback(p, upstream, p.softmax(logits, axis=-1), logits)[0], None

    def pushforward(
        self, p: Any, tangents: tuple[Any, ...], output: Any, logits: Any, labels: Any
    ) -> Any:
        return (
            None
            if tangents[0] is None
            else _SOFTMAX.pushforward(p, tangents[:1], p.softmax(logits, axis=-1), logits)
        )

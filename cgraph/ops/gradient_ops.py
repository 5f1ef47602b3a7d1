"""The operations gradient graphs are made of, beyond the ordinary ones.

A gradient graph (``cg.gradient_graph``) declares every op's backward rule as
nodes of registered ops. Most rules need only the ordinary ops; these supply
the rest: the masks and weights that piecewise-linear ops pass gradients
through (``step``, ``sign``, ``max_weights``, ``min_weights``, ``hinge_grad``,
all flat, so their own derivative is zero: relu'' = 0), the pair that undoes
broadcasting and redoes it (``unbroadcast``, ``broadcast_to``, each the other's
adjoint), the adjoint of indexing (``scatter``), and cross-entropy's gradient
(``cross_entropy_grad``), whose derivative is softmax's.

Each has ``forward``, ``backward``, ``jvp`` and ``backward_graph`` like every op,
so gradient graphs can be differentiated again, to any order.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from cgraph.errors import ShapeError
from cgraph.operation import Operation
from cgraph.ops._arrays import as_output, class_indices, normalize_axes, shape_errors
from cgraph.ops.losses import _log_softmax
from cgraph.ops.tensor import _index_key, _is_basic

__all__ = ["Step", "Sign", "Unbroadcast", "BroadcastTo", "Scatter", "MaxWeights", "MinWeights",
           "CrossEntropyGrad", "HingeGrad"]


def _float_dtype(x: Any) -> Any:
    dtype = np.result_type(x)
    return dtype if dtype.kind == "f" else np.float64


# --------------------------------------------------------------------------------------
# Flat functions: steps, signs and selection weights (derivative zero)
# --------------------------------------------------------------------------------------


class _Flat(Operation):
    """A piecewise-constant op: its derivative is zero wherever it is defined."""

    def backward(self, upstream: Any) -> tuple[None, ...]:
        return (None,) * self.arity

    def jvp(self, *tangents: Any) -> None:
        return None

    def backward_graph(self, g: Any, upstream: Any, output: Any, *inputs: Any) -> Any:
        return (None,) * len(inputs)


class Step(_Flat):
    """Heaviside step y = 1 where x > 0, 0 where x < 0, ``at_zero`` at 0; dy/dx = 0.

    The derivative of ReLU as a node (relu'(x) = step(x), so relu'' = 0), and
    with ``at_zero=0.5`` the weight maximum gives its first input.

    Examples
    --------
    >>> import numpy as np
    >>> Step().forward(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 1.])
    >>> Step(at_zero=0.5).forward(0.0)
    0.5
    """

    name = "step"
    aliases = ("heaviside",)

    def __init__(self, at_zero: float = 0.0) -> None:
        self.at_zero = float(at_zero)

    def params(self) -> dict[str, Any]:
        return {"at_zero": self.at_zero}

    def forward(self, x: Any) -> Any:
        if type(x) is float:
            return 1.0 if x > 0.0 else (self.at_zero if x == 0.0 else 0.0)
        x = np.asarray(x)
        out = np.asarray(x > 0).astype(_float_dtype(x))  # an array even for a 0-d x
        if self.at_zero:
            out[x == 0] = self.at_zero
        return as_output(out)


class Sign(_Flat):
    """Sign y = 1 where x > 0, -1 where x < 0, 0 at 0, as np.sign; dy/dx = 0.

    The derivative of ``abs`` as a node.

    Examples
    --------
    >>> import numpy as np
    >>> Sign().forward(np.array([-2.0, 0.0, 3.0]))
    array([-1.,  0.,  1.])
    """

    name = "sign"

    def forward(self, x: Any) -> Any:
        if type(x) is float:
            return float((x > 0) - (x < 0))  # as Abs's backward
        x = np.asarray(x)
        return as_output(np.sign(x).astype(_float_dtype(x), copy=False))


class _ExtremeWeights(_Flat):
    """1/k at each of the k extreme elements along ``axis``, 0 elsewhere: max's gradient weights."""

    select: ClassVar[Any]

    def __init__(self, axis: int | tuple[int, ...] | None = None) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def forward(self, x: Any) -> Any:
        x = np.asarray(x)
        axes = normalize_axes(self.axis, x.ndim)
        if x.size == 0:
            raise ShapeError(f"{self.name} of an empty array (shape {x.shape}) has no value")
        winners = x == type(self).select(x, axis=axes, keepdims=True)
        return as_output(winners / np.sum(winners, axis=axes, keepdims=True, dtype=x.dtype))


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


class HingeGrad(_Flat):
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
        scores = _class_scores(self.name, scores)
        picked = class_indices(labels, scores.shape[:-1], scores.shape[-1])[..., np.newaxis]
        margins = scores - np.take_along_axis(scores, picked, -1) + self.margin
        np.put_along_axis(margins, picked, 0.0, -1)
        grad = (margins > 0).astype(scores.dtype)
        np.put_along_axis(grad, picked, -np.sum(grad, axis=-1, keepdims=True), -1)
        return grad


# --------------------------------------------------------------------------------------
# Broadcasting and indexing, and their adjoints
# --------------------------------------------------------------------------------------


def _sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` summed over the axes broadcasting to its shape from ``shape`` added."""
    x_shape = np.shape(x)
    lead = len(x_shape) - len(shape)
    if lead < 0 or any(s not in (1, side) for s, side in zip(shape, x_shape[lead:], strict=True)):
        raise ShapeError(f"unbroadcast: shape {x_shape} does not sum down to {shape}; give a "
                         "shape that broadcasts to the input's")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and x_shape[lead + i] != 1)
    if not axes:
        return x
    return as_output(np.reshape(np.sum(x, axis=axes), shape))


def _shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(side) for side in shape)


class _ToShape(Operation):
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
        self.input_shape = np.shape(x)
        return _sum_to(x, self.shape)

    def backward(self, upstream: Any) -> tuple[Any]:
        return (np.array(np.broadcast_to(upstream, self.input_shape)),)

    def jvp(self, t: Any) -> Any:
        return _sum_to(np.broadcast_to(t, self.input_shape), self.shape)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.broadcast_to(upstream, shape=self.input_shape),)


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
        self.input_shape = np.shape(x)
        with shape_errors("broadcast_to", "give a shape the input broadcasts to"):
            return as_output(np.array(np.broadcast_to(x, self.shape)))

    def backward(self, upstream: Any) -> tuple[Any]:
        return (_sum_to(upstream, self.input_shape),)

    def jvp(self, t: Any) -> Any:
        return np.broadcast_to(t, self.shape)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.unbroadcast(upstream, shape=self.input_shape),)


def _scatter(values: Any, key: tuple[Any, ...], basic: bool, shape: tuple[int, ...]) -> Any:
    out = np.zeros(shape, _float_dtype(values))
    try:
        if basic:  # no element is picked twice
            out[key] = values
        else:
            np.add.at(out, key, values)
    except (IndexError, ValueError) as error:
        raise ShapeError(f"scatter into shape {shape}: {error}; give values shaped like "
                         "x[index] for an x of that shape") from error
    return as_output(out)


class Scatter(Operation):
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

    def backward(self, upstream: Any) -> tuple[Any]:
        return (as_output(np.asarray(upstream)[self.key]),)

    def jvp(self, t: Any) -> Any:
        return _scatter(t, self.key, self.basic, self.shape)

    def backward_graph(self, g: Any, upstream: Any, output: Any, u: Any) -> Any:
        return (g.index(upstream, index=self.index),)


# --------------------------------------------------------------------------------------
# Cross-entropy's gradient
# --------------------------------------------------------------------------------------


def _class_scores(name: str, scores: Any) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim not in (1, 2):
        raise ShapeError(f"{name} takes scores of shape (N, C) or (C,), not {scores.shape}")
    return scores


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
        logits = _class_scores(self.name, logits)
        picked = class_indices(labels, logits.shape[:-1], logits.shape[-1])[..., np.newaxis]
        self.probs = np.exp(_log_softmax(logits, -1))
        grad = self.probs.copy()
        np.put_along_axis(grad, picked, np.take_along_axis(grad, picked, -1) - 1, -1)
        return grad

    def backward(self, upstream: Any) -> tuple[Any, None]:
        s = self.probs
        return s * (upstream - np.sum(upstream * s, axis=-1, keepdims=True)), None

    def jvp(self, t_logits: Any, t_labels: Any) -> Any:
        if t_logits is None:
            return None
        return self.backward(t_logits)[0]  # the Jacobian diag(s) - s s^T is symmetric

    def backward_graph(self, g: Any, upstream: Any, output: Any, logits: Any,
                       labels: Any) -> Any:
        s = g.softmax(logits, axis=-1)
        return g.mul(s, g.sub(upstream, g.sum(g.mul(upstream, s), axis=-1, keepdims=True))), None

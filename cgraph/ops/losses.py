"""Softmax, log-softmax, log-sum-exp and the losses that train classifiers and regressors.

Every function here is computed in its numerically stable form: softmax,
log-softmax and log-sum-exp subtract the largest score first, cross-entropy
works from log-softmax (so it never takes the log of zero), and the logistic
loss uses ``max(z, 0) - z t + log(1 + e^-|z|)``. Integer labels get no gradient
and their tangent is ignored.

A loss states one derivative, the gradient of the loss of one sample with
respect to each input (:meth:`_Loss.sample_gradients`): its pullback scales it
by the upstream gradient, and its pushforward contracts it with the tangents,
so both modes come from the one formula.

Losses take ``reduction`` as torch does: ``"mean"`` (the default) averages over
the batch, ``"sum"`` adds it up, ``"none"`` returns one loss per sample.

Arrays of other libraries (Dask, CuPy, array-api-strict) compute in their own,
with the same formulas; where numpy's code writes in place or picks by fancy indexing
(which not every library has), a mask of the labels picks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError
from cgraph.ops.arrays import as_output, class_indices, normalize_axes, tangent_sum
from cgraph.ops.namespaces import is_foreign, namespace
from cgraph.ops.operation import Operation
from cgraph.ops.tensor import _Reduction

__all__ = ["Softmax", "LogSoftmax", "LogSumExp", "CrossEntropy", "Hinge", "MSE", "BCEWithLogits"]


def _log_softmax(scores: Any, axis: int) -> Any:
    """log(softmax(scores)) along ``axis``, as scores - logsumexp(scores), shifted by the max."""
    xp = namespace(scores) if type(scores) is not np.ndarray and is_foreign(scores) else np
    if xp is np:
        scores = np.asarray(scores)
    if scores.ndim == 0:
        raise ShapeError("softmax needs an array of scores, not a single number")
    shifted = scores - xp.max(scores, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def _softmax(scores: Any, axis: int) -> Any:
    """softmax(scores) along ``axis``, as the exponential of the stable log-softmax."""
    log_probs = _log_softmax(scores, axis)
    return (
        np.exp(log_probs) if type(log_probs) is np.ndarray else namespace(log_probs).exp(log_probs)
    )


def _class_inputs(name: str, scores: Any, labels: Any) -> tuple[Any, Any]:
    """Class scores (..., C) as an array and their labels (...) as checked class indices.

    Both in one array library: numpy's, or the foreign one of either (a Dask array's
    numpy partner becomes a Dask array; CuPy and numpy refuse each other).

    Raises
    ------
    ShapeError
        If the scores are not (N, C) or (C,), or the labels not shaped to match.
    InvalidValueError
        If a label is not a whole number in ``[0, C)``.
    """
    xp = namespace(scores, labels) if is_foreign(scores) or is_foreign(labels) else np
    scores = np.asarray(scores) if xp is np else _in(xp, scores)
    if scores.ndim not in (1, 2):
        raise ShapeError(f"{name} takes scores of shape (N, C) or (C,), not {tuple(scores.shape)}")
    labels = labels if xp is np else _in(xp, labels)
    return scores, class_indices(labels, tuple(scores.shape[:-1]), scores.shape[-1])


def _in(xp: Any, value: Any) -> Any:
    """A value as an array of the foreign namespace ``xp`` (a number or numpy array copied in)."""
    return value if is_foreign(value) else xp.asarray(value)


def _label_mask(xp: Any, labels: Any, classes: int) -> Any:
    """A boolean (..., C) mask, True at each row's label: take_along_axis, which not every
    array library has, as a mask (a sum of one value and zeros is that value, exactly)."""
    return xp.arange(classes, dtype=labels.dtype) == xp.expand_dims(labels, axis=-1)


def _at_labels(labels: np.ndarray) -> tuple[Any, ...]:
    """The index of each row's labelled score: ``scores[_at_labels(labels)]`` picks them.

    Fancy indexing by (row, label) pairs, several times faster than
    ``take_along_axis`` over a few classes; labels are (N,) for scores (N, C), or a
    single label for scores (C,).
    """
    if labels.ndim == 0:
        return (labels,)
    return (np.arange(labels.shape[0]), labels)


def _hinge_margins(scores: np.ndarray, labels: np.ndarray, margin: float) -> np.ndarray:
    """s_j - s_label + margin for each class j, 0 at the label: positive where violated."""
    at_labels = _at_labels(labels)
    margins = scores - scores[at_labels][..., np.newaxis] + margin
    margins[at_labels] = 0.0
    return margins


# --------------------------------------------------------------------------------------
# Softmax, log-softmax and log-sum-exp
# --------------------------------------------------------------------------------------


class _AlongAxis(Operation):
    """An op that normalises along one ``axis`` (the last by default)."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}


class Softmax(_AlongAxis):
    """Softmax s_i = e^(x_i) / sum_j e^(x_j) along ``axis``; dL/dx = s (u - sum(u s)).

    Examples
    --------
    >>> import numpy as np
    >>> op = Softmax()
    >>> op.forward(np.array([1.0, 2.0, 3.0])).round(4)
    array([0.09  , 0.2447, 0.6652])
    >>> op.forward(np.array([1000.0, 1000.0]))  # no overflow
    array([0.5, 0.5])
    """

    name = "softmax"

    def forward(self, x: Any) -> Any:
        return _softmax(x, self.axis)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        weighted = p.sum(upstream * output, axis=self.axis, keepdims=True)
        return (output * (upstream - weighted),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any) -> Any:
        # The Jacobian diag(s) - s s^T is symmetric: pulling back is pushing forward.
        return self.pullback(p, tangents[0], output, x)[0]


class LogSoftmax(_AlongAxis):
    """Log-softmax y_i = x_i - log sum_j e^(x_j) along ``axis``; dL/dx = u - softmax sum(u).

    Examples
    --------
    >>> import numpy as np
    >>> LogSoftmax().forward(np.array([0.0, 0.0])).round(6)
    array([-0.693147, -0.693147])
    """

    name = "log_softmax"

    def forward(self, x: Any) -> Any:
        return _log_softmax(x, self.axis)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        total = p.sum(upstream, axis=self.axis, keepdims=True)
        return (upstream - p.exp(output) * total,)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any) -> Any:
        # The Jacobian I - 1 s^T is not symmetric, so its transpose is written out.
        t = tangents[0]
        return t - p.sum(p.exp(output) * t, axis=self.axis, keepdims=True)


class LogSumExp(_Reduction):
    """Log-sum-exp y = log sum_i e^(x_i) over ``axis``; dL/dx = u softmax(x) along those axes.

    As scipy.special.logsumexp and torch.logsumexp: over every axis when
    ``axis`` is None, keeping the reduced axes as size 1 if ``keepdims``.
    Computed as ``m + log sum e^(x - m)`` with m the largest element, so it
    never overflows; a slice of all ``-inf`` gives ``-inf``, as in scipy.
    The softmax of the gradient is ``e^(x - y)``, the output reused.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> round(LogSumExp().forward(np.array([1000.0, 1000.0])), 6)   # no overflow
    1000.693147
    >>> op = LogSumExp(axis=-1)
    >>> op.forward(np.array([[0.0, 0.0], [1.0, 1.0]])).round(6)
    array([0.693147, 1.693147])
    >>> x = np.array([0.0, np.log(3.0)])
    >>> op.pullback(numeric, 1.0, op.forward(x), x)[0].round(6)   # softmax(x)
    array([0.25, 0.75])
    """

    name = "logsumexp"

    def forward(self, x: Any) -> Any:
        if type(x) is not np.ndarray and is_foreign(x):
            return self._foreign_forward(namespace(x), x)
        x = np.asarray(x)
        axes = normalize_axes(self.axis, x.ndim)
        shift = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        # An infinite max (all -inf, or an inf) is no shift: the sum gives -inf or inf itself.
        shift = np.where(np.isfinite(shift), shift, 0)
        with np.errstate(divide="ignore"):  # log(0) = -inf for a slice of all -inf
            out = np.log(np.sum(np.exp(x - shift), axis=axes, keepdims=True)) + shift
        return as_output(out if self.keepdims else np.squeeze(out, axis=axes))

    def _foreign_forward(self, xp: Any, x: Any) -> Any:
        # forward's steps in the array API, which has no max with an initial value
        axes = normalize_axes(self.axis, x.ndim)
        if all(x.shape[axis] for axis in axes):
            shift = xp.max(x, axis=axes, keepdims=True)
        else:  # an empty slice: numpy's initial=-inf, so the sum of nothing gives -inf
            kept = tuple(1 if axis in axes else side for axis, side in enumerate(x.shape))
            shift = xp.full(kept, -xp.inf, dtype=x.dtype)
        shift = xp.where(xp.isfinite(shift), shift, 0)
        with np.errstate(divide="ignore"):  # eager libraries that compute with numpy
            out = xp.log(xp.sum(xp.exp(x - shift), axis=axes, keepdims=True)) + shift
        return out if self.keepdims else xp.squeeze(out, axis=axes)

    def _softmax(self, p: Any, output: Any, x: Any) -> Any:
        return p.exp(x - self._kept(p, output, x))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (self._kept(p, upstream, x) * self._softmax(p, output, x),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any) -> Any:
        # The transpose of the pullback: the softmax-weighted sum of the tangent.
        return p.sum(
            self._softmax(p, output, x) * tangents[0], axis=self._axes(p, x), keepdims=self.keepdims
        )


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------


class _Loss(Operation):
    """A loss per sample, reduced over the batch by ``reduction`` ("mean", "sum", "none").

    Subclasses give ``forward`` and ``sample_gradients``; the pullback and the
    pushforward follow from the latter.
    """

    #: Whether the last axis holds classes (summed in the pushforward) or samples.
    class_axis = False

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum", "none"):
            raise InvalidOperationError(
                f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}"
            )
        self.reduction = reduction

    def params(self) -> dict[str, Any]:
        return {"reduction": self.reduction}

    def _reduce(self, losses: Any) -> Any:
        if self.reduction == "none":
            return as_output(losses)
        xp = namespace(losses) if is_foreign(losses) else np
        return as_output(xp.mean(losses) if self.reduction == "mean" else xp.sum(losses))

    def sample_gradients(self, p: Any, *inputs: Any) -> tuple[Any, ...]:
        """The gradient of each sample's loss with respect to each input (None: no gradient)."""
        raise NotImplementedError

    def _sample_shape(self, p: Any, inputs: tuple[Any, ...]) -> tuple[int, ...]:
        if self.class_axis:
            return p.shape(inputs[0])[:-1]
        return np.broadcast_shapes(*map(p.shape, inputs))

    def pullback(self, p: Any, upstream: Any, output: Any, *inputs: Any) -> Any:
        sample_shape = self._sample_shape(p, inputs)
        if self.reduction == "mean":
            upstream = upstream / float(np.prod(sample_shape))
        elif self.reduction == "none" and self.class_axis and sample_shape:
            upstream = p.reshape(upstream, (*sample_shape, 1))  # broadcast over the classes
        return tuple(
            None if grad is None else grad * upstream for grad in self.sample_gradients(p, *inputs)
        )

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> Any:
        total = tangent_sum(
            *[
                grad * tangent
                for grad, tangent in zip(self.sample_gradients(p, *inputs), tangents, strict=True)
                if grad is not None and tangent is not None
            ]
        )
        if total is None:
            return None
        if self.class_axis:
            total = p.sum(total, axis=-1)
        return (
            total
            if self.reduction == "none"
            else (p.mean(total) if self.reduction == "mean" else p.sum(total))
        )


class _ClassificationLoss(_Loss):
    """A loss of class scores (..., C) and integer labels (...); labels get no gradient."""

    class_axis = True


class CrossEntropy(_ClassificationLoss):
    """Cross-entropy of logits and integer labels: L = -log softmax(z)[label], over the batch.

    dL/dz = softmax(z) - onehot(label), divided by N for the mean. Scores are
    (N, C) with labels (N,), or (C,) with a single label. Computed from
    log-softmax, so a confident wrong answer gives a large finite loss, never
    ``log(0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = CrossEntropy()
    >>> z, labels = np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 0])
    >>> round(op.forward(z, labels), 6)
    1.126928
    >>> op.pullback(numeric, 1.0, None, z, labels)[0].round(4)
    array([[-0.0596,  0.0596],
           [-0.4404,  0.4404]])
    """

    name = "cross_entropy"

    def forward(self, logits: Any, labels: Any) -> Any:
        logits, labels = _class_inputs(self.name, logits, labels)
        log_probs = _log_softmax(logits, -1)
        if is_foreign(log_probs):
            xp = namespace(log_probs)
            mask = _label_mask(xp, labels, logits.shape[-1])
            return self._reduce(-xp.sum(xp.where(mask, log_probs, 0.0), axis=-1))
        return self._reduce(-log_probs[_at_labels(labels)])

    def sample_gradients(self, p: Any, logits: Any, labels: Any) -> tuple[Any, None]:
        return p.cross_entropy_grad(logits, labels), None


class Hinge(_ClassificationLoss):
    """Multi-class SVM loss L = sum over j != label of max(0, s_j - s_label + margin).

    Averaged over the batch (not divided by the number of classes, unlike
    torch's multi_margin_loss). dL/ds_j = 1 for each wrong class whose margin
    is violated, and dL/ds_label = minus their count. A margin of exactly 0
    counts as met (gradient 0).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Hinge()
    >>> scores = np.array([3.2, 5.1, -1.7])
    >>> round(op.forward(scores, 0), 6)
    2.9
    >>> op.pullback(numeric, 1.0, None, scores, 0)[0]
    array([-1.,  1.,  0.])
    """

    name = "hinge"

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = float(margin)

    def params(self) -> dict[str, Any]:
        return {"margin": self.margin, "reduction": self.reduction}

    def forward(self, scores: Any, labels: Any) -> Any:
        scores, labels = _class_inputs(self.name, scores, labels)
        if is_foreign(scores):  # _hinge_margins's steps, with a mask for its in-place write
            xp = namespace(scores)
            mask = _label_mask(xp, labels, scores.shape[-1])
            picked = xp.sum(xp.where(mask, scores, 0.0), axis=-1, keepdims=True)
            margins = xp.where(mask, 0.0, scores - picked + self.margin)
            return self._reduce(xp.sum(xp.maximum(margins, 0.0), axis=-1))
        margins = _hinge_margins(scores, labels, self.margin)
        return self._reduce(np.sum(np.maximum(margins, 0.0), axis=-1))

    def sample_gradients(self, p: Any, scores: Any, labels: Any) -> tuple[Any, None]:
        return p.hinge_grad(scores, labels, margin=self.margin), None


class MSE(_Loss):
    """Mean squared error L = mean((p - t)^2) over every element; dL/dp = 2 (p - t) / n = -dL/dt.

    ``prediction`` and ``target`` broadcast together; both may be trainable.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = MSE()
    >>> prediction, target = np.array([1.0, 2.0]), np.array([0.0, 4.0])
    >>> op.forward(prediction, target)
    2.5
    >>> op.pullback(numeric, 1.0, 2.5, prediction, target)
    (array([ 1., -2.]), array([-1.,  2.]))
    """

    name = "mse"

    def forward(self, prediction: Any, target: Any) -> Any:
        if is_foreign(prediction) or is_foreign(target):
            xp = namespace(prediction, target)
            return self._reduce(xp.square(prediction - target))
        return self._reduce(np.square(np.subtract(prediction, target)))

    def sample_gradients(self, p: Any, prediction: Any, target: Any) -> tuple[Any, Any]:
        grad = 2.0 * (prediction - target)
        return grad, -grad


class BCEWithLogits(_Loss):
    """Binary cross-entropy from logits: L = -t log s(z) - (1 - t) log(1 - s(z)), averaged.

    Computed as ``max(z, 0) - z t + log(1 + e^-|z|)``, which never overflows.
    dL/dz = (s(z) - t) / n and dL/dt = -z / n; targets lie in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = BCEWithLogits()
    >>> z, t = np.array([0.0, 1000.0]), np.array([1.0, 1.0])
    >>> round(op.forward(z, t), 6)
    0.346574
    >>> op.pullback(numeric, 1.0, None, z, t)[0]
    array([-0.25,  0.  ])
    """

    name = "bce_with_logits"

    def forward(self, logits: Any, targets: Any) -> Any:
        if is_foreign(logits) or is_foreign(targets):
            xp = namespace(logits, targets)
            z = _in(xp, logits)
            return self._reduce(xp.maximum(z, 0) - z * targets + xp.log1p(xp.exp(-xp.abs(z))))
        z = np.asarray(logits)
        return self._reduce(np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z))))

    def sample_gradients(self, p: Any, logits: Any, targets: Any) -> tuple[Any, Any]:
        return p.sigmoid(logits) - targets, -logits

"""Softmax, log-softmax and the losses that train classifiers and regressors.

Every function here is computed in its numerically stable form: softmax and
log-softmax subtract the largest score first, cross-entropy works from
log-softmax (so it never takes the log of zero), and the logistic loss uses
``max(z, 0) - z t + log(1 + e^-|z|)``. Integer labels get no gradient
(``backward`` returns None for them) and their tangent is ignored (``jvp``).

Losses take ``reduction`` as torch does: ``"mean"`` (the default) averages over
the batch, ``"sum"`` adds it up, ``"none"`` returns one loss per sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError
from cgraph.operation import Operation
from cgraph.ops._arrays import as_output, class_indices, scaled, tangent_sum

__all__ = ["Softmax", "LogSoftmax", "CrossEntropy", "Hinge", "MSE", "BCEWithLogits"]


def _log_softmax(scores: Any, axis: int) -> np.ndarray:
    """log(softmax(scores)) along ``axis``, as scores - logsumexp(scores), shifted by the max."""
    scores = np.asarray(scores)
    if scores.ndim == 0:
        raise ShapeError("softmax needs an array of scores, not a single number")
    shifted = scores - np.max(scores, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# --------------------------------------------------------------------------------------
# Softmax
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
        self.out = np.exp(_log_softmax(x, self.axis))
        return self.out

    def backward(self, upstream: Any) -> tuple[Any]:
        s = self.out
        return (s * (upstream - np.sum(upstream * s, axis=self.axis, keepdims=True)),)

    def jvp(self, t: Any) -> Any:
        s = self.out  # the Jacobian diag(s) - s s^T is symmetric: the gradient's rule
        return s * (t - np.sum(t * s, axis=self.axis, keepdims=True))

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        weighted = g.sum(g.mul(upstream, output), axis=self.axis, keepdims=True)
        return (g.mul(output, g.sub(upstream, weighted)),)


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
        self.out = _log_softmax(x, self.axis)
        return self.out

    def backward(self, upstream: Any) -> tuple[Any]:
        total = np.sum(upstream, axis=self.axis, keepdims=True)
        return (upstream - np.exp(self.out) * total,)

    def jvp(self, t: Any) -> Any:
        return t - np.sum(np.exp(self.out) * t, axis=self.axis, keepdims=True)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        total = g.sum(upstream, axis=self.axis, keepdims=True)
        return (g.sub(upstream, g.mul(g.exp(output), total)),)


# --------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------




class _Loss(Operation):
    """A loss per sample, reduced over the batch by ``reduction`` ("mean", "sum", "none")."""

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum", "none"):
            raise InvalidOperationError(
                f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}")
        self.reduction = reduction

    def params(self) -> dict[str, Any]:
        return {"reduction": self.reduction}

    def _reduce(self, losses: np.ndarray) -> Any:
        """The reduced loss; saves how backward scales the upstream gradient."""
        self.count = losses.size
        if self.reduction == "none":
            return as_output(losses)
        return as_output(np.mean(losses) if self.reduction == "mean" else np.sum(losses))

    def _scale(self, upstream: Any) -> Any:
        """d(reduced)/d(loss of one sample) times upstream: 1/n for the mean."""
        if self.reduction == "mean":
            return upstream / self.count
        return upstream

    def _scale_term(self, g: Any, upstream: Any) -> Any:
        """``_scale`` as a term of a gradient graph (backward_graph)."""
        return g.div(upstream, float(self.count)) if self.reduction == "mean" else upstream


class _ClassificationLoss(_Loss):
    """A loss of class scores (..., C) and integer labels (...); labels get no gradient."""

    def _labels(self, scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        scores = np.asarray(scores)
        if scores.ndim not in (1, 2):
            raise ShapeError(
                f"{self.name} takes scores of shape (N, C) or (C,), not {scores.shape}")
        return scores, class_indices(labels, scores.shape[:-1], scores.shape[-1])

    def _per_class(self, upstream: Any) -> Any:
        """The scaled upstream gradient, with an axis to broadcast over the classes."""
        scaled = np.asarray(self._scale(upstream))
        return scaled[..., np.newaxis] if scaled.ndim else scaled

    def _per_class_term(self, g: Any, upstream: Any) -> Any:
        """``_per_class`` as a term of a gradient graph (backward_graph)."""
        scaled = self._scale_term(g, upstream)
        if self.reduction == "none" and self.labels.ndim:
            return g.reshape(scaled, shape=(*self.labels.shape, 1))
        return scaled


class CrossEntropy(_ClassificationLoss):
    """Cross-entropy of logits and integer labels: L = -log softmax(z)[label], over the batch.

    dL/dz = softmax(z) - onehot(label), divided by N for the mean. Scores are
    (N, C) with labels (N,), or (C,) with a single label. Computed from
    log-softmax, so a confident wrong answer gives a large finite loss, never
    ``log(0)``.

    Examples
    --------
    >>> import numpy as np
    >>> op = CrossEntropy()
    >>> round(op.forward(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 0])), 6)
    1.126928
    >>> op.backward(1.0)[0].round(4)
    array([[-0.0596,  0.0596],
           [-0.4404,  0.4404]])
    """

    name = "cross_entropy"

    def forward(self, logits: Any, labels: Any) -> Any:
        logits, self.labels = self._labels(logits, labels)
        log_probs = _log_softmax(logits, -1)
        self.log_probs = log_probs
        picked = np.take_along_axis(log_probs, self.labels[..., np.newaxis], axis=-1)
        return self._reduce(-picked[..., 0])

    def backward(self, upstream: Any) -> tuple[Any, None]:
        grad = np.exp(self.log_probs)
        np.put_along_axis(grad, self.labels[..., np.newaxis],
                          np.take_along_axis(grad, self.labels[..., np.newaxis], -1) - 1, -1)
        return grad * self._per_class(upstream), None

    def jvp(self, t_logits: Any, t_labels: Any) -> Any:
        if t_logits is None:
            return None
        t_logits = np.asarray(t_logits)  # per sample: softmax . t - t[label]
        picked = np.take_along_axis(t_logits, self.labels[..., np.newaxis], -1)[..., 0]
        return self._reduce(np.sum(np.exp(self.log_probs) * t_logits, axis=-1) - picked)

    def backward_graph(self, g: Any, upstream: Any, output: Any, logits: Any, labels: Any) -> Any:
        per_class = self._per_class_term(g, upstream)
        return g.mul(g.cross_entropy_grad(logits, labels), per_class), None


class Hinge(_ClassificationLoss):
    """Multi-class SVM loss L = sum over j != label of max(0, s_j - s_label + margin).

    Averaged over the batch (not divided by the number of classes, unlike
    torch's multi_margin_loss). dL/ds_j = 1 for each wrong class whose margin
    is violated, and dL/ds_label = minus their count. A margin of exactly 0
    counts as met (gradient 0).

    Examples
    --------
    >>> import numpy as np
    >>> op = Hinge()
    >>> round(op.forward(np.array([3.2, 5.1, -1.7]), 0), 6)
    2.9
    >>> op.backward(1.0)[0]
    array([-1.,  1.,  0.])
    """

    name = "hinge"

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = float(margin)

    def params(self) -> dict[str, Any]:
        return {"margin": self.margin, "reduction": self.reduction}

    def forward(self, scores: Any, labels: Any) -> Any:
        scores, labels = self._labels(scores, labels)
        picked = labels[..., np.newaxis]
        margins = scores - np.take_along_axis(scores, picked, -1) + self.margin
        np.put_along_axis(margins, picked, 0.0, -1)
        self.violated = (margins > 0).astype(scores.dtype)
        self.labels = labels
        return self._reduce(np.sum(margins * self.violated, axis=-1))

    def backward(self, upstream: Any) -> tuple[Any, None]:
        grad = self.violated.copy()
        picked = self.labels[..., np.newaxis]
        np.put_along_axis(grad, picked, -np.sum(self.violated, axis=-1, keepdims=True), -1)
        return grad * self._per_class(upstream), None

    def jvp(self, t_scores: Any, t_labels: Any) -> Any:
        if t_scores is None:
            return None
        t_scores = np.asarray(t_scores)  # per sample: sum over violated j of t_j - t_label
        picked = np.take_along_axis(t_scores, self.labels[..., np.newaxis], -1)[..., 0]
        violated = self.violated
        return self._reduce(np.sum(violated * t_scores, -1) - picked * np.sum(violated, -1))

    def backward_graph(self, g: Any, upstream: Any, output: Any, scores: Any, labels: Any) -> Any:
        per_class = self._per_class_term(g, upstream)
        return g.mul(g.hinge_grad(scores, labels, margin=self.margin), per_class), None


class MSE(_Loss):
    """Mean squared error L = mean((p - t)^2) over every element; dL/dp = 2 (p - t) / n = -dL/dt.

    ``prediction`` and ``target`` broadcast together; both may be trainable.

    Examples
    --------
    >>> import numpy as np
    >>> op = MSE()
    >>> op.forward(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    2.5
    >>> op.backward(1.0)
    (array([ 1., -2.]), array([-1.,  2.]))
    """

    name = "mse"

    def forward(self, prediction: Any, target: Any) -> Any:
        self.difference = np.subtract(prediction, target)
        return self._reduce(np.square(self.difference))

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        grad = 2.0 * self.difference * self._scale(upstream)
        return grad, -grad

    def jvp(self, t_prediction: Any, t_target: Any) -> Any:
        t_difference = tangent_sum(t_prediction, scaled(t_target, -1.0))
        return self._reduce(2.0 * self.difference * t_difference)  # difference is full-shape

    def backward_graph(self, g: Any, upstream: Any, output: Any,
                       prediction: Any, target: Any) -> Any:
        grad = g.mul(g.mul(2.0, g.sub(prediction, target)), self._scale_term(g, upstream))
        return grad, g.neg(grad)


class BCEWithLogits(_Loss):
    """Binary cross-entropy from logits: L = -t log s(z) - (1 - t) log(1 - s(z)), averaged.

    Computed as ``max(z, 0) - z t + log(1 + e^-|z|)``, which never overflows.
    dL/dz = (s(z) - t) / n and dL/dt = -z / n; targets lie in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> op = BCEWithLogits()
    >>> round(op.forward(np.array([0.0, 1000.0]), np.array([1.0, 1.0])), 6)
    0.346574
    >>> op.backward(1.0)[0]
    array([-0.25,  0.  ])
    """

    name = "bce_with_logits"

    def forward(self, logits: Any, targets: Any) -> Any:
        z = np.asarray(logits)
        self.z, self.targets = z, targets
        return self._reduce(np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z))))

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        z, scale = self.z, self._scale(upstream)
        e = np.exp(-np.abs(z))
        sigmoid = np.where(z >= 0, 1.0, e) / (1.0 + e)  # stable on both sides
        return (sigmoid - self.targets) * scale, -z * scale

    def jvp(self, t_logits: Any, t_targets: Any) -> Any:
        z = self.z
        e = np.exp(-np.abs(z))
        sigmoid = np.where(z >= 0, 1.0, e) / (1.0 + e)
        # Each factor has the loss's full (broadcast) shape, so the per-sample tangent does too.
        return self._reduce(tangent_sum(scaled(t_logits, sigmoid - self.targets),
                                        scaled(t_targets, -z)))

    def backward_graph(self, g: Any, upstream: Any, output: Any, logits: Any, targets: Any) -> Any:
        scale = self._scale_term(g, upstream)
        return g.mul(g.sub(g.sigmoid(logits), targets), scale), g.mul(g.neg(logits), scale)

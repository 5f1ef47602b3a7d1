"""Gradient clipping by norm, as ``torch.nn.utils.clip_grad_norm_``.

Two ways in: :func:`clip_grad_norm` on the gradients ``backward`` returns, in a
loop of one's own, or ``max_grad_norm=`` on any optimiser (and so in
:func:`cgraph.minimize`), which clips in ``step()`` before the update. Both use
torch's rule: the total norm of all the gradients together (the norm of their
norms), and a scale of ``min(1, max_norm / (total_norm + 1e-6))``. Re-exported
by :mod:`cgraph.optim`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableMapping
from typing import Any

import numpy as np

from cgraph.engine.diagnostics import is_finite
from cgraph.errors import NonFiniteError
from cgraph.optim.lr_scheduler import hyperparameter

__all__ = ["clip_grad_norm", "total_norm", "clip_coefficient"]


def total_norm(grads: Iterable[Any], norm_type: float = 2.0) -> float:
    """The ``norm_type``-norm of all the gradients together, as if flattened into one vector.

    Computed relative to the largest element, so that gradients near the top of
    the float range do not overflow when squared.

    Parameters
    ----------
    grads : iterable of float or numpy.ndarray
        The gradients.
    norm_type : float, default 2
        The order p of the norm, > 0, or ``math.inf`` for the largest absolute element.

    Returns
    -------
    float
        0.0 for no gradients; NaN or infinity if a gradient holds one.

    Examples
    --------
    >>> import numpy as np
    >>> total_norm([3.0, np.array([[4.0]])]), total_norm([3.0, -4.0], math.inf)
    (5.0, 4.0)
    >>> total_norm([np.array([3e300, 4e300])])     # no overflow
    5e+300
    """
    arrays = [np.abs(np.asarray(grad, dtype=np.float64)).ravel() for grad in grads]
    largest = max((float(array.max()) for array in arrays if array.size), default=0.0)
    if norm_type == math.inf or largest == 0.0 or not math.isfinite(largest):
        return largest  # a NaN anywhere: max() of a NaN-holding array is NaN
    if norm_type == 2.0:
        total = sum(float(np.dot(scaled, scaled)) for scaled in (a / largest for a in arrays))
    else:
        total = sum(float(np.sum((array / largest) ** norm_type)) for array in arrays)
    return largest * total ** (1.0 / norm_type)


def clip_coefficient(grads: Iterable[Any], max_norm: float, norm_type: float = 2.0) -> float:
    """The factor torch scales the gradients by: ``min(1, max_norm / (total_norm + 1e-6))``.

    Examples
    --------
    >>> round(clip_coefficient([3.0, 4.0], max_norm=1.0), 9)     # 1 / (5 + 1e-6)
    0.19999996
    >>> clip_coefficient([3.0, 4.0], max_norm=10.0)
    1.0
    """
    return min(1.0, max_norm / (total_norm(grads, norm_type) + 1e-6))


def clip_grad_norm(
    grads: MutableMapping[str, Any], max_norm: float, norm_type: float = 2.0
) -> float:
    """Scale the gradients so that their total norm is at most ``max_norm``; the norm before.

    ``torch.nn.utils.clip_grad_norm_`` for the dict ``backward`` returns: the
    norm of all the gradients together is computed, and when it exceeds
    ``max_norm`` every gradient is multiplied by ``max_norm / (norm + 1e-6)``.
    The dict's entries are replaced by the scaled gradients; the arrays
    themselves are never changed (``backward``'s arrays may be shared between
    nodes), and a float gradient stays a float. Pass the dict on to
    ``optimizer.step(grads)``. An optimiser's ``max_grad_norm=`` does the same
    inside its ``step()``.

    Parameters
    ----------
    grads : dict of str to float or numpy.ndarray
        The gradients by name, e.g. ``cg.backward(root)``; changed in place.
    max_norm : float
        The largest total norm allowed (>= 0).
    norm_type : float, default 2
        The order of the norm, > 0, or ``math.inf`` (the largest absolute element).

    Returns
    -------
    float
        The total norm of the gradients before clipping (as torch returns).

    Raises
    ------
    NonFiniteError
        If a gradient holds NaN or infinity (naming it); nothing is changed.
    GraphError, InvalidValueError
        If ``max_norm`` or ``norm_type`` is out of range or not a number.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.optim import GradientDescent, clip_grad_norm
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0, y=4.0)
    >>> cg.add_computation_node("s", "add", ("x", "y"))
    >>> cg.add_computation_node("f", "square", ("s",))
    >>> opt = GradientDescent(lr=0.1).bind(cg)
    >>> _ = cg.forward("f")
    >>> grads = cg.backward("f")
    >>> grads
    {'x': 14.0, 'y': 14.0}
    >>> round(clip_grad_norm(grads, max_norm=1.0), 6)     # the norm before: 14 sqrt(2)
    19.79899
    >>> {name: round(grad, 6) for name, grad in grads.items()}
    {'x': 0.707107, 'y': 0.707107}
    >>> opt.step(grads)
    """
    max_norm = hyperparameter(max_norm, "clip_grad_norm: max_norm")
    norm_type = hyperparameter(norm_type, "clip_grad_norm: norm_type", open_low=True)
    bad = [name for name, grad in grads.items() if not is_finite(grad)]
    if bad:
        raise NonFiniteError(
            f"clip_grad_norm: the gradient of {bad[0]!r} is not finite, so it "
            "cannot be clipped; run cg.backward(root, check_finite=True) to "
            "find the node where it appeared",
            nodes=bad,
        )
    norm = total_norm(grads.values(), norm_type)
    scale = min(1.0, max_norm / (norm + 1e-6))
    if scale < 1.0:
        for name, grad in grads.items():
            grads[name] = scale * grad  # a new array or float: never the shared one changed
    return norm

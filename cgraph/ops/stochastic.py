"""Random operations made reproducible: dropout.

An op in the rule form keeps no state between its forward pass and its
derivative, so randomness cannot be drawn once and remembered. Dropout's mask
is therefore a function of the op's ``seed`` and of an input, ``training``: the
same number gives the same mask, so a step's forward pass, its backward pass,
gradient graphs and Hessians all see one mask, and feeding a new number each
step draws a new one.

The mask is numpy's on arrays of every library, so every library drops the
same elements: copied into x's library (onto its device), and for a Dask
``training`` drawn when the result is computed, so that it stays lazy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError, InvalidValueError, ShapeError
from cgraph.ops.arrays import as_output, float_dtype
from cgraph.ops.namespaces import is_foreign, is_lazy, namespace
from cgraph.ops.operation import Operation

__all__ = ["Dropout"]


def _mask_number(training: Any) -> int:
    """The ``training`` input as a mask number: a whole number >= 0 (0: not training)."""
    if np.ndim(training) != 0:
        raise ShapeError(
            f"dropout: training must be a single number, not an array of shape {np.shape(training)}"
        )
    number = float(training)
    if not (number >= 0 and number == int(number)):
        raise InvalidValueError(
            f"dropout: training must be 0 (not training) or a mask number 1, 2, ..., not "
            f"{training!r}"
        )
    return int(number)


class Dropout(Operation):
    """Dropout y = x m / (1 - p), each m_i 0 with probability ``p``, else 1; dL/dx = u m / (1 - p).

    As torch.nn.functional.dropout(x, p, training), with the mask made
    reproducible: the second input, ``training``, is 0 outside training
    (then y = x) and a mask number k = 1, 2, ... in training. Mask k is drawn
    from numpy's generator seeded with ``(seed, k)``: the same k gives the same
    mask, so a step's forward, backward and Hessian agree, and feeding a new k
    each step (the step number + 1) drops different elements each time. The
    kept elements are scaled by 1 / (1 - p), so E[y] = x. ``training`` gets no
    gradient; the rule is dropout itself (linear in x, with the same mask).

    Declare ``training`` as an input holding 0 and feed it only while training,
    so that every other evaluation is the identity::

        cg.add_input("training", 0, trainable=False)
        cg.add_computation_node("h_drop", "dropout", ("h", "training"), p=0.5)
        minimize(cg, "loss", feed=lambda step: {"training": step + 1})

    Examples
    --------
    >>> import numpy as np
    >>> op = Dropout(p=0.5, seed=0)
    >>> op.forward(np.ones(6), 0)                # not training: the identity
    array([1., 1., 1., 1., 1., 1.])
    >>> op.forward(np.ones(6), 1)                # mask 1: some dropped, the rest doubled
    array([2., 2., 2., 2., 0., 0.])
    >>> from cgraph.ops import numeric
    >>> op.pullback(numeric, np.full(6, 10.0), None, np.ones(6), 1)  # the same mask
    (array([20., 20., 20., 20.,  0.,  0.]), None)
    """

    name = "dropout"

    def __init__(self, p: float = 0.5, seed: int = 0) -> None:
        if not 0.0 <= p <= 1.0:
            raise InvalidOperationError(f"dropout: p must lie in [0, 1], not {p!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise InvalidOperationError(f"dropout: seed must be an int >= 0, not {seed!r}")
        self.p, self.seed = float(p), int(seed)

    def params(self) -> dict[str, Any]:
        return {"p": self.p, "seed": self.seed}

    def mask(self, shape: tuple[int, ...], training: Any) -> Any:
        """The factors x is multiplied by: 0 or 1 / (1 - p) each (1.0 when not training).

        Examples
        --------
        >>> Dropout(p=0.25, seed=3).mask((2, 2), 5)
        array([[0.        , 1.33333333],
               [1.33333333, 1.33333333]])
        """
        number = _mask_number(training)
        if number == 0:
            return 1.0
        keep = np.random.default_rng((self.seed, number)).random(shape) >= self.p
        # p = 1 drops everything, as torch: no 1 / 0.
        return keep * (1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0)

    def forward(self, x: Any, training: Any) -> Any:
        if is_lazy(training):  # a Dask number: the mask is drawn when it is computed
            return self._lazy_forward(x, training)
        mask = self.mask(np.shape(x), training)
        if type(mask) is float:
            return x
        if is_foreign(x):  # numpy's mask, copied into x's library (a device, say)
            xp = namespace(x)
            mask = mask if is_lazy(x) else xp.asarray(mask)  # Dask takes numpy's as it is
            return xp.astype(x * mask, float_dtype(x), copy=False)
        return as_output((x * mask).astype(float_dtype(x), copy=False))

    def _lazy_forward(self, x: Any, training: Any) -> Any:
        """forward with a Dask ``training``: the mask a Dask array that draws it when computed."""
        from dask.array import from_delayed
        from dask.delayed import delayed

        if np.ndim(training) != 0:
            _mask_number(training)  # its ShapeError now, before any value is read
        shape = tuple(np.shape(x))

        def drawn(number: Any) -> np.ndarray:
            mask = self.mask(shape, number)
            return np.ones(shape) if type(mask) is float else mask  # 0: the identity

        mask = from_delayed(delayed(drawn)(training), shape, dtype=np.float64)
        xp = namespace(x, mask)
        return xp.astype(x * mask, float_dtype(x), copy=False)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any, training: Any) -> Any:
        return p.call(self, upstream, training), None

    def pushforward(
        self, p: Any, tangents: tuple[Any, ...], output: Any, x: Any, training: Any
    ) -> Any:
        return None if tangents[0] is None else p.call(self, tangents[0], training)

"""Learning-rate schedules: callables from the number of steps taken to a learning rate.

Give one as an optimiser's ``lr`` (``GradientDescent(lr=StepLR(0.1, step_size=10))``);
any callable of the step number works the same way. Each gives the rates its
torch.optim.lr_scheduler namesake gives when ``scheduler.step()`` follows every
``optimizer.step()``. Re-exported by :mod:`cgraph.optim`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cgraph.errors import GraphError, InvalidValueError

__all__ = ["StepLR", "ExponentialLR", "hyperparameter"]


def hyperparameter(
    value: Any,
    what: str,
    low: float = 0.0,
    high: float = math.inf,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """``value`` as a float in the given range, or an error saying which argument is wrong.

    Raises
    ------
    InvalidValueError
        If ``value`` is not a real number.
    GraphError
        If it is NaN or out of range.

    Examples
    --------
    >>> hyperparameter(0.5, "Adam: lr", open_low=True)
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidValueError(f"{what} must be a real number, not {value!r}")
    value = float(value)
    too_low = value <= low if open_low else value < low
    too_high = value >= high if open_high else value > high
    if math.isnan(value) or too_low or too_high:
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise GraphError(f"{what} must be in {bounds}, not {value!r}")
    return value


class StepLR:
    """Learning rate ``lr * gamma ** (step // step_size)``: decay by gamma every step_size steps.

    The rates torch.optim.lr_scheduler.StepLR gives when its ``step()`` follows
    every optimiser step. Pass it as an optimiser's ``lr``.

    Parameters
    ----------
    lr : float
        The initial learning rate.
    step_size : int
        Steps between decays (>= 1).
    gamma : float, default 0.1
        The factor applied at each decay.

    Examples
    --------
    >>> from cgraph.optim.optimizers import StepLR, GradientDescent
    >>> schedule = StepLR(0.1, step_size=10, gamma=0.5)
    >>> schedule(0), schedule(9), schedule(10), schedule(25)
    (0.1, 0.1, 0.05, 0.025)
    >>> opt = GradientDescent(lr=schedule)
    """

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = hyperparameter(lr, "StepLR: lr", open_low=True)
        if (
            isinstance(step_size, bool)
            or not isinstance(step_size, (int, np.integer))
            or step_size < 1
        ):
            raise GraphError(f"StepLR: step_size must be an integer >= 1, not {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = hyperparameter(gamma, "StepLR: gamma")

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)

    def __repr__(self) -> str:
        return f"StepLR({self.lr!r}, step_size={self.step_size}, gamma={self.gamma!r})"


class ExponentialLR:
    """Learning rate ``lr * gamma ** step``: decay by gamma every step.

    The rates torch.optim.lr_scheduler.ExponentialLR gives when its ``step()``
    follows every optimiser step. Pass it as an optimiser's ``lr``.

    Parameters
    ----------
    lr : float
        The initial learning rate.
    gamma : float
        The factor applied at each step.

    Examples
    --------
    >>> from cgraph.optim.optimizers import ExponentialLR
    >>> schedule = ExponentialLR(1.0, gamma=0.5)
    >>> [schedule(step) for step in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr = hyperparameter(lr, "ExponentialLR: lr", open_low=True)
        self.gamma = hyperparameter(gamma, "ExponentialLR: gamma")

    def __call__(self, step: int) -> float:
        return self.lr * self.gamma**step

    def __repr__(self) -> str:
        return f"ExponentialLR({self.lr!r}, gamma={self.gamma!r})"

"""The ``cgraph minimize`` command's pieces: its learning rate, progress bar and divergence rule.

A run diverges, for the command, when it goes non-finite (minimize raises) or,
while still finite, when its loss rises more than :data:`DIVERGED_RISE` times
its starting size above it (``f - f0 > DIVERGED_RISE * max(|f0|, 1)``) or a
parameter has an element beyond :data:`DIVERGED_VALUE` in size: no minimum
lies there, so such a run is reported as diverged rather than as out of steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from typing import Any

import numpy as np

from cgraph.cli.inputs import UsageError

__all__ = [
    "OPTIMIZERS",
    "DEFAULT_LR",
    "DIVERGED_RISE",
    "DIVERGED_VALUE",
    "check_method",
    "learning_rate",
    "progress_wanted",
    "DivergenceWatch",
    "make_optimizer",
]

OPTIMIZERS = ("gd", "momentum", "adam", "rmsprop", "adagrad")
DEFAULT_LR = 0.01
DIVERGED_RISE, DIVERGED_VALUE = 1e6, 1e100


def check_method(method: str, lr: float | None) -> None:
    """Refuse --lr with a scipy method (minimize itself checks the method's name).

    Examples
    --------
    >>> check_method("BFGS", None)
    """
    if lr is not None:
        raise UsageError(
            f"--lr is for --optimizer; a scipy --method ({method}) chooses its own steps"
        )


def learning_rate(lr: float | None) -> float:
    """--lr as given (never silently replaced), or the default when it is not given.

    Examples
    --------
    >>> learning_rate(None), learning_rate(0.5)
    (0.01, 0.5)
    >>> learning_rate(0.0)
    Traceback (most recent call last):
    ...
    cgraph.cli.inputs.UsageError: --lr must be a finite number > 0 (the optimiser's step size), not 0.0
    """  # noqa: E501
    if lr is None:
        return DEFAULT_LR
    if not (math.isfinite(lr) and lr > 0):
        raise UsageError(
            f"--lr must be a finite number > 0 (the optimiser's step size), not {lr!r}"
        )
    return lr


def progress_wanted(args: argparse.Namespace) -> bool:
    """A bar when asked (--progress), else only on a terminal, and never with --no-progress.

    Examples
    --------
    >>> progress_wanted(argparse.Namespace(progress=True, no_progress=False))
    True
    """
    if args.no_progress:
        return False
    if args.progress:
        return True
    return sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None


class DivergenceWatch:
    """minimize's callback: stops a run whose loss or parameters blow up while still finite.

    After the run, ``problem`` is None, or the sentence saying how it diverged.

    Examples
    --------
    >>> from cgraph import OptimizeResult
    >>> watch = DivergenceWatch("f", start=1.0)
    >>> watch(OptimizeResult(x={"x": 19.0}, fun=361.0, nit=1, success=False, message=""))
    False
    >>> watch(OptimizeResult(x={"x": 6859.0}, fun=4.7e7, nit=3, success=False, message=""))
    True
    >>> print(watch.problem)
    minimize of 'f' diverged at step 3: the loss rose from 1 to 4.7e+07, more than 1e+06 times its starting size; lower --lr or start elsewhere
    """  # noqa: E501

    def __init__(self, root: str, start: float) -> None:
        self.root, self.start = root, start
        self.problem: str | None = None

    def __call__(self, current: Any) -> bool:
        loss = float(current.fun)
        largest = max(
            (float(np.max(np.abs(value))) for value in current.x.values() if np.size(value)),
            default=0.0,
        )
        if loss - self.start > DIVERGED_RISE * max(abs(self.start), 1.0):
            why = (
                f"the loss rose from {self.start:.6g} to {loss:.6g}, more than "
                f"{DIVERGED_RISE:g} times its starting size"
            )
        elif largest > DIVERGED_VALUE:
            why = f"a parameter reached {largest:.3g}, beyond {DIVERGED_VALUE:g}"
        else:
            return False
        self.problem = (
            f"minimize of {self.root!r} diverged at step {current.nit}: {why}; "
            "lower --lr or start elsewhere"
        )
        return True


def make_optimizer(name: str, lr: float) -> Any:
    """The optimiser --optimizer names, with learning rate ``lr``.

    Examples
    --------
    >>> make_optimizer("gd", 0.1)
    GradientDescent(lr=0.1)
    """
    from cgraph.optim.adaptive import Adagrad, RMSprop
    from cgraph.optim.optimizers import Adam, GradientDescent, Momentum

    kinds = {
        "gd": GradientDescent,
        "momentum": Momentum,
        "adam": Adam,
        "rmsprop": RMSprop,
        "adagrad": Adagrad,
    }
    return kinds[name](lr=lr)

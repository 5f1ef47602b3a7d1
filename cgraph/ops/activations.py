"""Activation functions beyond relu, sigmoid and tanh, with torch's names and parameters.

Each op is a ``forward`` and one derivative rule, its ``pullback``, as in
:mod:`cgraph.ops.elementwise`; all are elementwise
(:class:`~cgraph.ops.kinds.Elementwise`), so forward mode follows, and their
parameters are constructor keywords with torch's names and defaults
(``LeakyReLU(negative_slope=0.2)``). Python floats take a fast path through
:mod:`math`. Where a derivative jumps (at a kink or a bound), the docstring
says which side's value the point itself takes: torch's. Arrays of other
libraries (Dask, CuPy, array-api-strict) compute in their own, with the same
formulas.

Examples
--------
>>> import cgraph
>>> cg = cgraph.ComputationalGraph()
>>> cg.add_inputs(x=-2.0)
>>> cg.add_computation_node("y", "leaky_relu", ("x",), negative_slope=0.1)
>>> cg.forward("y"), cg.backward("y")
(-0.2, {'x': 0.1})
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError
from cgraph.ops.arrays import as_output
from cgraph.ops.kinds import Elementwise
from cgraph.ops.namespaces import is_foreign, namespace
from cgraph.ops.special import erfc

__all__ = ["Softplus", "LeakyReLU", "ELU", "GELU", "Clip"]

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: GELU's tanh form: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). Its terms are summed
#: in torch's order below, so that rounding differs from torch's as little as it can.
_TANH_SCALE = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715

# --------------------------------------------------------------------------------------
# Smooth rectifiers: softplus, ELU, GELU
# --------------------------------------------------------------------------------------


class Softplus(Elementwise):
    """Softplus y = log(1 + e^(beta x)) / beta; dy/dx = sigmoid(beta x).

    Computed as ``(log1p(e^-|beta x|) + max(beta x, 0)) / beta``, which never
    overflows. As in torch, where ``beta x > threshold`` the op is x itself
    (the two differ by less than ``e^-threshold / beta``), with derivative 1.

    Parameters
    ----------
    beta : float
        The sharpness, > 0 (1 by default, as torch).
    threshold : float
        Above ``beta x = threshold`` the output is x (20 by default, as torch).

    Raises
    ------
    InvalidOperationError
        If ``beta`` is not positive.

    Examples
    --------
    >>> Softplus().forward(0.0) == math.log(2.0), Softplus().forward(-1000.0)
    (True, 0.0)
    >>> Softplus(beta=2.0).forward(np.array([-1.0, 0.0, 30.0])).round(6)   # 30 is past threshold
    array([ 0.063464,  0.346574, 30.      ])
    """

    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        if not beta > 0:
            raise InvalidOperationError(f"softplus's beta must be positive, not {beta!r}")
        self.beta = float(beta)
        self.threshold = float(threshold)

    def params(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}

    def forward(self, x: Any) -> Any:
        beta = self.beta
        if type(x) is float:
            bx = x * beta
            if bx > self.threshold:
                return x
            return (math.log1p(math.exp(-abs(bx))) + max(bx, 0.0)) / beta
        if type(x) is not np.ndarray and is_foreign(x):
            xp = namespace(x)
            bx = x * beta
            y = xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)
            return xp.where(bx > self.threshold, x, y / beta if beta != 1.0 else y)
        x = np.asarray(x)
        bx = x * beta
        y = np.log1p(np.exp(-np.abs(bx))) + np.maximum(bx, 0)
        return as_output(np.where(bx > self.threshold, x, y / beta if beta != 1.0 else y))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        bx = x if self.beta == 1.0 else x * self.beta  # no node multiplying by 1
        return (p.where(p.greater(bx, self.threshold), upstream, upstream * p.sigmoid(bx)),)


class ELU(Elementwise):
    """Exponential linear unit y = x for x > 0, alpha (e^x - 1) else; dy/dx = 1, or y + alpha.

    The derivative at x = 0 is alpha (the left side's), as torch's: for the
    default ``alpha = 1`` both sides agree there.

    Parameters
    ----------
    alpha : float
        The value approached as x -> -inf is ``-alpha`` (1 by default, as torch).

    Examples
    --------
    >>> ELU().forward(1.5), round(ELU().forward(-1.0), 12)
    (1.5, -0.632120558829)
    """

    name = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def forward(self, x: Any) -> Any:
        if type(x) is float:
            return x if x > 0.0 else self.alpha * math.expm1(x)
        if type(x) is not np.ndarray and is_foreign(x):
            xp = namespace(x)
            return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        x = np.asarray(x)
        # expm1 of the negative part only, so that no large x overflows the branch not taken.
        return as_output(np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0))))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        # alpha e^x as y + alpha: the output reused, and no e^x of a large x overflowing.
        return (p.where(p.greater(x, 0.0), upstream, upstream * (output + self.alpha)),)


class GELU(Elementwise):
    """Gaussian error linear unit y = x Phi(x); dy/dx = Phi(x) + x phi(x).

    Phi is the standard normal distribution function, ``Phi(x) = (1 + erf(x /
    sqrt 2)) / 2``, and phi its density. Computed as ``x erfc(-x / sqrt 2) / 2``,
    accurate for large negative x too. ``approximate="tanh"`` gives torch's
    tanh form instead, ``x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2``,
    differentiated as written.

    Parameters
    ----------
    approximate : {"none", "tanh"}
        The exact form (the default, as torch) or the tanh approximation.

    Raises
    ------
    InvalidOperationError
        If ``approximate`` is neither "none" nor "tanh".

    Examples
    --------
    >>> GELU().forward(0.0), round(GELU().forward(1.0), 12)
    (0.0, 0.841344746069)
    >>> round(GELU(approximate="tanh").forward(1.0), 12)
    0.841191990608
    """

    name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise InvalidOperationError(
                f"gelu's approximate must be 'none' or 'tanh', not {approximate!r}"
            )
        self.approximate = approximate

    def params(self) -> dict[str, Any]:
        return {"approximate": self.approximate}

    def forward(self, x: Any) -> Any:
        scalar = type(x) is float
        foreign = not scalar and type(x) is not np.ndarray and is_foreign(x)
        if not scalar and not foreign:
            x = np.asarray(x)
        if self.approximate == "tanh":
            inner = _TANH_SCALE * (x + _TANH_CUBIC * (x * x * x))
            tanh = math.tanh if scalar else (namespace(x).tanh if foreign else np.tanh)
            return as_output(0.5 * x * (1.0 + tanh(inner)))
        return as_output(0.5 * x * erfc(-x * _SQRT1_2))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        if self.approximate == "tanh":
            square = x * x
            t = p.tanh(_TANH_SCALE * (x + _TANH_CUBIC * (square * x)))
            slope = _TANH_SCALE * (1.0 + 3.0 * _TANH_CUBIC * square)
            return (upstream * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * slope),)
        cdf = 0.5 * (1.0 + p.erf(x * _SQRT1_2))
        density = _INV_SQRT_2PI * p.exp(-0.5 * (x * x))
        return (upstream * (cdf + x * density),)


# --------------------------------------------------------------------------------------
# Piecewise linear: leaky ReLU and clipping
# --------------------------------------------------------------------------------------


class LeakyReLU(Elementwise):
    """Leaky ReLU y = x for x > 0, negative_slope x else; dy/dx = 1, or negative_slope.

    The derivative at x = 0 is ``negative_slope``, as torch's.

    Parameters
    ----------
    negative_slope : float
        The slope for x <= 0 (0.01 by default, as torch).

    Examples
    --------
    >>> LeakyReLU().forward(-2.0), LeakyReLU(negative_slope=0.5).forward(np.array([-2.0, 3.0]))
    (-0.02, array([-1.,  3.]))
    """

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def params(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    def forward(self, x: Any) -> Any:
        if type(x) is float:
            return x if x > 0.0 else x * self.negative_slope
        if type(x) is not np.ndarray and is_foreign(x):
            return namespace(x).where(x > 0, x, x * self.negative_slope)
        x = np.asarray(x)
        return as_output(np.where(x > 0, x, x * self.negative_slope))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.where(p.greater(x, 0.0), upstream, upstream * self.negative_slope),)


class Clip(Elementwise):
    """Clipping y = min(max(x, min), max), as np.clip and torch.clamp; dy/dx = 1 inside, else 0.

    Either bound may be None (no bound on that side), not both. At a bound
    itself (x == min or x == max) the derivative is 1, as torch.clamp's: the
    gradient passes wherever ``min <= x <= max``. With ``min > max`` every
    output is ``max`` and every derivative 0, as in numpy and torch.

    Parameters
    ----------
    min, max : float or None
        The bounds (the names of torch.clamp's keywords).

    Raises
    ------
    InvalidOperationError
        If both bounds are None.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Clip(min=0.0, max=1.0)
    >>> x = np.array([-0.5, 0.0, 0.5, 1.0, 2.0])
    >>> op.forward(x)
    array([0. , 0. , 0.5, 1. , 1. ])
    >>> op.pullback(numeric, np.ones(5), op.forward(x), x)
    (array([0., 1., 1., 1., 0.]),)
    """

    name = "clip"
    aliases = ("clamp",)

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        if min is None and max is None:
            raise InvalidOperationError("clip needs a min or a max (or both); both are None")
        self.min = None if min is None else float(min)
        self.max = None if max is None else float(max)

    def params(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max}

    def forward(self, x: Any) -> Any:
        low, high = self.min, self.max
        if type(x) is float:  # comparisons with nan are false, so nan stays nan, as in numpy
            if low is not None and x < low:
                x = low
            if high is not None and x > high:
                x = high
            return x
        if type(x) is not np.ndarray and is_foreign(x):
            # np.clip's definition: the array API leaves min > max unspecified
            xp = namespace(x)
            if low is not None:
                x = xp.maximum(x, low)
            return x if high is None else xp.minimum(x, high)
        return as_output(np.clip(x, low, high))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        if self.min is None:
            inside = p.less_equal(x, self.max)
        elif self.max is None:
            inside = p.greater_equal(x, self.min)
        else:
            inside = p.logical_and(p.greater_equal(x, self.min), p.less_equal(x, self.max))
        return (p.where(inside, upstream, 0.0),)

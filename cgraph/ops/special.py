"""Special functions: log1p and expm1 near zero, the error function, the gamma function's logs.

Each op is a ``forward`` and one derivative rule, its ``pullback``, as in
:mod:`cgraph.ops.elementwise`; all are elementwise
(:class:`~cgraph.ops.kinds.Elementwise`), so forward mode follows. Python
floats take a fast path through :mod:`math` where it has the function.

numpy has no error function and no gamma-function logs. ``erf`` uses
:func:`math.erf` on floats and ``scipy.special.erf`` on arrays, or
:func:`math.erf` element by element when scipy is not installed (slower, as
exact). ``lgamma``, ``digamma`` and ``polygamma`` need scipy
(``pip install "cgraph[scipy]"``), except ``lgamma`` of a Python float, which
:func:`math.lgamma` computes when scipy is missing; without scipy they raise an
:class:`~cgraph.errors.InvalidOperationError` saying so. scipy is imported
the first time one of them is evaluated, never by ``import cgraph``.

The derivatives close on themselves, so every order is a graph of these ops:
lgamma' = digamma, digamma' = polygamma(1, .), and polygamma(n, .)' =
polygamma(n + 1, .).

Examples
--------
>>> import math
>>> import cgraph
>>> cg = cgraph.ComputationalGraph()
>>> cg.add_inputs(x=1e-10)
>>> cg.add_computation_node("y", "log1p", ("x",))
>>> cg.forward("y"), math.log(1.0 + 1e-10)   # log(1 + x) rounds 1 + x first
(9.999999999500001e-11, 1.000000082690371e-10)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError
from cgraph.ops.arrays import as_output, float_dtype
from cgraph.ops.kinds import Elementwise

__all__ = ["Log1p", "Expm1", "Erf", "Lgamma", "Digamma", "Polygamma", "erfc"]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@functools.cache
def _scipy_special() -> ModuleType | None:
    """scipy.special, imported on first use (an optional dependency), or None without scipy."""
    try:
        import scipy.special
    except ImportError:
        return None
    return scipy.special


def _requires_scipy(op_name: str, function: str) -> ModuleType:
    """scipy.special, or an error naming the op and the extra that installs scipy."""
    special = _scipy_special()
    if special is None:
        raise InvalidOperationError(
            f"{op_name} needs scipy (scipy.special.{function}), which is not installed; "
            f'install it with: pip install "cgraph[scipy]"'
        )
    return special


def _in_float_type(out: Any, x: Any) -> Any:
    """A result in x's float type (float32 stays float32), a 0-d float64 one as a Python float."""
    return as_output(np.asarray(out, dtype=float_dtype(x)))


def _by_math(math_fn: Callable[[float], float], x: Any) -> Any:
    """math_fn element by element: the fallback for arrays when scipy is not installed."""
    return _in_float_type(np.vectorize(math_fn, otypes=[np.float64])(x), x)


def erfc(x: Any) -> Any:
    """The complementary error function 1 - erf(x), accurate where erf(x) is near 1.

    For GELU's stable form; not an op of its own (its derivative is -erf').

    Examples
    --------
    >>> erfc(10.0), 1.0 - math.erf(10.0)
    (2.088487583762545e-45, 0.0)
    """
    if type(x) is float:
        return math.erfc(x)
    special = _scipy_special()
    return _by_math(math.erfc, x) if special is None else _in_float_type(special.erfc(x), x)


# --------------------------------------------------------------------------------------
# Logarithms and exponentials near zero
# --------------------------------------------------------------------------------------


class Log1p(Elementwise):
    """Logarithm of one plus x, y = ln(1 + x); dy/dx = 1 / (1 + x).

    Accurate for small ``|x|``, where ``1 + x`` would lose x's digits (np.log1p).

    Examples
    --------
    >>> Log1p().forward(1e-20)
    1e-20
    """

    name = "log1p"

    def forward(self, x: Any) -> Any:
        if type(x) is float:
            try:
                return math.log1p(x)
            except ValueError:  # x <= -1: numpy's -inf or nan, with its warning
                return float(np.log1p(x))
        return as_output(np.log1p(x))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.divide(upstream, 1.0 + x),)


class Expm1(Elementwise):
    """Exponential minus one, y = e^x - 1; dy/dx = e^x.

    Accurate for small ``|x|``, where ``e^x - 1`` would cancel (np.expm1).

    Examples
    --------
    >>> Expm1().forward(1e-20)
    1e-20
    """

    name = "expm1"

    def forward(self, x: Any) -> Any:
        if type(x) is float:
            try:
                return math.expm1(x)
            except OverflowError:  # numpy's inf, with its warning
                return float(np.expm1(x))
        return as_output(np.expm1(x))

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        # e^x rather than y + 1, which cancels to 0 for x below about -37.
        return (upstream * p.exp(x),)


# --------------------------------------------------------------------------------------
# The error function
# --------------------------------------------------------------------------------------


class Erf(Elementwise):
    """Error function y = erf(x); dy/dx = 2 / sqrt(pi) e^(-x^2).

    ``erf(x) = 2 / sqrt(pi) int_0^x e^(-t^2) dt``. math.erf on floats; on
    arrays scipy.special.erf, or math.erf element by element when scipy is not
    installed (numpy has no erf). GELU's derivative is written with it.

    Examples
    --------
    >>> Erf().forward(0.0), round(Erf().forward(1.0), 10)
    (0.0, 0.8427007929)
    """

    name = "erf"

    def forward(self, x: Any) -> Any:
        # numpy has no erf, nor had cgraph an op for it: math.erf on floats, scipy's ufunc on
        # arrays, and without scipy math.erf by np.vectorize (a loop in Python: slow, as exact).
        if type(x) is float:
            return math.erf(x)
        special = _scipy_special()
        return _by_math(math.erf, x) if special is None else _in_float_type(special.erf(x), x)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * (_TWO_OVER_SQRT_PI * p.exp(-(x * x))),)


# --------------------------------------------------------------------------------------
# The gamma function: its log and the derivatives of that (through scipy.special)
# --------------------------------------------------------------------------------------


class Lgamma(Elementwise):
    """Log-gamma y = ln |Gamma(x)|; dy/dx = digamma(x).

    As torch.lgamma and scipy.special.gammaln (of the gamma function's absolute value).
    +inf at the poles x = 0, -1, -2, ... Needs scipy, except on a Python float
    without scipy, which math.lgamma computes (scipy's gammaln is used when
    installed: it is the more accurate near the zeros at x = 1 and x = 2).

    Raises
    ------
    InvalidOperationError
        On an array when scipy is not installed.

    Examples
    --------
    >>> Lgamma().forward(1.0), round(Lgamma().forward(0.5), 12)   # ln sqrt(pi)
    (0.0, 0.572364942925)
    """

    name = "lgamma"
    aliases = ("gammaln",)

    def forward(self, x: Any) -> Any:
        special = _scipy_special()
        if special is None and type(x) is float:
            try:
                return math.lgamma(x)
            except ValueError:  # a pole: +inf, as scipy and torch give
                return math.inf
        special = _requires_scipy(self.name, "gammaln")
        return _in_float_type(special.gammaln(x), x)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * p.digamma(x),)


class Digamma(Elementwise):
    """Digamma y = psi(x) = d ln Gamma(x) / dx; dy/dx = polygamma(1, x).

    As torch.digamma and scipy.special.psi. Needs scipy (scipy.special.psi).

    Raises
    ------
    InvalidOperationError
        When scipy is not installed.

    Examples
    --------
    >>> round(Digamma().forward(1.0), 12)   # minus the Euler-Mascheroni constant
    -0.577215664902
    """

    name = "digamma"
    aliases = ("psi",)

    def forward(self, x: Any) -> Any:
        return _in_float_type(_requires_scipy(self.name, "psi").psi(x), x)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * p.polygamma(x, n=1),)


class Polygamma(Elementwise):
    """Polygamma y = psi^(n)(x), digamma's n-th derivative; dy/dx = polygamma(n + 1, x).

    As torch.polygamma(n, x) and scipy.special.polygamma(n, x).
    ``n = 1`` (the default) is the trigamma function, digamma's derivative;
    ``n = 0`` is digamma itself. The op is what makes digamma's derivative, and
    so lgamma's, differentiable again to any order. Needs scipy
    (scipy.special.polygamma).

    Parameters
    ----------
    n : int
        The order, 0 or more.

    Raises
    ------
    InvalidOperationError
        For an order that is not a whole number >= 0, or when scipy is not installed.

    Examples
    --------
    >>> round(Polygamma(n=1).forward(1.0), 12)   # pi^2 / 6
    1.644934066848
    """

    name = "polygamma"

    def __init__(self, n: int = 1) -> None:
        if isinstance(n, bool) or int(n) != n or n < 0:
            raise InvalidOperationError(
                f"polygamma's order n must be a whole number >= 0, not {n!r}"
            )
        self.n = int(n)

    def params(self) -> dict[str, Any]:
        return {"n": self.n}

    def forward(self, x: Any) -> Any:
        special = _requires_scipy(self.name, "polygamma")
        # scipy's polygamma computes in float64 whatever x is: the cast keeps float32 float32.
        return _in_float_type(special.polygamma(self.n, x), x)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * p.polygamma(x, n=self.n + 1),)

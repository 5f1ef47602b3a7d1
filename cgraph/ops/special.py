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

Arrays of other libraries compute in their own: a Dask array block by block
through scipy (lazily, scipy's numbers), any other (CuPy, array-api-strict)
by formulas in the standard array API alone (power series, a continued
fraction, recurrences and asymptotic series), which agree with scipy's to
about 1e-15 and need no scipy.

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
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError
from cgraph.ops.arrays import as_output, float_dtype
from cgraph.ops.kinds import Elementwise
from cgraph.ops.namespaces import is_foreign, is_lazy, namespace

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


def _floating(x: Any) -> Any:
    """A foreign array in its float type: itself if it has one, else cast to float64."""
    xp = namespace(x)
    dtype = float_dtype(x)
    return x if x.dtype == dtype else xp.astype(x, dtype)


def _foreign_special(function: str, x: Any, *orders: int) -> Any:
    """scipy.special's ``function`` (after its ``orders``) of a foreign array, in x's float type.

    A Dask array is computed by scipy itself, block by block as it is computed; any other
    array (or a Dask one without scipy) by this module's array-API formulas, in float64.

    Examples
    --------
    The formulas run in any array-API namespace, numpy's too (tests/test_special.py
    checks them against scipy everywhere, poles, signed zeros and infinities included):

    >>> import math
    >>> x = np.array([-1.5, 0.5, 2.0])
    >>> bool(np.allclose(_FORMULAS["erf"](np, x), [math.erf(v) for v in x], rtol=1e-13))
    True
    >>> bool(np.allclose(_FORMULAS["gammaln"](np, x), [math.lgamma(v) for v in x], rtol=1e-13))
    True
    """
    dtype = float_dtype(x)
    special = _scipy_special()
    if special is not None and is_lazy(x):
        scipy_function = getattr(special, function)
        return x.map_blocks(
            lambda block: np.asarray(scipy_function(*orders, block), dtype=dtype), dtype=dtype
        )
    xp = namespace(x)
    x64 = xp.astype(x, xp.float64)
    out = _FORMULAS[function](xp, *orders, x64)
    return out if dtype == xp.float64 else xp.astype(out, dtype)


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
    if type(x) is not np.ndarray and is_foreign(x):
        return _foreign_special("erfc", x)
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
        if type(x) is not np.ndarray and is_foreign(x):
            return namespace(x).log1p(_floating(x))
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
        if type(x) is not np.ndarray and is_foreign(x):
            return namespace(x).expm1(_floating(x))
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
        if type(x) is not np.ndarray and is_foreign(x):
            return _foreign_special("erf", x)
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
        On a numpy array when scipy is not installed (other arrays need no scipy).

    Examples
    --------
    >>> Lgamma().forward(1.0), round(Lgamma().forward(0.5), 12)   # ln sqrt(pi)
    (0.0, 0.572364942925)
    """

    name = "lgamma"
    aliases = ("gammaln",)

    def forward(self, x: Any) -> Any:
        if type(x) is not np.ndarray and is_foreign(x):
            return _foreign_special("gammaln", x)
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
        On a numpy array or a float when scipy is not installed.

    Examples
    --------
    >>> round(Digamma().forward(1.0), 12)   # minus the Euler-Mascheroni constant
    -0.577215664902
    """

    name = "digamma"
    aliases = ("psi",)

    def forward(self, x: Any) -> Any:
        if type(x) is not np.ndarray and is_foreign(x):
            return _foreign_special("psi", x)
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
        For an order that is not a whole number >= 0, or on a numpy array or a float
        when scipy is not installed.

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
        if type(x) is not np.ndarray and is_foreign(x):
            return _foreign_special("polygamma", x, self.n)
        special = _requires_scipy(self.name, "polygamma")
        # scipy's polygamma computes in float64 whatever x is: the cast keeps float32 float32.
        return _in_float_type(special.polygamma(self.n, x), x)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * p.polygamma(x, n=self.n + 1),)


# --------------------------------------------------------------------------------------
# The same functions in the array API, for arrays of other libraries
# --------------------------------------------------------------------------------------
#
# scipy.special computes on numpy arrays only. A Dask array is computed block by block by
# scipy itself (its numbers, lazily); any other array (CuPy, array-api-strict, ...) by the
# formulas below, which use nothing but the standard array API. They compute in float64,
# as scipy does, and agree with scipy's to about 1e-15 (_foreign_special's example checks).

#: The Bernoulli numbers B_2, B_4, ..., B_22: the coefficients of the asymptotic series.
_BERNOULLI = tuple(
    Fraction(n, d)
    for n, d in (
        (1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730),
        (7, 6), (-3617, 510), (43867, 798), (-174611, 330), (854513, 138),
    )
)  # fmt: skip
_EULER_GAMMA = 0.5772156649015329
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
#: digamma's one positive zero, to 55 digits: near it digamma is computed as a series
#: around it, where the general formula would lose its relative accuracy.
_DIGAMMA_ROOT = Fraction("1.461632144968362341262659542325721328468196204006446351")
_ROOT = float(_DIGAMMA_ROOT)
#: Where erf's power series gives way to erfc's continued fraction.
_SERIES_BELOW = 1.5
#: Where the asymptotic series take over: beyond, 8 terms are exact to rounding.
_ASYMPTOTIC_FROM = 10.0


def _horner(coefficients: tuple[float, ...], z: Any) -> Any:
    """c_0 + c_1 z + c_2 z^2 + ... by Horner's rule."""
    total: Any = coefficients[-1]
    for c in coefficients[-2::-1]:
        total = total * z + c
    return total


def _erf_series(xp: ModuleType, x: Any) -> Any:
    """erf(x) = 2 x e^(-x^2) / sqrt(pi) * sum_n (2 x^2)^n / (1 3 ... (2n+1)), for |x| < 1.5.

    Every term is positive, so nothing cancels: 50 terms are exact to rounding below 1.5.
    """
    square = x * x
    term = xp.ones_like(x)
    total = term
    for n in range(1, 50):
        term = term * (2.0 * square) / (2 * n + 1)
        total = total + term
    return (_TWO_OVER_SQRT_PI * x) * xp.exp(-square) * total


def _erfc_fraction(xp: ModuleType, x: Any) -> Any:
    """erfc(x) for x >= 1.5, by Laplace's continued fraction (120 levels: exact to rounding).

    erfc(x) = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))).
    """
    denominator = x
    for k in range(120, 0, -1):
        denominator = x + (k / 2) / denominator
    return xp.exp(-(x * x)) / (math.sqrt(math.pi) * denominator)


def _erf_xp(xp: ModuleType, x: Any) -> Any:
    """erf of a float64 array: the series below |x| = 1.5, 1 - erfc beyond."""
    size = xp.abs(x)
    small = size < _SERIES_BELOW
    near = _erf_series(xp, xp.where(small, x, 0.0))  # each formula only where it converges
    far = 1.0 - _erfc_fraction(xp, xp.where(small, _SERIES_BELOW, size))
    return xp.where(small, near, xp.where(x < 0, -far, far))


def _erfc_xp(xp: ModuleType, x: Any) -> Any:
    """erfc of a float64 array: 1 - erf below |x| = 1.5 (erfc > 0.03 there), else the fraction."""
    small = xp.abs(x) < _SERIES_BELOW
    near = 1.0 - _erf_series(xp, xp.where(small, x, 0.0))
    far = _erfc_fraction(xp, xp.where(small, _SERIES_BELOW, xp.abs(x)))
    return xp.where(small, near, xp.where(x < 0, 2.0 - far, far))


@functools.cache
def _zeta_tail(s: float) -> tuple[float, tuple[float, ...]]:
    """Where the Hurwitz zeta sum switches to Euler-Maclaurin, and that formula's coefficients.

    The coefficient k is B_2k / (2k)! s (s+1) ... (s+2k-2): from a >= 10 + s on, ten
    terms leave a remainder below rounding.
    """
    coefficients = []
    rising = Fraction(s) if float(s).is_integer() else s
    for k, bernoulli in enumerate(_BERNOULLI[:10], start=1):
        coefficients.append(float(bernoulli / math.factorial(2 * k) * rising))
        rising = rising * (s + 2 * k - 1) * (s + 2 * k)
    return 10.0 + s, tuple(coefficients)


def _hurwitz_zeta(xp: ModuleType, s: float, q: Any) -> Any:
    """zeta(s, q) = sum_k (q + k)^-s for q > 0 and s > 1: terms summed up to q + k >= 10 + s,
    then Euler-Maclaurin's formula for the rest."""
    switch, coefficients = _zeta_tail(s)
    total = xp.zeros_like(q)
    a = q
    for _ in range(math.ceil(switch)):
        summed = a < switch
        total = total + xp.where(summed, xp.pow(a, -s), 0.0)
        a = xp.where(summed, a + 1.0, a)
    inverse = 1.0 / a
    correction = inverse * _horner(coefficients, inverse * inverse)
    return total + xp.pow(a, 1.0 - s) / (s - 1.0) + xp.pow(a, -s) * (0.5 + correction)


@functools.cache
def _lgamma_near_two() -> tuple[float, ...]:
    """lgamma(2 + z) = (1 - gamma) z + sum_k>=2 (-1)^k (zeta(k) - 1) z^k / k: coefficients."""
    zeta_minus_one = [float(_hurwitz_zeta(np, float(k), np.float64(2.0))) for k in range(2, 32)]
    higher = ((-1) ** k * value / k for k, value in enumerate(zeta_minus_one, start=2))
    return (0.0, 1.0 - _EULER_GAMMA, *higher)


def _lgamma_positive(xp: ModuleType, y: Any) -> Any:
    """lgamma of a float64 array y >= 0.5 (other elements give values to be discarded).

    Stirling's series from 10 on; below, the recurrence Gamma(y) = (y - 1) Gamma(y - 1)
    brings y into [1.5, 2.5), where a power series around 2 is exact to rounding, zeros
    at 1 and 2 included (y in [0.5, 1.5) uses lgamma(y) = lgamma(y + 1) - log y).
    """
    large = y >= _ASYMPTOTIC_FROM
    u = xp.where(large, 2.0, y)
    below = u < 1.5
    u = xp.where(below, u + 1.0, u)
    product = xp.ones_like(u)
    for _ in range(8):  # from below 10 down to [1.5, 2.5)
        down = u >= 2.5
        u = xp.where(down, u - 1.0, u)
        product = xp.where(down, product * u, product)
    # y - 1 is exact for y in [0.5, 1.5), where (y + 1) - 2 would round away lgamma's zero at 1
    z_near_two = xp.where(below, y - 1.0, u - 2.0)
    small = _horner(_lgamma_near_two(), z_near_two) + xp.log(product)
    small = xp.where(below, small - xp.log(xp.where(below, y, 1.0)), small)
    z = xp.where(large, y, _ASYMPTOTIC_FROM)
    inverse = 1.0 / z
    terms = tuple(float(b / (2 * k * (2 * k - 1))) for k, b in enumerate(_BERNOULLI[:8], 1))
    stirling = (
        (z - 0.5) * xp.log(z) - z + _HALF_LOG_2PI + inverse * _horner(terms, inverse * inverse)
    )
    return xp.where(large, stirling, small)


def _reduced(xp: ModuleType, x: Any) -> tuple[Any, Any]:
    """x less its nearest integer, r in [-1/2, 1/2] (exact), and pi r: |sin| and tan of pi x
    are those of pi r (period 1), without the rounding of pi x, or of 1 + x, for any x."""
    r = x - xp.round(x)
    return r, math.pi * r


def _cot_pi(xp: ModuleType, r: Any, angle: Any) -> Any:
    """cot(pi r) from _reduced's r and pi r: exactly 0 at r = 1/2 (tan(pi / 2) is 1.6e16)."""
    return xp.where(xp.abs(r) == 0.5, 0.0, 1.0 / xp.tan(angle))


def _lgamma_xp(xp: ModuleType, x: Any) -> Any:
    """log |Gamma(x)| of a float64 array: +inf at 0, -1, -2, ..., as scipy's gammaln."""
    positive = x >= 0.5
    value = _lgamma_positive(xp, xp.where(positive, x, 1.0 - x))
    reduced, angle = _reduced(xp, xp.where(positive, 0.5, x))
    pole = reduced == 0.0
    # lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x), the reflection formula
    sine = xp.abs(xp.sin(xp.where(pole, 0.5, angle)))
    reflected = xp.where(pole, xp.inf, math.log(math.pi) - xp.log(sine) - value)
    reflected = xp.where(x == -xp.inf, -xp.inf, reflected)  # scipy's values at the infinities
    return xp.where(positive, xp.where(x == xp.inf, xp.inf, value), reflected)


@functools.cache
def _digamma_near_root() -> tuple[float, ...]:
    """digamma(r + z) = digamma(r) + sum_k (-1)^(k+1) zeta(k+1, r) z^k around its zero r.

    r is the float nearest the zero; digamma(r) is the tiny slope times the difference.
    """
    root = np.float64(_ROOT)
    slopes = [float(_hurwitz_zeta(np, float(k + 1), root)) for k in range(1, 24)]
    at_root = slopes[0] * float(Fraction(_ROOT) - _DIGAMMA_ROOT)
    return (at_root, *((-1) ** (k + 1) * v for k, v in enumerate(slopes, start=1)))


def _digamma_positive(xp: ModuleType, y: Any) -> Any:
    """digamma of a float64 array y > 0: the recurrence digamma(y) = digamma(y + 1) - 1 / y
    up to 10, then the asymptotic series; a power series around the zero near 1.46."""
    total = xp.zeros_like(y)
    z = y
    for _ in range(10):
        up = z < _ASYMPTOTIC_FROM
        total = total + xp.where(up, 1.0 / xp.where(up, z, 1.0), 0.0)
        z = xp.where(up, z + 1.0, z)
    inverse_square = 1.0 / (z * z)
    terms = tuple(float(b / (2 * k)) for k, b in enumerate(_BERNOULLI[:8], start=1))
    general = xp.log(z) - 0.5 / z - inverse_square * _horner(terms, inverse_square) - total
    offset = y - _ROOT
    near = xp.abs(offset) < 0.25
    series = _horner(_digamma_near_root(), xp.where(near, offset, 0.0))
    return xp.where(near, series, general)


def _digamma_xp(xp: ModuleType, x: Any) -> Any:
    """digamma of a float64 array: -inf at +0 and +inf at -0, nan at -1, -2, ..., as scipy."""
    positive = x > 0.0
    value = _digamma_positive(xp, xp.where(positive, x, 1.0 - x))
    reduced, angle = _reduced(xp, xp.where(positive, 0.5, x))
    pole = reduced == 0.0
    # digamma(x) = digamma(1 - x) - pi / tan(pi x), the reflection formula
    reflected = value - math.pi * _cot_pi(xp, reduced, xp.where(pole, 0.5, angle))
    reflected = xp.where(pole, xp.nan, reflected)
    infinity = xp.full_like(x, xp.inf)
    reflected = xp.where(x == 0.0, xp.where(xp.signbit(x), infinity, -infinity), reflected)
    return xp.where(positive, value, reflected)


@functools.cache
def _cotangent_derivative(n: int) -> tuple[int, ...]:
    """P_n with d^n/dt^n cot(t) = P_n(cot t): P_0(c) = c, P_(k+1) = -(1 + c^2) P_k'(c)."""
    poly = [0, 1]
    for _ in range(n):
        derivative = [i * c for i, c in enumerate(poly)][1:] or [0]
        nxt = [0] * (len(derivative) + 2)
        for i, c in enumerate(derivative):
            nxt[i] -= c
            nxt[i + 2] -= c
        poly = nxt
    return tuple(poly)


def _polygamma_xp(xp: ModuleType, n: int, x: Any) -> Any:
    """polygamma(n, x) of a float64 array: (-1)^(n+1) n! zeta(n + 1, x), as scipy."""
    if n == 0:
        return _digamma_xp(xp, x)
    sign = (-1.0) ** (n + 1)
    positive = x > 0.0
    value = (
        sign * math.factorial(n) * _hurwitz_zeta(xp, float(n + 1), xp.where(positive, x, 1.0 - x))
    )
    reduced, angle = _reduced(xp, xp.where(positive, 0.5, x))
    pole = (reduced == 0.0) | (x == -xp.inf)  # scipy's zeta has -inf a pole too
    # psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) P_n(cot(pi x)), the reflection formula
    cotangent = _cot_pi(xp, reduced, xp.where(pole, 0.5, angle))
    polynomial = tuple(float(c) for c in _cotangent_derivative(n))
    reflected = (-1.0) ** n * value - math.pi ** (n + 1) * _horner(polynomial, cotangent)
    reflected = xp.where(pole, sign * xp.inf, reflected)
    return xp.where(positive, value, reflected)


#: scipy.special's name of each function -> its array-API formula.
_FORMULAS: dict[str, Callable[..., Any]] = {
    "erf": _erf_xp,
    "erfc": _erfc_xp,
    "gammaln": _lgamma_xp,
    "psi": _digamma_xp,
    "polygamma": _polygamma_xp,
}

"""Elementwise operations, with numpy broadcasting.

Each op's ``forward``, ``backward`` and ``jvp`` sit together; its docstring gives
the derivative. ``backward`` returns gradients in the broadcast shape of the
output; the graph sums them back to each input's shape. ``jvp`` returns the
output's tangent, which the graph broadcasts to the output's shape; a tangent of
None is zero. ``backward_graph`` declares what ``backward`` computes as ops, for
gradient graphs and second derivatives.

Python floats take a fast path through :mod:`math` (numpy costs about a
microsecond per call on a scalar); where :mod:`math` raises (log of 0, exp of
1000, division by 0) the answer falls back to numpy's, so a scalar and a 0-d
array always give the same value (inf or nan, with numpy's warning).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from cgraph.operation import Operation
from cgraph.ops._arrays import scaled, tangent_sum

__all__ = [
    "Add",
    "Sub",
    "Multiply",
    "Div",
    "Inv",
    "Neg",
    "Square",
    "Pow",
    "Exp",
    "Log",
    "Sqrt",
    "Sin",
    "Cos",
    "Tanh",
    "Sigmoid",
    "ReLU",
    "Abs",
    "Maximum",
    "Minimum",
]


def _elementwise(math_fn: Callable[[float], float], numpy_fn: Any) -> Callable[[Any], Any]:
    """math_fn for Python floats (fast), numpy_fn for the rest and where math_fn raises."""

    def apply(x: Any) -> Any:
        if type(x) is float:
            try:
                return math_fn(x)
            except (ValueError, OverflowError):
                return float(numpy_fn(x))
        return numpy_fn(x)

    return apply


_exp = _elementwise(math.exp, np.exp)
_log = _elementwise(math.log, np.log)
_sqrt = _elementwise(math.sqrt, np.sqrt)
_sin = _elementwise(math.sin, np.sin)
_cos = _elementwise(math.cos, np.cos)
_tanh = _elementwise(math.tanh, np.tanh)


def _divide(a: Any, b: Any) -> Any:
    """a / b, with numpy's inf or nan (and warning) for a Python float divided by 0."""
    try:
        return a / b
    except ZeroDivisionError:
        return float(np.divide(a, np.float64(b)))


def _power(a: Any, b: Any) -> Any:
    """a ** b with numpy's semantics: nan (never a complex number) for a negative base."""
    if type(a) is float and type(b) is float:
        try:
            return math.pow(a, b)
        except (ValueError, OverflowError, ZeroDivisionError):
            return float(np.power(a, b))
    return np.power(a, b)


def _where(condition: Any, if_true: Any, if_false: Any) -> Any:
    """np.where that keeps Python floats as floats."""
    if type(condition) is bool:
        return if_true if condition else if_false
    return np.where(condition, if_true, if_false)


# --------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------


class Add(Operation):
    """Addition y = a + b; dy/da = 1, dy/db = 1.

    Examples
    --------
    >>> Add().forward(2.0, 3.0)
    5.0
    """

    name = "add"

    def forward(self, a: Any, b: Any) -> Any:
        return a + b

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        return upstream, upstream

    def jvp(self, ta: Any, tb: Any) -> Any:
        return tangent_sum(ta, tb)

    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return upstream, upstream


class Sub(Operation):
    """Subtraction y = a - b; dy/da = 1, dy/db = -1.

    Examples
    --------
    >>> Sub().forward(2.0, 3.0)
    -1.0
    """

    name = "sub"
    aliases = ("subtract",)

    def forward(self, a: Any, b: Any) -> Any:
        return a - b

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        return upstream, -upstream

    def jvp(self, ta: Any, tb: Any) -> Any:
        return tangent_sum(ta, scaled(tb, -1.0))

    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return upstream, g.neg(upstream)


class Multiply(Operation):
    """Multiplication y = a b; dy/da = b, dy/db = a.

    Examples
    --------
    >>> Multiply().forward(2.0, 3.0)
    6.0
    """

    name = "mul"
    aliases = ("multiply",)

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a * b

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        return upstream * self.b, upstream * self.a

    def jvp(self, ta: Any, tb: Any) -> Any:
        return tangent_sum(scaled(ta, self.b), scaled(tb, self.a))

    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return g.mul(upstream, b), g.mul(upstream, a)


class Div(Operation):
    """Division y = a / b; dy/da = 1 / b, dy/db = -a / b^2 = -y / b.

    Examples
    --------
    >>> Div().forward(3.0, 2.0)
    1.5
    """

    name = "div"
    aliases = ("divide",)

    def forward(self, a: Any, b: Any) -> Any:
        self.b = b
        self.out = out = _divide(a, b)
        return out

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        grad_a = _divide(upstream, self.b)
        return grad_a, -grad_a * self.out

    def jvp(self, ta: Any, tb: Any) -> Any:
        return _divide(tangent_sum(ta, scaled(tb, -self.out)), self.b)  # (ta - y tb) / b

    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        grad_a = g.div(upstream, b)
        return grad_a, g.mul(g.neg(grad_a), output)


class Inv(Operation):
    """Reciprocal y = 1 / x; dy/dx = -1 / x^2 = -y^2.

    Examples
    --------
    >>> Inv().forward(4.0)
    0.25
    """

    name = "inv"
    aliases = ("reciprocal",)

    def forward(self, x: Any) -> Any:
        self.out = out = _divide(1.0, x)
        return out

    def backward(self, upstream: Any) -> tuple[Any]:
        return (-upstream * self.out * self.out,)

    def jvp(self, t: Any) -> Any:
        return -t * self.out * self.out

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(g.mul(g.neg(upstream), output), output),)


class Neg(Operation):
    """Negation y = -x; dy/dx = -1.

    Examples
    --------
    >>> Neg().forward(2.0)
    -2.0
    """

    name = "neg"
    aliases = ("negative",)

    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, upstream: Any) -> tuple[Any]:
        return (-upstream,)

    def jvp(self, t: Any) -> Any:
        return -t

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.neg(upstream),)


class Square(Operation):
    """Square y = x^2; dy/dx = 2 x.

    Examples
    --------
    >>> Square().forward(3.0)
    9.0
    """

    name = "square"

    def forward(self, x: Any) -> Any:
        self.x = x
        return x * x

    def backward(self, upstream: Any) -> tuple[Any]:
        return (2.0 * self.x * upstream,)

    def jvp(self, t: Any) -> Any:
        return 2.0 * self.x * t

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(g.mul(2.0, x), upstream),)


class Pow(Operation):
    """Power y = a^b; dy/da = b a^(b-1), dy/db = y ln(a).

    As in torch, dy/da is 0 where b = 0, and dy/db is 0 where a = 0 and b >= 0
    (the limits that keep 0^0 = 1 from giving 0 * inf). A negative base gives
    nan for a fractional exponent, as in numpy.

    Examples
    --------
    >>> Pow().forward(2.0, 3.0)
    8.0
    """

    name = "pow"
    aliases = ("power",)

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = out = _power(a, b)
        return out

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        a, b = self.a, self.b
        grad_a = grad_b = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.wants_grad(0):
                grad_a = upstream * _where(b == 0, 0.0, b * _power(a, b - 1.0))
            if self.wants_grad(1):
                at_zero = (a == 0) & (b >= 0)
                grad_b = upstream * _where(at_zero, 0.0, self.out * _log(_where(at_zero, 1.0, a)))
        return grad_a, grad_b

    def jvp(self, ta: Any, tb: Any) -> Any:
        a, b = self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):  # the same limits as backward
            if ta is not None:
                ta = ta * _where(b == 0, 0.0, b * _power(a, b - 1.0))
            if tb is not None:
                at_zero = (a == 0) & (b >= 0)
                tb = tb * _where(at_zero, 0.0, self.out * _log(_where(at_zero, 1.0, a)))
        return tangent_sum(ta, tb)


    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        # The formulas alone: at a = 0 they give nan or inf where backward takes torch's limits.
        grad_a = g.mul(upstream, g.mul(b, g.pow(a, g.sub(b, 1.0))))
        return grad_a, g.mul(upstream, g.mul(output, g.log(a)))


# --------------------------------------------------------------------------------------
# Exponentials, logarithms and roots
# --------------------------------------------------------------------------------------




class Exp(Operation):
    """Exponential y = e^x; dy/dx = y.

    Examples
    --------
    >>> Exp().forward(0.0)
    1.0
    """

    name = "exp"

    def forward(self, x: Any) -> Any:
        self.out = out = _exp(x)
        return out

    def backward(self, upstream: Any) -> tuple[Any]:
        return (upstream * self.out,)

    def jvp(self, t: Any) -> Any:
        return t * self.out

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(upstream, output),)


class Log(Operation):
    """Natural logarithm y = ln x; dy/dx = 1 / x.

    Examples
    --------
    >>> Log().forward(1.0)
    0.0
    """

    name = "log"

    def forward(self, x: Any) -> Any:
        self.x = x
        return _log(x)

    def backward(self, upstream: Any) -> tuple[Any]:
        return (_divide(upstream, self.x),)

    def jvp(self, t: Any) -> Any:
        return _divide(t, self.x)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.div(upstream, x),)


class Sqrt(Operation):
    """Square root y = sqrt(x); dy/dx = 1 / (2 y).

    Examples
    --------
    >>> Sqrt().forward(9.0)
    3.0
    """

    name = "sqrt"

    def forward(self, x: Any) -> Any:
        self.out = out = _sqrt(x)
        return out

    def backward(self, upstream: Any) -> tuple[Any]:
        return (_divide(upstream, 2.0 * self.out),)

    def jvp(self, t: Any) -> Any:
        return _divide(t, 2.0 * self.out)


    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.div(upstream, g.mul(2.0, output)),)


# --------------------------------------------------------------------------------------
# Trigonometric and activation functions
# --------------------------------------------------------------------------------------




class Sin(Operation):
    """Sine y = sin x; dy/dx = cos x.

    Examples
    --------
    >>> Sin().forward(0.0)
    0.0
    """

    name = "sin"

    def forward(self, x: Any) -> Any:
        self.x = x
        return _sin(x)

    def backward(self, upstream: Any) -> tuple[Any]:
        return (upstream * _cos(self.x),)

    def jvp(self, t: Any) -> Any:
        return t * _cos(self.x)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(upstream, g.cos(x)),)


class Cos(Operation):
    """Cosine y = cos x; dy/dx = -sin x.

    Examples
    --------
    >>> Cos().forward(0.0)
    1.0
    """

    name = "cos"

    def forward(self, x: Any) -> Any:
        self.x = x
        return _cos(x)

    def backward(self, upstream: Any) -> tuple[Any]:
        return (-upstream * _sin(self.x),)

    def jvp(self, t: Any) -> Any:
        return -t * _sin(self.x)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(g.neg(upstream), g.sin(x)),)


class Tanh(Operation):
    """Hyperbolic tangent y = tanh x; dy/dx = 1 - y^2.

    Examples
    --------
    >>> Tanh().forward(0.0)
    0.0
    """

    name = "tanh"

    def forward(self, x: Any) -> Any:
        self.out = out = _tanh(x)
        return out

    def backward(self, upstream: Any) -> tuple[Any]:
        return (upstream * (1.0 - self.out * self.out),)

    def jvp(self, t: Any) -> Any:
        return t * (1.0 - self.out * self.out)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(upstream, g.sub(1.0, g.mul(output, output))),)


class Sigmoid(Operation):
    """Logistic sigmoid s(x) = 1 / (1 + e^-x); ds/dx = s (1 - s).

    Stable for large ``|x|``: only ``e^-|x|`` is ever computed, so it never
    overflows (``s(1000) = 1``, ``s(-1000) = 0``, without warnings).

    Examples
    --------
    >>> Sigmoid().forward(0.0)
    0.5
    >>> Sigmoid().forward(-1000.0)
    0.0
    """

    name = "sigmoid"

    def forward(self, x: Any) -> Any:
        if type(x) is float:
            if x >= 0.0:
                out = 1.0 / (1.0 + math.exp(-x))
            else:
                e = math.exp(x)
                out = e / (1.0 + e)
        else:
            e = np.exp(-np.abs(x))
            out = np.where(x >= 0, 1.0, e) / (1.0 + e)
        self.out = out
        return out

    def backward(self, upstream: Any) -> tuple[Any]:
        out = self.out
        return (upstream * out * (1.0 - out),)

    def jvp(self, t: Any) -> Any:
        out = self.out
        return t * out * (1.0 - out)

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(g.mul(upstream, output), g.sub(1.0, output)),)


class ReLU(Operation):
    """Rectified linear unit y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at x = 0).

    Examples
    --------
    >>> ReLU().forward(-2.0), ReLU().forward(3.0)
    (0.0, 3.0)
    """

    name = "relu"

    def forward(self, x: Any) -> Any:
        self.x = x
        if type(x) is float:
            return 0.0 if x <= 0.0 else x  # nan stays nan, as in numpy
        return np.maximum(x, 0)

    def backward(self, upstream: Any) -> tuple[Any]:
        x = self.x
        if type(x) is float:
            return (upstream if x > 0.0 else 0.0 * upstream,)
        # A product with the mask, not np.where: 10x faster on unpredictable masks.
        return (upstream * (x > 0),)

    def jvp(self, t: Any) -> Any:
        return self.backward(t)[0]  # a diagonal Jacobian: the gradient's rule, 0 at x = 0

    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(upstream, g.step(x)),)  # step(0) = 0, so relu'' = 0


class Abs(Operation):
    """Absolute value y = |x|; dy/dx = sign(x) (0 at x = 0, as in torch).

    Examples
    --------
    >>> Abs().forward(-2.0)
    2.0
    """

    name = "abs"
    aliases = ("absolute",)

    def forward(self, x: Any) -> Any:
        self.x = x
        return abs(x)

    def backward(self, upstream: Any) -> tuple[Any]:
        x = self.x
        sign = float((x > 0) - (x < 0)) if type(x) is float else np.sign(x)
        return (upstream * sign,)

    def jvp(self, t: Any) -> Any:
        return self.backward(t)[0]  # a diagonal Jacobian: the gradient's rule, 0 at x = 0


    def backward_graph(self, g: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (g.mul(upstream, g.sign(x)),)


# --------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------




def _winner_weight(a: Any, b: Any) -> Any:
    """1 where a is strictly larger, 0 where smaller; ties split the gradient equally (0.5)."""
    if type(a) is float and type(b) is float:
        return 1.0 if a > b else (0.5 if a == b else 0.0)
    weight = (a > b) + 0.5 * (a == b)
    return weight.astype(np.result_type(a, b, np.float32), copy=False)  # float32 stays float32


class _Selection(Operation):
    """An op whose output is one of its two inputs, elementwise; that input gets the gradient.

    Where the inputs tie, each gets half the gradient (as in torch), so the two
    gradients always add up to the upstream one.
    """

    prefers_larger: ClassVar[bool]
    select: ClassVar[Any]  # the numpy function

    def forward(self, a: Any, b: Any) -> Any:
        weight = _winner_weight(a, b) if self.prefers_larger else _winner_weight(b, a)
        self.weight_a = weight
        if type(weight) is not float:
            return self.select(a, b)
        return a if weight == 1.0 or a != a else b  # nan wins, as in numpy

    def backward(self, upstream: Any) -> tuple[Any, Any]:
        weight = self.weight_a
        return upstream * weight, upstream * (1.0 - weight)

    def jvp(self, ta: Any, tb: Any) -> Any:
        weight = self.weight_a  # ties take the mean of the two tangents
        return tangent_sum(scaled(ta, weight), scaled(tb, 1.0 - weight))

    def backward_graph(self, g: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        # The weight of a is a step of a - b (of b - a for min), a half at ties.
        weight = g.step(g.sub(a, b) if self.prefers_larger else g.sub(b, a), at_zero=0.5)
        return g.mul(upstream, weight), g.mul(upstream, g.sub(1.0, weight))


class Maximum(_Selection):
    """Elementwise maximum y = max(a, b); dy/da = 1 where a > b, 0 where a < b, 1/2 at ties.

    Examples
    --------
    >>> op = Maximum()
    >>> op.forward(2.0, 5.0)
    5.0
    >>> op.backward(1.0)
    (0.0, 1.0)
    """

    name = "maximum"
    prefers_larger = True
    select = np.maximum


class Minimum(_Selection):
    """Elementwise minimum y = min(a, b); dy/da = 1 where a < b, 0 where a > b, 1/2 at ties.

    Examples
    --------
    >>> op = Minimum()
    >>> op.forward(2.0, 5.0)
    2.0
    >>> op.backward(1.0)
    (1.0, 0.0)
    """

    name = "minimum"
    prefers_larger = False
    select = np.minimum

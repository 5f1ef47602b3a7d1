"""Elementwise operations, with numpy broadcasting.

Each op is a ``forward`` and one derivative rule, its ``pullback``, side by side;
the docstring gives the derivative. The rule is written with the primitives
``p`` (:mod:`cgraph.ops.numeric`), so it computes gradients in ``backward``,
tangents in ``jvp`` (an elementwise Jacobian is diagonal:
:class:`~cgraph.ops.kinds.Elementwise` derives the pushforward from the
pullback) and declares nodes in gradient and tangent graphs. Gradients come in
the broadcast shape of the output; the engine sums them back to each input's
shape.

Python floats take a fast path through :mod:`math` (see :mod:`cgraph.ops.numeric`);
arrays of other libraries (Dask, CuPy, array-api-strict) compute in their own.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from cgraph.ops import numeric
from cgraph.ops.arrays import as_output, float_dtype
from cgraph.ops.kinds import Elementwise, Flat
from cgraph.ops.namespaces import is_foreign, namespace

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
    "Where",
    "Step",
    "Sign",
    "Equal",
    "Greater",
    "GreaterEqual",
    "Less",
    "LessEqual",
    "LogicalAnd",
]

# --------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------


class Add(Elementwise):
    """Addition y = a + b; dy/da = 1, dy/db = 1.

    Examples
    --------
    >>> Add().forward(2.0, 3.0)
    5.0
    """

    name = "add"

    inline_forward = True

    def forward(self, a: Any, b: Any) -> Any:
        return a + b

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return upstream, upstream


class Sub(Elementwise):
    """Subtraction y = a - b; dy/da = 1, dy/db = -1.

    Examples
    --------
    >>> Sub().forward(2.0, 3.0)
    -1.0
    """

    name = "sub"
    aliases = ("subtract",)

    inline_forward = True

    def forward(self, a: Any, b: Any) -> Any:
        return a - b

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return upstream, -upstream


class Multiply(Elementwise):
    """Multiplication y = a b; dy/da = b, dy/db = a.

    Examples
    --------
    >>> Multiply().forward(2.0, 3.0)
    6.0
    """

    name = "mul"
    aliases = ("multiply",)

    inline_forward = True

    def forward(self, a: Any, b: Any) -> Any:
        return a * b

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return upstream * b, upstream * a


class Div(Elementwise):
    """Division y = a / b; dy/da = 1 / b, dy/db = -a / b^2 = -y / b.

    Examples
    --------
    >>> Div().forward(3.0, 2.0)
    1.5
    """

    name = "div"
    aliases = ("divide",)

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.divide)
    arity = 2

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        grad_a = p.divide(upstream, b)
        return grad_a, -grad_a * output


class Inv(Elementwise):
    """Reciprocal y = 1 / x; dy/dx = -1 / x^2 = -y^2.

    Examples
    --------
    >>> Inv().forward(4.0)
    0.25
    """

    name = "inv"
    aliases = ("reciprocal",)

    def forward(self, x: Any) -> Any:
        return numeric.divide(1.0, x)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (-upstream * output * output,)


class Neg(Elementwise):
    """Negation y = -x; dy/dx = -1.

    Examples
    --------
    >>> Neg().forward(2.0)
    -2.0
    """

    name = "neg"
    aliases = ("negative",)

    inline_forward = True

    def forward(self, x: Any) -> Any:
        return -x

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (-upstream,)


class Square(Elementwise):
    """Square y = x^2; dy/dx = 2 x.

    Examples
    --------
    >>> Square().forward(3.0)
    9.0
    """

    name = "square"

    inline_forward = True

    def forward(self, x: Any) -> Any:
        return x * x

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (2.0 * x * upstream,)


class Pow(Elementwise):
    """Power y = a^b; dy/da = b a^(b-1), dy/db = y ln(a).

    As in torch, dy/da is 0 where b = 0 (the formula is 0 there, but 0 * inf at
    a = b = 0), and dy/db is 0 where a = 0 and b >= 0
    (the limits that keep 0^0 = 1 from giving 0 * inf). A negative base gives
    nan for a fractional exponent, as in numpy. The one rule holds these limits
    in every mode: backward, jvp, gradient and tangent graphs.

    Examples
    --------
    >>> Pow().forward(2.0, 3.0)
    8.0
    """

    name = "pow"
    aliases = ("power",)

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.power)
    arity = 2

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        grad_a = grad_b = None
        with p.errstate(divide="ignore", invalid="ignore"):
            if self.wants_grad(0):
                # Guarded only at 0^0, where the formula is 0 * inf: elsewhere at b = 0 it
                # is already 0, and left as the formula its derivative in b stays right.
                at_origin = p.logical_and(p.equal(a, 0.0), p.equal(b, 0.0))
                slope = p.where(at_origin, 0.0, b * p.power(a, b - 1.0))
                grad_a = upstream * slope
            if self.wants_grad(1):
                at_zero = p.logical_and(p.equal(a, 0.0), p.greater_equal(b, 0.0))
                slope = p.where(at_zero, 0.0, output * p.log(p.where(at_zero, 1.0, a)))
                grad_b = upstream * slope
        return grad_a, grad_b


# --------------------------------------------------------------------------------------
# Exponentials, logarithms and roots
# --------------------------------------------------------------------------------------


class Exp(Elementwise):
    """Exponential y = e^x; dy/dx = y.

    Examples
    --------
    >>> Exp().forward(0.0)
    1.0
    """

    name = "exp"

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.exp)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * output,)


class Log(Elementwise):
    """Natural logarithm y = ln x; dy/dx = 1 / x.

    Examples
    --------
    >>> Log().forward(1.0)
    0.0
    """

    name = "log"

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.log)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.divide(upstream, x),)


class Sqrt(Elementwise):
    """Square root y = sqrt(x); dy/dx = 1 / (2 y).

    Examples
    --------
    >>> Sqrt().forward(9.0)
    3.0
    """

    name = "sqrt"

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.sqrt)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (p.divide(upstream, 2.0 * output),)


# --------------------------------------------------------------------------------------
# Trigonometric and activation functions
# --------------------------------------------------------------------------------------


class Sin(Elementwise):
    """Sine y = sin x; dy/dx = cos x.

    Examples
    --------
    >>> Sin().forward(0.0)
    0.0
    """

    name = "sin"

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.sin)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * p.cos(x),)


class Cos(Elementwise):
    """Cosine y = cos x; dy/dx = -sin x.

    Examples
    --------
    >>> Cos().forward(0.0)
    1.0
    """

    name = "cos"

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.cos)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (-upstream * p.sin(x),)


class Tanh(Elementwise):
    """Hyperbolic tangent y = tanh x; dy/dx = 1 - y^2.

    Examples
    --------
    >>> Tanh().forward(0.0)
    0.0
    """

    name = "tanh"

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.tanh)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * (1.0 - output * output),)


class Sigmoid(Elementwise):
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

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.sigmoid)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * output * (1.0 - output),)


class ReLU(Elementwise):
    """Rectified linear unit y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at x = 0).

    Examples
    --------
    >>> ReLU().forward(-2.0), ReLU().forward(3.0)
    (0.0, 3.0)
    """

    name = "relu"

    # The primitive itself: a plan writes its float path inline, as an expression.
    forward = staticmethod(numeric.relu)
    arity = 1

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * p.step(x),)  # step(0) = 0, so relu'(0) = 0 and relu'' = 0


class Abs(Elementwise):
    """Absolute value y = |x|; dy/dx = sign(x) (0 at x = 0, as in torch).

    Examples
    --------
    >>> Abs().forward(-2.0)
    2.0
    """

    name = "abs"
    aliases = ("absolute",)

    inline_forward = True

    def forward(self, x: Any) -> Any:
        return abs(x)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        return (upstream * p.sign(x),)


# --------------------------------------------------------------------------------------
# Selection: the larger, the smaller, either by a mask
# --------------------------------------------------------------------------------------


class _Selection(Elementwise):
    """An op whose output is one of its two inputs, elementwise; that input gets the gradient.

    Where the inputs tie, each gets half the gradient (as in torch), so the two
    gradients always add up to the upstream one.
    """

    prefers_larger: ClassVar[bool]

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        weight = p.step(a - b if self.prefers_larger else b - a, at_zero=0.5)  # a's share
        return upstream * weight, upstream * (1.0 - weight)


class Maximum(_Selection):
    """Elementwise maximum y = max(a, b); dy/da = 1 where a > b, 0 where a < b, 1/2 at ties.

    Examples
    --------
    >>> from cgraph.ops import numeric
    >>> Maximum().forward(2.0, 5.0)
    5.0
    >>> Maximum().pullback(numeric, 1.0, 5.0, 2.0, 5.0)
    (0.0, 1.0)
    """

    name = "maximum"
    prefers_larger = True

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.maximum)
    arity = 2


class Minimum(_Selection):
    """Elementwise minimum y = min(a, b); dy/da = 1 where a < b, 0 where a > b, 1/2 at ties.

    Examples
    --------
    >>> from cgraph.ops import numeric
    >>> Minimum().forward(2.0, 5.0)
    2.0
    >>> Minimum().pullback(numeric, 1.0, 2.0, 2.0, 5.0)
    (1.0, 0.0)
    """

    name = "minimum"
    prefers_larger = False

    # The primitive itself, not a method calling it: one call less per node.
    forward = staticmethod(numeric.minimum)
    arity = 2


class Where(Elementwise):
    """Selection by a mask y = a where cond, else b; dy/da = cond, dy/db = not cond.

    The mask gets no gradient; each branch gets the gradient where it was chosen
    and zero elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> Where().forward(np.array([True, False]), np.array([1.0, 2.0]), 0.0)
    array([1., 0.])
    """

    name = "where"
    branches = (1, 2)  # what feeds a branch gets NaN-safe gradients: see kinds.nan_safe

    def forward(self, condition: Any, a: Any, b: Any) -> Any:
        return numeric.where(condition, a, b)

    def pullback(self, p: Any, upstream: Any, output: Any, condition: Any, a: Any, b: Any) -> Any:
        return None, p.where(condition, upstream, 0.0), p.where(condition, 0.0, upstream)


# --------------------------------------------------------------------------------------
# Steps, signs and comparisons: flat, so their derivative is zero
# --------------------------------------------------------------------------------------


def _in_float_type(out: Any, x: Any) -> Any:
    """A flat op's values, if not a float (a mask, numbers), in x's float type: as Step's are."""
    if type(out) is not np.ndarray and is_foreign(out):  # numpy would copy it off its device
        return namespace(out).astype(out, float_dtype(x), copy=False)
    return as_output(np.asarray(out).astype(float_dtype(x), copy=False))


class Step(Flat):
    """Heaviside step y = 1 where x > 0, 0 where x < 0, ``at_zero`` at 0; dy/dx = 0.

    The derivative of ReLU as a node (relu'(x) = step(x), so relu'' = 0), and
    with ``at_zero=0.5`` the share of the gradient maximum gives its first input.

    Examples
    --------
    >>> import numpy as np
    >>> Step().forward(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 1.])
    >>> Step(at_zero=0.5).forward(0.0)
    0.5
    """

    name = "step"
    aliases = ("heaviside",)

    def __init__(self, at_zero: float = 0.0) -> None:
        self.at_zero = float(at_zero)

    def params(self) -> dict[str, Any]:
        return {"at_zero": self.at_zero}

    def forward(self, x: Any) -> Any:
        out = numeric.step(x, self.at_zero)
        return out if type(out) is float else _in_float_type(out, x)


class Sign(Flat):
    """Sign y = 1 where x > 0, -1 where x < 0, 0 at 0, as np.sign; dy/dx = 0.

    The derivative of ``abs`` as a node.

    Examples
    --------
    >>> import numpy as np
    >>> Sign().forward(np.array([-2.0, 0.0, 3.0]))
    array([-1.,  0.,  1.])
    """

    name = "sign"

    def forward(self, x: Any) -> Any:
        out = numeric.sign(x)
        return out if type(out) is float else _in_float_type(out, x)


class _Comparison(Flat):
    """A comparison of a and b, elementwise: a mask (bool for floats, a bool array otherwise)."""

    compare: ClassVar[Any]

    def forward(self, a: Any, b: Any) -> Any:
        return type(self).compare(a, b)


class Equal(_Comparison):
    """Mask a == b. Flat: no gradient.

    Examples
    --------
    >>> Equal().forward(1.0, 1.0)
    True
    """

    name = "equal"
    compare = numeric.equal


class Greater(_Comparison):
    """Mask a > b. Flat: no gradient.

    Examples
    --------
    >>> Greater().forward(2.0, 1.0)
    True
    """

    name = "greater"
    compare = numeric.greater


class GreaterEqual(_Comparison):
    """Mask a >= b. Flat: no gradient.

    Examples
    --------
    >>> GreaterEqual().forward(1.0, 2.0)
    False
    """

    name = "greater_equal"
    compare = numeric.greater_equal


class Less(_Comparison):
    """Mask a < b. Flat: no gradient.

    Examples
    --------
    >>> Less().forward(1.0, 2.0)
    True
    """

    name = "less"
    compare = numeric.less


class LessEqual(_Comparison):
    """Mask a <= b. Flat: no gradient.

    Examples
    --------
    >>> LessEqual().forward(3.0, 2.0)
    False
    """

    name = "less_equal"
    compare = numeric.less_equal


class LogicalAnd(_Comparison):
    """Mask a and b, of two masks. Flat: no gradient.

    Examples
    --------
    >>> import numpy as np
    >>> LogicalAnd().forward(np.array([True, True]), np.array([True, False]))
    array([ True, False])
    """

    name = "logical_and"
    compare = numeric.logical_and

"""The primitives derivative rules are written in, evaluated on numbers (floats and numpy arrays).

Every op states its derivative once, as a rule written against a namespace ``p``
of primitives: the arithmetic operators, and functions such as ``p.exp``,
``p.where``, ``p.sum_to`` or ``p.matmul``. This module is that namespace for
numbers: ``backward`` and ``jvp`` pass it to the rules, so a rule computes
gradients and tangents. :class:`cgraph.ops.terms.Builder` is the same
namespace for node terms: a gradient graph or a tangent graph passes it, so the
same rule declares nodes instead.

Python floats take a fast path through :mod:`math` (numpy costs about a
microsecond per call on a scalar); where :mod:`math` raises (log of 0, exp of
1000, division by 0) the answer falls back to numpy's, so a scalar and a 0-d
array always give the same value (inf or nan, with numpy's warning).

Any registered op is a primitive too: ``p.softmax(x, axis=-1)`` evaluates the
op ``softmax`` (this module's ``__getattr__``), so a rule may use every op.

Examples
--------
>>> from cgraph.ops import numeric as p
>>> p.exp(0.0), p.where(p.greater(2.0, 1.0), 1.0, 0.0)
(1.0, 1.0)
>>> p.sum_to(np.ones((2, 3)), (3,))
array([2., 2., 2.])
>>> p.softmax(np.zeros(2), axis=-1)
array([0.5, 0.5])
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np

from cgraph.errors import ShapeError
from cgraph.ops.arrays import as_output, float_dtype
from cgraph.ops.namespaces import is_foreign, namespace
from cgraph.ops.registry import primitive_op

#: Rules may ask: a symbolic namespace declares nodes, this one computes numbers.
symbolic = False

#: A compiled plan's faster form of a primitive on Python floats: exactly the primitive's
#: answer wherever it does not raise (where it raises, the plan runs interpreted). ``None``
#: means the Python operator itself (``a / b`` for :func:`divide`).
math_forms: dict[Callable[..., Any], Callable[..., Any] | None] = {}
#: The primitives that give a Python float for Python floats (a plan need not check).
float_closed: set[Callable[..., Any]] = set()


class Expression(NamedTuple):
    """A primitive's float path as one Python expression, which a compiled plan writes inline.

    A few primitives compute a float with a few operators (a comparison, a
    conditional); as a function each node would cost a Python call (60-80 ns),
    as an expression it costs only its operators. The template's fields are the
    primitive's parameters by name (``{x}``, ``{at_zero}``), which the plan fills
    with operands' code; the names of ``constants``, which it fills with fields
    for those objects (the source never prints a value); and ``temporaries``,
    names it makes for an assignment expression (``:=``), where a value is used
    twice but must be computed once. The template is the float path's formulas
    in the same order, so it gives the same bits, nan included.

    The float path is the one the primitive takes for arguments of exactly the
    types in ``takes`` (a parameter not named there takes a Python float, never
    an int, which the primitive would hand to numpy); its result is a Python
    float, or a Python bool where ``gives`` says so (a comparison).

    Examples
    --------
    >>> expression_forms[maximum].template
    '{a} if {a} > {b} or {a} != {a} else {b}'
    >>> expression_forms[sigmoid].temporaries
    ('e',)
    >>> expression_forms[where].takes, expression_forms[equal].gives
    ({'condition': 'bool'}, 'bool')
    """

    template: str
    constants: dict[str, Any]
    temporaries: tuple[str, ...] = ()
    takes: Mapping[str, str] = MappingProxyType({})
    gives: str = "float"


#: A compiled plan's form of a primitive on Python floats as an :class:`Expression`: exactly
#: the primitive's float path, written where the plan would call it.
expression_forms: dict[Callable[..., Any], Expression] = {}


def _elementwise(math_fn: Callable[[float], float], numpy_fn: Any) -> Callable[[Any], Any]:
    """math_fn for Python floats (fast), numpy_fn for numpy and where math_fn raises, else xp's."""
    name = numpy_fn.__name__

    def apply(x: Any) -> Any:
        if type(x) is float:
            try:
                return math_fn(x)
            except (ValueError, OverflowError):
                return float(numpy_fn(x))
        if type(x) is np.ndarray:
            return numpy_fn(x)
        xp = namespace(x)
        return numpy_fn(x) if xp is np else getattr(xp, name)(x)

    apply.__name__ = numpy_fn.__name__
    apply.__doc__ = f"{numpy_fn.__name__} of a float (by math) or an array (by numpy)."
    math_forms[apply] = math_fn
    float_closed.add(apply)
    return apply


exp = _elementwise(math.exp, np.exp)
log = _elementwise(math.log, np.log)
sqrt = _elementwise(math.sqrt, np.sqrt)
sin = _elementwise(math.sin, np.sin)
cos = _elementwise(math.cos, np.cos)
tanh = _elementwise(math.tanh, np.tanh)


def divide(a: Any, b: Any) -> Any:
    """a / b, with numpy's inf or nan (and warning) for a Python float divided by 0.

    Examples
    --------
    >>> divide(1.0, 4.0)
    0.25
    """
    try:
        return a / b
    except ZeroDivisionError:
        return float(np.divide(a, np.float64(b)))


def power(a: Any, b: Any) -> Any:
    """a ** b with numpy's semantics: nan (never a complex number) for a negative base.

    Examples
    --------
    >>> with np.errstate(invalid="ignore"):   # numpy warns of the nan, as for arrays
    ...     power(2.0, 3.0), power(-8.0, 1 / 3)
    (8.0, nan)
    """
    if type(a) is float and type(b) is float:
        try:
            return math.pow(a, b)
        except (ValueError, OverflowError, ZeroDivisionError):
            return float(np.power(a, b))
    xp = namespace(a, b)
    return np.power(a, b) if xp is np else xp.pow(a, b)


math_forms[divide] = None
math_forms[power] = math.pow
float_closed.update((divide, power))


def sigmoid(x: Any) -> Any:
    """The logistic function 1 / (1 + e^-x), computed from e^-|x| only, so it never overflows.

    Examples
    --------
    >>> sigmoid(0.0), sigmoid(-1000.0), sigmoid(1000.0)
    (0.5, 0.0, 1.0)
    """
    if type(x) is float:
        if x >= 0.0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)
    xp = namespace(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, e) / (1.0 + e)


# The float path above, as an expression; e = exp(x) is computed once, in an assignment.
expression_forms[sigmoid] = Expression(
    "{one} / ({one} + {exp}(-{x})) if {x} >= {zero} else ({e} := {exp}({x})) / ({one} + {e})",
    {"one": 1.0, "zero": 0.0, "exp": math.exp},
    temporaries=("e",),
)
float_closed.add(sigmoid)


def maximum(a: Any, b: Any) -> Any:
    """np.maximum that keeps Python floats as floats (nan wins, as in numpy).

    Examples
    --------
    >>> maximum(1.0, 2.0), maximum(np.array([1.0, 3.0]), 2.0)
    (2.0, array([2., 3.]))
    """
    if type(a) is float and type(b) is float:
        return a if a > b or a != a else b
    return namespace(a, b).maximum(a, b)


def minimum(a: Any, b: Any) -> Any:
    """np.minimum that keeps Python floats as floats (nan wins, as in numpy).

    Examples
    --------
    >>> minimum(1.0, 2.0), minimum(np.array([1.0, 3.0]), 2.0)
    (1.0, array([1., 2.]))
    """
    if type(a) is float and type(b) is float:
        return a if a < b or a != a else b
    return namespace(a, b).minimum(a, b)


def relu(x: Any) -> Any:
    """max(x, 0) that keeps a Python float a float (nan stays nan, as in numpy).

    Examples
    --------
    >>> relu(-2.0), relu(3.0), relu(np.array([-1.0, 2.0]))
    (0.0, 3.0, array([0., 2.]))
    """
    if type(x) is float:
        return 0.0 if x <= 0.0 else x
    if type(x) is not np.ndarray and is_foreign(x):
        return namespace(x).maximum(x, 0)
    return np.maximum(x, 0)


# The float paths above, as expressions.
expression_forms[maximum] = Expression("{a} if {a} > {b} or {a} != {a} else {b}", {})
expression_forms[minimum] = Expression("{a} if {a} < {b} or {a} != {a} else {b}", {})
expression_forms[relu] = Expression("{zero} if {x} <= {zero} else {x}", {"zero": 0.0})
float_closed.update((maximum, minimum, relu))


# --------------------------------------------------------------------------------------
# Selection and comparison
# --------------------------------------------------------------------------------------


def where(condition: Any, if_true: Any, if_false: Any) -> Any:
    """np.where that keeps Python floats as floats.

    Examples
    --------
    >>> where(True, 1.0, 2.0), where(np.array([True, False]), 1.0, 2.0)
    (1.0, array([1., 2.]))
    """
    if type(condition) in (bool, float):  # a scalar mask (an input holds one as a float)
        return if_true if condition else if_false
    return namespace(condition, if_true, if_false).where(condition, if_true, if_false)


def _comparison(float_fn: Callable[[Any, Any], bool], numpy_fn: Any) -> Callable[[Any, Any], Any]:
    name = numpy_fn.__name__

    def compare(a: Any, b: Any) -> Any:
        if type(a) is type(b) and type(a) in (float, bool):
            return float_fn(a, b)
        xp = namespace(a, b)
        return numpy_fn(a, b) if xp is np else getattr(xp, name)(a, b)

    compare.__name__ = numpy_fn.__name__
    compare.__doc__ = f"{numpy_fn.__name__} of a and b: a bool for floats, else a bool array."
    return compare


equal = _comparison(operator.eq, np.equal)
greater = _comparison(operator.gt, np.greater)
greater_equal = _comparison(operator.ge, np.greater_equal)
less = _comparison(operator.lt, np.less)
less_equal = _comparison(operator.le, np.less_equal)
logical_and = _comparison(lambda a, b: bool(a and b), np.logical_and)

# The float paths above, as expressions: a comparison of two floats is a bool, the
# conjunction of two bools a bool, and where's choice by a bool one of its branches.
for _compare, _operator in (
    (equal, "=="),
    (greater, ">"),
    (greater_equal, ">="),
    (less, "<"),
    (less_equal, "<="),
):
    expression_forms[_compare] = Expression(f"{{a}} {_operator} {{b}}", {}, gives="bool")
expression_forms[logical_and] = Expression(
    "{a} and {b}", {}, takes={"a": "bool", "b": "bool"}, gives="bool"
)
expression_forms[where] = Expression(
    "{if_true} if {condition} else {if_false}", {}, takes={"condition": "bool"}
)


def step(x: Any, at_zero: float = 0.0) -> Any:
    """Heaviside step: 1 where x > 0, ``at_zero`` where x = 0, 0 elsewhere (nan included).

    With the default ``at_zero=0`` an array's step is a boolean mask: multiplying
    by it is about ten times faster than ``np.where`` on unpredictable masks.

    Examples
    --------
    >>> step(2.0), step(0.0, at_zero=0.5), step(np.array([-1.0, 3.0]))
    (1.0, 0.5, array([False,  True]))
    """
    if type(x) is float:
        return 1.0 if x > 0.0 else (at_zero if x == 0.0 else 0.0)
    xp = namespace(x)
    if at_zero == 0.0 and xp is np:
        return np.greater(x, 0)
    if xp is not np:  # floats (the standard multiplies no bools), and no in-place writes
        dtype = float_dtype(x)
        if at_zero == 0.0:
            return xp.astype(xp.greater(x, 0), dtype)
        one, zero, middle = (xp.asarray(v, dtype=dtype) for v in (1.0, 0.0, at_zero))
        return xp.where(x > 0, one, xp.where(x == 0, middle, zero))
    x = np.asarray(x)
    out = np.array(np.greater(x, 0), dtype=float_dtype(x))
    out[x == 0] = at_zero
    return out


# The float path above, as an expression.
expression_forms[step] = Expression(
    "{one} if {x} > {zero} else ({at_zero} if {x} == {zero} else {zero})", {"one": 1.0, "zero": 0.0}
)
float_closed.add(step)  # with a float at_zero, as the rules give it


def sign(x: Any) -> Any:
    """-1, 0 or 1 by the sign of x (0 at 0, as torch's sign).

    Examples
    --------
    >>> sign(-3.0), sign(0.0), sign(np.array([2.0, -1.0]))
    (-1.0, 0.0, array([ 1., -1.]))
    """
    if type(x) is float:
        return float((x > 0) - (x < 0))
    return namespace(x).sign(x)


# --------------------------------------------------------------------------------------
# Shapes: broadcasting and its inverse
# --------------------------------------------------------------------------------------


def shape(x: Any) -> tuple[int, ...]:
    """The shape of a value, ``()`` for a float.

    Examples
    --------
    >>> shape(1.0), shape(np.zeros((2, 3)))
    ((), (2, 3))
    """
    return np.shape(x)


def ndim(x: Any) -> int:
    """The number of dimensions of a value, 0 for a float.

    Examples
    --------
    >>> ndim(1.0), ndim(np.zeros((2, 3)))
    (0, 2)
    """
    return np.ndim(x)


def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` summed over the axes broadcasting ``shape`` to x's shape added: broadcasting undone.

    Raises
    ------
    ShapeError
        If ``x``'s shape could not have come from broadcasting ``shape``.

    Examples
    --------
    >>> sum_to(np.ones((2, 3)), (3,)), sum_to(np.ones((2, 3)), ())
    (array([2., 2., 2.]), 6.0)
    """
    x_shape = np.shape(x)
    if x_shape == shape:
        return x
    lead = len(x_shape) - len(shape)
    if lead < 0 or any(s not in (1, side) for s, side in zip(shape, x_shape[lead:], strict=True)):
        if not x_shape:  # a scalar for a whole array: it broadcasts over it
            return broadcast_to(x, shape)
        raise ShapeError(
            f"shape {x_shape} does not sum down to {shape}: it is not a broadcast of that shape"
        )
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x_shape[lead + i] != 1
    )
    xp = namespace(x)
    return as_output(xp.reshape(xp.sum(x, axis=axes), shape))


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` broadcast to ``shape``, as a writable array of its own (a float for ``()``).

    Examples
    --------
    >>> broadcast_to(2.0, (2,)), broadcast_to(3.0, ())
    (array([2., 2.]), 3.0)
    """
    if np.shape(x) == shape:
        return x
    if shape == () and type(x) is float:
        return x
    xp = namespace(x)
    if xp is not np:  # a copy of their own where the library has writable arrays at all
        return xp.asarray(xp.broadcast_to(xp.asarray(x), shape), copy=True)
    return np.array(np.broadcast_to(x, shape))


def zeros_like(x: Any) -> Any:
    """A zero shaped like ``x``, in its float type (float64 for integers): a zero tangent.

    Examples
    --------
    >>> zeros_like(2.0), zeros_like(np.ones(2, np.float32))
    (0.0, array([0., 0.], dtype=float32))
    """
    if is_foreign(x):
        return namespace(x).zeros(x.shape, dtype=float_dtype(x))
    if not isinstance(x, np.ndarray):
        return 0.0
    return np.zeros(x.shape, float_dtype(x))


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    """x reshaped (a float for shape ``()``, as the ops give).

    Examples
    --------
    >>> reshape(np.arange(4.0), (2, 2)).shape
    (2, 2)
    """
    xp = namespace(x)
    if xp is np:
        return np.reshape(x, shape)
    try:
        return xp.reshape(x, shape)
    except NotImplementedError:  # Dask splits and merges axes, not both at once
        return xp.reshape(xp.reshape(x, (-1,)), shape)


def matmul(a: Any, b: Any) -> Any:
    """The matrix product a @ b.

    Examples
    --------
    >>> matmul(np.eye(2), np.ones(2))
    array([1., 1.])
    """
    return namespace(a, b).matmul(a, b)


def swap_last(x: Any) -> Any:
    """x with its last two axes swapped (the matrix transpose of a stack of matrices).

    Examples
    --------
    >>> swap_last(np.zeros((4, 2, 3))).shape
    (4, 3, 2)
    """
    xp = namespace(x)
    return np.swapaxes(x, -1, -2) if xp is np else xp.matrix_transpose(x)


# --------------------------------------------------------------------------------------
# Ops as primitives
# --------------------------------------------------------------------------------------


def call(op: Any, *args: Any) -> Any:
    """Apply an op instance (with its parameters) to values: a linear op's own tangent rule.

    Examples
    --------
    >>> from cgraph.ops import Sum
    >>> call(Sum(axis=0), np.ones((2, 3)))
    array([2., 2., 2.])
    """
    return op.forward(*args)


#: What np.errstate does with a floating-point error of one kind (divide=, invalid=, ...).
ErrorHandling = Literal["ignore", "warn", "raise", "call", "print", "log"]


def errstate(
    *,
    divide: ErrorHandling | None = None,
    over: ErrorHandling | None = None,
    under: ErrorHandling | None = None,
    invalid: ErrorHandling | None = None,
) -> Any:
    """np.errstate here (None leaves that error as it is); a symbolic namespace silences nothing.

    Examples
    --------
    >>> with errstate(divide="ignore"):
    ...     float(np.log(np.float64(0.0)))
    -inf
    """
    if divide is over is under is invalid is None:
        return nullcontext()  # nothing to change: skip np.errstate's cost
    return np.errstate(divide=divide, over=over, under=under, invalid=invalid)


def __getattr__(name: str) -> Any:
    """Any registered op as a primitive: ``p.softmax(x, axis=-1)`` is the op's forward."""
    cls = primitive_op(name)

    def apply(*args: Any, **params: Any) -> Any:
        return cls(**params).forward(*args)

    return apply

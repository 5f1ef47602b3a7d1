"""The primitives derivative rules are written in, interpreted as node terms.

:mod:`cgraph.ops.numeric` evaluates a rule on numbers. :class:`Builder` is the
same namespace for :class:`Term` objects: each primitive, and each arithmetic
operator on a term, makes a new term (a registered op applied to terms and
numbers) instead of a number. Handing a rule terms for its upstream gradient,
output and inputs therefore writes the rule out as a small graph of ops, which
a gradient graph or a tangent graph then declares as named nodes.

Terms are evaluated as they are made, so a rule can ask a term's shape
(``p.shape(x)``) exactly as it asks a number's, and a failing op fails where
the rule uses it.

Examples
--------
>>> import numpy as np
>>> p = Builder()
>>> y = Term.node("y", 0.5)
>>> upstream = Term.node("u", 1.0)
>>> grad = upstream * (1.0 - y * y)      # Tanh's rule, written once
>>> grad, grad.value
(mul(u, sub(1.0, mul(y, y))), 0.75)
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from cgraph.ops.operation import Operation
from cgraph.ops.registry import OPERATIONS, primitive_op

__all__ = ["Term", "Builder", "apply"]


class Term:
    """A value of a rule written out: an op applied to other terms and numbers, or a node.

    Attributes
    ----------
    op : Operation or None
        The op computing it (``None`` for a node that already exists).
    inputs : tuple
        Its arguments: terms, or numbers and arrays (declared as constants).
    value : float or numpy.ndarray
        Its value, computed when it was made.
    name : str or None
        The node holding it once declared (given for an existing node).

    Examples
    --------
    >>> x = Term.node("x", 2.0)
    >>> (x * x + 1.0).value
    5.0
    """

    __slots__ = ("op", "inputs", "value", "name")
    __array_ufunc__ = None  # numpy arrays defer to the operators below: array * term is a term

    def __init__(
        self, op: Operation | None, inputs: tuple[Any, ...], value: Any, name: str | None = None
    ) -> None:
        self.op, self.inputs, self.value, self.name = op, inputs, value, name

    @classmethod
    def node(cls, name: str, value: Any) -> Term:
        """A term for an existing node, holding its value.

        Examples
        --------
        >>> Term.node("x", 3.0)
        x
        """
        return cls(None, (), value, name)

    def __repr__(self) -> str:
        if self.op is None or (self.name is not None and not self.inputs):
            return str(self.name)
        params = "".join(f", {key}={value!r}" for key, value in self.op.params().items())
        arguments = ", ".join(map(repr, self.inputs))
        return f"{self.op.name or type(self.op).__name__}({arguments}{params})"

    # Arithmetic makes terms of the registered elementwise ops.
    def __add__(self, other: Any) -> Term:
        return apply("add", self, other)

    def __radd__(self, other: Any) -> Term:
        return apply("add", other, self)

    def __sub__(self, other: Any) -> Term:
        return apply("sub", self, other)

    def __rsub__(self, other: Any) -> Term:
        return apply("sub", other, self)

    def __mul__(self, other: Any) -> Term:
        return apply("mul", self, other)

    def __rmul__(self, other: Any) -> Term:
        return apply("mul", other, self)

    def __truediv__(self, other: Any) -> Term:
        return apply("div", self, other)

    def __rtruediv__(self, other: Any) -> Term:
        return apply("div", other, self)

    def __pow__(self, other: Any) -> Term:
        return apply("pow", self, other)

    def __rpow__(self, other: Any) -> Term:
        return apply("pow", other, self)

    def __matmul__(self, other: Any) -> Term:
        return apply("matmul", self, other)

    def __rmatmul__(self, other: Any) -> Term:
        return apply("matmul", other, self)

    def __neg__(self) -> Term:
        return apply("neg", self)


def value_of(item: Any) -> Any:
    """The value of a term, or the item itself (a number or an array).

    Examples
    --------
    >>> value_of(Term.node("x", 2.0)), value_of(3.0)
    (2.0, 3.0)
    """
    return item.value if isinstance(item, Term) else item


def apply(op: str | Operation, *inputs: Any, **params: Any) -> Term:
    """A term of ``op`` (a registered name with parameters, or an instance) applied to inputs.

    Examples
    --------
    >>> apply("sum", Term.node("x", np.ones(3)), axis=0).value
    3.0
    """
    instance: Operation = OPERATIONS[op](**params) if isinstance(op, str) else op
    return Term(instance, inputs, instance.forward(*map(value_of, inputs)))


class Builder:
    """The primitive namespace of :mod:`cgraph.ops.numeric`, making terms instead of numbers.

    Every function of that module has its namesake here, and any registered op
    is one too (``p.softmax(x, axis=-1)``), so a rule that runs on numbers runs
    here unchanged.

    Examples
    --------
    >>> p = Builder()
    >>> x = Term.node("x", np.array([-1.0, 2.0]))
    >>> p.where(p.greater(x, 0.0), x, 0.0)
    where(greater(x, 0.0), x, 0.0)
    """

    symbolic = True

    # Elementwise functions, by the op that computes each.
    def exp(self, x: Any) -> Term:
        return apply("exp", x)

    def log(self, x: Any) -> Term:
        return apply("log", x)

    def sqrt(self, x: Any) -> Term:
        return apply("sqrt", x)

    def sin(self, x: Any) -> Term:
        return apply("sin", x)

    def cos(self, x: Any) -> Term:
        return apply("cos", x)

    def tanh(self, x: Any) -> Term:
        return apply("tanh", x)

    def sigmoid(self, x: Any) -> Term:
        return apply("sigmoid", x)

    def divide(self, a: Any, b: Any) -> Term:
        return apply("div", a, b)

    def power(self, a: Any, b: Any) -> Term:
        return apply("pow", a, b)

    # Selection and comparison.
    def where(self, condition: Any, if_true: Any, if_false: Any) -> Term:
        return apply("where", condition, if_true, if_false)

    def equal(self, a: Any, b: Any) -> Term:
        return apply("equal", a, b)

    def greater(self, a: Any, b: Any) -> Term:
        return apply("greater", a, b)

    def greater_equal(self, a: Any, b: Any) -> Term:
        return apply("greater_equal", a, b)

    def less(self, a: Any, b: Any) -> Term:
        return apply("less", a, b)

    def less_equal(self, a: Any, b: Any) -> Term:
        return apply("less_equal", a, b)

    def logical_and(self, a: Any, b: Any) -> Term:
        return apply("logical_and", a, b)

    def step(self, x: Any, at_zero: float = 0.0) -> Term:
        return apply("step", x, at_zero=at_zero)

    def sign(self, x: Any) -> Term:
        return apply("sign", x)

    # Shapes.
    def shape(self, x: Any) -> tuple[int, ...]:
        return np.shape(value_of(x))

    def ndim(self, x: Any) -> int:
        return np.ndim(value_of(x))

    def sum_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x if np.shape(value_of(x)) == shape else apply("unbroadcast", x, shape=shape)

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x if np.shape(value_of(x)) == shape else apply("broadcast_to", x, shape=shape)

    def zeros_like(self, x: Any) -> Any:
        from cgraph.ops import numeric

        return numeric.zeros_like(value_of(x))  # a number: declared as a constant

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Term:
        return apply("reshape", x, shape=shape)

    def matmul(self, a: Any, b: Any) -> Term:
        return apply("matmul", a, b)

    def swap_last(self, x: Any) -> Term:
        axes = list(range(np.ndim(value_of(x))))
        axes[-2], axes[-1] = axes[-1], axes[-2]
        return apply("transpose", x, axes=tuple(axes))

    # Ops as primitives.
    def call(self, op: Operation, *args: Any) -> Term:
        return apply(op.copy(), *args)

    def errstate(self, **kwargs: str) -> Any:
        return nullcontext()

    def __getattr__(self, name: str) -> Any:
        cls = primitive_op(name)

        def term(*inputs: Any, **params: Any) -> Term:
            return apply(cls(**params), *inputs)

        return term

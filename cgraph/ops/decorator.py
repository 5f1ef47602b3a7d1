"""The ``@operation`` decorator: an Operation made from a function and its derivative rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cgraph.ops.operation import Operation, _arity_of

__all__ = ["operation"]


def operation(
    forward: Callable[..., Any] | None = None,
    *,
    grad: Callable[..., Any],
    name: str | None = None,
    jvp: Callable[..., Any] | None = None,
    backward_graph: Callable[..., Any] | None = None,
) -> Any:
    """Make an Operation from a function and its derivative rule (a decorator).

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> output``.
    grad : callable
        ``grad(upstream, output, *inputs)`` returning one gradient per input (a
        bare gradient for a one-input op), each ``upstream * d output / d input``.
    name : str, optional
        The registered name; defaults to the function's name.
    jvp : callable, optional
        The tangent rule for forward mode, ``jvp(*tangents, output, *inputs)``
        returning ``sum_i d output / d input_i * tangent_i``, with one tangent per
        input (0.0 where an input has none). Without it the op works in reverse
        mode only.
    backward_graph : callable, optional
        The symbolic rule, ``backward_graph(g, upstream, output, *inputs)``: the
        same gradients as ``grad`` written as ``g.OPNAME(...)`` terms of
        registered ops over node names (see :meth:`Operation.backward_graph`).
        Needed, with ``jvp``, for gradient graphs, Hessians and ``hvp``.

    Returns
    -------
    type[Operation]
        A registered Operation subclass, usable wherever an op is.

    Examples
    --------
    >>> import numpy as np
    >>> import cgraph
    >>> @cgraph.operation(grad=lambda upstream, out, x: upstream / (1 + x * x))
    ... def arctan(x):
    ...     return np.arctan(x)
    >>> cg = cgraph.ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("a", "arctan", ("x",))
    >>> round(float(cg.forward("a")), 6), cg.backward("a")
    (0.785398, {'x': 0.5})
    >>> @cgraph.operation(grad=lambda u, out, a, b: (u * b, u * a),
    ...                   jvp=lambda ta, tb, out, a, b: ta * b + a * tb)
    ... def times(a, b):
    ...     return a * b
    >>> cg.add_computation_node("t", "times", ("x", "x"))
    >>> cg.jvp("t", tangents={"x": 1.0})
    (1.0, 2.0)
    >>> @cgraph.operation(grad=lambda u, out, x: u * 3 * x * x,
    ...                   jvp=lambda t, out, x: 3 * x * x * t,
    ...                   backward_graph=lambda g, u, out, x: g.mul(u, g.mul(3.0, g.square(x))))
    ... def cube(x):
    ...     return x ** 3
    >>> cg.add_computation_node("c", "cube", ("x",))
    >>> cg.hessian("c", "x")      # d2(x^3)/dx2 = 6x
    6.0
    """

    def build(fn: Callable[..., Any]) -> type[Operation]:
        def op_forward(self: Any, *inputs: Any) -> Any:
            return fn(*inputs)

        def op_pullback(self: Any, p: Any, upstream: Any, output: Any, *inputs: Any) -> Any:
            if not p.symbolic:
                return grad(upstream, output, *inputs)
            if backward_graph is None:
                return Operation.backward_graph(self, p, upstream, output, *inputs)
            return backward_graph(p, upstream, output, *inputs)

        attrs = {
            "__doc__": fn.__doc__ or f"Operation made from {fn.__qualname__}.",
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,
            "name": name or fn.__name__,
            "arity": _arity_of(fn, skip_self=False),
            "forward": op_forward,
            "pullback": op_pullback,
            "symbolic_rule": backward_graph is not None,  # grad runs on numbers only
        }
        if jvp is not None:

            def op_pushforward(
                self: Any, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any
            ) -> Any:
                if p.symbolic:
                    return Operation.pushforward(self, p, tangents, output, *inputs)
                zeros = (0.0 if tangent is None else tangent for tangent in tangents)
                return jvp(*zeros, output, *inputs)

            attrs["pushforward"] = op_pushforward
        return type(fn.__name__, (Operation,), attrs)

    return build if forward is None else build(forward)

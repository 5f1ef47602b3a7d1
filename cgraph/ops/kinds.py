"""Kinds of operation whose forward mode follows from what they already state.

An op in the rule form states ``forward`` and one derivative, its pullback
(:meth:`cgraph.Operation.pullback`). For most ops the pushforward need not be
written at all:

- :class:`Elementwise`: the Jacobian is diagonal, so pushing a tangent forward
  is pulling it back: ``pushforward(t) = sum_i pullback(t_i)[i]`` (PyTorch's
  ``auto_element_wise``).
- :class:`LinearMap`: a linear op is its own derivative, so the tangent is the
  op applied to the tangents (JAX's ``deflinear``).
- :class:`Multilinear`: linear in each input separately (a product), so the
  tangent is the sum of the op with one input replaced by its tangent.
- :class:`Flat`: piecewise constant (steps, comparisons): no derivative at all.

Each pushforward is written with the same primitives ``p`` as the rules, so it
serves ``jvp`` on numbers and tangent graphs on terms alike.

Examples
--------
>>> from cgraph.ops import numeric
>>> from cgraph.ops import Tanh
>>> Tanh().pullback(numeric, 1.0, 0.0, 0.0)         # the rule: u (1 - y^2)
(1.0,)
>>> Tanh().pushforward(numeric, (2.0,), 0.0, 0.0)   # derived from it
2.0
"""

from __future__ import annotations

from typing import Any

from cgraph.ops.operation import Operation

__all__ = ["Elementwise", "LinearMap", "Multilinear", "Flat", "nan_safe"]


class Elementwise(Operation):
    """An op applied element by element: ``pushforward`` is derived from ``pullback``.

    Each output element depends only on the same element of each input (after
    broadcasting), so the Jacobian with respect to each input is diagonal and
    ``dy/dx_i t_i`` is what the pullback computes from the upstream ``t_i``.
    Subclasses write ``forward`` and ``pullback`` only.

    Examples
    --------
    >>> import cgraph
    >>> from cgraph.ops.kinds import Elementwise
    >>> class Softsign(Elementwise):
    ...     '''Softsign y = x / (1 + |x|); dy/dx = 1 / (1 + |x|)^2.'''
    ...     name = "softsign_example"
    ...     def forward(self, x):
    ...         return x / (1.0 + abs(x))
    ...     def pullback(self, p, upstream, output, x):
    ...         return (upstream / ((1.0 + p.abs(x)) * (1.0 + p.abs(x))),)
    >>> cg = cgraph.ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("y", "softsign_example", ("x",))
    >>> cg.forward("y"), cg.backward("y"), cg.jvp("y", tangents={"x": 1.0})
    (0.5, {'x': 0.25}, (0.5, 0.25))
    >>> cg.hessian("y", "x")   # -2 / (1 + x)^3 at x = 1
    -0.25
    """

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> Any:
        rule = self
        if self.needs_input_grad and not all(self.needs_input_grad):
            # The pullback may skip inputs backward needs no gradient for; a tangent may
            # still start there (forward mode differentiates along any input).
            rule = self.copy()
            rule.needs_input_grad = ()
        if len(tangents) == 1:
            return rule.pullback(p, tangents[0], output, *inputs)[0]
        # Summed in this loop, not by arrays.tangent_sum: it runs for every elementwise node
        # in forward mode, and building the terms for a call costs half as much again.
        total = None
        for index, tangent in enumerate(tangents):
            if tangent is not None:
                term = rule.pullback(p, tangent, output, *inputs)[index]
                if term is not None:
                    total = term if total is None else total + term
        return total


class LinearMap(Operation):
    """A linear op (sum, reshape, index...): the op itself, applied to tangents, is its tangent.

    A missing tangent is zero, shaped like its input. Subclasses write
    ``forward`` and ``pullback`` (the transpose of the map) only.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> from cgraph.ops import Sum
    >>> Sum(axis=0).pushforward(numeric, (np.ones((2, 3)),), np.zeros(3), np.zeros((2, 3)))
    array([2., 2., 2.])
    """

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> Any:
        filled = [
            p.zeros_like(x) if t is None else t for t, x in zip(tangents, inputs, strict=True)
        ]
        return p.call(self, *filled)


class Multilinear(Operation):
    """An op linear in each input separately (a product): the tangent is a sum of products.

    ``d f(a, b) = f(da, b) + f(a, db)``, one term per input that has a tangent.
    Subclasses write ``forward`` and ``pullback`` only.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> from cgraph.ops import MatMul
    >>> a, b = np.eye(2), np.ones((2, 2))
    >>> MatMul().pushforward(numeric, (np.ones((2, 2)), None), a @ b, a, b)
    array([[2., 2.],
           [2., 2.]])
    """

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> Any:
        total = None  # summed in the loop, as in Elementwise: once per product node
        for index, tangent in enumerate(tangents):
            if tangent is not None:
                args = list(inputs)
                args[index] = tangent
                term = p.call(self, *args)
                total = term if total is None else total + term
        return total


class Flat(Operation):
    """A piecewise-constant op (a step, a sign, a comparison): its derivative is zero.

    Examples
    --------
    >>> from cgraph.ops import numeric
    >>> from cgraph.ops import Step
    >>> Step().pullback(numeric, 1.0, 1.0, 2.0), Step().pushforward(numeric, (1.0,), 1.0, 2.0)
    ((None,), None)
    """

    def pullback(self, p: Any, upstream: Any, output: Any, *inputs: Any) -> tuple[None, ...]:
        return (None,) * len(inputs)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> None:
        return None


def nan_safe(p: Any, upstream: Any, grads: tuple[Any, ...]) -> tuple[Any, ...]:
    """An elementwise rule's gradients, zero wherever the upstream gradient is zero.

    ``upstream * dy/dx`` is 0 * inf = nan where a ``where`` did not choose a
    branch that is infinite or undefined there (``log`` at 0): the gradient the
    branch receives is zero, but its own derivative is not finite. Counting
    zero times anything as zero there (ForwardDiff.jl's NaN-safe mode) gives
    the masked branch the zero gradient it should have. The engine applies it
    only to the elementwise nodes that feed a ``where`` branch, in every mode
    that multiplies upstream gradients: ``backward``, compiled plans and
    gradient graphs.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import Log, numeric
    >>> x, upstream = np.array([0.0, 4.0]), np.array([0.0, 1.0])
    >>> with np.errstate(divide="ignore", invalid="ignore"):
    ...     Log().pullback(numeric, upstream, np.log(x), x)
    (array([ nan, 0.25]),)
    >>> with np.errstate(divide="ignore", invalid="ignore"):
    ...     nan_safe(numeric, upstream, Log().pullback(numeric, upstream, np.log(x), x))
    (array([0.  , 0.25]),)
    """
    zero = p.equal(upstream, 0.0)
    return tuple(None if grad is None else p.where(zero, 0.0, grad) for grad in grads)

"""The Operation contract: forward, one derivative rule, and broadcasting's inverse.

An operation maps its inputs to one output (``forward``) and states its
derivative once, as a rule. For ``y = f(x_1, ..., x_n)`` and an upstream
gradient ``u = dL/dy``, the pullback ``pullback(p, u, y, x_1, ..., x_n)``
returns the vector-Jacobian products ``u . dy/dx_i``, one per input; the
pushforward ``pushforward(p, (t_1, ..., t_n), y, x_1, ..., x_n)`` returns the
Jacobian-vector product ``sum_i dy/dx_i t_i``. Both are written against a
namespace ``p`` of primitives (:mod:`cgraph.ops.numeric`), so one rule serves
every mode: evaluated on numbers it is ``backward`` and ``jvp``; evaluated on
terms (:mod:`cgraph.ops.terms`) it declares gradient graphs and tangent graphs.

Most ops write only the pullback: an elementwise op's pushforward follows from
it (its Jacobian is diagonal), and a linear op is its own pushforward (the
kinds in :mod:`cgraph.ops.kinds`).

Custom ops may instead keep the classic contract: ``backward(upstream)``, with
state saved on ``self`` by ``forward``, and optionally ``jvp(*tangents)``; they
work in the modes those methods cover.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError
from cgraph.ops.namespaces import is_foreign
from cgraph.ops.numeric import sum_to
from cgraph.ops.registry import register

#: An operation's own class, for copy() (typing.Self is Python 3.11's).
_Op = TypeVar("_Op", bound="Operation")

__all__ = ["Operation", "keeps_state", "unbroadcast"]


class Operation:
    """Base class of every operation: ``forward`` computes, one derivative rule differentiates.

    Subclass it to define a new operation, in either of two forms.

    **The rule form** (every built-in op): ``forward(*inputs)`` returns the output
    and keeps nothing on ``self``; ``pullback(p, upstream, output, *inputs)``
    returns one gradient per input, ``upstream`` times the Jacobian ``dy/dx_i``,
    computed with the primitives ``p`` (operators, ``p.exp``, ``p.where``,
    ``p.sum_to``...; see :mod:`cgraph.ops.numeric`). Written so, the rule gives
    ``backward`` and gradient graphs (hence Hessians); subclass
    :class:`~cgraph.ops.kinds.Elementwise` or
    :class:`~cgraph.ops.kinds.LinearMap` and forward mode and tangent graphs
    come too, or write ``pushforward(p, tangents, output, *inputs)``.

    **The classic form**: ``forward(*inputs)`` saves on ``self`` what
    ``backward(upstream)`` needs, and ``backward`` returns one gradient per
    input. Optionally ``jvp(*tangents)`` gives forward mode, and
    ``backward_graph(g, upstream, output, *inputs)`` gradient graphs. Every node
    gets its own copy of the instance, so two nodes never share saved values.

    Either way, return gradients in the shape the operation computed (the
    engine sums broadcast gradients back to each input's shape), ``None`` for an
    input with no gradient (integer labels); an op with one input may return its
    gradient bare instead of in a 1-tuple.

    Class attributes
    ----------------
    name : str or None
        Registers the class under this name (e.g. ``"sigmoid"``), so the name can
        be used wherever an op is. ``None`` (the default) registers nothing.
    aliases : tuple of str
        Further names for the same class (numpy's long names, e.g. ``"multiply"``).
    arity : int or None
        The number of inputs, or ``None`` for any number. Taken from the
        signature of ``forward`` when not given.
    min_arity : int
        With ``arity`` None, the fewest inputs the op accepts (0 by default).
    traced : bool
        Whether a compiled plan may write this op's rule (and forward, see
        ``inline_forward``) out as code, by running it once on symbols. True for
        cgraph's own ops. A custom op is called as an object unless it sets it,
        which promises that its rule uses only the primitives ``p`` and its
        arguments, never state on ``self`` or outside, and does not branch on
        the types of its values.
    branches : tuple of int
        The inputs of which the op passes on only the elements it selects
        (``where``'s two branches): the elementwise nodes that feed them get
        NaN-safe gradients (:func:`cgraph.ops.kinds.nan_safe`). Empty by default.
    inline_forward : bool
        Whether ``forward`` is made of Python operators only (``a + b``), the same
        code for a value of any type, so that a plan may write it out instead
        of calling it (False by default: the plan calls it).

    Attributes
    ----------
    needs_input_grad : tuple of bool
        Set by the graph when the node is declared: whether each input leads to a
        trainable input. A rule may skip the work for the ones that do not.

    Examples
    --------
    >>> import cgraph
    >>> class Cube(cgraph.Operation):
    ...     '''Cube y = x^3; dy/dx = 3 x^2.'''
    ...     name = "cube_example"
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x ** 3
    ...     def backward(self, upstream):
    ...         return (upstream * 3 * self.x ** 2,)
    >>> cg = cgraph.ComputationalGraph()
    >>> cg.add_inputs(x=2.0)
    >>> cg.add_computation_node("y", "cube_example", ("x",))
    >>> cg.forward("y"), cg.backward("y")
    (8.0, {'x': 12.0})
    """

    name: ClassVar[str | None] = None
    aliases: ClassVar[tuple[str, ...]] = ()
    arity: int | None = None  # a class attribute, which an instance may set (Einsum)
    #: The fewest inputs an op taking any number of them accepts (``arity`` None).
    min_arity: ClassVar[int] = 0
    inline_forward: ClassVar[bool] = False
    branches: ClassVar[tuple[int, ...]] = ()
    traced: ClassVar[bool] = False
    needs_input_grad: tuple[bool, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "traced" not in cls.__dict__:  # cgraph's own ops keep their promise; others say so
            cls.traced = cls.__module__.startswith("cgraph.")
        if "arity" not in cls.__dict__:
            cls.arity = _arity_of(cls.forward)
        for key in ((cls.name,) if "name" in cls.__dict__ and cls.name else ()) + tuple(
            cls.__dict__.get("aliases", ())
        ):
            register(key, cls)

    def forward(self, *inputs: Any) -> Any:
        """Compute the output from the input values.

        Examples
        --------
        >>> from cgraph.ops import Add
        >>> Add().forward(1.0, 2.0)
        3.0
        """
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # ----------------------------------------------------------------------------------
    # The rule form: one derivative, interpreted by every mode
    # ----------------------------------------------------------------------------------

    def pullback(self, p: Any, upstream: Any, output: Any, *inputs: Any) -> Any:
        """One gradient per input: ``upstream`` times the Jacobian ``dy/dx_i`` (reverse mode).

        ``p`` is the namespace of primitives the rule is written in: numbers
        (:mod:`cgraph.ops.numeric`) for ``backward``, terms
        (:class:`cgraph.ops.terms.Builder`) for gradient graphs. ``output`` and
        ``inputs`` are this node's values in the same interpretation.

        The base class runs the classic form instead: ``backward(upstream)`` on
        numbers, ``backward_graph`` on terms.

        Raises
        ------
        InvalidOperationError
            On terms, for a classic op without ``backward_graph``.

        Examples
        --------
        >>> from cgraph.ops import numeric
        >>> from cgraph.ops import Multiply
        >>> Multiply().pullback(numeric, 1.0, 12.0, 3.0, 4.0)
        (4.0, 3.0)
        """
        if p.symbolic:
            return self.backward_graph(p, upstream, output, *inputs)
        return self.backward(upstream)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> Any:
        """The output's tangent ``sum_i (dy/dx_i) t_i`` from one tangent per input (forward mode).

        A tangent of ``None`` is zero (a constant, integer labels); the engine
        calls this only when some tangent is not ``None``. Return the tangent
        shaped like the output or broadcastable to it, or ``None`` when it is zero.
        It is the dual of the pullback: for any ``u``,
        ``sum(u * pushforward(t)) == sum_i sum(pullback(u)[i] * t_i)``.

        The base class runs a classic ``jvp(*tangents)`` on numbers.

        Raises
        ------
        InvalidOperationError
            For an op with neither this rule nor ``jvp``, or on terms for an op
            without this rule, naming the op and what it lacks.

        Examples
        --------
        >>> from cgraph.ops import numeric
        >>> from cgraph.ops import Multiply
        >>> Multiply().pushforward(numeric, (1.0, None), 12.0, 3.0, 4.0)  # along a: b
        4.0
        """
        if p.symbolic:
            raise InvalidOperationError(
                f"{type(self).__name__} has no pushforward rule: tangent graphs need "
                f"pushforward(self, p, tangents, output, *inputs) written with the primitives "
                f"p (or the op subclassing cgraph.ops.kinds.Elementwise or LinearMap); "
                f"{_modes_it_has(self)}"
            )
        if not _overrides(type(self), "jvp"):
            raise InvalidOperationError(
                f"{type(self).__name__} has no tangent rule: forward mode (jvp, jacobian, "
                f"tangent_graph) needs pushforward(self, p, tangents, output, *inputs) (or "
                f"jvp(self, *tangents), or jvp= in the operation decorator); "
                f"{_modes_it_has(self)}"
            )
        return self.jvp(*tangents)

    # ----------------------------------------------------------------------------------
    # The classic form, for custom ops
    # ----------------------------------------------------------------------------------

    def backward(self, upstream: Any) -> Any:
        """Return one gradient per input (or None) for the upstream gradient (the classic form).

        Reads what ``forward`` saved on ``self``. Ops in the rule form have no
        state, so they do not define it: their gradient is ``pullback``.

        Raises
        ------
        InvalidOperationError
            In the base class, naming the operation's class.

        Examples
        --------
        >>> from cgraph.ops import Multiply
        >>> Multiply().backward(1.0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        cgraph.errors.InvalidOperationError: Multiply has no backward(upstream): ...
        """
        raise InvalidOperationError(
            f"{type(self).__name__} has no backward(upstream): "
            + (
                "its derivative is pullback(p, upstream, output, *inputs); call that with "
                "cgraph.ops.numeric as p"
                if _overrides(type(self), "pullback")
                else "define it (or pullback(self, p, upstream, output, *inputs)) to "
                "differentiate it"
            )
        )

    def jvp(self, *tangents: Any) -> Any:
        """The output's tangent from one tangent per input, after ``forward`` (the classic form).

        Called after ``forward`` on the same instance, with ``t_i`` shaped like
        input ``i`` or ``None`` (zero); it must not change what ``forward`` saved.
        The base class has none: see :meth:`pushforward` for the rule form.

        Raises
        ------
        InvalidOperationError
            Always, in the base class, naming the operation's class.

        Examples
        --------
        >>> from cgraph.ops import Multiply
        >>> Multiply().jvp(1.0, None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        cgraph.errors.InvalidOperationError: Multiply has no jvp(*tangents): ...
        """
        raise InvalidOperationError(
            f"{type(self).__name__} has no jvp(*tangents): its tangent rule, if it has one, "
            f"is pushforward(p, tangents, output, *inputs)"
        )

    def backward_graph(self, g: Any, upstream: Any, output: Any, *inputs: Any) -> Any:
        """Declare ``backward`` as terms of registered ops (the classic form's symbolic rule).

        Given terms for ``upstream`` = dL/dy, the output ``y`` and the inputs,
        return one gradient per input as ``g.OPNAME(...)`` terms, or None, computing
        what ``backward`` computes: ``(g.mul(upstream, g.cos(x)),)`` for sine.
        Ops in the rule form need none: their pullback runs on terms as it is.

        Raises
        ------
        InvalidOperationError
            Always, in the base class, naming the operation's class.

        Examples
        --------
        >>> from cgraph.ops import Multiply
        >>> from cgraph.ops.terms import Builder, Term
        >>> Multiply().pullback(Builder(), Term.node("u", 1.0), Term.node("y", 6.0),
        ...                     Term.node("a", 2.0), Term.node("b", 3.0))
        (mul(u, b), mul(u, a))
        """
        raise InvalidOperationError(
            f"{type(self).__name__} has no symbolic rule: gradient graphs, Hessians and "
            f"Hessian-vector products need pullback(self, p, upstream, output, *inputs) "
            f"written with the primitives p (or backward_graph(self, g, upstream, output, "
            f"*inputs)); {_modes_it_has(self)}"
        )

    def wants_grad(self, index: int) -> bool:
        """Whether input ``index`` needs a gradient (True when the graph has not said).

        Examples
        --------
        >>> from cgraph.ops import Pow
        >>> Pow().wants_grad(1)
        True
        """
        return not self.needs_input_grad or self.needs_input_grad[index]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    def params(self) -> dict[str, Any]:
        """The op's parameters (what its constructor was given); empty for plain ops.

        Ops with parameters override this, so that summaries and saved graphs show them.

        Examples
        --------
        >>> from cgraph.ops import Sigmoid
        >>> Sigmoid().params()
        {}
        """
        return {}

    def copy(self: _Op) -> _Op:
        """A new instance with the same attributes (parameters, and any saved state).

        The graph calls this for every node declared from an instance, so an
        instance used for two nodes gives each its own state from then on:
        ``forward`` on one node never changes what the other saved.

        Examples
        --------
        >>> from cgraph.ops import Add
        >>> op = Add()
        >>> op.copy() is op
        False
        """
        new = object.__new__(type(self))
        state = getattr(self, "__dict__", None)
        if state:
            new.__dict__.update(state)
        return new


def _arity_of(forward: Callable[..., Any], skip_self: bool = True) -> int | None:
    """Count forward's positional parameters (after self); None when it takes *args."""
    count = 0
    for param in list(inspect.signature(forward).parameters.values())[int(skip_self) :]:
        if param.kind is param.VAR_POSITIONAL:
            return None
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def unbroadcast(grad: Any, shape: tuple[int, ...], node: str = "?") -> Any:
    """Sum a gradient over the axes broadcasting added, so it takes ``shape``.

    Parameters
    ----------
    grad : float or numpy.ndarray
        A gradient in the shape an operation computed.
    shape : tuple of int
        The shape of the input the gradient belongs to; ``()`` for a scalar.
    node : str
        The input's name, for the error message.

    Returns
    -------
    float or numpy.ndarray
        ``grad`` summed down to ``shape`` (a float when ``shape`` is ``()``).

    Raises
    ------
    ShapeError
        If ``grad`` could not have come from broadcasting ``shape``.

    Examples
    --------
    >>> import numpy as np
    >>> unbroadcast(np.ones((2, 3)), (3,))
    array([2., 2., 2.])
    >>> unbroadcast(np.ones((2, 3)), ())
    6.0
    """
    try:
        total = sum_to(grad, shape)
        # A float for a float input, unless the sum is lazy (Dask) or on a device: float()
        # would compute it or copy it to the host, one node at a time.
        return total if shape or is_foreign(total) else float(total)
    except ShapeError:
        raise ShapeError(
            f"gradient for {node!r} has shape {np.shape(grad)}, which does not reduce to the "
            f"input's shape {shape}; an operation's backward returned the wrong shape",
            nodes=[node],
        ) from None


def _overrides(cls: type, method: str) -> bool:
    """Whether ``cls`` defines ``method`` itself or inherits it from a class below Operation."""
    return getattr(cls, method) is not getattr(Operation, method)


def keeps_state(op: Operation) -> bool:
    """Whether ``op`` is a classic one: its ``forward`` saves on ``self`` what ``backward`` reads.

    Such an op's gradients belong to the pass that last ran its ``forward``, so the
    engine checks, before differentiating, that no other pass has run it since.

    Examples
    --------
    >>> from cgraph.ops import Tanh
    >>> class Cube(Operation):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x**3
    ...     def backward(self, upstream):
    ...         return (3 * self.x**2 * upstream,)
    >>> keeps_state(Cube()), keeps_state(Tanh())
    (True, False)
    """
    return not _overrides(type(op), "pullback")


def _modes_it_has(op: Operation) -> str:
    """What an op can still do, for the error saying what it cannot."""
    cls = type(op)
    has = [
        mode
        for mode, present in (
            ("backward", _overrides(cls, "pullback") or _overrides(cls, "backward")),
            ("jvp and jacobian", _overrides(cls, "pushforward") or _overrides(cls, "jvp")),
            (
                "gradient graphs and Hessians",
                getattr(
                    cls,
                    "symbolic_rule",
                    _overrides(cls, "pullback") or _overrides(cls, "backward_graph"),
                ),
            ),
        )
        if present
    ]
    return f"it works in {', '.join(has)}" if has else "it has no derivative rule at all"

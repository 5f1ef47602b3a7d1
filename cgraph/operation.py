"""The Operation contract, the registry of ops by name, and broadcasting's inverse.

An operation maps its inputs to one output (``forward``) and pulls an upstream
gradient back through itself (``backward``). For an output ``y = f(x_1, ..., x_n)``
and the upstream gradient ``u = dL/dy``, ``backward(u)`` returns the vector-Jacobian
products ``u . dy/dx_i``, one per input: the local step of the chain rule. Forward
mode pushes tangents the other way: ``jvp(t_1, ..., t_n)`` returns the
Jacobian-vector product ``sum_i dy/dx_i t_i``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError

__all__ = ["Operation", "OPERATIONS", "operation", "resolve_operation", "unbroadcast"]

#: Every registered operation class, by name and alias: the table tests and docs iterate.
OPERATIONS: dict[str, type[Operation]] = {}


class Operation:
    """Base class of every operation: ``forward`` computes, ``backward`` pulls gradients back.

    Subclass it to define a new operation. ``forward(*inputs)`` returns the
    output. ``backward(upstream)`` returns one gradient per input: for output
    ``y`` and ``upstream = dL/dy``, the ``i``-th gradient is ``dL/dx_i``, i.e.
    ``upstream`` times the Jacobian ``dy/dx_i``. Return gradients in the shape the
    operation computed; the engine sums broadcast gradients back to each input's
    shape. Return ``None`` for an input with no gradient (integer labels). An op
    with one input may return its gradient bare instead of in a 1-tuple. For
    forward mode (``jvp``, ``jacobian``) an op also needs ``jvp(*tangents)``,
    which returns the output's tangent ``sum_i (dy/dx_i) t_i``.

    State that ``forward`` saves for ``backward`` goes on ``self``: every node gets
    its own copy of the instance, so two nodes never share saved values.

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

    Attributes
    ----------
    needs_input_grad : tuple of bool
        Set by the graph when the node is declared: whether each input leads to a
        trainable input. ``backward`` may skip the work for the ones that do not.

    Examples
    --------
    >>> import numpy as np
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
    arity: ClassVar[int | None] = None
    needs_input_grad: tuple[bool, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "arity" not in cls.__dict__:
            cls.arity = _arity_of(cls.forward)
        for key in ((cls.name,) if "name" in cls.__dict__ and cls.name else ()) + tuple(
            cls.__dict__.get("aliases", ())
        ):
            _register(key, cls)

    def forward(self, *inputs: Any) -> Any:
        """Compute the output from the input values.

        Examples
        --------
        >>> from cgraph.ops import Add
        >>> Add().forward(1.0, 2.0)
        3.0
        """
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, upstream: Any) -> Any:
        """Return one gradient per input (or None) for the given upstream gradient.

        Examples
        --------
        >>> from cgraph.ops import Multiply
        >>> op = Multiply()
        >>> op.forward(3.0, 4.0)
        12.0
        >>> op.backward(1.0)
        (4.0, 3.0)
        """
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def jvp(self, *tangents: Any) -> Any:
        """Push input tangents forward: the output's tangent ``sum_i (dy/dx_i) t_i`` (forward mode).

        Called after ``forward`` on the same instance, with one tangent per input:
        ``t_i`` shaped like input ``i``, or ``None`` for an input with no tangent (a
        constant, integer labels), which counts as zero. The engine calls it only
        when at least one tangent is not ``None``, and may call it several times
        after one ``forward``, so it must not change what ``forward`` saved. Return
        the Jacobian-vector product, shaped like the output or broadcastable to it
        (the engine broadcasts it once), or ``None`` when it is zero. For
        ``y = f(x_1, ..., x_n)`` it is the dual of ``backward``: for any ``u``,
        ``sum(u * jvp(t)) == sum_i sum(backward(u)[i] * t_i)``.

        The base class has no tangent rule: an op without one works in reverse
        mode (``backward``) but raises in forward mode (``jvp``, ``jacobian``).

        Raises
        ------
        InvalidOperationError
            Always, in the base class, naming the operation's class.

        Examples
        --------
        >>> from cgraph.ops import Multiply
        >>> op = Multiply()
        >>> op.forward(3.0, 4.0)
        12.0
        >>> op.jvp(1.0, None)  # d(a b) along a: b
        4.0
        >>> op.jvp(1.0, 1.0)   # along a and b together: b + a
        7.0
        """
        raise InvalidOperationError(
            f"{type(self).__name__} has no tangent rule: forward mode (jvp, jacobian) needs "
            f"a method jvp(self, *tangents) returning sum_i (dy/dx_i) t_i (or jvp= in the "
            f"operation decorator); reverse mode (backward) works without it")

    def backward_graph(self, g: Any, upstream: Any, output: Any, *inputs: Any) -> Any:
        """Declare ``backward`` as nodes: the symbolic rule behind gradient graphs and Hessians.

        Given node names (``upstream`` = dL/dy, the output ``y`` and the inputs),
        return one gradient per input as ``g.OPNAME(...)`` terms of registered ops,
        node names, or None (no gradient), computing what ``backward`` computes:
        ``Tanh`` returns ``(g.mul(upstream, g.sub(1.0, g.mul(output, output))),)``.
        Read only parameters and shapes from ``self``, never values, so the rule
        holds at every point. Every built-in op has one; without it an op works in
        ``backward`` and ``jvp`` but not in ``gradient_graph``, ``hessian``, ``hvp``.

        Raises
        ------
        InvalidOperationError
            Always, in the base class, naming the operation's class.

        Examples
        --------
        >>> from cgraph.symbolic import Builder
        >>> from cgraph.ops import Multiply
        >>> Multiply().backward_graph(Builder(), "u", "y", "a", "b")
        (mul(u, b), mul(u, a))
        """
        raise InvalidOperationError(
            f"{type(self).__name__} has no symbolic backward rule: gradient graphs, Hessians "
            f"and Hessian-vector products need a method backward_graph(self, g, upstream, "
            f"output, *inputs) declaring its backward as ops; backward and jvp work without it")

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

    def copy(self) -> Operation:
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
    for param in list(inspect.signature(forward).parameters.values())[int(skip_self):]:
        if param.kind is param.VAR_POSITIONAL:
            return None
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _register(key: str, cls: type[Operation]) -> None:
    existing = OPERATIONS.get(key)
    # Re-running a definition (a notebook cell) replaces it; a different class may not.
    if existing is not None and (existing.__module__, existing.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise InvalidOperationError(
            f"operation name {key!r} is already registered to "
            f"{existing.__module__}.{existing.__qualname__}; choose another name"
        )
    OPERATIONS[key] = cls


def resolve_operation(op: Any, node: str, params: dict[str, Any] | None = None) -> Operation:
    """Turn an op given as a class, an instance or a registered name into a fresh instance.

    Parameters
    ----------
    op : type[Operation] or Operation or str
        The operation as the user gave it.
    node : str
        The name of the node being declared, for error messages.
    params : dict, optional
        Keyword arguments for the op's constructor (with a class or a name only).

    Returns
    -------
    Operation
        An instance owned by that node alone.

    Raises
    ------
    InvalidOperationError
        If ``op`` is none of these, a name that is not registered, or a class
        that does not accept ``params`` (or refuses their values).

    Examples
    --------
    >>> resolve_operation("sigmoid", "s")
    Sigmoid()
    """
    if isinstance(op, str):
        cls = OPERATIONS.get(op)
        if cls is None:
            from cgraph.diagnostics import did_you_mean  # it imports this module

            known = ", ".join(sorted(OPERATIONS))
            hint = did_you_mean(op, OPERATIONS, fallback="")
            raise InvalidOperationError(
                f"node {node!r}: no operation is registered as {op!r}{hint}; known names: "
                f"{known}",
                nodes=[node],
            )
        shown = op
        op = cls
    else:
        shown = getattr(op, "name", None) or getattr(op, "__name__", "")
    if isinstance(op, type) and issubclass(op, Operation):
        _check_parameters(op, shown, node, params or {})
        try:
            return op(**params) if params else op()
        except (TypeError, ValueError) as err:  # ValueError: the op refused a parameter
            raise InvalidOperationError(
                f"node {node!r}: {op.__name__}({', '.join(params or ())}) failed: {err}; "
                f"give it the parameters its constructor takes",
                nodes=[node],
            ) from err
    if isinstance(op, Operation):
        if params:
            raise InvalidOperationError(
                f"node {node!r}: parameters {sorted(params)} were given with an op instance; "
                "give them to the op's constructor, or pass its class or name instead",
                nodes=[node],
            )
        return op.copy()
    raise InvalidOperationError(
        f"node {node!r}: {op!r} is not an operation; pass an Operation subclass, "
        "an instance of one, or a registered name such as 'add'",
        nodes=[node],
    )


def _check_parameters(cls: type[Operation], shown: str, node: str, params: dict[str, Any]) -> None:
    """Refuse, by name, parameters the constructor does not take and required ones not given."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # no signature to read: the constructor itself judges
        return
    kinds = inspect.Parameter
    takes = [p for p in signature.parameters.values()
             if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)]
    names = [p.name for p in takes]
    listed = f"takes parameters {', '.join(names)}" if names else "takes no parameters"
    if not any(p.kind is kinds.VAR_KEYWORD for p in signature.parameters.values()):
        unknown = [key for key in params if key not in names]
        if unknown:
            from cgraph.diagnostics import did_you_mean  # it imports this module

            raise InvalidOperationError(
                f"node {node!r}: {shown} {listed}; got {', '.join(map(str, unknown))}"
                f"{did_you_mean(str(unknown[0]), names, fallback='')}",
                nodes=[node])
    required = [p for p in signature.parameters.values() if p.default is p.empty
                and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)]
    missing = [p.name for p in required if p.kind is kinds.POSITIONAL_ONLY or p.name not in params]
    if missing:
        one = len(missing) == 1
        example = ", ".join(f"{name}=..." for name in missing)
        raise InvalidOperationError(
            f"node {node!r}: {shown} needs the parameter{'' if one else 's'} "
            f"{', '.join(missing)}, which {'was' if one else 'were'} not given ({shown} {listed}); "
            f"give {'it as a keyword' if one else 'them as keywords'}, e.g. {example}",
            nodes=[node])


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
    grad_shape = np.shape(grad)
    if grad_shape == shape:
        return grad
    lead = len(grad_shape) - len(shape)
    if lead < 0 or any(
        g != s and s != 1 for g, s in zip(grad_shape[lead:], shape, strict=True)
    ):
        if not grad_shape:  # a scalar gradient for a whole array: it broadcasts over it
            return np.full(shape, grad)
        raise ShapeError(
            f"gradient for {node!r} has shape {grad_shape}, which does not reduce to the "
            f"input's shape {shape}; an operation's backward returned the wrong shape",
            nodes=[node],
        )
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad_shape[lead + i] != 1
    )
    reduced = np.reshape(np.sum(grad, axis=axes), shape)
    return float(reduced) if shape == () else reduced


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
            self.inputs = inputs
            self.output = fn(*inputs)
            return self.output

        def op_backward(self: Any, upstream: Any) -> Any:
            return grad(upstream, self.output, *self.inputs)

        attrs = {
            "__doc__": fn.__doc__ or f"Operation made from {fn.__qualname__}.",
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,
            "name": name or fn.__name__,
            "arity": _arity_of(fn, skip_self=False),
            "forward": op_forward,
            "backward": op_backward,
        }
        if jvp is not None:
            def op_jvp(self: Any, *tangents: Any) -> Any:
                zeros = (0.0 if tangent is None else tangent for tangent in tangents)
                return jvp(*zeros, self.output, *self.inputs)

            attrs["jvp"] = op_jvp
        if backward_graph is not None:
            def op_backward_graph(self: Any, g: Any, upstream: Any, output: Any,
                                  *inputs: Any) -> Any:
                return backward_graph(g, upstream, output, *inputs)

            attrs["backward_graph"] = op_backward_graph
        return type(fn.__name__, (Operation,), attrs)

    return build if forward is None else build(forward)


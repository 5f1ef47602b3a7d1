"""An op's forward and derivative rule written out as Python statements, for a compiled plan.

Derivative rules are written against a namespace ``p`` of primitives
(:mod:`cgraph.ops.numeric` computes numbers, :class:`cgraph.ops.terms.Builder`
declares nodes). This module is a third interpretation: :class:`Writer` hands
the rule symbols (:class:`Symbol`) instead of values, and every operator or
primitive applied to them becomes one assignment statement. The statements
call the very functions the interpreter calls (``numeric.exp``, the op's own
bound methods) or apply the same Python operator, so the code computes the
same numbers, bit for bit, with the same rounding.

Two things make the code faster than interpreting:

- the statements use local variables where the interpreter loops over lists;
- where a value is known to be a Python float, a primitive is replaced by its
  :mod:`math` form (``numeric.math_forms``): ``math.exp(x)`` instead of
  ``numeric.exp(x)``, ``a / b`` instead of ``numeric.divide(a, b)``. Those
  forms are exactly what the primitive computes on floats, except that they
  raise where the primitive falls back to numpy (an overflow, a division by
  0): the plan then runs the pass interpreted instead;
- where a primitive's float path is a few operators (``numeric.expression_forms``:
  sigmoid, maximum, minimum, relu, step, the comparisons, logical_and and where), it is
  written as that expression, with no Python call at all:
  ``a if a > b or a != a else b`` for ``maximum(a, b)``.

Nothing a user hands in reaches the source: every identifier is one this
module makes (``x0``, ``t3``, ``k0``), and every other object (a constant, a
parameter, an op's method, a node's name) is a *constant*, passed to the code
as a variable and never printed.

Whatever a rule does that only numbers can answer (``if upstream > 0``,
``np.exp(x)`` on a symbol, silencing numpy around values that may be arrays)
raises :class:`UntraceableError`; the plan then calls the op's method as an
object instead.

Examples
--------
>>> from cgraph.ops import Sigmoid
>>> snippet = trace_pullback(Sigmoid(), scalars=(True, True, True))
>>> print("\\n".join(snippet.lines))
{t}2 = ({u} * {y}) * ({k0} - {y})
>>> snippet.results, snippet.constants
(('{t}2',), (1.0,))
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from cgraph.ops import numeric
from cgraph.ops.operation import Operation

__all__ = ["Snippet", "Symbol", "UntraceableError", "Writer", "trace_forward", "trace_pullback"]


class UntraceableError(Exception):
    """The rule did something only a value can answer: the plan calls the op instead."""


class Snippet(NamedTuple):
    """What tracing one forward or rule wrote: statements with slots, to be filled per node.

    The lines name their operands through format fields: ``{x0}``, ``{x1}``... the
    inputs, ``{y}`` the output, ``{u}`` the upstream gradient, ``{t}`` the prefix of
    the node's temporaries and ``{k0}``, ``{k1}``... its constants.

    Attributes
    ----------
    lines : tuple of str
        One assignment statement each, in order.
    results : tuple of (str or None)
        The code of each result: a field, a temporary, or None for no gradient.
    scalars : tuple of bool
        Whether each result is certainly a Python float (given the traced flags).
    constants : tuple
        The objects the ``{k}`` fields stand for.
    """

    lines: tuple[str, ...]
    results: tuple[str | None, ...]
    scalars: tuple[bool, ...]
    constants: tuple[Any, ...]


class Symbol:
    """A value in traced code: its name there, and whether it is certainly a Python float.

    Python operators on symbols write the same operator into the code, so it is
    the same computation for a value of any type. Everything that would need the
    value itself (``bool``, comparisons, attributes, numpy) raises
    :class:`UntraceableError`. A comparison of floats written as its expression
    is certainly a Python bool (``boolean``).
    """

    __slots__ = ("boolean", "code", "scalar", "writer")
    __array_ufunc__ = None  # numpy hands its operators back to ours, and refuses its ufuncs

    def __init__(self, writer: Writer, code: str, scalar: bool, boolean: bool = False) -> None:
        self.writer, self.code, self.scalar, self.boolean = writer, code, scalar, boolean

    def _binary(self, other: Any, operator: str, reflected: bool = False) -> Symbol:
        code, scalar = self.writer.operand(other)
        left, right = (code, self.code) if reflected else (self.code, code)
        # Python's own arithmetic on Python numbers: it raises or gives inf or nan, never warns.
        quiet = self.writer.kind(self) is not None and self.writer.kind(other) is not None
        return self.writer.assign(f"{left} {operator} {right}", self.scalar and scalar, quiet)

    def __add__(self, other: Any) -> Symbol:
        return self._binary(other, "+")

    def __radd__(self, other: Any) -> Symbol:
        return self._binary(other, "+", reflected=True)

    def __sub__(self, other: Any) -> Symbol:
        return self._binary(other, "-")

    def __rsub__(self, other: Any) -> Symbol:
        return self._binary(other, "-", reflected=True)

    def __mul__(self, other: Any) -> Symbol:
        return self._binary(other, "*")

    def __rmul__(self, other: Any) -> Symbol:
        return self._binary(other, "*", reflected=True)

    def __truediv__(self, other: Any) -> Symbol:
        return self._binary(other, "/")

    def __rtruediv__(self, other: Any) -> Symbol:
        return self._binary(other, "/", reflected=True)

    def __matmul__(self, other: Any) -> Symbol:
        return self._binary(other, "@")

    def __rmatmul__(self, other: Any) -> Symbol:
        return self._binary(other, "@", reflected=True)

    def __pow__(self, other: Any) -> Symbol:
        return self._binary(other, "**")._unsure()  # a float to a float power may be complex

    def __rpow__(self, other: Any) -> Symbol:
        return self._binary(other, "**", reflected=True)._unsure()

    def _unsure(self) -> Symbol:
        self.scalar = False
        return self

    def __neg__(self) -> Symbol:
        return self.writer.assign(f"-{self.code}", self.scalar, self.scalar)

    def __pos__(self) -> Symbol:
        return self.writer.assign(f"+{self.code}", self.scalar, self.scalar)

    def __abs__(self) -> Symbol:
        return self.writer.assign(f"abs({self.code})", self.scalar, self.scalar)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise UntraceableError("the rule needs a value, not a symbol")

    __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __array__ = __getitem__ = __contains__ = _refuse
    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        raise UntraceableError(f"the rule reads .{name} of a value")


#: The kinds of constant a primitive's float path tells apart.
_KINDS = {float: "float", bool: "bool", int: "int"}


class Writer:
    """The primitives ``p`` that write code: a rule run with it writes its own statements.

    Examples
    --------
    >>> writer = Writer()
    >>> x = writer.symbol("{x0}", scalar=True)
    >>> y = writer.exp(x) * 2.0
    >>> writer.lines, y.code, y.scalar
    (['{t}0 = {k0}({x0})', '{t}1 = {t}0 * {k1}'], '{t}1', True)
    """

    #: Rules ask: this namespace computes numbers (in code), it declares no nodes.
    symbolic = False

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: list[Any] = []
        self._temporaries = 0  # the statements' targets and the expressions' own (:=)
        self._silenced: list[dict[str, Any]] = []  # the errstate blocks the rule is inside

    def symbol(self, code: str, scalar: bool) -> Symbol:
        """A symbol for an operand the caller names."""
        return Symbol(self, code, scalar)

    def assign(
        self, expression: str, scalar: bool, quiet: bool = False, boolean: bool = False
    ) -> Symbol:
        """Write ``temporary = expression``; the temporary's symbol.

        Inside a rule's ``errstate`` block only ``quiet`` statements may be written:
        Python arithmetic on Python numbers, which raises where numpy would warn
        (the plan then runs the pass interpreted, under the rule's errstate).
        """
        if self._silenced and not quiet:
            raise UntraceableError("the rule silences numpy on values that may be arrays")
        name = self.temporary()
        self.lines.append(f"{name} = {expression}")
        return Symbol(self, name, scalar, boolean)

    def temporary(self) -> str:
        """A new temporary's field: the plan fills ``{t}`` with a prefix of the node's own."""
        self._temporaries += 1
        return f"{{t}}{self._temporaries - 1}"

    def constant(self, value: Any) -> str:
        """The field of a constant: the code receives the object, never its text."""
        for index, known in enumerate(self.constants):
            if known is value:
                return f"{{k{index}}}"
        self.constants.append(value)
        return f"{{k{len(self.constants) - 1}}}"

    def operand(self, value: Any) -> tuple[str, bool]:
        """The code of an operand and whether it is certainly a Python float."""
        if isinstance(value, Symbol):
            if value.writer is not self:
                raise UntraceableError("a symbol of another trace")
            return value.code, value.scalar
        # An int keeps a float a float (2 * x); a bool, numpy scalar or array may not.
        return self.constant(value), type(value) is float or type(value) is int

    def kind(self, value: Any) -> str | None:
        """``"float"`` or ``"bool"`` for a certain Python float or bool, ``"int"``; else None.

        What a primitive's float path asks of its arguments (it takes exact types).
        """
        if isinstance(value, Symbol):
            return "float" if value.scalar else ("bool" if value.boolean else None)
        return _KINDS.get(type(value))

    def apply(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Write a call of a primitive, or its float form where every argument is a float."""
        if not any(isinstance(arg, Symbol) for arg in (*args, *kwargs.values())):
            # Constants only: the same value every pass, computed here as quietly as the rule.
            with numeric.errstate(**(self._silenced[-1] if self._silenced else {})):
                return function(*args, **kwargs)
        form = numeric.expression_forms.get(function)
        if form is not None:
            written = self.expression(function, form, args, kwargs)
            if written is not None:
                return written
        operands = [self.operand(arg) for arg in args]
        codes = [code for code, _ in operands]
        # A math form is the float path: for exact floats only (an int goes to numpy there).
        floats = all(self.kind(arg) == "float" for arg in args)
        if floats and not kwargs and function in numeric.math_forms:
            math_form = numeric.math_forms[function]
            if math_form is None:  # the primitive is this Python operator on floats
                return self.assign(f"{codes[0]} / {codes[1]}", True, quiet=True)
            return self.assign(f"{self.constant(math_form)}({', '.join(codes)})", True, True)
        if kwargs:
            if any(isinstance(value, Symbol) for value in kwargs.values()):
                raise UntraceableError("a symbol passed by keyword")
            codes.append(f"**{self.constant(kwargs)}")  # keywords stay data, never source
        # Keywords are parameters (step's at_zero=0.5): a float one keeps a float a float.
        scalar = (
            all(flag for _, flag in operands)
            and all(type(value) is float for value in kwargs.values())
            and function in numeric.float_closed
        )
        return self.assign(f"{self.constant(function)}({', '.join(codes)})", scalar)

    def expression(
        self,
        function: Callable[..., Any],
        form: numeric.Expression,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Symbol | None:
        """Write a primitive's float path as its expression: its operators, with no call.

        None, writing nothing, where the arguments do not take that path (their
        types are not the expression's ``takes``). Every argument, keywords and
        defaults included, fills the field of its parameter's name. An operand the
        template names twice is read twice: it is a field or a temporary, never an
        expression (``_nested`` counts each mention as a use, so it keeps such a
        temporary a statement).
        """
        try:
            bound = inspect.signature(function).bind(*args, **kwargs)
        except TypeError:
            return None  # the call itself raises the primitive's own error
        bound.apply_defaults()
        if any(
            self.kind(value) != form.takes.get(name, "float")
            for name, value in bound.arguments.items()
        ):
            return None
        fields = {name: self.operand(value)[0] for name, value in bound.arguments.items()}
        fields.update((name, self.constant(value)) for name, value in form.constants.items())
        fields.update((name, self.temporary()) for name in form.temporaries)
        boolean = form.gives == "bool"
        return self.assign(form.template.format_map(fields), not boolean, True, boolean)

    def call(self, op: Operation, *args: Any) -> Any:
        """An op instance applied to values (a linear op's own tangent): its forward, called."""
        return self.apply(op.forward, *args)

    @contextmanager
    def errstate(self, **kwargs: str) -> Iterator[None]:
        """A block in which numpy is silenced: written out where it computes floats only.

        Python arithmetic on floats never warns: where numpy would warn, the
        statements raise, and the plan runs that pass interpreted, under the rule's
        errstate. A statement that may compute on arrays, which would warn in the
        plan but not in the rule, makes the op called as an object instead.
        """
        self._silenced.append(kwargs)
        try:
            yield
        finally:
            self._silenced.pop()

    def __getattr__(self, name: str) -> Any:
        primitive = getattr(numeric, name)  # unknown names raise AttributeError there
        if not callable(primitive):
            return primitive

        def write(*args: Any, **kwargs: Any) -> Any:
            return self.apply(primitive, *args, **kwargs)

        return write


def trace_forward(op: Operation, scalars: tuple[bool, ...]) -> Snippet | None:
    """The op's forward as statements, or None where it must be called as an object.

    Only an op that is ``traced`` (cgraph's own) is written out. A forward is
    written out when it is a primitive of :mod:`cgraph.ops.numeric` itself
    (``forward = staticmethod(numeric.exp)``) or when the op says it is
    made of Python operators only (``inline_forward``); anything else may depend
    on its values' types in ways a symbol cannot show, so it is called.

    Examples
    --------
    >>> from cgraph.ops import Add, Exp, Sigmoid
    >>> trace_forward(Add(), (True, True)).lines
    ('{t}0 = {x0} + {x1}',)
    >>> trace_forward(Exp(), (True,)).constants   # math.exp on a float
    (<built-in function exp>,)
    >>> trace_forward(Sigmoid(), (False,)).scalars
    (False,)
    """
    if not type(op).traced:
        return None
    forward = op.forward
    if inspect.isfunction(forward) and forward.__module__ == numeric.__name__:
        return _trace(lambda writer, inputs: writer.apply(forward, *inputs), scalars)
    if getattr(op, "inline_forward", False):
        return _trace(lambda writer, inputs: forward(*inputs), scalars)
    return None


def trace_pullback(op: Operation, scalars: tuple[bool, ...]) -> Snippet | None:
    """The op's pullback as statements, or None where it must be called as an object.

    ``scalars`` gives, for the upstream gradient, the output and each input in
    turn, whether it is certainly a Python float. Classic ops (a ``backward``
    reading state) are always called.

    Examples
    --------
    >>> from cgraph.ops import Multiply
    >>> snippet = trace_pullback(Multiply(), (True, True, True, True))
    >>> snippet.lines, snippet.results
    (('{t}0 = {u} * {x1}', '{t}1 = {u} * {x0}'), ('{t}0', '{t}1'))
    """
    if not type(op).traced or type(op).pullback is Operation.pullback:
        return None

    def rule(writer: Writer, operands: list[Symbol]) -> Any:
        upstream, output, *inputs = operands
        return op.pullback(writer, upstream, output, *inputs)

    snippet = _trace(rule, scalars, pullback=True)
    if snippet is not None and len(snippet.results) != len(scalars) - 2:
        return None  # the wrong count: the called form raises the engine's error
    return snippet


def _trace(
    run: Callable[[Writer, list[Symbol]], Any], scalars: tuple[bool, ...], pullback: bool = False
) -> Snippet | None:
    writer = Writer()
    if pullback:
        names = ["{u}", "{y}"] + [f"{{x{i}}}" for i in range(len(scalars) - 2)]
    else:
        names = [f"{{x{i}}}" for i in range(len(scalars))]
    operands = [writer.symbol(name, flag) for name, flag in zip(names, scalars, strict=True)]
    try:
        out = run(writer, operands)
    except Exception:  # anything a symbol could not answer: call the op as an object
        return None
    results = out if pullback else (out,)
    if type(results) is not tuple:
        return None
    codes: list[str | None] = []
    flags: list[bool] = []
    for result in results:
        if result is None:
            codes.append(None)
            flags.append(False)
        elif isinstance(result, Symbol):
            if result.writer is not writer:
                return None
            codes.append(result.code)
            flags.append(result.scalar)
        else:  # a constant result: the same object every pass, as the interpreter returns
            code, flag = writer.operand(result)
            codes.append(code)
            flags.append(flag)
    lines = _nested(writer.lines, codes)
    return Snippet(tuple(lines), tuple(codes), tuple(flags), tuple(writer.constants))


_TEMPORARY = re.compile(r"\{t\}\d+(?!\d)")


def _nested(lines: list[str], results: list[str | None]) -> list[str]:
    """The statements with each temporary used once written into its one use.

    Fewer statements compile faster and run faster; the arithmetic is the same
    (operands of pure operations, evaluated in an order that cannot change a
    result). A temporary a result names stays a statement. Nesting never goes
    deeper than one rule's statements.
    """
    uses: dict[str, int] = {}
    for line in lines:
        for name in _TEMPORARY.findall(line.split(" = ", 1)[1]):
            uses[name] = uses.get(name, 0) + 1
    kept = {code for code in results if code is not None}
    written: dict[str, str] = {}
    out = []
    for line in lines:
        target, expression = line.split(" = ", 1)
        expression = _TEMPORARY.sub(lambda m: written.pop(m.group(0), m.group(0)), expression)
        if uses.get(target) == 1 and target not in kept:
            written[target] = f"({expression})"
        else:
            out.append(f"{target} = {expression}")
    return out


def cache_key(op: Operation) -> Hashable | None:
    """What a trace of ``op`` depends on, when it can be told by value; else None.

    Ops of one class with equal parameters (their attributes) write the same
    code, so a graph of ten thousand additions is traced once.

    Examples
    --------
    >>> from cgraph.ops import Add, Sum
    >>> cache_key(Add()) == cache_key(Add()), cache_key(Sum(axis=0)) == cache_key(Sum(axis=1))
    (True, False)
    """
    if type(op).__module__.startswith("cgraph."):
        # cgraph's ops keep only their parameters and needs_input_grad; reading __dict__
        # would give each of a million parameterless ops a dictionary of its own.
        state = {**op.params(), "needs_input_grad": op.needs_input_grad}
    else:
        state = getattr(op, "__dict__", {})
    items = []
    for key, value in state.items():
        if not _plain(value):
            return None
        items.append((key, type(value), value))
    return (type(op), tuple(items))


def _plain(value: Any) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    return type(value) is tuple and all(_plain(item) for item in value)

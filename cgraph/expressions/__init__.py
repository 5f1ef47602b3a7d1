"""Expressions to named nodes: ``cg.add_expression("f", "(x + sigmoid(y)) / x")``.

The text is parsed by Python's :mod:`ast` module and nothing in it is ever
evaluated: the tree is read against a whitelist (numbers, names of existing
nodes, backquoted names, ``+ - * / ** @``, unary minus, comparisons, subscripts
with literal or node indices, ``.T`` and calls of registered ops with literal
keyword arguments) and walked with an explicit stack, post-order and left to
right, so a deep expression never meets a recursion limit in cgraph's code.
The whole expression is checked and planned before the first node is declared,
so a refused expression adds nothing to the graph.

Naming: the last operation is called ``name``; every other one is called
``name/<op>`` after its registered op name (``f/add``, ``f/sigmoid``,
``f/pow``), then ``name/<op>_2``, ``name/<op>_3``... in the order the walk meets
them; numbers become constants ``name/const``, ``name/const_2``... Within one
expression an identical sub-expression (the same op, keyword arguments and
inputs) is one node, and the same number is one constant.

Subscripts are read by :mod:`cgraph.expressions.indexing`, backquoted names
(```layer1/W```) by :mod:`cgraph.expressions.quoting`.
"""

from __future__ import annotations

import ast
import difflib
import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from cgraph.engine.checks import arity_problem, check_new_name
from cgraph.engine.nodes import OperationNode
from cgraph.errors import (
    ArityError,
    CycleError,
    DuplicateNodeError,
    ExpressionError,
    GraphError,
    InvalidOperationError,
    UnknownNodeError,
)
from cgraph.expressions.chains import parse_chain
from cgraph.expressions.indexing import IndexParts, data_index, index_parts
from cgraph.expressions.quoting import QuoteError, joined_name, quote, read_as, unquote
from cgraph.messages import did_you_mean
from cgraph.ops.operation import Operation
from cgraph.ops.registry import OPERATIONS
from cgraph.ops.resolve import resolve_operation
from cgraph.shapes import shape_after, shapes_of
from cgraph.subgraphs import ancestors

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["MAX_LENGTH", "add_expression"]

#: The longest text accepted, in characters.
MAX_LENGTH = 100_000

_BINARY = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
    ast.MatMult: "matmul",
}
_COMPARISON = {
    ast.Lt: "less",
    ast.LtE: "less_equal",
    ast.Gt: "greater",
    ast.GtE: "greater_equal",
    ast.Eq: "equal",
}
_OPERATOR_TEXT = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
# What the refusal calls each construct; anything else is refused by its ast class name.
_REFUSED = {
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.NamedExpr: "assignment",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "conditional expression",
    ast.Starred: "starred",
    ast.JoinedStr: "f-string",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slice",
}
_ALLOWED = (
    "numbers, names of existing nodes (`in backquotes` when not identifiers), "
    "+ - * / ** @, unary minus, comparisons < <= > >= ==, indexing x[0], W[:, 1:3], "
    "x[i], x.T and calls of registered ops such as sigmoid(x), where(x > 0, x, 0) "
    "or sum(x, axis=0)"
)
_NUMBER = (int, float)


def add_expression(
    cg: GraphCore, name: str, text: str, subgraphs: Mapping[str, GraphCore] | None = None
) -> str:
    """Declare the nodes of a maths expression, one named node per operation.

    The text is parsed with Python's ``ast`` module and never evaluated. It may
    use numbers, names of existing nodes, ``+ - * / ** @``, unary minus and calls
    of registered ops by name (``sigmoid(y)``, ``maximum(a, b)``), with literal
    keyword arguments for their parameters (``sum(x, axis=0)``). The last
    operation is the node ``name``; each other one is ``name/<op>`` (``f/add``,
    ``f/sigmoid``, ``f/pow``), then ``name/<op>_2``, ``_3``... in post-order, left
    to right. Numbers become constants ``name/const``, ``name/const_2``... (one
    per distinct value; ``-2`` is the constant -2). ``a ** b`` is ``pow``, ``-a``
    is ``neg``. An identical sub-expression used twice is one node.

    Also:

    - ``x < y``, ``<=``, ``>``, ``>=``, ``==`` are the mask ops ``less``,
      ``less_equal``, ``greater``, ``greater_equal``, ``equal``; a chain
      ``0 < x < 1`` is ``logical_and`` of its links. ``where(x > 0, x, 0)``
      selects.
    - ``x.T`` is ``transpose`` (all axes reversed, as numpy's); no other
      attribute is allowed.
    - ``x[0]``, ``x[-1]``, ``x[0:7]``, ``x[::2]``, ``W[:, 1]``, ``x[..., None]``,
      ``x[[0, 2]]``: an index of literals is one ``index`` op, with numpy's
      meaning. One part may be an expression, usually an integer node:
      ``x[i]``, ``W[:, i]``, ``x[n - 1]``, by ``take`` (see
      :mod:`cgraph.expressions.indexing`); the index gets no gradient.
    - ``cell(h, x)`` uses the graph ``subgraphs["cell"]`` as a subgraph (see
      :func:`cgraph.subgraphs.add_subgraph`): its inputs, in the order it declared
      them, are bound to the arguments, and the call's value is its one sink. Its
      nodes are named ``name/cell/{inner}`` (``name/cell_2/...`` for a second call);
      a call that is the whole expression gives its sink the name ``name``.
    - A node name that is not an identifier is written in backquotes:
      ```layer1/W` @ x``, ```grad/f/x```; a backquote inside is doubled.
      Unquoted, ``t0/x`` is ``t0`` divided by ``x``.

    Parameters
    ----------
    cg : ComputationalGraph
        The graph to declare the nodes in.
    name : str
        The name of the expression's result; a new node name.
    text : str
        The expression, at most ``cgraph.expressions.MAX_LENGTH`` characters.
    subgraphs : mapping of str to ComputationalGraph, optional
        Graphs the expression may call by name, as subgraphs; a name here
        shadows a registered op of the same name.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    ExpressionError
        For bad syntax, anything that is not maths (an attribute other than
        ``.T``, strings, lambdas, comprehensions, ``!=``, ``and``, assignments...),
        an index that is not literals and one expression, a keyword value that is
        not a literal, a text too long or too deeply nested, a bad backquoted name,
        or a node name written unquoted whose ``/`` or ``-`` Python reads as an
        operator (the message says how to quote it).
    UnknownNodeError
        If a name is not a node of the graph.
    InvalidOperationError
        If a function is not a registered op, or the op refuses its keywords.
    ArityError
        If an op is called with the wrong number of inputs.
    DuplicateNodeError
        If ``name``, or a name it would give an intermediate, is already a node.
    CycleError
        If the expression uses ``name`` itself.

    Every message quotes the offending piece of text and its column. A refused
    expression adds nothing to the graph.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=-4.0)
    >>> cg.add_expression("f", "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)")
    'f'
    >>> list(cg.operations)
    ['f/sigmoid', 'f/add', 'f/sigmoid_2', 'f/add_2', 'f/pow', 'f/add_3', 'f']
    >>> cg.forward("f"), cg.backward("f")
    (0.41345423252018193, {'x': 0.5348320870757595, 'y': 0.342460382923052})

    Indexing, transposes, masks and backquoted names:

    >>> import numpy as np
    >>> cg.add_input("layer1/W", np.arange(6.0).reshape(2, 3))
    >>> cg.add_input("i", 1, trainable=False)
    >>> cg.add_expression("g", "sum(where(`layer1/W`.T[i] > 3, `layer1/W`[:, ::2], 0))")
    'g'
    >>> cg.forward("g"), cg.backward("g")["layer1/W"]
    (7.0, array([[0., 0., 1.],
           [0., 0., 1.]]))
    """
    check_new_name(cg.nodes, name, f"expression {name!r}: ")
    planner = _Planner(cg, name, text, subgraphs or {})
    planner.plan()
    # Everything was checked: from here on, declaring cannot be refused.
    for step_name, op, inputs in planner.steps:
        if isinstance(op, Operation):
            cg.add_computation_node(step_name, op, inputs)
        else:
            cg.add_constant(step_name, op)
    return name


class _Planner:
    """Checks an expression and lists the nodes to declare, without touching the graph."""

    def __init__(
        self, cg: GraphCore, name: str, text: Any, subgraphs: Mapping[str, GraphCore]
    ) -> None:
        self.cg, self.name, self.text, self.subgraphs = cg, name, text, subgraphs
        # (name, Operation instance or constant value, input names), in declaration order.
        self.steps: list[tuple[str, Any, tuple[str, ...]]] = []
        self.keys: dict[Any, str] = {}  # a sub-expression's canonical key -> its node
        self.counts: dict[str, int] = {}
        self.planned: set[str] = set()
        self.root: ast.expr | None = None
        self.lines: list[bytes] | None = None
        self.quoted: dict[tuple[int, int], str] = {}  # (line, byte column) -> backquoted name
        self.parsed = ""  # the text as parsed: backquoted names replaced by placeholders
        self.subscripts: dict[ast.Subscript, IndexParts] = {}
        self.shapes: dict[str, tuple[int, ...] | None] = {}  # for indices by nodes
        self.shaped = 0  # how many steps have their shape in self.shapes

    # -- parsing --------------------------------------------------------------------------

    def _fail(self, cls: type[GraphError], why: str, nodes: tuple[str, ...] = ()) -> NoReturn:
        raise cls(f"expression {self.name!r}: {why}", nodes=[self.name, *nodes])

    def parse(self) -> ast.expr:
        text = self.text
        if type(text) is not str:
            self._fail(ExpressionError, f"the text must be a string, not {type(text).__name__}")
        if len(text) > MAX_LENGTH:
            self._fail(
                ExpressionError,
                f"the text has {len(text):,} characters, more than "
                f"the {MAX_LENGTH:,} allowed; split it into several expressions",
            )
        # Leading blanks would be an 'unexpected indent'; positions are shifted back in _where.
        self.source = text.lstrip()
        self.prefix = text[: len(text) - len(self.source)]
        self.ascii = self.source.isascii()
        if not self.source:
            self._fail(ExpressionError, "the text is empty; give a formula such as 'x * y'")
        try:
            unquoted = unquote(self.source)
        except QuoteError as err:
            self._fail(
                ExpressionError,
                f"the backquote {self._where(err.lineno, err.column + 1)}: {err.why}",
            )
        # The parser sees placeholders of the same UTF-8 length: its positions are the text's.
        parsed, self.quoted = unquoted.text, unquoted.names
        self.parsed = parsed
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. a SyntaxWarning for "\d"
                body: ast.expr | None
                try:
                    body = ast.parse(parsed, mode="eval").body
                except RecursionError:  # x + x + ... + x: Python builds its tree recursively
                    body = parse_chain(parsed)
        except (RecursionError, MemoryError):
            self._too_deep()
        except SyntaxError as err:
            if "too many nested" in str(err.msg):
                self._too_deep()
            # Python gives no column (0) when the text ends too soon.
            where = (
                self._where(
                    err.lineno or 1, self._column_as_written(parsed, err.lineno or 1, err.offset)
                )
                if err.offset
                else "at the end of the text"
            )
            self._fail(
                ExpressionError,
                f"invalid syntax {where} ({err.msg}); allowed are {_ALLOWED}{self._quoting_hint()}",
            )
        except ValueError as err:  # null bytes, on Python before 3.12
            self._fail(ExpressionError, f"invalid text ({err})")
        if body is None:
            self._too_deep()
        return body

    def _too_deep(self) -> NoReturn:
        self._fail(
            ExpressionError,
            "the expression is too deeply nested for Python's parser; "
            "split it into several expressions, each naming its result",
        )

    # -- walking --------------------------------------------------------------------------

    def plan(self) -> None:
        root = self.parse()
        while (
            isinstance(root, ast.UnaryOp)
            and isinstance(root.op, ast.UAdd)
            and not (_number(root.operand))
        ):
            root = root.operand  # unary plus changes nothing
        if isinstance(root, ast.Name):
            self._fail(
                ExpressionError,
                f"{self._piece(root)} is just a name; an expression must "
                "compute something (use the node itself)",
            )
        self.root = root
        # Post-order with an explicit stack: (node, True) is met again after its children.
        stack: list[tuple[ast.expr, bool]] = [(root, False)]
        results: list[str] = []
        while stack:
            node, leaving = stack.pop()
            if leaving:
                self._leave(node, results)
                continue
            children = self._enter(node, results)
            if children is not None:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(children))

    def _enter(self, node: ast.expr, results: list[str]) -> list[ast.expr] | None:
        """Check a node on the way down; a leaf pushes its node name and returns None."""
        if isinstance(node, ast.Name):
            results.append(self._name(node))
            return None
        if _number(node):
            results.append(self._constant(node, _number_value(node)))
            return None
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                self._fail(
                    ExpressionError,
                    f"operator {_OPERATOR_TEXT.get(type(node.op))!r} in "
                    f"{self._piece(node)} is not supported; allowed are {_ALLOWED}",
                )
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                self._fail(
                    ExpressionError,
                    f"operator {_OPERATOR_TEXT.get(type(node.op))!r} in "
                    f"{self._piece(node)} is not supported; allowed are {_ALLOWED}",
                )
            return [node.operand]
        if isinstance(node, ast.Call):
            return self._enter_call(node)
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARISON:
                    self._refuse_comparison(node, op)
            return [node.left, *node.comparators]
        if isinstance(node, ast.Subscript):
            parts = self.subscripts[node] = index_parts(node, self._refuse_index)
            return [node.value] if parts.data is None else [node.value, parts.data]
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                self._refuse_attribute(node)
            return [node.value]
        if isinstance(node, ast.Constant):
            kind = "string" if isinstance(node.value, (str, bytes)) else type(node.value).__name__
            self._fail(ExpressionError, f"{kind} {self._piece(node)} is not a number")
        what = _REFUSED.get(type(node), type(node).__name__)
        hint = ""
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            hint = "; for masks write logical_and(a, b)"
        self._fail(
            ExpressionError,
            f"{what} {self._piece(node)} is not allowed{hint}; allowed are {_ALLOWED}",
        )

    def _refuse_comparison(self, node: ast.Compare, op: ast.cmpop) -> NoReturn:
        text = _OPERATOR_TEXT.get(type(op), type(op).__name__)
        if isinstance(op, ast.NotEq):
            why = (
                "no not_equal op is registered; write where(a == b, when_equal, "
                "when_not) with the branches swapped"
            )
        else:
            why = f"'{text}' compares objects, not values; compare with < <= > >= =="
        self._fail(ExpressionError, f"comparison '{text}' in {self._piece(node)}: {why}")

    def _refuse_index(self, node: ast.AST, why: str) -> NoReturn:
        self._fail(ExpressionError, f"index {self._piece(node)}: {why}")

    def _refuse_attribute(self, node: ast.Attribute) -> NoReturn:
        piece = ast.get_source_segment(self.source, node) or node.attr
        attr = node.attr if piece.endswith(node.attr) else piece.rsplit(".", 1)[-1].strip()
        self._fail(
            ExpressionError,
            f"attribute {attr!r} in {self._piece(node)} is not "
            "allowed: the only attribute is .T, the transpose (x.T); call ops by name "
            f"instead (sigmoid(x), sum(x, axis=0)){self._joined_hint(node)}",
        )

    def _enter_call(self, node: ast.Call) -> list[ast.expr]:
        func = node.func
        if isinstance(func, ast.Name) and self._callee(func) in self.subgraphs:
            return self._enter_subgraph(node, self._callee(func))
        if not isinstance(func, ast.Name) or self._quoted(func) is not None:
            self._fail(
                ExpressionError,
                f"call {self._piece(node)}: only registered ops can "
                "be called, by their bare name (sigmoid(x), sum(x, axis=0))",
            )
        if func.id not in OPERATIONS:
            close = difflib.get_close_matches(func.id, list(OPERATIONS), n=3)
            hint = (
                f"; did you mean {', '.join(map(repr, close))}?"
                if close
                else ("; cgraph.OPERATIONS lists the registered names")
            )
            self._fail(
                InvalidOperationError,
                f"unknown function {func.id!r} {self._at(func)}: "
                f"no operation is registered under that name{hint}",
            )
        for keyword in node.keywords:
            if keyword.arg is None:
                self._fail(
                    ExpressionError,
                    f"'**' in {self._piece(node)} is not allowed; "
                    "give keyword arguments one by one, as literals",
                )
            if self._quoted(keyword) is not None:
                self._fail(
                    ExpressionError,
                    f"keyword {self._piece(keyword)} is quoted; a "
                    "keyword is an op's parameter, written bare (axis=0)",
                )
        return list(node.args)

    def _leave(self, node: ast.expr, results: list[str]) -> None:
        """Plan a node once its children are planned (their names are on ``results``)."""
        if isinstance(node, ast.BinOp):
            right = results.pop()
            left = results.pop()
            results.append(self._operation(node, _BINARY[type(node.op)], (left, right), {}))
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):  # +x leaves x's name on results as it is
                results.append(self._operation(node, "neg", (results.pop(),), {}))
        elif isinstance(node, ast.Compare):
            results.append(self._comparison(node, results))
        elif isinstance(node, ast.Subscript):
            parts = self.subscripts[node]
            index = results.pop() if parts.data is not None else None
            value = results.pop()
            if index is None:
                results.append(self._operation(node, "index", (value,), {"index": parts.literal()}))
            else:
                results.append(self._data_index(node, value, index, parts))
        elif isinstance(node, ast.Attribute):  # .T: _enter refused any other
            results.append(self._operation(node, "transpose", (results.pop(),), {}))
        else:
            assert isinstance(node, ast.Call)
            assert isinstance(node.func, ast.Name)
            count = len(node.args)
            inputs = tuple(results[len(results) - count :])
            del results[len(results) - count :]
            callee = self._callee(node.func)
            if callee in self.subgraphs:
                results.append(self._subgraph_call(node, callee, inputs))
            else:
                params = self._keywords(node)
                results.append(self._operation(node, node.func.id, inputs, params))

    # -- subgraphs ------------------------------------------------------------------------

    def _callee(self, func: ast.Name) -> str:
        """The name a call calls: backquoted or bare."""
        quoted = self._quoted(func)
        return func.id if quoted is None else quoted

    def _enter_subgraph(self, node: ast.Call, callee: str) -> list[ast.expr]:
        graph = self.subgraphs[callee]
        if node.keywords:
            self._fail(
                ExpressionError,
                f"{self._piece(node)}: a subgraph takes its inputs by position, in the order "
                f"it declared them ({', '.join(graph.inputs)}), not by keyword",
            )
        if len(node.args) != len(graph.inputs):
            self._fail(
                ArityError,
                f"{self._piece(node)}: subgraph {callee!r} takes {len(graph.inputs)} "
                f"input(s) ({', '.join(graph.inputs)}), in that order; it was given "
                f"{len(node.args)}",
            )
        sinks = [name for name, degree in graph.graph.out_degree() if degree == 0]
        if len(sinks) != 1:
            self._fail(
                ExpressionError,
                f"{self._piece(node)}: subgraph {callee!r} has {len(sinks)} sinks "
                f"({', '.join(sinks[:5])}); a call's value is its one sink: use "
                "add_subgraph to choose among several outputs",
            )
        return list(node.args)

    def _subgraph_call(self, node: ast.Call, callee: str, args: tuple[str, ...]) -> str:
        """Plan a copy of the subgraph's nodes (found again for an identical call)."""
        key = ("subgraph", callee, args)
        existing = self.keys.get(key)
        if existing is not None:
            return existing
        graph = self.subgraphs[callee]
        (sink,) = [name for name, degree in graph.graph.out_degree() if degree == 0]
        use = self._new_name(callee)
        names = dict(zip(graph.inputs, args, strict=True))
        for inner in ancestors(graph, [sink]):
            if inner.name in names:
                continue
            last = inner.name == sink and node is self.root
            outer = names[inner.name] = self.name if last else f"{use}/{inner.name}"
            if outer in self.cg.nodes:
                self._fail(
                    DuplicateNodeError,
                    f"the node {outer!r} it would declare for {self._piece(node)} already "
                    "exists; give the expression another name",
                    nodes=(outer,),
                )
            self.planned.add(outer)
            if isinstance(inner, OperationNode):
                parents = tuple(names[parent.name] for parent in inner.parents)
                self.steps.append((outer, inner.op.copy(), parents))
            else:  # a constant of the subgraph (its inputs are all bound): a copy of its own
                value = inner.output
                self.steps.append(
                    (outer, np.array(value) if isinstance(value, np.ndarray) else value, ())
                )
        self.keys[key] = names[sink]
        return names[sink]

    def _comparison(self, node: ast.Compare, results: list[str]) -> str:
        """a < b as less(a, b); a chain a < b <= c as logical_and(less(a, b), less_equal(b, c))."""
        count = len(node.ops)
        names = results[len(results) - count - 1 :]
        del results[len(results) - count - 1 :]
        masks = [
            self._operation(
                node, _COMPARISON[type(op)], (names[k], names[k + 1]), {}, final=count == 1
            )
            for k, op in enumerate(node.ops)
        ]
        result = masks[0]
        for k, mask in enumerate(masks[1:], start=2):
            result = self._operation(node, "logical_and", (result, mask), {}, final=k == count)
        return result

    def _data_index(self, node: ast.Subscript, value: str, index: str, parts: IndexParts) -> str:
        """x[i] for an expression i: index the literal parts, reshape i, take, drop the axis."""
        assert parts.data is not None
        shape = self._shape_of(value)
        if shape is None:
            self._fail(
                ExpressionError,
                f"{self._piece(node)}: indexing by "
                f"{self._piece(parts.data)} needs the number of axes of "
                f"{self._piece(node.value)} when it is declared, and cgraph cannot work "
                "it out from the inputs' shapes (an op it has no shape rule for); "
                "index a node whose shape it knows, or call take(x, index, axis=...)",
            )
        index_shape = self._shape_of(index)
        try:
            plan = data_index(parts, len(shape), None if index_shape is None else len(index_shape))
        except ValueError as err:
            self._fail(ExpressionError, f"{self._piece(node)} (an array of shape {shape}): {err}")
        if plan.before is not None:
            value = self._operation(node, "index", (value,), {"index": plan.before}, final=False)
        if plan.shape is not None:
            index = self._operation(node, "reshape", (index,), {"shape": plan.shape}, final=False)
        taken = self._operation(
            node, "take", (value, index), {"axis": plan.axis}, final=plan.after is None
        )
        if plan.after is None:
            return taken
        return self._operation(node, "index", (taken,), {"index": plan.after})

    def _shape_of(self, name: str) -> tuple[int, ...] | None:
        """The shape ``name`` will have, from the inputs' and constants' shapes; None if unknown."""
        if name not in self.shapes and name in self.planned:
            for step_name, op, inputs in self.steps[self.shaped :]:  # in order: parents first
                self.shapes[step_name] = (
                    shape_after(op, [self._shape_of(parent) for parent in inputs])
                    if isinstance(op, Operation)
                    else ()
                )
            self.shaped = len(self.steps)
        elif name not in self.shapes:
            self.shapes.update(shapes_of(self.cg, name))
        return self.shapes[name]

    # -- leaves ---------------------------------------------------------------------------

    def _name(self, node: ast.Name) -> str:
        quoted = self._quoted(node)
        written = self._written(node) if quoted is None else quoted
        if written in self.cg.nodes:
            return written
        if written == self.name:
            self._fail(
                CycleError,
                f"{written!r} {self._at(node)} is the node being declared; "
                "an expression cannot use its own result",
            )
        if quoted is None:
            joined = self._joined(node)
            if joined is not None:
                self._fail(
                    ExpressionError,
                    f"unknown name {written!r} {self._at(node)}: {self._joined_why(joined)}",
                    nodes=(written,),
                )
            if written != node.id and node.id in self.cg.nodes:
                self._fail(
                    UnknownNodeError,
                    f"unknown name {written!r} {self._at(node)}: "
                    f"Python reads it as {node.id!r} (it folds letters to their NFKC "
                    f"form), which is another node; write {node.id!r} to use that node",
                    nodes=(written,),
                )
        shown = f"{written!r} (in backquotes)" if quoted is not None else repr(written)
        self._fail(
            UnknownNodeError,
            f"unknown name {shown} {self._at(node)}{did_you_mean(written, self.cg.nodes)}",
            nodes=(written,),
        )

    def _quoted(self, node: ast.expr | ast.keyword) -> str | None:
        """The backquoted name ``node`` stands for, or None when it was written bare."""
        if not self.quoted:
            return None
        return self.quoted.get((node.lineno, node.col_offset))

    # -- names written unquoted that Python cut in pieces: t0/x is t0 divided by x ----------

    def _joined(self, node: ast.expr) -> str | None:
        """The node name that the text around ``node`` spells, if it is not an identifier."""
        line = _split_lines(self.source)[node.lineno - 1]
        start = self._column(node.lineno, node.col_offset)
        end = self._column(node.end_lineno or node.lineno, node.end_col_offset or 0)
        return joined_name(line, start, end, self.cg.nodes)

    def _joined_why(self, name: str) -> str:
        return (
            f"{name!r} is a node, but here, without backquotes, {read_as(name)}; write "
            f"{quote(name)} to use that node"
        )

    def _joined_hint(self, node: ast.expr) -> str:
        joined = self._joined(node)
        return "" if joined is None else f"; {self._joined_why(joined)}"

    def _quoting_hint(self) -> str:
        """For a syntax error: a node name that is not an identifier, written unquoted."""
        lines = _split_lines(self.parsed)  # quoted names are placeholders there: not found
        for name in self.cg.nodes:
            if name.isidentifier() or name not in self.parsed:
                continue
            for line_number, line in enumerate(lines, start=1):
                start = line.find(name)
                while start != -1:
                    if joined_name(line, start, start + len(name), (name,)) == name:
                        where = self._where(
                            line_number,
                            self._column_as_written(self.parsed, line_number, start + 1),
                        )
                        return (
                            f"; {name!r} {where} is a node, but without backquotes "
                            f"{read_as(name)}; write {quote(name)} to use it"
                        )
                    start = line.find(name, start + 1)
        return ""

    def _written(self, node: ast.Name) -> str:
        """The name as written: Python's parser NFKC-normalises names (a black-letter H is H)."""
        if self.ascii:  # NFKC changes no ASCII name
            return node.id
        if self.lines is None:  # UTF-8 lines, once: ast positions count bytes
            self.lines = [line.encode() for line in re.split(r"\r\n|\r|\n", self.source)]
        line = self.lines[node.lineno - 1]
        return line[node.col_offset : node.end_col_offset].decode()

    def _constant(self, node: ast.expr, value: int | float) -> str:
        try:
            value = float(value)
        except OverflowError:
            self._fail(ExpressionError, f"number {self._piece(node)} is too large for a float")
        key = ("constant", repr(value))  # repr keeps 0.0 and -0.0 apart
        return self.keys.get(key) or self._add(key, node, "const", value, ())

    def _keywords(self, node: ast.Call) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for keyword in node.keywords:
            assert keyword.arg is not None
            if keyword.arg in params:
                self._fail(
                    ExpressionError,
                    f"keyword {keyword.arg!r} is repeated {self._at(keyword.value)}",
                )
            params[keyword.arg] = self._literal(keyword.arg, keyword.value)
        return params

    def _literal(self, arg: str, node: ast.expr) -> Any:
        """A keyword's value: a number, string, True/False/None, or a flat tuple or list."""
        if isinstance(node, (ast.Tuple, ast.List)):
            items = [self._scalar(arg, item) for item in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        return self._scalar(arg, node)

    def _scalar(self, arg: str, node: ast.expr) -> Any:
        if _number(node):
            return _number_value(node)
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, (bool, str))
        ):
            return node.value
        self._fail(
            ExpressionError,
            f"keyword {arg}= takes a literal (a number, a string, True, "
            f"False, None, or a tuple of them), not {self._piece(node)}",
        )

    # -- planning nodes -------------------------------------------------------------------

    def _operation(
        self,
        node: ast.expr,
        op_name: str,
        inputs: tuple[str, ...],
        params: dict[str, Any],
        final: bool = True,
    ) -> str:
        """Plan an op (or find the same one planned); ``final``: the last of ``node``'s ops."""
        cls = OPERATIONS[op_name]
        # Identical sub-expressions: the same op class, literal keywords and inputs.
        key = (cls, inputs, repr(sorted(params.items())))
        existing = self.keys.get(key)
        if existing is not None:
            return existing
        try:
            op = resolve_operation(cls, self.name, params)
        except InvalidOperationError as err:
            given = ", ".join(f"{key}={value!r}" for key, value in params.items())
            self._fail(
                InvalidOperationError,
                f"{self._piece(node)}: {cls.__name__}({given}) "
                f"was refused ({err.__cause__ or err}); give the op the keyword "
                "arguments its constructor takes",
            )
        problem = arity_problem(op, len(inputs), op_name)
        if problem is not None:
            self._fail(ArityError, f"{problem} in {self._piece(node)}")
        return self._add(key, node, op.name or op_name, op, inputs, final)

    def _add(
        self,
        key: Any,
        node: ast.expr,
        base: str,
        op: Any,
        inputs: tuple[str, ...],
        final: bool = True,
    ) -> str:
        name = self.name if node is self.root and final else self._new_name(base)
        if name in self.cg.nodes:
            self._fail(
                DuplicateNodeError,
                f"the node {name!r} it would declare for "
                f"{self._piece(node)} already exists; give the "
                "expression another name",
                nodes=(name,),
            )
        self.keys[key] = name
        self.planned.add(name)
        self.steps.append((name, op, inputs))
        return name

    def _new_name(self, base: str) -> str:
        while True:
            count = self.counts[base] = self.counts.get(base, 0) + 1
            name = f"{self.name}/{base}" if count == 1 else f"{self.name}/{base}_{count}"
            if name not in self.planned and name != self.name:
                return name

    # -- messages -------------------------------------------------------------------------

    def _piece(self, node: ast.AST) -> str:
        """The node's text, quoted (shortened past 60 characters), and where it is."""
        piece = ast.get_source_segment(self.source, node) or type(node).__name__
        piece = piece if len(piece) <= 60 else piece[:57] + "..."
        return f"{piece!r} {self._at(node)}"

    def _at(self, node: ast.AST) -> str:
        lineno, offset = node.lineno, node.col_offset  # type: ignore[attr-defined]
        return self._where(lineno, self._column(lineno, offset) + 1)

    def _column(self, lineno: int, offset: int) -> int:
        """The 0-based character column of a byte offset (what ast gives) in the text."""
        line = _split_lines(self.source)[lineno - 1]
        return len(line.encode()[:offset].decode(errors="ignore"))

    def _column_as_written(self, parsed: str, lineno: int, column: int) -> int:
        """A 1-based column in the parsed text (placeholders) as a column in the text."""
        if not self.quoted:
            return column
        size = len(_split_lines(parsed)[lineno - 1][: column - 1].encode())
        return self._column(lineno, size) + 1

    def _where(self, lineno: int, column: int) -> str:
        """'at column 5' (1-based, in the text as given), with the line when not the first."""
        lines = re.split(r"\r\n|\r|\n", self.prefix)
        if lineno == 1:
            column += len(lines[-1])
        lineno += len(lines) - 1
        return f"at column {column}" if lineno == 1 else f"at line {lineno}, column {column}"


def _split_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def _number(node: ast.AST) -> bool:
    """A real number literal, or a signed one (-2 is a constant, not neg of 2)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in _NUMBER


def _number_value(node: ast.AST) -> int | float:
    if isinstance(node, ast.UnaryOp):
        value = _number_value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    # _is_number checked it: an int or float constant
    assert isinstance(node, ast.Constant)
    assert isinstance(node.value, (int, float))
    return node.value

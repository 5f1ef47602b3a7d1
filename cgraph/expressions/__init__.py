"""Expressions to named nodes: ``cg.add_expression("f", "(x + sigmoid(y)) / x")``.

The text is parsed by Python's :mod:`ast` module and nothing in it is ever
evaluated: the tree is read against a whitelist (numbers, names of existing
nodes, ``+ - * / ** @``, unary minus and calls of registered ops with literal
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
"""

from __future__ import annotations

import ast
import difflib
import re
import warnings
from typing import TYPE_CHECKING, Any, NoReturn

from cgraph.engine.checks import arity_problem, check_new_name
from cgraph.errors import (
    ArityError,
    CycleError,
    DuplicateNodeError,
    ExpressionError,
    InvalidOperationError,
    UnknownNodeError,
)
from cgraph.expressions.chains import parse_chain
from cgraph.messages import did_you_mean
from cgraph.ops.operation import Operation
from cgraph.ops.registry import OPERATIONS
from cgraph.ops.resolve import resolve_operation

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["MAX_LENGTH", "add_expression"]

#: The longest text accepted, in characters.
MAX_LENGTH = 100_000

_BINARY = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
    ast.MatMult: "matmul",
}
_OPERATOR_TEXT = {
    ast.Mod: "%", ast.FloorDiv: "//", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~",
}
# What the refusal calls each construct; anything else is refused by its ast class name.
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.NamedExpr: "assignment", ast.Compare: "comparison",
    ast.BoolOp: "'and'/'or'", ast.IfExp: "conditional expression", ast.Starred: "starred",
    ast.JoinedStr: "f-string", ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict",
    ast.Set: "set", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Slice: "slice",
}
_ALLOWED = ("numbers, names of existing nodes, + - * / ** @, unary minus and calls of "
            "registered ops such as sigmoid(x) or sum(x, axis=0)")
_NUMBER = (int, float)


def add_expression(cg: GraphCore, name: str, text: str) -> str:
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

    Parameters
    ----------
    cg : ComputationalGraph
        The graph to declare the nodes in.
    name : str
        The name of the expression's result; a new node name.
    text : str
        The expression, at most ``cgraph.expressions.MAX_LENGTH`` characters.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    ExpressionError
        For bad syntax, anything that is not maths (attribute access, subscripts,
        strings, lambdas, comprehensions, comparisons, assignments...), a keyword
        value that is not a literal, a text too long or too deeply nested.
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
    """
    check_new_name(cg.nodes, name, f"expression {name!r}: ")
    planner = _Planner(cg, name, text)
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

    def __init__(self, cg: GraphCore, name: str, text: Any) -> None:
        self.cg, self.name, self.text = cg, name, text
        # (name, Operation instance or constant value, input names), in declaration order.
        self.steps: list[tuple[str, Any, tuple[str, ...]]] = []
        self.keys: dict[Any, str] = {}  # a sub-expression's canonical key -> its node
        self.counts: dict[str, int] = {}
        self.planned: set[str] = set()
        self.root: ast.expr | None = None
        self.lines: list[bytes] | None = None

    # -- parsing --------------------------------------------------------------------------

    def _fail(self, cls: type[Exception], why: str, nodes: tuple[str, ...] = ()) -> NoReturn:
        raise cls(f"expression {self.name!r}: {why}", nodes=[self.name, *nodes])

    def parse(self) -> ast.expr:
        text = self.text
        if type(text) is not str:
            self._fail(ExpressionError, f"the text must be a string, not {type(text).__name__}")
        if len(text) > MAX_LENGTH:
            self._fail(ExpressionError, f"the text has {len(text):,} characters, more than "
                       f"the {MAX_LENGTH:,} allowed; split it into several expressions")
        # Leading blanks would be an 'unexpected indent'; positions are shifted back in _where.
        self.source = text.lstrip()
        self.prefix = text[:len(text) - len(self.source)]
        self.ascii = self.source.isascii()
        if not self.source:
            self._fail(ExpressionError, "the text is empty; give a formula such as 'x * y'")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. a SyntaxWarning for "\d"
                try:
                    body = ast.parse(self.source, mode="eval").body
                except RecursionError:  # x + x + ... + x: Python builds its tree recursively
                    body = parse_chain(self.source)
        except (RecursionError, MemoryError):
            self._too_deep()
        except SyntaxError as err:
            if "too many nested" in str(err.msg):
                self._too_deep()
            # Python gives no column (0) when the text ends too soon.
            where = self._where(err.lineno or 1, err.offset) if err.offset else (
                "at the end of the text")
            self._fail(ExpressionError, f"invalid syntax {where} ({err.msg}); "
                       f"allowed are {_ALLOWED}")
        except ValueError as err:  # null bytes, on Python before 3.12
            self._fail(ExpressionError, f"invalid text ({err})")
        if body is None:
            self._too_deep()
        return body

    def _too_deep(self) -> NoReturn:
        self._fail(ExpressionError, "the expression is too deeply nested for Python's parser; "
                   "split it into several expressions, each naming its result")

    # -- walking --------------------------------------------------------------------------

    def plan(self) -> None:
        root = self.parse()
        while isinstance(root, ast.UnaryOp) and isinstance(root.op, ast.UAdd) and not (
            _number(root.operand)
        ):
            root = root.operand  # unary plus changes nothing
        if isinstance(root, ast.Name):
            self._fail(ExpressionError, f"{self._piece(root)} is just a name; an expression must "
                       "compute something (use the node itself)")
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
                self._fail(ExpressionError, f"operator {_OPERATOR_TEXT.get(type(node.op))!r} in "
                           f"{self._piece(node)} is not supported; allowed are {_ALLOWED}")
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                self._fail(ExpressionError, f"operator {_OPERATOR_TEXT.get(type(node.op))!r} in "
                           f"{self._piece(node)} is not supported; allowed are {_ALLOWED}")
            return [node.operand]
        if isinstance(node, ast.Call):
            return self._enter_call(node)
        if isinstance(node, ast.Constant):
            kind = "string" if isinstance(node.value, (str, bytes)) else type(node.value).__name__
            self._fail(ExpressionError, f"{kind} {self._piece(node)} is not a number")
        what = _REFUSED.get(type(node), type(node).__name__)
        self._fail(ExpressionError, f"{what} {self._piece(node)} is not allowed; "
                   f"allowed are {_ALLOWED}")

    def _enter_call(self, node: ast.Call) -> list[ast.expr]:
        func = node.func
        if not isinstance(func, ast.Name):
            self._fail(ExpressionError, f"call {self._piece(node)}: only registered ops can "
                       "be called, by their bare name (sigmoid(x), sum(x, axis=0))")
        if func.id not in OPERATIONS:
            close = difflib.get_close_matches(func.id, list(OPERATIONS), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else (
                "; cgraph.OPERATIONS lists the registered names")
            self._fail(InvalidOperationError, f"unknown function {func.id!r} {self._at(func)}: "
                       f"no operation is registered under that name{hint}")
        for keyword in node.keywords:
            if keyword.arg is None:
                self._fail(ExpressionError, f"'**' in {self._piece(node)} is not allowed; "
                           "give keyword arguments one by one, as literals")
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
        else:
            assert isinstance(node, ast.Call)
            assert isinstance(node.func, ast.Name)
            count = len(node.args)
            inputs = tuple(results[len(results) - count:])
            del results[len(results) - count:]
            params = self._keywords(node)
            results.append(self._operation(node, node.func.id, inputs, params))

    # -- leaves ---------------------------------------------------------------------------

    def _name(self, node: ast.Name) -> str:
        written = self._written(node)
        if written in self.cg.nodes:
            return written
        if written == self.name:
            self._fail(CycleError, f"{written!r} {self._at(node)} is the node being declared; "
                       "an expression cannot use its own result")
        if written != node.id and node.id in self.cg.nodes:
            self._fail(UnknownNodeError, f"unknown name {written!r} {self._at(node)}: Python "
                       f"reads it as {node.id!r} (it folds letters to their NFKC form), which "
                       f"is another node; write {node.id!r} to use that node", nodes=(written,))
        self._fail(UnknownNodeError, f"unknown name {written!r} {self._at(node)}"
                   f"{did_you_mean(written, self.cg.nodes)}", nodes=(written,))

    def _written(self, node: ast.Name) -> str:
        """The name as written: Python's parser NFKC-normalises names (a black-letter H is H)."""
        if self.ascii:  # NFKC changes no ASCII name
            return node.id
        if self.lines is None:  # UTF-8 lines, once: ast positions count bytes
            self.lines = [line.encode() for line in re.split(r"\r\n|\r|\n", self.source)]
        line = self.lines[node.lineno - 1]
        return line[node.col_offset:node.end_col_offset].decode()  # type: ignore[misc]

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
                self._fail(ExpressionError, f"keyword {keyword.arg!r} is repeated "
                           f"{self._at(keyword.value)}")
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
        self._fail(ExpressionError, f"keyword {arg}= takes a literal (a number, a string, True, "
                   f"False, None, or a tuple of them), not {self._piece(node)}")

    # -- planning nodes -------------------------------------------------------------------

    def _operation(
        self, node: ast.expr, op_name: str, inputs: tuple[str, ...], params: dict[str, Any]
    ) -> str:
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
            self._fail(InvalidOperationError, f"{self._piece(node)}: {cls.__name__}({given}) "
                       f"was refused ({err.__cause__ or err}); give the op the keyword "
                       "arguments its constructor takes")
        problem = arity_problem(op, len(inputs), op_name)
        if problem is not None:
            self._fail(ArityError, f"{problem} in {self._piece(node)}")
        return self._add(key, node, cls.name or op_name, op, inputs)

    def _add(self, key: Any, node: ast.expr, base: str, op: Any, inputs: tuple[str, ...]) -> str:
        name = self.name if node is self.root else self._new_name(base)
        if name in self.cg.nodes:
            self._fail(DuplicateNodeError, f"the node {name!r} it would declare for "
                       f"{self._piece(node)} already exists; give the "
                       "expression another name", nodes=(name,))
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
        # col_offset counts UTF-8 bytes; the message counts characters.
        line = re.split(r"\r\n|\r|\n", self.source)[lineno - 1]
        return self._where(lineno, len(line.encode()[:offset].decode(errors="ignore")) + 1)

    def _where(self, lineno: int, column: int) -> str:
        """'at column 5' (1-based, in the text as given), with the line when not the first."""
        lines = re.split(r"\r\n|\r|\n", self.prefix)
        if lineno == 1:
            column += len(lines[-1])
        lineno += len(lines) - 1
        return f"at column {column}" if lineno == 1 else f"at line {lineno}, column {column}"


def _number(node: ast.AST) -> bool:
    """A real number literal, or a signed one (-2 is a constant, not neg of 2)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in _NUMBER


def _number_value(node: ast.AST) -> int | float:
    if isinstance(node, ast.UnaryOp):
        value = node.operand.value  # type: ignore[attr-defined]
        return -value if isinstance(node.op, ast.USub) else value
    return node.value  # type: ignore[attr-defined, no-any-return]

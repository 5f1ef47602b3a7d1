"""cg.add_expression and cgraph.from_expression: formulas to named nodes, never evaluated."""

from __future__ import annotations

import builtins
import inspect

import networkx as nx
import numpy as np
import pytest
from graph_state import assert_same_state, snapshot
from test_deep_graphs import shallow_recursion_limit

import cgraph
import cgraph.expressions
from cgraph import ComputationalGraph, Constant, Input
from cgraph.ops import Add, Div, Pow, Sigmoid

FORMULA = "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)"


def labelled(cg: ComputationalGraph) -> nx.DiGraph:
    """The structure with what makes a node itself: inputs by name, constants by value,
    operations by class and parameters; each edge carries the argument positions it fills."""
    graph = nx.DiGraph()
    for name, node in cg.nodes.items():
        if isinstance(node, Input):
            label = ("input", name)
        elif isinstance(node, Constant):
            label = ("constant", repr(np.asarray(node.output).tolist()))
        else:
            label = (type(node.op).__name__, repr(node.op.params()))
        graph.add_node(name, label=label)
    for name, node in cg.operations.items():
        for position, parent in enumerate(node.input_names):
            if graph.has_edge(parent, name):
                graph.edges[parent, name]["positions"] += (position,)
            else:
                graph.add_edge(parent, name, positions=(position,))
    return graph


def assert_same_graph(one: ComputationalGraph, other: ComputationalGraph, root: str) -> None:
    """Same structure (labelled isomorphism), same values and gradients for every input."""
    assert nx.is_isomorphic(
        labelled(one),
        labelled(other),
        node_match=lambda a, b: a["label"] == b["label"],
        edge_match=lambda a, b: a["positions"] == b["positions"],
    )
    np.testing.assert_allclose(one.forward(root), other.forward(root), rtol=1e-15, atol=0)
    grads, expected = one.backward(root), other.backward(root)
    assert grads.keys() == expected.keys()
    for name in grads:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-15, atol=1e-300)


def graph_with(**inputs) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**inputs)
    return cg


# --------------------------------------------------------------------------------------
# The seed's f(x, y)
# --------------------------------------------------------------------------------------


def test_formula_gives_api_numbers():
    cg = graph_with(x=2.0, y=-4.0)
    assert cg.add_expression("f", FORMULA) == "f"
    assert cg.forward("f") == 0.41345423252018193
    assert cg.backward("f") == {"x": 0.5348320870757595, "y": 0.342460382923052}


def test_formula_matches_the_classic_graph_node_for_node(classic):
    cg = graph_with(x=2.0, y=-4.0)
    cg.add_expression("f", FORMULA)
    # The classic graph squares with Square; the formula's ** 2 is pow of a constant 2.
    ops = [type(node.op).__name__ for node in cg.operations.values()]
    classic_ops = [type(node.op).__name__ for node in classic.operations.values()]
    assert ops == [name.replace("Square", "Pow") for name in classic_ops]
    classic.forward("f")
    classic.backward("f")
    cg.forward("f")
    cg.backward("f")
    renamed = dict(zip(classic.operations, cg.operations, strict=True))
    for old, new in renamed.items():  # every intermediate has the same value and gradient
        assert cg.get_value(new) == classic.get_value(old)
        assert cg.get_gradient(new) == classic.get_gradient(old)


def test_formula_builds_the_hand_written_graph():
    by_hand = graph_with(x=2.0, y=-4.0)
    by_hand.add_constant("two", 2.0)
    for name, op, inputs in [
        ("sigy", Sigmoid, ("y",)),
        ("num", Add, ("x", "sigy")),
        ("sigx", Sigmoid, ("x",)),
        ("xpy", Add, ("x", "y")),
        ("sq", Pow, ("xpy", "two")),
        ("denom", Add, ("sigx", "sq")),
        ("f", Div, ("num", "denom")),
    ]:
        by_hand.add_computation_node(name, op, inputs)
    cg = graph_with(x=2.0, y=-4.0)
    cg.add_expression("f", FORMULA)
    assert_same_graph(cg, by_hand, "f")


# --------------------------------------------------------------------------------------
# More formulas against hand-written declarations
# --------------------------------------------------------------------------------------


def _declare(cg: ComputationalGraph, steps) -> None:
    for step in steps:
        if step[0] == "const":
            cg.add_constant(step[1], step[2])
        else:
            name, op, inputs, *params = step
            cg.add_computation_node(name, op, inputs, **(params[0] if params else {}))


RNG = np.random.default_rng(8)
FORMULAS = {
    "products and sines": (
        "x * y + sin(x)",
        {"x": 0.7, "y": -1.3},
        [("a", "mul", ("x", "y")), ("b", "sin", ("x",)), ("f", "add", ("a", "b"))],
    ),
    "unary minus, constants, exp": (
        "-x * exp(-y) / (1 + x**2)",
        {"x": 0.7, "y": -1.3},
        [
            ("nx", "neg", ("x",)),
            ("ny", "neg", ("y",)),
            ("e", "exp", ("ny",)),
            ("p", "mul", ("nx", "e")),
            ("const", "one", 1.0),
            ("const", "two", 2.0),
            ("sq", "pow", ("x", "two")),
            ("d", "add", ("one", "sq")),
            ("f", "div", ("p", "d")),
        ],
    ),
    "matmul and keyword reductions": (
        "sum(w @ v, axis=0) - mean(m, axis=1, keepdims=True) * 2.5e-1",
        {"w": RNG.normal(size=(3, 4)), "v": RNG.normal(size=(4, 2)), "m": RNG.normal(size=(2, 5))},
        [
            ("wv", "matmul", ("w", "v")),
            ("s", "sum", ("wv",), {"axis": 0}),
            ("mm", "mean", ("m",), {"axis": 1, "keepdims": True}),
            ("const", "q", 0.25),
            ("t", "mul", ("mm", "q")),
            ("f", "sub", ("s", "t")),
        ],
    ),
    "maximum, relu, tanh": (
        "maximum(relu(a - b), tanh(a * b)) ** 3",
        {"a": RNG.normal(size=5), "b": RNG.normal(size=5)},
        [
            ("d", "sub", ("a", "b")),
            ("r", "relu", ("d",)),
            ("p", "mul", ("a", "b")),
            ("t", "tanh", ("p",)),
            ("m", "maximum", ("r", "t")),
            ("const", "three", 3.0),
            ("f", "pow", ("m", "three")),
        ],
    ),
    "softmax and a loss with a string keyword": (
        "mse(softmax(z, axis=-1), t, reduction='sum') / -4",
        {"z": RNG.normal(size=(3, 4)), "t": RNG.normal(size=(3, 4))},
        [
            ("s", "softmax", ("z",), {"axis": -1}),
            ("l", "mse", ("s", "t"), {"reduction": "sum"}),
            ("const", "c", -4.0),
            ("f", "div", ("l", "c")),
        ],
    ),
}


@pytest.mark.parametrize("key", FORMULAS)
def test_formula_builds_the_same_graph_as_declared_by_hand(key):
    text, inputs, steps = FORMULAS[key]
    cg = graph_with(**inputs)
    cg.add_expression("f", text)
    by_hand = graph_with(**inputs)
    _declare(by_hand, steps)
    assert_same_graph(cg, by_hand, "f")


# --------------------------------------------------------------------------------------
# Names and shared sub-expressions
# --------------------------------------------------------------------------------------


def test_names_are_numbered_in_post_order_and_stable():
    names = []
    for _ in range(2):
        cg = graph_with(x=1.0, y=2.0)
        cg.add_expression("g", "exp(x + 1) * exp(y + 1.0) + 3")
        names.append(list(cg))
    assert (
        names[0]
        == names[1]
        == ["x", "y", "g/const", "g/add", "g/exp", "g/add_2", "g/exp_2", "g/mul", "g/const_2", "g"]
    )
    assert cg.operations["g/add"].input_names == ("x", "g/const")
    assert cg.operations["g/add_2"].input_names == ("y", "g/const")  # 1 and 1.0: one constant


def test_a_sub_expression_used_twice_is_one_node_whose_gradient_is_the_sum():
    cg = graph_with(x=0.5, y=1.5)
    cg.add_expression("f", "sin(x + y) * (x + y)")
    assert list(cg.operations) == ["f/add", "f/sin", "f"]
    assert sorted(cg.graph.successors("f/add")) == ["f", "f/sin"]
    cg.forward("f")
    grads = cg.backward("f")
    s = 2.0
    assert cg.get_gradient("f/add") == pytest.approx(np.cos(s) * s + np.sin(s), rel=1e-15)
    assert grads["x"] == grads["y"] == cg.get_gradient("f/add")


def test_sharing_needs_the_same_op_params_and_input_order():
    cg = graph_with(m=np.ones((2, 3)), x=1.0, y=2.0)
    cg.add_expression(
        "f",
        "sum(sum(m, axis=0)) + sum(sum(m, axis=1)) + sum(sum(m, axis=0))"
        " + (x - y) + (y - x) + (x - y) + multiply(x, y) + x * y",
    )
    assert [name for name in cg.operations if name.startswith("f/sum")] == [
        "f/sum",
        "f/sum_2",
        "f/sum_3",
        "f/sum_4",
    ]
    assert [name for name in cg.operations if name.startswith("f/sub")] == ["f/sub", "f/sub_2"]
    assert [name for name in cg.operations if name.startswith("f/mul")] == ["f/mul"]


def test_the_last_node_is_name_and_a_bare_number_is_a_constant():
    cg = graph_with(x=1.0)
    cg.add_expression("half", "5e-1")
    cg.add_expression("neg", "-x")
    cg.add_expression("plus", "+(x * x)")
    assert cg.constants["half"].output == 0.5
    assert type(cg.operations["neg"].op).__name__ == "Neg"
    assert cg.operations["plus"].input_names == ("x", "x")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x * 3", 3.0),
        ("x * 3.5", 3.5),
        ("x * 1e3", 1000.0),
        ("x * 2.5E-2", 0.025),
        ("x * -2", -2.0),
        ("x * 0x10", 16.0),
        ("x * 1_000", 1000.0),
        ("x * -0.0", -0.0),
    ],
)
def test_numbers_become_float_constants(text, value):
    cg = graph_with(x=1.0)
    cg.add_expression("f", text)
    (constant,) = cg.constants.values()
    assert constant.name == "f/const"
    assert type(constant.output) is float
    assert repr(constant.output) == repr(value)


def test_matmul_and_unary_minus_on_arrays():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4))
    cg = cgraph.from_expression("-(a @ b) @ c", a=a, b=b, c=np.ones(4))
    np.testing.assert_allclose(cg.forward(), -(a @ b) @ np.ones(4), rtol=1e-15)
    np.testing.assert_allclose(cg.backward()["a"], -np.ones((2, 1)) * b.sum(axis=1), rtol=1e-15)


def test_from_expression_declares_inputs_in_order_and_constants():
    cg = cgraph.from_expression("w * x + b", name="y", constants={"b": 0.5}, x=3.0, w=2.0)
    assert list(cg.inputs) == ["x", "w"]
    assert list(cg.constants) == ["b"]
    assert cg.forward("y") == 6.5
    assert cg.backward("y") == {"x": 2.0, "w": 3.0}


# --------------------------------------------------------------------------------------
# Refusals: the right error, the piece and its column, and nothing added
# --------------------------------------------------------------------------------------

REFUSED = [
    ("__import__('os')", cgraph.InvalidOperationError, "'__import__' at column 1"),
    (
        "x.__class__",
        cgraph.ExpressionError,
        "attribute '__class__' in 'x.__class__' at column 1 "
        "is not allowed: the only attribute is .T",
    ),
    ("x.T.__class__", cgraph.ExpressionError, "attribute '__class__' in 'x.T.__class__'"),
    ("().__class__.__bases__", cgraph.ExpressionError, "'().__class__.__bases__' at column 1"),
    ("open('f')", cgraph.InvalidOperationError, "'open' at column 1"),
    ("lambda: 1", cgraph.ExpressionError, "lambda 'lambda: 1' at column 1"),
    ("x + (lambda: 1)", cgraph.ExpressionError, "lambda 'lambda: 1' at column 6"),
    ("[x for x in y]", cgraph.ExpressionError, "comprehension '[x for x in y]' at column 1"),
    ("x if y else z", cgraph.ExpressionError, "conditional expression 'x if y else z' at col"),
    ("x * (z := 1)", cgraph.ExpressionError, "assignment 'z := 1' at column 6"),
    ("x[0.5] + y", cgraph.ExpressionError, "index '0.5' at column 3: an index must be a whole"),
    ("x['a']", cgraph.ExpressionError, "index \"'a'\" at column 3: a str cannot index"),
    (
        "x[0:y]",
        cgraph.ExpressionError,
        "index 'y' at column 5: a slice's start, stop and step must be whole-number literals",
    ),
    ("x[::0]", cgraph.ExpressionError, "a slice's step cannot be zero"),
    ("x[..., ...]", cgraph.ExpressionError, "only one '...'"),
    ("x[x > 0]", cgraph.ExpressionError, "index 'x > 0' at column 3: indexing by a mask"),
    ("x[y, y]", cgraph.ExpressionError, "index 'y' at column 6: only one part of an index"),
    (
        "x[y]",
        cgraph.ExpressionError,
        "'x[y]' at column 1 (an array of shape ()): 1 indices for an array of 0 axes",
    ),
    (
        "x[(y, 1),]",
        cgraph.ExpressionError,
        "index '(y, 1)' at column 3: an index part cannot be a tuple",
    ),
    ('x + "a"', cgraph.ExpressionError, "string '\"a\"' at column 5"),
    ('f"{x}"', cgraph.ExpressionError, "f-string 'f\"{x}\"' at column 1"),
    ("x != y", cgraph.ExpressionError, "comparison '!=' in 'x != y' at column 1: no not_equal"),
    ("0 < x is y", cgraph.ExpressionError, "comparison 'is' in '0 < x is y' at column 1"),
    ("x in y", cgraph.ExpressionError, "comparison 'in'"),
    (
        "`x",
        cgraph.ExpressionError,
        "the backquote at column 1: it opens a quoted name that is not closed on its line",
    ),
    ("x * ``", cgraph.ExpressionError, "the backquote at column 5: empty backquotes name no node"),
    ("x`y`", cgraph.ExpressionError, "the backquote at column 2: the quoted name `y` touches 'x'"),
    ("`sigmoid`(x)", cgraph.ExpressionError, "call '`sigmoid`(x)' at column 1: only registered"),
    ("sum(x, `axis`=0)", cgraph.ExpressionError, "keyword '`axis`=0' at column 8 is quoted"),
    ("`z` + x", cgraph.UnknownNodeError, "unknown name 'z' (in backquotes) at column 1"),
    ("`x.__class__` * x", cgraph.UnknownNodeError, "unknown name 'x.__class__' (in backquotes)"),
    ("`__import__('os')`", cgraph.ExpressionError, "is just a name"),
    (
        "x and y",
        cgraph.ExpressionError,
        "'x and y' at column 1 is not allowed; for masks write logical_and(a, b)",
    ),
    ("*x", cgraph.ExpressionError, "invalid syntax"),
    ("sigmoid(*x)", cgraph.ExpressionError, "starred '*x' at column 9"),
    ("print(x)", cgraph.InvalidOperationError, "'print' at column 1"),
    ("eval('1')", cgraph.InvalidOperationError, "'eval' at column 1"),
    ("x % y", cgraph.ExpressionError, "operator '%' in 'x % y' at column 1"),
    ("x + (y,)", cgraph.ExpressionError, "tuple '(y,)' at column 5"),
    ("x * True", cgraph.ExpressionError, "'True' at column 5 is not a number"),
    ("x * 2j", cgraph.ExpressionError, "'2j' at column 5 is not a number"),
    ("x +", cgraph.ExpressionError, "invalid syntax"),
    ("x + (y", cgraph.ExpressionError, "invalid syntax at column 5"),
    (
        "sigmoid(x, y)",
        cgraph.ArityError,
        "sigmoid takes 1 input(s) but was given 2 in 'sigmoid(x, y)' at column 1",
    ),
    ("x + foo(x)", cgraph.InvalidOperationError, "unknown function 'foo' at column 5"),
    ("x + sigmod(y)", cgraph.InvalidOperationError, "did you mean 'sigmoid'"),
    ("x.sigmoid()", cgraph.ExpressionError, "'x.sigmoid()' at column 1"),
    ("x + z", cgraph.UnknownNodeError, "unknown name 'z' at column 5"),
    ("sum(x, foo=1)", cgraph.InvalidOperationError, "'sum(x, foo=1)' at column 1: Sum(foo=1)"),
    ("sum(x, axis=y)", cgraph.ExpressionError, "keyword axis= takes a literal"),
    ("sum(x, axis=0, axis=1)", cgraph.ExpressionError, "keyword 'axis' is repeated"),
    ("sum(x, **k)", cgraph.ExpressionError, "'**'"),
    ("x", cgraph.ExpressionError, "'x' at column 1 is just a name"),
    ("   \n  x * é", cgraph.UnknownNodeError, "unknown name 'é' at line 2, column 7"),
    ("", cgraph.ExpressionError, "the text is empty"),
    ("x" * 100_001, cgraph.ExpressionError, "100,001 characters"),
    ("(" * 10_000 + "x" + ")" * 10_000, cgraph.ExpressionError, "too deeply nested"),
    ("-" * 10_000 + "x", cgraph.ExpressionError, "too deeply nested"),
    ("sigmoid(" * 300 + "x" + ")" * 300, cgraph.ExpressionError, "too deeply nested"),
]


def evaluated_graph() -> ComputationalGraph:
    cg = graph_with(x=2.0, y=-4.0)
    cg.add_expression("g", "x * y")
    cg.forward("g")
    cg.backward("g")
    return cg


@pytest.fixture(scope="module")
def warmed_up():
    """Everything the refusal test does, once, before anything is patched.

    What runs for the first time in a process may run code through exec: networkx
    compiles its dispatch wrappers when the first graph is made, and importlib
    executes a module imported lazily. Neither reads the expression; without this,
    whichever refusal came first in a process (under pytest-xdist, any of them)
    would see "something was evaluated". Each refusal still runs, patched, in its
    own test.
    """
    for text, error, _ in REFUSED:
        cg = evaluated_graph()
        before = snapshot(cg)
        with shallow_recursion_limit(), pytest.raises(error):
            cg.add_expression("f", text)
        assert_same_state(before, snapshot(cg))


@pytest.fixture
def no_evaluation(monkeypatch, warmed_up):
    """Record every import and refuse eval, exec, open and print while expressions are read."""
    imported = []
    real_import = builtins.__import__

    def recording_import(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("something was evaluated")

    monkeypatch.setattr(builtins, "__import__", recording_import)
    for name in ("eval", "exec", "open", "print"):  # not compile: ast.parse calls it
        monkeypatch.setattr(builtins, name, refuse)
    return imported


@pytest.mark.parametrize(("text", "error", "message"), REFUSED, ids=lambda v: repr(v)[:40])
def test_refused_expressions_add_nothing_and_evaluate_nothing(text, error, message, no_evaluation):
    cg = evaluated_graph()
    before = snapshot(cg)
    with shallow_recursion_limit(), pytest.raises(error) as info:
        cg.add_expression("f", text)
    assert message in str(info.value)
    assert str(info.value).startswith("expression 'f': ")
    assert info.value.nodes[0] == "f"
    assert_same_state(before, snapshot(cg))
    assert "os" not in no_evaluation


def test_the_module_never_evaluates():
    source = "".join(
        inspect.getsource(module)
        for module in (
            cgraph.expressions,
            cgraph.expressions.chains,
            cgraph.expressions.indexing,
            cgraph.expressions.quoting,
        )
    )
    for call in ("eval(", "exec(", "compile(", "__import__", "getattr("):
        assert call not in source.replace("literal_eval(", "")


def test_unknown_name_error_names_it_and_is_a_key_error():
    cg = graph_with(alpha=1.0, beta=2.0)
    with pytest.raises(KeyError) as info:
        cg.add_expression("f", "sigmoid(beta) * alpah")
    assert isinstance(info.value, cgraph.UnknownNodeError)
    assert info.value.nodes == ("f", "alpah")
    assert "unknown name 'alpah' at column 17; did you mean 'alpha'?" in str(info.value)


def test_names_already_taken_are_refused_and_nothing_is_added():
    cg = graph_with(x=1.0, y=2.0)
    cg.add_constant("f/add_2", 1.0)  # what the second addition would be called
    before = snapshot(cg)
    with pytest.raises(cgraph.DuplicateNodeError, match="'x' already exists"):
        cg.add_expression("x", "y + 1")
    taken = r"the node 'f/add_2' it would declare for 'x \+ 1' at column 12 already exists"
    with pytest.raises(cgraph.DuplicateNodeError, match=taken):
        cg.add_expression("f", "(x + y) * (x + 1)")
    with pytest.raises(cgraph.CycleError, match="'f' at column 5 is the node being declared"):
        cg.add_expression("f", "x + f")
    with pytest.raises(cgraph.InvalidValueError):
        cg.add_expression("", "x + y")
    assert_same_state(before, snapshot(cg))


def test_a_text_that_is_not_a_string_is_refused():
    with pytest.raises(cgraph.ExpressionError, match="must be a string, not int"):
        graph_with(x=1.0).add_expression("f", 3)


def test_a_refused_op_parameter_names_the_piece():
    cg = graph_with(z=np.zeros((2, 3)))
    cg.add_input("labels", np.array([0, 2]), trainable=False)
    with pytest.raises(cgraph.InvalidOperationError, match="reduction must be 'mean'") as info:
        cg.add_expression("f", "2 * cross_entropy(z, labels, reduction='all')")
    assert "\"cross_entropy(z, labels, reduction='all')\" at column 5" in str(info.value)
    cg.add_expression("f", "2 * cross_entropy(z, labels, reduction='sum')")
    assert cg.forward("f") == pytest.approx(4 * np.log(3), rel=1e-15)


# --------------------------------------------------------------------------------------
# Long and deep expressions: no recursion limit in cgraph
# --------------------------------------------------------------------------------------


def test_a_ten_thousand_term_sum_works_under_a_low_recursion_limit():
    text = " + ".join(["x"] * 10_000)
    with shallow_recursion_limit():
        cg = cgraph.from_expression(text, x=1.5)
        value, grads = cg.forward("f"), cg.backward("f")
    assert len(cg.operations) == 9_999
    assert value == 15_000.0
    assert grads == {"x": 10_000.0}


def test_long_mixed_chains_keep_python_precedence_and_columns():
    terms = [f"{i} * x * y" if i % 2 else f"x / {i + 1}" for i in range(3000)]
    text = "(" + " - ".join(terms) + ")"
    with shallow_recursion_limit():
        cg = cgraph.from_expression(text, x=1.5, y=2.0)
        value = cg.forward("f")
    x, y = 1.5, 2.0
    expected = x / 1
    for i in range(1, 3000):  # left to right, as Python reads the text
        expected -= i * x * y if i % 2 else x / (i + 1)
    assert value == expected
    product = "*".join(["x"] * 3000)
    with shallow_recursion_limit():
        assert cgraph.from_expression(product, x=1.0001).forward() == pytest.approx(
            1.0001**3000, rel=1e-12
        )
        with pytest.raises(cgraph.UnknownNodeError, match="'z' at line 2, column 3"):
            cgraph.from_expression(" + ".join(["x"] * 3000) + "\\\n+ z", x=1.0)

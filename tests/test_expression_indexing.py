"""Expressions that index, slice, transpose, compare and select, and backquoted node names.

Each form is checked against torch (values, reverse mode, forward mode), against
central differences (reverse and forward mode, and a second order through a
gradient graph, without torch), and by the nodes it declares; then its refusals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch
from test_deep_graphs import shallow_recursion_limit

import cgraph
from cgraph import ComputationalGraph, Operation, numerical_gradient
from cgraph.cli import main

if HAS_TORCH:
    import torch

RNG = np.random.default_rng(17)
X9, Y9 = RNG.normal(size=9), RNG.normal(size=9)
W34, V34 = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
A234, V2 = RNG.normal(size=(2, 3, 4)), RNG.normal(size=2)


# name -> (text, trainable inputs, integer data, the same in torch over a dict of tensors)
CASES = {
    "slices": ("x[0:7] * x[1:8]", {"x": X9}, {}, lambda t: t["x"][0:7] * t["x"][1:8]),
    "a column and part of a row": (
        "W[:, 1] * sin(W[2, :3])",
        {"W": W34},
        {},
        lambda t: t["W"][:, 1] * torch.sin(t["W"][2, :3]),
    ),
    "steps": ("x[:8:2] - 3 * x[1::2]", {"x": X9}, {}, lambda t: t["x"][:8:2] - 3 * t["x"][1::2]),
    "negative indices and a reversing step": (
        "x[-1] * x[-3:] + x[::-1][:3]",
        {"x": X9},
        {},
        lambda t: t["x"][-1] * t["x"][-3:] + torch.flip(t["x"], [0])[:3],
    ),
    "a transposed slice": (
        "W[1:, :-1].T @ v",
        {"W": W34, "v": V2},
        {},
        lambda t: t["W"][1:, :-1].T @ t["v"],
    ),
    "a 3-D transpose, ... and None": (
        "A.T[..., 0] * A[None, 1, :, 2]",
        {"A": A234},
        {},
        lambda t: t["A"].permute(2, 1, 0)[..., 0] * t["A"][None, 1, :, 2],
    ),
    "a list of positions, one twice": (
        "W[[0, 2, 0], 1:] ** 2",
        {"W": W34},
        {},
        lambda t: t["W"][[0, 2, 0], 1:] ** 2,
    ),
    "scalar index nodes": (
        "x[i] * W[j]",
        {"x": X9, "W": W34},
        {"i": 3, "j": -2},
        lambda t: t["x"][t["i"]] * t["W"][t["j"]],
    ),
    "a 1-D index node along an axis, a position twice": (
        "W[:, idx] * W[k, 1:]",
        {"W": W34},
        {"idx": np.array([2, 0, 2]), "k": 1},
        lambda t: t["W"][:, t["idx"]] * t["W"][t["k"], 1:],
    ),
    "index expressions": (
        "(W @ x[0:4])[n - 1] + x[i - 1]",
        {"W": W34, "x": X9},
        {"n": 3, "i": 3},
        lambda t: (t["W"] @ t["x"][0:4])[t["n"] - 1] + t["x"][t["i"] - 1],
    ),
    "ints beside a scalar index node": (
        "A[0, :, i] + A[1, i][:3]",
        {"A": A234},
        {"i": 2},
        lambda t: t["A"][0, :, t["i"]] + t["A"][1, t["i"]][:3],
    ),
    "where and a comparison": (
        "where(x > 0, x**2, sin(y))",
        {"x": X9, "y": Y9},
        {},
        lambda t: torch.where(t["x"] > 0, t["x"] ** 2, torch.sin(t["y"])),
    ),
    "a chained comparison": (
        "where(-0.5 < x <= 0.5, x * y, exp(x))",
        {"x": X9, "y": Y9},
        {},
        lambda t: torch.where(
            (t["x"] > -0.5) & (t["x"] <= 0.5), t["x"] * t["y"], torch.exp(t["x"])
        ),
    ),
    "==, >=, < and masks as numbers": (
        "where(abs(x) == x, x, 2 * x) + (x >= y) * y - (y < 0.3) * x",
        {"x": X9, "y": Y9},
        {},
        lambda t: (
            torch.where(torch.abs(t["x"]) == t["x"], t["x"], 2 * t["x"])
            + (t["x"] >= t["y"]) * t["y"]
            - (t["y"] < 0.3) * t["x"]
        ),
    ),
    "backquoted names": (
        "sum(`layer1/W` * `a b`, axis=1) - `x-1`[0] * `grad/f/x`.T[:, 1]",
        {"layer1/W": W34, "a b": V34, "x-1": X9, "grad/f/x": W34.T.copy()},
        {},
        lambda t: (t["layer1/W"] * t["a b"]).sum(1) - t["x-1"][0] * t["grad/f/x"].T[:, 1],
    ),
}


def build(key: str) -> ComputationalGraph:
    text, inputs, data, _ = CASES[key]
    cg = ComputationalGraph()
    for name, value in inputs.items():
        cg.add_input(name, value)  # one by one: names such as 'a b' are no keywords
    for name, value in data.items():
        cg.add_input(name, value, trainable=False)
    cg.add_expression("f", text)
    return cg


def torch_inputs(key: str) -> dict:
    _, inputs, data, _ = CASES[key]
    tensors = {
        name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
        for name, value in inputs.items()
    }
    tensors.update({name: torch.tensor(value, dtype=torch.int64) for name, value in data.items()})
    return tensors


def tangents_for(key: str) -> dict:
    rng = np.random.default_rng(len(key))
    return {name: rng.normal(size=np.shape(value)) for name, value in CASES[key][1].items()}


# --------------------------------------------------------------------------------------
# Each form against torch: values, reverse mode, forward mode
# --------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("key", CASES)
def test_values_and_gradients_match_torch(key):
    cg = build(key)
    tensors = torch_inputs(key)
    expected = CASES[key][3](tensors)
    expected.sum().backward()
    np.testing.assert_allclose(cg.forward("f"), expected.detach().numpy(), rtol=1e-13, atol=0)
    grads = cg.backward("f")
    assert grads.keys() == CASES[key][1].keys()
    for name, grad in grads.items():
        np.testing.assert_allclose(
            grad, tensors[name].grad.numpy(), rtol=1e-13, atol=1e-15, err_msg=name
        )


@needs_torch
@pytest.mark.parametrize("key", CASES)
def test_forward_mode_matches_torch(key):
    cg = build(key)
    tensors = torch_inputs(key)
    tangents = tangents_for(key)
    names = list(tangents)

    def function(*primals):
        return CASES[key][3]({**tensors, **dict(zip(names, primals, strict=True))})

    with warnings.catch_warnings():  # torch's own first use of forward AD scripts with jit
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        value, tangent = torch.func.jvp(
            function,
            tuple(tensors[name].detach() for name in names),
            tuple(torch.tensor(tangents[name]) for name in names),
        )
    got_value, got_tangent = cg.jvp("f", tangents)
    np.testing.assert_allclose(got_value, value.numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(got_tangent, tangent.numpy(), rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------------------
# Each form against central differences, without torch: reverse, forward, second order
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", CASES)
def test_reverse_mode_matches_central_differences(key):
    cg = build(key)
    cg.forward("f")
    grads = cg.backward("f")
    numeric = numerical_gradient(cg, "f")
    assert numeric.keys() == grads.keys()
    for name in grads:
        np.testing.assert_allclose(grads[name], numeric[name], rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("key", CASES)
def test_forward_mode_matches_central_differences(key):
    cg = build(key)
    tangents = tangents_for(key)
    eps = 1e-6
    point = {name: cg.inputs[name].output for name in tangents}
    ahead = cg.forward("f", feed={n: point[n] + eps * t for n, t in tangents.items()})
    behind = cg.forward("f", feed={n: point[n] - eps * t for n, t in tangents.items()})
    _, tangent = cg.jvp("f", tangents)
    np.testing.assert_allclose(tangent, (ahead - behind) / (2 * eps), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "key",
    [
        "scalar index nodes",
        "a 1-D index node along an axis, a position twice",
        "where and a comparison",
    ],
)
def test_second_order_through_a_gradient_graph_with_a_backquoted_gradient(key):
    cg = build(key)
    wrt = next(iter(CASES[key][1]))
    grads = cg.gradient_graph("f", wrt)
    # The gradient's name holds '/': only a backquoted name reaches it.
    grads.add_expression("h", f"sum(`grad/f/{wrt}` * `grad/f/{wrt}` * {wrt})")
    grads.forward("h")
    second = grads.backward("h")
    numeric = numerical_gradient(grads, "h")
    for name in numeric:
        np.testing.assert_allclose(second[name], numeric[name], rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------
# What each form declares
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("x[0:7]", slice(0, 7)),
        ("x[::2]", slice(None, None, 2)),
        ("x[-1]", -1),
        ("x[3:-1:-1]", slice(3, -1, -1)),
        ("W[:, 1]", (slice(None), 1)),
        ("W[..., None, 0]", (Ellipsis, None, 0)),
        ("W[[0, 2], 1:]", ([0, 2], slice(1, None))),
        ("x[+2]", 2),
        ("x[(1,)]", (1,)),
        ("W[None]", None),
        ("x[:]", slice(None)),
    ],
)
def test_an_index_of_literals_is_one_index_op(text, index):
    cg = cgraph.from_expression(text, x=X9, W=W34)
    (node,) = cg.operations.values()
    assert type(node.op).__name__ == "Index"
    assert node.op.params() == {"index": index}
    np.testing.assert_array_equal(cg.forward("f"), (W34 if text[0] == "W" else X9)[index])


def test_an_index_node_declares_reshape_take_and_index():
    cg = ComputationalGraph()
    cg.add_inputs(W=W34)
    cg.add_input("i", 2, trainable=False)
    cg.add_expression("f", "W[:, i] + W[i - 1][:3]")
    steps = {
        name: (type(node.op).__name__, node.op.params(), node.input_names)
        for name, node in cg.operations.items()
    }
    assert steps == {
        "f/reshape": ("Reshape", {"shape": (1, 1)}, ("i",)),
        "f/take": ("Take", {"axis": 1}, ("W", "f/reshape")),
        "f/index": ("Index", {"index": (slice(None), 0)}, ("f/take",)),
        "f/sub": ("Sub", {}, ("i", "f/const")),
        "f/reshape_2": ("Reshape", {"shape": (1, 1)}, ("f/sub",)),
        "f/take_2": ("Take", {"axis": 0}, ("W", "f/reshape_2")),
        "f/index_2": ("Index", {"index": 0}, ("f/take_2",)),
        "f/index_3": ("Index", {"index": slice(None, 3)}, ("f/index_2",)),
        "f": ("Add", {}, ("f/index", "f/index_3")),
    }
    np.testing.assert_array_equal(cg.forward("f"), W34[:, 2] + W34[1, :3])
    assert "i" not in cg.backward("f")  # data: no gradient


def test_a_1d_index_node_is_one_take_and_gathers_twice_picked_gradients():
    cg = ComputationalGraph()
    cg.add_inputs(x=X9)
    cg.add_input("idx", np.array([4, 1, 4, 4]), trainable=False)
    cg.add_expression("f", "x[idx]")
    assert [type(node.op).__name__ for node in cg.operations.values()] == ["Take"]
    np.testing.assert_array_equal(cg.forward("f"), X9[[4, 1, 4, 4]])
    expected = np.zeros(9)
    expected[1], expected[4] = 1.0, 3.0
    np.testing.assert_array_equal(cg.backward("f")["x"], expected)


def test_an_index_node_into_a_declared_operation_uses_its_worked_out_shape():
    cg = ComputationalGraph()
    cg.add_inputs(W=W34)
    cg.add_input("i", 2, trainable=False)
    cg.add_expression("G", "W @ W.T")
    cg.add_expression("f", "G[i] * 2")
    assert cg.operations["f/reshape"].op.params() == {"shape": (1, 1)}
    np.testing.assert_allclose(cg.forward("f"), 2 * (W34 @ W34.T)[2], rtol=1e-15)


def test_an_index_node_is_read_at_every_forward():
    cg = ComputationalGraph()
    cg.add_inputs(W=W34)
    cg.add_input("i", 0, trainable=False)
    cg.add_expression("f", "sum(W[i] ** 2)")
    picked = []
    for row in (0, 2, -1):
        cg.inputs["i"].output = float(row)
        picked.append(cg.forward("f"))
        grad = cg.backward("f")["W"]
        assert np.count_nonzero(grad.any(axis=1)) == 1
        np.testing.assert_array_equal(grad[row], 2 * W34[row])
    np.testing.assert_allclose(picked, [np.sum(W34[r] ** 2) for r in (0, 2, -1)], rtol=1e-15)
    assert cg.forward("f", feed={"i": 1.0}) == pytest.approx(np.sum(W34[1] ** 2), rel=1e-15)


def test_a_longer_index_than_declared_fails_loudly_never_picks_silently():
    cg = ComputationalGraph()
    cg.add_inputs(x=X9)
    cg.add_input("i", 0, trainable=False)
    cg.add_expression("f", "x[i]")
    with pytest.raises(cgraph.GraphError) as info:
        cg.forward("f", feed={"i": np.array([1, 2])})
    assert "f/reshape" in info.value.nodes
    with pytest.raises(cgraph.GraphError, match="out of range"):
        cg.forward("f", feed={"i": 9.0})
    with pytest.raises(cgraph.GraphError, match="whole numbers"):
        cg.forward("f", feed={"i": 1.5})


def test_transpose_is_numpys_dot_t_and_twice_is_the_identity():
    cg = cgraph.from_expression("A.T", A=A234)
    assert cg.operations["f"].op.params() == {"axes": None}
    np.testing.assert_array_equal(cg.forward(), A234.T)
    cg.add_expression("g", "sum(A.T.T * A)")
    assert cg.forward("g") == pytest.approx(np.sum(A234 * A234), rel=1e-14)
    np.testing.assert_allclose(cg.backward("g")["A"], 2 * A234, rtol=1e-15)


def test_comparisons_are_mask_ops_and_a_chain_is_their_logical_and():
    cg = cgraph.from_expression("0 < x <= y < 1", x=X9, y=Y9)
    ops = {name: (type(node.op).__name__, node.input_names) for name, node in cg.operations.items()}
    assert ops == {
        "f/less": ("Less", ("f/const", "x")),
        "f/less_equal": ("LessEqual", ("x", "y")),
        "f/logical_and": ("LogicalAnd", ("f/less", "f/less_equal")),
        "f/less_2": ("Less", ("y", "f/const_2")),
        "f": ("LogicalAnd", ("f/logical_and", "f/less_2")),
    }
    np.testing.assert_array_equal(cg.forward(), (X9 > 0) & (X9 <= Y9) & (Y9 < 1))
    for text, op in [
        ("x < y", "Less"),
        ("x <= y", "LessEqual"),
        ("x > y", "Greater"),
        ("x >= y", "GreaterEqual"),
        ("x == y", "Equal"),
    ]:
        cg.add_expression(op, text)
        assert type(cg.operations[op].op).__name__ == op


def test_where_gives_the_masked_branch_zero_gradient():
    cg = cgraph.from_expression(
        "sum(where(x > 0, x * y, y))", x=np.array([-1.0, 2.0, 3.0]), y=np.array([5.0, 6.0, 7.0])
    )
    assert cg.forward() == 5.0 + 12.0 + 21.0
    grads = cg.backward()
    np.testing.assert_array_equal(grads["x"], [0.0, 6.0, 7.0])
    np.testing.assert_array_equal(grads["y"], [1.0, 2.0, 3.0])


# --------------------------------------------------------------------------------------
# Backquoted names
# --------------------------------------------------------------------------------------


def test_backquotes_reach_any_name_and_are_only_ever_a_name():
    cg = ComputationalGraph()
    names = ["layer1/W", "t-1", "a.b", "my node", "a`b", "é/x", "__import__('os')", "1st"]
    for k, name in enumerate(names):
        cg.add_input(name, float(k + 1))
    text = " + ".join(cgraph.expressions.quoting.quote(name) for name in names)
    assert "`a``b`" in text
    cg.add_expression("f", f"2 * ({text})")
    assert cg.forward("f") == 2 * sum(range(1, 9))
    assert cg.backward("f") == dict.fromkeys(names, 2.0)


def test_a_ten_thousand_term_sum_of_backquoted_names_under_a_low_recursion_limit():
    cg = ComputationalGraph()
    cg.add_input("a/b", np.array([1.5, 2.0]))
    with shallow_recursion_limit():
        cg.add_expression("f", "+".join(["`a/b`[1]"] * 10_000) + " - `a/b`[::-1][0]")
        assert cg.forward("f") == 10_000 * 2.0 - 2.0
        np.testing.assert_array_equal(cg.backward("f")["a/b"], [0.0, 9_999.0])


def test_positions_after_non_ascii_backquoted_names_are_counted_in_characters():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_input("éé/ü", 2.0)
    with pytest.raises(cgraph.UnknownNodeError, match="unknown name 'z' at column 14"):
        cg.add_expression("f", "`éé/ü` * x + z")
    with pytest.raises(cgraph.ExpressionError, match=r"invalid syntax at column 10"):
        cg.add_expression("f", "`éé/ü` + )")
    with pytest.raises(cgraph.ExpressionError, match=r"index '1.5' at column 8"):
        cg.add_expression("f", "`éé/ü`[1.5]")


@pytest.mark.parametrize(
    ("node", "text", "read"),
    [
        ("t0/x", "t0/x * 2", "'/' was read as division"),
        ("grad/f/x", "sum(grad/f/x)", "'/' was read as division"),
        ("f/add_2", "2 * f/add_2", "'/' was read as division"),
        ("layer-1", "1 + layer-1", "'-' was read as subtraction"),
    ],
)
def test_an_unquoted_name_python_cuts_in_pieces_says_how_to_quote_it(node, text, read):
    cg = ComputationalGraph()
    cg.add_inputs(f=1.0, x=2.0)
    cg.add_input(node, 3.0)
    with pytest.raises(cgraph.ExpressionError) as info:
        cg.add_expression("g", text)
    message = str(info.value)
    assert f"{node!r} is a node, but here, without backquotes, {read}" in message
    assert f"write `{node}` to use that node" in message
    quoted = text.replace(node, f"`{node}`")
    cg.add_expression("g", quoted)
    cg.forward("g")
    assert cg.backward("g")[node] != 0


def test_quoting_hints_for_attributes_and_syntax_errors():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_input("layer1.W", 2.0)
    cg.add_input("my node", 3.0)
    cg.add_input("é", 4.0)
    with pytest.raises(
        cgraph.ExpressionError,
        match=r"attribute 'W' in 'layer1.W' .* "
        r"'layer1.W' is a node, but here, without backquotes, '.' was read as "
        r"attribute access; write `layer1.W`",
    ):
        cg.add_expression("f", "layer1.W * x")
    with pytest.raises(
        cgraph.ExpressionError,
        match=r"invalid syntax at line 2, column 10 .* "
        r"'my node' at line 2, column 7 is a node, but without backquotes "
        r"' ' was read as a separator; write `my node`",
    ):
        cg.add_expression("f", "  \n`é` + my node")


def test_the_cli_reads_backquoted_names_and_index_nodes(capsys):
    assert (
        main(["grad", "`t0/x` * 2 + sum(v[i] * v[0:2])", "--at", "t0/x=3", "v=[1, 2, 3]", "i=2"])
        == 0
    )
    out = capsys.readouterr().out
    assert "f        = 15.0" in out
    assert "df/dt0/x = 2.0" in out
    assert "df/dv    = [3. 3. 3.]" in out
    assert main(["grad", "t0/x * 2", "--at", "t0/x=3"]) == 2
    assert "write `t0/x` to use that node" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Refusals of the new forms
# --------------------------------------------------------------------------------------


class _Shapeless(Operation):
    """An op no shape rule knows (one registered by other code): its output's axes are unknown."""

    name = "shapeless_example"

    def forward(self, x):
        return x

    def pullback(self, p, upstream, output, x):
        return (upstream,)


def test_an_index_node_into_a_where_uses_the_broadcast_shape():
    cg = ComputationalGraph()
    cg.add_inputs(W=W34)
    cg.add_input("i", 2, trainable=False)
    cg.add_expression("f", "sum(where(W > 0, W, 0)[i])")
    assert cg.forward("f") == pytest.approx(np.where(W34 > 0, W34, 0)[2].sum())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A[0, :, idx]", "ints apart from a 1-D index node would move the picked axis first"),
        ("W[[0, 1], idx]", "a list of positions beside a 1-D index node"),
        ("W[M]", "the index node has 2 axes"),
        (
            "W[i, 0, 1]",
            "'W[i, 0, 1]' at column 1 (an array of shape (3, 4)): 3 indices for an array of 2 axes",
        ),
        (
            "shapeless_example(W)[i]",
            "indexing by 'i' at column 22 needs the number of axes of "
            "'shapeless_example(W)' at column 1",
        ),
        ("W.shape", "attribute 'shape' in 'W.shape' at column 1 is not allowed"),
        ("W.T()", "call 'W.T()' at column 1: only registered ops can be called"),
        ("W != 0", "no not_equal op is registered"),
    ],
)
def test_refused_index_and_attribute_forms_add_nothing(text, message):
    cg = ComputationalGraph()
    cg.add_inputs(W=W34, A=A234)
    cg.add_input("i", 1, trainable=False)
    cg.add_input("idx", np.array([0, 2]), trainable=False)
    cg.add_input("M", np.zeros((2, 2), dtype=int), trainable=False)
    before = list(cg)
    with pytest.raises(cgraph.ExpressionError) as info:
        cg.add_expression("f", text)
    assert message in str(info.value)
    assert list(cg) == before

"""Gradient graphs, Hessians and Hessian-vector products, against torch.autograd.functional.

The seed's f(x, y) graph is checked against torch's hessian, hvp, vhp and vjp;
random graphs and networks against torch's hvp and the symmetry of the
Hessian, <u, H v> = <v, H u>. A gradient graph is read by name, drawn, and
differentiated again: its own gradient is a row of the Hessian.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAS_TORCH, build_classic_graph, needs_torch
from graph_state import assert_same_state, snapshot
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import Interval, RandomGraph, random_graphs, random_networks, values_in
from test_deep_graphs import shallow_recursion_limit

import cgraph
from cgraph import ComputationalGraph, operation, ops

if HAS_TORCH:  # only the tests marked needs_torch use torch and its oracle
    from oracle import torch, torch_function

    functional = torch.autograd.functional


def _tensors(*values) -> tuple:
    return tuple(torch.tensor(np.asarray(value, np.float64)) for value in values)


def _classic_torch():
    cg = build_classic_graph()
    return torch_function(cg, "f", ["x", "y"]), _tensors(2.0, -4.0)


# --------------------------------------------------------------------------------------
# The seed's graph
# --------------------------------------------------------------------------------------


@needs_torch
def test_hessian_of_the_classic_graph_matches_torch_block_by_block():
    cg = build_classic_graph()
    hess = cg.hessian("f", ["x", "y"])
    function, point = _classic_torch()
    expected = functional.hessian(function, point)
    for i in range(2):
        for j in range(2):
            assert type(hess[i][j]) is float
            assert hess[i][j] == pytest.approx(float(expected[i][j]), rel=1e-13, abs=1e-15)
    assert hess[0][1] == pytest.approx(hess[1][0], rel=1e-14)
    assert cg.hessian("f", "y") == hess[1][1]


@needs_torch
def test_hessian_of_an_array_input_is_shaped_input_by_input_as_torch():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]))
    cg.add_constant("A", np.arange(6.0).reshape(3, 2) / 5)
    cg.add_computation_node("xA", "matmul", ("x", "A"))
    cg.add_computation_node("t", "tanh", ("xA",))
    cg.add_computation_node("f", "sum", ("t",))
    hess = cg.hessian("f", "x")
    assert hess.shape == (2, 3, 2, 3)
    expected = functional.hessian(torch_function(cg, "f", ["x"]), _tensors(cg.get_value("x")))
    np.testing.assert_allclose(hess, expected[0][0].numpy(), rtol=1e-12, atol=1e-14)


@needs_torch
def test_hvp_matches_torch_hvp_vhp_and_the_hessian_times_v():
    cg = build_classic_graph()
    v = (0.3, -1.7)
    product = cg.hvp("f", ["x", "y"], v)
    function, point = _classic_torch()
    for torch_product in (functional.hvp, functional.vhp):  # H is symmetric: both agree
        _, expected = torch_product(function, point, _tensors(*v))
        np.testing.assert_allclose(product, [float(e) for e in expected], rtol=1e-13)
    hess = np.array(cg.hessian("f", ["x", "y"]))
    np.testing.assert_allclose(product, hess @ v, rtol=1e-13)
    assert cg.hvp("f", ["x", "y"], {"y": 1.0}) == pytest.approx(tuple(hess[:, 1]), rel=1e-14)
    assert cg.hvp("f", "x", 1.0) == pytest.approx(hess[0, 0], rel=1e-14)


@needs_torch
def test_backward_with_a_seed_is_torchs_vjp():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([0.5, -1.0, 2.0]), w=np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]]))
    cg.add_computation_node("wx", "matmul", ("w", "x"))
    cg.add_computation_node("y", "sin", ("wx",))
    cg.forward("y")
    u = np.array([0.7, -0.2])
    grads = cg.backward("y", seed=u)
    _, expected = functional.vjp(
        torch_function(cg, "y", ["x", "w"]),
        _tensors(cg.get_value("x"), cg.get_value("w")),
        _tensors(u)[0],
    )
    np.testing.assert_allclose(grads["x"], expected[0].numpy(), rtol=1e-14)
    np.testing.assert_allclose(grads["w"], expected[1].numpy(), rtol=1e-14)


def test_hvp_and_hessian_leave_the_graph_as_it_was_and_follow_its_inputs():
    cg = build_classic_graph()
    cg.forward("f")
    cg.backward("f")
    before = snapshot(cg)
    first = cg.hvp("f", ["x", "y"], (1.0, 0.0))
    cg.hessian("f", ["x", "y"], feed={"x": 1.0})
    assert_same_state(before, snapshot(cg))
    cg.inputs["x"].output = 1.0  # the cached gradient graph sees the new point
    moved = cg.hvp("f", ["x", "y"], (1.0, 0.0))
    assert moved != first
    assert moved == pytest.approx(cg.hvp("f", ["x", "y"], (1.0, 0.0), feed={"x": 1.0}))
    assert moved[0] == pytest.approx(build_classic_graph().hessian("f", "x", feed={"x": 1.0}))


def test_a_structural_change_rebuilds_the_cached_gradient_graph():
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0)
    cg.add_computation_node("f", "square", ("x",))
    assert cg.hvp("f", "x", 1.0) == 2.0
    assert ("f", ("x",)) in cg.structure_cache("hessian")
    cg.add_computation_node("g", "mul", ("f", "x"))  # a new node: every schedule is rebuilt
    assert not cg.structure_cache("hessian")  # and every prepared gradient graph
    assert cg.hvp("f", "x", 1.0) == 2.0
    assert cg.hvp("g", "x", 1.0) == pytest.approx(6 * 2.0)


# --------------------------------------------------------------------------------------
# The gradient as a graph
# --------------------------------------------------------------------------------------


def test_gradient_graph_names_each_gradient_and_computes_backwards_gradients():
    cg = build_classic_graph()
    gg = cg.gradient_graph("f", ["x", "y"])
    assert list(gg)[:9] == list(cg)  # the forward nodes first, with the same names
    assert {
        "grad/f/f",
        "grad/f/x",
        "grad/f/y",
        "grad/f/sq",
        "grad/f/denom",
        "grad/f/x/from_sigx",
    } <= set(gg)
    cg.forward("f")
    cg.backward("f")
    for name in cg.operations:
        assert gg.get_value(f"grad/f/{name}") == pytest.approx(cg.get_gradient(name), rel=1e-15)
    for name in ("x", "y"):
        assert gg.forward(f"grad/f/{name}") == cg.get_gradient(name)
    assert '"grad/f/x"' in gg.to_dot()
    assert "grad/f/sq" in gg.summary()
    assert gg.operations["grad/f/x"].input_names == ("grad/f/x/sum2", "grad/f/xpy")


def test_gradient_graph_holds_only_the_paths_to_wrt_and_zeros_for_unused_inputs():
    cg = build_classic_graph()
    cg.add_inputs(z=np.array([1.0, 2.0]))
    gg = cg.gradient_graph("f", ["y", "z"])
    assert "grad/f/sigx" not in gg  # sigx leads to x only
    np.testing.assert_array_equal(gg.get_value("grad/f/z"), [0.0, 0.0])
    assert isinstance(gg.nodes["grad/f/z"], cgraph.Constant)


@needs_torch
def test_the_gradient_of_the_gradient_graph_is_a_row_of_the_hessian():
    cg = build_classic_graph()
    hess = cg.hessian("f", ["x", "y"])
    gg = cg.gradient_graph("f", ["x", "y"])
    gg.forward("grad/f/x")
    row = gg.backward("grad/f/x")
    assert row["x"] == pytest.approx(hess[0][0], rel=1e-13)
    assert row["y"] == pytest.approx(hess[0][1], rel=1e-13)
    # ... and its gradient graph, differentiated once more, the same number again
    ggg = gg.gradient_graph("grad/f/x", "y")
    assert ggg.forward("grad/grad/f/x/y") == pytest.approx(hess[0][1], rel=1e-13)
    third = ggg.hessian("grad/f/x", "y")  # d3f / dx dy dy, against torch
    function, point = _classic_torch()
    grad_x = lambda x, y: torch.autograd.grad(function(x, y), x, create_graph=True)[0]  # noqa: E731
    expected = functional.hessian(lambda y: grad_x(point[0].requires_grad_(), y), point[1])
    assert third == pytest.approx(float(expected), rel=1e-11)


def test_relus_second_derivative_is_zero_and_maximum_splits_ties():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([-1.0, 0.0, 2.0]), y=np.array([0.5, 0.0, 2.0]))
    cg.add_computation_node("r", "relu", ("x",))
    cg.add_computation_node("m", "maximum", ("x", "y"))
    cg.add_computation_node("rm", "mul", ("r", "m"))
    cg.add_computation_node("f", "sum", ("rm",))
    gg = cg.gradient_graph("f", ["x", "y"])
    cg.forward("f")
    np.testing.assert_array_equal(gg.get_value("grad/f/x"), cg.backward("f")["x"])
    hess = cg.hessian("f", ["x", "y"])
    # relu'' = 0; at the tie maximum's weights 1/2 and 1/2 meet relu's 1
    np.testing.assert_array_equal(np.diag(hess[0][0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.diag(hess[0][1]), [0.0, 0.0, 0.5])


# --------------------------------------------------------------------------------------
# Random graphs and networks
# --------------------------------------------------------------------------------------


def _scalar_root(cg: ComputationalGraph, root: str) -> str:
    if np.ndim(cg.forward(root)) == 0:
        return root
    cg.add_computation_node("total", "sum", (root,))
    return "total"


def _pow_at_exponent_zero(cg: ComputationalGraph) -> bool:
    """torch's pow masks d/da at b = 0, so its mixed second derivative there is wrong."""
    return any(
        isinstance(node.op, ops.Pow) and np.any(node.parents[1].output == 0)
        for node in cg.operations.values()
    )


def _check_hvp(drawn: RandomGraph, data: st.DataObject) -> None:
    cg = drawn.build()
    root = _scalar_root(cg, drawn.root)
    names = [name for name, node in cg.inputs.items() if node.trainable]
    assume(names and not _pow_at_exponent_zero(cg))
    u, v = (
        [
            data.draw(
                values_in(Interval(-1.0, 1.0), np.shape(cg.inputs[n].output), scalar=True),
                label=f"{which} of {n}",
            )
            for n in names
        ]
        for which in ("u", "v")
    )
    before = snapshot(cg)
    hv, hu = cg.hvp(root, names, v), cg.hvp(root, names, u)
    assert_same_state(before, snapshot(cg))
    _, expected = functional.hvp(
        torch_function(cg, root, names),
        _tensors(*(cg.inputs[n].output for n in names)),
        _tensors(*v),
    )
    for name, got, want in zip(names, hv, expected, strict=True):
        assert np.shape(got) == np.shape(cg.inputs[name].output), name
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-9, atol=1e-10, err_msg=name)
    inner = [
        sum(float(np.sum(np.multiply(a, b))) for a, b in zip(p, q, strict=True))
        for p, q in ((u, hv), (v, hu))
    ]
    assert inner[0] == pytest.approx(inner[1], rel=1e-9, abs=1e-9)  # hess is symmetric


@needs_torch
@settings(max_examples=30, deadline=None)
@given(drawn=random_graphs(max_nodes=25), data=st.data())
def test_hvp_of_random_graphs_matches_torch_and_is_symmetric(drawn, data):
    _check_hvp(drawn, data)


@needs_torch
@settings(max_examples=30, deadline=None)
@given(drawn=random_networks(), data=st.data())
def test_hvp_of_random_networks_matches_torch_and_is_symmetric(drawn, data):
    _check_hvp(drawn, data)


# --------------------------------------------------------------------------------------
# Errors, and deep graphs
# --------------------------------------------------------------------------------------


@operation(grad=lambda upstream, out, x: upstream * 3 * x * x, jvp=lambda t, out, x: t * 3 * x * x)
def cube_without_a_rule(x):
    """Cube y = x^3, with backward and jvp but no symbolic rule."""
    return x**3


@operation(
    grad=lambda upstream, out, x: upstream * 3 * x * x,
    jvp=lambda t, out, x: t * 3 * x * x,
    backward_graph=lambda g, upstream, out, x: g.mul(upstream, g.mul(3.0, g.square(x))),
)
def cube_with_a_rule(x):
    """Cube y = x^3, with all three rules."""
    return x**3


def test_a_decorator_made_op_with_a_symbolic_rule_has_a_hessian():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([1.0, -2.0]))
    cg.add_computation_node("c", cube_with_a_rule, ("x",))
    cg.add_computation_node("f", "sum", ("c",))
    np.testing.assert_allclose(cg.hessian("f", "x"), np.diag([6.0, -12.0]))  # 6x on the diagonal
    np.testing.assert_allclose(cg.hvp("f", "x", np.array([1.0, 1.0])), [6.0, -12.0])


def _graph_for_errors() -> ComputationalGraph:
    cg = build_classic_graph()
    cg.add_input("data", np.array([1.0, 2.0]), trainable=False)
    cg.add_input("labels", np.array([0, 1]), trainable=False)
    cg.add_constant("two", 2.0)
    cg.add_computation_node("xd", "mul", ("x", "data"))
    cg.add_computation_node("cube", cube_without_a_rule, ("y",))
    cg.forward("f")
    cg.backward("f")
    return cg


@pytest.mark.parametrize(
    ("call", "error", "nodes", "words"),
    [
        (lambda cg: cg.hessian("f", "z"), cgraph.UnknownNodeError, ("z",), "not a node"),
        (lambda cg: cg.hvp("f", "data", 1.0), cgraph.NoGradientError, ("data",), "trainable"),
        (lambda cg: cg.gradient_graph("f", "two"), cgraph.InvalidValueError, ("two",), "constant"),
        (lambda cg: cg.hessian("f", "labels"), cgraph.InvalidValueError, ("labels",), "int64"),
        (lambda cg: cg.hessian("f", []), cgraph.GraphError, (), "at least one"),
        (lambda cg: cg.hessian("xd", "x"), cgraph.ShapeError, ("xd",), "'sum'"),
        (lambda cg: cg.hvp("f", "x", np.ones(2)), cgraph.ShapeError, ("x",), "broadcast"),
        (lambda cg: cg.hvp("f", ["x", "y"], {"q": 1.0}), cgraph.InvalidValueError, ("q",), "wrt"),
        (lambda cg: cg.hvp("f", ["x", "y"], (1.0,)), cgraph.ShapeError, ("x", "y"), "one per"),
        (
            lambda cg: cg.hessian("cube", "y"),
            cgraph.InvalidOperationError,
            ("cube",),
            "backward_graph",
        ),
    ],
    ids=[
        "unknown",
        "not-trainable",
        "constant",
        "integers",
        "empty",
        "array-root",
        "v-shape",
        "v-name",
        "v-count",
        "no-rule",
    ],
)
def test_errors_name_the_nodes_say_what_to_do_and_change_nothing(call, error, nodes, words):
    cg = _graph_for_errors()
    before = snapshot(cg)
    with pytest.raises(error, match=words) as caught:
        call(cg)
    assert caught.value.nodes == nodes
    assert_same_state(before, snapshot(cg))


@pytest.mark.slow
def test_a_long_chain_without_recursion():
    length = 100_000
    with shallow_recursion_limit():
        cg = ComputationalGraph()
        cg.add_inputs(x=0.5)
        previous = "x"
        for i in range(length):
            cg.add_computation_node(f"s{i}", "sin", (previous,))
            previous = f"s{i}"
        second = cg.hvp(previous, "x", 1.0)
    y, first, expected = 0.5, 1.0, 0.0  # y_k, dy_k/dx and d2y_k/dx2, by hand
    for _ in range(length):
        y, first, expected = (
            math.sin(y),
            math.cos(y) * first,
            -math.sin(y) * first * first + math.cos(y) * expected,
        )
    assert second == pytest.approx(expected, rel=1e-9)


def test_hessian_with_respect_to_an_input_the_root_does_not_read_has_zero_blocks():
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0, y=3.0, v=np.ones(2))
    cg.add_computation_node("f", "mul", ("x", "x"))
    assert cg.hessian("f", wrt=["x", "y"]) == ((2.0, 0.0), (0.0, 0.0))
    blocks = cg.hessian("f", wrt=["x", "v"])
    np.testing.assert_array_equal(blocks[1][1], np.zeros((2, 2)))
    np.testing.assert_array_equal(blocks[0][1], np.zeros(2))

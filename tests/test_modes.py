"""Forward mode (``jvp``) and Jacobians (``jacobian``), against backward, torch and by hand.

Forward mode is checked through the identity that ties it to reverse mode: for
any direction t and any seed u, ``<u, J t> = <J^T u, t>``, i.e. the jvp seen
through u equals backward(u) seen through t, on random graphs and networks.
Jacobians are checked against torch.autograd.functional.jacobian in every mode.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import HAS_TORCH, build_classic_graph, needs_torch
from graph_state import assert_same_state, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Interval, RandomGraph, random_graphs, random_networks, values_in
from test_deep_graphs import chain_by_hand, shallow_recursion_limit

import cgraph
from cgraph import ComputationalGraph, Operation, operation

if HAS_TORCH:  # only the tests marked needs_torch use torch and its oracle
    from oracle import torch, torch_function, torch_jvp

MODES = ("auto", "forward", "reverse")
UNIT = Interval(-1.0, 1.0)


def _inner(a, b) -> float:
    return float(np.sum(np.asarray(a) * np.asarray(b)))


# --------------------------------------------------------------------------------------
# jvp: the seed's example, caching, tangents by name
# --------------------------------------------------------------------------------------


def test_jvp_of_the_classic_graph_gives_each_partial_derivative():
    cg = build_classic_graph()
    value, dfdx = cg.jvp("f", tangents={"x": 1.0})
    assert value == 0.41345423252018193
    assert dfdx == pytest.approx(0.5348320870757595, rel=1e-15)
    assert cg.jvp("f", tangents={"y": 1})[1] == pytest.approx(0.342460382923052, rel=1e-15)
    both = cg.jvp("f", tangents={"x": 2.0, "y": -3.0})[1]  # linear in the tangent
    assert both == pytest.approx(2 * 0.5348320870757595 - 3 * 0.342460382923052, rel=1e-14)


def test_jvp_caches_values_like_forward_and_clears_gradients():
    cg = build_classic_graph()
    cg.forward("f")
    cg.backward("f")
    cg.jvp("f", tangents={"x": 1.0}, feed={"x": 1.0})
    assert cg.get_value("xpy") == -3.0
    assert cg.inputs["x"].output == 2.0
    with pytest.raises(cgraph.NotComputedError):
        cg.get_gradient("x")  # it belonged to the previous values
    # backward may follow, at the point jvp evaluated
    assert cg.backward("f")["x"] == pytest.approx(_classic_gradient_at(x=1.0)["x"], rel=1e-15)


def _classic_gradient_at(**feed: float) -> dict:
    cg = build_classic_graph()
    cg.forward("f", feed=feed)
    return cg.backward("f")


def test_inputs_without_a_tangent_have_tangent_zero_shaped_like_the_root():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([1.0, 2.0]), y=3.0)
    cg.add_computation_node("f", "mul", ("x", "y"))
    value, tangent = cg.jvp("f")
    np.testing.assert_array_equal(tangent, np.zeros(2))
    assert tangent.shape == value.shape
    assert cg.jvp("f", tangents={"y": 1.0})[1].tolist() == [1.0, 2.0]


def test_a_tangent_broadcasts_to_its_inputs_shape():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([[1.0, 2.0], [3.0, 4.0]]))
    cg.add_computation_node("f", "square", ("x",))
    np.testing.assert_array_equal(cg.jvp("f", tangents={"x": 1.0})[1], [[2.0, 4.0], [6.0, 8.0]])
    np.testing.assert_array_equal(
        cg.jvp("f", tangents={"x": [1.0, 0.0]})[1], [[2.0, 0.0], [6.0, 0.0]]
    )


def test_tangents_of_data_are_allowed_and_float32_stays_float32():
    cg = ComputationalGraph()
    cg.add_input("X", np.array([1.0, 2.0], np.float32), trainable=False)
    cg.add_computation_node("f", "exp", ("X",))
    value, tangent = cg.jvp("f", tangents={"X": 1.0})
    assert tangent.dtype == np.float32
    np.testing.assert_allclose(tangent, value)


def test_decorated_operation_takes_a_tangent_rule():
    @operation(
        grad=lambda upstream, out, x: upstream * 3 * x**2,
        jvp=lambda t, out, x: 3 * x**2 * t,
        name="cube_for_mode_tests",
    )
    def cube(x):
        return x**3

    cg = ComputationalGraph()
    cg.add_inputs(x=2.0)
    cg.add_computation_node("c", cube, ("x",))
    assert cg.jvp("c", tangents={"x": 0.5}) == (8.0, 6.0)


# --------------------------------------------------------------------------------------
# jvp against backward (<u, J t> = <J^T u, t>) and against torch, on random graphs
# --------------------------------------------------------------------------------------


def _direction(data: st.DataObject, cg: ComputationalGraph, names: list[str]) -> dict:
    return {
        name: data.draw(
            values_in(UNIT, np.shape(cg.inputs[name].output), scalar=True),
            label=f"tangent of {name}",
        )
        for name in names
    }


def _check_jvp_is_the_transpose_of_backward(graph: RandomGraph, data: st.DataObject) -> None:
    cg = graph.build()
    trainable = [name for name, node in cg.inputs.items() if node.trainable]
    tangents = _direction(data, cg, trainable)
    value, tangent = cg.jvp(graph.root, tangents=tangents)
    assert np.shape(tangent) == np.shape(value)
    seed = data.draw(
        values_in(UNIT, np.shape(value), scalar=not isinstance(value, np.ndarray)), label="seed"
    )
    gradients = cg.backward(graph.root, seed=seed)  # jvp left the values backward needs
    pulled_back = sum(_inner(gradients[name], tangents[name]) for name in trainable)
    assert _inner(seed, tangent) == pytest.approx(pulled_back, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(graph=random_graphs(), data=st.data())
def test_jvp_is_the_transpose_of_backward_on_random_graphs(graph, data):
    _check_jvp_is_the_transpose_of_backward(graph, data)


@settings(max_examples=200, deadline=None)
@given(graph=random_networks(), data=st.data())
def test_jvp_is_the_transpose_of_backward_on_random_networks(graph, data):
    _check_jvp_is_the_transpose_of_backward(graph, data)


@needs_torch
@settings(max_examples=100, deadline=None)
@given(graph=random_graphs(), data=st.data())
def test_jvp_matches_torch_on_random_graphs(graph, data):
    cg = graph.build()
    names = [name for name, node in cg.inputs.items() if node.trainable]
    tangents = _direction(data, cg, names)
    value, tangent = cg.jvp(graph.root, tangents=tangents)
    if not tangents:
        np.testing.assert_array_equal(tangent, 0.0)
        return
    expected_value, expected = torch_jvp(cg, graph.root, tangents)
    np.testing.assert_allclose(value, expected_value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tangent, expected, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------
# jacobian
# --------------------------------------------------------------------------------------


def _layer() -> ComputationalGraph:
    """y = tanh(W x + b): R^4 -> R^3, with W (3, 4) and b (3,) trainable too."""
    rng = np.random.default_rng(1)
    cg = ComputationalGraph()
    cg.add_inputs(x=rng.normal(size=4), W=rng.normal(size=(3, 4)), b=rng.normal(size=3))
    cg.add_computation_node("Wx", "matmul", ("W", "x"))
    cg.add_computation_node("z", "add", ("Wx", "b"))
    cg.add_computation_node("y", "tanh", ("z",))
    return cg


def _matrix_softmax() -> ComputationalGraph:
    """P = softmax(X @ W) * s: a (2, 4) matrix of a (2, 3) matrix, a (3, 4) one and a scalar."""
    rng = np.random.default_rng(2)
    cg = ComputationalGraph()
    cg.add_inputs(X=rng.normal(size=(2, 3)), W=rng.normal(size=(3, 4)), s=1.5)
    cg.add_computation_node("XW", "matmul", ("X", "W"))
    cg.add_computation_node("soft", "softmax", ("XW",))
    cg.add_computation_node("P", "mul", ("soft", "s"))
    return cg


def _curve() -> ComputationalGraph:
    """c(t) = sin(t a) + t^2: a curve in R^5 of one scalar t (a tall Jacobian: forward wins)."""
    cg = ComputationalGraph()
    cg.add_inputs(t=0.7, a=np.linspace(-1.0, 1.0, 5))
    cg.add_computation_node("ta", "mul", ("t", "a"))
    cg.add_computation_node("sin", "sin", ("ta",))
    cg.add_computation_node("t2", "square", ("t",))
    cg.add_computation_node("c", "add", ("sin", "t2"))
    return cg


GRAPHS = {
    "layer": (_layer, "y", ["x", "W", "b"]),
    "matrix softmax": (_matrix_softmax, "P", ["X", "W", "s"]),
    "curve": (_curve, "c", ["t", "a"]),
}


@needs_torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("graph", GRAPHS)
def test_jacobian_matches_torch_in_every_mode(graph, mode):
    build, root, names = GRAPHS[graph]
    cg = build()
    blocks = cg.jacobian(root, names, mode=mode)
    inputs = tuple(torch.tensor(np.asarray(cg.inputs[name].output)) for name in names)
    expected = torch.autograd.functional.jacobian(torch_function(cg, root, names), inputs)
    assert isinstance(blocks, tuple)
    assert len(blocks) == len(names)
    output_shape = np.shape(cg.get_value(root))
    for name, block, reference in zip(names, blocks, expected, strict=True):
        assert np.shape(block) == output_shape + np.shape(cg.inputs[name].output)
        np.testing.assert_allclose(
            block,
            reference.numpy(),
            rtol=1e-12,
            atol=1e-14,
            err_msg=f"d {root} / d {name}, {mode} mode",
        )
    single = cg.jacobian(root, names[0], mode=mode)  # a name gives the block itself
    np.testing.assert_allclose(single, blocks[0], rtol=1e-12, atol=1e-14)  # auto: maybe by columns


@settings(max_examples=50, deadline=None)
@given(graph=random_graphs(max_nodes=15))
def test_forward_and_reverse_mode_give_the_same_jacobian(graph):
    cg = graph.build()
    names = [name for name, node in cg.inputs.items() if node.trainable]
    by_columns = cg.jacobian(graph.root, names, mode="forward")
    by_rows = cg.jacobian(graph.root, names, mode="reverse")
    for name, column_block, row_block in zip(names, by_columns, by_rows, strict=True):
        np.testing.assert_allclose(column_block, row_block, rtol=1e-10, atol=1e-12, err_msg=name)


@settings(max_examples=50, deadline=None)
@given(graph=random_networks())
def test_jacobian_of_a_scalar_root_is_its_gradient(graph):
    cg = graph.build()
    names = [name for name, node in cg.inputs.items() if node.trainable]
    cg.forward(graph.root)
    gradients = cg.backward(graph.root)
    for mode in MODES:
        blocks = cg.jacobian(graph.root, names, mode=mode)
        for name, block in zip(names, blocks, strict=True):
            assert np.shape(block) == np.shape(gradients[name])
            np.testing.assert_allclose(
                block, gradients[name], rtol=1e-10, atol=1e-12, err_msg=f"{name}, {mode} mode"
            )


def test_scalar_by_scalar_jacobian_is_a_float_and_an_unused_input_gets_zeros():
    cg = build_classic_graph()
    cg.add_inputs(unused=np.ones(3))
    assert cg.jacobian("f", "x") == pytest.approx(0.5348320870757595, rel=1e-15)
    assert type(cg.jacobian("f", "x", mode="forward")) is float
    np.testing.assert_array_equal(cg.jacobian("f", "unused"), np.zeros(3))
    np.testing.assert_array_equal(cg.jacobian("f", "unused", mode="forward"), np.zeros(3))


class NoTangentRule(Operation):
    """y = 2 x, with a gradient rule but no tangent rule: reverse mode only."""

    def forward(self, x):
        return 2 * x

    def backward(self, upstream):
        return (2 * upstream,)


def _graph_without_tangent_rule(x: float | np.ndarray) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_constant("c", np.ones(4))
    cg.add_computation_node("double", NoTangentRule, ("x",))
    cg.add_computation_node("y", "mul", ("double", "c"))
    return cg


def test_auto_mode_picks_by_input_and_output_size():
    # One input element, four outputs: forward mode, which needs the missing jvp.
    with pytest.raises(cgraph.InvalidOperationError, match=r"'double' .*NoTangentRule"):
        _graph_without_tangent_rule(1.0).jacobian("y", "x")
    # Four inputs, four outputs: no fewer inputs, so reverse mode, which needs no jvp.
    np.testing.assert_array_equal(
        _graph_without_tangent_rule(np.arange(4.0)).jacobian("y", "x"), 2 * np.eye(4)
    )


def test_jacobian_blocks_follow_wrt_even_a_name_given_twice():
    cg = _curve()
    d_t, d_a, d_t_again = cg.jacobian("c", ["t", "a", "t"])
    assert np.shape(d_t) == (5,)
    assert np.shape(d_a) == (5, 5)
    np.testing.assert_array_equal(d_t, d_t_again)
    assert cg.jacobian("c", []) == ()


def test_jacobian_with_respect_to_data_uses_forward_mode():
    cg = ComputationalGraph()
    cg.add_input("X", np.array([1.0, 2.0]), trainable=False)
    cg.add_inputs(w=np.array([3.0, 4.0]))
    cg.add_computation_node("f", "mul", ("w", "X"))
    np.testing.assert_array_equal(cg.jacobian("f", "X"), np.diag([3.0, 4.0]))
    np.testing.assert_array_equal(cg.jacobian("f", ["X"], mode="forward")[0], np.diag([3.0, 4.0]))


@pytest.mark.parametrize("mode", MODES)
def test_after_jacobian_the_graph_is_as_after_forward(mode):
    cg = _layer()
    cg.forward("y")
    cg.backward("y")
    cg.jacobian("y", ["x", "W"], mode=mode, feed={"x": np.zeros(4)})
    np.testing.assert_array_equal(cg.get_value("Wx"), np.zeros(3))
    with pytest.raises(cgraph.NotComputedError):
        cg.get_gradient("x")  # no gradient of one one-hot row is left behind
    gradient = cg.backward("y")["b"]  # the ops hold the state of that point
    np.testing.assert_allclose(gradient, 1 - np.tanh(cg.inputs["b"].output) ** 2, rtol=1e-15)


# --------------------------------------------------------------------------------------
# A million-node chain, without recursion
# --------------------------------------------------------------------------------------


@pytest.mark.slow  # declaring the million nodes takes seconds; the jvp itself about 2 forwards
def test_jvp_through_a_million_node_chain_without_recursion():
    length = 1_000_000
    cg = ComputationalGraph()
    cg.add_inputs(x=0.5)
    previous = "x"
    for i in range(length):
        cg.add_computation_node(f"s{i}", "sin", (previous,))
        previous = f"s{i}"
    start = time.perf_counter()
    with shallow_recursion_limit():
        value, tangent = cg.jvp(previous, tangents={"x": 1.0})
    seconds = time.perf_counter() - start
    expected_value, expected_derivative = chain_by_hand(0.5, length)
    assert value == expected_value
    assert tangent == pytest.approx(expected_derivative, rel=1e-12)
    assert seconds < 30, f"jvp of a million nodes took {seconds:.1f} s"


# --------------------------------------------------------------------------------------
# Errors: each names the node, and a failed call changes nothing
# --------------------------------------------------------------------------------------


class BrokenTangent(Operation):
    """y = x whose tangent rule raises."""

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (upstream,)

    def jvp(self, t):
        raise ZeroDivisionError("broken on purpose")


class MisshapenTangent(Operation):
    """y = x whose tangent rule returns the wrong shape."""

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (upstream,)

    def jvp(self, t):
        return np.ones(7)


def _graph_for_errors() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([1.0, 2.0]), w=2.0)
    cg.add_input("labels", np.array([0, 1]), trainable=False)
    cg.add_constant("k", 3.0)
    cg.add_computation_node("wx", "mul", ("w", "x"))
    cg.add_computation_node("f", "mul", ("wx", "k"))
    cg.add_computation_node("broken", BrokenTangent, ("f",))
    cg.add_computation_node("misshapen", MisshapenTangent, ("f",))
    cg.add_computation_node("no_rule", NoTangentRule, ("f",))
    return cg


ERRORS = [
    ("jvp", ("f",), {"tangents": {"z": 1.0}}, cgraph.UnknownNodeError, ("z",)),
    ("jvp", ("f",), {"tangents": {"x": [1.0, 2.0, 3.0]}}, cgraph.ShapeError, ("x",)),
    ("jvp", ("f",), {"tangents": {"k": 1.0}}, cgraph.InvalidValueError, ("k",)),
    ("jvp", ("f",), {"tangents": {"wx": 1.0}}, cgraph.InvalidValueError, ("wx",)),
    ("jvp", ("f",), {"tangents": {"labels": 1.0}}, cgraph.InvalidValueError, ("labels",)),
    ("jvp", ("f",), {"tangents": {"x": "up"}}, cgraph.InvalidValueError, ("x",)),
    ("jvp", ("f",), {"tangents": {"x": None}}, cgraph.InvalidValueError, ("x",)),
    ("jvp", ("nope",), {"tangents": {"x": 1.0}}, cgraph.UnknownNodeError, ("nope",)),
    ("jvp", ("f",), {"tangents": {"x": 1.0}, "feed": {"q": 1.0}}, cgraph.UnknownNodeError, ("q",)),
    ("jvp", ("broken",), {"tangents": {"w": 1.0}}, cgraph.OperationError, ("broken",)),
    ("jvp", ("misshapen",), {"tangents": {"w": 1.0}}, cgraph.ShapeError, ("misshapen",)),
    ("jvp", ("no_rule",), {"tangents": {"w": 1.0}}, cgraph.InvalidOperationError, ("no_rule",)),
    ("jacobian", ("f", "z"), {}, cgraph.UnknownNodeError, ("z",)),
    ("jacobian", ("f", ["x", "k"]), {}, cgraph.InvalidValueError, ("k",)),
    ("jacobian", ("f", "labels"), {}, cgraph.InvalidValueError, ("labels",)),
    ("jacobian", ("f", "x"), {"mode": "sideways"}, cgraph.GraphError, ()),
    ("jacobian", ("no_rule", "w"), {"mode": "forward"}, cgraph.InvalidOperationError, ("no_rule",)),
    ("jacobian", ("broken", "x"), {"mode": "forward"}, cgraph.OperationError, ("broken",)),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "error", "nodes"),
    ERRORS,
    ids=[f"{e[0]}-{e[3].__name__}-{i}" for i, e in enumerate(ERRORS)],
)
def test_errors_name_the_node_and_change_nothing(method, args, kwargs, error, nodes):
    cg = _graph_for_errors()
    cg.forward("f")
    cg.backward("f")
    before = snapshot(cg)
    with pytest.raises(error) as raised:
        getattr(cg, method)(*args, **kwargs)
    assert raised.value.nodes[: len(nodes)] == nodes
    for name in nodes:
        assert repr(name) in str(raised.value)
    assert_same_state(before, snapshot(cg))


def test_jacobian_in_reverse_mode_refuses_an_input_that_is_not_trainable():
    cg = ComputationalGraph()
    cg.add_input("X", np.ones(2), trainable=False)
    cg.add_computation_node("f", "exp", ("X",))
    before = snapshot(cg)
    with pytest.raises(cgraph.NoGradientError, match=r"'X' is not trainable.*mode='forward'"):
        cg.jacobian("f", "X", mode="reverse")
    assert_same_state(before, snapshot(cg))


def test_a_failed_sweep_asks_for_a_new_forward_before_backward():
    cg = _graph_for_errors()
    cg.forward("no_rule")
    with pytest.raises(cgraph.InvalidOperationError, match="has no tangent rule"):
        cg.jvp("no_rule", tangents={"w": 1.0}, feed={"w": 5.0})
    with pytest.raises(cgraph.NotComputedError, match="the last one failed"):
        cg.backward("no_rule")  # the ops hold the failed sweep's state, at w = 5
    cg.forward("no_rule")
    assert cg.backward("no_rule")["w"] == 2 * 3 * 3.0

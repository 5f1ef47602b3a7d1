"""Subgraphs as operations: one graph used many times, readable by name, in every mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

from cgraph import ComputationalGraph, minimize, numerical_gradient
from cgraph.errors import DuplicateNodeError, InvalidValueError, UnknownNodeError
from cgraph.optim import Adam

if HAS_TORCH:
    import torch


def _cell() -> ComputationalGraph:
    """h' = tanh(w h + u x + b): a recurrent cell with its own default parameters."""
    cell = ComputationalGraph()
    cell.add_inputs(h=0.0, x=0.0, w=0.5, u=1.5, b=0.1)
    cell.add_computation_node("wh", "mul", ("w", "h"))
    cell.add_computation_node("ux", "mul", ("u", "x"))
    cell.add_computation_node("pre", "add", ("wh", "ux"))
    cell.add_computation_node("pre_b", "add", ("pre", "b"))
    cell.add_computation_node("h_next", "tanh", ("pre_b",))
    return cell


XS = [0.3, -1.2, 0.8, 2.0]


def _rnn(shared: bool = True) -> tuple[ComputationalGraph, str]:
    """The cell over XS, its weights shared by every step (or each step's own)."""
    rnn = ComputationalGraph()
    rnn.add_inputs(h0=0.1, w=0.5, u=1.5, b=0.1)
    for t, x in enumerate(XS):
        rnn.add_input(f"x{t}", x, trainable=False)
    h = "h0"
    for t in range(len(XS)):
        bound = {"h": h, "x": f"x{t}"}
        if shared:
            bound.update(w="w", u="u", b="b")
        h = rnn.add_subgraph(f"cell@t{t}", _cell(), bound)["h_next"]
    return rnn, h


def _by_hand(w=0.5, u=1.5, b=0.1, h=0.1) -> float:
    for x in XS:
        h = math.tanh(w * h + u * x + b)
    return h


def test_a_subgraph_used_at_every_step_computes_the_unrolled_recurrence():
    rnn, h = _rnn()
    assert h == "cell@t3/h_next"
    assert rnn.forward(h) == pytest.approx(_by_hand(), rel=1e-15)
    assert rnn.get_value("cell@t1/pre") == pytest.approx(
        0.5 * rnn.get_value("cell@t0/h_next") + 1.5 * XS[1]
    )
    assert sorted(rnn.subgraphs) == [f"cell@t{t}" for t in range(4)]
    assert rnn.subgraphs["cell@t0"] == ["h_next"]


def test_gradients_reach_the_shared_weights_and_every_inner_node_by_name():
    rnn, h = _rnn()
    numerical = numerical_gradient(rnn, h)
    rnn.forward(h)
    grads = rnn.backward(h)
    for name in ("w", "u", "b", "h0"):
        assert grads[name] == pytest.approx(numerical[name], rel=1e-6, abs=1e-9)
    assert rnn.get_gradient("cell@t2/pre_b") == pytest.approx(
        (1 - rnn.get_value("cell@t2/h_next") ** 2) * rnn.get_gradient("cell@t2/h_next")
    )
    assert "cell@t2/wh" in rnn.summary()


def test_unbound_inputs_become_each_uses_own_parameters():
    rnn, h = _rnn(shared=False)
    assert {"cell@t0/w", "cell@t3/b"} <= set(rnn.inputs)
    assert rnn.inputs["cell@t1/u"].output == 1.5
    rnn.forward(h)
    grads = rnn.backward(h)
    assert grads["cell@t0/w"] != grads["cell@t3/w"]


def test_forward_mode_and_second_order_through_uses():
    rnn, h = _rnn()
    rnn.forward(h)
    _, tangent = rnn.jvp(h, tangents={"w": 1.0})
    assert tangent == pytest.approx(rnn.backward(h)["w"], rel=1e-12)
    step = 1e-4
    second = (_by_hand(w=0.5 + step) - 2 * _by_hand() + _by_hand(w=0.5 - step)) / step**2
    assert rnn.hessian(h, "w") == pytest.approx(second, rel=1e-5)


def test_a_gradient_graph_used_as_a_subgraph_nests_a_derivative_without_copying_nodes():
    # f(x) = x^3; its gradient graph computes 3x^2, used inside a new problem:
    # minimise (f'(x) - 12)^2, whose solution is x = 2.
    f = ComputationalGraph()
    f.add_inputs(x=1.0)
    f.add_computation_node("x2", "square", ("x",))
    f.add_computation_node("y", "mul", ("x2", "x"))
    df = f.gradient_graph("y", ["x"])
    outer = ComputationalGraph()
    outer.add_inputs(z=1.5)
    outer.add_constant("target", 12.0)
    slope = outer.add_subgraph("df", df, {"x": "z"}, outputs="grad/y/x")["grad/y/x"]
    outer.add_computation_node("gap", "sub", (slope, "target"))
    outer.add_computation_node("loss", "square", ("gap",))
    assert outer.forward("loss") == pytest.approx((3 * 1.5**2 - 12) ** 2)
    # d/dz (3z^2 - 12)^2 = 2 (3z^2 - 12) 6z: a second derivative of f, through the use
    assert outer.backward("loss")["z"] == pytest.approx(2 * (3 * 1.5**2 - 12) * 6 * 1.5)
    result = minimize(outer, "loss", ["z"], optimizer=Adam(lr=0.05), steps=2000, progress=False)
    assert result.x["z"] == pytest.approx(2.0, abs=1e-3)


def test_outputs_pick_what_is_copied():
    cell = _cell()
    cg = ComputationalGraph()
    cg.add_inputs(h=0.2, x=1.0)
    names = cg.add_subgraph("c", cell, {"h": "h", "x": "x"}, outputs=["ux", "h_next"])
    assert names == {"ux": "c/ux", "h_next": "c/h_next"}
    only_ux = ComputationalGraph()
    only_ux.add_inputs(x=1.0)
    only_ux.add_subgraph("c", cell, {"x": "x"}, outputs="ux")
    assert sorted(only_ux.nodes) == ["c/u", "c/ux", "x"]  # nothing else is needed


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"inputs": {"nope": "x"}}, UnknownNodeError, "not an input of the subgraph"),
        ({"inputs": {"h": "missing"}}, UnknownNodeError, "not a node of the graph"),
        ({"inputs": {"x": "x"}, "outputs": "h_nxt"}, UnknownNodeError, "did you mean 'h_next'"),
        ({"name": "", "inputs": {"x": "x"}}, InvalidValueError, "non-empty string"),
        ({"name": "taken", "inputs": {"x": "x"}}, DuplicateNodeError, "'taken/h'"),
    ],
)
def test_a_refused_use_declares_nothing(kwargs, error, words):
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_input("taken/h", 0.0)
    before = (list(cg.nodes), sorted(cg.graph.edges), dict(cg.subgraphs))
    with pytest.raises(error, match=words):
        cg.add_subgraph(kwargs.pop("name", "taken"), _cell(), **kwargs)
    assert (list(cg.nodes), sorted(cg.graph.edges), dict(cg.subgraphs)) == before


def test_a_use_name_is_used_once():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_subgraph("c", _cell(), {"x": "x"}, outputs="ux")
    with pytest.raises(DuplicateNodeError):
        cg.add_subgraph("c", _cell(), {"x": "x"}, outputs="wh")


def test_the_subgraph_itself_is_unchanged_and_arrays_are_copied():
    cell = ComputationalGraph()
    cell.add_inputs(v=np.ones(3))
    cell.add_computation_node("s", "sum", ("v",))
    cg = ComputationalGraph()
    cg.add_subgraph("a", cell)
    cg.inputs["a/v"].output[0] = 5.0
    assert cell.inputs["v"].output[0] == 1.0
    assert list(cell.nodes) == ["v", "s"]


@needs_torch
def test_the_recurrence_matches_torch():
    w, u, b, h = (
        torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.5, 1.5, 0.1, 0.1)
    )
    state = h
    for x in XS:
        state = torch.tanh(w * state + u * x + b)
    state.backward()
    rnn, root = _rnn()
    rnn.forward(root)
    grads = rnn.backward(root)
    for name, tensor in zip(("w", "u", "b", "h0"), (w, u, b, h), strict=True):
        assert grads[name] == pytest.approx(tensor.grad.item(), rel=1e-12)


def test_drawings_show_each_use_as_one_box_until_asked_otherwise():
    from cgraph.viz.layout import build_view

    rnn, _ = _rnn()
    boxes = [box.key for box in build_view(rnn).boxes]
    assert "cell@t2/*" in boxes
    assert not any(key.startswith("cell@t2/") and key != "cell@t2/*" for key in boxes)
    every = [box.key for box in build_view(rnn, collapse=False).boxes]
    assert "cell@t2/pre_b" in every


def test_an_input_fixed_in_the_subgraph_gets_its_gradient_when_bound_to_a_trainable_node():
    cell = ComputationalGraph()
    cell.add_inputs(w=np.array([[1.0, 2.0], [3.0, 4.0]]))
    cell.add_input("x", np.zeros(2), trainable=False)  # data in the subgraph itself
    cell.add_computation_node("y", "matmul", ("w", "x"))
    cell.add_computation_node("s", "sum", ("y",))
    cg = ComputationalGraph()
    cg.add_inputs(X=np.array([1.0, -1.0]))  # trainable here
    cg.add_subgraph("c", cell, {"x": "X"})
    cg.forward("c/s")
    np.testing.assert_array_equal(cg.backward("c/s")["X"], [4.0, 6.0])

"""dense(): a layer as named nodes, its initialisation, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, dense, gradcheck

if HAS_TORCH:  # only the tests marked needs_torch use the oracle
    from oracle import torch_reference


def _data_graph(rows: int = 5, features: int = 3, dtype=np.float64) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_input(
        "X", np.random.default_rng(1).normal(size=(rows, features)).astype(dtype), trainable=False
    )
    return cg


def test_dense_declares_named_nodes_and_returns_the_output_name():
    cg = _data_graph()
    assert dense(cg, "layer1", "X", 4, rng=0) == "layer1/a"
    assert list(cg.nodes)[1:] == ["layer1/W", "layer1/b", "layer1/z", "layer1/a"]
    assert cg.inputs["layer1/W"].output.shape == (4, 3)
    np.testing.assert_array_equal(cg.inputs["layer1/b"].output, np.zeros(4))
    assert cg.operations["layer1/z"].op.name == "linear"
    assert cg.operations["layer1/a"].op.name == "relu"
    assert dense(cg, "out", "layer1/a", 2, activation=None, rng=0) == "out/z"
    assert "out/a" not in cg


@needs_torch
def test_dense_layers_compute_what_numpy_computes_and_their_gradients_check():
    cg = _data_graph()
    hidden = dense(cg, "layer1", "X", 4, activation="tanh", rng=0)
    logits = dense(cg, "layer2", hidden, 2, activation=None, rng=0)
    cg.add_input("labels", np.array([0, 1, 1, 0, 1]), trainable=False)
    cg.add_computation_node("loss", "cross_entropy", (logits, "labels"))
    x = cg.inputs["X"].output
    w1, b1, w2, b2 = (cg.inputs[n].output for n in ("layer1/W", "layer1/b", "layer2/W", "layer2/b"))
    np.testing.assert_allclose(cg.forward(logits), np.tanh(x @ w1.T + b1) @ w2.T + b2)
    cg.forward("loss")
    gradients = cg.backward("loss")
    assert set(gradients) == {"layer1/W", "layer1/b", "layer2/W", "layer2/b"}
    reference = torch_reference(cg, "loss").gradients
    for name, gradient in gradients.items():
        np.testing.assert_allclose(gradient, reference[name], rtol=1e-12, atol=1e-15)
    assert gradcheck(cg, "loss")


def test_he_init_for_relu_and_xavier_otherwise_have_the_expected_spread():
    cg = _data_graph(features=400)
    dense(cg, "relu_layer", "X", 500, rng=0)
    dense(cg, "tanh_layer", "X", 200, activation="tanh", rng=0)
    he = cg.inputs["relu_layer/W"].output
    xavier = cg.inputs["tanh_layer/W"].output
    assert he.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    limit = np.sqrt(6 / (400 + 200))
    assert np.abs(xavier).max() <= limit
    assert xavier.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)  # uniform's spread


def test_seeded_layers_are_reproducible_and_one_generator_gives_distinct_layers():
    def weights(rng):
        cg = _data_graph()
        dense(cg, "a", "X", 3, rng=rng)
        dense(cg, "b", "X", 3, rng=rng)
        return cg.inputs["a/W"].output, cg.inputs["b/W"].output

    first, second = weights(np.random.default_rng(7)), weights(np.random.default_rng(7))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(weights(7)[0], weights(7)[0])


def test_float32_layers_stay_float32():
    cg = _data_graph(dtype=np.float32)
    out = dense(cg, "layer1", "X", 4, rng=0, dtype=np.float32)
    assert cg.forward(out).dtype == np.float32
    assert cg.backward(out)["layer1/W"].dtype == np.float32


def test_in_features_comes_from_the_linear_node_before_the_activation():
    cg = _data_graph(features=6)
    hidden = dense(cg, "layer1", "X", 5, activation="sigmoid", rng=0)
    dense(cg, "layer2", hidden, 2, rng=0)
    assert cg.inputs["layer2/W"].output.shape == (2, 5)


def _assert_refused(cg, error, message, *args, **kwargs):
    before = snapshot(cg)
    with pytest.raises(error) as caught:
        dense(cg, *args, **kwargs)
    assert message in str(caught.value)
    assert_same_state(before, snapshot(cg))
    return caught.value


def test_refusals_name_the_nodes_and_add_nothing():
    cg = _data_graph()
    dense(cg, "layer1", "X", 4, rng=0)
    error = _assert_refused(cg, cgraph.DuplicateNodeError, "already exist", "layer1", "X", 4)
    assert "layer1/W" in error.nodes
    error = _assert_refused(cg, cgraph.UnknownNodeError, "is not in the graph", "l2", "Y", 4)
    assert error.nodes == ("Y",)
    _assert_refused(
        cg,
        cgraph.InvalidOperationError,
        "no operation is registered as 'relux'",
        "l2",
        "X",
        4,
        activation="relux",
    )
    _assert_refused(
        cg, cgraph.InvalidOperationError, "unknown init 'glorot'", "l2", "X", 4, init="glorot"
    )
    cg.add_computation_node("total", "sum", ("X",), axis=0)
    error = _assert_refused(cg, cgraph.ShapeError, "give in_features=", "l2", "total", 4)
    assert error.nodes == ("total",)

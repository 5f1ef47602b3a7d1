"""Dropout: its mask is reproducible, keeps the mean, and is off outside training.

``test_ops.py`` checks its values and derivatives in every mode with fixed
masks (0 and mask numbers 1 to 3); this module checks the randomness: the
fraction kept and the mean, the same mask for the same number, a new mask per
training step under ``minimize``, and bad parameters or inputs refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from cgraph import ComputationalGraph, GraphError, gradcheck, minimize
from cgraph.errors import InvalidOperationError, InvalidValueError, ShapeError
from cgraph.ops import Dropout
from cgraph.optim import GradientDescent

RNG = np.random.default_rng(0)


def _dropout_graph(x, p=0.5, seed=0) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_input("training", 0, trainable=False)
    cg.add_computation_node("y", Dropout(p=p, seed=seed), ("x", "training"))
    cg.add_computation_node("s", "sum", ("y",))
    return cg


def test_dropout_is_the_identity_outside_training():
    x = RNG.normal(size=(3, 4))
    cg = _dropout_graph(x)
    assert cg.forward("y") is cg.inputs["x"].output
    cg.forward("s")
    np.testing.assert_array_equal(cg.backward("s")["x"], np.ones((3, 4)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_the_mean_in_expectation(p):
    x = np.ones(200_000)
    cg = _dropout_graph(x, p=p)
    y = cg.forward("y", feed={"training": 1})
    kept = np.count_nonzero(y) / x.size
    assert kept == pytest.approx(1 - p, abs=0.005)  # about 1 - p of the elements kept
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p))  # each scaled by 1 / (1 - p)
    # The mean of y is that of x up to sampling noise: its standard error is sqrt(p / (1 - p) / n).
    assert np.mean(y) == pytest.approx(1.0, abs=5 * np.sqrt(p / (1 - p) / x.size))


def test_dropout_masks_are_reproducible_and_differ_by_number_and_seed():
    x = np.ones(1000)
    op = Dropout(p=0.5, seed=0)
    np.testing.assert_array_equal(op.forward(x, 3), op.forward(x, 3))
    assert not np.array_equal(op.forward(x, 3), op.forward(x, 4))
    assert not np.array_equal(op.forward(x, 3), Dropout(p=0.5, seed=1).forward(x, 3))


def test_dropout_backward_uses_the_forwards_mask_and_gradcheck_passes():
    x = RNG.normal(size=(4, 5))
    cg = _dropout_graph(x, p=0.3)
    y = cg.forward("s", feed={"training": 7})
    gradient = cg.backward("s")["x"]
    np.testing.assert_allclose(gradient, cg.get_value("y") / x)  # m / (1 - p) per element
    assert y == pytest.approx(np.sum(gradient * x))
    cg.inputs["training"].output = 7  # a fixed mask: central differences see one function
    assert gradcheck(cg, "s")
    hessian = cg.hessian("s", "x")  # linear in x: zero
    np.testing.assert_array_equal(hessian, 0.0)


def test_dropout_of_p_one_drops_everything_and_of_p_zero_nothing():
    x = RNG.normal(size=10)
    np.testing.assert_array_equal(Dropout(p=1.0).forward(x, 1), np.zeros(10))
    np.testing.assert_array_equal(Dropout(p=0.0).forward(x, 1), x)


@pytest.mark.parametrize(
    ("training", "error", "message"),
    [
        (-1, InvalidValueError, "0 .not training. or a mask number"),
        (1.5, InvalidValueError, "0 .not training. or a mask number"),
        (np.ones(2), ShapeError, "a single number"),
    ],
)
def test_a_bad_training_input_is_refused_naming_the_node(training, error, message):
    cg = _dropout_graph(np.ones(3))
    with pytest.raises(error, match=message) as caught:
        cg.forward("y", feed={"training": training})
    assert "'y'" in str(caught.value)


def test_minimize_feeds_a_new_mask_per_step_and_leaves_dropout_off():
    # A linear model behind dropout: each step feeds training = step + 1, a fresh mask.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 8))
    target = x @ np.arange(8.0)
    cg = ComputationalGraph()
    cg.add_input("X", x, trainable=False)
    cg.add_input("t", target, trainable=False)
    cg.add_input("training", 0, trainable=False)
    cg.add_input("w", np.zeros(8))
    cg.add_computation_node("X_drop", "dropout", ("X", "training"), p=0.2)
    cg.add_computation_node("pred", "matmul", ("X_drop", "w"))
    cg.add_computation_node("loss", "mse", ("pred", "t"))
    seen = []
    result = minimize(
        cg,
        "loss",
        optimizer=GradientDescent(lr=0.05),
        steps=300,
        tol=None,
        feed=lambda step: {"training": step + 1},
        callback=lambda r: seen.append(cg.get_value("X_drop").copy()),
    )
    assert result.nit == 300
    assert not np.array_equal(seen[0], seen[1])  # a new mask each step
    assert cg.inputs["training"].output == 0  # feeds are not kept: evaluation is exact
    np.testing.assert_array_equal(cg.forward("X_drop"), x)
    # Dropout on the inputs acts as a ridge penalty: the weights learn the line, shrunk.
    w = cg.inputs["w"].output
    assert np.corrcoef(w, np.arange(8.0))[0, 1] > 0.95
    assert cg.forward("loss") < 0.1 * np.mean(target**2)


def test_dropout_refuses_to_be_declared_without_its_training_input():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.ones(3))
    with pytest.raises(GraphError, match="takes 2 input"):
        cg.add_computation_node("y", "dropout", ("x",))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"p": 1.5}, r"p must lie in \[0, 1\]"),
        ({"seed": -1}, "seed must be an int >= 0"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(InvalidOperationError, match=message):
        Dropout(**params)

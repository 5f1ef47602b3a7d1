"""numerical_gradient and gradcheck: right answers, precise reports of wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, Operation, gradcheck, numerical_gradient


class WrongSquare(Operation):
    """x^2 with a wrong derivative (3x instead of 2x): what gradcheck must catch."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, upstream):
        return (3.0 * self.x * upstream,)


def test_numerical_gradient_of_the_seed_graph(classic):
    grads = numerical_gradient(classic, "f")
    assert grads["x"] == pytest.approx(0.5348320870757595, rel=1e-8)
    assert grads["y"] == pytest.approx(0.342460382923052, rel=1e-8)


def test_numerical_gradient_of_an_array_input_has_its_shape():
    cg = ComputationalGraph()
    cg.add_inputs(w=np.arange(6.0).reshape(2, 3))
    cg.add_computation_node("s", "sin", ("w",))
    grads = numerical_gradient(cg, "s", wrt="w")
    assert grads["w"].shape == (2, 3)
    np.testing.assert_allclose(grads["w"], np.cos(np.arange(6.0).reshape(2, 3)), rtol=1e-8)


def test_numerical_gradient_leaves_the_inputs_and_the_evaluation_point_alone(classic):
    classic.forward("f")
    classic.backward("f")
    before = classic.inputs["x"].output
    numerical_gradient(classic, "f")
    assert classic.inputs["x"].output == before
    assert classic.get_value("f") == pytest.approx(0.41345423252018193, rel=1e-15)


def test_gradcheck_passes_on_right_gradients(classic):
    assert gradcheck(classic, "f") is True
    assert classic.get_gradient("x") == 0.5348320870757595


def test_gradcheck_names_the_input_element_and_both_values_of_the_worst_mismatch():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.array([1.0, -2.0, 0.5]), b=1.0)
    cg.add_computation_node("sq", WrongSquare, ("a",))
    cg.add_computation_node("f", "mul", ("sq", "b"))
    with pytest.raises(cgraph.GradientMismatchError) as info:
        gradcheck(cg, "f")
    message = str(info.value)
    assert "'a' at element (1,)" in message
    assert "-6 by backward but -4 by central differences" in message
    assert info.value.nodes == ("a", "f")


def test_gradcheck_warns_on_float32_and_checks_in_float64():
    cg = ComputationalGraph()
    cg.add_inputs(w=np.array([0.3, -0.7], dtype=np.float32))
    cg.add_computation_node("t", "tanh", ("w",))
    with pytest.warns(UserWarning, match="'w' is float32"):
        assert gradcheck(cg, "t")
    assert cg.inputs["w"].output.dtype == np.float32


def test_gradcheck_refuses_an_input_that_is_not_trainable():
    cg = ComputationalGraph()
    cg.add_input("data", 2.0, trainable=False)
    cg.add_inputs(w=1.0)
    cg.add_computation_node("f", "mul", ("w", "data"))
    with pytest.raises(cgraph.NoGradientError, match="'data' is not trainable"):
        gradcheck(cg, "f", wrt=["data"])


def test_gradcheck_of_an_unknown_input_changes_nothing(classic):
    classic.forward("f")
    before = snapshot(classic)
    with pytest.raises(cgraph.UnknownNodeError, match="'z'"):
        gradcheck(classic, "f", wrt="z")
    assert_same_state(before, snapshot(classic))

"""numerical_gradient and gradcheck: right answers, precise reports of wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, Operation, gradcheck, numerical_gradient
from cgraph.transforms.gradcheck import check_gradients, compare_gradients


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


# ------------------------------------------------------------------------------------------
# Tolerances and steps that cannot mean anything are refused (issue 13)
# ------------------------------------------------------------------------------------------


def wrong_square_graph() -> ComputationalGraph:
    """A gradient off by 98 at x = 98: 3x by backward, 2x by central differences."""
    cg = ComputationalGraph()
    cg.add_inputs(x=98.0)
    cg.add_computation_node("f", WrongSquare, ("x",))
    return cg


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("atol", -1.0),
        ("rtol", -1e-3),
        ("atol", np.nan),
        ("rtol", np.inf),
        ("atol", "0"),
        ("eps", 0.0),
        ("eps", -1e-6),
        ("eps", np.nan),
        ("eps", np.inf),
        ("eps", True),
    ],
)
def test_gradcheck_refuses_a_tolerance_or_step_that_cannot_mean_anything(argument, value):
    cg = wrong_square_graph()
    before = snapshot(cg)
    with pytest.raises(cgraph.InvalidValueError, match=f"{argument} must be a finite number"):
        gradcheck(cg, "f", **{argument: value})
    assert_same_state(before, snapshot(cg))


def test_a_negative_atol_no_longer_passes_a_gradient_off_by_98():
    with pytest.raises(cgraph.InvalidValueError, match="atol must be a finite number >= 0"):
        gradcheck(wrong_square_graph(), "f", atol=-1e9)
    with pytest.raises(cgraph.GradientMismatchError, match="294 by backward but 196"):
        gradcheck(wrong_square_graph(), "f")


@pytest.mark.parametrize("eps", [0.0, -1e-3, np.nan, np.inf])
def test_numerical_gradient_refuses_a_step_that_is_not_positive_and_finite(classic, eps):
    with pytest.raises(cgraph.InvalidValueError, match="eps must be a finite number > 0"):
        numerical_gradient(classic, "f", eps=eps)


def test_zero_tolerances_pass_an_exact_match():
    # x * y: central differences of a linear function are exact (with eps a power of two).
    cg = ComputationalGraph()
    cg.add_inputs(x=3.0, y=np.array([0.5, -2.0, 0.0]))
    cg.add_computation_node("f", "mul", ("x", "y"))
    assert gradcheck(cg, "f", eps=2.0**-10, atol=0.0, rtol=0.0) is True
    rows = check_gradients(cg, "f", eps=2.0**-10, atol=0.0, rtol=0.0)
    assert all(row["passed"] for row in rows.values())
    assert rows["y"]["abs_error"] == 0.0


def test_zero_tolerances_still_fail_an_inexact_match():
    cg = wrong_square_graph()
    with pytest.raises(cgraph.GradientMismatchError):
        gradcheck(cg, "f", atol=0.0, rtol=0.0)


def test_compare_gradients_ranks_a_failing_element_above_passing_ones():
    # Element 0 passes at ratio 1 (difference == bound); element 2 fails, NaN worst of all.
    row = compare_gradients(np.array([1.5, 2.0, np.nan]), np.array([1.0, 2.0, 3.0]), 0.5, 0.0)
    assert (row["passed"], row["element"]) == (False, [2])
    row = compare_gradients(np.array([1.5, 2.0]), np.array([1.0, 2.0]), 0.5, 0.0)
    assert (row["passed"], row["element"]) == (True, [0])


def test_check_gradients_reports_what_gradcheck_raises():
    rows = check_gradients(wrong_square_graph(), "f")
    assert rows["x"]["passed"] is False
    assert (rows["x"]["analytic"], rows["x"]["numerical"]) == (294.0, pytest.approx(196.0))

"""Every value knows the input state it was computed in; one from another state is never shown.

The graph shows the state of its last pass (GraphCore.stale): values from a pass
with other fed values, or computed before an input was assigned, are refused by
get_value and read "stale" in summaries and drawings.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cgraph import ComputationalGraph, NotComputedError, minimize
from cgraph.optim import GradientDescent


def two_roots() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("s", "square", ("x",))
    cg.add_computation_node("b", "exp", ("s",))
    cg.add_computation_node("a", "neg", ("x",))
    return cg


def test_the_issues_example_a_fed_pass_makes_an_earlier_value_stale():
    cg = two_roots()
    cg.forward("b")  # b = exp(square(x)), at the stored x = 1
    cg.forward("a", feed={"x": 3.0})  # a at x = 3
    assert cg.get_value("a") == -3.0
    with pytest.raises(
        NotComputedError,
        match=r"'b' is stale: the last pass, of 'a', fed "
        r"input 'x'",
    ) as info:
        cg.get_value("b")
    assert list(info.value.nodes) == ["b"]
    table = cg.summary()
    assert "stale" in next(line for line in table.splitlines() if line.startswith("b "))
    assert "stale" in next(line for line in table.splitlines() if line.startswith("s "))
    assert "-3" in next(line for line in table.splitlines() if line.startswith("a "))
    cg.forward("b", feed={"x": 3.0})  # the same state again: both shown
    assert cg.get_value("b") == pytest.approx(math.exp(9.0))
    assert cg.get_value("a") == -3.0


def test_the_same_fed_values_in_new_arrays_are_the_same_state():
    cg = ComputationalGraph()
    cg.add_inputs(w=np.ones(3))
    cg.add_input("X", np.zeros((2, 3)), trainable=False)
    cg.add_expression("p", "X @ w")
    cg.add_expression("q", "sum(X)")
    data = np.arange(6.0).reshape(2, 3)
    cg.forward("p", feed={"X": data})
    cg.forward("q", feed={"X": data.copy()})
    np.testing.assert_array_equal(cg.get_value("p"), [3.0, 12.0])
    cg.forward("q", feed={"X": data + 1})
    with pytest.raises(NotComputedError, match="another value of input 'X' fed"):
        cg.get_value("p")


def test_assigning_an_input_makes_the_values_from_before_stale_until_the_next_forward():
    # The seed's loop: forward, backward, update x in place of the old value.
    cg = two_roots()
    cg.forward("b")
    cg.backward("b")
    cg.inputs["x"].output -= 0.1 * cg.get_gradient("x")
    with pytest.raises(NotComputedError, match="input 'x' was assigned after the last pass"):
        cg.get_value("b")
    assert cg.get_value("x") == pytest.approx(1.0 - 0.1 * 2 * math.e)  # inputs: their own
    cg.forward("b")
    assert cg.get_value("b") == pytest.approx(math.exp((1.0 - 0.2 * math.e) ** 2))


def test_a_change_in_place_counts_once_marked():
    cg = ComputationalGraph()
    cg.add_inputs(w=[1.0, 2.0])
    cg.add_computation_node("s", "sum", ("w",))
    cg.forward("s")
    cg.inputs["w"].output[0] = 5.0
    cg.inputs["w"].mark_changed()
    with pytest.raises(NotComputedError, match="stale"):
        cg.get_value("s")


def test_independent_roots_over_the_same_stored_inputs_stay_current():
    cg = two_roots()
    cg.add_inputs(y=2.0)
    cg.add_computation_node("c", "sin", ("y",))
    cg.forward("b")
    cg.forward("c")
    cg.forward("a")
    assert cg.get_value("b") == pytest.approx(math.e)
    assert cg.get_value("c") == pytest.approx(math.sin(2.0))
    assert "stale" not in cg.summary()


def test_an_optimisers_step_makes_the_loss_stale_and_minimize_leaves_it_current():
    cg = ComputationalGraph()
    cg.add_inputs(w=np.array([3.0, -1.0]))
    cg.add_expression("loss", "sum(w * w)")
    optimizer = GradientDescent(lr=0.1).bind(cg)
    cg.forward("loss")
    cg.backward("loss")
    optimizer.step()  # w changes in place
    with pytest.raises(NotComputedError, match="'w' was assigned"):
        cg.get_value("loss")
    result = minimize(cg, "loss", optimizer=GradientDescent(lr=0.1), steps=5, tol=None)
    assert cg.get_value("loss") == pytest.approx(result.fun)


def test_drawings_say_stale_instead_of_a_value():
    cg = two_roots()
    cg.forward("b")
    cg.forward("a", feed={"x": 3.0})
    dot = cg.to_dot()
    assert "value stale" in dot.split('"b" [')[1].split("\n")[0]
    assert "value -3" in dot.split('"a" [')[1].split("\n")[0]


def test_explain_refuses_to_mix_a_gradient_with_values_of_another_state():
    cg = two_roots()
    cg.forward("b")
    cg.backward("b")
    assert cg.explain("x").total == pytest.approx(2 * math.e)
    cg.inputs["x"].output = 2.0
    with pytest.raises(NotComputedError, match="explain of 'b': its value is stale"):
        cg.explain("x")

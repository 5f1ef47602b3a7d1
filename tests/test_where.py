"""``where`` gives the branch it did not choose a zero gradient, never NaN, in every mode.

``sum(where(x > 0, log(x), 0))`` at x = [-1, 0, 4] has gradient [0, 0, 1/4].
JAX, PyTorch and TensorFlow give NaN at the first two (0 times log's infinite
or undefined derivative); cgraph counts zero times anything as zero on the
elementwise nodes that feed a ``where`` branch (``cgraph.ops.kinds.nan_safe``),
and only there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

from cgraph import ComputationalGraph, numerical_gradient

if HAS_TORCH:
    import torch

X = np.array([-1.0, 0.0, 4.0])


def _guarded_log(x=X, use_plans=True) -> ComputationalGraph:
    """sum(where(x > 0, log(x) * 2, 0)): a two-node branch, so the guard reaches past log."""
    cg = ComputationalGraph()
    cg.use_plans = use_plans
    cg.add_inputs(x=x)
    cg.add_constant("zero", 0.0)
    cg.add_constant("two", 2.0)
    cg.add_computation_node("positive", "greater", ("x", "zero"))
    cg.add_computation_node("log_x", "log", ("x",))
    cg.add_computation_node("twice", "mul", ("log_x", "two"))
    cg.add_computation_node("chosen", "where", ("positive", "twice", "zero"))
    cg.add_computation_node("s", "sum", ("chosen",))
    return cg


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():  # log(-1) and log(0) in the branch not chosen warn
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_the_untaken_branch_gets_zero_gradient_not_nan_in_backward():
    cg = _guarded_log(use_plans=False)
    assert cg.forward("s") == pytest.approx(2 * np.log(4.0))
    np.testing.assert_array_equal(cg.backward("s")["x"], [0.0, 0.0, 0.5])


def test_a_compiled_plan_guards_the_same_nodes_bit_for_bit():
    planned, interpreted = _guarded_log(), _guarded_log(use_plans=False)
    f = planned.compile("s")
    assert "nan_safe" not in f.source  # a constant, passed in: the code names no function
    planned.forward("s")
    interpreted.forward("s")
    grads = planned.backward("s")["x"]
    assert grads.tobytes() == interpreted.backward("s")["x"].tobytes()
    assert f.value_and_grad()[1]["x"].tobytes() == grads.tobytes()


def test_gradient_graphs_and_hessians_are_nan_safe_too():
    cg = _guarded_log()
    gg = cg.gradient_graph("s", ["x"])
    np.testing.assert_array_equal(gg.forward("grad/s/x"), [0.0, 0.0, 0.5])
    hessian = cg.hessian("s", "x")
    assert np.all(np.isfinite(hessian))
    np.testing.assert_allclose(hessian, np.diag([0.0, 0.0, -2 / 16]), atol=0)


def test_forward_mode_selects_the_chosen_branchs_tangent():
    cg = _guarded_log()
    _, tangent = cg.jvp("s", tangents={"x": np.ones(3)})
    assert tangent == pytest.approx(0.5)


def test_only_elementwise_nodes_feeding_a_branch_are_guarded():
    cg = _guarded_log()
    cg.add_computation_node("elsewhere", "log", ("x",))
    cg.add_computation_node("total", "add", ("s", "elsewhere"))
    schedule = cg.schedule("total")
    guarded = {
        node.name
        for pos, node in enumerate(schedule.nodes)
        if schedule.guarded is not None and schedule.guarded[pos]
    }
    assert guarded == {"log_x", "twice"}
    # log's derivative at 0, off the branch, is still what it is: there is no where to mask it
    cg.forward("total")
    assert not np.isfinite(cg.backward("total")["x"][1])


def test_a_graph_without_where_guards_nothing():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("y", "log", ("x",))
    assert cg.schedule("y").guarded is None


def test_it_agrees_with_central_differences_inside_the_domain():
    x = np.array([0.5, 2.0, -3.0])
    cg = _guarded_log(x)
    cg.forward("s")
    grads = cg.backward("s")
    np.testing.assert_allclose(grads["x"], numerical_gradient(cg, "s")["x"], rtol=1e-6, atol=1e-8)


@needs_torch
def test_torch_gives_nan_where_cgraph_gives_zero_and_agrees_elsewhere():
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    torch.where(t > 0, torch.log(t) * 2, torch.zeros(3, dtype=torch.float64)).sum().backward()
    reference = t.grad.numpy()
    cg = _guarded_log()
    cg.forward("s")
    ours = cg.backward("s")["x"]
    assert np.isnan(reference[1])  # torch: 0 * inf
    finite = np.isfinite(reference)
    np.testing.assert_allclose(ours[finite], reference[finite], rtol=1e-12)
    assert np.all(np.isfinite(ours))

"""cgraph.optim: each optimiser and schedule against torch.optim, step by step, in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

import cgraph
from cgraph import ComputationalGraph
from cgraph.optim import Adam, ExponentialLR, GradientDescent, Momentum, StepLR

if HAS_TORCH:  # only the tests marked needs_torch use torch.optim
    import torch

STEPS = 20
RNG = np.random.default_rng(5)
DATA = RNG.normal(size=(5, 3))
TARGET = RNG.normal(size=(5, 3))
W0 = RNG.normal(size=3)
B0 = 0.3


def build_graph() -> ComputationalGraph:
    """loss = sum((tanh(data * w + b) - target)^2): an array and a float parameter."""
    cg = ComputationalGraph()
    cg.add_inputs(w=W0, b=B0)
    cg.add_input("data", DATA, trainable=False)
    cg.add_input("target", TARGET, trainable=False)
    cg.add_computation_node("dw", "mul", ("data", "w"))
    cg.add_computation_node("z", "add", ("dw", "b"))
    cg.add_computation_node("t", "tanh", ("z",))
    cg.add_computation_node("r", "sub", ("t", "target"))
    cg.add_computation_node("loss", "square", ("r",))
    return cg


def torch_trajectory(make_optimizer, make_scheduler=None) -> list[tuple[np.ndarray, float]]:
    """(w, b) after each of STEPS steps of a torch optimiser on the same loss."""
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(B0, dtype=torch.float64, requires_grad=True)
    data, target = torch.tensor(DATA), torch.tensor(TARGET)
    optimizer = make_optimizer([w, b])
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    path = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        ((torch.tanh(data * w + b) - target) ** 2).sum().backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        path.append((w.detach().numpy().copy(), b.item()))
    return path


def cgraph_trajectory(optimizer) -> list[tuple[np.ndarray, float]]:
    """The same with cgraph: forward, backward, step; nothing to zero."""
    cg = build_graph()
    optimizer.bind(cg, ["w", "b"])
    path = []
    for _ in range(STEPS):
        cg.forward("loss")
        cg.backward("loss")
        optimizer.step()
        path.append((cg.inputs["w"].output.copy(), cg.inputs["b"].output))
    return path


CASES = {
    "sgd": (lambda: GradientDescent(lr=0.05),
            lambda p: torch.optim.SGD(p, lr=0.05), None),
    "sgd-weight-decay": (lambda: GradientDescent(lr=0.05, weight_decay=0.1),
                         lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.1), None),
    "momentum": (lambda: Momentum(lr=0.05, momentum=0.9),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), None),
    "momentum-dampening": (lambda: Momentum(lr=0.05, momentum=0.8, dampening=0.3),
                           lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
                           None),
    "nesterov": (lambda: Momentum(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                           weight_decay=0.01), None),
    "adam": (lambda: Adam(lr=0.05),
             lambda p: torch.optim.Adam(p, lr=0.05), None),
    "adam-options": (lambda: Adam(lr=0.02, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.05),
                     lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), eps=1e-4,
                                                weight_decay=0.05), None),
    "amsgrad": (lambda: Adam(lr=0.05, amsgrad=True),
                lambda p: torch.optim.Adam(p, lr=0.05, amsgrad=True), None),
    "step-lr": (lambda: GradientDescent(lr=StepLR(0.1, step_size=6, gamma=0.5)),
                lambda p: torch.optim.SGD(p, lr=0.1),
                lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=6, gamma=0.5)),
    "exponential-lr": (lambda: Adam(lr=ExponentialLR(0.05, gamma=0.9)),
                       lambda p: torch.optim.Adam(p, lr=0.05),
                       lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)),
    "momentum-step-lr": (lambda: Momentum(lr=StepLR(0.05, step_size=4), momentum=0.5),
                         lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5),
                         lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=4)),
}


@needs_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_for_20_steps(case):
    ours, theirs, scheduler = CASES[case]
    expected = torch_trajectory(theirs, scheduler)
    got = cgraph_trajectory(ours())
    for step, ((w, b), (tw, tb)) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(w, tw, rtol=1e-10, atol=1e-10, err_msg=f"w, step {step}")
        assert b == pytest.approx(tb, rel=1e-10, abs=1e-10), f"b, step {step}"
    # The run moved: a trajectory that stands still would match trivially.
    assert np.abs(got[-1][0] - W0).max() > 1e-3


@needs_torch
def test_minimize_follows_the_same_trajectory_as_torch():
    expected = torch_trajectory(lambda p: torch.optim.Adam(p, lr=0.05))
    cg = build_graph()
    result = cgraph.minimize(cg, "loss", optimizer=Adam(lr=0.05), steps=STEPS, tol=None)
    assert result.nit == STEPS
    np.testing.assert_allclose(result.history["x"]["w"][1:], [w for w, _ in expected],
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(result.history["x"]["b"][1:], [b for _, b in expected],
                               rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------
# Updates in place, atomic steps
# ------------------------------------------------------------------------------------------


def test_updates_in_place_and_a_float_stays_a_float():
    cg = build_graph()
    w = cg.inputs["w"].output
    opt = Adam(lr=0.1).bind(cg)
    cg.forward("loss")
    cg.backward("loss")
    opt.step()
    assert cg.inputs["w"].output is w
    assert not np.array_equal(w, W0)
    assert type(cg.inputs["b"].output) is float
    assert cg.inputs["b"].output != B0
    assert opt.steps == 1
    assert opt.state["w"]["step"] == 1


def test_step_takes_the_dict_backward_returns():
    cg = build_graph()
    opt = GradientDescent(lr=0.1).bind(cg, "b")
    cg.forward("loss")
    grads = cg.backward("loss")
    opt.step({"b": 1.0, "w": grads["w"]})
    assert cg.inputs["b"].output == pytest.approx(B0 - 0.1)
    np.testing.assert_array_equal(cg.inputs["w"].output, W0)  # not a parameter of opt


def test_float32_parameter_keeps_its_dtype():
    cg = ComputationalGraph()
    cg.add_inputs(v=np.array([1.0, 2.0], dtype=np.float32))
    cg.add_computation_node("f", "square", ("v",))
    opt = Momentum(lr=0.1).bind(cg)
    cg.forward("f")
    cg.backward("f")
    opt.step()
    assert cg.inputs["v"].output.dtype == np.float32
    np.testing.assert_allclose(cg.inputs["v"].output, [0.8, 1.6], rtol=1e-6)


def test_a_step_that_would_overflow_changes_nothing():
    cg = build_graph()
    opt = Momentum(lr=1e308, momentum=0.5).bind(cg)
    cg.forward("loss")
    cg.backward("loss")
    with np.errstate(over="ignore"), pytest.raises(
            cgraph.NonFiniteError, match="lower the learning rate") as info:
        opt.step()
    assert info.value.nodes in (("w",), ("b",))
    np.testing.assert_array_equal(cg.inputs["w"].output, W0)
    assert cg.inputs["b"].output == B0
    assert opt.steps == 0
    assert opt.state == {"w": {}, "b": {}}


def test_a_non_finite_gradient_is_refused_by_name():
    cg = build_graph()
    opt = GradientDescent(lr=0.1).bind(cg)
    with pytest.raises(cgraph.NonFiniteError, match="check_finite=True") as info:
        opt.step({"w": np.array([1.0, np.nan, 0.0]), "b": 0.0})
    assert info.value.nodes == ("w",)
    np.testing.assert_array_equal(cg.inputs["w"].output, W0)


def test_step_needs_a_gradient_and_a_graph():
    cg = build_graph()
    with pytest.raises(cgraph.GraphError, match="not bound"):
        Adam().step()
    opt = Adam().bind(cg)
    with pytest.raises(cgraph.NotComputedError, match="backward") as info:
        opt.step()
    assert info.value.nodes == ("w",)


def test_bind_again_starts_fresh():
    cg = build_graph()
    opt = Adam(lr=0.1).bind(cg)
    cg.forward("loss")
    cg.backward("loss")
    opt.step()
    assert opt.bind(cg).steps == 0
    assert opt.state == {"w": {}, "b": {}}


# ------------------------------------------------------------------------------------------
# Schedules and arguments
# ------------------------------------------------------------------------------------------


@needs_torch
def test_schedules_match_torch_schedulers():
    step = StepLR(0.3, step_size=3, gamma=0.5)
    expo = ExponentialLR(0.3, gamma=0.7)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    torch_step = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    torch_expo = torch.optim.lr_scheduler.ExponentialLR(opt2, gamma=0.7)
    for t in range(12):
        assert step(t) == pytest.approx(torch_step.get_last_lr()[0], rel=1e-12)
        assert expo(t) == pytest.approx(torch_expo.get_last_lr()[0], rel=1e-12)
        opt.step()
        opt2.step()
        torch_step.step()
        torch_expo.step()


def test_current_lr_follows_the_schedule():
    cg = build_graph()
    opt = GradientDescent(lr=lambda t: 1.0 / (t + 1)).bind(cg)
    for expected in (1.0, 0.5, 1 / 3):
        assert opt.current_lr == expected
        cg.forward("loss")
        cg.backward("loss")
        opt.step()


def test_a_schedule_giving_a_bad_rate_is_refused():
    cg = build_graph()
    opt = GradientDescent(lr=lambda t: -1.0).bind(cg)
    cg.forward("loss")
    cg.backward("loss")
    with pytest.raises(cgraph.GraphError, match=r"schedule gave lr = -1\.0"):
        opt.step()


@pytest.mark.parametrize(("make", "match"), [
    (lambda: GradientDescent(lr=0), r"lr must be in \(0"),
    (lambda: GradientDescent(lr=-0.1), r"lr must be in \(0"),
    (lambda: GradientDescent(lr="fast"), "lr must be a real number"),
    (lambda: GradientDescent(lr=math.nan), "lr must be in"),
    (lambda: GradientDescent(lr=0.1, weight_decay=-1), "weight_decay must be in"),
    (lambda: Momentum(lr=0.1, momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: Momentum(lr=0.1, dampening=1.5), r"dampening must be in \[0, 1\]"),
    (lambda: Momentum(lr=0.1, nesterov="yes"), "nesterov must be True or False"),
    (lambda: Momentum(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda: Momentum(lr=0.1, momentum=0.0, nesterov=True), "momentum > 0"),
    (lambda: Adam(betas=0.9), "betas must be a pair"),
    (lambda: Adam(betas=(0.9, 1.0)), r"betas\[1\] must be in"),
    (lambda: Adam(betas=(-0.1, 0.9)), r"betas\[0\] must be in"),
    (lambda: Adam(eps=-1e-8), "eps must be in"),
    (lambda: Adam(amsgrad=1), "amsgrad must be True or False"),
    (lambda: StepLR(0.1, step_size=0), "step_size must be an integer >= 1"),
    (lambda: StepLR(0.1, step_size=2.5), "step_size must be an integer >= 1"),
    (lambda: StepLR(0.1, step_size=2, gamma=-1), "gamma must be in"),
    (lambda: ExponentialLR(0.0, gamma=0.5), "lr must be in"),
    (lambda: ExponentialLR(0.1, gamma=None), "gamma must be a real number"),
])
def test_bad_hyperparameters_are_refused(make, match):
    with pytest.raises(cgraph.GraphError, match=match):
        make()


def test_bind_checks_the_parameter_names():
    cg = build_graph()
    with pytest.raises(cgraph.UnknownNodeError, match="did you mean 'w'") as info:
        Adam().bind(cg, ["ww"])
    assert info.value.nodes == ("ww",)
    with pytest.raises(cgraph.UnknownNodeError, match="an operation or constant"):
        Adam().bind(cg, ["loss"])
    with pytest.raises(cgraph.NoGradientError, match="not trainable"):
        Adam().bind(cg, ["data"])
    with pytest.raises(cgraph.GraphError, match="listed twice"):
        Adam().bind(cg, ["w", "w"])
    with pytest.raises(cgraph.GraphError, match="no parameters"):
        Adam().bind(ComputationalGraph())


def test_repr_shows_the_hyperparameters():
    assert repr(Adam(lr=0.01, amsgrad=True)) == (
        "Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, amsgrad=True)")
    assert repr(Momentum(lr=0.1, dampening=0.5, weight_decay=0.1)) == (
        "Momentum(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)")
    assert repr(GradientDescent(lr=StepLR(0.1, 5))) == (
        "GradientDescent(lr=StepLR(0.1, step_size=5, gamma=0.1))")

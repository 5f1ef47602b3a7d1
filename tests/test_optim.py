"""cgraph.optim: each optimiser and schedule against torch.optim, step by step, in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

import cgraph
from cgraph import ComputationalGraph
from cgraph.optim import (
    Adagrad,
    Adam,
    AdamW,
    ExponentialLR,
    GradientDescent,
    Momentum,
    RMSprop,
    StepLR,
    clip_grad_norm,
)

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


def clipped(optimizer, max_norm: float):
    """A torch optimiser whose step() first clips its gradients with clip_grad_norm_."""
    params = [param for group in optimizer.param_groups for param in group["params"]]

    def clip(*_) -> None:
        torch.nn.utils.clip_grad_norm_(params, max_norm)

    optimizer.register_step_pre_hook(clip)
    return optimizer


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
    "sgd": (lambda: GradientDescent(lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05), None),
    "sgd-weight-decay": (
        lambda: GradientDescent(lr=0.05, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.1),
        None,
    ),
    "momentum": (
        lambda: Momentum(lr=0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        None,
    ),
    "momentum-dampening": (
        lambda: Momentum(lr=0.05, momentum=0.8, dampening=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
        None,
    ),
    "nesterov": (
        lambda: Momentum(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        None,
    ),
    "adam": (lambda: Adam(lr=0.05), lambda p: torch.optim.Adam(p, lr=0.05), None),
    "adam-options": (
        lambda: Adam(lr=0.02, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.05),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.05),
        None,
    ),
    "amsgrad": (
        lambda: Adam(lr=0.05, amsgrad=True),
        lambda p: torch.optim.Adam(p, lr=0.05, amsgrad=True),
        None,
    ),
    "step-lr": (
        lambda: GradientDescent(lr=StepLR(0.1, step_size=6, gamma=0.5)),
        lambda p: torch.optim.SGD(p, lr=0.1),
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=6, gamma=0.5),
    ),
    "exponential-lr": (
        lambda: Adam(lr=ExponentialLR(0.05, gamma=0.9)),
        lambda p: torch.optim.Adam(p, lr=0.05),
        lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
    ),
    "momentum-step-lr": (
        lambda: Momentum(lr=StepLR(0.05, step_size=4), momentum=0.5),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5),
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=4),
    ),
    "rmsprop": (lambda: RMSprop(lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01), None),
    "rmsprop-momentum": (
        lambda: RMSprop(lr=0.005, momentum=0.9),
        lambda p: torch.optim.RMSprop(p, lr=0.005, momentum=0.9),
        None,
    ),
    "rmsprop-centered": (
        lambda: RMSprop(lr=0.01, centered=True),
        lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True),
        None,
    ),
    "rmsprop-options": (
        lambda: RMSprop(
            lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.8, centered=True
        ),
        lambda p: torch.optim.RMSprop(
            p, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.8, centered=True
        ),
        None,
    ),
    "rmsprop-step-lr": (
        lambda: RMSprop(lr=StepLR(0.01, step_size=5, gamma=0.5)),
        lambda p: torch.optim.RMSprop(p, lr=0.01),
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
    ),
    "adamw": (lambda: AdamW(lr=0.05), lambda p: torch.optim.AdamW(p, lr=0.05), None),
    "adamw-options": (
        lambda: AdamW(lr=0.02, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.3, amsgrad=True),
        lambda p: torch.optim.AdamW(
            p, lr=0.02, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.3, amsgrad=True
        ),
        None,
    ),
    "adamw-exponential-lr": (
        lambda: AdamW(lr=ExponentialLR(0.05, gamma=0.9), weight_decay=0.2),
        lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.2),
        lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
    ),
    "adagrad": (lambda: Adagrad(lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1), None),
    "adagrad-options": (
        lambda: Adagrad(
            lr=0.1, lr_decay=0.05, weight_decay=0.05, initial_accumulator_value=0.5, eps=1e-6
        ),
        lambda p: torch.optim.Adagrad(
            p, lr=0.1, lr_decay=0.05, weight_decay=0.05, initial_accumulator_value=0.5, eps=1e-6
        ),
        None,
    ),
    "adagrad-step-lr": (
        lambda: Adagrad(lr=StepLR(0.2, step_size=7), lr_decay=0.1),
        lambda p: torch.optim.Adagrad(p, lr=0.2, lr_decay=0.1),
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7),
    ),
    # Clipping: the gradient norm starts near 18 and falls below 3 within a few steps.
    "sgd-clipped": (
        lambda: GradientDescent(lr=0.05, max_grad_norm=3.0),
        lambda p: clipped(torch.optim.SGD(p, lr=0.05), 3.0),
        None,
    ),
    "momentum-clipped-weight-decay": (
        lambda: Momentum(lr=0.02, momentum=0.9, weight_decay=0.1, max_grad_norm=1.0),
        lambda p: clipped(torch.optim.SGD(p, lr=0.02, momentum=0.9, weight_decay=0.1), 1.0),
        None,
    ),
    "rmsprop-clipped": (
        lambda: RMSprop(lr=0.01, momentum=0.5, max_grad_norm=2.0),
        lambda p: clipped(torch.optim.RMSprop(p, lr=0.01, momentum=0.5), 2.0),
        None,
    ),
    "adamw-clipped-step-lr": (
        lambda: AdamW(lr=StepLR(0.05, step_size=5, gamma=0.5), max_grad_norm=0.5),
        lambda p: clipped(torch.optim.AdamW(p, lr=0.05), 0.5),
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
    ),
    "adagrad-clipped": (
        lambda: Adagrad(lr=0.1, max_grad_norm=4.0),
        lambda p: clipped(torch.optim.Adagrad(p, lr=0.1), 4.0),
        None,
    ),
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
    np.testing.assert_allclose(
        result.history["x"]["w"][1:], [w for w, _ in expected], rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(
        result.history["x"]["b"][1:], [b for _, b in expected], rtol=1e-10, atol=1e-10
    )


@needs_torch
def test_minimize_clips_through_the_optimiser_as_torch_does():
    expected = torch_trajectory(lambda p: clipped(torch.optim.AdamW(p, lr=0.05), 1.0))
    cg = build_graph()
    result = cgraph.minimize(
        cg, "loss", optimizer=AdamW(lr=0.05, max_grad_norm=1.0), steps=STEPS, tol=None
    )
    np.testing.assert_allclose(
        result.history["x"]["w"][1:], [w for w, _ in expected], rtol=1e-10, atol=1e-10
    )
    assert result.x["b"] == pytest.approx(expected[-1][1], rel=1e-10, abs=1e-10)


# ------------------------------------------------------------------------------------------
# clip_grad_norm, the function
# ------------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clips", "leaves"])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(11)
    grads = {"w": rng.normal(size=(3, 4)), "b": -0.7, "v": rng.normal(size=5)}
    tensors = {
        name: torch.tensor(np.asarray(grad), requires_grad=True) for name, grad in grads.items()
    }
    for name, tensor in tensors.items():
        tensor.grad = torch.tensor(np.asarray(grads[name]))
    expected = torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm, norm_type)
    originals = {name: np.copy(grad) for name, grad in grads.items()}
    shared = grads["w"]
    norm = clip_grad_norm(grads, max_norm, norm_type)
    assert norm == pytest.approx(expected.item(), rel=1e-12)
    for name, tensor in tensors.items():
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(shared, originals["w"])  # backward's array is not changed
    assert type(grads["b"]) is float
    if max_norm > norm:
        assert all(np.array_equal(grads[name], originals[name]) for name in grads)


def test_clip_grad_norm_of_huge_gradients_does_not_overflow():
    grads = {"a": np.array([3e300]), "b": 4e300}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5e300)
    assert np.hypot(grads["a"][0], grads["b"]) == pytest.approx(1.0)


def test_clip_grad_norm_refuses_a_non_finite_gradient_and_changes_nothing():
    grads = {"w": np.array([1.0, np.inf]), "b": 30.0}
    with pytest.raises(cgraph.NonFiniteError, match="'w' is not finite") as info:
        clip_grad_norm(grads, 1.0)
    assert info.value.nodes == ("w",)
    assert grads["b"] == 30.0
    assert clip_grad_norm({}, 1.0) == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: clip_grad_norm({"x": 1.0}, -1.0), r"max_norm must be in \[0"),
        (lambda: clip_grad_norm({"x": 1.0}, "big"), "max_norm must be a real number"),
        (lambda: clip_grad_norm({"x": 1.0}, 1.0, norm_type=0), r"norm_type must be in \(0"),
    ],
)
def test_clip_grad_norm_checks_its_arguments(call, match):
    with pytest.raises(cgraph.GraphError, match=match):
        call()


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


@pytest.mark.parametrize(
    "make",
    [
        lambda: RMSprop(momentum=0.5, centered=True, max_grad_norm=1.0),
        lambda: AdamW(amsgrad=True, max_grad_norm=1.0),
        lambda: Adagrad(lr_decay=0.1, initial_accumulator_value=0.1, max_grad_norm=1.0),
    ],
    ids=["rmsprop", "adamw", "adagrad"],
)
def test_adaptive_optimisers_keep_dtypes_and_floats(make):
    cg = ComputationalGraph()
    cg.add_inputs(v=np.array([1.0, 2.0], dtype=np.float32), s=0.5)
    cg.add_computation_node("q", "square", ("v",))
    cg.add_computation_node("f", "mul", ("q", "s"))
    opt = make().bind(cg)
    for _ in range(3):
        cg.forward("f")
        cg.backward("f")
        opt.step()
    assert cg.inputs["v"].output.dtype == np.float32
    assert type(cg.inputs["s"].output) is float
    assert np.all(cg.inputs["v"].output < [1.0, 2.0])


def test_a_step_that_would_overflow_changes_nothing():
    cg = build_graph()
    opt = Momentum(lr=1e308, momentum=0.5).bind(cg)
    cg.forward("loss")
    cg.backward("loss")
    with (
        np.errstate(over="ignore"),
        pytest.raises(cgraph.NonFiniteError, match="lower the learning rate") as info,
    ):
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


@pytest.mark.parametrize(
    ("make", "match"),
    [
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
        (lambda: Adam(max_grad_norm=-1.0), "Adam: max_grad_norm must be in"),
        (lambda: GradientDescent(lr=0.1, max_grad_norm="1"), "max_grad_norm must be a real number"),
        (lambda: RMSprop(alpha=1.5), r"RMSprop: alpha must be in \[0, 1\]"),
        (lambda: RMSprop(momentum=1.0), r"RMSprop: momentum must be in \[0, 1\)"),
        (lambda: RMSprop(eps=-1.0), "RMSprop: eps must be in"),
        (lambda: RMSprop(centered=None), "centered must be True or False"),
        (lambda: AdamW(betas=(1.0, 0.9)), r"AdamW: betas\[0\] must be in"),
        (lambda: AdamW(weight_decay=-0.01), "AdamW: weight_decay must be in"),
        (lambda: AdamW(lr=0), r"AdamW: lr must be in \(0"),
        (lambda: Adagrad(lr_decay=-1), "Adagrad: lr_decay must be in"),
        (lambda: Adagrad(initial_accumulator_value=-0.1), "initial_accumulator_value must be in"),
        (lambda: Adagrad(eps=math.nan), "Adagrad: eps must be in"),
        (lambda: StepLR(0.1, step_size=0), "step_size must be an integer >= 1"),
        (lambda: StepLR(0.1, step_size=2.5), "step_size must be an integer >= 1"),
        (lambda: StepLR(0.1, step_size=2, gamma=-1), "gamma must be in"),
        (lambda: ExponentialLR(0.0, gamma=0.5), "lr must be in"),
        (lambda: ExponentialLR(0.1, gamma=None), "gamma must be a real number"),
    ],
)
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
        "Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, amsgrad=True)"
    )
    assert repr(Momentum(lr=0.1, dampening=0.5, weight_decay=0.1)) == (
        "Momentum(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)"
    )
    assert repr(GradientDescent(lr=StepLR(0.1, 5))) == (
        "GradientDescent(lr=StepLR(0.1, step_size=5, gamma=0.1))"
    )
    assert repr(RMSprop(momentum=0.9, centered=True)) == (
        "RMSprop(lr=0.01, alpha=0.99, eps=1e-08, momentum=0.9, centered=True)"
    )
    assert repr(AdamW(max_grad_norm=1.0)) == (
        "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, max_grad_norm=1.0)"
    )
    assert repr(Adagrad(lr_decay=0.1)) == "Adagrad(lr=0.01, lr_decay=0.1, eps=1e-10)"


@needs_torch
@pytest.mark.parametrize(
    ("ours", "theirs", "names"),
    [
        (RMSprop, "RMSprop", ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")),
        (AdamW, "AdamW", ("lr", "betas", "eps", "weight_decay", "amsgrad")),
        (
            Adagrad,
            "Adagrad",
            ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
        ),
        (Adam, "Adam", ("lr", "betas", "eps", "weight_decay", "amsgrad")),
    ],
    ids=["rmsprop", "adamw", "adagrad", "adam"],
)
def test_defaults_are_torchs(ours, theirs, names):
    defaults = getattr(torch.optim, theirs)([torch.zeros(1, requires_grad=True)]).defaults
    for name in names:
        assert getattr(ours(), name) == defaults[name], name

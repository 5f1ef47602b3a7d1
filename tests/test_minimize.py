"""cgraph.minimize: stopping rules, divergence, mini-batch feeds, progress and the scipy engine."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import needs_scipy

import cgraph
from cgraph import ComputationalGraph, OptimizeResult, minimize
from cgraph.optim import Adam, GradientDescent, Momentum


def quadratic(x: float = 0.0, y: float = 0.0) -> ComputationalGraph:
    """f(x, y) = x^2 + y^2 + 400 x + 8 y, minimum -40016 at (-200, -4)."""
    cg = ComputationalGraph()
    cg.add_inputs(x=x, y=y)
    cg.add_constant("a", 400.0)
    cg.add_constant("b", 8.0)
    cg.add_computation_node("x2", "square", ("x",))
    cg.add_computation_node("y2", "square", ("y",))
    cg.add_computation_node("ax", "mul", ("a", "x"))
    cg.add_computation_node("by", "mul", ("b", "y"))
    cg.add_computation_node("q", "add", ("x2", "y2"))
    cg.add_computation_node("lin", "add", ("ax", "by"))
    cg.add_computation_node("f", "add", ("q", "lin"))
    return cg


def rosenbrock(x: float = -1.5, y: float = 2.0) -> ComputationalGraph:
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1)."""
    cg = ComputationalGraph()
    cg.add_inputs(x=x, y=y)
    cg.add_constant("one", 1.0)
    cg.add_constant("hundred", 100.0)
    cg.add_computation_node("u", "sub", ("one", "x"))
    cg.add_computation_node("u2", "square", ("u",))
    cg.add_computation_node("x2", "square", ("x",))
    cg.add_computation_node("v", "sub", ("y", "x2"))
    cg.add_computation_node("v2", "square", ("v",))
    cg.add_computation_node("w", "mul", ("hundred", "v2"))
    cg.add_computation_node("f", "add", ("u2", "w"))
    return cg


def line_fit(n: int = 40, seed: int = 0) -> tuple[ComputationalGraph, np.ndarray, np.ndarray]:
    """Mean squared error of w x + b on noisy data (an array root: its sum is the loss)."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-2, 2, n)
    ys = 1.5 * xs - 0.5 + rng.normal(0, 0.3, n)
    cg = ComputationalGraph()
    cg.add_inputs(w=0.0, b=0.0)
    cg.add_input("xs", xs, trainable=False)
    cg.add_input("ys", ys, trainable=False)
    cg.add_input("scale", 1.0 / n, trainable=False)
    cg.add_computation_node("wx", "mul", ("w", "xs"))
    cg.add_computation_node("pred", "add", ("wx", "b"))
    cg.add_computation_node("r", "sub", ("pred", "ys"))
    cg.add_computation_node("r2", "square", ("r",))
    cg.add_computation_node("mse", "mul", ("r2", "scale"))
    return cg, xs, ys


def lstsq(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(np.stack([xs, np.ones_like(xs)], axis=1), ys, rcond=None)[0]


# ------------------------------------------------------------------------------------------
# The result and the step budget
# ------------------------------------------------------------------------------------------


def test_quadratic_gradient_descent_50_steps_follows_the_closed_form():
    cg = quadratic()
    result = minimize(cg, "f", optimizer=GradientDescent(lr=0.1), steps=50, progress=False)
    shrink = 0.8 ** np.arange(51)
    np.testing.assert_allclose(result.history["x"]["x"], -200 * (1 - shrink), rtol=1e-12)
    np.testing.assert_allclose(result.history["x"]["y"], -4 * (1 - shrink), rtol=1e-12)
    assert result.x == {"x": cg.inputs["x"].output, "y": cg.inputs["y"].output}
    assert result.x["x"] == pytest.approx(-200, abs=3e-3)
    assert result.nit == 50
    assert result.nfev == 51
    assert result.success is False
    assert result.message == "step budget of 50 steps used"
    assert result.fun == pytest.approx(-40016, abs=1e-5) == result.history["loss"][-1]
    assert np.all(np.diff(result.history["loss"]) < 0)
    assert result.jac["x"] == pytest.approx(2 * result.x["x"] + 400)
    assert result.method == "GradientDescent"
    assert cg.get_gradient("x") == result.jac["x"]  # the graph is left differentiated at x


def test_result_reads_like_scipys():
    result = minimize(quadratic(), optimizer=GradientDescent(lr=0.1), steps=3)
    assert result["fun"] is result.fun
    assert result["x"] is result.x
    with pytest.raises(KeyError):
        result["nope"]
    text = repr(result)
    assert "message: 'step budget of 3 steps used'" in text
    assert "history: <loss and x" in text
    assert isinstance(result, OptimizeResult)


def test_zero_steps_only_evaluates():
    cg = quadratic(1.0, 2.0)
    result = minimize(cg, "f", steps=0)
    assert result.nit == 0
    assert result.x == {"x": 1.0, "y": 2.0}
    assert result.fun == 1 + 4 + 400 + 16
    assert len(result.history["loss"]) == 1


def test_an_array_root_minimises_the_sum_and_agrees_with_lstsq():
    cg, xs, ys = line_fit()
    result = minimize(cg, "mse", optimizer=Momentum(lr=0.1, nesterov=True), steps=5000, tol=1e-12)
    assert result.success, result.message
    np.testing.assert_allclose([result.x["w"], result.x["b"]], lstsq(xs, ys), atol=1e-10)
    assert result.fun == pytest.approx(np.sum(cg.get_value("mse")))


# ------------------------------------------------------------------------------------------
# Stopping rules
# ------------------------------------------------------------------------------------------


def test_gradient_norm_tolerance_stops_at_the_first_step_below_it():
    result = minimize(quadratic(), optimizer=GradientDescent(lr=0.1), steps=1000, tol=1e-3)
    assert result.success
    assert result.message.startswith("largest gradient element")
    gradient_norms = np.maximum(
        np.abs(2 * result.history["x"]["x"] + 400), np.abs(2 * result.history["x"]["y"] + 8)
    )
    assert gradient_norms[-1] <= 1e-3 < gradient_norms[-2]
    assert result.nit == len(gradient_norms) - 1


def test_tolerance_met_at_the_start_takes_no_step():
    result = minimize(quadratic(-200.0, -4.0), optimizer=Adam(lr=0.1))
    assert result.success
    assert result.nit == 0
    assert result.x == {"x": -200.0, "y": -4.0}


def test_loss_change_tolerance():
    result = minimize(
        quadratic(), optimizer=GradientDescent(lr=0.1), steps=1000, tol=None, ftol=1e-9
    )
    assert result.success
    assert "ftol" in result.message
    losses = result.history["loss"]
    change = np.abs(np.diff(losses)) / np.maximum(np.abs(losses[1:]), 1)
    assert change[-1] <= 1e-9 < change[-2]


def test_callback_returning_true_stops_and_sees_each_step():
    seen = []

    def callback(state):
        seen.append((state.nit, state.fun, dict(state.x), state.jac["x"]))
        return state.nit == 7

    result = minimize(quadratic(), optimizer=GradientDescent(lr=0.1), steps=100, callback=callback)
    assert result.nit == 7
    assert not result.success
    assert result.message == "stopped by the callback after 7 steps"
    assert [nit for nit, *_ in seen] == list(range(1, 8))
    assert [fun for _, fun, *_ in seen] == list(result.history["loss"][1:])
    assert seen[-1][2] == result.x
    assert seen[-1][3] == result.jac["x"]


def test_callback_raising_stop_iteration_stops():
    def callback(state):
        if state.fun < -30000:
            raise StopIteration

    result = minimize(quadratic(), optimizer=GradientDescent(lr=0.1), callback=callback)
    assert result.history["loss"][-1] < -30000 < result.history["loss"][-2]
    assert "callback" in result.message


def test_callback_returning_other_values_does_not_stop():
    result = minimize(
        quadratic(), optimizer=GradientDescent(lr=0.1), steps=5, callback=lambda state: 1
    )
    assert result.nit == 5
    numpy_true = minimize(
        quadratic(),
        optimizer=GradientDescent(lr=0.1),
        steps=5,
        callback=lambda state: np.float64(state.fun) < 0,
    )
    assert numpy_true.nit == 1


def test_keep_history_false_keeps_the_losses_only():
    result = minimize(quadratic(), optimizer=GradientDescent(lr=0.1), steps=5, keep_history=False)
    assert len(result.history["loss"]) == 6
    assert result.history["x"]["x"].shape == (1,)
    assert result.history["x"]["x"][0] == result.x["x"]


# ------------------------------------------------------------------------------------------
# Divergence
# ------------------------------------------------------------------------------------------


def log_barrier() -> ComputationalGraph:
    """f = (x - 3)^2 - log x; with lr = 1 from x = 1 the fourth step lands at x < 0."""
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_constant("three", 3.0)
    cg.add_computation_node("d", "sub", ("x", "three"))
    cg.add_computation_node("d2", "square", ("d",))
    cg.add_computation_node("logx", "log", ("x",))
    cg.add_computation_node("f", "sub", ("d2", "logx"))
    return cg


def test_divergence_names_the_first_non_finite_node_and_keeps_the_last_finite_values():
    x = 1.0
    finite = [x]
    for _ in range(4):
        x -= 2 * (x - 3) - 1 / x
        finite.append(x)
    assert finite[-1] < 0 < finite[-2]  # the fourth step leaves log's domain
    cg = log_barrier()
    with pytest.raises(cgraph.NonFiniteError, match="diverged at step 4") as info:
        minimize(cg, "f", optimizer=GradientDescent(lr=1.0), steps=100)
    assert info.value.nodes == ("logx", "x")
    assert "node 'logx' (Log)" in str(info.value)
    assert "keep their values of step 3" in str(info.value)
    assert isinstance(info.value.__cause__, cgraph.NonFiniteError)
    assert cg.inputs["x"].output == finite[3]
    assert cg.get_value("f") == pytest.approx((finite[3] - 3) ** 2 - np.log(finite[3]))


def test_divergence_restores_array_parameters_in_place():
    cg = ComputationalGraph()
    cg.add_inputs(v=np.array([1.0, 0.5]))
    cg.add_computation_node("e", "exp", ("v",))
    cg.add_computation_node("f", "neg", ("e",))  # unbounded below: v grows until exp overflows
    array = cg.inputs["v"].output
    with pytest.raises(cgraph.NonFiniteError, match="node 'e' \\(Exp\\)") as info:
        minimize(cg, "f", optimizer=GradientDescent(lr=1.0), steps=100)
    assert info.value.nodes == ("e", "v")
    kept = cg.inputs["v"].output
    assert kept is array
    assert np.all(np.isfinite(kept))
    assert kept.max() > 40
    assert np.all(np.isfinite(cg.forward("f")))


def test_a_non_finite_gradient_at_the_start():
    cg = ComputationalGraph()
    cg.add_inputs(x=0.0)
    cg.add_computation_node("r", "sqrt", ("x",))
    with pytest.raises(cgraph.NonFiniteError, match="starting point") as info:
        minimize(cg, "r")
    assert info.value.nodes == ("r", "x")


def test_a_step_that_would_overflow_keeps_the_values():
    cg = quadratic(1.0, 1.0)
    with pytest.raises(
        cgraph.NonFiniteError, match="at step 1; the parameters keep their values of step 0"
    ):
        minimize(cg, "f", optimizer=GradientDescent(lr=1e307))
    assert (cg.inputs["x"].output, cg.inputs["y"].output) == (1.0, 1.0)


# ------------------------------------------------------------------------------------------
# Mini-batches
# ------------------------------------------------------------------------------------------


def batches(xs: np.ndarray, ys: np.ndarray, size: int) -> list[dict[str, object]]:
    return [
        {"xs": xs[i : i + size], "ys": ys[i : i + size], "scale": 1.0 / size}
        for i in range(0, len(xs), size)
    ]


def test_an_iterable_of_feeds_gives_one_per_step_and_ends_the_run():
    cg, xs, ys = line_fit()
    feeds = batches(xs, ys, 8)
    result = minimize(cg, "mse", optimizer=GradientDescent(lr=0.1), steps=100, feed=iter(feeds))
    assert result.nit == 5
    assert result.message == "the feeds ran out after 5 steps"
    # The same by hand: one step per batch.
    hand, _, _ = line_fit()
    opt = GradientDescent(lr=0.1).bind(hand, ["w", "b"])
    for feed in feeds:
        hand.forward("mse", feed)
        hand.backward("mse")
        opt.step()
    assert result.x == {"w": hand.inputs["w"].output, "b": hand.inputs["b"].output}
    assert result.fun == pytest.approx(np.sum(hand.forward("mse", feeds[-1])))
    # The data inputs keep their own values.
    np.testing.assert_array_equal(cg.inputs["xs"].output, xs)


def test_a_callable_feed_is_called_with_each_step_number():
    cg, xs, ys = line_fit()
    feeds = batches(xs, ys, 10)
    asked = []

    def feed(step):
        asked.append(step)
        return feeds[step % len(feeds)]

    result = minimize(cg, "mse", optimizer=Adam(lr=0.05), steps=400, feed=feed, tol=None)
    assert asked == list(range(401))
    assert result.nit == 400
    np.testing.assert_allclose([result.x["w"], result.x["b"]], lstsq(xs, ys), atol=0.1)


def test_feed_budget_reached_before_the_iterable_runs_out():
    cg, xs, ys = line_fit()
    result = minimize(cg, "mse", optimizer=Adam(lr=0.05), steps=3, feed=batches(xs, ys, 4))
    assert result.nit == 3
    assert "budget" in result.message


@pytest.mark.parametrize(
    ("feed", "match"),
    [
        ([], "empty iterable"),
        (42, "feed must be a mapping"),
        ("xs", "feed must be a mapping"),
        ([{"scale": 0.1}, 5], "the feed for step 1 is 5"),
        (lambda step: [1.0], "the feed for step 0"),
    ],
)
def test_bad_feeds_are_refused(feed, match):
    cg, _, _ = line_fit()
    with pytest.raises(cgraph.GraphError, match=match):
        minimize(cg, "mse", optimizer=GradientDescent(lr=0.01), feed=feed, steps=5)


# ------------------------------------------------------------------------------------------
# Parameters and optimisers
# ------------------------------------------------------------------------------------------


def test_params_default_to_the_trainable_inputs_the_root_depends_on():
    cg = quadratic()
    cg.add_inputs(unused=5.0)
    result = minimize(cg, "f", optimizer=GradientDescent(lr=0.1), steps=2)
    assert list(result.x) == ["x", "y"]
    assert cg.inputs["unused"].output == 5.0


def test_only_the_given_params_move():
    cg = quadratic()
    result = minimize(cg, "f", params=["y"], optimizer=GradientDescent(lr=0.1), steps=100)
    assert cg.inputs["x"].output == 0.0
    assert result.x["y"] == pytest.approx(-4)
    assert list(result.x) == ["y"]


def test_bad_params_are_named():
    cg = quadratic()
    cg.add_inputs(unused=5.0)
    with pytest.raises(cgraph.UnknownNodeError, match="did you mean"):
        minimize(cg, "f", params=["xx"])
    with pytest.raises(cgraph.GraphError, match="does not depend on parameter 'unused'") as info:
        minimize(cg, "f", params=["x", "unused"])
    assert info.value.nodes == ("unused", "f")
    with pytest.raises(cgraph.UnknownNodeError, match="an operation or constant"):
        minimize(cg, "f", params="q")
    cg2, _, _ = line_fit()
    with pytest.raises(cgraph.NoGradientError, match="not trainable"):
        minimize(cg2, "mse", params=["xs"])


def test_a_root_without_trainable_inputs_is_refused():
    cg = ComputationalGraph()
    cg.add_input("data", 2.0, trainable=False)
    cg.add_computation_node("f", "square", ("data",))
    with pytest.raises(cgraph.GraphError, match="depends on no trainable input"):
        minimize(cg, "f")


def test_a_bound_optimizer_continues_with_its_state():
    twice = rosenbrock()
    opt = Adam(lr=0.01).bind(twice)
    minimize(twice, "f", optimizer=opt, steps=10, tol=None)
    minimize(twice, "f", optimizer=opt, steps=10, tol=None)
    once = rosenbrock()
    minimize(once, "f", optimizer=Adam(lr=0.01), steps=20, tol=None)
    assert opt.steps == 20
    assert twice.inputs["x"].output == once.inputs["x"].output
    with pytest.raises(cgraph.GraphError, match="bound to another graph"):
        minimize(rosenbrock(), "f", optimizer=opt)
    with pytest.raises(cgraph.GraphError, match="differ from those the optimiser is bound to"):
        minimize(twice, "f", params=["x"], optimizer=opt)


def test_the_default_optimizer_is_adam():
    result = minimize(quadratic(), steps=3)
    assert result.method == "Adam"
    assert result.history["x"]["x"][1] == pytest.approx(-1e-3)  # Adam's first step is lr


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": -1}, cgraph.GraphError, "steps must be an integer >= 0"),
        ({"steps": 2.5}, cgraph.GraphError, "steps must be an integer"),
        ({"steps": True}, cgraph.GraphError, "steps must be an integer"),
        ({"tol": -1.0}, cgraph.GraphError, "tol must be in"),
        ({"ftol": "small"}, cgraph.InvalidValueError, "ftol must be a real number"),
        ({"callback": 3}, cgraph.InvalidValueError, "callback must be callable"),
        ({"progress": "yes"}, cgraph.InvalidValueError, "progress must be True, False or None"),
        ({"optimizer": Adam}, cgraph.InvalidValueError, r"build one, e.g. Adam\(lr=0.01\)"),
        ({"optimizer": "adam"}, cgraph.InvalidValueError, "optimizer must be"),
        ({"optimizer": Adam(), "method": "BFGS"}, cgraph.GraphError, "not both"),
        ({"options": {"gtol": 1e-3}}, cgraph.GraphError, "options= are for scipy methods"),
        pytest.param(
            {"method": "BFGS", "ftol": 1e-3},
            cgraph.GraphError,
            "ftol applies to the optimisers",
            marks=needs_scipy,
        ),
        ({"method": "Nelder-Mead"}, cgraph.GraphError, "does not use gradients"),
        ({"method": "trust-ncg"}, cgraph.GraphError, "needs a Hessian"),
        ({"method": "newton"}, cgraph.GraphError, "not a scipy.optimize method"),
        ({"method": min}, cgraph.InvalidValueError, "method must be the name"),
        pytest.param(
            {"method": "BFGS", "feed": [{}]},
            cgraph.GraphError,
            "give feed as one mapping",
            marks=needs_scipy,
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    cg = quadratic()
    with pytest.raises(error, match=match):
        minimize(cg, "f", **kwargs)
    assert (cg.inputs["x"].output, cg.inputs["y"].output) == (0.0, 0.0)


def test_unknown_root_is_named():
    with pytest.raises(cgraph.UnknownNodeError, match="'g' is not a node"):
        minimize(quadratic(), "g")


# ------------------------------------------------------------------------------------------
# Progress bar and optional imports
# ------------------------------------------------------------------------------------------


def test_progress_true_draws_a_bar_with_the_loss(capsys):
    pytest.importorskip("tqdm")
    minimize(quadratic(), optimizer=GradientDescent(lr=0.1), steps=300, tol=None, progress=True)
    err = capsys.readouterr().err
    assert "minimize f" in err
    assert "300/300" in err
    assert "loss=" in err


@pytest.mark.parametrize("progress", [None, False])
def test_no_bar_when_off_or_not_a_terminal(progress, capsys):
    minimize(
        quadratic(), optimizer=GradientDescent(lr=0.1), steps=2000, tol=None, progress=progress
    )
    assert capsys.readouterr().err == ""


def test_progress_true_without_tqdm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ImportError, match=r'pip install "cgraph\[progress\]"'):
        minimize(quadratic(), steps=1, progress=True)


def test_bad_method_is_refused_before_a_progress_bar_opens(capsys):
    pytest.importorskip("tqdm")
    with pytest.raises(cgraph.GraphError, match="does not use gradients"):
        minimize(quadratic(), method="Nelder-Mead", progress=True)
    assert capsys.readouterr().err == ""


def test_scipy_method_without_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ImportError, match=r'pip install "cgraph\[scipy\]"'):
        minimize(quadratic(), method="BFGS")


def test_importing_cgraph_imports_no_optional_package():
    code = (
        "import sys, cgraph, cgraph.optim, cgraph.plots; "
        "print(sorted(m for m in ('scipy', 'tqdm', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------
# The scipy engine
# ------------------------------------------------------------------------------------------


def test_lbfgsb_reaches_rosenbrocks_minimum_in_far_fewer_steps_than_adam():
    pytest.importorskip("scipy")
    cg = rosenbrock()
    result = minimize(cg, "f", method="L-BFGS-B", tol=1e-12)
    assert result.success, result.message
    assert abs(result.x["x"] - 1) < 1e-6
    assert abs(result.x["y"] - 1) < 1e-6
    assert result.x == {"x": cg.inputs["x"].output, "y": cg.inputs["y"].output}
    assert type(cg.inputs["x"].output) is float
    assert result.fun == pytest.approx(0, abs=1e-12)
    assert result.method == "L-BFGS-B"
    assert len(result.history["loss"]) == result.nit + 1
    assert (result.history["x"]["x"][0], result.history["x"]["y"][0]) == (-1.5, 2.0)
    assert result.history["x"]["x"][-1] == result.x["x"]
    adam = minimize(rosenbrock(), "f", optimizer=Adam(lr=0.02), steps=50_000, tol=1e-6)
    assert adam.success
    assert adam.nit > 20 * result.nit


@pytest.mark.parametrize(
    "method", ["BFGS", "CG", "Newton-CG", "TNC", "SLSQP", "trust-constr", "l-bfgs-b"]
)
def test_other_gradient_methods_reach_rosenbrocks_minimum(method):
    pytest.importorskip("scipy")
    result = minimize(rosenbrock(), "f", method=method, tol=1e-12, steps=5000)
    assert result.x["x"] == pytest.approx(1, abs=1e-5), result.message
    assert result.x["y"] == pytest.approx(1, abs=1e-5), result.message


def test_scipy_with_a_feed():
    pytest.importorskip("scipy")
    cg, xs, _ = line_fit()
    other_xs = np.linspace(-1, 1, 30)
    other_ys = 3 * other_xs + 2
    feed = {"xs": other_xs, "ys": other_ys, "scale": 1 / 30}
    result = minimize(cg, "mse", params=["w", "b"], method="BFGS", feed=feed, tol=1e-10)
    np.testing.assert_allclose([result.x["w"], result.x["b"]], [3, 2], atol=1e-7)
    np.testing.assert_array_equal(cg.inputs["xs"].output, xs)


def test_scipy_flattens_array_parameters():
    pytest.importorskip("scipy")
    cg = ComputationalGraph()
    target = np.arange(6.0).reshape(2, 3)
    cg.add_inputs(m=np.zeros((2, 3)))
    cg.add_constant("target", target)
    cg.add_computation_node("d", "sub", ("m", "target"))
    cg.add_computation_node("f", "square", ("d",))
    array = cg.inputs["m"].output
    result = minimize(cg, "f", method="L-BFGS-B")
    np.testing.assert_allclose(result.x["m"], target, atol=1e-6)
    assert cg.inputs["m"].output is array
    assert result.jac["m"].shape == (2, 3)
    assert result.history["x"]["m"].shape == (result.nit + 1, 2, 3)


def test_scipy_callback_can_stop_and_steps_is_maxiter():
    pytest.importorskip("scipy")
    result = minimize(rosenbrock(), "f", method="BFGS", callback=lambda state: state.nit == 5)
    assert result.nit == 5
    assert not result.success
    assert "callback" in result.message
    assert len(result.history["loss"]) == 6
    limited = minimize(rosenbrock(), "f", method="BFGS", steps=3)
    assert limited.nit == 3
    assert not limited.success


def test_scipy_divergence_names_the_node_and_keeps_the_last_iterate():
    pytest.importorskip("scipy")
    cg = ComputationalGraph()
    cg.add_inputs(x=-1.0)
    cg.add_computation_node("x2", "square", ("x",))
    cg.add_computation_node("f", "mul", ("x", "x2"))  # x^3: unbounded below
    with pytest.raises(cgraph.NonFiniteError, match="unbounded below") as info:
        minimize(cg, "f", method="L-BFGS-B")
    assert info.value.nodes[0] in ("x2", "f")
    assert np.isfinite(cg.inputs["x"].output)
    assert np.isfinite(cg.forward("f"))


def test_scipy_progress_bar(capsys):
    pytest.importorskip("tqdm")
    pytest.importorskip("scipy")
    minimize(rosenbrock(), "f", method="L-BFGS-B", progress=True)
    assert "loss=" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# The default parameters never include data
# --------------------------------------------------------------------------------------


def regression(data_trainable: bool) -> ComputationalGraph:
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(20, 3)), np.array([1.0, -2.0, 0.5])
    cg = ComputationalGraph()
    if data_trainable:
        cg.add_inputs(X=x, y=x @ w)  # the trap: data declared as trainable inputs
    else:
        cg.add_input("X", x, trainable=False)
        cg.add_input("y", x @ w, trainable=False)
    cg.add_inputs(w=np.zeros(3), b=0.0)
    cg.add_expression("loss", "mean((X @ w + b - y) ** 2)")
    return cg


def test_several_trainable_arrays_and_no_data_marked_are_refused_listing_them():
    cg = regression(data_trainable=True)
    before = {name: np.copy(node.output) for name, node in cg.inputs.items()}
    listed = r"'X' \(20, 3\), 'y' \(20,\), 'w' \(3,\), 'b' \(\)"
    with pytest.raises(cgraph.GraphError, match=listed) as info:
        minimize(cg, "loss", steps=5)
    assert "params=['w', 'b']" in str(info.value)
    assert "trainable=False" in str(info.value)
    assert set(info.value.nodes) == {"X", "y", "w", "b"}
    for name, value in before.items():  # nothing was trained
        assert np.array_equal(cg.inputs[name].output, value)
    result = minimize(cg, "loss", params=["w", "b"], optimizer=Adam(lr=0.1), steps=300)
    assert set(result.x) == {"w", "b"}
    assert np.array_equal(cg.inputs["X"].output, before["X"])


def test_marked_data_fed_data_and_plain_numbers_keep_the_default():
    result = minimize(regression(data_trainable=False), "loss", optimizer=Adam(lr=0.1), steps=300)
    assert set(result.x) == {"w", "b"}
    np.testing.assert_allclose(result.x["w"], [1.0, -2.0, 0.5], atol=1e-2)
    cg = regression(data_trainable=True)
    # Still trainable, but fed: feeding them marks them as data.
    fed = {"X": cg.inputs["X"].output, "y": cg.inputs["y"].output}
    result = minimize(cg, "loss", params=None, optimizer=Adam(lr=0.1), steps=5, feed=fed)
    assert "w" in result.x
    scalars = ComputationalGraph()
    scalars.add_inputs(x=0.0, y=0.0)
    scalars.add_expression("f", "(x - 1) ** 2 + (y + 2) ** 2")
    assert set(minimize(scalars, "f", optimizer=Adam(lr=0.1), steps=5).x) == {"x", "y"}

"""Second order through loops: gradient graphs, Hessians, hvp and tangent graphs of a loop.

A loop's gradient graph is made of loops (the trajectory of its carries and the
adjoint loop over it), its tangent graph of one loop carrying each carry and
its tangent. Each is checked against the same graph unrolled with
add_subgraph, against backward and jvp, against differences of gradients and
against torch: they are the same numbers, to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

from cgraph import ComputationalGraph
from cgraph.errors import InvalidOperationError
from cgraph.loops.op import Loop

if HAS_TORCH:
    import torch

H, X, T = 3, 2, 6
RNG = np.random.default_rng(17)
PARAMS = {
    "h0": RNG.normal(size=H),
    "W": RNG.normal(size=(H, H)) * 0.6,
    "U": RNG.normal(size=(H, X)),
    "b": RNG.normal(size=H) * 0.3,
    "Xs": RNG.normal(size=(T, X)),
}
BOUND = {"W": "W", "U": "U", "b": "b"}
RNN_WRT = ["h0", "W", "U", "b", "Xs"]


# --------------------------------------------------------------------------------------
# The cases: an RNN over a sequence, an RK4 integrator, each as a loop and unrolled
# --------------------------------------------------------------------------------------


def rnn_cell() -> ComputationalGraph:
    """h' = tanh(W h + U x + b), and the energy of the new state."""
    cell = ComputationalGraph()
    cell.add_inputs(
        h=np.zeros(H), x=np.zeros(X), W=np.zeros((H, H)), U=np.zeros((H, X)), b=np.zeros(H)
    )
    cell.add_expression("h_next", "tanh(W @ h + U @ x + b)")
    cell.add_expression("energy", "sum(h_next * h_next)")
    return cell


def rnn(stack: bool = False, output: str | None = None, **options) -> ComputationalGraph:
    """loss = sum(out^3) of the loop ``out`` over the sequence Xs."""
    cg = ComputationalGraph()
    cg.add_inputs(**PARAMS)
    cg.add_loop(
        "out",
        rnn_cell(),
        carry={"h": "h0"},
        updates={"h": "h_next"},
        xs={"x": "Xs"},
        inputs=BOUND,
        stack=stack,
        output=output,
        **options,
    )
    cg.add_expression("loss", "sum(out * out * out)")
    return cg


def rnn_unrolled(stack: bool = False, output: str | None = None) -> ComputationalGraph:
    """The same graph, one use of the cell per step."""
    cg = ComputationalGraph()
    cg.add_inputs(**PARAMS)
    h, outs = "h0", []
    for t in range(T):
        cg.add_computation_node(f"x{t}", "index", ("Xs",), index=t)
        use = cg.add_subgraph(
            f"cell@t{t}", rnn_cell(), {"h": h, "x": f"x{t}", **BOUND}, ["h_next", "energy"]
        )
        h = use["h_next"]
        outs.append(use[output or "h_next"])
    if stack:
        cg.add_computation_node("out", "stack", outs)
    else:
        cg.add_computation_node("out", "reshape", (outs[-1],), shape=np.shape(cg.forward(outs[-1])))
    cg.add_expression("loss", "sum(out * out * out)")
    return cg


RK4 = {
    "y0": np.array([1.0, -0.5]),
    "t0": 0.3,
    "k": np.array([0.7, 1.3]),
    "a": np.array([0.4, -0.2]),
}
RK4_WRT = ["y0", "t0", "k", "a", "dt"]
STEPS = 5


def rk4_step() -> ComputationalGraph:
    """One Runge-Kutta step of y' = -k y + a sin(t): two carries, a vector and a number."""
    step = ComputationalGraph()
    step.add_inputs(y=np.zeros(2), t=0.0, k=np.zeros(2), a=np.zeros(2), dt=0.0)
    step.add_expression("k1", "-k * y + a * sin(t)")
    step.add_expression("k2", "-k * (y + dt / 2 * k1) + a * sin(t + dt / 2)")
    step.add_expression("k3", "-k * (y + dt / 2 * k2) + a * sin(t + dt / 2)")
    step.add_expression("k4", "-k * (y + dt * k3) + a * sin(t + dt)")
    step.add_expression("y_next", "y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)")
    step.add_expression("t_next", "t + dt")
    return step


def rk4(stack: bool = False) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**RK4, dt=0.1)
    cg.add_loop(
        "out",
        rk4_step(),
        carry={"y": "y0", "t": "t0"},
        updates={"y": "y_next", "t": "t_next"},
        inputs={"k": "k", "a": "a", "dt": "dt"},
        steps=STEPS,
        output="y",
        stack=stack,
    )
    cg.add_expression("loss", "sum(out * out * out)")
    return cg


def rk4_unrolled(stack: bool = False) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**RK4, dt=0.1)
    y, t, ys = "y0", "t0", []
    for i in range(STEPS):
        use = cg.add_subgraph(
            f"step{i}",
            rk4_step(),
            {"y": y, "t": t, "k": "k", "a": "a", "dt": "dt"},
            ["y_next", "t_next"],
        )
        y, t = use["y_next"], use["t_next"]
        ys.append(y)
    if stack:
        cg.add_computation_node("out", "stack", ys)
    else:
        cg.add_computation_node("out", "reshape", (y,), shape=(2,))
    cg.add_expression("loss", "sum(out * out * out)")
    return cg


CASES = {
    "rnn": (lambda: rnn(), lambda: rnn_unrolled(), RNN_WRT),
    "rnn-stack": (lambda: rnn(stack=True), lambda: rnn_unrolled(stack=True), RNN_WRT),
    "rnn-stack-energy": (
        lambda: rnn(stack=True, output="energy"),
        lambda: rnn_unrolled(stack=True, output="energy"),
        RNN_WRT,
    ),
    "rnn-last-energy": (
        lambda: rnn(output="energy"),
        lambda: rnn_unrolled(output="energy"),
        RNN_WRT,
    ),
    "rk4": (lambda: rk4(), lambda: rk4_unrolled(), RK4_WRT),
    "rk4-stack": (lambda: rk4(stack=True), lambda: rk4_unrolled(stack=True), RK4_WRT),
}


def logistic(steps: int = 4) -> ComputationalGraph:
    """x_T of the logistic map x' = r x (1 - x): a scalar loop to differentiate thrice."""
    step = ComputationalGraph()
    step.add_inputs(x=0.0, r=0.0)
    step.add_expression("x_next", "r * x * (1 - x)")
    cg = ComputationalGraph()
    cg.add_inputs(x0=0.3, r=2.7)
    cg.add_loop(
        "x", step, carry={"x": "x0"}, updates={"x": "x_next"}, inputs={"r": "r"}, steps=steps
    )
    return cg


def logistic_by_hand(r: float, x0: float = 0.3, steps: int = 4) -> float:
    x = x0
    for _ in range(steps):
        x = r * x * (1 - x)
    return x


def assert_close(got, expected, tol: float) -> None:
    np.testing.assert_allclose(
        np.asarray(got, float), np.asarray(expected, float), rtol=tol, atol=tol
    )


def blocks(hess, count: int):
    return [(i, j, hess[i][j]) for i in range(count) for j in range(count)]


# --------------------------------------------------------------------------------------
# Gradient graphs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_gradient_graph_of_a_loop_gives_backwards_gradients(case):
    make, _, wrt = CASES[case]
    cg = make()
    gg = cg.gradient_graph("loss", wrt)
    cg.forward("loss")
    expected = cg.backward("loss")
    for name in wrt:
        got = gg.forward(f"grad/loss/{name}")
        assert_close(got, expected[name], 1e-12)
        assert np.abs(got).max() > 0  # every input's gradient is reached, none left at zero


def test_a_loops_gradient_graph_is_made_of_loops_whatever_the_count():
    sizes = []
    for steps in (3, 300):
        gg = logistic(steps).gradient_graph("x", ["r", "x0"])
        loops = [node.op for node in gg.operations.values() if isinstance(node.op, Loop)]
        assert [op.stack for op in loops] == [False, True, True]  # the loop, its carries, adjoint
        assert [op.reverse for op in loops] == [False, False, True]
        sizes.append(len(gg))
    assert sizes[0] == sizes[1]


def test_the_adjoint_carries_only_the_gradients_asked_for():
    cg = rnn()
    gg = cg.gradient_graph("loss", "b")  # W, U, h0 and Xs are trainable, but not asked for
    (adjoint,) = [
        name for name, node in gg.operations.items() if getattr(node.op, "reverse", False)
    ]
    assert np.shape(gg.nodes[adjoint].output) == (T, H)  # one row of b's gradient per step
    cg.forward("loss")
    assert_close(gg.forward("grad/loss/b"), cg.backward("loss")["b"], 1e-12)


def test_a_loops_gradient_graph_keeps_its_checkpointing_and_the_same_numbers():
    plain, checkpointed = rnn(), rnn(checkpoint=2)
    gg = checkpointed.gradient_graph("loss", ["W", "h0"])
    loops = [node.op for node in gg.operations.values() if isinstance(node.op, Loop)]
    assert [op.checkpoint for op in loops] == [2, 2, 2]  # the loop, its carries, its adjoint
    expected = plain.gradient_graph("loss", "W").forward("grad/loss/W")
    assert_close(gg.forward("grad/loss/W"), expected, 1e-15)
    assert_close(checkpointed.hessian("loss", "W"), plain.hessian("loss", "W"), 1e-14)


# --------------------------------------------------------------------------------------
# Hessians and Hessian-vector products
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_hessian_of_a_loop_equals_the_unrolled_graphs(case):
    make, unroll, wrt = CASES[case]
    wrt = [name for name in wrt if name not in ("U", "Xs")]  # fewer columns, the same paths
    got, expected = make().hessian("loss", wrt), unroll().hessian("loss", wrt)
    for i, j, block in blocks(got, len(wrt)):
        assert_close(block, expected[i][j], 1e-8)
    assert np.abs(got[0][0]).max() > 0


@pytest.mark.parametrize("case", ["rnn-stack", "rk4"])
def test_hvp_of_a_loop_equals_the_unrolled_graphs(case):
    make, unroll, wrt = CASES[case]
    loop, unrolled = make(), unroll()
    v = [RNG.normal(size=np.shape(loop.inputs[name].output)) for name in wrt]
    for got, expected in zip(loop.hvp("loss", wrt, v), unrolled.hvp("loss", wrt, v), strict=True):
        assert_close(got, expected, 1e-8)


def test_hessian_of_a_loop_matches_central_differences_of_its_gradients():
    cg = rnn(stack=True)
    hess = cg.hessian("loss", "b")
    eps, b = 1e-6, PARAMS["b"]

    def gradient(at):
        cg.forward("loss", feed={"b": at})
        return cg.backward("loss")["b"]

    columns = [(gradient(b + eps * e) - gradient(b - eps * e)) / (2 * eps) for e in np.eye(H)]
    assert_close(hess, np.stack(columns, axis=1), 1e-7)


def test_reverse_over_reverse_through_the_adjoint_gives_a_hessian_row():
    cg = rk4()
    gg = cg.gradient_graph("loss", ["dt", "k"])
    gg.forward("grad/loss/dt")
    row = gg.backward("grad/loss/dt")  # backward through the adjoint loop, run in reverse
    hess = cg.hessian("loss", ["dt", "k"])
    assert row["dt"] == pytest.approx(hess[0][0], rel=1e-10)
    assert_close(row["k"], hess[0][1], 1e-10)


@needs_torch
def test_hessian_of_an_rnn_loop_matches_torch():
    cg = rnn(stack=True)
    wrt = ["W", "b", "h0"]
    hess = cg.hessian("loss", wrt)
    xs = torch.tensor(PARAMS["Xs"], dtype=torch.float64)
    fixed = torch.tensor(PARAMS["U"], dtype=torch.float64)

    def loss(w, b, h):
        steps = []
        for t in range(T):
            h = torch.tanh(w @ h + fixed @ xs[t] + b)
            steps.append(h)
        out = torch.stack(steps)
        return (out * out * out).sum()

    point = tuple(torch.tensor(PARAMS[name], dtype=torch.float64) for name in wrt)
    expected = torch.autograd.functional.hessian(loss, point)
    for i, j, block in blocks(hess, len(wrt)):
        assert_close(block, expected[i][j].numpy(), 1e-10)


# --------------------------------------------------------------------------------------
# Tangent graphs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_tangent_graph_of_a_loop_equals_jvp(case):
    make, _, wrt = CASES[case]
    cg = make()
    tangents = {name: RNG.normal(size=np.shape(cg.inputs[name].output)) for name in wrt[1:3]}
    tangents[wrt[0]] = np.ones(np.shape(cg.inputs[wrt[0]].output))  # a carry's start
    tg = cg.tangent_graph("out", tangents)
    value, expected = cg.jvp("out", tangents)
    assert_close(tg.forward("tangent/out/out"), expected, 1e-12)
    assert_close(tg.forward("out"), value, 0)


def test_a_tangent_reaching_a_carry_only_through_the_body_is_carried():
    cg = rk4()
    tangents = {"k": np.array([1.0, 0.0])}  # reaches t's carry never, y's from the first step
    tg = cg.tangent_graph("out", tangents)
    loops = [node.op for node in tg.operations.values() if isinstance(node.op, Loop)]
    assert loops[-1].loop_body.carries == ("y", "t", "tangent/loop/outputs/y")
    assert_close(tg.forward("tangent/out/out"), cg.jvp("out", tangents)[1], 1e-12)


def test_a_tangent_graph_of_a_loop_differentiates_again_in_both_modes():
    cg = logistic()
    tg = cg.tangent_graph("x", {"r": 1.0})
    hess = cg.hessian("x", ["r", "x0"])
    tg.forward("tangent/x/x")
    over = tg.backward("tangent/x/x")  # reverse over forward: the row H e_r
    assert over["r"] == pytest.approx(hess[0][0], rel=1e-12)
    assert over["x0"] == pytest.approx(hess[1][0], rel=1e-12)
    tg2 = tg.tangent_graph("tangent/x/x", {"r": 1.0})  # forward over forward
    assert tg2.forward("tangent/tangent/x/x/tangent/x/x") == pytest.approx(hess[0][0], rel=1e-12)


# --------------------------------------------------------------------------------------
# Third order, until=, and the edges
# --------------------------------------------------------------------------------------


def test_a_gradient_graph_of_a_gradient_graph_of_a_loop_is_the_third_derivative():
    cg = logistic()
    gg = cg.gradient_graph("x", "r")
    gg2 = gg.gradient_graph("grad/x/r", "r")  # differentiates the adjoint loop itself
    gg3 = gg2.gradient_graph("grad/grad/x/r/r", "r")
    second, third = gg2.forward("grad/grad/x/r/r"), gg3.forward("grad/grad/grad/x/r/r/r")
    unrolled = ComputationalGraph()
    unrolled.add_inputs(x0=0.3, r=2.7)
    x = "x0"
    for t in range(4):
        unrolled.add_expression(f"x{t + 1}", f"r * {x} * (1 - {x})")
        x = f"x{t + 1}"
    ug3 = (
        unrolled.gradient_graph(x, "r")
        .gradient_graph(f"grad/{x}/r", "r")
        .gradient_graph(f"grad/grad/{x}/r/r", "r")
    )
    assert third == pytest.approx(ug3.forward(f"grad/grad/grad/{x}/r/r/r"), rel=1e-12)
    assert second == pytest.approx(cg.hessian("x", "r"), rel=1e-12)
    eps = 1e-3  # the fourth-difference stencil of the closed form, O(eps^2)
    r = 2.7
    by_differences = (
        logistic_by_hand(r + 2 * eps)
        - 2 * logistic_by_hand(r + eps)
        + 2 * logistic_by_hand(r - eps)
        - logistic_by_hand(r - 2 * eps)
    ) / (2 * eps**3)
    assert third == pytest.approx(by_differences, rel=1e-5)


def newton_sqrt() -> ComputationalGraph:
    step = ComputationalGraph()
    step.add_inputs(x=1.0, a=2.0)
    step.add_constant("tol", 1e-12)
    step.add_expression("x_next", "0.5 * (x + a / x)")
    step.add_expression("done", "abs(x_next - x) < tol")
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0, a=2.0)
    cg.add_loop(
        "root",
        step,
        carry={"x": "x0"},
        updates={"x": "x_next"},
        inputs={"a": "a"},
        until="done",
        max_steps=50,
    )
    cg.add_loop(
        "path",
        step,
        carry={"x": "x0"},
        updates={"x": "x_next"},
        inputs={"a": "a"},
        until="done",
        max_steps=50,
        stack=True,
        output="x",
    )
    cg.add_expression("total", "sum(path)")
    return cg


@pytest.mark.parametrize("a", [2.0, 9.0, 0.25])
def test_an_until_loops_hessian_is_that_of_its_fixed_point_whatever_the_count(a):
    cg = newton_sqrt()  # sqrt(a): d2/da2 = -1 / (4 a^1.5); 9 and 0.25 take other counts
    assert cg.hessian("root", "a", feed={"a": a}) == pytest.approx(-0.25 * a**-1.5, rel=1e-10)
    tg = cg.tangent_graph("root", {"a": 1.0}, feed={"a": a})
    assert tg.forward("tangent/root/root") == pytest.approx(0.5 / math.sqrt(a), rel=1e-12)


def test_an_until_loops_stack_differentiates_twice_as_its_gradients_do():
    cg = newton_sqrt()
    gg = cg.gradient_graph("total", ["a", "x0"])
    cg.forward("total")
    expected = cg.backward("total")
    assert gg.forward("grad/total/a") == pytest.approx(expected["a"], rel=1e-12)
    assert gg.forward("grad/total/x0") == pytest.approx(expected["x0"], rel=1e-12)
    hess = cg.hessian("total", "a")
    eps = 1e-6

    def gradient(a):
        cg.forward("total", feed={"a": a})
        return cg.backward("total")["a"]

    assert hess == pytest.approx((gradient(2 + eps) - gradient(2 - eps)) / (2 * eps), rel=1e-6)


def test_an_integer_carry_is_carried_without_a_gradient():
    body = ComputationalGraph()  # h' = sin(w h + n), n' = n + 1: a counter the body reads
    body.add_inputs(h=0.0, n=0, w=0.0)
    body.add_constant("one", 1)
    body.add_expression("h_next", "sin(w * h + n)")
    body.add_computation_node("n_next", "add", ("n", "one"))

    def outer() -> ComputationalGraph:
        cg = ComputationalGraph()
        cg.add_inputs(h0=0.3, w=1.2)
        cg.add_input("n0", 0, trainable=False)
        return cg

    loop = outer()
    loop.add_loop(
        "h",
        body,
        carry={"h": "h0", "n": "n0"},
        updates={"h": "h_next", "n": "n_next"},
        inputs={"w": "w"},
        steps=4,
        output="h",
    )
    unrolled = outer()
    h, n = "h0", "n0"
    for t in range(4):
        use = unrolled.add_subgraph(f"s{t}", body, {"h": h, "n": n, "w": "w"}, ["h_next", "n_next"])
        h, n = use["h_next"], use["n_next"]
    for i, j, block in blocks(loop.hessian("h", ["w", "h0"]), 2):
        assert block == pytest.approx(unrolled.hessian(h, ["w", "h0"])[i][j], rel=1e-12)
    assert loop.tangent_graph("h", {"w": 1.0}).forward("tangent/h/h") == pytest.approx(
        unrolled.jvp(h, {"w": 1.0})[1], rel=1e-12
    )


def test_a_loop_in_a_loops_body_differentiates_twice():
    inner = ComputationalGraph()  # z' = sin(w z) + 1/2, three times, from the outer h
    inner.add_inputs(z=0.0, w=0.0)
    inner.add_expression("z_next", "sin(w * z) + 0.5")
    body = ComputationalGraph()
    body.add_inputs(h=0.0, w=0.0, x=0.0)
    body.add_loop(
        "z3", inner, carry={"z": "h"}, updates={"z": "z_next"}, inputs={"w": "w"}, steps=3
    )
    body.add_expression("h_next", "where(z3 > 0, z3 * x, 0.1 * z3)")
    xs = np.array([0.5, -1.2, 2.0])
    loop = ComputationalGraph()
    loop.add_inputs(h0=0.2, w=1.1, xs=xs)
    loop.add_loop(
        "h", body, carry={"h": "h0"}, updates={"h": "h_next"}, inputs={"w": "w"}, xs={"x": "xs"}
    )
    unrolled = ComputationalGraph()
    unrolled.add_inputs(h0=0.2, w=1.1, xs=xs)
    h = "h0"
    for t in range(3):
        unrolled.add_computation_node(f"x{t}", "index", ("xs",), index=t)
        h = unrolled.add_subgraph(f"c{t}", body, {"h": h, "w": "w", "x": f"x{t}"})["h_next"]
    wrt = ["w", "h0", "xs"]
    expected = unrolled.hessian(h, wrt)
    for i, j, block in blocks(loop.hessian("h", wrt), 3):
        assert_close(block, expected[i][j], 1e-10)


def test_a_loop_of_no_iteration_passes_the_gradient_and_the_tangent_through():
    body = ComputationalGraph()
    body.add_inputs(h=0.0, w=0.0)
    body.add_expression("h_next", "sin(w * h)")
    cg = ComputationalGraph()
    cg.add_inputs(h0=0.3, w=1.2)
    cg.add_loop("h", body, carry={"h": "h0"}, updates={"h": "h_next"}, inputs={"w": "w"}, steps=0)
    cg.add_expression("f", "h * h")
    assert cg.gradient_graph("f", "h0").forward("grad/f/h0") == pytest.approx(0.6)
    assert cg.hessian("f", ["h0", "w"]) == ((2.0, 0.0), (0.0, 0.0))
    assert cg.tangent_graph("f", {"h0": 1.0}).forward("tangent/f/f") == pytest.approx(0.6)


def test_a_carry_that_changes_shape_is_refused_naming_the_loop():
    body = ComputationalGraph()  # h' = h + v: h starts as a number, becomes a vector
    body.add_inputs(h=0.0, v=np.zeros(3))
    body.add_expression("h_next", "h + v")
    cg = ComputationalGraph()
    cg.add_inputs(h0=0.0, v=np.ones(3))
    cg.add_loop("h", body, carry={"h": "h0"}, updates={"h": "h_next"}, inputs={"v": "v"}, steps=2)
    cg.add_expression("f", "sum(h)")
    for transform in (
        lambda: cg.gradient_graph("f", "v"),
        lambda: cg.tangent_graph("f", {"v": np.ones(3)}),
    ):
        with pytest.raises(
            InvalidOperationError,
            match=r"loop node 'h': carry 'h' has shape \(\) before the first iteration and "
            r"\(3,\) after it; .* give its initial value the shape of its update",
        ) as error:
            transform()
        assert error.value.nodes == ("h",)
    assert cg.forward("f") == 6.0  # the graph is as it was: the loop still runs

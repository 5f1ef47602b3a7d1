"""Loops: one node that applies a body graph repeatedly, the same numbers as the unrolled graph."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

from cgraph import ComputationalGraph, Operation, numerical_gradient
from cgraph.errors import (
    DuplicateNodeError,
    InvalidOperationError,
    InvalidValueError,
    NonFiniteError,
    OperationError,
    ShapeError,
    UnknownNodeError,
)
from cgraph.loops.op import Loop

if HAS_TORCH:
    import torch

H, X, T = 3, 2, 6
RNG = np.random.default_rng(7)
PARAMS = {
    "h0": RNG.normal(size=H),
    "W": RNG.normal(size=(H, H)) * 0.6,
    "U": RNG.normal(size=(H, X)),
    "b": RNG.normal(size=H) * 0.3,
}
XS = RNG.normal(size=(T, X))
BOUND = {"W": "W", "U": "U", "b": "b"}


def rnn_cell() -> ComputationalGraph:
    """h' = tanh(W h + U x + b), every input trainable (a subgraph copies that as it is)."""
    cell = ComputationalGraph()
    cell.add_inputs(
        h=np.zeros(H), x=np.zeros(X), W=np.zeros((H, H)), U=np.zeros((H, X)), b=np.zeros(H)
    )
    cell.add_expression("h_next", "tanh(W @ h + U @ x + b)")
    return cell


def outer() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**PARAMS, Xs=XS)
    return cg


def rnn_loop(**options) -> ComputationalGraph:
    """loss = sum(h_T) of the RNN over XS, as one loop node ``hT``."""
    cg = outer()
    cg.add_loop(
        "hT",
        rnn_cell(),
        carry={"h": "h0"},
        updates={"h": "h_next"},
        xs={"x": "Xs"},
        inputs=BOUND,
        **options,
    )
    cg.add_computation_node("loss", "sum", ("hT",))
    return cg


def rnn_unrolled() -> tuple[ComputationalGraph, list[str]]:
    """The same RNN, one use of the cell per step (add_subgraph); the h of every step."""
    cg = outer()
    h, hs = "h0", []
    for t in range(T):
        cg.add_computation_node(f"x{t}", "index", ("Xs",), index=t)
        h = cg.add_subgraph(f"cell@t{t}", rnn_cell(), {"h": h, "x": f"x{t}", **BOUND})["h_next"]
        hs.append(h)
    cg.add_computation_node("loss", "sum", (h,))
    return cg, hs


def by_hand():
    """Every step's h, by numpy."""
    h, hs = PARAMS["h0"], []
    for x in XS:
        h = np.tanh(PARAMS["W"] @ h + PARAMS["U"] @ x + PARAMS["b"])
        hs.append(h)
    return np.array(hs)


def assert_same_gradients(got: dict, expected: dict, tol: float = 1e-12) -> None:
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=tol, err_msg=name)


# ------------------------------------------------------------------------------------------
# A fixed count: the unrolled graph's numbers, in every mode
# ------------------------------------------------------------------------------------------


def test_a_fixed_count_loop_equals_the_unrolled_graph_in_value_and_gradient():
    loop, (unrolled, _) = rnn_loop(), rnn_unrolled()
    assert loop.forward("loss") == pytest.approx(unrolled.forward("loss"), rel=0, abs=1e-12)
    assert loop.forward("loss") == pytest.approx(by_hand()[-1].sum(), rel=0, abs=1e-12)
    assert_same_gradients(loop.backward("loss"), unrolled.backward("loss"))


def test_loop_gradients_match_central_differences():
    loop = rnn_loop()
    loop.forward("loss")
    analytic = loop.backward("loss")
    numerical = numerical_gradient(loop, "loss")
    assert_same_gradients(analytic, numerical, tol=1e-8)
    assert np.abs(analytic["Xs"]).min() > 0  # the sequence's gradient is not left at zero


@needs_torch
def test_loop_gradients_match_torch():
    loop = rnn_loop(stack=True)
    loop.forward("loss")
    grads = loop.backward("loss")
    tensors = {
        name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
        for name, value in {**PARAMS, "Xs": XS}.items()
    }
    h = tensors["h0"]
    steps = []
    for t in range(T):
        h = torch.tanh(tensors["W"] @ h + tensors["U"] @ tensors["Xs"][t] + tensors["b"])
        steps.append(h)
    loss = torch.stack(steps).sum()  # stack=True: every step's h is summed
    loss.backward()
    assert loop.get_value("loss") == pytest.approx(loss.item(), rel=0, abs=1e-12)
    assert_same_gradients(grads, {name: t.grad.numpy() for name, t in tensors.items()})


def test_forward_mode_equals_the_unrolled_graph():
    loop, (unrolled, _) = rnn_loop(), rnn_unrolled()
    tangents = {"W": RNG.normal(size=(H, H)), "h0": 1.0, "Xs": RNG.normal(size=(T, X))}
    value, tangent = loop.jvp("loss", tangents)
    expected = unrolled.jvp("loss", tangents)
    assert value == pytest.approx(expected[0], rel=0, abs=1e-12)
    assert tangent == pytest.approx(expected[1], rel=0, abs=1e-12)
    # Forward mode is the dual of reverse mode: J t = sum(grad * t).
    grads = loop.backward("loss")
    dual = sum(
        np.sum(grads[name] * np.broadcast_to(t, np.shape(grads[name])))
        for name, t in tangents.items()
    )
    assert tangent == pytest.approx(dual, rel=1e-12)


def test_jacobian_by_forward_and_reverse_mode_agree():
    cg = rnn_loop()
    forward = cg.jacobian("hT", ["W", "h0"], mode="forward")
    reverse = cg.jacobian("hT", ["W", "h0"], mode="reverse")
    for got, expected in zip(forward, reverse, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_stacked_outputs_are_every_steps_value_and_differentiate_like_the_unrolled_stack():
    loop = rnn_loop(stack=True)
    unrolled, hs = rnn_unrolled()
    unrolled.add_computation_node("H", "stack", hs, axis=0)
    unrolled.add_computation_node("total", "sum", ("H",))
    stacked = loop.forward("hT")
    assert stacked.shape == (T, H)
    np.testing.assert_allclose(stacked, by_hand(), rtol=0, atol=1e-12)
    loop.forward("loss")
    unrolled.forward("total")
    grads = loop.backward("loss")
    assert_same_gradients(grads, unrolled.backward("total"))
    _, tangent = loop.jvp("hT", {"b": np.ones(H)})
    _, expected = unrolled.jvp("H", {"b": np.ones(H)})
    np.testing.assert_allclose(tangent, expected, rtol=0, atol=1e-12)


def test_stacking_a_body_node_that_is_not_a_carry():
    cell = rnn_cell()
    cell.add_computation_node("energy", "sum", ("h_next",))
    cg = outer()
    cg.add_loop(
        "E",
        cell,
        carry={"h": "h0"},
        updates={"h": "h_next"},
        xs={"x": "Xs"},
        inputs=BOUND,
        output="energy",
        stack=True,
    )
    cg.add_loop(
        "E_last",
        cell,
        carry={"h": "h0"},
        updates={"h": "h_next"},
        xs={"x": "Xs"},
        inputs=BOUND,
        output="energy",
    )
    np.testing.assert_allclose(cg.forward("E"), by_hand().sum(axis=1), rtol=0, atol=1e-12)
    assert cg.forward("E_last") == pytest.approx(by_hand()[-1].sum(), abs=1e-12)
    cg.forward("E")
    analytic = cg.backward("E")
    assert_same_gradients(analytic, numerical_gradient(cg, "E"), tol=1e-8)


def test_checkpointing_gives_the_same_gradients_bit_for_bit():
    stored = rnn_loop(stack=True)
    stored.forward("loss")
    expected = stored.backward("loss")
    for every in (1, 2, 4, 5, 6, 100):  # dividing T or not, and longer than the loop
        cg = rnn_loop(stack=True, checkpoint=every)
        cg.forward("loss")
        assert_same_gradients(cg.backward("loss"), expected, tol=0)


def test_several_carries_updated_from_leaves_swap_each_iteration():
    body = ComputationalGraph()
    body.add_inputs(a=0.0, b=0.0, w=1.0)
    body.add_computation_node("wa", "mul", ("w", "a"))
    cg = ComputationalGraph()
    cg.add_inputs(a0=2.0, b0=5.0, w=3.0)
    # (a, b) <- (b, w a): a carry may be updated straight from another input of the body.
    cg.add_loop(
        "a3",
        body,
        carry={"a": "a0", "b": "b0"},
        updates={"a": "b", "b": "wa"},
        inputs={"w": "w"},
        steps=3,
        output="a",
    )
    # a1 = 5, b1 = 6; a2 = 6, b2 = 15; a3 = 15 = w b0.
    assert cg.forward("a3") == 15.0
    assert cg.backward("a3") == {"a0": 0.0, "b0": 3.0, "w": 5.0}


def test_a_loop_of_zero_steps_gives_the_initial_carry():
    cg = ComputationalGraph()
    cg.add_inputs(h0=np.ones(H), **{k: PARAMS[k] for k in BOUND}, Xs=XS)
    cg.add_loop(
        "h",
        rnn_cell(),
        carry={"h": "h0"},
        updates={"h": "h_next"},
        inputs={"x": "Xs", **BOUND},
        steps=0,
    )
    np.testing.assert_array_equal(cg.forward("h"), np.ones(H))
    cg.add_computation_node("s", "sum", ("h",))
    cg.forward("s")
    grads = cg.backward("s")
    np.testing.assert_array_equal(grads["h0"], np.ones(H))
    np.testing.assert_array_equal(grads["W"], np.zeros((H, H)))


def test_the_body_is_copied_when_the_loop_is_declared():
    cell = rnn_cell()
    cg = outer()
    cg.add_loop(
        "hT", cell, carry={"h": "h0"}, updates={"h": "h_next"}, xs={"x": "Xs"}, inputs=BOUND
    )
    cell.add_computation_node("other", "neg", ("h_next",))
    cell.inputs["W"].output = np.ones((H, H))
    np.testing.assert_allclose(cg.forward("hT"), by_hand()[-1], rtol=0, atol=1e-12)
    assert "h_next" not in cg
    assert len(cg) == len(PARAMS) + 2


def test_a_where_in_the_body_keeps_nan_safe_gradients():
    # sum over steps of where(x > 0, log(x), 0): gradient [0, 0, 0.25], never NaN.
    body = ComputationalGraph()
    body.add_inputs(total=0.0, x=1.0)
    body.add_constant("zero", 0.0)
    body.add_expression("term", "where(x > zero, log(x), zero)")
    body.add_computation_node("total_next", "add", ("total", "term"))
    cg = ComputationalGraph()
    cg.add_inputs(t0=0.0, xs=[-1.0, 0.0, 4.0])
    cg.add_loop("s", body, carry={"total": "t0"}, updates={"total": "total_next"}, xs={"x": "xs"})
    with np.errstate(divide="ignore", invalid="ignore"):
        assert cg.forward("s") == pytest.approx(math.log(4.0))
        grads = cg.backward("s")
    np.testing.assert_array_equal(grads["xs"], [0.0, 0.0, 0.25])


def test_a_loop_inside_a_loop_differentiates():
    inner_body = ComputationalGraph()  # x <- sin(x) + a, three times
    inner_body.add_inputs(x=0.0, a=0.0)
    inner_body.add_expression("x_next", "sin(x) + a")
    body = ComputationalGraph()  # y <- loop(y, a) * 0.5, twice
    body.add_inputs(y=0.0, a=0.0)
    body.add_loop(
        "inner", inner_body, carry={"x": "y"}, updates={"x": "x_next"}, inputs={"a": "a"}, steps=3
    )
    body.add_expression("y_next", "0.5 * inner")
    cg = ComputationalGraph()
    cg.add_inputs(y0=0.3, a=0.7)
    cg.add_loop("y", body, carry={"y": "y0"}, updates={"y": "y_next"}, inputs={"a": "a"}, steps=2)
    y = 0.3
    for _ in range(2):
        x = y
        for _ in range(3):
            x = math.sin(x) + 0.7
        y = 0.5 * x
    assert cg.forward("y") == pytest.approx(y, abs=1e-15)
    assert_same_gradients(cg.backward("y"), numerical_gradient(cg, "y"), tol=1e-9)
    assert cg.jvp("y", {"a": 1.0})[1] == pytest.approx(cg.backward("y")["a"], rel=1e-12)


# ------------------------------------------------------------------------------------------
# Until a condition holds
# ------------------------------------------------------------------------------------------


def newton_sqrt_step() -> ComputationalGraph:
    """x' = (x + a / x) / 2, done when |x' - x| < 1e-12."""
    step = ComputationalGraph()
    step.add_inputs(x=1.0, a=2.0)
    step.add_constant("tol", 1e-12)
    step.add_expression("x_next", "0.5 * (x + a / x)")
    step.add_expression("done", "abs(x_next - x) < tol")
    step.add_expression("count_next", "x_next * 0.0")  # a body node that is not read
    return step


def newton_loop(max_steps: int = 50, **options) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0, a=2.0)
    cg.add_loop(
        "root",
        newton_sqrt_step(),
        carry={"x": "x0"},
        updates={"x": "x_next"},
        inputs={"a": "a"},
        until="done",
        max_steps=max_steps,
        **options,
    )
    return cg


@pytest.mark.parametrize("a", [2.0, 9.0, 0.25])
def test_a_while_loop_runs_until_its_condition_and_differentiates(a):
    cg = newton_loop()
    assert cg.forward("root", feed={"a": a}) == pytest.approx(math.sqrt(a), rel=1e-15)
    cg.forward("root", feed={"a": a})
    assert cg.backward("root")["a"] == pytest.approx(0.5 / math.sqrt(a), rel=1e-12)
    numerical = numerical_gradient(cg, "root", feed={"a": a})
    assert numerical["a"] == pytest.approx(0.5 / math.sqrt(a), rel=1e-7)
    assert cg.jvp("root", {"a": 1.0}, feed={"a": a})[1] == pytest.approx(
        0.5 / math.sqrt(a), rel=1e-12
    )


def test_a_while_loop_stops_after_the_iteration_whose_condition_holds():
    cg = newton_loop()
    cg.add_loop(
        "trace",
        newton_sqrt_step(),
        carry={"x": "x0"},
        updates={"x": "x_next"},
        inputs={"a": "a"},
        until="done",
        max_steps=50,
        stack=True,
        output="x",
    )
    x, expected = 1.0, []
    while True:
        nxt = 0.5 * (x + 2.0 / x)
        expected.append(nxt)
        done, x = abs(nxt - x) < 1e-12, nxt
        if done:
            break
    np.testing.assert_array_equal(cg.forward("trace"), expected)


def test_a_while_loop_past_max_steps_raises_naming_the_node():
    cg = newton_loop(max_steps=3)
    with pytest.raises(
        OperationError,
        match=r"loop node 'root'.*'done' was still false after "
        r"max_steps=3",
    ) as error:
        cg.forward("root")
    assert error.value.nodes == ("root",)


# ------------------------------------------------------------------------------------------
# Plans, declaration cost, drawings
# ------------------------------------------------------------------------------------------


def test_compiled_plans_call_the_loop_as_an_object_and_give_the_interpreters_numbers():
    cg = rnn_loop()
    cg.use_plans = True  # whatever CGRAPH_PLANS says
    plan = cg.compile("loss")
    assert type(cg.operations["hT"].op).traced is False
    value, grads = plan.value_and_grad()
    assert value == pytest.approx(by_hand()[-1].sum(), rel=0, abs=1e-12)
    interpreted = rnn_loop()
    interpreted.use_plans = False
    assert value == interpreted.forward("loss")
    assert_same_gradients(grads, interpreted.backward("loss"), tol=0)
    for _ in range(4):  # the third pass of forward writes the plan itself
        assert cg.forward("loss") == value
        assert_same_gradients(cg.backward("loss"), grads, tol=0)
    assert cg.schedule("loss").plan is not None
    # The body runs by its own plan too, unless the graph holding the loop has them off.
    assert cg.operations["hT"].op.loop_body.schedule.plan is not None
    assert interpreted.operations["hT"].op.loop_body.schedule.plan is None


def test_a_body_run_by_its_plan_gives_the_interpreters_numbers_bit_for_bit():
    for stack in (False, True):
        planned, interpreted = rnn_loop(stack=stack), rnn_loop(stack=stack)
        planned.use_plans, interpreted.use_plans = True, False
        for _ in range(3):
            assert planned.forward("loss") == interpreted.forward("loss")
            assert_same_gradients(planned.backward("loss"), interpreted.backward("loss"), tol=0)


def test_declaring_a_thousand_step_loop_declares_one_node():
    cg = ComputationalGraph()
    cg.add_inputs(x0=0.5, r=3.7)
    body = ComputationalGraph()  # the logistic map x' = r x (1 - x)
    body.add_inputs(x=0.0, r=0.0)
    body.add_expression("x_next", "r * x * (1 - x)")
    before = len(cg)
    cg.add_loop(
        "x1000", body, carry={"x": "x0"}, updates={"x": "x_next"}, inputs={"r": "r"}, steps=1000
    )
    assert len(cg) == before + 1
    assert len(cg.operations["x1000"].op.loop_body.schedule) == len(body) + 1
    x = 0.5
    for _ in range(1000):
        x = 3.7 * x * (1 - x)
    assert cg.forward("x1000") == x  # the same operations in the same order


def test_a_drawing_shows_the_loop_as_one_node():
    cg = rnn_loop()
    dot = cg.to_dot("loss")
    assert dot.count("Loop(") == 1
    assert "h_next" not in dot
    assert "cell" not in dot


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def declare(**changes):
    cg = outer()
    arguments = dict(
        body=rnn_cell(), carry={"h": "h0"}, updates={"h": "h_next"}, xs={"x": "Xs"}, inputs=BOUND
    )
    arguments.update(changes)
    size = len(cg)
    try:
        cg.add_loop("hT", **arguments)
    finally:
        assert len(cg) in (size, size + 1)
    return cg


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"carry": {"hh": "h0"}, "updates": {"hh": "h_next"}},
            UnknownNodeError,
            r"carry binds 'hh', which is not an input of the body; did you mean 'h'",
        ),
        (
            {"carry": {"h": "nope"}},
            UnknownNodeError,
            r"'h' is bound to 'nope', which is not a node",
        ),
        ({"updates": {}}, InvalidValueError, r"\['h'\] have no update"),
        (
            {"updates": {"h": "h_next", "W": "W"}},
            InvalidValueError,
            r"updates names \['W'\], which",
        ),
        (
            {"updates": {"h": "h_nxt"}},
            UnknownNodeError,
            r"the update of carry 'h' is 'h_nxt', which "
            r"is not a node of the body; did you mean",
        ),
        ({"inputs": {"W": "W", "U": "U"}}, UnknownNodeError, r"\['b'\] are not bound"),
        ({"inputs": {**BOUND, "h": "h0"}}, InvalidValueError, r"'h' is bound twice"),
        ({"output": "hidden"}, UnknownNodeError, r"output 'hidden' is neither a carry"),
        (
            {"until": "h_next"},
            InvalidValueError,
            r"until= stops on its condition; it takes no steps",
        ),
        ({"xs": None, "steps": None}, InvalidValueError, r"say how many iterations"),
        ({"steps": 2.5}, InvalidValueError, r"steps must be a whole number >= 0, not 2.5"),
        ({"max_steps": 4}, InvalidValueError, r"max_steps= bounds a loop with until="),
        ({"checkpoint": 0}, InvalidValueError, r"checkpoint must be a whole number >= 1"),
        ({"body": "cell"}, InvalidValueError, r"the body 'cell' is not a graph"),
    ],
)
def test_a_refused_declaration_names_the_problem_and_declares_nothing(changes, error, message):
    with pytest.raises(error, match=message):
        declare(**changes)


def test_until_needs_max_steps_and_a_body_node():
    body = newton_sqrt_step()
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0, a=2.0)
    with pytest.raises(InvalidValueError, match=r"until= needs max_steps="):
        cg.add_loop("r", body, {"x": "x0"}, {"x": "x_next"}, inputs={"a": "a"}, until="done")
    with pytest.raises(UnknownNodeError, match=r"until is 'dne'.*did you mean 'done'"):
        cg.add_loop(
            "r", body, {"x": "x0"}, {"x": "x_next"}, inputs={"a": "a"}, until="dne", max_steps=5
        )
    assert list(cg.nodes) == ["x0", "a"]


def test_a_name_already_taken_is_refused():
    cg = rnn_loop()
    with pytest.raises(DuplicateNodeError, match=r"already has a node 'hT'"):
        cg.add_loop("hT", rnn_cell(), {"h": "h0"}, {"h": "h_next"}, xs={"x": "Xs"}, inputs=BOUND)


def test_a_classic_op_in_the_body_is_refused_naming_its_node():
    class Cube(Operation):
        def forward(self, x):
            self.x = x
            return x**3

        def backward(self, upstream):
            return (3 * self.x**2 * upstream,)

    body = ComputationalGraph()
    body.add_inputs(x=1.0)
    body.add_computation_node("cube", Cube, ("x",))
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0)
    with pytest.raises(InvalidOperationError, match=r"\['cube'\] use a classic custom op") as e:
        cg.add_loop("c", body, {"x": "x0"}, {"x": "cube"}, steps=2)
    assert e.value.nodes == ("cube",)


def test_a_shape_error_in_the_body_names_the_loop_and_the_iteration():
    cell = rnn_cell()
    cg = outer()
    cg.add_input("wide", np.zeros((T + 2, X + 1)))
    cg.add_loop("bad", cell, {"h": "h0"}, {"h": "h_next"}, xs={"x": "wide"}, inputs=BOUND)
    with pytest.raises(
        ShapeError,
        match=r"loop node 'bad', forward of iteration 0, in its body: "
        r"node 'h_next/matmul_2'",
    ) as error:
        cg.forward("bad")
    assert error.value.nodes == ("bad",)
    cg.add_loop(
        "short", cell, {"h": "h0"}, {"h": "h_next"}, xs={"x": "Xs"}, inputs=BOUND, steps=T + 1
    )
    with pytest.raises(
        ShapeError,
        match=r"loop node 'short': its sequences' first axes "
        r"\{'x': 6\} do not all have 7 elements",
    ):
        cg.forward("short")


def test_check_finite_names_the_iteration_where_a_value_first_becomes_nan():
    body = ComputationalGraph()  # x' = sqrt(x - 1): 10, 3, 1.41, 0.64, then nan
    body.add_inputs(x=0.0)
    body.add_expression("x_next", "sqrt(x - 1)")
    cg = ComputationalGraph()
    cg.add_inputs(x0=10.0)
    cg.add_loop("x", body, {"x": "x0"}, {"x": "x_next"}, steps=6, check_finite=True)
    with pytest.raises(
        NonFiniteError,
        match=r"loop node 'x', forward of iteration 3, in its "
        r"body: forward: node 'x_next' \(Sqrt\) gave a "
        r"non-finite output",
    ) as error:
        cg.forward("x")
    assert error.value.nodes == ("x",)


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        (lambda cg: cg.gradient_graph("root", ["a"]).forward("grad/root/a"), 0.5 / math.sqrt(2)),
        (lambda cg: cg.hessian("root", "a"), -0.25 / 2**1.5),
        (lambda cg: cg.hvp("root", ["a"], [1.0])[0], -0.25 / 2**1.5),
        (
            lambda cg: cg.tangent_graph("root", {"a": 1.0}).forward("tangent/root/root"),
            0.5 / math.sqrt(2),
        ),
    ],
    ids=["gradient_graph", "hessian", "hvp", "tangent_graph"],
)
def test_second_order_and_symbolic_graphs_of_a_loop_are_those_of_its_value(transform, expected):
    # sqrt(a), by a loop run until it converges: its derivatives are sqrt's (more in
    # test_loops_higher.py, against the unrolled graph).
    assert transform(newton_loop()) == pytest.approx(expected, rel=1e-10)


def test_the_loop_op_shows_its_parameters():
    cg = newton_loop(checkpoint=4)
    op = cg.operations["root"].op
    assert isinstance(op, Loop)
    assert repr(op) == (
        "Loop(carry=('x',), until='done', max_steps=50, output='x', stack=False, checkpoint=4)"
    )

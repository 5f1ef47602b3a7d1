"""Faults: a pass interrupted anywhere, and a graph shared by threads, never give wrong numbers.

Every pass is all or nothing for every exception, KeyboardInterrupt and SystemExit
included: after an interrupted ``forward`` (or ``jvp``, ``jacobian``), the graph
shows the last whole pass's values and ``backward`` asks for a new pass; an
interrupted ``backward`` changes no gradient. Threads sharing a graph take turns,
and each thread's ``backward`` differentiates its own ``forward``.
"""

from __future__ import annotations

import math
import sys
import threading
from typing import ClassVar

import numpy as np
import pytest

import cgraph
from cgraph import ComputationalGraph, NotComputedError, Operation


class TripwireError(Exception):
    """Stands for any exception an op may let through; the tests also use BaseExceptions."""


class ClassicSquare(Operation):
    """y = x^2 in the classic form: forward saves x on self for backward."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, upstream):
        return (2 * self.x * upstream,)


class Armed(Operation):
    """The identity, which raises ``armed[name]`` in forward or backward when set."""

    armed: ClassVar[dict[tuple[str, str], BaseException]] = {}

    def __init__(self, label: str = "") -> None:
        self.label = label

    def params(self):
        return {"label": self.label}

    def forward(self, x):
        self.x = x
        error = Armed.armed.get(("forward", self.label))
        if error is not None:
            raise error
        return x

    def backward(self, upstream):
        error = Armed.armed.get(("backward", self.label))
        if error is not None:
            raise error
        return (upstream,)


@pytest.fixture(autouse=True)
def disarmed():
    Armed.armed = {}
    yield
    Armed.armed = {}


def chain() -> ComputationalGraph:
    """f = sin(x^2)^2 + x, through classic ops (squares), a rule op (sin) and two tripwires."""
    cg = ComputationalGraph()
    cg.add_inputs(x=1.5)
    cg.add_computation_node("s", ClassicSquare, ("x",))
    cg.add_computation_node("a", Armed(label="a"), ("s",))
    cg.add_computation_node("t", "sin", ("a",))
    cg.add_computation_node("b", Armed(label="b"), ("t",))
    cg.add_computation_node("q", ClassicSquare, ("b",))
    cg.add_computation_node("f", "add", ("q", "x"))
    return cg


def exact(x: float) -> tuple[float, float]:
    """f and df/dx of chain(): f = sin(x^2)^2 + x."""
    return math.sin(x * x) ** 2 + x, 2 * math.sin(x * x) * math.cos(x * x) * 2 * x + 1


INTERRUPTS = [KeyboardInterrupt(), SystemExit(1), TripwireError("boom"), GeneratorExit()]
POINTS = ["a", "b"]


def values_of(cg: ComputationalGraph) -> dict[str, float]:
    return {name: cg.get_value(name) for name in cg.nodes}


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: type(e).__name__)
def test_an_interrupted_forward_leaves_the_last_pass_and_backward_asks_for_a_new_one(
    point, interrupt
):
    cg = chain()
    assert cg.forward("f") == pytest.approx(exact(1.5)[0])
    before = values_of(cg)
    Armed.armed[("forward", point)] = interrupt
    with pytest.raises((type(interrupt), cgraph.OperationError)):
        cg.forward("f", feed={"x": 0.5})
    Armed.armed.clear()
    assert values_of(cg) == before  # no value of the interrupted pass is shown
    with pytest.raises(NotComputedError, match="needs a successful forward pass"):
        cg.backward("f")  # the classic ops hold the interrupted pass's state: refused
    # A new pass is whole again.
    assert cg.forward("f", feed={"x": 0.5}) == pytest.approx(exact(0.5)[0])
    assert cg.backward("f")["x"] == pytest.approx(exact(0.5)[1])


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: type(e).__name__)
def test_an_interrupted_backward_changes_no_gradient(point, interrupt):
    cg = chain()
    cg.forward("f")
    grads = cg.backward("f")
    shown = {name: cg.get_gradient(name) for name in cg.nodes}
    Armed.armed[("backward", point)] = interrupt
    with pytest.raises((type(interrupt), cgraph.OperationError)):
        cg.backward("f", seed=2.0)
    Armed.armed.clear()
    assert {name: cg.get_gradient(name) for name in cg.nodes} == shown
    assert cg.backward("f") == grads == {"x": pytest.approx(exact(1.5)[1])}


@pytest.mark.parametrize("sweep", ["jvp", "jacobian"])
@pytest.mark.parametrize("point", POINTS)
def test_an_interrupted_forward_mode_sweep_is_all_or_nothing_too(sweep, point):
    cg = ComputationalGraph()
    cg.add_inputs(x=1.5)
    cg.add_computation_node("s", "square", ("x",))
    cg.add_computation_node("a", Armed(label="a"), ("s",))
    cg.add_computation_node("b", Armed(label="b"), ("a",))
    cg.add_computation_node("f", "sin", ("b",))
    for cls in (type(cg.operations["a"].op),):  # the classic op's tangent: the identity's
        cls.jvp = lambda self, t: t
    try:
        cg.forward("f")
        before = values_of(cg)
        Armed.armed[("forward", point)] = KeyboardInterrupt()
        run = (
            (lambda: cg.jvp("f", {"x": 1.0}, feed={"x": 0.5}))
            if sweep == "jvp"
            else (lambda: cg.jacobian("f", "x", mode="forward", feed={"x": 0.5}))
        )
        with pytest.raises(KeyboardInterrupt):
            run()
        Armed.armed.clear()
        assert values_of(cg) == before
        with pytest.raises(NotComputedError, match="interrupted: KeyboardInterrupt"):
            cg.backward("f")
    finally:
        del Armed.jvp


def test_a_pass_of_another_root_that_reruns_a_classic_op_makes_backward_refuse():
    # g shares the classic op s with f: its pass overwrites what s saved for f's.
    cg = chain()
    cg.add_computation_node("g", "exp", ("s",))
    cg.forward("f")
    grads_f = cg.backward("f")
    cg.forward("g", feed={"x": 0.5})  # s now holds x = 0.5
    assert cg.backward("g")["x"] == pytest.approx(math.exp(0.25) * 2 * 0.5)
    cg.forward("f")
    assert cg.backward("f") == grads_f


# --------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------


def run_threads(work, count: int = 4) -> list:
    results: list = [None] * count
    errors: list = []

    def runner(k: int) -> None:
        try:
            results[k] = work(k)
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(k,)) for k in range(count)]
    # Switch threads often, so that passes interleave as much as they can.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[:3]
    return results


def test_threads_sharing_a_graph_each_get_their_own_passes_gradients():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0, y=2.0)
    cg.add_expression("f", "sin(x * y) + exp(x) * y")

    def work(k: int) -> int:
        rng = np.random.default_rng(k)
        wrong = 0
        for _ in range(1500):
            x, y = rng.uniform(-1, 1, 2)
            value = cg.forward("f", feed={"x": x, "y": y})
            grads = cg.backward("f")
            expect = (math.cos(x * y) * y + math.exp(x) * y, math.cos(x * y) * x + math.exp(x))
            wrong += not math.isclose(value, math.sin(x * y) + math.exp(x) * y, rel_tol=1e-12)
            wrong += not all(
                math.isclose(grads[n], e, rel_tol=1e-12, abs_tol=1e-12)
                for n, e in zip("xy", expect, strict=True)
            )
        return wrong

    assert run_threads(work) == [0, 0, 0, 0]


def test_threads_with_a_classic_op_get_right_answers_or_a_refusal_never_a_wrong_one():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("s", ClassicSquare, ("x",))
    cg.add_computation_node("f", "sin", ("s",))

    def work(k: int) -> tuple[int, int]:
        rng = np.random.default_rng(k)
        wrong = refused = 0
        for _ in range(1500):
            x = float(rng.uniform(-1, 1))
            cg.forward("f", feed={"x": x})
            try:
                grad = cg.backward("f")["x"]
            except NotComputedError:
                refused += 1
                continue
            wrong += not math.isclose(grad, math.cos(x * x) * 2 * x, rel_tol=1e-12, abs_tol=1e-15)
        return wrong, refused

    results = run_threads(work)
    assert [wrong for wrong, _ in results] == [0, 0, 0, 0]


def test_threads_declaring_into_one_graph_lose_no_node():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)

    def work(k: int) -> None:
        previous = "x"
        for i in range(300):
            cg.add_computation_node(f"t{k}/n{i}", "sin", (previous,))
            previous = f"t{k}/n{i}"

    run_threads(work)
    assert len(cg) == 1 + 4 * 300
    assert cg.graph.number_of_edges() == 4 * 300
    assert [node.index for node in cg.nodes.values()] == list(range(len(cg)))

"""Every bad input raises its own GraphError naming the node, and changes nothing.

Each case runs on the seed's graph after a full forward and backward, takes a
snapshot of the graph's whole state (nodes, edges, kinds, values, gradients),
makes the bad call, and compares the state afterwards to the snapshot.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, Operation
from cgraph.ops import Add, Sigmoid

Case = tuple[type[cgraph.GraphError], tuple[str, ...], Callable[[ComputationalGraph], object]]


class NeedsAParameter(Operation):
    """An op whose constructor takes a parameter, for the missing-parameter case."""

    def __init__(self, power: float) -> None:
        self.power = power

    def forward(self, x):
        return x**self.power

    def backward(self, upstream):
        return (upstream,)


class TooManyGradients(Operation):
    """Returns two gradients for its one input."""

    def forward(self, x):
        return x

    def backward(self, upstream):
        return upstream, upstream


class WrongShapeGradient(Operation):
    """Returns a gradient of a shape no broadcasting could reduce to its input's."""

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (np.ones(7),)


class Explodes(Operation):
    """Its forward raises."""

    def forward(self, x):
        raise RuntimeError("boom")

    def backward(self, upstream):
        return (upstream,)


def declaring_cases() -> dict[str, Case]:
    return {
        "duplicate input": (cgraph.DuplicateNodeError, ("x",), lambda cg: cg.add_inputs(x=1.0)),
        "duplicate among several inputs": (
            cgraph.DuplicateNodeError,
            ("y",),
            lambda cg: cg.add_inputs(new=1.0, y=2.0),
        ),
        "duplicate constant": (
            cgraph.DuplicateNodeError,
            ("sq",),
            lambda cg: cg.add_constant("sq", 1.0),
        ),
        "duplicate operation": (
            cgraph.DuplicateNodeError,
            ("f",),
            lambda cg: cg.add_computation_node("f", Add, ("x", "y")),
        ),
        "unknown input": (
            cgraph.UnknownNodeError,
            ("zz", "g"),
            lambda cg: cg.add_computation_node("g", Add, ("x", "zz")),
        ),
        "node listing itself": (
            cgraph.CycleError,
            ("g",),
            lambda cg: cg.add_computation_node("g", Add, ("g", "x")),
        ),
        "too few inputs": (
            cgraph.ArityError,
            ("g",),
            lambda cg: cg.add_computation_node("g", Add, ("x",)),
        ),
        "too many inputs": (
            cgraph.ArityError,
            ("g",),
            lambda cg: cg.add_computation_node("g", Sigmoid, ("x", "y")),
        ),
        "not an operation": (
            cgraph.InvalidOperationError,
            ("g",),
            lambda cg: cg.add_computation_node("g", len, ("x",)),
        ),
        "unknown op name": (
            cgraph.InvalidOperationError,
            ("g",),
            lambda cg: cg.add_computation_node("g", "sigmoidd", ("x",)),
        ),
        "op missing its parameter": (
            cgraph.InvalidOperationError,
            ("g",),
            lambda cg: cg.add_computation_node("g", NeedsAParameter, ("x",)),
        ),
        "parameters with an instance": (
            cgraph.InvalidOperationError,
            ("g",),
            lambda cg: cg.add_computation_node("g", Sigmoid(), ("x",), axis=1),
        ),
        "string value": (cgraph.InvalidValueError, ("s",), lambda cg: cg.add_inputs(s="abc")),
        "complex value": (cgraph.InvalidValueError, ("c",), lambda cg: cg.add_constant("c", 1j)),
        "ragged value": (
            cgraph.InvalidValueError,
            ("r",),
            lambda cg: cg.add_inputs(r=[[1.0], [1.0, 2.0]]),
        ),
        "name not a string": (cgraph.InvalidValueError, ("3",), lambda cg: cg.add_input(3, 1.0)),
        "empty name": (cgraph.InvalidValueError, ("",), lambda cg: cg.add_input("", 1.0)),
        "input name not a string": (
            cgraph.InvalidValueError,
            ("g",),
            lambda cg: cg.add_computation_node("g", Sigmoid, (3,)),
        ),
    }


def evaluating_cases() -> dict[str, Case]:
    return {
        "unknown root": (cgraph.UnknownNodeError, ("fx",), lambda cg: cg.forward("fx")),
        "feeding an unknown input": (
            cgraph.UnknownNodeError,
            ("z",),
            lambda cg: cg.forward("f", feed={"z": 1.0}),
        ),
        "feeding an operation": (
            cgraph.InvalidValueError,
            ("sq",),
            lambda cg: cg.forward("f", feed={"sq": 1.0}),
        ),
        "feeding a string": (
            cgraph.InvalidValueError,
            ("x",),
            lambda cg: cg.forward("f", feed={"x": "two"}),
        ),
        "shapes that do not broadcast": (
            cgraph.ShapeError,
            ("num", "x", "sigy"),
            lambda cg: cg.forward("f", feed={"x": np.ones(2), "y": np.ones(3)}),
        ),
        "non-finite input with check_finite": (
            cgraph.NonFiniteError,
            ("x",),
            lambda cg: cg.forward("f", feed={"x": np.nan}, check_finite=True),
        ),
        "seed of the wrong shape": (
            cgraph.ShapeError,
            ("f",),
            lambda cg: cg.backward("f", seed=np.ones(3)),
        ),
    }


@pytest.fixture
def evaluated(classic):
    classic.forward("f")
    classic.backward("f")
    return classic


def _expect(cg: ComputationalGraph, error: type, names: tuple[str, ...], call) -> None:
    before = snapshot(cg)
    with pytest.raises(error) as info:
        call(cg)
    name_of_non_string = str(info.value) if "non-empty strings" in str(info.value) else ""
    assert isinstance(info.value, cgraph.GraphError)
    assert isinstance(info.value, ValueError)
    assert info.value.nodes == names
    for name in names:  # quoted, as every message quotes names (a non-string one: as given)
        assert f"'{name}'" in str(info.value) or re.search(rf"\b{name}\b", name_of_non_string)
    assert_same_state(before, snapshot(cg))


@pytest.mark.parametrize(
    ("error", "names", "call"), declaring_cases().values(), ids=declaring_cases().keys()
)
def test_bad_declaration_raises_naming_the_node_and_adds_nothing(evaluated, error, names, call):
    _expect(evaluated, error, names, call)
    assert evaluated.backward("f")["x"] == 0.5348320870757595  # still works


@pytest.mark.parametrize(
    ("error", "names", "call"), evaluating_cases().values(), ids=evaluating_cases().keys()
)
def test_bad_evaluation_raises_naming_the_nodes_and_changes_nothing(evaluated, error, names, call):
    _expect(evaluated, error, names, call)


def test_backward_of_an_unevaluated_root_names_both_roots(evaluated):
    evaluated.add_computation_node("g", Sigmoid, ("f",))
    with pytest.raises(cgraph.NotComputedError, match=re.escape("forward('g')")) as info:
        evaluated.backward("g")
    assert info.value.nodes == ("g", "f")


def test_backward_before_any_forward():
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("y", Sigmoid, ("x",))
    with pytest.raises(cgraph.NotComputedError, match=re.escape("call forward('y')")):
        cg.backward("y")


def test_a_failed_forward_changes_no_value_and_backward_then_asks_for_forward(evaluated):
    before = snapshot(evaluated)
    with pytest.raises(cgraph.ShapeError):
        evaluated.forward("f", feed={"x": np.ones(2), "y": np.ones(3)})
    assert_same_state(before, snapshot(evaluated))
    with pytest.raises(cgraph.NotComputedError, match="last one failed"):
        evaluated.backward("f")
    evaluated.forward("f")
    assert evaluated.backward("f")["y"] == 0.342460382923052


@pytest.mark.parametrize(
    ("op", "error", "match"),
    [
        (TooManyGradients, cgraph.InvalidOperationError, "returned 2 gradients.*1 input"),
        (WrongShapeGradient, cgraph.ShapeError, r"shape \(7,\)"),
    ],
)
def test_an_op_breaking_the_backward_contract_is_named_and_changes_no_gradient(op, error, match):
    cg = ComputationalGraph()
    cg.add_inputs(x=np.ones(3))
    cg.add_computation_node("good", Sigmoid, ("x",))
    cg.forward("good")
    cg.backward("good")
    cg.add_computation_node("bad", op, ("good",))
    cg.forward("bad")
    before = snapshot(cg)
    with pytest.raises(error, match=match) as info:
        cg.backward("bad")
    assert set(info.value.nodes) & {"bad", "good"}
    assert_same_state(before, snapshot(cg))


def test_an_op_that_raises_in_forward_is_named_with_the_cause_chained():
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0)
    cg.add_computation_node("e", Explodes, ("x",))
    with pytest.raises(cgraph.OperationError, match=r"'e' \(Explodes\).*boom.*'x' = 2") as info:
        cg.forward("e")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.nodes == ("e", "x")


def test_check_finite_names_the_first_node_with_finite_inputs_and_a_bad_output():
    cg = ComputationalGraph()
    cg.add_inputs(x=-1.0)
    cg.add_computation_node("l", "log", ("x",))
    cg.add_computation_node("e", "exp", ("l",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning repeats the error
        with pytest.raises(cgraph.NonFiniteError, match=r"'l' \(Log\).*nan.*'x' = -1") as info:
            cg.forward("e", check_finite=True)
    assert info.value.nodes == ("l", "x")
    assert cg.get_value("x") == -1.0
    with pytest.raises(cgraph.NotComputedError):
        cg.get_value("l")


def test_check_finite_in_backward_names_the_op_and_the_input():
    cg = ComputationalGraph()
    cg.add_inputs(x=0.0)
    cg.add_computation_node("r", "sqrt", ("x",))
    cg.add_computation_node("f", "mul", ("r", "r"))
    cg.forward("f", check_finite=True)
    with pytest.raises(cgraph.NonFiniteError, match=r"'r' \(Sqrt\).*'x'") as info:
        cg.backward("f", check_finite=True)
    assert info.value.nodes == ("r", "x")
    with pytest.raises(cgraph.NotComputedError):
        cg.get_gradient("x")
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.isnan(cg.backward("f")["x"])  # without the check: numpy's answer


def test_every_error_class_is_a_graph_error_and_a_value_error():
    errors = [getattr(cgraph, name) for name in cgraph.__all__ if name.endswith("Error")]
    assert len(errors) >= 12
    for error in errors:
        assert issubclass(error, cgraph.GraphError)
        assert issubclass(error, ValueError)

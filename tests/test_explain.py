"""explain(): the chain rule path by path, which must add up to what backward gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import build_classic_graph
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, Operation
from cgraph.engine.summary import describe_value
from cgraph.viz.explain import Explanation


def differentiated(cg: ComputationalGraph, root: str) -> ComputationalGraph:
    cg.forward(root)
    cg.backward(root)
    return cg


def assert_agrees_with_backward(cg: ComputationalGraph, wrt: str) -> Explanation:
    result = cg.explain(wrt)
    assert math.isclose(result.total, cg.get_gradient(wrt), rel_tol=0, abs_tol=1e-12)
    assert result.gradient == cg.get_gradient(wrt)
    assert result.total == sum(path.product for path in result.paths)
    for path in result.paths:
        assert math.isclose(path.product, math.prod(path.factors), rel_tol=1e-15)
    return result


def diamond() -> ComputationalGraph:
    """f = sin(x) cos(x): two paths from f to x."""
    cg = ComputationalGraph()
    cg.add_inputs(x=0.7)
    cg.add_computation_node("a", "sin", ("x",))
    cg.add_computation_node("b", "cos", ("x",))
    cg.add_computation_node("f", "mul", ("a", "b"))
    return differentiated(cg, "f")


def chain_of_diamonds(count: int) -> ComputationalGraph:
    """Each diamond doubles the paths: 2^count paths from the end down to x."""
    cg = ComputationalGraph()
    cg.add_inputs(x=0.3)
    last = "x"
    for i in range(count):
        cg.add_computation_node(f"s{i}", "sin", (last,))
        cg.add_computation_node(f"t{i}", "tanh", (last,))
        cg.add_computation_node(f"d{i}", "add", (f"s{i}", f"t{i}"))
        last = f"d{i}"
    return cg


def random_dag(seed: int, size: int = 40) -> ComputationalGraph:
    """A deeper DAG: each node applies a random op to random earlier nodes."""
    rng = np.random.default_rng(seed)
    cg = ComputationalGraph()
    cg.add_inputs(x=0.4, y=-0.3, z=0.9)
    names = ["x", "y", "z"]
    unary, binary = ["sin", "tanh", "sigmoid", "square"], ["add", "mul", "sub", "maximum"]
    for i in range(size):
        if rng.random() < 0.4:
            cg.add_computation_node(f"n{i}", str(rng.choice(unary)), (str(rng.choice(names)),))
        else:
            pair = (str(rng.choice(names)), str(rng.choice(names)))
            cg.add_computation_node(f"n{i}", str(rng.choice(binary)), pair)
        names.append(f"n{i}")
    cg.add_computation_node("out", "add", (names[-1], names[-2]))
    return cg


# ------------------------------------------------------------------------------------------
# The sum over paths is backward's gradient
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrt", "paths"),
    [
        ("x", [("f", "num", "x"), ("f", "denom", "sigx", "x"), ("f", "denom", "sq", "xpy", "x")]),
        ("y", [("f", "num", "sigy", "y"), ("f", "denom", "sq", "xpy", "y")]),
        ("xpy", [("f", "denom", "sq", "xpy")]),
        ("f", [("f",)]),
    ],
)
def test_classic_graph_paths_add_up_to_backward(wrt, paths):
    cg = differentiated(build_classic_graph(), "f")
    result = assert_agrees_with_backward(cg, wrt)
    assert [path.nodes or ("f",) for path in result.paths] == paths


def test_classic_graph_factors_are_the_local_derivatives():
    cg = differentiated(build_classic_graph(), "f")
    num, denom = cg.get_value("num"), cg.get_value("denom")
    sigx = cg.get_value("sigx")
    path = cg.explain("x").paths[1]  # f -> denom -> sigx -> x
    expected = [-num / denom**2, 1.0, sigx * (1 - sigx)]
    assert path.factors == pytest.approx(expected, rel=1e-14)
    assert [(step.child, step.parent, step.op) for step in path.steps] == [
        ("f", "denom", "div"),
        ("denom", "sigx", "add"),
        ("sigx", "x", "sigmoid"),
    ]


def test_diamond_has_one_path_per_branch():
    cg = diamond()
    result = assert_agrees_with_backward(cg, "x")
    x = 0.7
    assert [path.nodes for path in result.paths] == [("f", "a", "x"), ("f", "b", "x")]
    assert result.paths[0].factors == pytest.approx((math.cos(x), math.cos(x)))
    assert result.paths[1].factors == pytest.approx((math.sin(x), -math.sin(x)))


def test_input_used_twice_by_one_op_gives_two_paths():
    cg = ComputationalGraph()
    cg.add_inputs(x=3.0)
    cg.add_computation_node("y", "mul", ("x", "x"))
    differentiated(cg, "y")
    result = assert_agrees_with_backward(cg, "x")
    assert [step.argument for path in result.paths for step in path.steps] == [0, 1]
    assert [path.product for path in result.paths] == [3.0, 3.0]
    assert result.total == 6.0
    assert "argument 1" in str(result)
    assert "argument 2" in str(result)


def test_chain_of_diamonds_has_exponentially_many_paths():
    cg = differentiated(chain_of_diamonds(6), "d5")
    result = assert_agrees_with_backward(cg, "x")
    assert len(result.paths) == 2**6
    assert len({path.nodes for path in result.paths}) == 2**6


@pytest.mark.parametrize("seed", range(8))
def test_random_dag_paths_add_up_to_backward(seed):
    cg = differentiated(random_dag(seed), "out")
    for wrt in ("x", "y", "z", "n10", "n30"):
        try:
            gradient = cg.get_gradient(wrt)
        except cgraph.NoGradientError:  # this random graph does not use it
            with pytest.raises(cgraph.NoGradientError):
                cg.explain(wrt)
            continue
        result = assert_agrees_with_backward(cg, wrt)
        assert result.gradient == gradient


def test_explains_the_point_of_a_fed_forward():
    cg = diamond()
    cg.forward("f", feed={"x": 1.3})
    cg.backward("f")
    result = assert_agrees_with_backward(cg, "x")
    assert result.paths[0].factors == pytest.approx((math.cos(1.3), math.cos(1.3)))


def test_explains_a_root_that_is_an_ancestor_of_the_last_forward():
    cg = build_classic_graph()
    cg.forward("f")
    cg.backward("denom")
    result = assert_agrees_with_backward(cg, "x")
    assert result.root == "denom"
    assert [path.nodes for path in result.paths] == [
        ("denom", "sigx", "x"),
        ("denom", "sq", "xpy", "x"),
    ]


def test_an_op_without_a_gradient_for_an_input_gives_factor_zero():
    class Scale(Operation):
        """y = a * b with no gradient for b (a test op)."""

        def forward(self, a, b):
            self.b = b
            return a * b

        def backward(self, upstream):
            return upstream * self.b, None

    cg = ComputationalGraph()
    cg.add_inputs(a=2.0, b=5.0)
    cg.add_computation_node("y", Scale(), ("a", "b"))
    differentiated(cg, "y")
    assert cg.explain("a").total == 5.0
    assert cg.explain("b").total == 0.0 == cg.get_gradient("b")


# ------------------------------------------------------------------------------------------
# The graph is left exactly as it was
# ------------------------------------------------------------------------------------------


def test_explain_changes_nothing_not_even_the_ops_saved_state():
    cg = differentiated(build_classic_graph(), "f")
    cg.forward("f", feed={"x": 1.0})  # the ops now hold state for x = 1 ...
    grads = cg.backward("f")
    before = snapshot(cg)
    states = {name: dict(node.op.__dict__) for name, node in cg.operations.items()}
    cg.explain("x")
    cg.explain("y")
    assert_same_state(before, snapshot(cg))
    after = {name: dict(node.op.__dict__) for name, node in cg.operations.items()}
    assert after.keys() == states.keys()
    for name, state in states.items():
        assert after[name].keys() == state.keys()
        assert all(after[name][key] is value for key, value in state.items()), name
    assert cg.backward("f") == grads  # ... and backward still sees x = 1


# ------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------


def refused(cg: ComputationalGraph, error: type[Exception], *args, **kwargs):
    before = snapshot(cg)
    with pytest.raises(error) as caught:
        cg.explain(*args, **kwargs)
    assert_same_state(before, snapshot(cg))
    assert isinstance(caught.value, cgraph.GraphError)
    return caught.value


def test_before_backward_is_not_computed():
    cg = build_classic_graph()
    cg.forward("f")
    err = refused(cg, cgraph.NotComputedError, "x")
    assert "backward" in str(err)


def test_after_a_new_forward_the_gradients_are_gone():
    cg = differentiated(build_classic_graph(), "f")
    cg.forward("f")
    refused(cg, cgraph.NotComputedError, "x")


def test_a_root_other_than_the_last_backward_is_not_computed():
    cg = differentiated(build_classic_graph(), "f")
    err = refused(cg, cgraph.NotComputedError, "x", root="num")
    assert err.nodes == ("num", "f")
    assert "backward('num')" in str(err)


def test_unknown_names_are_named():
    cg = differentiated(build_classic_graph(), "f")
    err = refused(cg, cgraph.UnknownNodeError, "sigz")
    assert err.nodes == ("sigz",)
    assert "did you mean" in str(err)
    refused(cg, cgraph.UnknownNodeError, "x", root="nope")


def test_a_node_the_root_does_not_depend_on_has_no_gradient():
    cg = build_classic_graph()
    cg.add_inputs(z=1.0)
    cg.add_input("data", 2.0, trainable=False)
    cg.add_computation_node("g", "mul", ("z", "data"))
    differentiated(cg, "f")
    err = refused(cg, cgraph.NoGradientError, "z")
    assert "'f'" in str(err)
    assert "z" in err.nodes
    refused(cg, cgraph.NoGradientError, "data")


def test_arrays_are_refused_with_the_node_named():
    cg = ComputationalGraph()
    cg.add_inputs(w=np.array([1.0, 2.0]), b=0.5)
    cg.add_computation_node("y", "mul", ("w", "b"))
    differentiated(cg, "y")
    err = refused(cg, cgraph.ShapeError, "b")
    assert err.nodes == ("y", "b")
    assert "scalar" in str(err)
    assert "(2,)" in str(err)


def test_too_many_paths_are_refused_with_the_count():
    cg = differentiated(chain_of_diamonds(11), "d10")
    err = refused(cg, cgraph.GraphError, "x")
    assert "2048 paths" in str(err)
    assert "max_paths=1000" in str(err)
    assert len(cg.explain("x", max_paths=2048).paths) == 2048


def test_a_long_chain_is_explained_without_recursion():
    cg = ComputationalGraph()
    cg.add_inputs(x=0.5)
    last = "x"
    for i in range(5000):
        cg.add_computation_node(f"n{i}", "sin", (last,))
        last = f"n{i}"
    differentiated(cg, last)
    result = assert_agrees_with_backward(cg, "x")
    assert len(result.paths[0].steps) == 5000


# ------------------------------------------------------------------------------------------
# How it reads
# ------------------------------------------------------------------------------------------


def test_text_lists_every_path_step_and_the_sum():
    cg = differentiated(build_classic_graph(), "f")
    text = str(cg.explain("x"))
    lines = text.splitlines()
    assert lines[0] == "df/dx by the chain rule: the sum over the 3 paths from 'f' down to 'x'"
    assert [line for line in lines if line.startswith("path ")] == [
        "path 1: f -> num -> x",
        "path 2: f -> denom -> sigx -> x",
        "path 3: f -> denom -> sq -> xpy -> x",
    ]
    assert sum(line.lstrip().startswith("d ") for line in lines) == 2 + 3 + 4
    assert lines[-2] == "sum over the 3 paths = 0.204885 - 0.00889405 + 0.338842 = 0.534832"
    assert lines[-1] == "backward gave df/dx  = 0.534832"


def test_text_shortens_many_paths_but_keeps_the_total():
    cg = differentiated(chain_of_diamonds(5), "d4")
    result = cg.explain("x")
    text = str(result)
    assert "... 12 more paths, in .paths ..." in text
    assert text.count("\npath ") == 20
    assert text.splitlines()[-2].endswith(f"= {describe_value(result.total)}")


def test_repr_is_one_line_and_ipython_shows_the_whole_text():
    cg = diamond()
    result = cg.explain("x")
    assert repr(result).startswith("<Explanation of df/dx: 2 paths")
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert pretty.pretty(result) == str(result)

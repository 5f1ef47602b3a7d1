"""Copying a graph in memory: ``copy.deepcopy`` and ``copy.copy`` give an independent graph.

A copy shows the values and gradients of the original, can differentiate the
pass the original last ran, and from then on lives its own life: its inputs,
declarations, passes and compiled plans never reach the original, nor the
original's its. Pickling is refused with an error that says what to use.
"""

from __future__ import annotations

import copy
import pickle
import threading
import warnings

import numpy as np
import pytest
from graph_state import assert_same_state, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import random_graphs
from test_loops import rnn_loop
from test_plans import OP_CASES, SCIPY_OPS, _bits

from cgraph import ComputationalGraph, GraphError
from cgraph.errors import NotComputedError, OperationError
from cgraph.subgraphs import add_subgraph


def _fxy() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0, y=-4.0)
    cg.add_expression("f", "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)")
    return cg


def _run(cg: ComputationalGraph, root: str, passes: int = 4) -> dict:
    """The values and gradients after ``passes`` passes: past the pass that writes a plan."""
    for _ in range(passes):
        cg.forward(root)
        grads = cg.backward(root)
    return grads


@pytest.mark.parametrize("copier", [copy.deepcopy, copy.copy], ids=["deepcopy", "copy"])
def test_a_copy_shows_the_originals_values_and_gradients_and_shares_nothing(copier):
    cg = _fxy()
    grads = _run(cg, "f")
    twin = copier(cg)
    assert_same_state(snapshot(cg), snapshot(twin))
    assert twin.last_pass.values == cg.last_pass.values
    assert twin.last_pass.schedule is not cg.last_pass.schedule
    for name, node in cg.nodes.items():
        assert twin.nodes[name] is not node
        assert twin.graph.nodes[name] is not None
    assert twin.graph is not cg.graph
    assert twin.lock is not cg.lock
    # The copy differentiates the pass it was copied with: the same gradients.
    assert twin.backward("f") == grads


def test_changing_a_copy_leaves_the_original_as_it_was():
    cg = _fxy()
    _run(cg, "f")
    before = snapshot(cg)
    twin = copy.deepcopy(cg)
    twin.inputs["x"].output = 0.5
    _run(twin, "f")
    twin.add_computation_node("g", "exp", ("f",))
    twin.forward("g")
    assert_same_state(before, snapshot(cg))
    assert "g" not in cg
    assert "g" not in cg.graph
    assert cg.inputs["x"].output == 2.0


def test_a_copy_writes_its_own_plan_and_the_originals_plan_keeps_reading_the_original():
    cg = _fxy()
    _run(cg, "f")
    plan = cg.schedule("f").plan
    assert plan is not None
    twin = copy.deepcopy(cg)
    assert twin.schedule("f").plan is None  # a plan holds its graph's nodes: not copied
    twin.inputs["x"].output = 0.5
    _run(twin, "f")
    assert twin.schedule("f").plan is not None
    assert twin.schedule("f").plan is not plan
    # The original's plan still reads the original's x (2.0), not the copy's.
    expected = _fxy()
    expected.use_plans = False
    assert cg.forward("f") == expected.forward("f")
    assert cg.schedule("f").plan is plan
    # And the copy's passes are the interpreter's, bit for bit.
    reference = _fxy()
    reference.use_plans = False
    reference.inputs["x"].output = 0.5
    assert _bits(twin.forward("f")) == _bits(reference.forward("f"))
    assert twin.backward("f") == reference.backward("f")


def test_a_copy_taken_before_any_pass_runs_as_a_new_graph():
    cg = _fxy()
    twin = copy.deepcopy(cg)
    assert twin.last_pass is None
    assert _run(twin, "f") == _run(_fxy(), "f")
    assert cg.last_pass is None


@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=1, deadline=None)
@given(data=st.data())
def test_every_op_is_copied_with_its_graph(case, data):
    if case.op_class.name in SCIPY_OPS:
        pytest.importorskip("scipy", reason=f"{case.op_class.name} needs scipy.special")
    cg = case.graph(case.draw(data)[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(cg, "y")
        twin = copy.deepcopy(cg)
        assert twin.operations["y"].op is not cg.operations["y"].op
        assert_same_state(snapshot(cg), snapshot(twin))
        _run(twin, "y")
        assert_same_state(snapshot(cg), snapshot(twin))


@settings(max_examples=40, deadline=None)
@given(graph=random_graphs(max_nodes=25))
def test_random_graphs_copy_with_every_value_and_gradient(graph):
    cg = graph.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(cg, graph.root)
        twin = copy.deepcopy(cg)
        assert_same_state(snapshot(cg), snapshot(twin))
        _run(twin, graph.root)
        _run(cg, graph.root)
    assert_same_state(snapshot(cg), snapshot(twin))


def test_loops_are_copied_with_the_copy_as_their_owner():
    cg = rnn_loop()
    grads = _run(cg, "loss")
    twin = copy.deepcopy(cg)
    body = twin.operations["hT"].op.loop_body
    assert body is not cg.operations["hT"].op.loop_body
    assert body.owner() is twin
    twin.use_plans = False  # the copy's loop follows the copy's switch, not the original's
    assert not body.uses_plans()
    assert cg.operations["hT"].op.loop_body.uses_plans()
    copied_grads = _run(twin, "loss")
    assert copied_grads.keys() == grads.keys()
    for name, grad in grads.items():
        np.testing.assert_array_equal(copied_grads[name], grad)


def test_subgraph_uses_are_copied():
    inner = ComputationalGraph()
    inner.add_inputs(a=1.0, b=2.0)
    inner.add_expression("out", "a * a + b")
    cg = ComputationalGraph()
    cg.add_inputs(x=3.0, y=4.0)
    add_subgraph(cg, "first", inner, inputs={"a": "x", "b": "y"})
    add_subgraph(cg, "second", inner, inputs={"a": "first/out", "b": "x"})
    grads = _run(cg, "second/out")
    twin = copy.deepcopy(cg)
    assert twin.subgraphs == cg.subgraphs
    assert twin.backward("second/out") == grads
    twin.inputs["x"].output = 1.0
    assert twin.forward("second/out") == (1.0 + 4.0) ** 2 + 1.0
    assert cg.get_value("second/out") == (9.0 + 4.0) ** 2 + 3.0


def test_pickling_a_graph_is_refused_with_what_to_do_instead():
    cg = _fxy()
    with pytest.raises(GraphError, match=r"cannot be pickled.*cg\.save\(path\).*deepcopy"):
        pickle.dumps(cg)


def test_second_derivatives_of_a_copy_are_its_own():
    cg = _fxy()
    hessian = cg.hessian("f", ["x", "y"])  # builds and caches the gradient graph of the original
    twin = copy.deepcopy(cg)
    np.testing.assert_array_equal(twin.hessian("f", ["x", "y"]), hessian)
    twin.inputs["x"].output = 0.5
    moved = _fxy()
    moved.inputs["x"].output = 0.5
    np.testing.assert_array_equal(twin.hessian("f", ["x", "y"]), moved.hessian("f", ["x", "y"]))
    np.testing.assert_array_equal(cg.hessian("f", ["x", "y"]), hessian)


def test_a_copy_refuses_backward_where_the_copying_threads_last_pass_failed():
    # This thread's pass failed after another thread's succeeded: its backward is refused,
    # never answered with the other thread's pass, in the original and in the copy alike.
    cg = _fxy()
    cg.forward("f")
    cg.fail_pass(OperationError("a pass of this thread failed"))
    worker = threading.Thread(target=cg.forward, args=("f",))
    worker.start()
    worker.join()
    assert cg.last_pass is not None  # the other thread's pass
    twin = copy.deepcopy(cg)
    for graph in (cg, twin):
        with pytest.raises(NotComputedError):
            graph.backward("f")

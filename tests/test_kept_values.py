"""How a graph keeps its passes: whole lists of values and gradients, read node by node.

``forward`` keeps its pass's list of values and ``backward`` its list of
gradients; a node finds its own there (``cgraph.engine.nodes.Shown``). These
tests pin down that reading a value or gradient by name gives exactly what
storing it on every node gave, whatever the order of passes, roots and failures.
The DiGraph that holds the structure is written directly
(``cgraph.engine.digraph``): it must be the graph networkx's own ``add_edge``
builds.
"""

from __future__ import annotations

import threading

import networkx as nx
import numpy as np
import pytest

from cgraph import ComputationalGraph
from cgraph.engine.digraph import add_children
from cgraph.errors import NoGradientError, NotComputedError, ShapeError


def _two_roots() -> ComputationalGraph:
    """Roots 'f' and 'g' sharing the input x; 'f' also reads y."""
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0, y=3.0)
    cg.add_computation_node("xy", "mul", ("x", "y"))
    cg.add_computation_node("f", "sin", ("xy",))
    cg.add_computation_node("x2", "square", ("x",))
    cg.add_computation_node("g", "exp", ("x2",))
    return cg


@pytest.mark.parametrize("use_plans", [True, False])
def test_every_node_shows_the_value_of_the_last_pass_that_computed_it(use_plans):
    cg = _two_roots()
    cg.use_plans = use_plans
    for _ in range(4):  # past the pass on which plans are written
        cg.forward("f")
    cg.forward("g")
    assert cg.nodes["xy"].output == 6.0
    assert cg.nodes["f"].output == np.sin(6.0)
    assert cg.nodes["x2"].output == 4.0
    assert cg.nodes["g"].output == np.exp(4.0)
    cg.inputs["y"].output = 0.5
    cg.forward("f")  # f's nodes move on; g's keep theirs
    assert cg.nodes["xy"].output == 1.0
    assert cg.get_value("f") == np.sin(1.0)
    assert cg.nodes["g"].output == np.exp(4.0)
    cg.inputs["x"].output = 1.0
    cg.forward("g")
    assert cg.get_value("g") == np.exp(1.0)
    assert cg.nodes["xy"].output == 1.0  # from f's pass, now stale
    with pytest.raises(NotComputedError, match="stale"):
        cg.get_value("xy")


@pytest.mark.parametrize("use_plans", [True, False])
def test_a_failed_pass_leaves_every_value_and_gradient_as_it_was(use_plans):
    cg = ComputationalGraph()
    cg.use_plans = use_plans
    cg.add_inputs(x=np.array([1.0, 4.0]))
    cg.add_computation_node("r", "sqrt", ("x",))
    cg.add_computation_node("c", "cholesky", ("r",))  # fails on a vector
    cg.add_computation_node("s", "sum", ("r",))
    for _ in range(4):
        cg.forward("s")
    grads = cg.backward("s")
    with pytest.raises(ShapeError):
        cg.forward("c")
    np.testing.assert_array_equal(cg.nodes["r"].output, [1.0, 2.0])
    assert cg.nodes["s"].output == 3.0
    assert cg.nodes["c"].output is None
    np.testing.assert_array_equal(cg.nodes["x"].local_grad, grads["x"])


def test_gradients_belong_to_the_last_backward_and_go_with_the_next_forward():
    cg = _two_roots()
    cg.forward("f")
    cg.backward("f")
    assert cg.nodes["xy"].local_grad == np.cos(6.0)
    assert cg.nodes["x"].local_grad == cg.get_gradient("x") == np.cos(6.0) * 3.0
    assert cg.nodes["g"].local_grad is None  # not an ancestor of f
    cg.forward("g")
    assert all(node.local_grad is None for node in cg.nodes.values())
    with pytest.raises(NotComputedError):
        cg.get_gradient("x")
    cg.backward("g")
    assert cg.nodes["x2"].local_grad == np.exp(4.0)
    assert cg.nodes["xy"].local_grad is None
    with pytest.raises(NoGradientError):
        cg.get_gradient("xy")


def test_a_value_set_by_hand_shows_until_a_pass_computes_the_node_again():
    cg = _two_roots()
    for _ in range(4):
        cg.forward("f")
    cg.nodes["xy"].output = 10.0
    assert cg.nodes["xy"].output == 10.0
    assert cg.nodes["f"].output == np.sin(6.0)  # the rest of the pass is still shown
    cg.forward("f")
    assert cg.nodes["xy"].output == 6.0


def test_a_pass_of_another_thread_never_mixes_with_the_values_shown():
    cg = _two_roots()
    errors = []

    def work(x: float) -> None:
        try:
            for _ in range(300):
                cg.forward("f", feed={"x": x})
                with cg.lock:  # no pass between the two reads
                    xy, f = cg.nodes["xy"].output, cg.nodes["f"].output
                if f != np.sin(xy):  # one pass's values, whichever thread's
                    errors.append((xy, f))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(x,)) for x in (1.0, 2.0, 3.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_value_and_grad_without_a_feed_keeps_nothing_and_follows_the_inputs():
    cg = _two_roots()
    f = cg.compile("f")
    value, grads = f.value_and_grad()
    assert value == np.sin(6.0)
    assert grads == {"x": np.cos(6.0) * 3.0, "y": np.cos(6.0) * 2.0}
    assert cg.nodes["f"].output is None
    assert cg.last_pass is None
    cg.inputs["x"].output = 0.5
    assert f.value_and_grad()[0] == np.sin(1.5)
    cg.inputs["x"].output = np.array([0.5, 1.0])  # another type: another plan, same answer
    value, grads = f.value_and_grad()
    np.testing.assert_array_equal(value, np.sin([1.5, 3.0]))
    assert grads["y"] == pytest.approx(np.cos(1.5) * 0.5 + np.cos(3.0))
    cg.add_computation_node("later", "neg", ("f",))  # a graph only grows: f is unchanged
    cg.inputs["x"].output = 2.0
    assert f.value_and_grad() == (np.sin(6.0), {"x": np.cos(6.0) * 3.0, "y": np.cos(6.0) * 2.0})


def _declarations(seed: int) -> tuple[list[str], list[tuple[str, tuple[str, ...]]]]:
    rng = np.random.default_rng(seed)
    leaves = [f"in{i}" for i in range(5)]
    names = list(leaves)
    children = []
    for i in range(200):
        parents = tuple(names[j] for j in rng.integers(0, len(names), rng.integers(0, 4)))
        name = f"n{i}"
        children.append((name, parents))
        names.append(name)
    return leaves, children


@pytest.mark.parametrize("seed", range(5))
def test_add_children_builds_the_graph_networkx_add_edge_builds(seed):
    leaves, children = _declarations(seed)
    expected, built = nx.DiGraph(), nx.DiGraph()
    for graph in (expected, built):
        graph.add_nodes_from(leaves)
    for name, parents in children:
        expected.add_node(name)
        for parent in parents:
            expected.add_edge(parent, name)
    built.__networkx_cache__ = {"converted": "stale"}  # as a backend leaves it
    add_children(built, children)
    assert nx.utils.graphs_equal(built, expected)
    assert list(built.nodes) == list(expected.nodes)  # the same order everywhere
    for node in expected:
        assert list(built.succ[node]) == list(expected.succ[node])
        assert list(built.pred[node]) == list(expected.pred[node])
    for parent, child in built.edges:  # one data dict per edge, seen from both ends
        assert built.succ[parent][child] is built.pred[child][parent]
    assert built.__networkx_cache__ == {}
    assert list(nx.topological_sort(built)) == list(nx.topological_sort(expected))
    built.add_edge("in0", "n0", weight=2)  # networkx's own methods go on working
    assert built.edges["in0", "n0"] == {"weight": 2}

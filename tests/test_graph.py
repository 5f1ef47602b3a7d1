"""ComputationalGraph: declaring, forward, backward, feeds, roots, reading by name."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import cgraph
from cgraph import ComputationalGraph
from cgraph.ops import Add, Multiply, Sigmoid, Square

# ---- API.md's classic script -------------------------------------------------------------


def test_classic_script_gives_the_contract_numbers_exactly(classic):
    assert classic.forward("f") == pytest.approx(0.41345423252018193, rel=1e-15)
    classic.backward("f")
    assert classic.get_gradient("x") == 0.5348320870757595
    assert classic.get_gradient("y") == 0.342460382923052


def test_updating_an_input_in_place_is_seen_by_the_next_forward(classic):
    before = classic.forward("f")
    classic.backward("f")
    classic.inputs["x"].output -= 0.1 * classic.get_gradient("x")
    assert classic.inputs["x"].output == pytest.approx(2.0 - 0.05348320870757595)
    assert classic.forward("f") < before


def test_graph_is_a_networkx_digraph_with_one_edge_per_dependency(classic):
    assert isinstance(classic.graph, nx.DiGraph)
    assert list(classic.graph.nodes) == list(classic)
    assert set(classic.graph.predecessors("f")) == {"num", "denom"}
    assert set(classic.graph.successors("x")) == {"num", "sigx", "xpy"}
    assert nx.is_directed_acyclic_graph(classic.graph)


def test_node_dicts_and_container_protocol(classic):
    assert list(classic.inputs) == ["x", "y"]
    assert list(classic.operations) == ["sigy", "num", "sigx", "xpy", "sq", "denom", "f"]
    assert len(classic) == 9
    assert list(classic) == list(classic.nodes)
    assert "sq" in classic
    assert "nope" not in classic
    assert isinstance(classic.nodes["sq"], cgraph.OperationNode)
    assert classic.operations["f"].input_names == ("num", "denom")


# ---- forward -----------------------------------------------------------------------------


def test_forward_evaluates_only_the_roots_ancestors(classic):
    classic.forward("num")
    assert classic.get_value("num") == pytest.approx(2.0 + 1 / (1 + np.exp(4.0)))
    assert classic.operations["sq"].output is None
    with pytest.raises(cgraph.NotComputedError, match="'sq'"):
        classic.get_value("sq")


def test_forward_caches_every_output_on_its_node(classic):
    classic.forward("f")
    assert classic.get_value("xpy") == -2.0
    assert classic.get_value("sq") == 4.0
    assert classic.operations["sq"].output == 4.0


def test_default_root_is_the_single_sink(classic):
    assert classic.forward() == classic.forward("f")
    classic.add_computation_node("g", Square, ("x",))
    with pytest.raises(cgraph.GraphError, match=r"2 sinks.*'f'.*'g'") as info:
        classic.forward()
    assert set(info.value.nodes) == {"f", "g"}


def test_empty_graph_has_no_root():
    with pytest.raises(cgraph.GraphError, match="empty"):
        ComputationalGraph().forward()


def test_feed_overrides_inputs_for_one_call_only(classic):
    value = classic.forward("f", feed={"x": 1.0, "y": 1.0})
    expected = (1 + 1 / (1 + np.exp(-1))) / (1 / (1 + np.exp(-1)) + 4)
    assert value == pytest.approx(expected)
    assert classic.inputs["x"].output == 2.0
    grads = classic.backward("f")  # at the fed point
    numerical = cgraph.numerical_gradient(classic, "f", feed={"x": 1.0, "y": 1.0})
    assert grads["x"] == pytest.approx(numerical["x"], rel=1e-7)
    assert classic.forward("f") == pytest.approx(0.41345423252018193)


def test_integer_values_become_floats_and_lists_become_arrays():
    cg = ComputationalGraph()
    cg.add_inputs(n=3, v=[1, 2])
    assert cg.inputs["n"].output == 3.0
    assert type(cg.inputs["n"].output) is float
    assert cg.inputs["v"].output.dtype == np.float64
    cg.add_input("labels", np.array([0, 1]), trainable=False)
    assert cg.inputs["labels"].output.dtype.kind == "i"


# ---- backward ----------------------------------------------------------------------------


def test_backward_returns_trainable_inputs_and_every_intermediate_has_a_gradient(classic):
    classic.forward("f")
    grads = classic.backward("f")
    assert list(grads) == ["x", "y"]
    assert classic.get_gradient("f") == 1.0
    # d f / d denom = -num / denom^2
    num, denom = classic.get_value("num"), classic.get_value("denom")
    assert classic.get_gradient("denom") == pytest.approx(-num / denom**2)
    assert classic.nodes["sigx"].local_grad == classic.get_gradient("sigx")


def test_backward_twice_gives_the_same_gradients_not_their_sum(classic):
    classic.forward("f")
    first = classic.backward("f")
    second = classic.backward("f")
    assert first == second


def test_a_node_used_twice_by_one_op_gets_both_contributions():
    cg = ComputationalGraph()
    cg.add_inputs(x=3.0)
    cg.add_computation_node("xx", Multiply, ("x", "x"))
    cg.forward("xx")
    assert cg.backward("xx") == {"x": 6.0}
    assert cg.graph.number_of_edges() == 1


def test_a_node_reached_by_two_paths_sums_them():
    cg = ComputationalGraph()
    cg.add_inputs(x=0.5)
    cg.add_computation_node("s", Sigmoid, ("x",))
    cg.add_computation_node("q", Square, ("x",))
    cg.add_computation_node("f", Add, ("s", "q"))
    cg.forward("f")
    s = 1 / (1 + np.exp(-0.5))
    assert cg.backward("f")["x"] == pytest.approx(s * (1 - s) + 2 * 0.5)


def test_seed_scales_the_gradients_and_must_match_the_roots_shape():
    cg = ComputationalGraph()
    cg.add_inputs(w=np.array([1.0, 2.0, 3.0]))
    cg.add_computation_node("sq", Square, ("w",))
    cg.forward("sq")
    assert cg.backward("sq", seed=[1.0, 0.0, 2.0])["w"].tolist() == [2.0, 0.0, 12.0]
    with pytest.raises(cgraph.ShapeError, match="seed for 'sq'"):
        cg.backward("sq", seed=[1.0, 2.0])


def test_array_root_is_seeded_with_ones():
    cg = ComputationalGraph()
    cg.add_inputs(w=np.array([[1.0, 2.0], [3.0, 4.0]]))
    cg.add_computation_node("sq", Square, ("w",))
    cg.forward("sq")
    np.testing.assert_array_equal(cg.backward("sq")["w"], 2 * cg.inputs["w"].output)


def test_broadcast_gradients_are_summed_back_to_each_inputs_shape():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones((4, 3)), row=np.arange(3.0), col=np.ones((4, 1)), s=2.0)
    cg.add_computation_node("ar", Multiply, ("a", "row"))
    cg.add_computation_node("arc", Add, ("ar", "col"))
    cg.add_computation_node("f", Multiply, ("arc", "s"))
    cg.forward("f")
    grads = cg.backward("f")
    assert grads["row"].shape == (3,)
    assert grads["col"].shape == (4, 1)
    np.testing.assert_allclose(grads["row"], [8.0, 8.0, 8.0])
    np.testing.assert_allclose(grads["col"], [[6.0]] * 4)
    assert type(grads["s"]) is float
    assert grads["s"] == pytest.approx(float(np.sum(np.arange(3.0) * 4 + 4)))


def test_constants_and_fixed_inputs_get_no_gradient():
    cg = ComputationalGraph()
    cg.add_inputs(w=2.0)
    cg.add_constant("c", 3.0)
    cg.add_input("data", 5.0, trainable=False)
    cg.add_computation_node("cd", Multiply, ("c", "data"))
    cg.add_computation_node("f", Multiply, ("w", "cd"))
    cg.forward("f")
    assert cg.backward("f") == {"w": 15.0}
    for name, why in [("c", "constant"), ("data", "not trainable"), ("cd", "no trainable")]:
        with pytest.raises(cgraph.NoGradientError, match=why):
            cg.get_gradient(name)


def test_backward_of_a_node_evaluated_by_the_last_forward(classic):
    classic.forward("f")
    grads = classic.backward("sq")
    assert grads == {"x": -4.0, "y": -4.0}
    with pytest.raises(cgraph.NoGradientError, match=r"'f'.*does not depend"):
        classic.get_gradient("f")


def test_gradient_of_a_node_outside_the_last_root_is_an_error_never_stale(classic):
    classic.forward("f")
    classic.backward("f")
    classic.forward("sigy")
    classic.backward("sigy")
    assert classic.get_gradient("y") == pytest.approx(0.017662706213291107)
    with pytest.raises(cgraph.NoGradientError, match=r"'x'.*'sigy', does not depend") as info:
        classic.get_gradient("x")
    assert info.value.nodes == ("x", "sigy")
    assert classic.nodes["x"].local_grad is None


def test_schedule_is_cached_per_root_and_dropped_when_the_graph_changes(classic):
    classic.forward("f")
    schedule = classic._schedules["f"]
    classic.forward("f")
    assert classic._schedules["f"] is schedule
    classic.add_computation_node("g", Square, ("f",))
    assert "f" not in classic._schedules
    assert classic.forward("g") == pytest.approx(0.41345423252018193**2)


# ---- reading -----------------------------------------------------------------------------


def test_summary_lists_every_node_with_values_and_gradients(classic):
    before = classic.summary()
    assert before.splitlines()[0].split() == ["name", "op", "inputs", "shape", "value", "gradient"]
    classic.forward("f")
    classic.backward("f")
    rows = {line.split()[0]: line for line in classic.summary().splitlines()[2:]}
    assert set(rows) == set(classic)
    assert "div" in rows["f"]
    assert "num, denom" in rows["f"]
    assert "0.534832" in rows["x"]
    assert "0.413454" in rows["f"]
    assert "ComputationalGraph: 2 inputs, 0 constants, 7 operations" in repr(classic)


def test_summary_shows_negative_zero_gradients_as_zero():
    cg = ComputationalGraph()
    cg.add_inputs(z=np.array([-1.0, 2.0]))
    cg.add_computation_node("a", "relu", ("z",))
    cg.add_computation_node("f", "mul", ("a", "a"))
    cg.forward("f")
    cg.backward("f", seed=np.array([-1.0, 1.0]))
    assert np.signbit(cg.get_gradient("z")[0])  # relu passes -1 * 0 = -0.0 back
    row = next(line for line in cg.summary().splitlines() if line.startswith("z "))
    assert "[0, 4]" in row
    assert "-0" not in row


def test_repr_of_a_large_graph_is_truncated():
    cg = ComputationalGraph()
    cg.add_inputs(**{f"x{i}": float(i) for i in range(100)})
    lines = repr(cg).splitlines()
    assert len(lines) < 30
    assert "80 more nodes" in repr(cg)


def test_unknown_name_on_reading_suggests_close_names(classic):
    with pytest.raises(cgraph.UnknownNodeError, match=r"'sigz'.*did you mean 'sig"):
        classic.get_value("sigz")

"""``add_computation_nodes``: many declarations at once, each checked, all or nothing."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from cgraph import ComputationalGraph
from cgraph.errors import (
    ArityError,
    DuplicateNodeError,
    GraphError,
    InvalidOperationError,
    InvalidValueError,
    UnknownNodeError,
)

DECLARATIONS = [
    ("a", "mul", ("x", "y")),
    ("b", "sin", "a"),
    ("c", "add", ("b", "x")),
    ("s", "sum", ("c",), {"axis": 0}),
]


def _inputs() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([1.0, 2.0]), y=np.array([0.5, -1.0]))
    return cg


def _state(cg: ComputationalGraph) -> tuple:
    return (
        list(cg.nodes),
        list(cg.operations),
        sorted(cg.graph.nodes),
        sorted(cg.graph.edges),
        [node.index for node in cg.nodes.values()],
    )


def test_bulk_declarations_make_the_graph_single_ones_make():
    single, bulk = _inputs(), _inputs()
    for name, op, inputs, *params in DECLARATIONS:
        single.add_computation_node(name, op, inputs, **(params[0] if params else {}))
    bulk.add_computation_nodes(DECLARATIONS)
    assert _state(bulk) == _state(single)
    assert nx.utils.graphs_equal(bulk.graph, single.graph)
    assert bulk.forward("s") == single.forward("s")
    np.testing.assert_array_equal(bulk.backward("s")["x"], single.backward("s")["x"])


def test_a_generator_of_declarations_is_taken_and_inputless_ops_are_nodes_too():
    cg = _inputs()
    cg.add_computation_nodes(decl for decl in [("z", "stack", ("x", "y"), {"axis": 0})])
    assert cg.forward("z").shape == (2, 2)
    assert "z" in cg.graph


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        (("a", "neg", ("x",)), DuplicateNodeError, "declaration 5 of 5"),
        (("d", "neg", ("nope",)), UnknownNodeError, "'nope'"),
        (("d", "no_such_op", ("x",)), InvalidOperationError, "no_such_op"),
        (("d", "neg", ("x", "y")), ArityError, "declaration 5"),
        (("d", "neg"), InvalidValueError, "(name, op, inputs)"),
        (("d", "sum", ("x",), "axis=0"), InvalidValueError, "params a dict"),
    ],
)
def test_a_refused_declaration_declares_none_and_says_which_it_was(bad, error, words):
    cg = _inputs()
    cg.add_computation_node("before", "neg", ("x",))
    cg.forward("before")
    before = _state(cg)
    schedule = cg.schedule("before")
    with pytest.raises(error) as caught:
        cg.add_computation_nodes([*DECLARATIONS, bad])
    assert isinstance(caught.value, GraphError)
    assert words in str(caught.value)
    assert _state(cg) == before
    assert cg.schedule("before") is schedule  # nothing changed, so nothing was dropped
    cg.add_computation_nodes(DECLARATIONS)  # the names are free: nothing was kept
    assert "s" in cg

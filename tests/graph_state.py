"""Snapshots of a graph's whole state, to prove that a failed call changed nothing."""

from __future__ import annotations

from typing import Any

import numpy as np

from cgraph import ComputationalGraph


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def snapshot(cg: ComputationalGraph) -> dict[str, Any]:
    """Everything a failed call must leave as it was: nodes, edges, kinds, values, gradients."""
    return {
        "order": list(cg),
        "edges": sorted(cg.graph.edges),
        "graph_nodes": list(cg.graph.nodes),
        "kinds": (list(cg.inputs), list(cg.constants), list(cg.operations)),
        "outputs": {name: _copy(node.output) for name, node in cg.nodes.items()},
        "grads": {name: _copy(node.local_grad) for name, node in cg.nodes.items()},
    }


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Compare two snapshots exactly, arrays element by element."""
    assert before.keys() == after.keys()
    for key in ("order", "edges", "graph_nodes", "kinds"):
        assert before[key] == after[key], key
    for key in ("outputs", "grads"):
        assert before[key].keys() == after[key].keys()
        for name, value in before[key].items():
            other = after[key][name]
            assert type(value) is type(other), (key, name)
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, other)
            else:
                assert value == other or (value != value and other != other), (key, name)

"""Shared fixtures: the seed's f(x, y) graph."""

from __future__ import annotations

import pytest

from cgraph import ComputationalGraph
from cgraph.ops import Add, Div, Sigmoid, Square


def build_classic_graph() -> ComputationalGraph:
    """API.md's f(x, y) = (x + s(y)) / (s(x) + (x + y)^2) at x = 2, y = -4."""
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0, y=-4.0)
    cg.add_computation_node("sigy", Sigmoid, ("y",))
    cg.add_computation_node("num", Add, ("x", "sigy"))
    cg.add_computation_node("sigx", Sigmoid, ("x",))
    cg.add_computation_node("xpy", Add, ("x", "y"))
    cg.add_computation_node("sq", Square, ("xpy",))
    cg.add_computation_node("denom", Add, ("sigx", "sq"))
    cg.add_computation_node("f", Div, ("num", "denom"))
    return cg


@pytest.fixture
def classic() -> ComputationalGraph:
    return build_classic_graph()

"""Shared fixtures: the seed's f(x, y) graph; the mark of the tests that need torch."""

from __future__ import annotations

import importlib.util

import pytest

from cgraph import ComputationalGraph
from cgraph.ops import Add, Div, Sigmoid, Square

#: Why a test that compares with torch skips where torch is absent, and how to get it.
TORCH_ORACLE = "torch is the test oracle: pip install -e '.[test]'"
#: Found without importing torch, so that the core suite starts as fast without it as with it.
HAS_TORCH = importlib.util.find_spec("torch") is not None
#: Marks a test that needs torch; the other tests of its module still run without it.
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason=TORCH_ORACLE)
#: Marks a test of minimize(method=...) that needs scipy (the check for it comes first).
needs_scipy = pytest.mark.skipif(
    importlib.util.find_spec("scipy") is None, reason="scipy is an extra: pip install -e '.[scipy]'"
)


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

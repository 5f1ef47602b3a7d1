"""No recursion anywhere: a million-node chain declares, evaluates, differentiates and frees.

The passes run under a recursion limit barely above the test's own depth, so
any recursion over the graph, in cgraph or in what it calls, would fail. The
million-node tests live here, one chain for all the passes (declaring it is
most of their time), marked slow: ``-m "not slow"`` leaves them out.
"""

from __future__ import annotations

import gc
import inspect
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cgraph import ComputationalGraph
from cgraph.engine.allocation import cyclic_gc_paused

CHAIN_LENGTH = 1_000_000


@contextmanager
def shallow_recursion_limit(headroom: int = 100) -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def chain_by_hand(x: float, length: int) -> tuple[float, float]:
    """sin applied ``length`` times, and its derivative by the chain rule, in plain Python."""
    values = []
    for _ in range(length):
        values.append(x)
        x = math.sin(x)
    derivative = 1.0
    for value in reversed(values):
        derivative = derivative * math.cos(value)
    return x, derivative


@pytest.mark.slow
def test_a_million_node_chain_without_recursion():
    with shallow_recursion_limit():
        cg = ComputationalGraph()
        cg.add_inputs(x=0.5)
        previous = "x"
        with cyclic_gc_paused():
            for i in range(CHAIN_LENGTH):
                cg.add_computation_node(f"s{i}", "sin", (previous,))
                previous = f"s{i}"
        value = cg.forward(previous)
        grads = cg.backward(previous)
        middle_gradient = cg.get_gradient("s500000")
        summary = repr(cg)
        jvp_value, tangent = cg.jvp(previous, tangents={"x": 1.0})  # forward mode, same chain
    expected_value, expected_derivative = chain_by_hand(0.5, CHAIN_LENGTH)
    assert value == jvp_value == expected_value
    assert grads["x"] == pytest.approx(expected_derivative, rel=1e-12)
    assert tangent == pytest.approx(expected_derivative, rel=1e-12)
    assert middle_gradient != 0.0
    assert f"{CHAIN_LENGTH - 20 + 1} more nodes" in summary
    with shallow_recursion_limit():
        del cg
        gc.collect()


def test_a_deep_chain_of_binary_ops_reached_by_two_paths_at_every_level():
    """Each level uses the previous one twice, so every node sums two contributions."""
    depth = 20_000
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    previous = "x"
    for i in range(depth):
        cg.add_computation_node(f"m{i}", "maximum", (previous, previous))
        previous = f"m{i}"
    with shallow_recursion_limit():
        assert cg.forward(previous) == 1.0
        assert cg.backward(previous) == {"x": 1.0}  # ties split: 0.5 + 0.5 at every level

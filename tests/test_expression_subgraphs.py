"""Calls of subgraphs by name in expressions: ``cell(cell(h0, x0), x1)``."""

from __future__ import annotations

import numpy as np
import pytest

from cgraph import ComputationalGraph
from cgraph.errors import ArityError, DuplicateNodeError, ExpressionError


def _cell() -> ComputationalGraph:
    """h' = tanh(w h + x), w a constant of the cell."""
    cell = ComputationalGraph()
    cell.add_inputs(h=0.0, x=0.0)
    cell.add_constant("w", np.array([0.5, -0.25]))
    cell.add_computation_node("wh", "mul", ("w", "h"))
    cell.add_computation_node("pre", "add", ("wh", "x"))
    cell.add_computation_node("h_next", "tanh", ("pre",))
    return cell


def _inputs() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(h0=np.array([0.1, -0.2]), x0=np.array([1.0, 0.5]), x1=np.array([-1.0, 2.0]))
    return cg


def test_nested_calls_are_the_graph_add_subgraph_declares():
    cg = _inputs()
    cg.add_expression("f", "sum(cell(cell(h0, x0), x1))", subgraphs={"cell": _cell()})
    reference = _inputs()
    h1 = reference.add_subgraph("a", _cell(), {"h": "h0", "x": "x0"})["h_next"]
    h2 = reference.add_subgraph("b", _cell(), {"h": h1, "x": "x1"})["h_next"]
    reference.add_computation_node("f", "sum", (h2,))
    assert cg.forward("f") == reference.forward("f")
    grads, expected = cg.backward("f"), reference.backward("f")
    for name in ("h0", "x0", "x1"):
        np.testing.assert_array_equal(grads[name], expected[name])
    assert "f/cell/pre" in cg.nodes
    assert "f/cell_2/h_next" in cg.nodes
    hessian = cg.hessian("f", "x1")
    np.testing.assert_array_equal(hessian, reference.hessian("f", "x1"))
    np.testing.assert_allclose(hessian, _gradient_differences(cg, "x1"), rtol=1e-6, atol=1e-9)


def _gradient_differences(cg: ComputationalGraph, name: str, step: float = 1e-6):
    """The Hessian as central differences of backward's exact gradient."""
    x = cg.inputs[name].output
    rows = []
    for i in range(x.size):
        shift = np.zeros_like(x)
        shift.flat[i] = step
        cg.forward("f", feed={name: x + shift})
        plus = cg.backward("f")[name]
        cg.forward("f", feed={name: x - shift})
        minus = cg.backward("f")[name]
        rows.append((plus - minus) / (2 * step))
    return np.array(rows)


def test_a_call_that_is_the_whole_expression_names_its_sink_and_a_repeat_is_one_copy():
    cg = _inputs()
    cg.add_expression("h1", "cell(h0, x0)", subgraphs={"cell": _cell()})
    assert "h1" in cg.operations
    assert "h1/cell/h_next" not in cg.nodes
    cg.add_expression("g", "cell(h0, x0) + cell(h0, x0)", subgraphs={"cell": _cell()})
    assert "g/cell_2/pre" not in cg.nodes  # the same call, planned once
    np.testing.assert_allclose(cg.forward("g"), 2 * cg.forward("h1"))


def test_a_backquoted_subgraph_name_and_the_constant_copied():
    cell = _cell()
    cg = _inputs()
    cg.add_expression("f", "`my cell`(h0, x0)", subgraphs={"my cell": cell})
    cg.constants["f/my cell/w"].output[0] = 9.0
    assert cell.constants["w"].output[0] == 0.5


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("cell(h0)", ArityError, "takes 2 input(s) (h, x), in that order; it was given 1"),
        ("cell(h=h0, x=x0)", ExpressionError, "by position"),
        ("pair(h0, x0)", ExpressionError, "has 2 sinks"),
    ],
)
def test_bad_calls_declare_nothing(text, error, words):
    pair = _cell()
    pair.add_computation_node("other", "neg", ("h",))
    cg = _inputs()
    before = list(cg.nodes)
    with pytest.raises(error) as caught:
        cg.add_expression("f", text, subgraphs={"cell": _cell(), "pair": pair})
    assert words in str(caught.value)
    assert list(cg.nodes) == before


def test_a_name_a_call_would_declare_that_exists_is_refused():
    cg = _inputs()
    cg.add_input("f/cell/wh", 1.0)
    with pytest.raises(DuplicateNodeError, match="f/cell/wh"):
        cg.add_expression("f", "sum(cell(h0, x0))", subgraphs={"cell": _cell()})
    assert "f/cell/w" not in cg.nodes

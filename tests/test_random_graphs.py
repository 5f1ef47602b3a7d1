"""Random graphs of elementwise ops, differentiated by cgraph and by torch.

Hypothesis draws DAGs of 2 to 40 nodes over every elementwise op, on Python
floats and small arrays that broadcast together, with every value inside the
domain of the ops that read it (``tests/strategies.py``). The same structure is
replayed in torch (``tests/oracle.py``): every node's value and every trainable
input's gradient must agree to 1e-9 relative. A failing example prints as the
code that builds its graph.

Random networks do the same over the tensor and loss ops: linear layers,
matrix products, softmax, indexing, joins and reductions, ending in a loss.
"""

from __future__ import annotations

import numpy as np
from conftest import HAS_TORCH, needs_torch
from hypothesis import given, settings
from strategies import RandomGraph, random_graphs, random_networks

from cgraph import gradcheck

if HAS_TORCH:  # only the tests marked needs_torch use the oracle
    from oracle import torch_reference

#: Relative tolerance against torch: both compute in float64, in different orders.
RTOL = 1e-9
#: Absolute tolerance, for values that cancel to about zero (terms are at most about 1e3).
ATOL = 1e-12


def _evaluated(graph: RandomGraph):
    """The built graph, after forward of its root."""
    cg = graph.build()
    cg.forward(graph.root)
    return cg


def _assert_matches_torch(graph: RandomGraph) -> dict:
    """Every node's value and every gradient of the built graph agree with torch's."""
    cg = _evaluated(graph)
    gradients = cg.backward(graph.root)
    reference = torch_reference(cg, graph.root)
    for name in cg.operations:
        np.testing.assert_allclose(
            cg.get_value(name),
            reference.values[name],
            rtol=RTOL,
            atol=ATOL,
            err_msg=f"value of {name}",
        )
    assert gradients.keys() == reference.gradients.keys()
    for name, gradient in gradients.items():
        assert np.shape(gradient) == np.shape(cg.inputs[name].output)
        np.testing.assert_allclose(
            gradient, reference.gradients[name], rtol=RTOL, atol=ATOL, err_msg=f"gradient of {name}"
        )
    return gradients


@needs_torch
@settings(max_examples=200, deadline=None)
@given(graph=random_graphs())
def test_values_and_gradients_match_torch(graph):
    gradients = _assert_matches_torch(graph)
    # The root depends on every leaf, so every trainable input has a gradient.
    trainable = {name for kind, name, *rest in graph.declarations if kind == "input" and rest[-1]}
    assert set(gradients) == trainable


@settings(max_examples=100, deadline=None)
@given(graph=random_graphs())
def test_backward_twice_gives_identical_gradients(graph):
    cg = _evaluated(graph)
    first = {name: np.copy(gradient) for name, gradient in cg.backward(graph.root).items()}
    first_nodes = {
        name: np.copy(cg.get_gradient(name))
        for name, node in cg.operations.items()
        if node.requires_grad
    }
    second = cg.backward(graph.root)
    assert second.keys() == first.keys()
    for name, gradient in second.items():
        np.testing.assert_array_equal(gradient, first[name], err_msg=f"gradient of {name}")
    for name, gradient in first_nodes.items():
        np.testing.assert_array_equal(cg.get_gradient(name), gradient, err_msg=name)


@settings(max_examples=150, deadline=None)
@given(graph=random_graphs())
def test_gradcheck_passes_on_random_graphs(graph):
    assert gradcheck(_evaluated(graph), graph.root)


@needs_torch
@settings(max_examples=200, deadline=None)
@given(graph=random_networks())
def test_random_networks_match_torch(graph):
    _assert_matches_torch(graph)

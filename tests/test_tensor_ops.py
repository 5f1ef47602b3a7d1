"""Tensor and loss ops: the seed's worked examples, conventions, and errors naming the node.

Every op's gradient is already checked against finite differences and torch in
``test_ops.py``; this module checks what a table of random cases cannot: the
worked examples of the seed's ML notes, ties and repeated indices, labels that
get no gradient, and bad shapes or labels reported by node name with the
graph left as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_scipy, needs_torch
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, gradcheck
from cgraph.ops import CrossEntropy, Hinge, Sum

if HAS_TORCH:  # only the tests marked needs_torch use torch (the oracle sets its threads)
    from oracle import torch, torch_reference

W = np.array([[0.2, -0.5], [1.5, 1.3], [0.0, 0.25]])  # 3 classes, 2 features
X_COLUMN = np.array([[2.0], [-1.0]])  # the seed's 2x1 input
LABEL = 0


@contextmanager
def assert_unchanged(cg: ComputationalGraph) -> Iterator[None]:
    """Check that the graph's state after the block (which raises) is what it was before."""
    before = snapshot(cg)
    try:
        yield
    finally:
        assert_same_state(before, snapshot(cg))


def _graph(**inputs) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**inputs)
    return cg


def _assert_matches_torch(cg: ComputationalGraph, root: str) -> dict:
    value = cg.forward(root)
    gradients = cg.backward(root)
    reference = torch_reference(cg, root)
    np.testing.assert_allclose(value, reference.values[root], rtol=1e-13)
    for name, gradient in gradients.items():
        np.testing.assert_allclose(gradient, reference.gradients[name], rtol=1e-13, atol=1e-15)
    assert gradcheck(cg, root)
    return gradients


# --------------------------------------------------------------------------------------
# The seed's worked examples
# --------------------------------------------------------------------------------------


@needs_torch
def test_vector_dot_product():
    cg = _graph(a=np.array([1.0, 2.0, 3.0]), b=np.array([4.0, 5.0, 6.0]))
    cg.add_computation_node("d", "dot", ("a", "b"))
    assert cg.forward("d") == 32.0
    gradients = _assert_matches_torch(cg, "d")
    np.testing.assert_array_equal(gradients["a"], [4.0, 5.0, 6.0])  # d(a.b)/da = b
    np.testing.assert_array_equal(gradients["b"], [1.0, 2.0, 3.0])


@needs_torch
def test_outer_product():
    cg = _graph(a=np.array([1.0, 2.0]), b=np.array([3.0, 4.0, 5.0]))
    cg.add_computation_node("o", "outer", ("a", "b"))
    np.testing.assert_array_equal(cg.forward("o"), [[3.0, 4.0, 5.0], [6.0, 8.0, 10.0]])
    gradients = _assert_matches_torch(cg, "o")
    np.testing.assert_array_equal(gradients["a"], [12.0, 12.0])  # each a_i meets sum(b)
    np.testing.assert_array_equal(gradients["b"], [3.0, 3.0, 3.0])


@needs_torch
def test_matrix_vector_product():
    cg = _graph(W=W, x=X_COLUMN[:, 0])
    cg.add_computation_node("s", "matmul", ("W", "x"))
    np.testing.assert_allclose(cg.forward("s"), [0.9, 1.7, -0.25])
    gradients = _assert_matches_torch(cg, "s")
    np.testing.assert_array_equal(gradients["W"], np.outer(np.ones(3), X_COLUMN[:, 0]))
    np.testing.assert_allclose(gradients["x"], W.sum(axis=0))


@needs_torch
def test_matrix_matrix_product():
    a = np.arange(6.0).reshape(2, 3)
    b = np.arange(6.0).reshape(3, 2) - 2
    cg = _graph(A=a, B=b)
    cg.add_computation_node("P", "matmul", ("A", "B"))
    np.testing.assert_array_equal(cg.forward("P"), a @ b)
    gradients = _assert_matches_torch(cg, "P")
    np.testing.assert_array_equal(gradients["A"], np.ones((2, 2)) @ b.T)
    np.testing.assert_array_equal(gradients["B"], a.T @ np.ones((2, 2)))


@needs_torch
def test_softmax_of_a_score_vector():
    cg = _graph(z=np.array([1.0, 2.0, 3.0]))
    cg.add_computation_node("p", "softmax", ("z",))
    np.testing.assert_allclose(cg.forward("p"), [0.09003057, 0.24472847, 0.66524096], rtol=1e-7)
    assert cg.forward("p").sum() == pytest.approx(1.0, abs=1e-15)
    gradients = _assert_matches_torch(cg, "p")
    np.testing.assert_allclose(gradients["z"], 0.0, atol=1e-16)  # the outputs always sum to 1


@needs_scipy
@pytest.mark.parametrize(
    ("axis", "keepdims"), [(None, False), (1, False), (-1, False), (0, True), ((0, 2), True)]
)
def test_logsumexp_is_scipys_and_its_gradient_the_softmax(axis, keepdims):
    from scipy.special import logsumexp, softmax

    x = np.random.default_rng(0).normal(size=(2, 3, 4)) * 300.0  # e^x alone would overflow
    cg = _graph(x=x)
    cg.add_computation_node("l", "logsumexp", ("x",), axis=axis, keepdims=keepdims)
    cg.add_computation_node("s", "sum", ("l",))
    np.testing.assert_allclose(
        cg.forward("l"), logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-15
    )
    cg.forward("s")
    np.testing.assert_allclose(
        cg.backward("s")["x"], softmax(x, axis=axis), rtol=1e-12, atol=1e-300
    )


def test_logsumexp_of_infinities_is_scipys_without_warnings():
    cg = _graph(x=np.array([[-np.inf, -np.inf], [0.0, -np.inf], [np.inf, 0.0]]))
    cg.add_computation_node("l", "logsumexp", ("x",), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(cg.forward("l"), [-np.inf, 0.0, np.inf])


def test_logsumexp_hessian_is_the_softmax_jacobian():
    cg = _graph(x=np.array([0.0, 1.0, 2.0]))
    cg.add_computation_node("l", "logsumexp", ("x",))
    cg.add_computation_node("p", "softmax", ("x",))
    s = cg.forward("p")
    np.testing.assert_allclose(cg.hessian("l", "x"), np.diag(s) - np.outer(s, s), rtol=1e-14)


def _scores_of_w_and_x(loss: str) -> ComputationalGraph:
    """The seed's classifier: scores = W x for a 2x1 x, then a loss against label 0."""
    cg = ComputationalGraph()
    cg.add_inputs(W=W, x=X_COLUMN)
    cg.add_input("label", LABEL, trainable=False)
    cg.add_computation_node("scores", "matmul", ("W", "x"))  # (3, 1): a column of 3 scores
    cg.add_computation_node("row", "reshape", ("scores",), shape=(3,))
    cg.add_computation_node("loss", loss, ("row", "label"))
    return cg


@needs_torch
def test_cross_entropy_of_the_seed_classifier():
    cg = _scores_of_w_and_x("cross_entropy")
    scores = W @ X_COLUMN[:, 0]
    expected = -scores[LABEL] + np.log(np.exp(scores).sum())
    assert cg.forward("loss") == pytest.approx(expected, rel=1e-15)
    gradients = _assert_matches_torch(cg, "loss")
    probabilities = np.exp(scores) / np.exp(scores).sum()
    np.testing.assert_allclose(
        gradients["W"], np.outer(probabilities - np.eye(3)[LABEL], X_COLUMN[:, 0]), rtol=1e-14
    )
    assert "label" not in gradients


@needs_torch
def test_hinge_of_the_seed_classifier():
    cg = _scores_of_w_and_x("hinge")
    # Scores 0.9, 1.7, -0.25 with label 0: class 1 violates the margin by 1.8, class 2
    # is 0.15 inside it.
    np.testing.assert_allclose(W @ X_COLUMN[:, 0], [0.9, 1.7, -0.25])
    assert cg.forward("loss") == pytest.approx(max(0, 1.7 - 0.9 + 1) + max(0, -0.25 - 0.9 + 1))
    assert cg.forward("loss") == pytest.approx(1.8, rel=1e-15)
    gradients = _assert_matches_torch(cg, "loss")
    # The violating class's row gets +x, the label's row -x, the other row nothing.
    np.testing.assert_allclose(gradients["W"], np.outer([-1.0, 1.0, 0.0], X_COLUMN[:, 0]))
    np.testing.assert_allclose(gradients["x"], (W[1] - W[0])[:, np.newaxis])


@needs_torch
def test_hinge_is_not_divided_by_the_number_of_classes():
    scores = torch.tensor([[3.2, 5.1, -1.7]], dtype=torch.float64)
    by_torch = torch.nn.functional.multi_margin_loss(scores, torch.tensor([0])).item()
    assert Hinge().forward(scores.numpy(), np.array([0])) == pytest.approx(3 * by_torch)
    assert Hinge().forward(scores.numpy(), np.array([0])) == pytest.approx(2.9)


# --------------------------------------------------------------------------------------
# Conventions: ties, repeated indices, labels, an input used twice
# --------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize(("op_name", "torch_name"), [("max", "amax"), ("min", "amin")])
def test_reduction_ties_split_the_gradient_as_torch_amax(op_name, torch_name):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    cg = _graph(x=x)
    cg.add_computation_node("m", op_name, ("x",), axis=1)
    cg.forward("m")
    gradient = cg.backward("m")["x"]
    tensor = torch.tensor(x, requires_grad=True)
    getattr(torch, torch_name)(tensor, dim=1).sum().backward()
    np.testing.assert_array_equal(gradient, tensor.grad.numpy())
    np.testing.assert_allclose(gradient.sum(axis=1), 1.0)


def test_index_scatters_repeated_picks_with_add_at():
    cg = _graph(x=np.array([10.0, 20.0, 30.0]))
    cg.add_computation_node("picked", "index", ("x",), index=[2, 0, 2, 2])
    cg.add_computation_node("total", "sum", ("picked",))
    assert cg.forward("total") == 100.0
    np.testing.assert_array_equal(cg.backward("total")["x"], [1.0, 0.0, 3.0])


@pytest.mark.parametrize(
    ("op_name", "params", "expected"),
    [
        ("stack", {}, np.full(3, 2.0)),
        ("concat", {}, np.full(3, 2.0)),
        ("dot", {}, 2 * np.array([1.0, 2.0, 3.0])),  # d(x.x)/dx = 2x
        ("outer", {}, 2 * 6.0 * np.ones(3)),  # d sum(x x^T)/dx_i = 2 sum(x)
        ("mse", {}, np.zeros(3)),  # mse(x, x) = 0 everywhere
    ],
)
def test_input_used_twice_gets_both_contributions(op_name, params, expected):
    cg = _graph(x=np.array([1.0, 2.0, 3.0]))
    cg.add_computation_node("y", op_name, ("x", "x"), **params)
    cg.add_computation_node("total", "sum", ("y",))
    cg.forward("total")
    np.testing.assert_allclose(cg.backward("total")["x"], expected)


def test_labels_declared_trainable_still_work_and_get_zero_gradient():
    cg = _graph(z=np.array([[1.0, 2.0], [0.5, -1.0]]), labels=np.array([1, 0]))
    assert cg.inputs["labels"].output.dtype == np.float64  # trainable: made float
    cg.add_computation_node("loss", "cross_entropy", ("z", "labels"))
    cg.forward("loss")
    np.testing.assert_array_equal(cg.backward("loss")["labels"], [0.0, 0.0])


def test_integer_labels_declared_fixed_stay_integers_and_get_no_gradient():
    cg = _graph(z=np.array([[1.0, 2.0], [0.5, -1.0]]))
    cg.add_input("labels", np.array([1, 0]), trainable=False)
    cg.add_computation_node("loss", "cross_entropy", ("z", "labels"))
    cg.forward("loss")
    assert set(cg.backward("loss")) == {"z"}
    assert cg.inputs["labels"].output.dtype.kind == "i"


def test_cross_entropy_of_a_confident_wrong_answer_is_large_and_finite():
    cg = _graph(z=np.array([[1000.0, -1000.0]]))
    cg.add_input("labels", np.array([1]), trainable=False)
    cg.add_computation_node("loss", "cross_entropy", ("z", "labels"))
    assert cg.forward("loss", check_finite=True) == 2000.0
    np.testing.assert_array_equal(cg.backward("loss", check_finite=True)["z"], [[1.0, -1.0]])


def test_reduction_to_a_number_is_a_python_float_and_float32_stays_float32():
    cg = _graph(a=np.ones((2, 3)), b=np.ones((2, 3), np.float32))
    cg.add_computation_node("sa", Sum(), ("a",))
    cg.add_computation_node("sb", "mean", ("b",))
    assert type(cg.forward("sa")) is float
    assert cg.forward("sb").dtype == np.float32


def test_sum_gradient_is_a_writable_array_of_its_own():
    cg = _graph(x=np.ones((2, 3)))
    cg.add_computation_node("s", "sum", ("x",), axis=0)
    cg.forward("s")
    gradient = cg.backward("s")["x"]
    gradient *= 2  # a broadcast view would refuse this
    np.testing.assert_array_equal(gradient, 2.0)


# --------------------------------------------------------------------------------------
# Errors name the node and leave the graph as it was
# --------------------------------------------------------------------------------------


def _failing_forward(cg: ComputationalGraph, root: str, error: type[Exception]):
    with assert_unchanged(cg), pytest.raises(error) as caught:
        cg.forward(root)
    assert root in caught.value.nodes
    assert repr(root) in str(caught.value)
    return caught.value


def test_misaligned_matmul_is_a_shape_error_naming_the_node_and_its_inputs():
    cg = _graph(A=np.ones((2, 3)), B=np.ones((2, 3)))
    cg.add_computation_node("P", "matmul", ("A", "B"))
    error = _failing_forward(cg, "P", cgraph.ShapeError)
    assert {"A", "B"} <= set(error.nodes)
    assert "(2, 3) and (2, 3) do not align: 3 != 2" in str(error)


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (np.array([0, 3]), cgraph.InvalidValueError, "labels must lie in [0, 3)"),
        (np.array([0, -1]), cgraph.InvalidValueError, "labels must lie in [0, 3)"),
        (np.array([0.5, 1.0]), cgraph.InvalidValueError, "whole numbers"),
        (np.array([0, 1, 2]), cgraph.ShapeError, "one label per row, shape (2,)"),
    ],
)
@pytest.mark.parametrize("loss", [CrossEntropy, Hinge])
def test_bad_labels_are_refused_naming_the_loss_node(loss, labels, error, message):
    cg = _graph(z=np.ones((2, 3)))
    cg.add_input("labels", labels, trainable=False)
    cg.add_computation_node("loss", loss, ("z", "labels"))
    assert message in str(_failing_forward(cg, "loss", error))


@pytest.mark.parametrize(
    ("op_name", "params", "value", "message"),
    [
        ("sum", {"axis": 2}, np.ones((2, 3)), "axis 2 is out of range"),
        ("reshape", {"shape": (4,)}, np.ones(6), "cannot reshape array of size 6"),
        ("transpose", {"axes": (0, 0)}, np.ones((2, 3)), "permute all of the input's axes"),
        ("index", {"index": 5}, np.ones(3), "index 5 does not fit shape (3,)"),
        ("softmax", {}, 2.0, "softmax needs an array of scores"),
        ("linear", {}, None, "weight of shape (out, in)"),
    ],
)
def test_bad_shapes_are_shape_errors_naming_the_node(op_name, params, value, message):
    cg = ComputationalGraph()
    if op_name == "linear":
        cg.add_inputs(x=np.ones((4, 3)), W=np.ones((2, 4)), b=np.zeros(2))
        cg.add_computation_node("y", op_name, ("x", "W", "b"))
    else:
        cg.add_inputs(x=value)
        cg.add_computation_node("y", op_name, ("x",), **params)
    assert message in str(_failing_forward(cg, "y", cgraph.ShapeError))


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        ("cross_entropy", {"reduction": "average"}, "reduction must be 'mean', 'sum' or 'none'"),
        ("index", {"index": "a"}, "is not an int, a slice"),
    ],
)
def test_bad_parameters_are_refused_at_declaration(op, params, message):
    cg = _graph(z=np.ones((2, 3)), labels=np.zeros(2))
    with assert_unchanged(cg), pytest.raises(cgraph.InvalidOperationError) as caught:
        cg.add_computation_node("loss", op, ("z", "labels")[: 2 if op != "index" else 1], **params)
    assert caught.value.nodes == ("loss",)
    assert message in str(caught.value)

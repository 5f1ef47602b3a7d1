"""Linear algebra ops: what the op table's random well-conditioned matrices cannot show.

``test_ops.py`` checks every mode of inverse, solve, det, logabsdet, slogdet and
cholesky against torch and finite differences. Here: singular matrices (det's
gradient is the cofactor matrix there, never NaN; the others refuse by name),
exact second derivatives, cholesky's symmetric part, slogdet's sign, numpy's
rule for solve's right-hand side, bad shapes, and the shapes the command line
works out before evaluating.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

from cgraph import OPERATIONS, ComputationalGraph, numerical_gradient, ops
from cgraph.errors import InvalidValueError, ShapeError

if HAS_TORCH:
    from oracle import torch, torch_reference


def _graph(op: str, *values: np.ndarray) -> ComputationalGraph:
    """A graph whose node ``y`` applies ``op`` to inputs ``a``, ``b``, ..."""
    cg = ComputationalGraph()
    names = "ab"[: len(values)]
    cg.add_inputs(**dict(zip(names, values, strict=True)))
    cg.add_computation_node("y", op, tuple(names))
    return cg


def _cofactors(a: np.ndarray) -> np.ndarray:
    """The matrix of cofactors C_ij = (-1)^(i+j) M_ij, by its definition (minors)."""
    n = a.shape[-1]
    if n == 1:
        return np.ones_like(a)
    return np.array(
        [
            [(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(n)]
            for i in range(n)
        ]
    )


def test_inverse_is_the_matrix_inverse_and_inv_stays_the_reciprocal():
    assert OPERATIONS["inverse"] is ops.Inverse
    assert OPERATIONS["inv"] is ops.Inv


# --------------------------------------------------------------------------------------
# Singular matrices
# --------------------------------------------------------------------------------------

SINGULAR = {
    "rank n-1": np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),
    "rank 1": np.ones((3, 3)),
    "2x2 rank 1": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "zero 1x1": np.zeros((1, 1)),
}


@pytest.mark.parametrize("a", SINGULAR.values(), ids=SINGULAR.keys())
def test_det_gradient_at_a_singular_matrix_is_its_cofactor_matrix(a):
    cg = _graph("det", a)
    assert cg.forward("y") == 0.0
    gradient = cg.backward("y")["a"]
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient, _cofactors(a), atol=1e-12)
    # det is a polynomial: central differences are exact up to rounding there too.
    np.testing.assert_allclose(gradient, numerical_gradient(cg, "y")["a"], atol=1e-6)
    tangent = np.arange(a.size, dtype=float).reshape(a.shape)
    _, along = cg.jvp("y", tangents={"a": tangent})
    assert along == pytest.approx(np.sum(_cofactors(a) * tangent), abs=1e-12)


def test_det_of_a_stack_with_one_singular_matrix_gives_every_cofactor_matrix():
    stack = np.stack([SINGULAR["2x2 rank 1"], np.array([[2.0, 1.0], [1.0, 3.0]])])
    cg = _graph("det", stack)
    np.testing.assert_allclose(cg.forward("y"), [0.0, 5.0], atol=1e-15)
    np.testing.assert_allclose(cg.backward("y")["a"], [_cofactors(m) for m in stack], atol=1e-12)


def test_det_second_derivatives_refuse_a_singular_matrix_by_name():
    cg = _graph("det", SINGULAR["2x2 rank 1"])
    cg.forward("y")
    with pytest.raises(InvalidValueError, match="singular") as caught:
        cg.hessian("y", "a")
    assert "y" in caught.value.nodes


@pytest.mark.parametrize("op", ["inverse", "solve"])
def test_inverse_and_solve_refuse_a_singular_matrix_naming_the_node(op):
    values = (SINGULAR["rank 1"],) + ((np.ones(3),) if op == "solve" else ())
    cg = _graph(op, *values)
    with pytest.raises(InvalidValueError, match="singular") as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes


def test_logabsdet_of_a_singular_matrix_is_minus_infinity_and_has_no_gradient():
    cg = _graph("logabsdet", SINGULAR["rank 1"])
    assert cg.forward("y") == -np.inf
    with pytest.raises(InvalidValueError, match="singular"):
        cg.backward("y")


def test_cholesky_refuses_a_matrix_that_is_not_positive_definite():
    cg = _graph("cholesky", np.array([[1.0, 2.0], [2.0, 1.0]]))  # eigenvalues 3 and -1
    with pytest.raises(InvalidValueError, match="positive-definite") as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes


# --------------------------------------------------------------------------------------
# Exact values and derivatives
# --------------------------------------------------------------------------------------


def test_det_hessian_of_a_2x2_matrix_is_exact():
    # det = a d - b c: its only second derivatives are d2/da dd = 1 and d2/db dc = -1.
    cg = _graph("det", np.array([[2.0, 1.0], [1.0, 3.0]]))
    hessian = np.reshape(cg.hessian("y", "a"), (4, 4))
    expected = np.zeros((4, 4))
    expected[0, 3] = expected[3, 0] = 1.0
    expected[1, 2] = expected[2, 1] = -1.0
    np.testing.assert_allclose(hessian, expected, atol=1e-14)


def test_logabsdet_of_a_diagonal_matrix_is_the_sum_of_log_abs_and_its_hessian_is_exact():
    diagonal = np.array([2.0, -0.5, 4.0])
    cg = _graph("logabsdet", np.diag(diagonal))
    assert cg.forward("y") == pytest.approx(np.sum(np.log(np.abs(diagonal))), rel=1e-15)
    np.testing.assert_allclose(cg.backward("y")["a"], np.diag(1 / diagonal), atol=1e-15)
    # d2 log|det A| / dA_ij dA_kl = -(A^-1)_li (A^-1)_jk: on the diagonal, -1 / a_i^2.
    hessian = np.reshape(cg.hessian("y", "a"), (9, 9))
    inverse = np.linalg.inv(np.diag(diagonal))
    expected = -np.einsum("li,jk->ijkl", inverse, inverse).reshape(9, 9)
    np.testing.assert_allclose(hessian, expected, atol=1e-14)


def test_slogdet_is_numpys_pair_and_its_sign_passes_no_gradient():
    a = np.array([[[0.0, 2.0], [4.0, 0.0]], [[3.0, 1.0], [1.0, 1.0]]])
    cg = _graph("slogdet", a)
    sign, log_abs = np.linalg.slogdet(a)
    np.testing.assert_array_equal(cg.forward("y"), np.stack([sign, log_abs], axis=-1))
    cg.add_computation_node("sign", "index", ("y",), index=(Ellipsis, 0))
    cg.add_computation_node("total", "sum", ("sign",))
    cg.forward("total")
    np.testing.assert_array_equal(cg.backward("total")["a"], 0.0)
    cg.add_computation_node("logs", "index", ("y",), index=(Ellipsis, 1))
    cg.add_computation_node("log_total", "sum", ("logs",))
    cg.add_computation_node("direct", "logabsdet", ("a",))
    cg.add_computation_node("direct_total", "sum", ("direct",))
    cg.forward("log_total")
    via_slogdet = cg.backward("log_total")["a"]
    cg.forward("direct_total")
    np.testing.assert_array_equal(via_slogdet, cg.backward("direct_total")["a"])


@needs_torch
def test_cholesky_factors_the_symmetric_part_with_torchs_symmetric_gradient():
    spd = np.array([[4.0, 2.0, 0.5], [2.0, 5.0, 1.0], [0.5, 1.0, 3.0]])
    skew = np.array([[0.0, 0.3, -0.2], [-0.3, 0.0, 0.1], [0.2, -0.1, 0.0]])
    cg = _graph("cholesky", spd + skew)
    factor = cg.forward("y")
    np.testing.assert_allclose(factor, np.linalg.cholesky(spd), rtol=1e-15)
    gradient = cg.backward("y")["a"]
    np.testing.assert_allclose(gradient, gradient.T, rtol=1e-15)
    # torch's gradient of the lower triangle it reads, at the symmetric matrix itself.
    at = torch.tensor(spd, requires_grad=True)
    torch.linalg.cholesky(at).sum().backward()
    np.testing.assert_allclose(gradient, at.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gradient, numerical_gradient(cg, "y")["a"], atol=1e-7)


@needs_torch
@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((2, 3, 3), (3,)),  # one vector for every matrix
        ((3, 3, 3), (3, 3)),  # numpy 2: one matrix (n, k), not 3 vectors (torch's reading)
        ((3, 3), (4, 3, 2)),  # b's batch broadcasts A
    ],
)
def test_solve_reads_b_as_numpy_2_does(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, a_shape) + 6 * np.eye(a_shape[-1])
    b = rng.uniform(-1, 1, b_shape)
    cg = _graph("solve", a, b)
    x = cg.forward("y")
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-15)
    gradients = cg.backward("y")
    reference = torch_reference(cg, "y")
    np.testing.assert_allclose(x, reference.values["y"], rtol=1e-13)
    for name, gradient in gradients.items():
        assert np.shape(gradient) == np.shape(cg.inputs[name].output)
        np.testing.assert_allclose(gradient, reference.gradients[name], rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["inverse", "det", "logabsdet", "slogdet", "cholesky"])
@pytest.mark.parametrize("shape", [(3,), (2, 3), (3, 2, 3)], ids=str)
def test_a_matrix_that_is_not_square_is_refused_naming_the_node(op, shape):
    cg = _graph(op, np.ones(shape))
    with pytest.raises(ShapeError, match="square") as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes


@pytest.mark.parametrize(
    ("b", "match"),
    [(2.0, "number"), (np.ones(2), "does not fit"), (np.ones((3, 3, 1)), "broadcast")],
)
def test_solve_refuses_a_b_that_does_not_fit(b, match):
    cg = _graph("solve", 4 * np.eye(3) + np.ones((2, 3, 3)), b)
    with pytest.raises(ShapeError, match=match):
        cg.forward("y")


@pytest.mark.parametrize(
    ("op", "shapes"),
    [
        ("inverse", [(2, 3, 3)]),
        ("det", [(3, 3)]),
        ("logabsdet", [(4, 2, 2)]),
        ("slogdet", [(4, 2, 2)]),
        ("cholesky", [(2, 3, 3)]),
        ("solve", [(2, 3, 3), (3,)]),
        ("solve", [(3, 3), (4, 3, 2)]),
    ],
)
def test_the_command_lines_shapes_are_the_shapes_computed(op, shapes):
    from cgraph.cli.limits import shapes_of

    values = [
        np.ones(shape) + 4 * np.eye(shape[-1])
        if len(shape) > 1 and shape[-1] == shape[-2]
        else np.ones(shape)
        for shape in shapes
    ]
    cg = _graph(op, *values)
    predicted = shapes_of(cg, "y")
    cg.forward("y")
    assert predicted["y"] == np.shape(cg.get_value("y"))

"""Variance, norms and scans: the points a table of random cases stays away from.

``test_ops.py`` checks every op against torch and finite differences in every
mode on random values; this module checks cumprod where elements are zero (its
derivative never divides by x), every norm's gradient at x = 0 (0, as torch's,
never nan), std's at a constant input, the 2-norm where squares overflow, and
the parameters' conventions (numpy's ddof as torch's correction, cumsum's
reverse as its transpose).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

from cgraph import ComputationalGraph, InvalidOperationError, numerical_gradient
from cgraph.ops import CumSum, Norm, Var

if HAS_TORCH:
    from oracle import torch, torch_function, torch_jvp, torch_reference


def _graph(op, x: np.ndarray, **params) -> ComputationalGraph:
    """y = op(x), and s = sum(y * w) for a fixed w that mixes y's elements."""
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_computation_node("y", op, ("x",), **params)
    shape = np.shape(cg.forward("y"))
    cg.add_constant("w", np.linspace(-1.0, 2.0, math.prod(shape)).reshape(shape))
    cg.add_computation_node("yw", "mul", ("y", "w"))
    cg.add_computation_node("s", "sum", ("yw",))
    return cg


def _every_mode_matches_torch(cg: ComputationalGraph, tangent: np.ndarray) -> dict:
    """backward, the gradient graph, jvp, the tangent graph and hvp of s against torch (float64),
    with every warning an error (no 0/0 on the way); the modes' results by name."""
    x = cg.inputs["x"].output
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cg.forward("s")
        gradient = cg.backward("s")["x"]
        symbolic = cg.gradient_graph("s", ["x"]).forward("grad/s/x")
        hvp = cg.hvp("s", ["x"], [tangent])[0]
        _, jvp = cg.jvp("y", tangents={"x": tangent})
        tangent_graph = cg.tangent_graph("y", {"x": tangent}).forward("tangent/y/y")
    np.testing.assert_allclose(
        gradient, torch_reference(cg, "s").gradients["x"], rtol=1e-14, atol=1e-15
    )
    np.testing.assert_array_equal(symbolic, gradient)
    np.testing.assert_allclose(jvp, torch_jvp(cg, "y", {"x": tangent})[1], rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(tangent_graph, jvp)
    _, expected = torch.autograd.functional.hvp(
        torch_function(cg, "s", ["x"]), (torch.tensor(x),), (torch.tensor(tangent),)
    )
    np.testing.assert_allclose(hvp, expected[0].numpy(), rtol=1e-14, atol=1e-15)
    return {"gradient": gradient, "jvp": jvp, "hvp": hvp}


# --------------------------------------------------------------------------------------
# cumprod where elements are zero
# --------------------------------------------------------------------------------------

ZEROS = {
    "one zero": np.array([2.0, 0.0, 3.0, -1.5]),
    "two zeros": np.array([2.0, 0.0, 3.0, 0.0, -1.5]),
    "zero first": np.array([0.0, 2.0, 3.0]),
    "zero last": np.array([2.0, 3.0, 0.0]),
    "all zero": np.zeros(3),
    "rows": np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 0.5]]),
}


@needs_torch
@pytest.mark.parametrize("x", ZEROS.values(), ids=ZEROS.keys())
def test_cumprod_is_exact_at_zeros_in_every_mode_as_torch(x):
    cg = _graph("cumprod", x, axis=-1)
    results = _every_mode_matches_torch(cg, np.linspace(0.5, 1.5, x.size).reshape(x.shape))
    np.testing.assert_allclose(
        results["gradient"], numerical_gradient(cg, "s")["x"], rtol=1e-6, atol=1e-6
    )


def test_cumprod_gradient_at_a_zero_is_the_product_of_the_others():
    # y = (2, 0, 0): dy_1/dx_1 = 2, dy_2/dx_1 = 2 * 3; the elements after the zero get 0.
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([2.0, 0.0, 3.0]))
    cg.add_computation_node("y", "cumprod", ("x",))
    cg.add_computation_node("s", "sum", ("y",))
    cg.forward("s")
    np.testing.assert_array_equal(cg.backward("s")["x"], [1.0, 8.0, 0.0])


def test_cumprod_of_float32_zeros_stays_float32_and_finite():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([[0.0, 2.0], [3.0, 0.0]], np.float32))
    cg.add_computation_node("y", "cumprod", ("x",), axis=0)
    cg.add_computation_node("s", "sum", ("y",))
    cg.forward("s")
    gradient = cg.backward("s")["x"]
    assert gradient.dtype == np.float32
    np.testing.assert_array_equal(gradient, [[4.0, 1.0], [0.0, 2.0]])


# --------------------------------------------------------------------------------------
# Norms and std at their kinks
# --------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("ord", [2, 1, np.inf])
@pytest.mark.parametrize("axis", [None, 1])
def test_norm_gradient_at_zero_is_zero_as_torchs_never_nan(ord, axis):
    x = np.array([[0.0, 0.0, 0.0], [3.0, -4.0, 1.0]]) if axis == 1 else np.zeros((2, 3))
    cg = _graph(Norm(ord=ord, axis=axis), x)
    results = _every_mode_matches_torch(cg, np.ones_like(x))
    np.testing.assert_array_equal(results["gradient"][0], 0.0)
    np.testing.assert_array_equal(np.ravel(results["jvp"])[0], 0.0)


@needs_torch
def test_std_gradient_of_a_constant_is_zero_as_torchs():
    cg = _graph("std", np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]), axis=1, ddof=1)
    cg.forward("s")
    gradient = cg.backward("s")["x"]
    np.testing.assert_array_equal(gradient[0], 0.0)
    np.testing.assert_array_equal(gradient, torch_reference(cg, "s").gradients["x"])


@pytest.mark.parametrize("scale", [1e200, 1e-200, 2.0**600])
def test_two_norm_neither_overflows_nor_underflows(scale):
    x = np.array([[3.0, -4.0], [0.0, 0.0]]) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norms = Norm(axis=1).forward(x)
    np.testing.assert_allclose(norms, [5.0 * scale, 0.0], rtol=1e-15)


def test_norm_refuses_an_ord_it_does_not_compute():
    with pytest.raises(InvalidOperationError, match="ord 1, 2 or inf"):
        Norm(ord=3)


# --------------------------------------------------------------------------------------
# Conventions
# --------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("ddof", [0, 1, 2])
def test_ddof_is_torchs_correction(ddof):
    x = np.arange(12.0).reshape(3, 4) ** 1.5
    expected = torch.var(torch.tensor(x), dim=1, correction=ddof).numpy()
    np.testing.assert_allclose(Var(axis=1, ddof=ddof).forward(x), expected, rtol=1e-14)
    np.testing.assert_allclose(Var(axis=1, ddof=ddof).forward(x), np.var(x, axis=1, ddof=ddof))


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_cumsum_reverse_is_its_transpose(axis):
    rng = np.random.default_rng(0)
    x, u = rng.normal(size=(3, 4)), rng.normal(size=(3, 4) if axis is not None else 12)
    forward = np.sum(CumSum(axis=axis).forward(x) * u)
    transposed = np.sum(x * np.reshape(CumSum(axis=axis, reverse=True).forward(u), x.shape))
    assert forward == pytest.approx(transposed, rel=1e-13)

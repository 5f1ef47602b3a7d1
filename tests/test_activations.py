"""Activations (softplus, leaky ReLU, ELU, GELU, clip): conventions, stability and parameters.

Every op's value and derivatives are already checked in every mode against
finite differences and torch in ``test_ops.py``; this module checks what its
random cases keep away from: the derivative at a kink or a bound (torch's
side), inputs large enough to overflow a naive formula, and bad parameters.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_scipy, needs_torch

import cgraph
from cgraph import ComputationalGraph
from cgraph.ops import ELU, GELU, Clip, LeakyReLU, Softplus

if HAS_TORCH:  # only the tests marked needs_torch use torch (the oracle sets its threads)
    from oracle import torch_reference


def _graph(op, x) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_computation_node("y", op, ("x",))
    return cg


def _value_and_gradient(cg: ComputationalGraph) -> tuple:
    """y and dy/dx, with every warning an error (no overflow, no invalid value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cg.forward("y"), cg.backward("y")["x"]


# --------------------------------------------------------------------------------------
# At a kink or a bound the derivative is torch's
# --------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize(
    ("op", "x", "expected"),
    [
        (LeakyReLU(negative_slope=0.1), [0.0, -1.0, 2.0], [0.1, 0.1, 1.0]),  # x = 0: the slope
        (ELU(alpha=2.0), [0.0, -1.0, 2.0], [2.0, 2.0 * np.exp(-1.0), 1.0]),  # x = 0: alpha
        (
            Clip(min=0.0, max=2.0),
            [0.0, 2.0, -1.0, 3.0, 1.0],
            [1.0, 1.0, 0.0, 0.0, 1.0],
        ),  # bounds: 1
        (Clip(min=0.0), [0.0, -1.0], [1.0, 0.0]),
        (Clip(max=2.0), [2.0, 3.0], [1.0, 0.0]),
        (Clip(min=2.0, max=0.0), [-1.0, 1.0, 3.0], [0.0, 0.0, 0.0]),  # min > max: all max
    ],
    ids=repr,
)
@pytest.mark.parametrize("as_array", [False, True], ids=["float", "array"])
def test_the_derivative_at_a_kink_or_bound_is_torchs(op, x, expected, as_array):
    gradients = []
    for point in [np.array(x)] if as_array else x:
        cg = _graph(op, point)
        value, gradient = _value_and_gradient(cg)
        reference = torch_reference(cg, "y")
        np.testing.assert_array_equal(value, reference.values["y"])
        np.testing.assert_array_equal(gradient, reference.gradients["x"])
        gradients.append(gradient)
    np.testing.assert_allclose(np.ravel(gradients), expected, rtol=1e-15)


def test_clip_with_min_above_max_gives_max_everywhere_as_numpy():
    x = np.array([-1.0, 1.0, 3.0])
    np.testing.assert_array_equal(Clip(min=2.0, max=0.0).forward(x), np.clip(x, 2.0, 0.0))
    assert Clip(min=2.0, max=0.0).forward(1.0) == 0.0


@pytest.mark.parametrize(
    "op",
    [Softplus(), LeakyReLU(), ELU(), GELU(), GELU(approximate="tanh"), Clip(min=-1.0, max=1.0)],
    ids=repr,
)
def test_a_float_and_a_0d_array_agree_and_nan_stays_nan(op):
    for x in (-2.5, -0.3, 0.0, 0.7, 3.0):  # math (floats) and numpy round alike to an ulp
        assert op.forward(x) == pytest.approx(op.forward(np.array(x)), rel=4e-16, abs=0.0)
        assert type(op.forward(x)) is float
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(op.forward(float("nan")))
        assert np.isnan(op.forward(np.array([np.nan]))[0])


# --------------------------------------------------------------------------------------
# Stable at large inputs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [1000.0, -1000.0, 1e300, -1e300])
@pytest.mark.parametrize("as_array", [False, True], ids=["float", "array"])
def test_softplus_never_overflows(x, as_array):
    value, gradient = _value_and_gradient(_graph("softplus", np.array([x]) if as_array else x))
    np.testing.assert_array_equal(value, max(x, 0.0))  # log(1 + e^-|x|) vanishes
    np.testing.assert_array_equal(gradient, float(x > 0))


@needs_torch
@pytest.mark.parametrize(("beta", "threshold"), [(1.0, 20.0), (2.0, 4.0), (0.5, 10.0)])
def test_softplus_is_x_past_the_threshold_as_torch(beta, threshold):
    x = np.array([threshold / beta - 0.5, threshold / beta + 0.5, 30.0, -30.0])
    cg = _graph(Softplus(beta=beta, threshold=threshold), x)
    value, gradient = _value_and_gradient(cg)
    reference = torch_reference(cg, "y")
    np.testing.assert_allclose(value, reference.values["y"], rtol=1e-15)
    np.testing.assert_allclose(gradient, reference.gradients["x"], rtol=1e-15)
    assert value[1] == x[1]
    assert gradient[1] == 1.0


@needs_scipy
def test_gelu_of_a_large_negative_x_keeps_its_digits():
    from scipy.special import ndtr  # the normal distribution function, Phi

    x = np.array([-30.0, -10.0])
    value, _ = _value_and_gradient(_graph("gelu", x))
    np.testing.assert_allclose(value, x * ndtr(x), rtol=1e-13)  # tiny, never rounded to 0
    assert np.all(value < 0)
    np.testing.assert_allclose(GELU().forward(-30.0), -30.0 * ndtr(-30.0), rtol=1e-13)


@pytest.mark.parametrize("x", [1000.0, -1000.0])
def test_elu_and_gelu_are_quiet_at_large_inputs(x):
    for op in ("elu", "gelu", GELU(approximate="tanh"), "leaky_relu"):
        value, gradient = _value_and_gradient(_graph(op, np.array([x, 1.0])))
        assert np.all(np.isfinite(value)), op
        assert np.all(np.isfinite(gradient)), op


def test_gelu_without_scipy_uses_math_elementwise(monkeypatch):
    from cgraph.ops import special

    x = np.linspace(-6.0, 6.0, 13).reshape(13, 1)
    expected = GELU().forward(x)
    monkeypatch.setattr(special, "_scipy_special", lambda: None)
    np.testing.assert_allclose(GELU().forward(x), expected, rtol=4e-15, atol=0.0)
    assert GELU().forward(x.astype(np.float32)).dtype == np.float32


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def test_parameters_are_torchs_and_shown_by_the_op():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([-2.0, 3.0]))
    cg.add_computation_node("a", "leaky_relu", ("x",), negative_slope=0.5)
    cg.add_computation_node("b", "clamp", ("x",), min=-1.0)
    cg.add_computation_node("c", GELU(approximate="tanh"), ("x",))
    np.testing.assert_array_equal(cg.forward("a"), [-1.0, 3.0])
    np.testing.assert_array_equal(cg.forward("b"), [-1.0, 3.0])
    assert repr(cg.operations["b"].op) == "Clip(min=-1.0, max=None)"
    assert repr(cg.operations["c"].op) == "GELU(approximate='tanh')"
    assert cgraph.OPERATIONS["clamp"] is Clip


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        ("softplus", {"beta": 0.0}, "beta must be positive"),
        ("gelu", {"approximate": "erf"}, "approximate must be 'none' or 'tanh'"),
        ("clip", {}, "clip needs a min or a max"),
    ],
)
def test_bad_parameters_are_refused_at_declaration(op, params, message):
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    with pytest.raises(cgraph.InvalidOperationError) as caught:
        cg.add_computation_node("y", op, ("x",), **params)
    assert caught.value.nodes == ("y",)
    assert message in str(caught.value)
    assert "y" not in cg.nodes

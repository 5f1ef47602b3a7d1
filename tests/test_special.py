"""Special functions (log1p, expm1, erf, lgamma, digamma, polygamma): accuracy and scipy's role.

Every op's value and derivatives are already checked in every mode against
finite differences and torch in ``test_ops.py``; this module checks the
digits kept near zero, the poles, the derivatives of every order that the ops
give one another, and what happens without scipy.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import needs_scipy

import cgraph
from cgraph import ComputationalGraph
from cgraph.ops import Digamma, Erf, Expm1, Lgamma, Log1p, Polygamma, special


def _graph(op, x) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_computation_node("y", op, ("x",))
    return cg


@pytest.fixture
def without_scipy(monkeypatch):
    """As if scipy were not installed: the ops' lazy import finds nothing."""
    monkeypatch.setattr(special, "_scipy_special", lambda: None)


# --------------------------------------------------------------------------------------
# log1p and expm1 keep the digits of a small x
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [1e-20, -1e-12, 3e-9])
@pytest.mark.parametrize("op", [Log1p(), Expm1()], ids=repr)
def test_log1p_and_expm1_keep_a_small_x(op, x):
    assert op.forward(x) == pytest.approx(x, rel=1e-8)
    assert op.forward(np.array([x]))[0] == pytest.approx(x, rel=1e-8)


def test_expm1_gradient_is_e_to_the_x_even_where_y_plus_one_cancels():
    cg = _graph("expm1", np.array([-40.0, 0.0]))
    cg.forward("y")
    np.testing.assert_allclose(cg.backward("y")["x"], np.exp([-40.0, 0.0]), rtol=1e-15)


@pytest.mark.parametrize(
    ("op", "x"), [(Log1p(), -1.0), (Log1p(), -2.0), (Expm1(), 1000.0)], ids=str
)
def test_outside_the_domain_a_float_gives_numpys_answer_and_warning(op, x):
    results = []
    for value in (x, np.array(x)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            output = op.forward(value)
        assert type(output) is float
        results.append((output, sorted(str(w.message) for w in caught)))
    (float_output, float_warnings), (array_output, array_warnings) = results
    np.testing.assert_array_equal(float_output, array_output)
    assert float_warnings == array_warnings
    assert float_warnings


# --------------------------------------------------------------------------------------
# erf, with and without scipy
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_erf_without_scipy_is_math_erf_elementwise_in_the_inputs_float_type(without_scipy, dtype):
    x = np.linspace(-4.0, 4.0, 9, dtype=dtype).reshape(3, 3)
    out = Erf().forward(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.vectorize(math.erf)(x).astype(dtype))
    assert Erf().forward(0.5) == math.erf(0.5)
    assert type(Erf().forward(np.array(0.5))) is float


@needs_scipy
def test_erf_with_scipy_agrees_with_math():
    x = np.linspace(-4.0, 4.0, 81)
    np.testing.assert_allclose(Erf().forward(x), [math.erf(v) for v in x], rtol=2e-16, atol=0)


# --------------------------------------------------------------------------------------
# The gamma function's log and its derivatives
# --------------------------------------------------------------------------------------


@needs_scipy
def test_lgamma_is_the_log_of_the_gamma_functions_absolute_value_and_inf_at_poles():
    x = np.array([0.5, 1.0, 2.0, 4.5, -0.5, -2.5])
    np.testing.assert_allclose(
        Lgamma().forward(x), [math.lgamma(v) for v in x], rtol=1e-13, atol=1e-15
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(Lgamma().forward(np.array([0.0, -1.0, -2.0])), np.inf)
        assert Lgamma().forward(-3.0) == math.inf


@needs_scipy
def test_derivatives_of_every_order_are_polygammas():
    from scipy.special import polygamma

    cg = _graph("lgamma", 2.5)
    point = 2.5
    hessian = cg.hessian("y", "x")  # lgamma'' = trigamma
    assert hessian == pytest.approx(float(polygamma(1, point)), rel=1e-14)
    gg = cg.gradient_graph("y", ["x"])  # lgamma' = digamma, as a node
    assert gg.forward("grad/y/x") == pytest.approx(float(polygamma(0, point)), rel=1e-14)
    # polygamma(2)'s Hessian is polygamma(4): each derivative is the next op.
    third = _graph(Polygamma(n=2), point)
    assert third.hessian("y", "x") == pytest.approx(float(polygamma(4, point)), rel=1e-13)


@needs_scipy
@pytest.mark.parametrize("op", [Digamma(), Polygamma(n=1), Polygamma(n=3), Lgamma()], ids=repr)
def test_float32_in_float32_out(op):
    out = op.forward(np.array([0.5, 2.0], dtype=np.float32))
    assert out.dtype == np.float32


@pytest.mark.parametrize("n", [-1, 1.5, True])
def test_polygamma_order_must_be_a_whole_number_from_zero(n):
    with pytest.raises(cgraph.InvalidOperationError, match="order n must be a whole number"):
        Polygamma(n=n)


@needs_scipy
def test_polygamma_of_order_zero_is_digamma():
    x = np.array([0.3, 1.0, 7.5])
    np.testing.assert_array_equal(Polygamma(n=0).forward(x), Digamma().forward(x))


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("digamma", 2.0),
        ("polygamma", 2.0),
        ("lgamma", np.array([2.0, 3.0])),
    ],
)
def test_without_scipy_the_error_names_the_node_and_the_extra_to_install(without_scipy, op, value):
    cg = _graph(op, value)
    with pytest.raises(cgraph.InvalidOperationError) as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes
    assert 'pip install "cgraph[scipy]"' in str(caught.value)
    assert f"{op} needs scipy" in str(caught.value)


def test_lgamma_of_a_float_needs_no_scipy(without_scipy):
    assert Lgamma().forward(0.5) == math.lgamma(0.5)
    assert Lgamma().forward(0.0) == math.inf
    cg = _graph("lgamma", 4.0)
    assert cg.forward("y") == pytest.approx(math.log(6.0), rel=1e-15)
    with pytest.raises(cgraph.InvalidOperationError, match="digamma needs scipy"):
        cg.backward("y")  # lgamma's derivative is digamma, which does need it


@needs_scipy
@pytest.mark.parametrize(
    ("name", "orders"),
    [
        ("erf", ()),
        ("erfc", ()),
        ("gammaln", ()),
        ("psi", ()),
        ("polygamma", (1,)),
        ("polygamma", (2,)),
    ],
)
def test_array_api_formulas_agree_with_scipy_everywhere(name, orders):
    """The formulas arrays other than numpy's and Dask's use (CuPy, array-api-strict), run
    here on numpy: within 1e-11 of scipy over [-30, 30], poles, signed zeros and infinities."""
    import scipy.special

    from cgraph.ops.special import _FORMULAS

    x = np.concatenate([np.linspace(-30.0, 30.0, 6001), [0.0, -0.0, np.inf, -np.inf, np.nan]])
    with np.errstate(all="ignore"):  # at the poles
        np.testing.assert_allclose(
            _FORMULAS[name](np, *orders, x),
            getattr(scipy.special, name)(*orders, x),
            rtol=1e-11,
            atol=1e-300,
            equal_nan=True,
        )

"""The higher-order example prints the numbers its docstring promises.

``examples/newton_rosenbrock.py`` runs once as a subprocess (shared with
tests/test_examples.py through ``run_example``'s cache), which also checks that
it runs cleanly, with nothing on stderr.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_examples import number_after
from test_examples_optim import output  # runs the example once, with nothing on stderr


def test_newton_rosenbrock_prints_the_exact_hessians():
    out = output("newton_rosenbrock.py")
    # f_xx = 2 - 400 (y - x^2) + 800 x^2, f_xy = -400 x, f_yy = 200
    assert "Hessian at the start: [[1330.0, 480.0], [480.0, 200.0]]" in out
    assert "Hessian at (1, 1): [[802.0, -400.0], [-400.0, 200.0]]" in out


def test_newton_converges_in_a_few_dozen_steps_and_gradient_descent_in_thousands():
    out = output("newton_rosenbrock.py")
    newton = number_after("Newton's method:", out)
    descent = number_after("gradient descent:", out)
    assert 5 <= newton <= 50
    assert 1_000 <= descent < 100_000  # converged before the step budget
    assert number_after("Newton's method took", out) == pytest.approx(descent / newton, abs=0.5)
    for method in ("Newton's method", "gradient descent"):
        match = re.search(
            rf"{method}: \d+ steps to \((\S+), (\S+)\), \|gradient\| = (\S+), "
            rf"distance to \(1, 1\) = (\S+)",
            out,
        )
        assert match, out
        x, y, norm, distance = map(float, match.groups())
        assert norm <= 1e-8  # below 1e-8, printed to 3 digits
        assert distance < 1e-6
        assert np.hypot(x - 1, y - 1) == pytest.approx(distance, rel=0.1, abs=1e-9)


def test_saddle_point_solves_grad_l_zero_both_ways_and_is_a_saddle():
    out = output("saddle_point.py")
    x = number_after("subgraph): x =", out)
    y = number_after(f"x = {x:.10f}, y =", out)
    # grad L = 0: y = x / 2 and 2.5 x + cos(x) = 0
    assert y == pytest.approx(x / 2, abs=1e-9)
    assert 2.5 * x + np.cos(x) == pytest.approx(0.0, abs=1e-8)
    assert number_after("largest difference between the two:", out) <= 1e-12
    assert number_after("|grad L| there:", out) <= 1e-8
    assert "(a saddle)" in out
    low = number_after("Hessian eigenvalues there:", out)
    assert low < 0
    assert re.search(r"gradient graph as subgraph\s+\d+\s+[\d.]+ ms\s+[\d.]+ ms", out)
    assert re.search(r"declared node by node\s+\d+\s+[\d.]+ ms\s+[\d.]+ ms", out)

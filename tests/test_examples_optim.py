"""The optimisation examples print the numbers their docstrings promise.

Each runs once as a subprocess (shared with tests/test_examples.py through
``run_example``'s cache); tests/test_examples.py also checks that it runs
cleanly, with nothing on stderr.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from test_examples import ROOT, number_after, run_example


def output(name: str) -> str:
    result = run_example(ROOT / "examples" / name)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return result.stdout


def test_quadratic_minimize_reaches_the_closed_form_after_50_steps():
    out = output("quadratic_minimize.py")
    expected = -200 * (1 - 0.8**50), -4 * (1 - 0.8**50)
    match = re.search(r"final point after 50 steps: x = (\S+), y = (\S+)", out)
    assert match, out
    assert float(match.group(1)) == pytest.approx(expected[0], abs=1e-6)
    assert float(match.group(2)) == pytest.approx(expected[1], abs=1e-6)
    assert number_after("final loss f", out) == pytest.approx(-40016, abs=1e-2)
    assert "nit: 50" in out
    assert "message: 'step budget of 50 steps used'" in out
    assert "exact minimum: x = -200, y = -4, f = -40016" in out


def test_rosenbrock_adam_within_1e_3_and_lbfgsb_within_1e_6_in_far_fewer_steps():
    out = output("rosenbrock.py")
    assert number_after("Adam: distance to (1, 1)", out) < 1e-3
    assert number_after("L-BFGS-B: distance to (1, 1)", out) < 1e-6
    adam_steps = number_after("Adam steps:", out)
    lbfgs_steps = number_after("L-BFGS-B steps:", out)
    assert lbfgs_steps * 10 < adam_steps
    assert number_after("L-BFGS-B took", out) == pytest.approx(adam_steps / lbfgs_steps, abs=1)


def test_line_fit_agrees_with_lstsq():
    out = output("line_fit.py")
    exact = number_after("np.linalg.lstsq: w", out), number_after("b", out.split("lstsq: w")[1])
    for name, tolerance in (
        ("Nesterov momentum", 1e-9),
        ("L-BFGS-B", 1e-7),
        ("mini-batch Adam", 1e-2),
    ):
        line = next(line for line in out.splitlines() if line.startswith(f"{name}:"))
        fitted = number_after("w", line), number_after("b", line)
        np.testing.assert_allclose(fitted, exact, atol=tolerance, err_msg=name)
        assert number_after("difference from lstsq", line) < tolerance


@pytest.mark.parametrize("name", ["quadratic_minimize.py", "rosenbrock.py", "line_fit.py"])
def test_examples_save_their_plots(name, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "plot.png"
    result = subprocess.run(
        [sys.executable, f"examples/{name}", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"saved to {target}" in result.stdout
    assert target.stat().st_size > 10_000

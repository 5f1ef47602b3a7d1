"""Run every script in ``examples/`` and check the numbers it prints.

Each example runs as a subprocess, as a user would run it
(``python examples/NAME.py`` from the repository root). A new example is
picked up by the glob; its key printed numbers must be checked, either by
``CHECKS`` below or by a ``tests/test_examples_*.py`` module of its topic.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT_SECONDS = 60


@functools.cache
def run_example(path: Path) -> subprocess.CompletedProcess[str]:
    """Run one example once per test session and keep its output.

    Parameters
    ----------
    path : Path
        The example script.

    Returns
    -------
    subprocess.CompletedProcess
        With ``stdout`` and ``stderr`` as text.
    """
    return subprocess.run(
        [sys.executable, str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def number_after(label: str, text: str) -> float:
    """The number printed right after ``label`` (and optional spaces and '=').

    Parameters
    ----------
    label : str
        Literal text that precedes the number.
    text : str
        The output to search.

    Returns
    -------
    float
        The first number after the first occurrence of ``label``.
    """
    match = re.search(re.escape(label) + r"\s*=?\s*(-?\d+(?:\.\d*)?(?:e[-+]?\d+)?)", text)
    assert match, f"no number after {label!r} in:\n{text}"
    return float(match.group(1))


# ------------------------------------------------------------------------------------------
# What each known example must print
# ------------------------------------------------------------------------------------------


def check_sigmoid_from_primitives(out: str) -> None:
    assert number_after("s(0)", out) == 0.5
    assert number_after("ds/dz (0)", out) == 0.25
    assert number_after("central differences: ds/dz", out) == pytest.approx(0.25, abs=1e-9)
    assert "gradcheck(cg, 's') -> True" in out
    assert "built-in Sigmoid: s(0) = 0.5, ds/dz = 0.25" in out


def check_classic_fxy(out: str) -> None:
    assert "f(2, -4) = 0.41345423252018193" in out
    assert "df/dx    = 0.5348320870757595" in out
    assert "df/dy    = 0.342460382923052" in out
    # The summary lists every node by name, with its value and gradient.
    for name in ("x", "y", "sigy", "num", "sigx", "xpy", "sq", "denom", "f"):
        assert re.search(rf"^{name}\s", out, re.MULTILINE), f"no summary row for {name!r}"
    assert re.search(r"^sigx\s+sigmoid\s+x\s+\(\)\s+0\.880797\s+-0\.0847104$", out, re.MULTILINE)
    assert number_after("central differences: df/dx", out) == pytest.approx(
        0.5348320870757595, abs=1e-8
    )
    assert "gradcheck(cg, 'f') -> True" in out


def check_linear_model_loss(out: str) -> None:
    assert number_after("loss", out) == 9.0
    assert number_after("dL/dw0", out) == -6.0
    assert number_after("dL/dw1", out) == -18.0
    assert "get_gradient('x') raises NoGradientError" in out
    assert "gradcheck(cg, 'loss') -> True" in out


def check_gradient_descent(out: str) -> None:
    # 50 steps of x <- x - 0.1 (2 x + 400), y <- y - 0.1 (2 y + 8), from (0, 0).
    x = y = 0.0
    for _ in range(50):
        x, y = x - 0.1 * (2 * x + 400), y - 0.1 * (2 * y + 8)
    match = re.search(r"final point after 50 steps: x = (\S+), y = (\S+)", out)
    assert match, out
    final_x, final_y = float(match.group(1)), float(match.group(2))
    assert final_x == pytest.approx(x, abs=1e-3)
    assert final_y == pytest.approx(y, abs=1e-3)
    assert (final_x, final_y) == pytest.approx((-200.0, -4.0), abs=1e-2)
    # The loss is printed every 10 steps, and it decreases.
    losses = [float(v) for v in re.findall(r"^step\s+\d+: f =\s+(\S+)", out, re.MULTILINE)]
    assert len(losses) == 6
    assert losses == sorted(losses, reverse=True)
    assert "exact minimum: x = -200, y = -4, f = -40016" in out


def check_custom_op(out: str) -> None:
    assert "gradcheck(cg, 'f') -> True" in out
    assert "gradcheck(arrays, 'd') -> True" in out
    assert number_after("f = ", out) == pytest.approx(1.2640320125, abs=1e-9)
    assert number_after("df/dx", out) == pytest.approx(number_after("by hand: df/dx", out))
    assert "a wrong rule fails gradcheck" in out


def check_broadcasting(out: str) -> None:
    shapes = dict(re.findall(r"^(\w+)\s+\([\d, ]*\)\s+(\([\d, ]*\))$", out, re.MULTILINE))
    assert shapes == {
        "w": "(3,)",
        "b": "()",
        "wx": "(4, 3)",
        "y": "(4, 3)",
        "r": "(4, 3)",
        "terms": "(4, 3)",
    }
    assert number_after("dL/db", out) == pytest.approx(number_after("sum of 2 r / 12:", out))
    assert "gradcheck(cg, 'terms') -> True" in out


CHECKS: dict[str, Callable[[str], None]] = {
    "sigmoid_from_primitives": check_sigmoid_from_primitives,
    "classic_fxy": check_classic_fxy,
    "linear_model_loss": check_linear_model_loss,
    "gradient_descent": check_gradient_descent,
    "custom_op": check_custom_op,
    "broadcasting": check_broadcasting,
}


# ------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------


def test_known_examples_exist():
    assert set(CHECKS) <= {path.stem for path in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_cleanly(path):
    result = run_example(path)
    assert result.returncode == 0, f"{path.name} failed:\n{result.stderr}"
    assert result.stderr == "", f"{path.name} wrote to stderr (a warning?):\n{result.stderr}"
    assert result.stdout.strip(), f"{path.name} printed nothing"


#: Test modules that check the numbers of the examples of one topic each.
TOPIC_TESTS = sorted(Path(__file__).parent.glob("test_examples_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_has_its_numbers_checked(path):
    elsewhere = [test.name for test in TOPIC_TESTS if path.name in test.read_text("utf-8")]
    assert path.stem in CHECKS or elsewhere, (
        f"nothing checks what {path.name} prints: add a check to CHECKS here or to a "
        "tests/test_examples_*.py module"
    )


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_prints_expected_numbers(name):
    path = ROOT / "examples" / f"{name}.py"
    result = run_example(path)
    assert result.returncode == 0, f"{path.name} failed:\n{result.stderr}"
    CHECKS[name](result.stdout)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_example_has_docstring(path):
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.name} has no module docstring"
    assert f"python examples/{path.name}" in docstring, (
        f"{path.name}'s docstring should say how to run it"
    )

"""The loop examples print the numbers their docstrings promise.

``examples/rk4_ode.py`` and ``examples/rnn_loop.py`` run once each as a
subprocess (shared with tests/test_examples.py through ``run_example``'s
cache), which also checks that they run cleanly, with nothing on stderr.
Times are printed, never checked.
"""

from __future__ import annotations

import re

import pytest
from test_examples import number_after
from test_examples_optim import output


def table_nodes(out: str, label: str) -> int:
    match = re.search(rf"^{label}\s+(\d+)\s+[\d.]+ms\s+[\d.]+ms\s+[\d.]+ms$", out, re.MULTILINE)
    assert match, f"no timing row for {label!r} in:\n{out}"
    return int(match.group(1))


def test_rk4_loop_matches_the_exact_solution_and_its_gradient_the_differences():
    out = output("rk4_ode.py")
    assert number_after("x(T) by the loop", out) == pytest.approx(
        number_after("x(T) exact", out), abs=1e-7
    )  # RK4's error, of order dt^4
    backward = number_after("dx(T)/dc by backward", out)
    assert number_after("dx(T)/dc by jvp", out) == pytest.approx(backward, abs=1e-9)
    assert number_after("central differences", out) == pytest.approx(backward, abs=1e-8)
    assert number_after("of the exact solution", out) == pytest.approx(backward, abs=1e-6)
    assert number_after("two forms (x(T), dx/dc, dx/dx0) =", out) <= 1e-12
    assert table_nodes(out, "loop") == 6  # five inputs and the loop
    assert table_nodes(out, "node by node") > 500 * 40


def test_rnn_loop_gives_the_unrolled_numbers_with_one_node():
    out = output("rnn_loop.py")
    assert number_after("loss by the loop", out) == pytest.approx(
        number_after("loss node by node", out), abs=1e-12
    )
    assert number_after("largest gradient difference =", out) <= 1e-12
    assert "stacked hidden states H: shape (500, 8)" in out
    match = re.search(r"by backward = (\S+)\ncentral differences\s+= (\S+)", out)
    assert match, out
    assert float(match.group(1)) == pytest.approx(float(match.group(2)), rel=1e-5)
    assert table_nodes(out, "loop") == 20
    assert table_nodes(out, "node by node") > 500 * 25

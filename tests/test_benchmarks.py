"""Smoke test of benchmarks/: every script runs with ``--quick`` and prints its tables.

Nothing here asserts a timing: a quick run on a busy test machine measures
nothing. The scripts themselves check that their contenders agree.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

# Every benchmark compares cgraph with micrograd and torch: the whole module needs both.
BENCH_EXTRA = "the benchmarks compare with micrograd and torch: pip install -e '.[bench]'"
pytest.importorskip("micrograd", reason=BENCH_EXTRA)
pytest.importorskip("torch", reason=BENCH_EXTRA)

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))


def test_the_benchmarks_are_there():
    names = {script.name for script in SCRIPTS}
    assert {
        "bench_fxy.py",
        "bench_random_dag.py",
        "bench_declare.py",
        "bench_chain.py",
        "bench_mlp.py",
        "bench_jacobian.py",
        "bench_hvp.py",
    } <= names


def test_run_all_lists_every_benchmark():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert run_all.unlisted(BENCHMARKS) == []
    assert not set(run_all.BENCHMARKS) & set(run_all.RUN_ALONE)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.stem)
def test_quick_run_succeeds_and_prints_tables(script):
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\| (contender|measurement) +\|", result.stdout, re.MULTILINE)
    assert re.search(r"^\| target +\| measured +\| goal +\| met +\|", result.stdout, re.MULTILINE)
    assert re.search(r"^\| -+ \|", result.stdout, re.MULTILINE)

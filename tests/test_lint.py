"""Run ruff over the repository, so that ``pytest`` alone checks the style too.

Both its lint (``ruff check``) and its formatter (``ruff format --check``: the
code is as ``ruff format .`` leaves it). The rules are those of ``[tool.ruff]``
in pyproject.toml. Skipped when ruff
is not installed (it comes with the ``test`` extra).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_passes():
    pytest.importorskip("ruff")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_ruff_format_leaves_every_file_as_it_is():
    pytest.importorskip("ruff")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"ruff format would change these files (run `ruff format .`):\n{result.stdout}"
        f"{result.stderr}"
    )

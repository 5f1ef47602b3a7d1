"""mypy is clean on cgraph/, under the configuration in pyproject.toml ([tool.mypy]).

cgraph ships ``py.typed``, so a user's type checker reads these hints as they are:
an error here is a wrong type a user would see. tests/test_packaging.py checks that
the installed wheel gives a user's mypy those types.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: mypy's line for one error: ``path:line: error: message  [code]``.
ERROR_LINE = re.compile(r"^(?P<path>[^:\s]+\.py):(?P<line>\d+): error: ")


def run_mypy(*arguments: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """mypy in this interpreter, with its cache outside the checkout."""
    pytest.importorskip("mypy", reason="mypy checks the types: pip install -e '.[test]'")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def error_lines(output: str) -> list[str]:
    """mypy's error lines in ``output``, without its notes and summary.

    Examples
    --------
    >>> error_lines("a.py:3: error: No  [x]\\na.py:3: note: see\\nFound 1 error in 1 file")
    ['a.py:3: error: No  [x]']
    """
    return [line for line in output.splitlines() if ERROR_LINE.match(line)]


@pytest.mark.slow  # about 10 s, on one core
def test_mypy_finds_no_error_in_cgraph(tmp_path):
    # No file argument: [tool.mypy] `files` says what to check, as a plain `mypy` does.
    result = run_mypy(cwd=ROOT, cache=tmp_path / "cache")
    errors = error_lines(result.stdout)
    assert not errors, f"mypy finds {len(errors)} error(s) in cgraph/:\n" + "\n".join(errors)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every module was checked: none was left out by the configuration or a bad import.
    modules = len(list((ROOT / "cgraph").rglob("*.py")))
    assert f"Success: no issues found in {modules} source files" in result.stdout

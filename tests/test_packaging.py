"""The distribution: one version, an SPDX licence, type hints shipped, an sdist that tests itself.

The build tests copy the project to a temporary folder and build there with
setuptools' own backend (no network, no build isolation), so that the
checkout gets no ``build/`` or ``*.egg-info`` of theirs.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import cgraph

ROOT = Path(__file__).resolve().parent.parent
#: What the sdist must carry besides the package, for its suite to run as a checkout's does.
SHIPPED_DIRECTORIES = ("tests", "examples", "notebooks", "benchmarks")
#: Builds the sdist, unpacks it and builds the wheel from the unpacked sdist, as pip would.
BUILD_SCRIPT = """
import os, sys, tarfile
from pathlib import Path
from setuptools import build_meta
out = Path(sys.argv[1])
sdist = out / build_meta.build_sdist(str(out))
safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
with tarfile.open(sdist) as archive:
    archive.extractall(out / "unpacked", **safe)
os.chdir(next((out / "unpacked").iterdir()))
wheel = out / build_meta.build_wheel(str(out))
print(f"\\nbuilt {sdist}\\nbuilt {wheel}")  # after setuptools' own messages on stdout
"""


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_is_a_release_number_and_the_installed_one():
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", cgraph.__version__)
    assert importlib.metadata.version("cgraph") == cgraph.__version__


def test_the_version_is_written_only_in_cgraph():
    project = pyproject()
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cgraph.__version__"}


def test_licence_is_spdx_mit_with_its_file():
    project = pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the cgraph developers\n")
    assert "Python :: 3.10" in " ".join(project["classifiers"])
    assert set(project["urls"]) == {"Homepage", "Documentation", "Source", "Issues"}


def test_setuptools_requirement_reads_spdx_licences():
    # setuptools reads `license = "MIT"` and `license-files` from 77 on (PEP 639).
    assert pyproject()["build-system"]["requires"] == ["setuptools>=77"]


def test_test_extra_brings_pytest_xdist_for_addopts():
    project = pyproject()
    assert "-n auto" in project["tool"]["pytest"]["ini_options"]["addopts"]
    test_extra = project["project"]["optional-dependencies"]["test"]
    assert any(requirement.startswith("pytest-xdist") for requirement in test_extra)


def _copy_of_the_project(destination: Path) -> Path:
    ignored = shutil.ignore_patterns(".git", ".venv", ".hypothesis", "__pycache__", "*.pyc",
                                     "build", "dist", "*.egg-info", ".pytest_cache", ".ruff_cache")
    return Path(shutil.copytree(ROOT, destination / "project", ignore=ignored))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """The sdist of a copy of the project and the wheel built from that sdist."""
    pytest.importorskip("setuptools", minversion="77", reason="the build needs setuptools>=77")
    folder = tmp_path_factory.mktemp("dist")
    project = _copy_of_the_project(folder)
    out = folder / "out"
    out.mkdir()
    result = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, str(out)], cwd=project,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    sdist, wheel = (line.removeprefix("built ") for line in result.stdout.splitlines()[-2:])
    return Path(sdist), Path(wheel)


def test_wheel_ships_py_typed_and_the_licence_but_not_the_tests(built):
    _, wheel = built
    names = zipfile.ZipFile(wheel).namelist()
    assert "cgraph/py.typed" in names
    assert f"cgraph-{cgraph.__version__}.dist-info/licenses/LICENSE" in names
    assert not [name for name in names if name.startswith(("tests/", "examples/"))]


def test_sdist_carries_the_suite_and_everything_it_runs(built):
    sdist, _ = built
    prefix = f"cgraph-{cgraph.__version__}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    expected = {"LICENSE", "README.md", "pyproject.toml", "cgraph/py.typed", ".ci/run"}
    for directory in SHIPPED_DIRECTORIES:
        expected |= {path.relative_to(ROOT).as_posix() for path in (ROOT / directory).iterdir()
                     if path.is_file() and path.suffix in {".py", ".ipynb", ".md"}}
    assert expected - names == set()
    assert not [name for name in names if name.endswith(".pyc")]

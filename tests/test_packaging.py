"""The distribution: one version, an SPDX licence, type hints shipped, an sdist that tests itself.

The build tests copy the project to a temporary folder and build there with
setuptools' own backend (no network, no build isolation), so that the
checkout gets no ``build/`` or ``*.egg-info`` of theirs.
"""

from __future__ import annotations

import email
import importlib.metadata
import os
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
#: What the sdist must carry besides the package, for its suite to run as a checkout's does
#: (tests/test_site.py builds the site from docs/ and mkdocs.yml).
SHIPPED_DIRECTORIES = ("tests", "examples", "notebooks", "benchmarks", "docs")
SHIPPED_FILES = ("LICENSE", "README.md", "pyproject.toml", "MANIFEST.in", ".ci/run", "mkdocs.yml")
#: Left on disk by running the suite, never shipped: compiled files, hypothesis's examples.
NOT_SHIPPED = re.compile(r"(^|/)(\.hypothesis|__pycache__)(/|$)|\.pyc$")
#: The Python versions the classifiers name: requires-python's 3.10 up to the newest CI runs.
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
#: Classifiers a user filters PyPI by; the licence is the SPDX `license` field (PEP 639).
CLASSIFIERS = (
    "Operating System :: OS Independent",
    "Topic :: Scientific/Engineering :: Mathematics",
    "Typing :: Typed",
    *(f"Programming Language :: Python :: {version}" for version in PYTHONS),
)
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
    written = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "cgraph").rglob("*.py"))
        if re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert written == ["cgraph/__init__.py"]


def test_licence_is_spdx_mit_with_its_file():
    project = pyproject()["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the cgraph developers\n")
    assert "Permission is hereby granted, free of charge" in text


def test_classifiers_name_each_python_and_no_licence():
    project = pyproject()["project"]
    classifiers = project["classifiers"]
    assert set(CLASSIFIERS) <= set(classifiers), set(CLASSIFIERS) - set(classifiers)
    named = {
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert named == set(PYTHONS)
    assert project["requires-python"] == f">={PYTHONS[0]}"
    # The core suite's CI runs on these; the README's command on the default python3.
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert set(re.search(r"OTHER_PYTHONS=\((.*)\)", ci)[1].split()) <= set(PYTHONS)
    # PEP 639: a licence classifier beside an SPDX `license` is refused by setuptools.
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert len(set(classifiers)) == len(classifiers)


def test_project_urls_are_https_and_of_one_repository():
    urls = pyproject()["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(url.startswith("https://github.com/cgraph-dev/cgraph") for url in urls.values())


def test_setuptools_requirement_reads_spdx_licences():
    # setuptools reads `license = "MIT"` and `license-files` from 77 on (PEP 639).
    system = pyproject()["build-system"]
    assert system["requires"] == ["setuptools>=77"]
    assert system["build-backend"] == "setuptools.build_meta"


def test_test_extra_brings_pytest_xdist_for_addopts_and_mypy_for_test_types():
    project = pyproject()
    assert "-n auto" in project["tool"]["pytest"]["ini_options"]["addopts"]
    test_extra = project["project"]["optional-dependencies"]["test"]
    assert any(requirement.startswith("pytest-xdist") for requirement in test_extra)
    # Pinned: a newer mypy finds other errors, and tests/test_types.py would fail on its own.
    assert any(re.fullmatch(r"mypy==[\d.]+", requirement) for requirement in test_extra)


def test_mypy_is_configured_in_pyproject_for_cgraph():
    mypy = pyproject()["tool"]["mypy"]
    assert mypy["files"] == ["cgraph"]
    for option in ("disallow_untyped_defs", "check_untyped_defs", "warn_unused_ignores"):
        assert mypy[option] is True, option


def _copy_of_the_project(destination: Path) -> Path:
    # Caches and compiled files are copied on purpose: MANIFEST.in must keep them out.
    ignored = shutil.ignore_patterns(
        ".git",
        ".venv",
        ".ci-venv-*",
        "build",
        "dist",
        "*.egg-info",
        ".ruff_cache",
        ".mypy_cache",
        "site",
    )
    return Path(shutil.copytree(ROOT, destination / "project", ignore=ignored))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, str]:
    """The sdist of a copy of the project, the wheel built from that sdist, and what it printed."""
    pytest.importorskip("setuptools", minversion="77", reason="the build needs setuptools>=77")
    folder = tmp_path_factory.mktemp("dist")
    project = _copy_of_the_project(folder)
    out = folder / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", BUILD_SCRIPT, str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sdist, wheel = (line.removeprefix("built ") for line in result.stdout.splitlines()[-2:])
    return Path(sdist), Path(wheel), result.stdout + result.stderr


def test_the_build_warns_of_nothing(built):
    # setuptools' deprecations (e.g. of a `license = {text = ...}` table) print on stderr.
    *_, output = built
    warnings = [
        line
        for line in output.splitlines()
        if re.search(r"Warning|deprecat|warning: (?!(build_py|install_lib): byte)", line)
    ]
    assert not warnings, "\n".join(warnings)


def test_wheel_metadata_has_the_licence_expression_classifiers_and_urls(built):
    _, wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.message_from_bytes(
            archive.read(f"cgraph-{cgraph.__version__}.dist-info/METADATA")
        )
    project = pyproject()["project"]
    assert metadata["Version"] == cgraph.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == project["requires-python"]
    assert metadata.get_all("Classifier") == project["classifiers"]
    assert len(metadata.get_all("Project-URL")) == len(project["urls"])


def test_wheel_ships_py_typed_and_the_licence_but_not_the_tests(built):
    _, wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    assert "cgraph/py.typed" in names
    assert f"cgraph-{cgraph.__version__}.dist-info/licenses/LICENSE" in names
    assert not [name for name in names if name.startswith(("tests/", "examples/", "docs/"))]
    assert not [name for name in names if NOT_SHIPPED.search(name)]


def _users_mypy(site: Path, folder: Path) -> list[str]:
    """What a user's mypy says of a script using cgraph installed (unpacked) in ``site``."""
    pytest.importorskip("mypy", reason="mypy checks the types: pip install -e '.[test]'")
    script = folder / "user.py"
    script.write_text("import cgraph\n\nreveal_type(cgraph.__version__)\n", encoding="utf-8")
    # Out of the checkout, so that only `site` holds cgraph; sys.path entries are read as
    # installed packages (PEP 561): without py.typed, mypy skips them.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--cache-dir",
            str(folder / "cache"),
            "--config-file",
            str(folder / "none.toml"),
            script.name,
        ],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(site), "MYPYPATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.stdout.splitlines()


@pytest.mark.slow  # mypy checks the installed cgraph: about 10 s
def test_a_users_mypy_reads_the_installed_wheels_types(built, tmp_path):
    _, wheel, _ = built
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    (tmp_path / "none.toml").write_text("", encoding="utf-8")  # mypy's defaults, as a user's
    said = _users_mypy(site, tmp_path)
    assert re.search(r'user.py:3: note: Revealed type is "(builtins\.)?str"', "\n".join(said)), said
    assert not [line for line in said if "error:" in line], said
    # Without py.typed, the same check sees no types: the assertion above can fail.
    (site / "cgraph" / "py.typed").unlink()
    said = _users_mypy(site, tmp_path)
    assert any("missing library stubs or py.typed marker" in line for line in said), said
    assert 'user.py:3: note: Revealed type is "Any"' in said, said


def test_sdist_carries_the_suite_and_everything_it_runs(built):
    sdist, _, _ = built
    prefix = f"cgraph-{cgraph.__version__}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    expected = {"cgraph/py.typed"} | {name for name in SHIPPED_FILES if (ROOT / name).exists()}
    for directory in SHIPPED_DIRECTORIES:
        expected |= {
            path.relative_to(ROOT).as_posix()
            for path in (ROOT / directory).rglob("*")
            if path.is_file()
            and path.suffix in {".py", ".ipynb", ".md"}
            and not NOT_SHIPPED.search(path.relative_to(ROOT).as_posix())
        }
    assert expected - names == set()
    assert not [name for name in names if NOT_SHIPPED.search(name)]


def test_manifest_says_how_the_sdist_runs_its_tests():
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    assert 'pip install -e ".[test]" && .venv/bin/python -m pytest' in manifest
    assert set(re.findall(r"^graft (\S+)$", manifest, re.MULTILINE)) == set(SHIPPED_DIRECTORIES)

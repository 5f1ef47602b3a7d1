"""The documentation site (mkdocs.yml, docs/): it builds strictly, and its pages stay true.

- ``mkdocs build --strict`` passes: no broken link or cross-reference, no page left out
  of the navigation, every API entry found (skipped where the docs extra is missing).
- Every ```python block of every page runs and prints the ```text block after it.
- The generated pages (docs/hooks/generate.py) list every registered op with its
  docstring's derivative, and every error of ``cgraph.errors``; the hook refuses an op
  the operations page does not place, and a link to a file that does not exist.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time

import pytest
from markdown_snippets import (
    ROOT,
    RUN_MAIN_EXAMPLE,
    RUN_TEST_SUITE,
    Page,
    check_imports_cgraph_first,
    check_runs_and_prints_what_is_shown,
)

import cgraph
import cgraph.errors
import cgraph.ops

DOCS = ROOT / "docs"
PAGES = [Page.read(path) for path in sorted(DOCS.rglob("*.md"))]
PYTHON_BLOCKS = [(page, block) for page in PAGES for block in page.python_blocks]
BLOCK_IDS = [f"{page.path.stem}-line{block.line}" for page, block in PYTHON_BLOCKS]
BUILD_TIMEOUT_SECONDS = 300
REPO_URL = "https://github.com/cgraph-dev/cgraph"


def _load_hook():
    """docs/hooks/generate.py as a module (it is not in a package); needs no MkDocs."""
    path = DOCS / "hooks" / "generate.py"
    spec = importlib.util.spec_from_file_location("docs_hook_generate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load_hook()


def rendered(name: str) -> str:
    """The Markdown of docs/``name`` as the site shows it, generated parts included."""
    path = DOCS / name
    return hook.render(path.read_text(encoding="utf-8"), path, REPO_URL)


# ------------------------------------------------------------------------------------------
# The site builds, strictly
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("the site needs the docs extra: pip install -e '.[docs]'")
    site = tmp_path / "site"
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's notice, not a warning
    )
    seconds = time.perf_counter() - began
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    print(f"mkdocs build --strict took {seconds:.1f} s")
    # The generated tables reached the pages, linked to the API reference.
    operations = (site / "operations" / "index.html").read_text(encoding="utf-8")
    assert 'href="../api/ops/#cgraph.ops.Sigmoid"' in operations
    errors = (site / "errors" / "index.html").read_text(encoding="utf-8")
    assert 'href="../api/errors/#cgraph.errors.ShapeError"' in errors
    api = (site / "api" / "graph" / "index.html").read_text(encoding="utf-8")
    assert 'id="cgraph.ComputationalGraph.backward"' in api
    # The docstrings' reST roles (:class:`X`) were made code, not shown as they are.
    for page in (site / "api").rglob("*.html"):
        assert not hook.ROLE.search(page.read_text(encoding="utf-8")), page


# ------------------------------------------------------------------------------------------
# Every python block of every page runs and prints what the page shows
# ------------------------------------------------------------------------------------------


def test_pages_have_python_blocks():
    assert len(PYTHON_BLOCKS) >= 20
    without = [page.name for page in PAGES if not page.python_blocks]
    assert not {
        "docs/index.md",
        "docs/getting-started.md",
        "docs/concepts.md",
        "docs/operations.md",
        "docs/errors.md",
    } & set(without)


@pytest.mark.parametrize(("page", "block"), PYTHON_BLOCKS, ids=BLOCK_IDS)
def test_python_block_imports_cgraph_first(page, block):
    check_imports_cgraph_first(page, block)


@pytest.mark.parametrize(("page", "block"), PYTHON_BLOCKS, ids=BLOCK_IDS)
def test_python_block_runs(page, block, tmp_path):
    check_runs_and_prints_what_is_shown(page, block, tmp_path)


def test_getting_started_gives_the_readmes_commands():
    page = next(page for page in PAGES if page.path.name == "getting-started.md")
    commands = [block.code.strip() for block in page.blocks if block.language == "sh"]
    assert commands[:2] == [RUN_MAIN_EXAMPLE, RUN_TEST_SUITE]


# ------------------------------------------------------------------------------------------
# The generated operations page: every op once, its derivative from its docstring
# ------------------------------------------------------------------------------------------

BUILT_IN_OPS = [getattr(cgraph.ops, name) for name in cgraph.ops.__all__]
BUILT_IN_NAMES = sorted(name for cls in BUILT_IN_OPS for name in (cls.name, *cls.aliases))


@pytest.mark.parametrize("name", BUILT_IN_NAMES)
def test_operations_page_lists_registered_name(name):
    assert f"`{name}`" in rendered("operations.md"), f"the operations page does not list {name!r}"


@pytest.mark.parametrize("cls", BUILT_IN_OPS, ids=lambda cls: cls.__name__)
def test_operations_row_is_the_docstrings_summary(cls):
    summary = hook.summary(cls)
    assert hook.DERIVATIVE.search(summary), f"{cls.__name__}'s summary gives no derivative"
    row = next(
        line
        for line in rendered("operations.md").splitlines()
        if line.startswith(f"| [`{cls.__name__}`]")
    )
    assert hook.cell(summary) in row


def test_operations_page_source_holds_no_table():
    # The derivatives live in the docstrings; a table typed into the page would copy them.
    source = (DOCS / "operations.md").read_text(encoding="utf-8")
    assert not re.search(r"^\|", source, re.MULTILINE), "a hand-written table in operations.md"


def test_an_op_left_off_the_page_fails_the_build():
    source = (DOCS / "operations.md").read_text(encoding="utf-8")
    left_off = source.replace(" Sigmoid ", " ", 1)
    with pytest.raises(ValueError, match=r"in none: \['Sigmoid'\]"):
        hook.render_operations(left_off)
    twice = source + "\n<!-- operations: Sigmoid -->\n"
    with pytest.raises(ValueError, match=r"in more than one: \['Sigmoid'\]"):
        hook.render_operations(twice)
    with pytest.raises(ValueError, match=r"'Sigmoidal' is not in cgraph\.ops\.__all__"):
        hook.operations_table(["Sigmoidal"])


def test_docstring_roles_become_links():
    html = ":class:<code>cgraph.GraphError</code> or :meth:<code>~cgraph.Node.x</code>"
    assert hook.link_roles(html) == (
        '<autoref identifier="cgraph.GraphError" optional><code>cgraph.GraphError</code>'
        '</autoref> or <autoref identifier="cgraph.Node.x" optional><code>x</code></autoref>'
    )


def test_docstring_markup_becomes_markdown():
    assert hook.to_markdown("a :class:`KeyError`, ``axis``\n  and more") == (
        "a `KeyError`, `axis` and more"
    )
    assert hook.cell("y = |x|") == r"y = \|x\|"


# ------------------------------------------------------------------------------------------
# The generated errors page, and the benchmarks' targets
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", cgraph.errors.__all__)
def test_errors_page_lists_error(name):
    cls = getattr(cgraph.errors, name)
    row = next(
        line for line in rendered("errors.md").splitlines() if line.startswith(f"| [`{name}`]")
    )
    assert hook.cell(hook.description(cls)[0]) in row
    also = row.split("|")[2]
    assert set(re.findall(r"`(\w+)`", also)) == {
        base.__name__ for base in cls.__bases__ if base.__module__ == "builtins"
    }
    assert ("`KeyError`" in also) == issubclass(cls, KeyError), row


def test_performance_page_shows_every_benchmark_target():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    targets = re.findall(r"^\|.*\| (?:yes|no|\*\*no\*\*) +\|$", results, re.MULTILINE)
    table = hook.benchmarks_table(results)
    assert len(targets) >= 10
    assert len(table.splitlines()) == 2 + len(targets)
    assert "<!-- benchmarks -->" not in rendered("performance.md")


# ------------------------------------------------------------------------------------------
# Links to the repository's files
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_page_renders_with_its_links(page):
    # Raises on a link to a file that is not in the repository.
    text = hook.render(page.text, page.path, REPO_URL)
    for link in re.findall(r"\]\(([^)#\s]+)", text):
        if not re.match(r"\w+://", link):
            target = (page.path.parent / link).resolve()
            assert DOCS in target.parents, f"{page.name}: {link} left pointing out of docs/"


def test_a_link_to_a_missing_file_fails_the_build():
    page = DOCS / "concepts.md"
    assert "blob/main/examples/custom_op.py)" in hook.render(
        "[x](../examples/custom_op.py)", page, REPO_URL
    )
    assert "tree/main/examples)" in hook.render("[x](../examples)", page, REPO_URL)
    with pytest.raises(ValueError, match="not in the repository"):
        hook.render("[x](../examples/no_such_example.py)", page, REPO_URL)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_page_links_every_example(path):
    assert f"(../examples/{path.name})" in (DOCS / "examples.md").read_text(encoding="utf-8")


def _undocumented(): ...


@pytest.fixture
def undocumented_module(monkeypatch):
    """A module ``tests_site_undocumented`` with a function ``f`` that has no docstring."""
    module = type(sys)("tests_site_undocumented")
    module.__doc__ = "A module made by the test."
    module.f = _undocumented
    monkeypatch.setitem(sys.modules, "tests_site_undocumented", module)


def test_an_api_entry_without_a_docstring_fails_the_build(undocumented_module):
    page = DOCS / "api" / "x.md"
    hook.check_api_entries("::: cgraph.ComputationalGraph\n::: cgraph.OPERATIONS\n", page)
    with pytest.raises(ValueError, match=r"cgraph\.nope"):
        hook.check_api_entries("::: cgraph.nope\n", page)
    with pytest.raises(ValueError, match="has no docstring"):
        hook.check_api_entries("::: tests_site_undocumented.f\n", page)

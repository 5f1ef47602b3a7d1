"""Keep README.md true and short: its commands, its snippets and their output, its links.

The manual is the documentation site (docs/, checked by tests/test_site.py); the README
says what cgraph is, how to set it up and run it, shows one example and links into the
docs. Running its blocks is shared with the site's tests (tests/markdown_snippets.py).
"""

from __future__ import annotations

import re

import pytest
from markdown_snippets import (
    ROOT,
    RUN_MAIN_EXAMPLE,
    RUN_TEST_SUITE,
    Page,
    check_imports_cgraph_first,
    check_runs_and_prints_what_is_shown,
    github_anchor,
    headings,
)

README = Page.read(ROOT / "README.md")
DOCS = ROOT / "docs"
MAX_LINES = 200

# ------------------------------------------------------------------------------------------
# The two commands come first
# ------------------------------------------------------------------------------------------


def test_first_two_blocks_are_the_commands():
    assert len(README.blocks) >= 2
    assert README.blocks[0].code.strip() == RUN_MAIN_EXAMPLE
    assert README.blocks[1].code.strip() == RUN_TEST_SUITE


def test_commands_follow_the_title_and_one_paragraph():
    first, second = README.blocks[:2]
    title, *paragraphs = [part for part in README.text[: first.start].split("\n\n") if part.strip()]
    assert re.fullmatch(r"# \S.*", title.strip()), title
    assert len(paragraphs) == 1, f"expected one paragraph before the commands: {paragraphs}"
    assert not README.text[first.end : second.start].strip(), "text between the two commands"


def test_main_example_exists():
    script = RUN_MAIN_EXAMPLE.rsplit(" ", 1)[-1]
    assert (ROOT / script).is_file(), script


def test_readme_is_short():
    lines = README.text.count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; the manual belongs in docs/"


# ------------------------------------------------------------------------------------------
# Every python snippet runs, and prints what the README shows
# ------------------------------------------------------------------------------------------


def test_readme_has_the_30_second_example():
    assert len(README.python_blocks) >= 1
    assert any(README.output_after(block) for block in README.python_blocks)


@pytest.mark.parametrize("block", README.python_blocks, ids=lambda block: f"line{block.line}")
def test_python_block_imports_cgraph_first(block):
    check_imports_cgraph_first(README, block)


@pytest.mark.parametrize("block", README.python_blocks, ids=lambda block: f"line{block.line}")
def test_python_block_runs(block, tmp_path):
    check_runs_and_prints_what_is_shown(README, block, tmp_path)


# ------------------------------------------------------------------------------------------
# Links: into the docs, to every capability page, to the examples and notebooks
# ------------------------------------------------------------------------------------------

LINKS = re.findall(r"\]\(([^)\s]+)\)", README.text)
LOCAL_LINKS = [link for link in LINKS if not re.match(r"\w+://", link)]
GUIDE_PAGES = sorted(path.name for path in DOCS.glob("*.md") if path.name != "index.md")


def test_local_links_resolve():
    assert LOCAL_LINKS
    for link in LOCAL_LINKS:
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / "README.md"
        assert target.exists(), f"README links to missing {path}"
        if anchor:
            anchors = {github_anchor(h) for h in headings(target.read_text(encoding="utf-8"))}
            assert anchor in anchors, f"README links to {link}: no such heading"


@pytest.mark.parametrize("page", GUIDE_PAGES)
def test_links_every_page_of_the_docs(page):
    assert f"docs/{page}" in LOCAL_LINKS, f"README's list does not link docs/{page}"


@pytest.mark.parametrize(
    "path",
    sorted([*(ROOT / "examples").glob("*.py"), *(ROOT / "notebooks").glob("*.ipynb")]),
    ids=lambda path: path.name,
)
def test_links_every_example_and_notebook(path):
    assert path.relative_to(ROOT).as_posix() in LOCAL_LINKS, f"README does not link {path.name}"


@pytest.mark.parametrize(
    "path",
    [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted((ROOT / "examples").glob("*.py"))],
    ids=lambda path: path.relative_to(ROOT).as_posix(),
)
def test_no_claim_that_reductions_are_missing(path):
    # sum, mean, max, var, norm... are ops; a text from before them said otherwise.
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\bno (sum |mean )?reductions?\b", text, re.IGNORECASE)

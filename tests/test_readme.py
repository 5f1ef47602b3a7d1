"""Keep README.md true: its commands, its snippets and their output, its tables and links.

Every ```python block must start with ``from cgraph`` or ``import cgraph``; each
runs in its own subprocess (so operations it registers stay out of this test
session). A python block followed directly by a ```text block must print
exactly that text.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import cgraph
import cgraph.errors
import cgraph.ops

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TIMEOUT_SECONDS = 60

RUN_MAIN_EXAMPLE = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[data]" '
    "&& .venv/bin/python examples/digits_classifier.py"
)
RUN_TEST_SUITE = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" '
    "&& .venv/bin/python -m pytest"
)


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README.

    Attributes
    ----------
    language : str
        The word after the opening fence ('' if none).
    code : str
        The block's text, without the fences.
    line : int
        The line number of the opening fence, for test ids and messages.
    start, end : int
        Character offsets of the opening fence and just after the closing one.
    """

    language: str
    code: str
    line: int
    start: int
    end: int


def read_blocks(text: str) -> list[Block]:
    """Every fenced code block of a Markdown text, in order.

    Parameters
    ----------
    text : str
        The Markdown source.

    Returns
    -------
    list of Block
    """
    fence = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
    return [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, m.start(), m.end())
        for m in fence.finditer(text)
    ]


TEXT = README.read_text(encoding="utf-8")
BLOCKS = read_blocks(TEXT)
PYTHON_BLOCKS = [block for block in BLOCKS if block.language == "python"]


def output_after(block: Block) -> str | None:
    """The ```text block right after ``block`` (only blank lines between), if any."""
    for following in BLOCKS:
        if following.start >= block.end:
            between = TEXT[block.end:following.start]
            if following.language == "text" and not between.strip():
                return following.code
            return None
    return None


def normalised(output: str) -> list[str]:
    """The lines of ``output`` without trailing spaces or surrounding blank lines."""
    return [line.rstrip() for line in output.strip("\n").splitlines()]


# ------------------------------------------------------------------------------------------
# The two commands come first
# ------------------------------------------------------------------------------------------


def test_first_two_blocks_are_the_commands():
    assert len(BLOCKS) >= 2
    assert BLOCKS[0].code.strip() == RUN_MAIN_EXAMPLE
    assert BLOCKS[1].code.strip() == RUN_TEST_SUITE


def test_commands_follow_the_title_and_one_paragraph():
    title, *paragraphs = [part for part in TEXT[:BLOCKS[0].start].split("\n\n") if part.strip()]
    assert re.fullmatch(r"# \S.*", title.strip()), title
    assert len(paragraphs) == 1, f"expected one paragraph before the commands: {paragraphs}"
    assert not TEXT[BLOCKS[0].end:BLOCKS[1].start].strip(), "text between the two commands"


def test_main_example_exists():
    script = RUN_MAIN_EXAMPLE.rsplit(" ", 1)[-1]
    assert (ROOT / script).is_file(), script


# ------------------------------------------------------------------------------------------
# Every python snippet runs, and prints what the README shows
# ------------------------------------------------------------------------------------------


def test_readme_has_python_snippets():
    assert len(PYTHON_BLOCKS) >= 5


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: f"line{block.line}")
def test_python_block_imports_cgraph_first(block):
    assert block.code.startswith(("from cgraph", "import cgraph")), (
        f"README line {block.line}: a python block must start with 'from cgraph' or "
        "'import cgraph' (so that it is run by this test), or use another language tag")


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: f"line{block.line}")
def test_python_block_runs(block, tmp_path):
    script = tmp_path / f"readme_line{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"README line {block.line} failed:\n{result.stderr}"
    shown = output_after(block)
    if shown is not None:
        assert normalised(result.stdout) == normalised(shown), (
            f"README line {block.line} printed:\n{result.stdout}\nbut the README shows:\n{shown}")


# ------------------------------------------------------------------------------------------
# Tables and links stay complete
# ------------------------------------------------------------------------------------------


BUILT_IN_NAMES = sorted(
    name
    for cls in (getattr(cgraph.ops, attr) for attr in cgraph.ops.__all__)
    for name in (cls.name, *cls.aliases)
)


@pytest.mark.parametrize("name", BUILT_IN_NAMES)
def test_operations_table_lists_registered_name(name):
    assert f"`{name}`" in TEXT, f"README's operations table does not list {name!r}"


@pytest.mark.parametrize("name", cgraph.errors.__all__)
def test_errors_table_lists_error(name):
    assert re.search(rf"`(cgraph\.)?{name}`", TEXT), f"README's errors table does not list {name}"


@pytest.mark.parametrize(
    "path", sorted((ROOT / "examples").glob("*.py")), ids=lambda path: path.name)
def test_every_example_is_linked(path):
    assert f"(examples/{path.name})" in TEXT, f"README does not link examples/{path.name}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_section_links_resolve():
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", TEXT, re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", TEXT)
    assert links
    missing = sorted(set(links) - anchors)
    assert not missing, f"README links to sections that do not exist: {missing}"


def test_example_links_resolve():
    for target in re.findall(r"\]\((examples/[^)#]+)\)", TEXT):
        assert (ROOT / target).is_file(), f"README links to missing {target}"

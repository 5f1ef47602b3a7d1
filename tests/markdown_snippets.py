"""The fenced code blocks of a Markdown file, and running its python blocks as a reader would.

Shared by tests/test_readme.py (README.md) and tests/test_site.py (the pages under
docs/). Every ```python block must start with ``from cgraph`` or ``import cgraph``;
each runs in its own subprocess, in an empty folder (so that operations it registers
and files it writes stay out of the test session). A python block followed directly
by a ```text block must print exactly that text.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 60

#: The two commands the README and the getting-started page begin with.
RUN_MAIN_EXAMPLE = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[data]" '
    "&& .venv/bin/python examples/digits_classifier.py"
)
RUN_TEST_SUITE = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'
)

#: The modules of the extras a snippet may use, and the extra that installs each.
EXTRA_MODULES = {
    "matplotlib": "viz",
    "scipy": "scipy",
    "sklearn": "data",
    "tqdm": "progress",
    "dask": "dask",
    "array_api_strict": "test",
}


@dataclass(frozen=True)
class Block:
    """A fenced code block of a Markdown file.

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


@dataclass(frozen=True)
class Page:
    """A Markdown file and its fenced code blocks.

    Attributes
    ----------
    path : Path
        The file.
    text : str
        Its Markdown.
    blocks : list of Block
        Its fenced code blocks, in order.
    """

    path: Path
    text: str
    blocks: list[Block]

    @classmethod
    def read(cls, path: Path) -> Page:
        """The page at ``path``, with its blocks."""
        text = path.read_text(encoding="utf-8")
        return cls(path, text, read_blocks(text))

    @property
    def name(self) -> str:
        """The path relative to the repository root, as messages show it."""
        return self.path.relative_to(ROOT).as_posix()

    @property
    def python_blocks(self) -> list[Block]:
        """The ```python blocks, which the tests run."""
        return [block for block in self.blocks if block.language == "python"]

    def output_after(self, block: Block) -> str | None:
        """The ```text block right after ``block`` (only blank lines between), if any."""
        for following in self.blocks:
            if following.start >= block.end:
                between = self.text[block.end : following.start]
                if following.language == "text" and not between.strip():
                    return following.code
                return None
        return None


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


def normalised(output: str) -> list[str]:
    """The lines of ``output`` without trailing spaces or surrounding blank lines."""
    return [line.rstrip() for line in output.strip("\n").splitlines()]


def check_imports_cgraph_first(page: Page, block: Block) -> None:
    """Fail unless ``block`` starts by importing cgraph (so that a reader sees where from)."""
    assert block.code.startswith(("from cgraph", "import cgraph")), (
        f"{page.name} line {block.line}: a python block must start with 'from cgraph' or "
        "'import cgraph' (so that it is run by the tests), or use another language tag"
    )


def check_runs_and_prints_what_is_shown(page: Page, block: Block, folder: Path) -> None:
    """Run ``block`` in ``folder``; fail unless it succeeds and prints the text shown after it.

    A block that fails only because an extra it uses is not installed (the core suite
    runs without them) is skipped, naming the extra.
    """
    script = folder / f"{page.path.stem}_line{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "MPLBACKEND": "Agg"},  # drawings without a display
    )
    if result.returncode != 0:
        for module, extra in EXTRA_MODULES.items():
            if importlib.util.find_spec(module) is None and module in result.stderr:
                pytest.skip(
                    f"{page.name} line {block.line} needs {module}: pip install -e '.[{extra}]'"
                )
    assert result.returncode == 0, f"{page.name} line {block.line} failed:\n{result.stderr}"
    shown = page.output_after(block)
    if shown is not None:
        assert normalised(result.stdout) == normalised(shown), (
            f"{page.name} line {block.line} printed:\n{result.stdout}\nbut the page shows:\n{shown}"
        )


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[str]:
    """The Markdown headings of ``text`` outside code blocks (``# X`` lines)."""
    outside = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"^#+ (.+)$", outside, re.MULTILINE)

"""MkDocs hook: the text the code already holds is generated from it, never copied.

- ``<!-- operations: Add Sub ... -->`` on the operations page becomes a table of those
  ops: the class (linked to its API entry), its registered names, and the summary of
  its docstring, which states what it computes and its derivative. Every op of
  ``cgraph.ops.__all__`` must be in exactly one table, so a new op fails the build
  until the page places it.
- ``<!-- errors -->`` on the errors page becomes the table of ``cgraph.errors``: each
  class, what else it is (``KeyError``, ``TypeError``...), and its docstring's summary.
- ``<!-- benchmarks -->`` on the performance page becomes a table of every target of
  ``benchmarks/RESULTS.md``, with what its last recorded run measured.
- Each ``::: name`` of the API reference must name a module, class or function with a
  docstring of its own (mkdocstrings would render a bare heading), or a constant.
- The docstrings' reST roles (:class:`X`, :func:`cgraph.gradcheck`), which
  mkdocstrings shows as they are, become code that links to X's API entry where the
  reference renders one.
- A link to a file of the repository outside ``docs/`` (``../examples/custom_op.py``,
  which works when the Markdown is read on GitHub) becomes a link to that file in the
  repository at ``repo_url``; a link to a file that does not exist fails the build.

``render`` does the Markdown's part (all but the roles, which are HTML) without MkDocs,
for the tests.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import cgraph.errors
import cgraph.ops

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
OPERATIONS_MARKER = re.compile(r"^<!-- operations: ([\w ]+) -->$", re.MULTILINE)
ERRORS_MARKER = "<!-- errors -->"
BENCHMARKS_MARKER = "<!-- benchmarks -->"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
# One benchmark's section of RESULTS.md, as its script writes it with --write.
BENCHMARK_SECTION = re.compile(
    r"^<!-- (bench_\w+) -->\n(.*?)^<!-- /\1 -->$", re.MULTILINE | re.DOTALL
)
# A reST role as mkdocstrings renders it from a docstring: :class:<code>~cgraph.X</code>.
ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([\w.]+)</code>")
API_ENTRY = re.compile(r"^::: ([\w.]+)", re.MULTILINE)
REPO_LINK = re.compile(r"\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")
# A numpy-style section heading ends a docstring's description.
SECTION = re.compile(r"^\s*(Parameters|Returns|Raises|Examples|Notes|See Also|Attributes)\s*$")
# What a derivative looks like in a summary: dy/dx, dL/dA, dY = ..., "gradient", ...
DERIVATIVE = re.compile(r"\bd\w*\s*/\s*d|\bdY\b|gradient|derivative")


def description(obj: object) -> list[str]:
    """The paragraphs of ``obj``'s docstring before its first section, as Markdown."""
    doc = inspect.getdoc(obj) or ""
    lines: list[str] = []
    for line in doc.splitlines():
        if SECTION.match(line):
            break
        lines.append(line)
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines).strip())
    return [to_markdown(paragraph) for paragraph in paragraphs if paragraph.strip()]


def to_markdown(text: str) -> str:
    """reST inline markup as Markdown on one line: ``x`` and :class:`x` become `x`."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    # A list item starts a line of its own, within one table cell.
    text = re.sub(r"(^|\n)\s*- ", "<br>- ", text)
    return " ".join(text.split())


def cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("|", r"\|")


def summary(cls: type) -> str:
    """The first paragraph of ``cls``'s docstring, and the next ones until one gives a
    derivative, if the first does not (``Linear``'s gradients are in its second)."""
    paragraphs = description(cls)
    if not paragraphs:
        raise ValueError(f"{cls.__qualname__} has no docstring to document it by")
    shown = [paragraphs[0]]
    for paragraph in paragraphs[1:]:
        if DERIVATIVE.search(" ".join(shown)):
            break
        shown.append(paragraph)
    return " ".join(shown)


def registered_names(cls: type) -> list[str]:
    """The names ``cls`` is registered under in ``cgraph.OPERATIONS``, its own first."""
    names = [cls.name, *cls.aliases]
    missing = [name for name in names if cgraph.OPERATIONS.get(name) is not cls]
    if missing:
        raise ValueError(f"{cls.__name__}: {missing} not registered to it in cgraph.OPERATIONS")
    return names


def operations_table(class_names: list[str]) -> str:
    """A Markdown table of the ops of ``cgraph.ops`` named ``class_names``."""
    rows = [
        "| Operation | Registered names | Computes, and its derivative |",
        "|-----------|------------------|------------------------------|",
    ]
    for class_name in class_names:
        cls = getattr(cgraph.ops, class_name, None)
        if class_name not in cgraph.ops.__all__ or not isinstance(cls, type):
            raise ValueError(f"operations table: {class_name!r} is not in cgraph.ops.__all__")
        names = ", ".join(f"`{name}`" for name in registered_names(cls))
        link = f"[`{class_name}`][cgraph.ops.{class_name}]"
        rows.append(f"| {link} | {names} | {cell(summary(cls))} |")
    return "\n".join(rows)


def builtin_bases(cls: type) -> list[type]:
    """The built-in exceptions ``cls`` derives from directly: what else it can be caught as."""
    return [base for base in cls.__bases__ if base.__module__ == "builtins"]


def errors_table() -> str:
    """A Markdown table of every error of ``cgraph.errors``, in its ``__all__`` order."""
    rows = [
        "| Error | Also a | Raised when |",
        "|-------|--------|-------------|",
    ]
    for name in cgraph.errors.__all__:
        cls = getattr(cgraph.errors, name)
        also = ", ".join(f"`{base.__name__}`" for base in builtin_bases(cls))
        link = f"[`{name}`][cgraph.errors.{name}]"
        rows.append(f"| {link} | {also} | {cell(description(cls)[0])} |")
    return "\n".join(rows)


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def benchmarks_table(results: str) -> str:
    """The targets of every benchmark section of RESULTS.md's text, as one table."""
    rows = [
        "| Benchmark | Target | Measured | Goal | Met |",
        "|-----------|--------|----------|------|-----|",
    ]
    for match in BENCHMARK_SECTION.finditer(results):
        script, section = match[1], match[2]
        title = re.search(r"^## (.+)$", section, re.MULTILINE)
        targets = re.search(r"^\| target .*?\n\|[-| ]+\|\n((?:\|.*\|\n?)+)", section, re.MULTILINE)
        if title is None or targets is None:
            raise ValueError(f"{RESULTS.name}: section {script} has no title or no target table")
        anchor = f"[{title[1]}](../benchmarks/RESULTS.md#{github_anchor(title[1])})"
        for line in targets[1].splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows.append(f"| {anchor} | " + " | ".join(cells) + " |")
            anchor = ""  # the benchmark's name once, on its first target
    if len(rows) == 2:
        raise ValueError(f"{RESULTS.name} has no benchmark sections")
    return "\n".join(rows)


def render_operations(text: str) -> str:
    """``text`` with each operations marker replaced by its table; every op placed once."""
    placed = [name for match in OPERATIONS_MARKER.finditer(text) for name in match[1].split()]
    if placed:
        twice = sorted({name for name in placed if placed.count(name) > 1})
        missing = sorted(set(cgraph.ops.__all__) - set(placed))
        if twice or missing:
            raise ValueError(
                f"operations page: every op of cgraph.ops.__all__ goes in one table; "
                f"in none: {missing}, in more than one: {twice}"
            )
    return OPERATIONS_MARKER.sub(lambda match: operations_table(match[1].split()), text)


def render_repo_links(text: str, page: Path, repo_url: str | None) -> str:
    """Links from ``page`` to repository files outside docs/ pointed at ``repo_url``."""

    def replace(match: re.Match[str]) -> str:
        target = (page.parent / match[1]).resolve()
        if DOCS in target.parents:
            return match[0]  # a page of the site: MkDocs checks it
        if not target.exists() or ROOT not in target.parents:
            raise ValueError(f"{page.name}: link to {match[1]}, which is not in the repository")
        if repo_url is None:
            raise ValueError(f"{page.name}: link to {match[1]}, but mkdocs.yml has no repo_url")
        kind = "tree" if target.is_dir() else "blob"
        relative = target.relative_to(ROOT).as_posix()
        return f"]({repo_url.rstrip('/')}/{kind}/main/{relative}{match[2] or ''})"

    return REPO_LINK.sub(replace, text)


def resolve(identifier: str) -> object:
    """The object a dotted ``identifier`` names: a module, or an attribute of one."""
    parts = identifier.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ValueError(f"{identifier!r} names no module")


def check_api_entries(text: str, page: Path) -> None:
    """Every ``::: name`` of ``text`` names something documented by its own docstring."""
    for identifier in API_ENTRY.findall(text):
        try:
            obj = resolve(identifier)
        except (AttributeError, ValueError) as err:
            raise ValueError(f"{page.name}: ::: {identifier}: {err}") from err
        own_doc = obj.__doc__ if inspect.ismodule(obj) or callable(obj) else "a constant"
        if not (own_doc or "").strip():
            raise ValueError(f"{page.name}: ::: {identifier} has no docstring to show")


def render(text: str, page: Path, repo_url: str | None = None) -> str:
    """The Markdown of ``page`` (a path under docs/) as the site shows it."""
    check_api_entries(text, page)
    text = render_operations(text)
    if ERRORS_MARKER in text:
        text = text.replace(ERRORS_MARKER, errors_table())
    if BENCHMARKS_MARKER in text:
        text = text.replace(
            BENCHMARKS_MARKER, benchmarks_table(RESULTS.read_text(encoding="utf-8"))
        )
    return render_repo_links(text, page, repo_url)


def link_roles(html: str) -> str:
    """The reST roles of rendered docstrings as code, linked by autorefs where it can."""

    def replace(match: re.Match[str]) -> str:
        identifier = match[2]
        shown = identifier.rsplit(".", 1)[-1] if match[1] else identifier
        # optional: an identifier the reference does not render stays plain code.
        return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'

    return ROLE.sub(replace, html)


def on_page_content(html: str, page, config, files) -> str:
    """MkDocs calls this with each page's HTML; autorefs resolves the links after it."""
    return link_roles(html)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """MkDocs calls this with each page's Markdown before rendering it."""
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown, DOCS / page.file.src_path, config.get("repo_url"))
    except ValueError as err:
        raise PluginError(str(err)) from err

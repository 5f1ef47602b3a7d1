"""Node names that are not Python identifiers, written in backquotes: ```layer1/W` @ x``.

cgraph's own names hold ``/`` (``f/add``, ``grad/f/x``) and users' may hold
``-``, ``.`` or spaces, which Python's parser would read as operators. As in
SQL and ``pandas.DataFrame.query``, such a name is written between backquotes;
a backquote inside it is doubled (MySQL's rule): ```a``b``` is the name
``a`b``. Before parsing, each quoted name is replaced by a placeholder
identifier (underscores) of exactly as many UTF-8 bytes, so every position
Python's parser reports is a position in the text as written, and the
placeholder's position says which name it stands for. The quoted text is only
ever looked up as a node name: it never reaches the parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["QuoteError", "Unquoted", "joined_name", "quote", "read_as", "unquote"]

QUOTE = "`"
# How Python reads each character that can join the parts of a name written unquoted.
_READ_AS = {
    "/": "division",
    "-": "subtraction",
    "+": "addition",
    "*": "multiplication",
    "@": "matrix product",
    ".": "attribute access",
    "%": "modulo",
    ":": "a slice or annotation",
    "|": "bitwise or",
    "&": "bitwise and",
    "^": "bitwise xor",
    "~": "bitwise not",
    "<": "comparison",
    ">": "comparison",
    "=": "assignment or comparison",
    "!": "an operator",
}


class QuoteError(Exception):
    """A backquoted name that cannot be read; ``column`` is 0-based, in characters.

    Examples
    --------
    >>> str(QuoteError("empty", 1, 4))
    'empty'
    """

    def __init__(self, why: str, lineno: int, column: int) -> None:
        super().__init__(why)
        self.why, self.lineno, self.column = why, lineno, column


@dataclass
class Unquoted:
    """The text with each quoted name replaced, and the names by (line, byte column).

    Examples
    --------
    >>> unquote("`a/b` * 2")
    Unquoted(text='_____ * 2', names={(1, 0): 'a/b'})
    """

    text: str
    names: dict[tuple[int, int], str] = field(default_factory=dict)


def quote(name: str) -> str:
    """A node name as an expression writes it: bare if an identifier, else in backquotes.

    Examples
    --------
    >>> quote("x"), quote("layer1/W"), quote("a`b")
    ('x', '`layer1/W`', '`a``b`')
    """
    if name.isidentifier() and name.isascii():
        return name
    return QUOTE + name.replace(QUOTE, QUOTE * 2) + QUOTE


def unquote(source: str) -> Unquoted:
    """Replace each backquoted name in ``source`` by underscores of the same UTF-8 length.

    Raises
    ------
    QuoteError
        For a quote not closed on its line, an empty name, or a quoted name
        touching a letter, digit or underscore (```a`b``, which would read as one
        name).

    Examples
    --------
    >>> unquote("sum(`grad/f/x`) + `a``b`")
    Unquoted(text='sum(__________) + ______', names={(1, 4): 'grad/f/x', (1, 18): 'a`b'})
    """
    if QUOTE not in source:
        return Unquoted(source)
    out: list[str] = []
    names: dict[tuple[int, int], str] = {}
    lineno, line_start, column_bytes = 1, 0, 0
    i, end = 0, len(source)
    while i < end:
        char = source[i]
        if char == QUOTE:
            j, name = _closing(source, i, lineno, i - line_start)
            span = source[i : j + 1]
            for neighbour in (source[i - 1] if i else "", source[j + 1 : j + 2]):
                if neighbour and (neighbour.isalnum() or neighbour == "_"):
                    raise QuoteError(
                        f"the quoted name {span} touches {neighbour!r}; put an operator or a "
                        "space between a quoted name and what is next to it",
                        lineno,
                        i - line_start,
                    )
            size = len(span.encode())
            names[(lineno, column_bytes)] = name
            out.append("_" * size)
            column_bytes += size
            i = j + 1
            continue
        if char in "\r\n":  # a line ends: \r\n, \r or \n, as the parser counts lines
            step = 2 if source.startswith("\r\n", i) else 1
            out.append(source[i : i + step])
            i += step
            lineno, line_start, column_bytes = lineno + 1, i, 0
            continue
        out.append(char)
        column_bytes += len(char.encode())
        i += 1
    return Unquoted("".join(out), names)


def _closing(source: str, start: int, lineno: int, column: int) -> tuple[int, str]:
    """The index of the quote closing the one at ``start``, and the name between them."""
    chars: list[str] = []
    j = start + 1
    while True:
        if j >= len(source) or source[j] in "\r\n":
            raise QuoteError(
                "it opens a quoted name that is not closed on its line; end the "
                "name with another backquote (a backquote inside a name is written "
                "twice)",
                lineno,
                column,
            )
        if source[j] == QUOTE:
            if source.startswith(QUOTE * 2, j):
                chars.append(QUOTE)
                j += 2
                continue
            break
        chars.append(source[j])
        j += 1
    if not chars:
        raise QuoteError(
            "empty backquotes name no node; write the node's name between them", lineno, column
        )
    return j, "".join(chars)


def joined_name(line: str, start: int, end: int, names: Iterable[str]) -> str | None:
    """The longest of ``names`` that the text around ``line[start:end]`` spells unquoted.

    ``line[start:end]`` is a name Python read alone (``t0`` in ``t0/x + 1``);
    a node name that is not an identifier (``t0/x``) and is written there in
    full, not touching other letters, is what the user meant.

    Examples
    --------
    >>> joined_name("2 * t0/x + 1", 4, 6, ["t0/x", "x", "t0/xy"])
    't0/x'
    >>> joined_name("2 * t0/xy", 4, 6, ["t0/x"]) is None
    True
    """
    part = line[start:end]
    best: str | None = None
    for name in names:
        if len(name) < len(part) or (best is not None and len(name) <= len(best)):
            continue
        if part not in name or name.isidentifier():
            continue
        offset = name.find(part)
        while offset != -1:
            first = start - offset
            last = first + len(name)
            if (
                first >= 0
                and line[first:last] == name
                and not (_name_char(line[first - 1 : first]) or _name_char(line[last : last + 1]))
            ):
                best = name
                break
            offset = name.find(part, offset + 1)
    return best


def read_as(name: str) -> str:
    """How Python reads the characters joining the parts of ``name`` written unquoted.

    Examples
    --------
    >>> read_as("grad/f/x")
    "'/' was read as division"
    >>> read_as("a-b.c")
    "'-' was read as subtraction and '.' as attribute access"
    """
    seen = [char for char in dict.fromkeys(name) if not _name_char(char)]
    pieces = [
        f"{char!r} {'was read ' if k == 0 else ''}as {_READ_AS.get(char, 'a separator')}"
        for k, char in enumerate(seen)
    ]
    if not pieces:
        return "it was read as several pieces"
    return " and ".join([", ".join(pieces[:-1]), pieces[-1]] if len(pieces) > 1 else pieces)


def _name_char(char: str) -> bool:
    return bool(char) and (char.isalnum() or char == "_")

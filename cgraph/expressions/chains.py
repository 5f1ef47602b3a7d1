"""Parse long flat chains (``x + x + ... + x``) that Python's parser cannot build.

``ast.parse`` turns a sum of n terms into a left-nested tree n deep, and CPython
builds that tree recursively, refusing it (RecursionError) past about three times
the recursion limit. Here such a chain is cut, with the tokenizer, at its
top-level ``+``/``-`` (then, for a long term, at its ``*``, ``/``, ``@``); each
piece is parsed alone, its positions moved to where it sits in the whole text,
and the pieces are joined left to right, as Python would have joined them.
Anything else (a comparison, a keyword, ``%``, a deep nest of brackets) is left
to ``ast.parse`` and its own refusal.
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize

__all__ = ["parse_chain"]

_LEVELS: tuple[dict[str, type[ast.operator]], ...] = (
    {"+": ast.Add, "-": ast.Sub},
    {"*": ast.Mult, "/": ast.Div, "@": ast.MatMult},
)
# Top-level tokens a chain may hold: all bind tighter than its + and -.
_TOP_LEVEL_OPS = {"+", "-", "*", "/", "@", "**", ".", "~"}
_OPEN, _CLOSE = "([{", ")]}"
_SKIPPED = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENDMARKER}


def parse_chain(source: str) -> ast.expr | None:
    """The tree of ``source`` built piece by piece, or None when it is not a long flat chain.

    Raises
    ------
    SyntaxError
        If a piece has bad syntax, with its line and column in ``source``.

    Examples
    --------
    >>> tree = parse_chain("x + y * z - 1")
    >>> ast.unparse(tree)
    'x + y * z - 1'
    """
    try:
        tokens = [
            tok
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type not in _SKIPPED
        ]
    except (tokenize.TokenError, SyntaxError):
        return None
    if not tokens or any(tok.type == tokenize.ERRORTOKEN for tok in tokens):
        return None
    depths: list[int] = []  # the bracket depth of each token (of a bracket: outside it)
    match: dict[int, int] = {}  # opening bracket -> its closing one
    opened: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string in _CLOSE:
            if not opened:
                return None
            match[opened.pop()] = i
        depths.append(len(opened))
        if tok.type == tokenize.OP and tok.string in _OPEN:
            opened.append(i)
    if opened:
        return None
    lines = source.split("\n")  # how tokenize's readline splits them
    # Brackets around the whole text: ((x + ... + x)) is cut like x + ... + x.
    lo, hi = 0, len(tokens)
    while tokens[lo].string == "(" and match[lo] == hi - 1 and hi - lo > 2:
        lo, hi = lo + 1, hi - 1
    return _chain(tokens, depths, lines, lo, hi, depths[lo], 0)


def _chain(
    tokens: list[tokenize.TokenInfo],
    depths: list[int],
    lines: list[str],
    lo: int,
    hi: int,
    base: int,
    level: int,
) -> ast.expr | None:
    ops = _LEVELS[level]
    cuts: list[int] = []
    for i in range(lo, hi):
        tok = tokens[i]
        if depths[i] != base:
            continue
        if (
            tok.type == tokenize.NAME
            and keyword.iskeyword(tok.string)
            and (tok.string not in ("True", "False", "None"))
        ):
            return None
        if tok.type == tokenize.OP and tok.string not in _OPEN + _CLOSE:
            if tok.string not in _TOP_LEVEL_OPS:
                return None
            # + and - are binary after an operand (x - y), unary after an operator (x * -y).
            if tok.string in ops and i > lo and _ends_operand(tokens[i - 1]):
                cuts.append(i)
    if not cuts:  # no top-level + or -: perhaps a long product
        return _chain(tokens, depths, lines, lo, hi, base, 1) if level == 0 else None
    bounds = [lo, *cuts, hi]
    tree: ast.expr | None = None
    for k in range(len(bounds) - 1):
        a, b = bounds[k] + (k > 0), bounds[k + 1]
        if a >= b:
            return None
        term = _parse_piece(tokens, lines, a, b)
        if term is None:  # a long term of its own: cut it at * / @
            term = _chain(tokens, depths, lines, a, b, base, 1) if level == 0 else None
            if term is None:
                return None
        if tree is None:
            tree = term
        else:
            tree = ast.BinOp(
                tree,
                ops[tokens[bounds[k]].string](),
                term,
                lineno=tree.lineno,
                col_offset=tree.col_offset,
                end_lineno=term.end_lineno,
                end_col_offset=term.end_col_offset,
            )
    return tree


def _ends_operand(tok: tokenize.TokenInfo) -> bool:
    if tok.type == tokenize.NAME:
        return not keyword.iskeyword(tok.string) or tok.string in ("True", "False", "None")
    return tok.type in (tokenize.NUMBER, tokenize.STRING) or tok.string in _CLOSE


def _parse_piece(
    tokens: list[tokenize.TokenInfo], lines: list[str], a: int, b: int
) -> ast.expr | None:
    """Parse tokens a..b-1 alone, with positions moved to the whole text; None if too deep."""
    (row, col), (end_row, end_col) = tokens[a].start, tokens[b - 1].end
    if row == end_row:
        text = lines[row - 1][col:end_col]
    else:
        text = "\n".join(
            [lines[row - 1][col:], *lines[row : end_row - 1], lines[end_row - 1][:end_col]]
        )
    try:
        tree = ast.parse(text, mode="eval").body
    except (RecursionError, MemoryError):
        return None
    except SyntaxError as err:
        if err.lineno == 1:
            err.offset = (err.offset or 1) + col
        err.lineno = (err.lineno or 1) + row - 1
        raise
    shift = len(lines[row - 1][:col].encode())  # ast columns count UTF-8 bytes
    for node in ast.walk(tree):  # iterative: a queue, no recursion
        if isinstance(node, (ast.expr, ast.keyword)):
            if node.lineno == 1:
                node.col_offset += shift
            if node.end_lineno == 1:
                node.end_col_offset += shift  # type: ignore[operator]
            node.lineno += row - 1
            node.end_lineno += row - 1  # type: ignore[operator]
    return tree

"""The words every error message uses: the closest names to a misspelt one, values shown briefly.

Pure text helpers with no knowledge of graphs, so that every layer (the op registry,
the engine, expressions, files, the command line) can word its errors the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from itertools import islice
from typing import Any

import numpy as np

__all__ = ["did_you_mean", "closest_names", "shown"]


def did_you_mean(name: str, known: Iterable[str], fallback: str = "declare it first") -> str:
    """A hint naming the closest known names, or ``fallback`` when none is close.

    Examples
    --------
    >>> did_you_mean("sigx", ["sigy", "x"])
    "; did you mean 'sigy'?"
    >>> did_you_mean("zzz", ["sigy", "x"], fallback="cgraph.OPERATIONS lists them")
    '; cgraph.OPERATIONS lists them'
    """
    close = closest_names(str(name), known)
    if close:
        return f"; did you mean {', '.join(map(repr, close))}?"
    return f"; {fallback}" if fallback else ""


def closest_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names most like ``name`` (difflib's ratio of 0.6 or more), best first.

    Looks at the first ``SCAN_LIMIT`` names only, and bounds difflib's work: among
    many names of similar length, a cheap score computed in numpy (how many pieces
    of ``name`` each one contains, then how long a start and end it shares with
    ``name``) picks the few that difflib compares. A name differing only by case
    comes first.

    Examples
    --------
    >>> closest_names("model/layer2/wieght", [f"model/layer{i}/weight" for i in range(10_000)])
    ['model/layer2/weight', 'model/layer29/weight', 'model/layer28/weight']
    """
    size = len(name)
    # difflib's ratio 2M / (a + b) reaches 0.6 only when the shorter is 3/7 of the longer.
    low, high = (3 * size + 6) // 7, 7 * size // 3
    pool = [c for c in islice(known, SCAN_LIMIT) if type(c) is str and low <= len(c) <= high]
    folded = name.casefold()
    first = [c for c in pool if len(c) == size and c != name and c.casefold() == folded]
    count = max(n, _BUDGET // max(size * size, 1))
    if len(pool) > count:
        pool = _most_alike(name, pool, count)
    close = difflib.get_close_matches(name, pool, n=n)
    return [*first, *(c for c in close if c not in first)][:n]


#: How many known names a suggestion looks at, at most.
SCAN_LIMIT = 10_000
# difflib compares at most about this many characters squared (milliseconds).
_BUDGET = 100_000


def _most_alike(name: str, pool: list[str], count: int) -> list[str]:
    """The ``count`` names of ``pool`` that score best, ties in their order: no Python loop."""
    step = max(2, len(name) // 8)  # a typo spoils one or two of these pieces
    pieces = {name[i : i + step] for i in range(0, len(name), step)}
    texts = np.array(pool)
    hits = sum((np.char.find(texts, piece) >= 0).astype(np.int64) for piece in pieces)
    data = [c.encode(errors="surrogatepass") for c in pool]  # any str can be a name
    query = name.encode(errors="surrogatepass")
    shared = _shared_start(query, data) + _shared_start(query[::-1], [d[::-1] for d in data])
    order = np.argsort(-(hits * (len(query) * 2 + 1) + shared), kind="stable")[:count]
    return [pool[i] for i in order.tolist()]


def _shared_start(query: bytes, data: list[bytes]) -> np.ndarray:
    """For each byte string, how many of its first bytes are those of ``query``."""
    rows = np.array(data)
    width = min(rows.dtype.itemsize, len(query))
    if width == 0:
        return np.zeros(len(data), dtype=np.int64)
    same = rows.view(np.uint8).reshape(len(data), -1)[:, :width] == np.frombuffer(
        query[:width], dtype=np.uint8
    )
    return np.where(same.all(axis=1), width, same.argmin(axis=1)).astype(np.int64)


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened past ``limit`` characters; never raises.

    Examples
    --------
    >>> shown([1, 2]), shown("x" * 100, limit=10)
    ('[1, 2]', "'xxxxxx...")
    """
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break the message that quotes it
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""Allocating millions of small objects without the cyclic garbage collector's rescans.

Examples
--------
>>> import gc
>>> with cyclic_gc_paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cyclic_gc_paused"]


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a graph's structures are allocated.

    Declaring a large graph or building its schedule allocates millions of
    dicts, tuples and nodes, none of them garbage in a cycle; each burst of
    allocations would otherwise set off collections that scan the whole heap
    again and again: half the time of declaring 100,000 nodes in bulk, and a
    million-node schedule built in 4.5 s instead of 1 s. Reference counting
    still frees everything, and the collector runs again afterwards.

    Examples
    --------
    >>> with cyclic_gc_paused():
    ...     table = {i: (i,) for i in range(1000)}
    >>> len(table)
    1000
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

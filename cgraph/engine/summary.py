"""Text descriptions of nodes and values, for summaries, reprs and error messages."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cgraph.engine.nodes import Constant, Input, Node, OperationNode
from cgraph.ops.namespaces import is_foreign, is_lazy, library_name, namespace

__all__ = ["describe_value", "format_summary"]

_MISSING = "-"


def describe_value(value: Any, max_items: int = 4) -> str:
    """A short text for a value: a float to 6 significant digits, an array's shape and first items.

    Parameters
    ----------
    value : float, numpy.ndarray or None
        The value to describe.
    max_items : int, default 4
        Arrays with more elements show only this many.

    Examples
    --------
    >>> describe_value(0.5348320870757595)
    '0.534832'
    >>> import numpy as np
    >>> describe_value(np.arange(6.0).reshape(2, 3))
    'array(2, 3) [0, 1, 2, 3, ...]'
    """
    if value is None:
        return _MISSING
    if isinstance(value, (float, int, np.generic)):
        return _number(value)
    if is_foreign(value):
        return _foreign(value, max_items)
    array = np.asarray(value)
    if array.ndim == 0:
        return _number(array.item())
    items = ", ".join(map(_number, array.ravel()[:max_items].tolist()))
    more = ", ..." if array.size > max_items else ""
    return f"array{array.shape} [{items}{more}]"


def _foreign(value: Any, max_items: int) -> str:
    """A Dask array says it is lazy (describing never computes); other libraries show items."""
    library = library_name(value)
    shape = tuple(value.shape)
    if is_lazy(value):
        return f"lazy {library} array{shape} {value.dtype}, not computed"
    size = math.prod(shape)
    flat = namespace(value).reshape(value, (-1,))
    items = ", ".join(_number(float(flat[i])) for i in range(min(size, max_items)))
    more = ", ..." if size > max_items else ""
    return f"{library} array{shape} [{items}{more}]"


def _number(x: Any) -> str:
    """A number to 6 significant digits; -0.0 (a ReLU's zero gradient) shows as 0."""
    return f"{x + 0:.6g}" if x == 0 else f"{x:.6g}"


def _shape(value: Any) -> str:
    return _MISSING if value is None else str(np.shape(value))


def _row(node: Node, stale: bool) -> list[str]:
    if isinstance(node, OperationNode):
        op = type(node.op).name or type(node.op).__name__
        inputs = ", ".join(node.input_names)
    else:
        op = (
            "input"
            if isinstance(node, Input) and node.trainable
            else ("constant" if isinstance(node, Constant) else "input (fixed)")
        )
        inputs = ""
    value = "stale" if stale else describe_value(node.output)
    return [node.name, op, inputs, _shape(node.output), value, describe_value(node.local_grad)]


def format_summary(
    nodes: Iterable[Node],
    max_rows: int | None = None,
    stale: Callable[[Node], bool] | None = None,
) -> str:
    """A plain-text table of nodes: name, op, inputs, shape, value, gradient.

    Parameters
    ----------
    nodes : iterable of Node
        The nodes, in the order to show them.
    max_rows : int, optional
        Keep the first and last rows up to this many, with a line saying how
        many were left out; all rows by default.
    stale : callable, optional
        Whether a node's value belongs to another input state than the one
        shown (:meth:`cgraph.engine.GraphCore.stale`); its value then reads "stale".

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(**{f"x{i}": float(i) for i in range(5)})
    >>> print(format_summary(cg.nodes.values(), max_rows=2))
    name  op     inputs  shape  value  gradient
    ----  -----  ------  -----  -----  --------
    x0    input          ()     0      -
    ... 3 more nodes ...
    x4    input          ()     4      -
    """
    nodes = list(nodes)
    skipped = 0
    if max_rows is not None and len(nodes) > max_rows:
        head = max_rows - max_rows // 2
        skipped = len(nodes) - max_rows
        nodes = nodes[:head] + nodes[len(nodes) - max_rows // 2 :]
    header = ["name", "op", "inputs", "shape", "value", "gradient"]
    rows = [_row(node, stale is not None and stale(node)) for node in nodes]
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    lines = [line(header), line(["-" * width for width in widths])]
    lines += [line(cells) for cells in rows]
    if skipped:
        head = max_rows - max_rows // 2  # type: ignore[operator]
        lines.insert(2 + head, f"... {skipped} more nodes ...")
    return "\n".join(lines)

"""The ``cgraph`` command's size limit: every value's shape worked out before anything is evaluated.

A 40-character formula can ask for gigabytes (``sum(broadcast_to(x, shape=(20000, 20000)))``),
so before evaluating, the command walks the graph in order and works out each
node's shape from its inputs' shapes and its op's parameters, with numpy's rules
(broadcasting, matmul, reductions, indexing), without computing any value. A node
whose shape would hold more than the limit's number of elements is refused.

An op this module has no rule for (one registered by other code) gets no shape,
and neither do the nodes after it, unless their shape follows from their
parameters alone (``broadcast_to``, ``unbroadcast``, ``scatter``): those nodes
are evaluated unchecked.
"""

from __future__ import annotations

import math

from cgraph.graph import ComputationalGraph
from cgraph.shapes import shapes_of

__all__ = ["DEFAULT_MAX_ELEMENTS", "TooLargeError", "check_sizes", "shapes_of"]

#: The default limit on the elements of any one value: 80 MB of float64.
DEFAULT_MAX_ELEMENTS = 10**7


class TooLargeError(Exception):
    """A node whose value would exceed the size limit; the message names it and the limit.

    Examples
    --------
    >>> str(TooLargeError("node 'f' would hold 10 elements"))
    "node 'f' would hold 10 elements"
    """


def check_sizes(
    cg: ComputationalGraph, root: str, max_elements: int, option: str = "--max-elements"
) -> None:
    """Refuse a graph any of whose values up to ``root`` would hold over ``max_elements``.

    Raises
    ------
    TooLargeError
        Naming the first such node (in evaluation order), its shape, the limit and
        ``option``, which raises it.

    Examples
    --------
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> _ = cg.add_expression("f", "sum(broadcast_to(x, shape=(2000, 3000)))")
    >>> check_sizes(cg, "f", 10**7)
    >>> check_sizes(cg, "f", 10**6)
    Traceback (most recent call last):
    ...
    cgraph.cli.limits.TooLargeError: node 'f/broadcast_to' would hold 6000000 elements (shape (2000, 3000)), over the limit of 1000000 per value; raise it with --max-elements 6000000
    """  # noqa: E501
    for name, shape in shapes_of(cg, root).items():
        if shape is None:
            continue
        size = math.prod(shape)
        if size > max_elements:
            raise TooLargeError(
                f"node {name!r} would hold {size} elements (shape {shape}), over the limit of "
                f"{max_elements} per value; raise it with {option} {size}"
            )

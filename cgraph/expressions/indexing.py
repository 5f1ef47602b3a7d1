"""Subscripts in expressions: ``x[0:7]``, ``W[:, 1]``, ``x[::2]``, ``x[-1]`` and ``x[i]``.

An index made of literals (ints, slices with literal bounds, ``None``, ``...``
and lists of ints) is the parameter of one ``index`` op, as numpy reads it.
Nothing in it is evaluated: each part is read from the syntax tree.

One part may instead be an expression, usually an integer node (``x[i]``,
``W[:, i]``, ``x[n - 1]``): a data-dependent index. It becomes ``take`` (gather
along that axis), whose index is an input and gets no gradient, between an
``index`` for the literal parts and a ``reshape`` of the index node:

- a scalar index (or one whose shape cannot be told): ``reshape`` to all ones,
  ``take``, then ``index`` 0 drops the axis, as ``x[3]`` does. A longer index
  then fails when evaluated, in the ``reshape``, never picks silently;
- a 1-D index: ``reshape`` to lie along the axis, and ``take``: ``x[[2, 0, 2]]``.

``take`` needs an index with as many axes as the array, so the array's number
of axes must be known when the expression is declared; it is worked out from
the shapes of the inputs and constants (see :func:`cgraph.shapes.shapes_of`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = ["DATA", "DataIndex", "IndexParts", "data_index", "index_parts"]


class _Data:
    """The place of the data-dependent part among an index's parts."""

    def __repr__(self) -> str:
        return "DATA"


#: Stands for the one part of an index that is an expression, not a literal.
DATA: Any = _Data()

Fail = Callable[[ast.AST, str], NoReturn]


@dataclass
class IndexParts:
    """An index read from the tree: its parts (literals, or DATA once) and where DATA came from.

    Examples
    --------
    >>> parts = index_parts(ast.parse("x[1:, i]", mode="eval").body, None)
    >>> parts.parts, parts.comma, ast.unparse(parts.data)
    ([slice(1, None, None), DATA], True, 'i')
    """

    parts: list[Any]
    comma: bool  # written with a comma: x[1, :] (a tuple), not x[1]
    data: ast.expr | None = None

    def literal(self) -> Any:
        """The index as numpy takes it, with DATA replaced by ``:``.

        Examples
        --------
        >>> IndexParts([DATA, 0], True).literal()
        (slice(None, None, None), 0)
        """
        parts = [slice(None) if part is DATA else part for part in self.parts]
        return tuple(parts) if self.comma else parts[0]


def index_parts(node: ast.Subscript, fail: Fail | None) -> IndexParts:
    """Read the index of ``x[...]``: literal parts, and at most one expression.

    ``fail(node, why)`` is called for a part that is refused (a float, a string,
    a slice bound that is not a literal, a mask, a second expression, two
    ``...``); without it, a ValueError is raised.
    """

    def refuse(at: ast.AST, why: str) -> NoReturn:
        if fail is not None:
            fail(at, why)
        raise ValueError(why)

    written = node.slice
    elements = written.elts if isinstance(written, ast.Tuple) else [written]
    result = IndexParts([], isinstance(written, ast.Tuple))
    for element in elements:
        if isinstance(element, ast.Slice):
            bounds = [_bound(part, refuse) for part in (element.lower, element.upper, element.step)]
            if bounds[2] == 0:
                refuse(element, "a slice's step cannot be zero")
            result.parts.append(slice(*bounds))
        elif isinstance(element, ast.Constant) and (element.value is None or element.value is ...):
            if element.value is ... and ... in result.parts:
                refuse(element, "an index can hold only one '...'")
            result.parts.append(element.value)
        elif _literal_number(element) is not None:
            result.parts.append(_whole(element, refuse))
        elif isinstance(element, ast.List):
            if not element.elts:
                refuse(element, "an empty list picks nothing; give the positions to pick")
            result.parts.append([_whole(item, refuse) for item in element.elts])
        elif isinstance(element, ast.Constant):
            refuse(
                element,
                f"a {type(element.value).__name__} cannot index; an index holds "
                "integers, slices such as 1:5 or ::2, None, ... or one integer node",
            )
        elif isinstance(element, ast.Compare):
            refuse(
                element,
                "indexing by a mask picks a number of elements known only from "
                "the data; keep the shape with where(mask, x, 0)",
            )
        elif isinstance(element, (ast.Tuple, ast.Starred)):
            refuse(
                element,
                "an index part cannot be a tuple or starred; write the parts separated by commas",
            )
        else:
            if result.data is not None:
                refuse(
                    element,
                    "only one part of an index can be an expression (an integer "
                    "node); index in two steps, or use take(x, index, axis=...)",
                )
            result.data = element
            result.parts.append(DATA)
    return result


def _literal_number(node: ast.AST) -> int | float | None:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and (type(node.value) is not bool)
    ):
        return sign * node.value
    return None


def _whole(node: ast.AST, refuse: Fail) -> int:
    value = _literal_number(node)
    if type(value) is not int:
        refuse(
            node,
            "an index must be a whole number written without a point (3, -1), "
            "a slice, None, ..., a list of whole numbers, or one integer node",
        )
    return value


def _bound(node: ast.expr | None, refuse: Fail) -> int | None:
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return None
    if _literal_number(node) is None:
        refuse(
            node,
            "a slice's start, stop and step must be whole-number literals: a node "
            "there would make the shape of the result depend on the data; slice with "
            "literals, or index by an integer node (x[i])",
        )
    return _whole(node, refuse)


@dataclass
class DataIndex:
    """The ops that compute x[parts] for a data-dependent part: each None when not needed.

    ``before`` is the index op's parameter for the literal parts, ``shape`` the
    reshape of the index node, ``axis`` take's axis and ``after`` the index op's
    parameter dropping the axis a scalar index leaves.
    """

    before: Any
    shape: tuple[int, ...] | None
    axis: int
    after: Any


def data_index(parts: IndexParts, ndim: int, index_ndim: int | None) -> DataIndex:
    """Plan x[parts] for an x of ``ndim`` axes and an index node of ``index_ndim`` (None: unknown).

    Raises
    ------
    ValueError
        Saying why, for too many parts, an index node of more than one axis, or
        a 1-D index with a list, or with ints apart from it (numpy would move
        the picked axis first).

    Examples
    --------
    >>> data_index(IndexParts([slice(None), DATA], True), 2, 0)
    DataIndex(before=None, shape=(1, 1), axis=1, after=(slice(None, None, None), 0))
    >>> data_index(IndexParts([DATA], False), 1, 1)
    DataIndex(before=None, shape=None, axis=0, after=None)
    """
    consumed = sum(1 for part in parts.parts if part is not None and part is not ...)
    if consumed > ndim:
        raise ValueError(f"{consumed} indices for an array of {ndim} axes")
    expanded: list[Any] = []
    rest = [slice(None)] * (ndim - consumed)  # the axes no part names: '...', or after the last
    for part in parts.parts:
        expanded.extend(rest if part is ... else [part])
    if ... not in parts.parts:
        expanded.extend(rest)
    where = expanded.index(DATA)
    kept = [part is DATA or part is None or isinstance(part, slice) for part in expanded]
    axis, ndim_after = sum(kept[:where]), sum(kept)
    if index_ndim is not None and index_ndim > 1:
        raise ValueError(
            f"the index node has {index_ndim} axes; index by a scalar or a 1-D "
            "node, or reshape it to 1-D first"
        )
    vector = index_ndim == 1
    if vector:
        if any(isinstance(part, list) for part in expanded):
            raise ValueError(
                "a list of positions beside a 1-D index node would be paired with "
                "it, as numpy does; index in two steps"
            )
        apart = [k for k, part in enumerate(expanded) if part is DATA or isinstance(part, int)]
        if apart != list(range(apart[0], apart[-1] + 1)):
            raise ValueError(
                "ints apart from a 1-D index node would move the picked axis "
                "first, as numpy does; index in two steps"
            )
    literal = parts.literal()
    trivial = all(
        part is ... or part == slice(None)
        for part in (literal if isinstance(literal, tuple) else (literal,))
    )
    before = None if trivial else literal
    if vector:
        shape = (1,) * axis + (-1,) + (1,) * (ndim_after - axis - 1)
        return DataIndex(before, None if ndim_after == 1 else shape, axis, None)
    after = 0 if axis == 0 else (slice(None),) * axis + (0,)
    return DataIndex(before, (1,) * ndim_after, axis, after)

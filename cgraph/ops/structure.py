"""Products and structure: Einstein summation, the cross product, triangular parts.

``einsum`` and ``cross`` are multilinear (linear in each input), so their
tangent is a sum of the op with one input replaced by its tangent
(:class:`~cgraph.ops.kinds.Multilinear`); ``tril`` and ``triu`` keep a fixed
set of elements, a linear map that is its own transpose
(:class:`~cgraph.ops.kinds.LinearMap`). Each pullback is the op itself with
its inputs rearranged: einsum's is an einsum, cross's a cross product.

Each op computes with its inputs' array library: numpy for numbers and numpy
arrays, else their array-API namespace. The array API has no einsum and no
cross product: a library that has an einsum (Dask, CuPy) uses its own, any
other contracts the operands pairwise by matrix products; the cross product is
numpy's formula written out.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from cgraph.errors import InvalidOperationError, ShapeError
from cgraph.ops.arrays import as_output, normalize_axes, shape_errors
from cgraph.ops.kinds import LinearMap, Multilinear
from cgraph.ops.namespaces import is_foreign, namespace
from cgraph.ops.tensor import _adopt, _gather

__all__ = ["Einsum", "Cross", "Tril", "Triu"]


# --------------------------------------------------------------------------------------
# Einstein summation
# --------------------------------------------------------------------------------------

#: One operand's subscripts: letters and at most one "..." (broadcast axes), in order.
Subscripts = tuple[str, ...]


def _tokens(term: str, subscripts: str) -> Subscripts:
    """The subscripts of one operand (or the output), "..." as one token."""
    if term.count("...") > 1 or "." in term.replace("...", ""):
        raise InvalidOperationError(
            f"einsum subscripts {subscripts!r}: each operand may hold one '...' at most"
        )
    tokens: list[str] = []
    for part in term.split("..."):
        for letter in part:
            if letter not in string.ascii_letters:
                raise InvalidOperationError(
                    f"einsum subscripts {subscripts!r}: {letter!r} is not a letter; "
                    "subscripts are letters a-z, A-Z and '...'"
                )
        tokens.extend(part)
        tokens.append("...")
    return tuple(tokens[:-1])


def _parse(subscripts: str) -> tuple[tuple[Subscripts, ...], Subscripts]:
    """The operands' subscripts and the output's (numpy's implicit output when no '->').

    Raises
    ------
    InvalidOperationError
        If the subscripts are not letters, '...', ',' and one '->', or the output
        names a letter twice or one no operand has.
    """
    if not isinstance(subscripts, str):
        raise InvalidOperationError(f"einsum subscripts must be a string, not {subscripts!r}")
    compact = subscripts.replace(" ", "")
    left, arrow, right = compact.partition("->")
    if "->" in right:
        raise InvalidOperationError(f"einsum subscripts {subscripts!r} hold '->' twice")
    operands = tuple(_tokens(term, subscripts) for term in left.split(","))
    letters = [token for tokens in operands for token in tokens if token != "..."]
    if arrow:
        output = _tokens(right, subscripts)
        named = [token for token in output if token != "..."]
        if len(set(named)) != len(named) or not set(named) <= set(letters):
            raise InvalidOperationError(
                f"einsum subscripts {subscripts!r}: the output must name each letter once, "
                "and only letters of the operands"
            )
        if "..." in output and not any("..." in tokens for tokens in operands):
            raise InvalidOperationError(
                f"einsum subscripts {subscripts!r}: the output has '...' but no operand does"
            )
    else:  # numpy's implicit output: '...' first, then the letters used once, sorted
        ellipsis = ("...",) if any("..." in tokens for tokens in operands) else ()
        output = (*ellipsis, *sorted(token for token in set(letters) if letters.count(token) == 1))
    return operands, output


def _sides(tokens: Subscripts, shape: tuple[int, ...]) -> tuple[dict[str, int], tuple[int, int]]:
    """Each letter's size in an operand of this shape, and the axes [start, stop) of its '...'."""
    held = len(shape) - len(tokens) + ("..." in tokens)
    sides: dict[str, int] = {}
    axis, span = 0, (0, 0)
    for token in tokens:
        if token == "...":
            span = (axis, axis + held)
            axis += held
        else:
            sides[token] = shape[axis]
            axis += 1
    return sides, span


def _is_mask(value: Any) -> bool:
    """Whether a value is a numpy boolean array: the constants einsum's pullback adds."""
    return type(value) is np.ndarray and value.dtype == np.bool_


def _einsum(
    xp: ModuleType, operands: tuple[Subscripts, ...], output: Subscripts, arrays: list[Any]
) -> Any:
    """np.einsum in the array API, which has none: the operands contracted pairwise, each
    pair by one batched matrix product (as numpy's optimised einsum does, by BLAS).

    Raises
    ------
    ValueError
        If a letter's sizes differ (other than 1, which broadcasts, as in numpy).
    """
    # '...' becomes letters of its own, aligned from the right, as broadcast axes are.
    spans = [len(a.shape) - len(t) + 1 for t, a in zip(operands, arrays, strict=True) if "..." in t]
    ellipsis = tuple(f".{i}" for i in range(max(spans, default=0)))
    dtype = xp.result_type(*(a for a in arrays if not xp.isdtype(a.dtype, "bool")))
    terms: list[tuple[tuple[str, ...], Any]] = []
    sizes: dict[str, int] = {}
    for tokens, array in zip(operands, arrays, strict=True):
        held = len(array.shape) - len(tokens) + 1
        labels = tuple(
            letter
            for token in tokens
            for letter in (ellipsis[len(ellipsis) - held :] if token == "..." else (token,))
        )
        if len(labels) != len(array.shape):
            raise ValueError(f"an operand of shape {tuple(array.shape)} has {len(labels)} letters")
        if not xp.isdtype(array.dtype, "bool") or dtype != array.dtype:
            array = xp.astype(array, dtype)
        labels, array = _diagonal(xp, labels, array)
        for letter, side in zip(labels, array.shape, strict=True):
            if sizes.get(letter, 1) not in (1, side) and side != 1:
                raise ValueError(f"letter {letter!r} has sizes {sizes[letter]} and {side}")
            sizes[letter] = max(side, sizes.get(letter, 1))
        terms.append((labels, array))
    out = tuple(letter for token in output for letter in (ellipsis if token == "..." else (token,)))
    while True:
        # Letters no other term and not the output holds are summed away first.
        for i, (labels, array) in enumerate(terms):
            elsewhere = {x for j, (other, _) in enumerate(terms) if j != i for x in other}
            alone = [a for a, x in enumerate(labels) if x not in elsewhere and x not in out]
            if alone:
                kept = tuple(x for x in labels if x in elsewhere or x in out)
                terms[i] = (kept, xp.sum(array, axis=tuple(alone)))
        if len(terms) == 1:
            break
        (left, a), (right, b), rest = terms[0], terms[1], terms[2:]
        needed = set(out).union(*(labels for labels, _ in rest))
        batch = [x for x in left if x in right and x in needed]
        summed = [x for x in left if x in right and x not in needed]
        only_a = [x for x in left if x not in right]
        only_b = [x for x in right if x not in left]
        a = _arranged(xp, a, left, (*batch, *only_a, *summed), sizes)
        b = _arranged(xp, b, right, (*batch, *summed, *only_b), sizes)
        count = [math.prod(sizes[x] for x in group) for group in (batch, only_a, summed, only_b)]
        product = xp.matmul(
            xp.reshape(a, (count[0], count[1], count[2])),
            xp.reshape(b, (count[0], count[2], count[3])),
        )
        labels = (*batch, *only_a, *only_b)
        terms = [(labels, xp.reshape(product, tuple(sizes[x] for x in labels))), *rest]
    labels, result = terms[0]
    return _arranged(xp, result, labels, out, sizes)


def _diagonal(xp: ModuleType, labels: tuple[str, ...], array: Any) -> tuple[tuple[str, ...], Any]:
    """A letter repeated in one operand takes its diagonal: each letter once, by a gather."""
    unique = tuple(dict.fromkeys(labels))
    if len(unique) == len(labels):
        return labels, array
    shape = tuple(array.shape)
    for letter in unique:
        if len({side for x, side in zip(labels, shape, strict=True) if x == letter}) > 1:
            raise ValueError(f"letter {letter!r} repeats with different sizes in one operand")
    grids = np.indices(tuple(shape[labels.index(x)] for x in unique))
    strides = np.cumprod((1, *shape[:0:-1]))[::-1]
    positions = sum(
        grids[unique.index(x)] * int(stride) for x, stride in zip(labels, strides, strict=True)
    )
    return unique, _gather(xp, array, np.asarray(positions, dtype=np.intp))


def _arranged(
    xp: ModuleType, array: Any, labels: tuple[str, ...], order: Sequence[str], sizes: dict[str, int]
) -> Any:
    """The array with its letters in ``order`` (each in ``labels``), broadcast to full size."""
    axes = tuple(labels.index(x) for x in order)
    if axes != tuple(range(len(labels))):
        array = xp.permute_dims(array, axes)
    full = tuple(sizes[x] for x in order)
    return array if tuple(array.shape) == full else xp.broadcast_to(array, full)


def _joined(operands: tuple[Subscripts, ...] | list[Subscripts], output: Sequence[str]) -> str:
    return ",".join("".join(tokens) for tokens in operands) + "->" + "".join(output)


class Einsum(Multilinear):
    """Einstein summation over ``subscripts``, as np.einsum; dL/dx_k = einsum of u and the other operands onto x_k's subscripts.

    Takes one input per operand of ``subscripts`` (``"ij,jk->ik"``); without
    ``->`` the output is numpy's implicit one (the letters used once, sorted).
    Repeated letters in an operand take its diagonal (``"ii->i"``, the trace
    ``"ii"``), ``...`` stands for broadcast axes (``"...ij,...jk->...ik"``).
    The gradient of operand k contracts the upstream gradient u (subscripted as
    the output) with the other operands, onto operand k's subscripts; a letter
    summed away in operand k alone is broadcast back, a repeated letter put
    back on the diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0], [1.0]])
    >>> op = Einsum("ij,jk->ik")
    >>> op.forward(a, b)
    array([[3.],
           [7.]])
    >>> op.pullback(numeric, np.array([[1.0], [0.0]]), None, a, b)
    (array([[1., 1.],
           [0., 0.]]), array([[1.],
           [2.]]))
    >>> Einsum("ii").forward(a)   # the trace
    5.0
    >>> Einsum("ii").pullback(numeric, 1.0, 5.0, a)
    (array([[1., 0.],
           [0., 1.]]),)
    """  # noqa: E501

    name = "einsum"
    min_arity = 1

    def __init__(self, subscripts: str) -> None:
        self.subscripts = subscripts
        self.operands, self.output = _parse(subscripts)
        self.explicit = _joined(self.operands, self.output)
        self.arity = len(self.operands)  # checked when a node is declared

    def params(self) -> dict[str, Any]:
        return {"subscripts": self.subscripts}

    def forward(self, *operands: Any) -> Any:
        if len(operands) != len(self.operands):
            raise ShapeError(
                f"einsum {self.subscripts!r} takes {len(self.operands)} operand(s), "
                f"not {len(operands)}"
            )
        foreign = [x for x in operands if type(x) is not np.ndarray and is_foreign(x)]
        with shape_errors("einsum", f"give operands whose shapes fit {self.subscripts!r}"):
            if not foreign:
                return as_output(np.einsum(self.explicit, *operands, optimize=len(operands) > 2))
            # The pullback's constant masks (numpy's) join the operands' library; other
            # numpy arrays only where it takes them (Dask), as namespace() decides.
            xp = namespace(
                *foreign, *(x for x in operands if not is_foreign(x) and not _is_mask(x))
            )
            arrays = [x if is_foreign(x) else xp.asarray(x) for x in operands]
            if hasattr(xp, "einsum"):  # Dask's and CuPy's own
                return xp.einsum(self.explicit, *arrays)
            return _einsum(xp, self.operands, self.output, arrays)

    def output_shape(self, *shapes: tuple[int, ...]) -> tuple[int, ...]:
        """The output's shape for operands of these shapes, computing nothing.

        Examples
        --------
        >>> Einsum("...ij,jk->...ik").output_shape((5, 2, 3), (3, 4))
        (5, 2, 4)
        """
        sides: dict[str, int] = {}
        ellipses = []
        for tokens, shape in zip(self.operands, shapes, strict=True):
            letters, (start, stop) = _sides(tokens, shape)
            for letter, side in letters.items():  # a side of 1 broadcasts
                sides[letter] = max(side, sides.get(letter, 1))
            ellipses.append(shape[start:stop])
        broadcast = np.broadcast_shapes(*ellipses)
        return tuple(
            side
            for token in self.output
            for side in (broadcast if token == "..." else (sides[token],))
        )

    def pullback(self, p: Any, upstream: Any, output: Any, *operands: Any) -> Any:
        return tuple(
            self._gradient(p, k, upstream, operands) if self.wants_grad(k) else None
            for k in range(len(operands))
        )

    def _gradient(self, p: Any, k: int, upstream: Any, operands: tuple[Any, ...]) -> Any:
        """u contracted with every operand but k, onto operand k's subscripts."""
        tokens, shape = self.operands[k], p.shape(operands[k])
        sides, (start, stop) = _sides(tokens, shape)
        subscripts = [self.output, *(s for j, s in enumerate(self.operands) if j != k)]
        arguments = [upstream, *(x for j, x in enumerate(operands) if j != k)]
        used = {token for s in (*self.operands, self.output) for token in s}
        fresh = (letter for letter in string.ascii_letters if letter not in used)
        target: list[str] = []
        for token in tokens:
            if token != "..." and token in target:
                # A repeated letter is a diagonal: the gradient goes back on it, by an identity.
                letter = next(fresh)
                subscripts.append((token, letter))
                arguments.append(np.eye(sides[token], dtype=bool))
                token = letter
            target.append(token)
        provided: dict[str, int] = {}
        for s, x in zip(subscripts, arguments, strict=True):
            for letter, side in _sides(s, p.shape(x))[0].items():
                provided[letter] = max(side, provided.get(letter, 0))
        # What operand k alone held (summed away, or broadcast in the others) is broadcast back.
        for letter, side in sides.items():
            if provided.get(letter, 0) < side:
                subscripts.append((letter,))
                arguments.append(np.ones(side, dtype=bool))
        if "..." in tokens and "..." not in self.output:
            subscripts.append(("...",))
            arguments.append(np.ones(shape[start:stop], dtype=bool))
        elif "..." not in tokens and any("..." in s for s in subscripts):
            target.insert(0, "...")  # numpy sums no '...' away: it is summed below
        grad = p.einsum(*arguments, subscripts=_joined(subscripts, target))
        extra = p.ndim(grad) - len(shape)
        if extra:  # the broadcast '...' has more axes than operand k's: sum them away
            first = target.index("...")
            grad = p.sum(grad, axis=tuple(range(first, first + extra)))
        return p.sum_to(grad, shape)  # and its axes of size 1 that others broadcast


# --------------------------------------------------------------------------------------
# The cross product
# --------------------------------------------------------------------------------------


class Cross(Multilinear):
    """Cross product y = a x b of 3-vectors along ``axis``, as np.cross; dL/da = b x u, dL/db = u x a.

    The other axes broadcast, as numpy's and torch's (``torch.linalg.cross``);
    the gradients are summed back to each input's shape.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    >>> Cross().forward(a, b)
    array([0., 0., 1.])
    >>> Cross().pullback(numeric, np.array([0.0, 0.0, 1.0]), None, a, b)
    (array([1., 0., 0.]), array([0., 1., 0.]))
    """  # noqa: E501

    name = "cross"

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis}

    def forward(self, a: Any, b: Any) -> Any:
        xp = namespace(a, b)
        if xp is np:
            a, b = np.asarray(a), np.asarray(b)
        for x in (a, b):
            if x.ndim == 0 or x.shape[normalize_axes(self.axis, x.ndim)[0]] != 3:
                raise ShapeError(
                    f"cross takes 3-vectors along axis {self.axis}, not shapes "
                    f"{tuple(a.shape)} and {tuple(b.shape)}"
                )
        with shape_errors("cross", "the axes other than the vectors' must broadcast"):
            if xp is np:
                return np.cross(a, b, axis=self.axis)
            return _cross(xp, _adopt(xp, a), _adopt(xp, b), self.axis)

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        return (
            p.cross(b, upstream, axis=self.axis) if self.wants_grad(0) else None,
            p.cross(upstream, a, axis=self.axis) if self.wants_grad(1) else None,
        )


# --------------------------------------------------------------------------------------
# Triangular parts
# --------------------------------------------------------------------------------------


def _cross(xp: ModuleType, a: Any, b: Any, axis: int) -> Any:
    """np.cross's formula, component by component, for arrays of another library."""
    np.broadcast_shapes(tuple(a.shape), tuple(b.shape))  # numpy's ValueError where they do not
    a, b = xp.moveaxis(a, axis, -1), xp.moveaxis(b, axis, -1)
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    product = xp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return xp.moveaxis(product, -1, axis)


class _Triangle(LinearMap):
    """The elements on one side of the ``k``-th diagonal of the last two axes, zeros elsewhere."""

    select: Any  # np.tril or np.triu

    def __init__(self, k: int = 0) -> None:
        self.k = int(k)

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    def forward(self, x: Any) -> Any:
        xp = namespace(x)
        if xp is np:
            x = np.asarray(x)
        if x.ndim < 2:
            raise ShapeError(
                f"{self.name} takes a matrix or a stack of matrices, not shape {tuple(x.shape)}"
            )
        if xp is np:
            return type(self).select(x, self.k)
        return (xp.tril if type(self).select is np.tril else xp.triu)(x, k=self.k)

    def pullback(self, p: Any, upstream: Any, output: Any, x: Any) -> Any:
        # Keeping a fixed set of elements is its own transpose.
        return (p.call(self, upstream),)


class Tril(_Triangle):
    """Lower triangle: x_ij where j <= i + ``k``, else 0, as np.tril; dL/dx = tril(u).

    ``k`` is numpy's (torch's ``diagonal``): 0 the main diagonal, above it for
    k > 0, below for k < 0. Leading axes are a batch of matrices.

    Examples
    --------
    >>> import numpy as np
    >>> Tril().forward(np.ones((2, 3)))
    array([[1., 0., 0.],
           [1., 1., 0.]])
    >>> Tril(k=-1).forward(np.ones((2, 2)))
    array([[0., 0.],
           [1., 0.]])
    """

    name = "tril"
    select = np.tril


class Triu(_Triangle):
    """Upper triangle: x_ij where j >= i + ``k``, else 0, as np.triu; dL/dx = triu(u).

    ``k`` is numpy's (torch's ``diagonal``), as for :class:`Tril`.

    Examples
    --------
    >>> import numpy as np
    >>> Triu(k=1).forward(np.ones((3, 3)))
    array([[0., 1., 1.],
           [0., 0., 1.],
           [0., 0., 0.]])
    """

    name = "triu"
    select = np.triu

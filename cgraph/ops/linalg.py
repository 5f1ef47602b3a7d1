"""Linear algebra on square matrices, batched over leading axes as numpy.linalg and torch.linalg.

Every op takes a matrix of shape (n, n) or a stack of them, (..., n, n), and
treats the leading axes as batch axes. Each is a ``forward`` and one derivative
rule, its ``pullback``, written with the primitives ``p``
(:mod:`cgraph.ops.numeric`) and with these ops themselves (``p.inverse``,
``p.solve``), so that the same rule declares gradient graphs: Hessians of a
determinant or an inverse come from it. The pushforwards are written out
beside them (u is the upstream gradient, t a tangent):

- ``inverse``: d(A^-1) = -A^-1 dA A^-1; dL/dA = -A^-T u A^-T.
- ``solve``: x = A^-1 b, dx = A^-1 (db - dA x); dL/db = A^-T u, dL/dA = -(A^-T u) x^T.
- ``det``: d det A = det(A) tr(A^-1 dA); dL/dA = u det(A) A^-T (the cofactors).
- ``logabsdet`` and ``slogdet``: d log|det A| = tr(A^-1 dA); dL/dA = u A^-T.
- ``cholesky``: dL = L Phi(L^-1 dA L^-T), the adjoint of which is Murray's (2016)
  rule, symmetrised as torch's.

Where A is singular (for ``cholesky``, not positive-definite) and a value or
derivative does not exist there, the op raises an
:class:`~cgraph.errors.InvalidValueError`, never returns NaN: ``inverse`` and
``solve`` refuse A, ``logabsdet`` is -inf with no gradient. ``det``'s gradient
does exist there (the cofactor matrix), and ``backward`` computes it.

Each op computes with its input's array library: numpy for numpy arrays, else
the array-API namespace's ``linalg`` (array-api-strict, CuPy). Dask's linalg
takes single matrices only and has no determinant, so on Dask arrays each chunk
of matrices (the matrix axes made whole) is computed by numpy's function, lazily
(``dask.array.apply_gufunc``): numpy's numbers, chunk by chunk. On a lazy array
a singular matrix is found when it is computed, and raises numpy's error there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from cgraph.errors import InvalidValueError, ShapeError
from cgraph.ops.arrays import as_output, float_dtype, shape_errors, tangent_sum
from cgraph.ops.namespaces import is_foreign, is_lazy, namespace
from cgraph.ops.operation import Operation
from cgraph.ops.tensor import _adopt

__all__ = ["Inverse", "Solve", "Det", "LogAbsDet", "Slogdet", "Cholesky"]


def _square(name: str, a: Any) -> Any:
    """``a`` as an array of square matrices (..., n, n), or a ShapeError saying what it is.

    A numpy array for numbers and numpy arrays; an array of another library as it is.
    """
    if type(a) is not np.ndarray and namespace(a) is np:
        a = np.asarray(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"{name} takes a square matrix or a stack of them, shape (..., n, n), not "
            f"{tuple(a.shape)}"
        )
    return a


def _by_chunks(
    signature: str, function: Callable[..., Any], *arrays: Any, sizes: dict[str, int] | None = None
) -> Any:
    """numpy's batched ``function`` on each chunk of Dask arrays, lazily: the matrix axes
    (the core dimensions of ``signature``, as np.vectorize's) whole, the batch axes chunked
    and broadcast."""
    import dask.array as da

    return da.apply_gufunc(
        function,
        signature,
        *arrays,
        allow_rechunk=True,
        output_dtypes=float_dtype(arrays[0]),
        output_sizes=sizes,
    )


def _linalg(*arrays: Any) -> tuple[ModuleType, bool]:
    """The arrays' namespace, and whether their linear algebra is numpy's by chunks (Dask)."""
    xp = namespace(*arrays)
    return xp, xp is not np and any(is_lazy(array) for array in arrays)


@contextmanager
def _refused(name: str, hint: str) -> Iterator[None]:
    """numpy's LinAlgError (a singular matrix, one not positive-definite) as InvalidValueError."""
    try:
        yield
    except np.linalg.LinAlgError as error:
        raise InvalidValueError(f"{name}: {hint} (numpy: {error})") from error


def _per_matrix(p: Any, value: Any, a: Any) -> Any:
    """A value per matrix of ``a`` (shape: a's batch axes) made to broadcast over its matrices."""
    batch = p.shape(a)[:-2]
    return p.reshape(value, (*batch, 1, 1)) if batch else value


def _column(p: Any, v: Any) -> Any:
    """Vectors (..., n) as one-column matrices (..., n, 1)."""
    return p.reshape(v, (*p.shape(v), 1))


def _trace_product(p: Any, m: Any, t: Any) -> Any:
    """tr(m^T t) per matrix: sum_ij m_ij t_ij over the last two axes."""
    return p.sum(m * t, axis=(-2, -1))


def _phi(p: Any, x: Any) -> Any:
    """Phi(X): the lower triangle of X with its diagonal halved (Murray 2016).

    On numpy arrays by numpy's masks (the fastest); gradient graphs and other
    libraries take it by the ops ``tril`` and ``triu``, so that no numpy constant
    meets x's library: the same numbers (the diagonal x - x/2 = x/2 exactly).
    """
    if p.symbolic or is_foreign(x):  # (a plan's symbol has no shape: it calls the op)
        lower = p.tril(x)
        return lower - 0.5 * p.triu(lower)
    n = p.shape(x)[-1]
    # Boolean masks keep x's float type (float32 stays float32).
    below = np.tri(n, k=-1, dtype=bool)
    diagonal = np.eye(n, dtype=bool)
    return x * below + 0.5 * (x * diagonal)


# --------------------------------------------------------------------------------------
# Inverse and solve
# --------------------------------------------------------------------------------------


class Inverse(Operation):
    """Matrix inverse Y = A^-1, as np.linalg.inv; dY = -Y dA Y, dL/dA = -Y^T u Y^T.

    Registered as ``inverse``: ``inv`` is the elementwise reciprocal 1 / x.
    The rule reuses the output Y, so no second inverse is computed.

    Raises
    ------
    ShapeError
        If A is not square, (..., n, n).
    InvalidValueError
        If A is singular (numpy's LU factorisation meets a zero pivot).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Inverse()
    >>> a = np.array([[2.0, 0.0], [0.0, 4.0]])
    >>> y = op.forward(a)
    >>> y
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    >>> op.pullback(numeric, np.ones((2, 2)), y, a)
    (array([[-0.25  , -0.125 ],
           [-0.125 , -0.0625]]),)
    """

    name = "inverse"

    def forward(self, a: Any) -> Any:
        a = _square("inverse", a)
        xp, by_chunks = _linalg(a)
        if by_chunks:
            return _by_chunks("(i,j)->(i,j)", np.linalg.inv, a)
        with _refused("inverse", "the matrix is singular, it has no inverse"):
            return xp.linalg.inv(a)

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any) -> Any:
        transposed = p.swap_last(output)
        return (-p.matmul(p.matmul(transposed, upstream), transposed),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, a: Any) -> Any:
        return -p.matmul(p.matmul(output, tangents[0]), output)


class Solve(Operation):
    """Solution x of A x = b, as np.linalg.solve; dL/db = A^-T u, dL/dA = -(A^-T u) x^T.

    ``b`` is a vector (n,) or matrices (..., n, k), as in numpy 2: a ``b``
    of one axis is the one right-hand side of every matrix of A; any other
    ``b`` is a stack of matrices whose batch axes broadcast with A's. The
    gradient solves with A^T (no inverse is formed); the tangent is
    dx = A^-1 (db - dA x).

    Raises
    ------
    ShapeError
        If A is not square, ``b`` is a number, or their shapes do not fit.
    InvalidValueError
        If A is singular.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Solve()
    >>> a, b = np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0])
    >>> x = op.forward(a, b)
    >>> x
    array([1. , 0.5])
    >>> op.pullback(numeric, np.ones(2), x, a, b)
    (array([[-0.5  , -0.25 ],
           [-0.25 , -0.125]]), array([0.5 , 0.25]))
    """

    name = "solve"

    def forward(self, a: Any, b: Any) -> Any:
        a = _square("solve", a)
        xp, by_chunks = _linalg(a, b)
        b = np.asarray(b) if xp is np else b
        if b.ndim == 0:
            raise ShapeError(
                "solve takes b as a vector (n,) or matrices (..., n, k), not a "
                "number; give b as an array of shape (n,)"
            )
        rows = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if rows != a.shape[-1]:
            raise ShapeError(
                f"solve: b of shape {tuple(b.shape)} does not fit A of shape {tuple(a.shape)}: "
                f"b must be (n,) or (..., n, k) with n = {a.shape[-1]}"
            )
        with shape_errors("solve", "the batch axes of A and b must broadcast"):
            np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        if by_chunks:  # one right-hand side as a column: a vector has no batch axes to align
            columns = b if b.ndim > 1 else xp.reshape(_adopt(xp, b), (-1, 1))
            x = _by_chunks("(i,j),(j,k)->(i,k)", np.linalg.solve, a, columns)
            return x if b.ndim > 1 else x[..., 0]
        with _refused("solve", "the matrix is singular, A x = b has no unique solution"):
            return xp.linalg.solve(a, b)

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any, b: Any) -> Any:
        vector = p.ndim(b) == 1  # x and u are then (..., n): as columns they solve as matrices
        u = _column(p, upstream) if vector else upstream
        x = _column(p, output) if vector else output
        grad_b = p.solve(p.swap_last(a), u)
        grad_a = -p.matmul(grad_b, p.swap_last(x)) if self.wants_grad(0) else None
        return grad_a, p.reshape(grad_b, p.shape(upstream)) if vector else grad_b

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, a: Any, b: Any) -> Any:
        vector = p.ndim(b) == 1
        t_a, t_b = tangents
        x = _column(p, output) if vector else output
        moved = tangent_sum(
            None if t_b is None else _column(p, t_b) if vector else t_b,
            None if t_a is None else -p.matmul(t_a, x),
        )
        tangent = p.solve(a, moved)
        return p.reshape(tangent, p.shape(output)) if vector else tangent


# --------------------------------------------------------------------------------------
# Determinants
# --------------------------------------------------------------------------------------


def _cofactors(p: Any, a: Any, det: Any) -> Any:
    """The matrix of cofactors det(A) A^-T (d det / dA), from an SVD where some A is singular."""
    if not p.symbolic:
        if type(a) is not np.ndarray and is_lazy(a):  # chunk by chunk, each as numpy's
            return _by_chunks("(i,j)->(i,j)", _numpy_cofactors, a)
        xp = namespace(a, det)
        if xp is np and np.any(np.asarray(det) == 0):
            return _cofactors_by_svd(np.asarray(a))
        if xp is not np and bool(xp.any(det == 0)):  # one boolean read back
            return _foreign_cofactors_by_svd(xp, a)
    return _per_matrix(p, det, a) * p.swap_last(p.inverse(a))


def _numpy_cofactors(a: np.ndarray) -> np.ndarray:
    """_cofactors on numbers, in numpy alone: what it computes for a chunk of Dask matrices."""
    det = np.linalg.det(a)
    if np.any(det == 0):
        return _cofactors_by_svd(a)
    return (det[..., None, None] if det.ndim else det) * np.swapaxes(np.linalg.inv(a), -1, -2)


def _cofactors_by_svd(a: np.ndarray) -> np.ndarray:
    """det(A) A^-T for any A, singular included: with A = U S V^T, it is
    det(U) det(V) U diag(prod_{j != i} s_j) V^T, which divides by no singular value."""
    u, s, vh = np.linalg.svd(a)
    ones = np.ones((*s.shape[:-1], 1), s.dtype)
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return sign[..., None, None] * np.matmul(u * (before * after)[..., None, :], vh)


def _foreign_cofactors_by_svd(xp: ModuleType, a: Any) -> Any:
    """_cofactors_by_svd's steps in the array API (no negative-step slices there)."""
    u, s, vh = xp.linalg.svd(a)
    ones = xp.ones((*s.shape[:-1], 1), dtype=s.dtype)
    before = xp.cumulative_prod(xp.concat([ones, s[..., :-1]], axis=-1), axis=-1)
    reversed_tail = xp.flip(s, axis=-1)[..., :-1]
    after = xp.flip(xp.cumulative_prod(xp.concat([ones, reversed_tail], axis=-1), axis=-1), axis=-1)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return sign[..., None, None] * xp.matmul(u * (before * after)[..., None, :], vh)


class Det(Operation):
    """Determinant y = det A, as np.linalg.det; dL/dA = u det(A) A^-T, the cofactors times u.

    One number per matrix: a float for one matrix, an array of the batch
    shape for a stack. The tangent is det(A) tr(A^-1 dA).

    At a singular A (det 0) the gradient is still the matrix of cofactors,
    which exists for every A: ``backward`` and ``jvp`` compute it there from an
    SVD, exact at any rank (zero below rank n - 1), never NaN. (torch 2.13
    returns zeros at an exactly singular A, wrong at rank n - 1: pytorch
    issue 104675.) Gradient and tangent graphs, whose rule is written with
    ``inverse`` so that it can be differentiated again, refuse a singular A
    with an ``InvalidValueError``.

    Raises
    ------
    ShapeError
        If A is not square, (..., n, n).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Det()
    >>> a = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> round(op.forward(a), 12)
    5.0
    >>> op.pullback(numeric, 1.0, 5.0, a)[0].round(12)   # the cofactors [[d, -c], [-b, a]]
    array([[ 3., -1.],
           [-1.,  2.]])
    >>> op.pullback(numeric, 1.0, 0.0, np.ones((2, 2)))[0].round(12)   # singular: still finite
    array([[ 1., -1.],
           [-1.,  1.]])
    """

    name = "det"

    def forward(self, a: Any) -> Any:
        a = _square("det", a)
        xp, by_chunks = _linalg(a)
        if by_chunks:
            return _by_chunks("(i,j)->()", np.linalg.det, a)
        return as_output(xp.linalg.det(a))

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any) -> Any:
        return (_per_matrix(p, upstream, a) * _cofactors(p, a, output),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, a: Any) -> Any:
        return _trace_product(p, _cofactors(p, a, output), tangents[0])


class LogAbsDet(Operation):
    """Log absolute determinant y = log|det A|, computed by LU without overflow; dL/dA = u A^-T.

    The differentiable half of ``slogdet``, for log-likelihoods and
    log-Jacobians: one number per matrix, a float for one matrix. The tangent
    is tr(A^-1 dA). A singular A gives -inf, as numpy; its gradient does not
    exist, and differentiating there raises an ``InvalidValueError``.

    Raises
    ------
    ShapeError
        If A is not square, (..., n, n).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = LogAbsDet()
    >>> a = np.array([[0.0, 2.0], [4.0, 0.0]])   # det -8
    >>> op.forward(a)   # log 8
    2.0794415416798357
    >>> op.pullback(numeric, 1.0, None, a)
    (array([[0.  , 0.5 ],
           [0.25, 0.  ]]),)
    """

    name = "logabsdet"

    def forward(self, a: Any) -> Any:
        a = _square(self.name, a)
        xp, by_chunks = _linalg(a)
        if by_chunks:
            return _by_chunks("(i,j)->()", _log_abs_det, a)
        return as_output(xp.linalg.slogdet(a)[1])

    def _gradient(self, p: Any, a: Any) -> Any:
        """A^-T, the derivative of log|det A|."""
        return p.swap_last(p.inverse(a))

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any) -> Any:
        return (_per_matrix(p, upstream, a) * self._gradient(p, a),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, a: Any) -> Any:
        return _trace_product(p, self._gradient(p, a), tangents[0])


class Slogdet(LogAbsDet):
    """Sign and log|det A| stacked on a last axis of 2, numpy's pair; dL/dA = u[..., 1] A^-T.

    ``np.linalg.slogdet`` and ``torch.linalg.slogdet`` return the pair
    (sign, logabsdet); an op has one output, so here they are ``y[..., 0]``
    and ``y[..., 1]`` of one array, shape (..., 2). The sign (-1, 0 or 1) is
    piecewise constant: it passes no gradient and its tangent is 0. For the
    log alone use ``logabsdet``, which is this op's second half.

    Raises
    ------
    ShapeError
        If A is not square, (..., n, n).

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Slogdet()
    >>> a = np.array([[0.0, 2.0], [4.0, 0.0]])   # det -8
    >>> op.forward(a).round(6)   # sign -1, log 8
    array([-1.      ,  2.079442])
    >>> op.pullback(numeric, np.array([10.0, 1.0]), None, a)   # the sign's 10 goes nowhere
    (array([[0.  , 0.5 ],
           [0.25, 0.  ]]),)
    """

    name = "slogdet"

    def forward(self, a: Any) -> Any:
        a = _square(self.name, a)
        xp, by_chunks = _linalg(a)
        if by_chunks:
            return _by_chunks("(i,j)->(k)", _sign_and_log, a, sizes={"k": 2})
        sign, log_abs = xp.linalg.slogdet(a)
        return xp.stack([sign, log_abs], axis=-1)

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any) -> Any:
        return super().pullback(p, p.index(upstream, index=(Ellipsis, 1)), output, a)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, a: Any) -> Any:
        log_tangent = super().pushforward(p, tangents, output, a)
        return p.stack(p.zeros_like(log_tangent), log_tangent, axis=-1)


def _log_abs_det(a: np.ndarray) -> np.ndarray:
    return np.linalg.slogdet(a)[1]


def _sign_and_log(a: np.ndarray) -> np.ndarray:
    return np.stack(np.linalg.slogdet(a), axis=-1)


# --------------------------------------------------------------------------------------
# Factorisations
# --------------------------------------------------------------------------------------


class Cholesky(Operation):
    """Cholesky factor L of a symmetric positive-definite A = L L^T, as np.linalg.cholesky.

    L is lower triangular with a positive diagonal. The op factors the
    symmetric part (A + A^T) / 2, which is A itself for a symmetric A: so its
    derivative is a true one in every direction, and it is symmetric, as
    torch's symmetrised gradient:
    dL/dA = L^-T S L^-1 with S = (Phi(L^T u) + Phi(L^T u)^T) / 2, Phi taking
    the lower triangle with its diagonal halved (Murray 2016). The tangent is
    dL = L Phi(L^-1 dA_s L^-T), dA_s the symmetric part of dA. (numpy and
    torch read only A's lower triangle: for a symmetric A all three agree.)
    The solves with the triangular L use ``solve``.

    Raises
    ------
    ShapeError
        If A is not square, (..., n, n).
    InvalidValueError
        If A's symmetric part is not positive-definite.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph.ops import numeric
    >>> op = Cholesky()
    >>> a = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> l = op.forward(a)
    >>> l
    array([[2., 0.],
           [1., 2.]])
    >>> op.pullback(numeric, np.array([[1.0, 0.0], [0.0, 0.0]]), l, a)   # dl_00 = 1 / (2 l_00)
    (array([[0.25, 0.  ],
           [0.  , 0.  ]]),)
    """

    name = "cholesky"

    def forward(self, a: Any) -> Any:
        a = _square("cholesky", a)
        xp, by_chunks = _linalg(a)
        if xp is np:
            symmetric = 0.5 * (a + np.swapaxes(a, -1, -2))
        else:
            symmetric = 0.5 * (a + xp.matrix_transpose(a))
        if by_chunks:
            return _by_chunks("(i,j)->(i,j)", np.linalg.cholesky, symmetric)
        with _refused("cholesky", "the matrix must be symmetric positive-definite"):
            return xp.linalg.cholesky(symmetric)

    def pullback(self, p: Any, upstream: Any, output: Any, a: Any) -> Any:
        # Phi(L^T u) reads only u's lower triangle: L^T times its strict upper one is
        # strictly upper. So an upstream with an upper part (a gradient graph's) is right too.
        transposed = p.swap_last(output)
        lower = _phi(p, p.matmul(transposed, upstream))
        middle = 0.5 * (lower + p.swap_last(lower))
        # L^-T S L^-1 = solve(L^T, (solve(L^T, S))^T), as S is symmetric.
        return (p.solve(transposed, p.swap_last(p.solve(transposed, middle))),)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, a: Any) -> Any:
        symmetric = 0.5 * (tangents[0] + p.swap_last(tangents[0]))
        # L^-1 E L^-T = solve(L, (solve(L, E))^T), as E is symmetric.
        whitened = p.solve(output, p.swap_last(p.solve(output, symmetric)))
        return p.matmul(output, _phi(p, whitened))

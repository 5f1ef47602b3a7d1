"""Check gradients against central finite differences, as the seeds do by hand.

Both functions evaluate the graph at perturbed inputs through ``forward(feed=...)``,
so the inputs' own values are never changed; afterwards the graph is left
evaluated at the given point, as after ``forward(root, feed)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from cgraph.errors import GradientMismatchError, InvalidValueError, NoGradientError

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["numerical_gradient", "gradcheck", "check_gradients", "compare_gradients"]


def numerical_gradient(
    cg: GraphCore,
    root: str | None = None,
    wrt: Iterable[str] | str | None = None,
    eps: float = 1e-6,
    feed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Central-difference gradient of ``sum(root)`` with respect to inputs, in float64.

    Each element ``x_i`` of each input gets ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``,
    which is what ``backward`` computes analytically (the root seeded with ones).

    Parameters
    ----------
    cg : GraphCore
        The graph.
    root : str, optional
        The node to differentiate; by default the graph's only sink.
    wrt : str or iterable of str, optional
        The inputs to differentiate with respect to; by default every trainable
        input the root depends on.
    eps : float, default 1e-6
        The step: a finite number > 0.
    feed : mapping of str to value, optional
        Input values to use instead of the inputs' own ones.

    Returns
    -------
    dict of str to float or numpy.ndarray
        One gradient per input, shaped like the input.

    Raises
    ------
    UnknownNodeError
        If ``root`` or a name in ``wrt`` is not a node.
    InvalidValueError
        If ``eps`` is not a finite number > 0.

    Examples
    --------
    >>> from cgraph import ComputationalGraph, numerical_gradient
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(z=0.0)
    >>> cg.add_computation_node("s", "sigmoid", ("z",))
    >>> round(numerical_gradient(cg, "s")["z"], 8)
    0.25
    """
    _check_step(eps, "numerical_gradient")
    root, names, point = _point(cg, root, wrt, feed)
    gradients = {name: _central_differences(cg, root, point, name, eps) for name in names}
    cg.forward(root, feed=point)
    return gradients


def gradcheck(
    cg: GraphCore,
    root: str | None = None,
    wrt: Iterable[str] | str | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    feed: Mapping[str, Any] | None = None,
) -> bool:
    """Check ``backward``'s gradients against central differences, in float64.

    An element passes when ``|analytic - numerical| <= atol + rtol * |numerical|``
    (torch.autograd.gradcheck's defaults), so with ``atol = rtol = 0`` only an
    exact match passes. Float32 inputs are checked at their values cast to
    float64, with a warning, because float32 finite differences are too coarse
    to tell a right gradient from a wrong one.

    Parameters
    ----------
    cg, root, wrt, eps, feed
        As for :func:`numerical_gradient`.
    atol, rtol : float
        Absolute and relative tolerance: finite numbers >= 0.

    Returns
    -------
    bool
        True when every element passes.

    Raises
    ------
    GradientMismatchError
        Naming the input and element with the worst mismatch, both values and
        the difference.
    NoGradientError
        If an input in ``wrt`` is not trainable.
    InvalidValueError
        If ``eps`` is not a finite number > 0, or ``atol`` or ``rtol`` not a finite
        number >= 0 (a negative tolerance would pass every gradient).

    Examples
    --------
    >>> from cgraph import ComputationalGraph, gradcheck
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=-4.0)
    >>> cg.add_computation_node("f", "div", ("x", "y"))
    >>> gradcheck(cg, "f")
    True
    """
    rows, ranks = _checked_rows(cg, root, wrt, eps, atol, rtol, feed)
    failed = [name for name, row in rows.items() if not row["passed"]]
    if failed:
        name = max(failed, key=lambda failing: ranks[failing])
        row = rows[name]
        where = f" at element {tuple(row['element'])}" if row["element"] else ""
        analytic, expected = row["analytic"], row["numerical"]
        root = cg.schedule(root).root.name
        raise GradientMismatchError(
            f"gradcheck of {root!r}: gradient with respect to {name!r}{where} is "
            f"{analytic:.10g} by backward but {expected:.10g} by central differences "
            f"(difference {row['abs_error']:.3g} > atol + rtol * |numerical| = "
            f"{atol + rtol * abs(expected):.3g}); check that op's backward",
            nodes=[name, root],
        )
    return True


def check_gradients(
    cg: GraphCore,
    root: str | None = None,
    wrt: Iterable[str] | str | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    feed: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """What :func:`gradcheck` tests, reported per input instead of raised (the ``check`` command).

    Takes :func:`gradcheck`'s arguments and raises its errors, except
    :class:`GradientMismatchError`: a mismatch is a row whose ``passed`` is False.

    Returns
    -------
    dict of str to dict
        For each input, :func:`compare_gradients`'s row.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=[1.0, 0.0])
    >>> cg.add_computation_node("f", "relu", ("x",))
    >>> row = check_gradients(cg, "f")["x"]
    >>> row["passed"], row["element"], row["analytic"]
    (False, [1], 0.0)
    """
    return _checked_rows(cg, root, wrt, eps, atol, rtol, feed)[0]


def compare_gradients(analytic: Any, numerical: Any, atol: float, rtol: float) -> dict[str, Any]:
    """One input's gradients compared element by element: :func:`gradcheck`'s one test.

    An element passes when ``|analytic - numerical| <= atol + rtol * |numerical|``
    (NaN never passes); the worst element is the one furthest beyond that bound,
    a failing one before any passing one. The relative error is
    ``|analytic - numerical| / |numerical|``.

    Returns
    -------
    dict
        ``passed``, and at the worst element: ``element`` (its index, ``[]`` for a
        scalar, None for an empty input), ``analytic``, ``numerical``,
        ``abs_error`` and ``rel_error``.

    Examples
    --------
    >>> row = compare_gradients(np.array([1.0, 2.5]), np.array([1.0, 2.0]), 1e-5, 1e-3)
    >>> row["passed"], row["element"], row["abs_error"], row["rel_error"]
    (False, [1], 0.5, 0.25)
    >>> compare_gradients(0.25, 0.25, atol=0.0, rtol=0.0)["passed"]   # exact match passes
    True
    """
    return _compare(analytic, numerical, atol, rtol)[0]


def _checked_rows(
    cg: GraphCore,
    root: str | None,
    wrt: Iterable[str] | str | None,
    eps: float,
    atol: float,
    rtol: float,
    feed: Mapping[str, Any] | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Every input's row and the rank of its worst element (higher is worse)."""
    _check_step(eps, "gradcheck")
    _check_tolerance(atol, "atol")
    _check_tolerance(rtol, "rtol")
    root, names, point = _point(cg, root, wrt, feed, warn_float32=True)
    for name in names:
        if not cg.inputs[name].trainable:
            raise NoGradientError(
                f"gradcheck: input {name!r} is not trainable, so backward gives it no "
                "gradient; leave it out of wrt",
                nodes=[name],
            )
    numerical = {name: _central_differences(cg, root, point, name, eps) for name in names}
    cg.forward(root, feed=point)
    cg.backward(root)
    rows, ranks = {}, {}
    for name in names:
        rows[name], ranks[name] = _compare(cg.get_gradient(name), numerical[name], atol, rtol)
    return rows, ranks


def _compare(
    analytic: Any, numerical: Any, atol: float, rtol: float
) -> tuple[dict[str, Any], float]:
    """:func:`compare_gradients`'s row, and how far its worst element is from passing."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    if a.size == 0:
        return {
            "passed": True,
            "element": None,
            "analytic": None,
            "numerical": None,
            "abs_error": 0.0,
            "rel_error": 0.0,
        }, 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        difference = np.abs(a - n)
        bound = atol + rtol * np.abs(n)
        passed = difference <= bound  # <=, so that an exact match passes at zero tolerance
        ratio = np.where(difference == 0.0, 0.0, difference / bound)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    # A failing element ranks above every passing one, whatever rounding did to its ratio.
    rank = np.where(passed, np.minimum(ratio, 1.0), np.maximum(ratio, 1.0) + 1.0)
    worst = np.unravel_index(int(np.argmax(rank)), rank.shape)
    error, expected = float(difference[worst]), float(n[worst])
    # Against a numerical 0 there is no scale: exact agreement is 0, any difference infinite.
    relative = error / abs(expected) if expected != 0.0 else (0.0 if error == 0.0 else math.inf)
    row = {
        "passed": bool(np.all(passed)),
        "element": [int(i) for i in worst],
        "analytic": float(a[worst]),
        "numerical": expected,
        "abs_error": error,
        "rel_error": relative,
    }
    return row, float(rank[worst])


def _check_step(eps: Any, what: str) -> None:
    if not _is_real(eps) or not math.isfinite(eps) or eps <= 0:
        raise InvalidValueError(
            f"{what}: eps must be a finite number > 0 (the finite-difference "
            f"step, e.g. 1e-6), not {eps!r}"
        )


def _check_tolerance(tolerance: Any, name: str) -> None:
    if not _is_real(tolerance) or not math.isfinite(tolerance) or tolerance < 0:
        raise InvalidValueError(
            f"gradcheck: {name} must be a finite number >= 0 (0 for an "
            f"exact match), not {tolerance!r}"
        )


def _is_real(value: Any) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(
        value, (int, float, np.integer, np.floating)
    )


def _point(
    cg: GraphCore,
    root: str | None,
    wrt: Iterable[str] | str | None,
    feed: Mapping[str, Any] | None,
    warn_float32: bool = False,
) -> tuple[str, list[str], dict[str, Any]]:
    """The root's name, the inputs to check, and every input's value as float64."""
    root = cg.schedule(root).root.name
    upstream = nx.ancestors(cg.graph, root) | {root}
    if wrt is None:
        names = [n for n, node in cg.inputs.items() if n in upstream and node.trainable]
    else:
        names = [wrt] if isinstance(wrt, str) else list(wrt)
        for name in names:
            cg.get_node(name, "gradcheck: input")
    point = {}
    for name, node in cg.inputs.items():
        value = (feed or {}).get(name, node.output)
        if warn_float32 and name in names and np.result_type(value) == np.float32:
            warnings.warn(
                f"gradcheck: input {name!r} is float32; checking it at float64 precision",
                stacklevel=3,
            )
        point[name] = float(value) if np.ndim(value) == 0 else np.array(value, np.float64)
    return root, names, point


def _central_differences(
    cg: GraphCore, root: str, point: dict[str, Any], name: str, eps: float
) -> Any:
    """(f(x + eps e_i) - f(x - eps e_i)) / 2 eps for every element i of input ``name``."""
    value = point[name]
    if np.ndim(value) == 0:
        up = _total(cg.forward(root, feed={**point, name: value + eps}))
        down = _total(cg.forward(root, feed={**point, name: value - eps}))
        return (up - down) / (2.0 * eps)
    gradient = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        shifted = value.copy()
        shifted[index] = value[index] + eps
        up = _total(cg.forward(root, feed={**point, name: shifted}))
        shifted[index] = value[index] - eps
        down = _total(cg.forward(root, feed={**point, name: shifted}))
        gradient[index] = (up - down) / (2.0 * eps)
    return gradient


def _total(output: Any) -> float:
    return float(np.sum(output))

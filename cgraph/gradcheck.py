"""Check gradients against central finite differences, as the seeds do by hand.

Both functions evaluate the graph at perturbed inputs through ``forward(feed=...)``,
so the inputs' own values are never changed; afterwards the graph is left
evaluated at the given point, as after ``forward(root, feed)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from cgraph.errors import GradientMismatchError, NoGradientError

if TYPE_CHECKING:
    from cgraph.graph import ComputationalGraph

__all__ = ["numerical_gradient", "gradcheck"]


def numerical_gradient(
    cg: ComputationalGraph,
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
    cg : ComputationalGraph
        The graph.
    root : str, optional
        The node to differentiate; by default the graph's only sink.
    wrt : str or iterable of str, optional
        The inputs to differentiate with respect to; by default every trainable
        input the root depends on.
    eps : float, default 1e-6
        The step.
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

    Examples
    --------
    >>> from cgraph import ComputationalGraph, numerical_gradient
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(z=0.0)
    >>> cg.add_computation_node("s", "sigmoid", ("z",))
    >>> round(numerical_gradient(cg, "s")["z"], 8)
    0.25
    """
    root, names, point = _point(cg, root, wrt, feed)
    gradients = {name: _central_differences(cg, root, point, name, eps) for name in names}
    cg.forward(root, feed=point)
    return gradients


def gradcheck(
    cg: ComputationalGraph,
    root: str | None = None,
    wrt: Iterable[str] | str | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    feed: Mapping[str, Any] | None = None,
) -> bool:
    """Check ``backward``'s gradients against central differences, in float64.

    An element passes when ``|analytic - numerical| <= atol + rtol * |numerical|``
    (torch.autograd.gradcheck's defaults). Float32 inputs are checked at their
    values cast to float64, with a warning, because float32 finite differences
    are too coarse to tell a right gradient from a wrong one.

    Parameters
    ----------
    cg, root, wrt, eps, feed
        As for :func:`numerical_gradient`.
    atol, rtol : float
        Absolute and relative tolerance.

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

    Examples
    --------
    >>> from cgraph import ComputationalGraph, gradcheck
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=-4.0)
    >>> cg.add_computation_node("f", "div", ("x", "y"))
    >>> gradcheck(cg, "f")
    True
    """
    root, names, point = _point(cg, root, wrt, feed, warn_float32=True)
    for name in names:
        if not cg.inputs[name].trainable:
            raise NoGradientError(
                f"gradcheck: input {name!r} is not trainable, so backward gives it no "
                "gradient; leave it out of wrt", nodes=[name])
    numerical = {name: _central_differences(cg, root, point, name, eps) for name in names}
    cg.forward(root, feed=point)
    cg.backward(root)
    worst = None
    for name in names:
        analytic = np.asarray(cg.get_gradient(name), dtype=np.float64)
        expected = np.asarray(numerical[name])
        excess = np.abs(analytic - expected) / (atol + rtol * np.abs(expected))
        excess = np.where(np.isnan(excess), np.inf, excess)
        if excess.size and (worst is None or excess.max() > worst[0]):
            index = np.unravel_index(int(np.argmax(excess)), excess.shape)
            worst = (float(excess.max()), name, index, analytic[index], expected[index])
    if worst is not None and worst[0] > 1.0:
        _, name, index, analytic, expected = worst
        where = f" at element {tuple(int(i) for i in index)}" if index else ""
        raise GradientMismatchError(
            f"gradcheck of {root!r}: gradient with respect to {name!r}{where} is "
            f"{analytic:.10g} by backward but {expected:.10g} by central differences "
            f"(difference {abs(analytic - expected):.3g} > atol + rtol * |numerical| = "
            f"{atol + rtol * abs(expected):.3g}); check that op's backward",
            nodes=[name, root])
    return True


def _point(
    cg: ComputationalGraph,
    root: str | None,
    wrt: Iterable[str] | str | None,
    feed: Mapping[str, Any] | None,
    warn_float32: bool = False,
) -> tuple[str, list[str], dict[str, Any]]:
    """The root's name, the inputs to check, and every input's value as float64."""
    root = cg._schedule(root).root.name
    upstream = nx.ancestors(cg.graph, root) | {root}
    if wrt is None:
        names = [n for n, node in cg.inputs.items() if n in upstream and node.trainable]
    else:
        names = [wrt] if isinstance(wrt, str) else list(wrt)
        cg._check_names_exist(names, "gradcheck: input")
    point = {}
    for name, node in cg.inputs.items():
        value = (feed or {}).get(name, node.output)
        if warn_float32 and name in names and np.result_type(value) == np.float32:
            warnings.warn(
                f"gradcheck: input {name!r} is float32; checking it at float64 precision",
                stacklevel=3)
        point[name] = float(value) if np.ndim(value) == 0 else np.array(value, np.float64)
    return root, names, point


def _central_differences(
    cg: ComputationalGraph, root: str, point: dict[str, Any], name: str, eps: float
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

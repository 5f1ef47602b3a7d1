"""Plots of an optimisation: the loss curve, and a two-parameter loss's contours with the path.

matplotlib (the ``viz`` extra) is imported only when a plot is drawn. Each
function draws on ``ax`` if given, else on a new figure, and returns the Axes:
save it with ``ax.figure.savefig(path)`` in a script; a notebook shows it inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.errors import GraphError, InvalidValueError, ShapeError
from cgraph.optim.minimize import OptimizeResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from cgraph.engine import GraphCore

__all__ = ["plot_loss", "plot_contour", "plot_path"]


def plot_loss(
    result: OptimizeResult | Sequence[float],
    ax: Axes | None = None,
    *,
    label: str | None = None,
    log: bool | None = None,
) -> Axes:
    """Draw the loss after each step of a run.

    Parameters
    ----------
    result : OptimizeResult or sequence of float
        A result of :func:`cgraph.minimize` (its ``history["loss"]``), or the losses.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure. Draw several runs on one Axes to compare them.
    label : str, optional
        The curve's legend label; by default the result's method.
    log : bool, optional
        A logarithmic loss axis; by default when every loss is positive and they
        span more than two decades.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidValueError
        If ``result`` is neither a result nor a sequence of numbers.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> from cgraph.plots import plot_loss
    >>> ax = plot_loss([4.0, 1.0, 0.25, 0.0625], label="halving")  # doctest: +SKIP
    >>> ax.figure.savefig("loss.png")                              # doctest: +SKIP
    """
    if isinstance(result, OptimizeResult):
        losses, label = result.history["loss"], label or result.method
    else:
        try:
            losses = np.asarray(result, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as error:
            raise InvalidValueError(
                f"plot_loss takes an OptimizeResult or a sequence of "
                f"losses, not {type(result).__name__}"
            ) from error
    ax = _axes(ax)
    ax.plot(np.arange(len(losses)), losses, label=label)
    positive = losses[np.isfinite(losses)]
    if log is None:
        log = bool(positive.size) and positive.min() > 0 and positive.max() > 100 * positive.min()
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if label:
        ax.legend()
    return ax


def plot_contour(
    cg: GraphCore,
    root: str | None = None,
    params: Sequence[str] | None = None,
    result: OptimizeResult | None = None,
    *,
    ax: Axes | None = None,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    levels: int | Sequence[float] = 30,
    log: bool | None = None,
    feed: Mapping[str, Any] | None = None,
    resolution: int = 100,
) -> Axes:
    """Draw the contours of a loss of two scalar parameters, and a run's path on them.

    The loss is evaluated on a grid through ``forward(feed=...)``, in one pass
    when the graph broadcasts the grid (elementwise graphs do), else point by
    point; the inputs keep their values and the graph is left evaluated at them.

    Parameters
    ----------
    cg : GraphCore
        The graph.
    root : str, optional
        The loss node; by default the graph's only sink. An array loss is summed.
    params : (str, str), optional
        The two scalar inputs on the x and y axes; by default the result's
        parameters, or the graph's two trainable inputs.
    result : OptimizeResult, optional
        A run of :func:`cgraph.minimize` to draw with :func:`plot_path`.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.
    xlim, ylim : (float, float), optional
        The grid's extent; by default the path's, with a margin, or around the
        inputs' values.
    levels : int or sequence of float, default 30
        The number of contour levels, or the levels.
    log : bool, optional
        Logarithmically spaced levels; by default when the loss is positive over
        the grid and spans more than three decades (Rosenbrock's valley).
    feed : mapping, optional
        Values for other inputs (data) while evaluating.
    resolution : int, default 100
        Grid points along each axis.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    GraphError
        If there are not exactly two parameters, or one is not a scalar input.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> from cgraph import ComputationalGraph, minimize
    >>> from cgraph.optim.optimizers import GradientDescent
    >>> from cgraph.plots import plot_contour
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0, y=1.0)
    >>> cg.add_computation_node("x2", "square", ("x",))
    >>> cg.add_computation_node("y2", "square", ("y",))
    >>> cg.add_computation_node("f", "add", ("x2", "y2"))
    >>> result = minimize(cg, "f", optimizer=GradientDescent(lr=0.1), steps=20)
    >>> ax = plot_contour(cg, "f", result=result)   # doctest: +SKIP
    >>> ax.figure.savefig("contour.png")            # doctest: +SKIP
    """
    px, py = _two_params(cg, params, result)
    root = cg.schedule(root).root.name
    if not isinstance(resolution, int) or resolution < 2:
        raise GraphError(f"plot_contour: resolution must be an integer >= 2, not {resolution!r}")
    if result is not None:
        path = (result.history["x"][px], result.history["x"][py])
    else:
        path = (np.array([cg.inputs[px].output]), np.array([cg.inputs[py].output]))
    xs = np.linspace(*(xlim or _extent(path[0])), resolution)
    ys = np.linspace(*(ylim or _extent(path[1])), resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid_z = _loss_on_grid(cg, root, px, py, grid_x, grid_y, dict(feed or {}))
    ax = _axes(ax)
    finite = grid_z[np.isfinite(grid_z)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if log is None:
        log = low > 0 and high > 1000 * low
    if log and isinstance(levels, int):
        levels = np.geomspace(max(low, high * 1e-12), high, levels).tolist()
    filled = ax.contourf(
        grid_x, grid_y, grid_z, levels=levels, cmap="viridis", norm=_log_norm() if log else None
    )
    ax.contour(
        grid_x, grid_y, grid_z, levels=filled.levels, colors="white", linewidths=0.4, alpha=0.6
    )
    colorbar = ax.figure.colorbar(filled, ax=ax, label=root)
    if log:
        drawn = np.asarray(filled.levels)  # matplotlib's stubs say only Iterable
        _round_log_ticks(colorbar, drawn[0], drawn[-1])
    ax.set_xlabel(px)
    ax.set_ylabel(py)
    if result is not None:
        plot_path(result, ax=ax, params=(px, py))
    return ax


def plot_path(
    result: OptimizeResult,
    ax: Axes | None = None,
    *,
    params: Sequence[str] | None = None,
    label: str | None = None,
    color: str | None = None,
) -> Axes:
    """Draw the path a run took through two parameters, from its start (o) to its end (*).

    The legend of the paths sits above the Axes, off the contours. A new figure
    makes room for it; on your own, make it with ``layout="constrained"``, as
    ``plt.subplots(1, 2, layout="constrained")``.

    Parameters
    ----------
    result : OptimizeResult
        A run of :func:`cgraph.minimize`; its ``history["x"]``.
    ax : matplotlib Axes, optional
        Where to draw, e.g. the Axes :func:`plot_contour` returned; by default a new figure.
    params : (str, str), optional
        The parameters on the x and y axes; by default the result's two parameters.
    label : str, optional
        The legend label; by default the method and the number of steps.
    color : str, optional
        The line's colour; by default matplotlib's next one.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    GraphError
        If the result does not have exactly two parameters, or ``params`` are not among them.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> from cgraph.plots import plot_contour, plot_path
    >>> ax = plot_contour(cg, "f", xlim=(-4, 4), ylim=(-4, 4))    # doctest: +SKIP
    >>> for result in (adam_run, lbfgs_run):                        # doctest: +SKIP
    ...     plot_path(result, ax=ax)
    """
    if not isinstance(result, OptimizeResult):
        raise InvalidValueError(f"plot_path takes an OptimizeResult, not {type(result).__name__}")
    px, py = _two_params(None, params, result)
    ax = _axes(ax)
    xs, ys = result.history["x"][px], result.history["x"][py]
    label = label or f"{result.method} ({result.nit} steps)"
    (line,) = ax.plot(xs, ys, ".-", color=color, markersize=3, linewidth=1, label=label)
    ax.plot(xs[:1], ys[:1], "o", color=line.get_color())
    ax.plot(xs[-1:], ys[-1:], "*", color=line.get_color(), markersize=12)
    # Above the Axes, two columns wide: contours fill the whole Axes, so any place inside
    # hides some, and a path may run anywhere.
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.02, 1.0, 0.1),
        mode="expand",
        borderaxespad=0.0,
        ncols=2,
        fontsize="small",
    )
    return ax


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError('plots need matplotlib: pip install "cgraph[viz]"') from error
    return plt.subplots(layout="constrained")[1]  # makes room for a legend above the Axes


def _log_norm() -> Any:
    from matplotlib.colors import LogNorm

    return LogNorm()


def _round_log_ticks(colorbar: Any, low: float, high: float) -> None:
    """Tick a logarithmic colour bar at powers of ten, written plainly: 0.01, 1, 100.

    A colour bar of contours is otherwise ticked at its levels (1.33656e2); under two
    decades, 2 and 5 times each power of ten are ticked too.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    colorbar.locator = LogLocator(base=10, subs=(1.0,) if high > 100 * low else (1.0, 2.0, 5.0))
    colorbar.formatter = FuncFormatter(lambda value, _: f"{value:g}")
    colorbar.minorlocator = NullLocator()


def _two_params(
    cg: GraphCore | None, params: Sequence[str] | None, result: OptimizeResult | None
) -> tuple[str, str]:
    """The two parameter names to plot, checked against the result or the graph."""
    if params is None:
        if result is not None:
            params = tuple(result.history["x"])
        else:
            assert cg is not None
            params = tuple(name for name, node in cg.inputs.items() if node.trainable)
    params = tuple(params)
    if len(params) != 2:
        raise GraphError(
            f"a contour or path needs exactly two parameters, not {params}; "
            "name two with params=(x_name, y_name)",
            nodes=params,
        )
    for name in params:
        if result is not None and name not in result.history.get("x", {}):
            raise GraphError(
                f"parameter {name!r} is not in the result's history "
                f"(it has {tuple(result.history.get('x', {}))})",
                nodes=[name],
            )
        if cg is not None and (name not in cg.inputs or np.ndim(cg.inputs[name].output)):
            raise GraphError(
                f"{name!r} is not a scalar input of the graph; a contour plots two scalar inputs",
                nodes=[name],
            )
    return params  # a pair: its length is checked above


def _extent(values: np.ndarray) -> tuple[float, float]:
    """The range of ``values`` with a 20% margin (at least 1 either side of a single point)."""
    low, high = float(np.min(values)), float(np.max(values))
    margin = 0.2 * (high - low) or max(1.0, abs(low))
    return low - margin, high + margin


def _loss_on_grid(
    cg: GraphCore,
    root: str,
    px: str,
    py: str,
    grid_x: np.ndarray,
    grid_y: np.ndarray,
    feed: dict[str, Any],
) -> np.ndarray:
    """The loss at every grid point: one broadcast forward pass if the graph allows it."""
    try:
        with np.errstate(all="ignore"):
            grid_z = cg.forward(root, {**feed, px: grid_x, py: grid_y})
        vectorised = np.shape(grid_z) == grid_x.shape
    except ShapeError:
        vectorised = False
    if not vectorised:
        grid_z = np.empty(grid_x.shape)
        with np.errstate(all="ignore"):
            for index in np.ndindex(grid_x.shape):
                point = {**feed, px: float(grid_x[index]), py: float(grid_y[index])}
                grid_z[index] = np.sum(cg.forward(root, point))
    cg.forward(root, feed or None)  # leave the graph evaluated at the inputs' own values
    return np.asarray(grid_z, dtype=np.float64)

"""cgraph.plots: loss curves and contours with paths produce real, non-empty images."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import cgraph
from cgraph import minimize
from cgraph.optim import Adam, GradientDescent
from cgraph.plots import _loss_on_grid, plot_contour, plot_loss, plot_path

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from test_minimize import line_fit, quadratic, rosenbrock  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def saved_image(ax, path) -> np.ndarray:
    """Save the Axes' figure as PNG and read it back; check it holds a drawing."""
    ax.figure.savefig(path)
    assert path.stat().st_size > 5000
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3
    assert pixels[..., :3].std() > 0.05
    return pixels


def test_loss_curve_of_a_run(tmp_path):
    result = minimize(quadratic(), optimizer=GradientDescent(lr=0.1), steps=50)
    ax = plot_loss(result)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), result.history["loss"])
    assert ax.get_yscale() == "linear"  # negative losses
    assert ax.get_legend().get_texts()[0].get_text() == "GradientDescent"
    saved_image(ax, tmp_path / "loss.png")


def test_loss_curves_compared_on_one_axes_with_a_log_scale(tmp_path):
    ax = None
    for lr in (0.01, 0.05):
        result = minimize(rosenbrock(), optimizer=Adam(lr=lr), steps=2000, tol=None)
        ax = plot_loss(result, ax=ax, label=f"Adam lr={lr}")
    assert len(ax.get_lines()) == 2
    assert ax.get_yscale() == "log"
    saved_image(ax, tmp_path / "compare.png")


def test_loss_curve_of_a_plain_list():
    ax = plot_loss([3.0, 2.0, 1.0], log=True)
    assert ax.get_yscale() == "log"
    assert ax.get_legend() is None
    with pytest.raises(cgraph.InvalidValueError, match="sequence of losses"):
        plot_loss("loss")


def test_contour_with_the_path_of_the_seed_quadratic(tmp_path):
    cg = quadratic()
    result = minimize(cg, "f", optimizer=GradientDescent(lr=0.1), steps=50)
    ax = plot_contour(cg, "f", result=result)
    path = ax.get_lines()[0]
    np.testing.assert_array_equal(path.get_xdata(), result.history["x"]["x"])
    np.testing.assert_array_equal(path.get_ydata(), result.history["x"]["y"])
    assert ax.get_xlabel() == "x"
    assert ax.get_ylabel() == "y"
    low, high = ax.get_xlim()
    assert low < -200
    assert high > 0
    saved_image(ax, tmp_path / "contour.png")
    # The inputs keep their values, and the graph is evaluated at them.
    assert cg.get_value("f") == result.fun


def test_rosenbrock_contour_uses_log_levels_and_takes_several_paths(tmp_path):
    cg = rosenbrock()
    ax = plot_contour(cg, "f", xlim=(-2, 2), ylim=(-1, 3))
    for optimizer in (Adam(lr=0.05), GradientDescent(lr=1e-3)):
        plot_path(minimize(rosenbrock(), optimizer=optimizer, steps=200), ax=ax)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["Adam (200 steps)", "GradientDescent (200 steps)"]
    levels = ax.collections[0].levels
    ratios = levels[1:] / levels[:-1]
    assert np.allclose(ratios, ratios[0])
    assert ratios[0] > 1.2
    saved_image(ax, tmp_path / "rosenbrock.png")


def colorbar_labels(ax) -> list[str]:
    """The tick labels shown on the colour bar beside ``ax``, bottom to top, once drawn."""
    ax.figure.canvas.draw()
    (colorbar,) = [other for other in ax.figure.axes if other is not ax]
    low, high = sorted(colorbar.get_ylim())
    return [
        label.get_text()
        for tick, label in zip(colorbar.get_yticks(), colorbar.get_yticklabels(), strict=True)
        if low <= tick <= high
    ]


def test_log_colour_bar_is_ticked_at_powers_of_ten_written_plainly():
    ax = plot_contour(rosenbrock(), "f", xlim=(-2, 2), ylim=(-1, 3))
    labels = colorbar_labels(ax)
    assert {"0.01", "0.1", "1", "10", "100", "1000"} <= set(labels), labels
    values = [float(label) for label in labels]  # plain numbers, not 1.33656 x 10^2 in TeX
    np.testing.assert_allclose(np.diff(np.log10(values)), 1.0)


def test_log_colour_bar_of_under_two_decades_ticks_one_two_five():
    cg = quadratic()  # g = f + 40100 = (x + 200)^2 + (y + 4)^2 + 84: here from 84 to 1660
    cg.add_constant("offset", 40100.0)
    cg.add_computation_node("g", "add", ("f", "offset"))
    ax = plot_contour(cg, "g", params=("x", "y"), xlim=(-230, -170), ylim=(-30, 22), log=True)
    labels = colorbar_labels(ax)
    assert labels == ["100", "200", "500", "1000"]


def test_linear_colour_bar_keeps_matplotlib_ticks():
    ax = plot_contour(quadratic(), "f", xlim=(-260, 40), ylim=(-80, 80))
    labels = colorbar_labels(ax)
    assert len(labels) >= 4
    assert all(re.fullmatch(r"(\N{MINUS SIGN})?\d+", label) for label in labels), labels


def test_legend_of_paths_lies_above_the_contours(tmp_path):
    ax = plot_contour(rosenbrock(), "f", xlim=(-2, 2), ylim=(-1, 3))
    for optimizer in (Adam(lr=0.05), GradientDescent(lr=1e-3)):
        plot_path(minimize(rosenbrock(), optimizer=optimizer, steps=50), ax=ax)
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    axes = ax.get_window_extent(renderer)
    assert legend.y0 >= axes.y1  # off the Axes, so off every contour
    assert legend.x0 >= axes.x0 - 1
    assert legend.x1 <= axes.x1 + 1
    assert legend.y1 <= ax.figure.bbox.y1  # the new figure's layout keeps it on the page
    saved_image(ax, tmp_path / "legend.png")


def test_grid_values_are_the_loss_whether_broadcast_or_point_by_point():
    cg = rosenbrock()
    gx, gy = np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-1, 3, 5))
    grid = _loss_on_grid(cg, "f", "x", "y", gx, gy, {})
    np.testing.assert_allclose(grid, (1 - gx) ** 2 + 100 * (gy - gx**2) ** 2, rtol=1e-14)
    assert cg.inputs["x"].output == -1.5
    assert cg.get_value("f") == pytest.approx(2.5**2 + 100 * 0.25**2)
    fit, xs, ys = line_fit(n=10)  # data of shape (10,) cannot broadcast with the grid
    grid = _loss_on_grid(fit, "mse", "w", "b", gx, gy, {})
    expected = [
        [np.mean((w * xs + b - ys) ** 2) for w, b in zip(row_w, row_b, strict=True)]
        for row_w, row_b in zip(gx, gy, strict=True)
    ]
    np.testing.assert_allclose(grid, expected, rtol=1e-12)


def test_contour_of_a_data_fit_with_a_feed(tmp_path):
    cg, xs, ys = line_fit(n=10)
    feed = {"xs": xs[:5], "ys": ys[:5], "scale": 0.2}
    ax = plot_contour(cg, "mse", xlim=(-1, 3), ylim=(-2, 1), feed=feed, resolution=15)
    saved_image(ax, tmp_path / "fit.png")
    np.testing.assert_array_equal(cg.inputs["xs"].output, xs)


def test_contour_needs_two_scalar_parameters():
    cg = quadratic()
    cg.add_inputs(z=1.0, v=np.ones(2))
    with pytest.raises(cgraph.GraphError, match="exactly two parameters"):
        plot_contour(cg, "f")
    with pytest.raises(cgraph.GraphError, match="'v' is not a scalar input") as info:
        plot_contour(cg, "f", params=("x", "v"))
    assert info.value.nodes == ("v",)
    with pytest.raises(cgraph.GraphError, match="resolution"):
        plot_contour(cg, "f", params=("x", "y"), resolution=1)
    result = minimize(quadratic(), optimizer=GradientDescent(lr=0.1), steps=2)
    with pytest.raises(cgraph.GraphError, match="not in the result's history"):
        plot_path(result, params=("x", "z"))
    with pytest.raises(cgraph.InvalidValueError, match="takes an OptimizeResult"):
        plot_path({"x": 1})


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "cgraph\[viz\]"'):
        plot_loss([1.0, 0.5])

"""The seed's quadratic minimised by ``minimize`` instead of a hand-written loop.

f(x, y) = x^2 + y^2 + 400 x + 8 y has its minimum at (-200, -4), where
f = -40016. ``examples/gradient_descent.py`` writes the loop by hand; here
``minimize`` runs the same 50 steps of gradient descent with learning rate 0.1,

    x <- x - 0.1 (2 x + 400),    y <- y - 0.1 (2 y + 8),

from (0, 0). Each step shrinks the distance to the minimum by 0.8, so after
50 steps the point is -200 (1 - 0.8^50) = -199.99715 and -4 (1 - 0.8^50). The
result has scipy.optimize's shape: ``x``, ``fun``, ``nit``, ``success``,
``message``, plus the ``history`` of every step, which the plots draw: the
loss curve and the path on the contours of f (saved to PLOT, by default a file
in the temporary directory).

Run it with ``python examples/quadratic_minimize.py [PLOT.png]``.
"""

import sys
import tempfile
from pathlib import Path

from gradient_descent import build_graph  # the same graph as the hand-written loop

from cgraph import minimize
from cgraph.optim import GradientDescent

STEPS = 50


def save_plots(cg, result, path: Path) -> None:
    """Draw the loss curve and the path on the contours of f, side by side, into ``path``."""
    from matplotlib.figure import Figure  # no pyplot: nothing is shown, only saved

    from cgraph.plots import plot_contour, plot_loss

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    loss_ax, contour_ax = figure.subplots(1, 2)
    plot_loss(result, ax=loss_ax)
    plot_contour(cg, "f", result=result, ax=contour_ax, xlim=(-230, 30), ylim=(-60, 60))
    figure.savefig(path)


def main() -> None:
    """Minimise f with 50 steps of gradient descent and compare with the exact minimum."""
    cg = build_graph()
    result = minimize(
        cg, "f", optimizer=GradientDescent(lr=0.1), steps=STEPS, tol=None, progress=False
    )
    print(result)
    print()
    x, y = result.x["x"], result.x["y"]
    print(f"final point after {result.nit} steps: x = {x:.6f}, y = {y:.6f}")
    print(f"final loss f = {result.fun:.6f}")
    shrink = 0.8**STEPS
    print(f"predicted: x = {-200 * (1 - shrink):.6f}, y = {-4 * (1 - shrink):.6f}")
    print("exact minimum: x = -200, y = -4, f = -40016")
    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else (Path(tempfile.gettempdir()) / "cgraph_quadratic_minimize.png")
    )
    try:
        save_plots(cg, result, path)
    except ImportError:
        print('no plots: matplotlib is not installed (pip install "cgraph[viz]")')
    else:
        print(f"loss curve and path saved to {path}")


if __name__ == "__main__":
    main()

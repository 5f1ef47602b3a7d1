"""Rosenbrock's function minimised by Adam and by scipy's L-BFGS-B through ``minimize``.

f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 has its minimum 0 at (1, 1), at the end
of a long, curved, flat-bottomed valley: the gradient across the valley is
large and along it small, so first-order methods crawl. From the classic
start (-1.2, 1):

- Adam (learning rate 0.05) runs until no gradient element exceeds 1e-4, which
  near the minimum puts it within about 3e-4 of (1, 1), in a few thousand steps;
- L-BFGS-B, a quasi-Newton method that builds a model of the curvature from
  the gradients, gets to within 1e-6 (here 1e-10) in a few dozen. cgraph hands
  scipy the loss and its gradient over the flattened parameters.

The contours of f with both paths are saved to PLOT (by default a file in the
temporary directory).

Run it with ``python examples/rosenbrock.py [PLOT.png]``.
"""

import math
import sys
import tempfile
from pathlib import Path

from cgraph import ComputationalGraph, minimize
from cgraph.optim import Adam

START = (-1.2, 1.0)


def build_graph() -> ComputationalGraph:
    """Declare f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 at the classic start (-1.2, 1).

    Returns
    -------
    ComputationalGraph
        The graph, whose only sink is ``f``.
    """
    cg = ComputationalGraph()
    cg.add_inputs(x=START[0], y=START[1])
    cg.add_constant("one", 1.0)
    cg.add_constant("hundred", 100.0)
    cg.add_computation_node("one_minus_x", "sub", ("one", "x"))
    cg.add_computation_node("a", "square", ("one_minus_x",))
    cg.add_computation_node("x2", "square", ("x",))
    cg.add_computation_node("y_minus_x2", "sub", ("y", "x2"))
    cg.add_computation_node("b2", "square", ("y_minus_x2",))
    cg.add_computation_node("b", "mul", ("hundred", "b2"))
    cg.add_computation_node("f", "add", ("a", "b"))
    return cg


def distance(result) -> float:
    """The distance from the result's point to the minimum (1, 1)."""
    return math.hypot(result.x["x"] - 1, result.x["y"] - 1)


def main() -> None:
    """Minimise f with Adam and with L-BFGS-B and compare the number of steps."""
    adam_graph = build_graph()
    adam = minimize(
        adam_graph, "f", optimizer=Adam(lr=0.05), steps=20_000, tol=1e-4, progress=False
    )
    lbfgs_graph = build_graph()
    lbfgs = minimize(lbfgs_graph, "f", method="L-BFGS-B", tol=1e-12, progress=False)
    for name, result in (("Adam", adam), ("L-BFGS-B", lbfgs)):
        print(f"{name}: {result.message}")
        print(f"{name}: x = {result.x['x']:.10f}, y = {result.x['y']:.10f}, f = {result.fun:.3e}")
        print(f"{name}: distance to (1, 1) = {distance(result):.3e}")
        print(f"{name} steps: {result.nit}")
    print(f"L-BFGS-B took {adam.nit / lbfgs.nit:.0f} times fewer steps than Adam")

    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else (Path(tempfile.gettempdir()) / "cgraph_rosenbrock.png")
    )
    try:
        from matplotlib.figure import Figure

        from cgraph.plots import plot_contour, plot_path
    except ImportError:
        print('no plot: matplotlib is not installed (pip install "cgraph[viz]")')
        return
    figure = Figure(figsize=(7, 5), layout="constrained")
    ax = plot_contour(build_graph(), "f", ax=figure.subplots(), xlim=(-2, 2), ylim=(-1, 3))
    plot_path(adam, ax=ax, color="tab:orange")
    plot_path(lbfgs, ax=ax, color="tab:red")
    figure.savefig(path)
    print(f"contours and both paths saved to {path}")


if __name__ == "__main__":
    main()

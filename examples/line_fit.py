"""A least-squares line fit by ``minimize``, checked against ``np.linalg.lstsq``.

100 noisy points y_i = 2.5 x_i - 1 + noise are fitted by the line w x + b that
minimises the mean squared error

    L(w, b) = (1/n) sum_i (w x_i + b - y_i)^2.

The data are non-trainable inputs and the loss node is an array of the n
terms (``minimize`` minimises the sum of an array root's elements, which is
what ``backward`` differentiates). L is a convex quadratic, so its minimum is
the least-squares solution that ``np.linalg.lstsq`` computes directly; three
runs reach it:

- gradient descent with Nesterov momentum, on all the data, to a gradient below 1e-10;
- scipy's L-BFGS-B through ``minimize(method="L-BFGS-B")``;
- Adam on mini-batches of 20 points (a callable feed gives each step its
  batch), which ends near the solution but not on it: each step sees a
  different loss.

The loss curves and the path of the full-batch run on the contours of L are
saved to PLOT (by default a file in the temporary directory).

Run it with ``python examples/line_fit.py [PLOT.png]``.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from cgraph import ComputationalGraph, minimize
from cgraph.optim import Adam, Momentum

N = 100
BATCH = 20


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy points around the line y = 2.5 x - 1."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-1, 3, N)
    return xs, 2.5 * xs - 1 + rng.normal(0, 0.5, N)


def build_graph(xs: np.ndarray, ys: np.ndarray) -> ComputationalGraph:
    """Declare the terms (w x_i + b - y_i)^2 / n, with the data as non-trainable inputs."""
    cg = ComputationalGraph()
    cg.add_inputs(w=0.0, b=0.0)
    cg.add_input("xs", xs, trainable=False)
    cg.add_input("ys", ys, trainable=False)
    cg.add_input("inv_n", 1.0 / len(xs), trainable=False)  # fed with each batch's 1/size
    cg.add_computation_node("wx", "mul", ("w", "xs"))
    cg.add_computation_node("pred", "add", ("wx", "b"))
    cg.add_computation_node("residual", "sub", ("pred", "ys"))
    cg.add_computation_node("squared", "square", ("residual",))
    cg.add_computation_node("loss", "mul", ("squared", "inv_n"))
    return cg


def main() -> None:
    """Fit the line three ways and compare each with np.linalg.lstsq."""
    xs, ys = make_data()
    exact_w, exact_b = np.linalg.lstsq(np.stack([xs, np.ones(N)], axis=1), ys, rcond=None)[0]
    print(f"np.linalg.lstsq: w = {exact_w:.10f}, b = {exact_b:.10f}")

    full = build_graph(xs, ys)
    momentum = minimize(
        full,
        "loss",
        optimizer=Momentum(lr=0.1, momentum=0.9, nesterov=True),
        steps=5000,
        tol=1e-10,
        progress=False,
    )
    lbfgs = minimize(build_graph(xs, ys), "loss", method="L-BFGS-B", tol=1e-14, progress=False)

    batches = [
        {"xs": xs[i : i + BATCH], "ys": ys[i : i + BATCH], "inv_n": 1.0 / BATCH}
        for i in range(0, N, BATCH)
    ]
    adam = minimize(
        build_graph(xs, ys),
        "loss",
        optimizer=Adam(lr=0.02),
        steps=2000,
        tol=None,
        feed=lambda step: batches[step % len(batches)],
        progress=False,
    )

    for name, result in (
        ("Nesterov momentum", momentum),
        ("L-BFGS-B", lbfgs),
        ("mini-batch Adam", adam),
    ):
        w, b = result.x["w"], result.x["b"]
        gap = max(abs(w - exact_w), abs(b - exact_b))
        print(
            f"{name}: w = {w:.10f}, b = {b:.10f} after {result.nit} steps; "
            f"difference from lstsq = {gap:.2e}"
        )
    print(f"mean squared error at the fit: {np.sum(full.forward('loss')):.6f}")

    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else (Path(tempfile.gettempdir()) / "cgraph_line_fit.png")
    )
    try:
        from matplotlib.figure import Figure

        from cgraph.plots import plot_contour, plot_loss
    except ImportError:
        print('no plots: matplotlib is not installed (pip install "cgraph[viz]")')
        return
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    loss_ax, contour_ax = figure.subplots(1, 2)
    plot_loss(momentum, ax=loss_ax, label="Nesterov momentum, all data")
    plot_loss(adam, ax=loss_ax, label="Adam, mini-batches", log=True)
    plot_contour(
        full, "loss", result=momentum, ax=contour_ax, xlim=(-0.5, 4), ylim=(-3, 2), resolution=60
    )
    figure.savefig(path)
    print(f"loss curves and path saved to {path}")


if __name__ == "__main__":
    main()

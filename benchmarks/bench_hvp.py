"""The Hessian-vector product of a scalar function of 1,000 inputs, without the Hessian.

The function is a small network's scalar output as a function of its input,
as in Newton-CG, a Lanczos estimate of curvature or an influence function:

    f(x) = w2 . tanh(W1 x + b),   x in R^1000, W1 (200, 1000), b (200,), w2 (200,),

whose Hessian W1^T diag(w2 tanh''(z)) W1 is 1000 x 1000; H v costs two matrix-
vector products with W1. The weights are constants; x is the only input.
Contenders, all in float64 on one thread:

- ``numpy floor``: H v = W1^T (w2 tanh''(z) (W1 v)) with tanh'' = -2 h (1 - h^2),
  written by hand: the least any engine could do.
- ``cgraph hvp``: ``cg.hvp("f", "x", v)``, one forward-mode sweep of the gradient
  graph, which was built by an earlier call and is kept (the realistic use: an
  iterative solver asks for many products at one point or at nearby ones).
- ``cgraph first hvp``: the same on a newly declared graph, so each call also
  builds the gradient graph (declaring its nodes and evaluating them once).
- ``torch hvp``: ``torch.autograd.functional.hvp(f, x, v)``, which uses the
  double-backward trick (reverse over reverse).
- ``torch.func``: ``torch.func.jvp(torch.func.grad(f), (x,), (v,))``, forward over
  reverse as cgraph does.

Before timing, every contender must give the same H v to 1e-9.

Run ``python benchmarks/bench_hvp.py [--quick] [--write]``.
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS too: set before numpy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import _harness  # noqa: E402
import numpy as np  # noqa: E402

from cgraph import ComputationalGraph  # noqa: E402

SIZES = (1000, 200)  # inputs, hidden units


def problem(quick):
    """The point, the direction and the weights: ``(x, v, W1, b, w2)``."""
    rng = np.random.default_rng(0)
    n_in, n_hidden = (100, 20) if quick else SIZES
    return (
        rng.normal(size=n_in),
        rng.normal(size=n_in),
        rng.normal(0, n_in**-0.5, (n_hidden, n_in)),
        rng.normal(size=n_hidden),
        rng.normal(0, n_hidden**-0.5, n_hidden),
    )


def numpy_floor(x, v, w1, b, w2):
    def hvp():
        h = np.tanh(w1 @ x + b)
        return w1.T @ (w2 * -2.0 * h * (1.0 - h * h) * (w1 @ v))

    return hvp


def declare(x, w1, b, w2) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_constant("W1", w1)
    cg.add_constant("b", b)
    cg.add_constant("w2", w2)
    cg.add_computation_node("W1x", "matmul", ("W1", "x"))
    cg.add_computation_node("z", "add", ("W1x", "b"))
    cg.add_computation_node("h", "tanh", ("z",))
    cg.add_computation_node("f", "dot", ("w2", "h"))
    return cg


def cgraph_cached(x, v, w1, b, w2):
    cg = declare(x, w1, b, w2)
    cg.hvp("f", "x", v)  # builds and keeps the gradient graph
    return lambda: cg.hvp("f", "x", v)


def cgraph_first(x, v, w1, b, w2):
    return lambda: declare(x, w1, b, w2).hvp("f", "x", v)


def torch_engine(kind):
    def make(x, v, w1, b, w2):
        torch = _harness.import_torch()
        w1, b, w2 = (torch.from_numpy(a) for a in (w1, b, w2))
        point, direction = torch.from_numpy(x), torch.from_numpy(v)

        def f(x):
            return w2 @ torch.tanh(w1 @ x + b)

        if kind == "functional":
            return lambda: torch.autograd.functional.hvp(f, point, direction)[1].numpy()
        return lambda: torch.func.jvp(torch.func.grad(f), (point,), (direction,))[1].numpy()

    return make


ENGINES = {
    "numpy floor": numpy_floor,
    "cgraph hvp": cgraph_cached,
    "cgraph first hvp": cgraph_first,
    "torch hvp": torch_engine("functional"),
    "torch.func": torch_engine("func"),
}


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(2, 30))
    data = problem(options.quick)
    runs = {name: make(*data) for name, make in ENGINES.items()}
    _harness.check_agree("H v", {name: np.ravel(run()) for name, run in runs.items()})
    times = _harness.time_interleaved(runs, options.repeats)
    n_in, n_hidden = len(data[0]), len(data[3])
    targets = [
        _harness.Target(
            "cgraph hvp faster than torch hvp",
            _harness.speedup(times, "torch hvp", "cgraph hvp"),
            1.2,
        ),
        _harness.Target(
            "cgraph hvp faster than torch.func",
            _harness.speedup(times, "torch.func", "cgraph hvp"),
            1.0,
        ),
        _harness.Target(
            "cgraph hvp slower than the numpy floor",
            times["cgraph hvp"] / times["numpy floor"],
            4.0,
            at_least=False,
        ),
        _harness.Target(
            "first call (building the gradient graph) slower than a cached one",
            times["cgraph first hvp"] / times["cgraph hvp"],
            5.0,
            at_least=False,
        ),
    ]
    _harness.report(
        "bench_hvp",
        "The Hessian-vector product of a function of 1,000 inputs",
        f"H v for f(x) = w2 . tanh(W1 x + b) with W1 ({n_hidden}, {n_in}) constant, x and v "
        f"in R^{n_in}; numpy's BLAS and torch on one thread. cgraph runs one forward-mode "
        "sweep of the gradient graph (forward over reverse) and never forms the "
        f"{n_in} x {n_in} Hessian.",
        [_harness.contender_table(times, "numpy floor", 1, "product")],
        targets,
        options,
    )


if __name__ == "__main__":
    main()

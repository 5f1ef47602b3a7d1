"""The full Jacobian of a function of 1,000 inputs, by forward and by reverse mode.

The function is a small network's output as a function of its input, the
Jacobian a saliency map or a sensitivity analysis asks for:

    f(x) = W2 tanh(W1 x + b),   x in R^1000, W1 (200, 1000), b (200,), W2 (100, 200),

so J = df/dx is 100 x 1000. The weights are constants; x is the only input.
Reverse mode costs one backward sweep per output (100), forward mode one jvp
sweep per input (1,000), which is why cgraph's ``mode="auto"`` picks reverse
here. Contenders, all in float64 on one thread:

- ``numpy floor``: J = (W2 * (1 - h^2)) W1 with h = tanh(W1 x + b), written by
  hand: one matrix product, the least any engine could do.
- ``cgraph auto``: ``cg.jacobian("f", "x")`` (reverse mode, 100 backward sweeps).
- ``cgraph forward``: ``mode="forward"``, 1,000 jvp sweeps, for the comparison.
- ``torch``: ``torch.autograd.functional.jacobian(f, x)``, which also loops over
  the 100 outputs, one ``autograd.grad`` each.
- ``torch vectorize``: the same with ``vectorize=True``: all 100 backward sweeps
  at once, batched by vmap, which cgraph does not do.
- ``torch forward``: ``vectorize=True, strategy="forward-mode"``: 1,000 jvps batched.

Before timing, every contender must give the same Jacobian to 1e-9.

Run ``python benchmarks/bench_jacobian.py [--quick] [--write]``.
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS too: set before numpy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import _harness  # noqa: E402
import numpy as np  # noqa: E402

from cgraph import ComputationalGraph  # noqa: E402

SIZES = (1000, 200, 100)  # inputs, hidden units, outputs


def problem(quick):
    """The point and the weights: ``(x, W1, b, W2)``."""
    rng = np.random.default_rng(0)
    n_in, n_hidden, n_out = (100, 20, 10) if quick else SIZES
    return (
        rng.normal(size=n_in),
        rng.normal(0, n_in**-0.5, (n_hidden, n_in)),
        rng.normal(size=n_hidden),
        rng.normal(0, n_hidden**-0.5, (n_out, n_hidden)),
    )


def numpy_floor(x, w1, b, w2):
    def jacobian():
        h = np.tanh(w1 @ x + b)
        return (w2 * (1 - h * h)) @ w1

    return jacobian


def cgraph_engine(mode):
    def make(x, w1, b, w2):
        cg = ComputationalGraph()
        cg.add_inputs(x=x)
        cg.add_constant("W1", w1)
        cg.add_constant("b", b)
        cg.add_constant("W2", w2)
        cg.add_computation_node("W1x", "matmul", ("W1", "x"))
        cg.add_computation_node("z", "add", ("W1x", "b"))
        cg.add_computation_node("h", "tanh", ("z",))
        cg.add_computation_node("f", "matmul", ("W2", "h"))
        return lambda: cg.jacobian("f", "x", mode=mode)

    return make


def torch_engine(**options):
    def make(x, w1, b, w2):
        torch = _harness.import_torch()
        w1, b, w2 = (torch.from_numpy(a) for a in (w1, b, w2))
        point = torch.from_numpy(x)

        def f(x):
            return w2 @ torch.tanh(w1 @ x + b)

        return lambda: torch.autograd.functional.jacobian(f, point, **options).numpy()

    return make


ENGINES = {
    "numpy floor": numpy_floor,
    "cgraph auto": cgraph_engine("auto"),
    "cgraph forward": cgraph_engine("forward"),
    "torch": torch_engine(),
    "torch vectorize": torch_engine(vectorize=True),
    "torch forward": torch_engine(vectorize=True, strategy="forward-mode"),
}


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(2, 10))
    data = problem(options.quick)
    runs = {name: make(*data) for name, make in ENGINES.items()}
    _harness.check_agree("the Jacobian", {name: np.ravel(run()) for name, run in runs.items()})
    times = _harness.time_interleaved(runs, options.repeats)
    n_in, n_hidden, n_out = (len(data[0]), len(data[2]), len(data[3]))
    targets = [
        _harness.Target(
            "cgraph auto faster than torch's loop over rows",
            _harness.speedup(times, "torch", "cgraph auto"),
            1.5,
        ),
        _harness.Target(
            "cgraph auto faster than torch vectorize",
            _harness.speedup(times, "torch vectorize", "cgraph auto"),
            1.0,
        ),
        _harness.Target(
            "cgraph auto slower than the numpy floor",
            times["cgraph auto"] / times["numpy floor"],
            5.0,
            at_least=False,
        ),
        _harness.Target(
            "cgraph forward faster than torch forward",
            _harness.speedup(times, "torch forward", "cgraph forward"),
            1.0,
        ),
        _harness.Target(
            "auto (reverse) faster than forced forward mode",
            _harness.speedup(times, "cgraph forward", "cgraph auto"),
            2.0,
        ),
    ]
    _harness.report(
        "bench_jacobian",
        "The Jacobian of a function of 1,000 inputs",
        f"The full {n_out} x {n_in} Jacobian of f(x) = W2 tanh(W1 x + b) with W1 "
        f"({n_hidden}, {n_in}) and W2 ({n_out}, {n_hidden}) constant; numpy's BLAS and torch "
        f"on one thread. cgraph's auto mode is reverse mode here ({n_out} backward sweeps "
        f"rather than {n_in} jvp sweeps).",
        [_harness.contender_table(times, "numpy floor", 1, "Jacobian")],
        targets,
        options,
    )


if __name__ == "__main__":
    main()

"""One training step of a multilayer perceptron: does the engine's bookkeeping vanish?

The network is 784-256-10 with ReLU and softmax cross-entropy, on a batch of
256 random "images" with integer labels, trained by plain gradient descent.
One step is a forward pass, a backward pass and the update of the four
parameters. Contenders, each in float64 and in float32, all on one thread:

- ``numpy floor``: the forward and backward passes written out by hand with
  the same numpy calls an engine would make; the least any numpy engine could do.
- ``cgraph``: the graph is declared once with ``dense`` layers and a
  ``cross_entropy`` node; a step is ``forward``, ``backward`` and the update of
  each trainable input in place. Passes run the compiled plan, as by default.
- ``cgraph interpreted``: the same with plans turned off (``use_plans = False``).
- ``torch``: eager mode (``F.linear``, ``relu``, ``cross_entropy``), gradients
  set to None before each step, the update under ``no_grad``.

Before timing, every contender must give the same losses over five steps
from the same weights.

The script re-runs itself with a fixed environment: one BLAS thread, and
glibc's malloc told to keep freed memory (``MALLOC_MMAP_THRESHOLD_``). By
default glibc hands each freed array of a megabyte or more back to the
system, and the next step page-faults it back in; a contender then runs
faster or slower depending on which arrays happen to stay alive between steps
(cgraph keeps the last forward's values, the floor keeps nothing), up to 20%
either way. Keeping freed memory removes that from every contender alike.

Run ``python benchmarks/bench_mlp.py [--quick] [--write]``.
"""

from __future__ import annotations

import os
import sys

#: Set before numpy starts: one BLAS thread, and freed memory kept by malloc.
ENVIRONMENT = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(2**26),
    "MALLOC_TRIM_THRESHOLD_": str(2**28),
}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in ENVIRONMENT.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ENVIRONMENT})

import _harness  # noqa: E402
import numpy as np  # noqa: E402

from cgraph import ComputationalGraph, dense  # noqa: E402

LEARNING_RATE = 0.01
SIZES = (784, 256, 10)
BATCH = 256


def problem(dtype, quick):
    """Data and initial weights, shared by every contender: ``(X, labels, [W1, b1, W2, b2])``."""
    rng = np.random.default_rng(0)
    batch, (n_in, n_hidden, n_out) = (32, (64, 32, 10)) if quick else (BATCH, SIZES)
    x = rng.random((batch, n_in)).astype(dtype)
    labels = rng.integers(0, n_out, batch)
    weights = [
        rng.normal(0, np.sqrt(2 / n_in), (n_hidden, n_in)).astype(dtype),
        np.zeros(n_hidden, dtype),
        rng.normal(0, np.sqrt(2 / n_hidden), (n_out, n_hidden)).astype(dtype),
        np.zeros(n_out, dtype),
    ]
    return x, labels, weights


def numpy_floor(x, labels, weights):
    """A step written by hand: forward, softmax cross-entropy, backward, update."""
    w1, b1, w2, b2 = (w.copy() for w in weights)
    rows = np.arange(len(labels))

    def step():
        z1 = x @ w1.T + b1
        a1 = np.maximum(z1, 0)
        z2 = a1 @ w2.T + b2
        shifted = z2 - z2.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[rows, labels].mean()
        dz2 = np.exp(log_probs)
        dz2[rows, labels] -= 1
        dz2 /= len(labels)
        dw2, db2 = dz2.T @ a1, dz2.sum(axis=0)
        dz1 = (dz2 @ w2) * (z1 > 0)
        dw1, db1 = dz1.T @ x, dz1.sum(axis=0)
        for param, grad in ((w1, dw1), (b1, db1), (w2, dw2), (b2, db2)):
            param -= LEARNING_RATE * grad
        return float(loss)

    return step


def cgraph_engine(x, labels, weights, use_plans=True):
    """A step of a graph declared once, here, as a user would declare it."""
    cg = ComputationalGraph()
    cg.use_plans = use_plans
    cg.add_input("X", x, trainable=False)
    cg.add_input("labels", labels, trainable=False)
    hidden = dense(cg, "layer1", "X", weights[0].shape[0], dtype=x.dtype)
    logits = dense(cg, "layer2", hidden, weights[2].shape[0], activation=None, dtype=x.dtype)
    cg.add_computation_node("loss", "cross_entropy", (logits, "labels"))
    names = ["layer1/W", "layer1/b", "layer2/W", "layer2/b"]
    for name, value in zip(names, weights, strict=True):
        cg.inputs[name].output = value.copy()
    params = [cg.inputs[name] for name in names]

    def step():
        loss = cg.forward("loss")
        grads = cg.backward("loss")
        for param in params:
            param.output -= LEARNING_RATE * grads[param.name]
        return float(loss)

    return step


def torch_engine(x, labels, weights):
    """A step in torch eager mode."""
    torch = _harness.import_torch()
    functional = torch.nn.functional
    inputs, targets = torch.from_numpy(x), torch.from_numpy(labels)
    params = [torch.tensor(w, requires_grad=True) for w in weights]

    def step():
        w1, b1, w2, b2 = params
        for param in params:
            param.grad = None
        hidden = torch.relu(functional.linear(inputs, w1, b1))
        loss = functional.cross_entropy(functional.linear(hidden, w2, b2), targets)
        loss.backward()
        with torch.no_grad():
            for param in params:
                param.sub_(LEARNING_RATE * param.grad)
        return loss.item()

    return step


ENGINES = {
    "numpy floor": numpy_floor,
    "cgraph": cgraph_engine,
    "cgraph interpreted": lambda *data: cgraph_engine(*data, use_plans=False),
    "torch": torch_engine,
}


def first_losses(make, data, steps=5):
    """The losses of the first ``steps`` steps of a fresh contender."""
    step = make(*data)
    return [step() for _ in range(steps)]


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(2, 15))
    tables, targets = [], []
    for dtype, tolerance in ((np.float64, 1e-9), (np.float32, 1e-4)):
        data = problem(dtype, options.quick)
        _harness.check_agree(
            f"losses of 5 steps, {dtype.__name__}",
            {name: first_losses(make, data) for name, make in ENGINES.items()},
            rel=tolerance,
        )
        steps = {name: make(*data) for name, make in ENGINES.items()}
        times = _harness.time_interleaved(steps, options.repeats, label=dtype.__name__)
        tables.append(
            f"**{dtype.__name__}**\n\n" + _harness.contender_table(times, "numpy floor", 1, "step")
        )
        targets.append(
            _harness.Target(
                f"cgraph within 1.05x of the numpy floor, {dtype.__name__}",
                times["cgraph"] / times["numpy floor"],
                1.05,
                at_least=False,
            )
        )
    batch, sizes = (32, "64-32-10") if options.quick else (BATCH, "-".join(map(str, SIZES)))
    _harness.report(
        "bench_mlp",
        "One training step of an MLP",
        f"Forward, backward and gradient-descent update of a {sizes} ReLU network with "
        f"softmax cross-entropy on a batch of {batch}; numpy's BLAS and torch on one thread, "
        "glibc's malloc keeping freed memory.",
        tables,
        targets,
        options,
    )


if __name__ == "__main__":
    main()

"""Logistic regression's loss and gradient on Dask: rows per second, and memory against data size.

The problem is the one of ``examples/dask_logistic_regression.py``: ``rows``
samples of 8 features, labels from a logistic model, the loss
``bce_with_logits(X @ w + b, y)`` and its gradient in ``w`` and ``b``. One call
is one evaluation of the loss and both gradients (what a step of ``minimize``
costs). Contenders:

- ``numpy floor``: the loss and gradient written by hand in numpy, data in memory.
- ``cgraph, numpy``: the graph on the same numpy arrays (``forward``, ``backward``).
- ``torch``: eager mode, data in memory, one thread.
- ``dask floor``: the hand-written formulas on Dask arrays, one ``dask.compute``.
- ``cgraph, dask``: the graph on Dask arrays, ``dask.compute`` of the loss and gradients.

The Dask contenders run on the data held in the workers' memory (``persist``),
so they compute what numpy computes: with 1 and 2 worker processes of a
``LocalCluster`` (one thread each), and on Dask's threaded scheduler with 2
threads. A last pair generates the data on the fly, chunk by chunk, as the
example does for data larger than memory.

Memory: the example's training (3 steps) runs in a fresh process at growing
row counts, on Dask's threaded scheduler, and on numpy arrays in memory; each
prints its own peak resident memory.

Run ``python benchmarks/bench_dask.py [--quick] [--write]`` (needs ``cgraph[dask]``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy and each worker on one core

import _harness
import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import dask  # noqa: E402
from dask_logistic_regression import dataset, logistic_regression  # noqa: E402

ROWS, CHUNK_ROWS = 4_000_000, 500_000
MEMORY_ROWS = (1_000_000, 4_000_000, 16_000_000, 64_000_000)


def numpy_floor(x, y):
    """The loss and gradients by hand: the mean of softplus(z) - y z, z = X w + b."""
    rows = len(y)

    def evaluate(w, b):
        z = x @ w + b
        loss = np.mean(np.logaddexp(0.0, z) - y * z)
        residual = (1.0 / (1.0 + np.exp(-z)) - y) / rows
        return float(loss), x.T @ residual, float(residual.sum())

    return evaluate


def cgraph_numpy(x, y):
    cg = logistic_regression(x, y)

    def evaluate(w, b):
        cg.inputs["w"].output, cg.inputs["b"].output = w, b
        loss = cg.forward("loss")
        grads = cg.backward("loss")
        return loss, grads["w"], grads["b"]

    return evaluate


def torch_engine(x, y):
    torch = _harness.import_torch()
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def evaluate(w, b):
        wt = torch.tensor(w, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs @ wt + bt, targets)
        loss.backward()
        return loss.item(), wt.grad.numpy(), bt.grad.item()

    return evaluate


def dask_floor(x, y):
    import dask.array as da

    rows = y.shape[0]

    def evaluate(w, b):
        z = x @ w + b
        loss = da.mean(da.logaddexp(0.0, z) - y * z)
        residual = (1.0 / (1.0 + da.exp(-z)) - y) / rows
        loss, grad_w, grad_b = dask.compute(loss, x.T @ residual, residual.sum())
        return float(loss), grad_w, float(grad_b)

    return evaluate


def cgraph_dask(x, y):
    cg = logistic_regression(x, y)

    def evaluate(w, b):
        cg.inputs["w"].output, cg.inputs["b"].output = w, b
        loss, grads = dask.compute(cg.forward("loss"), cg.backward("loss"))
        return float(loss), grads["w"], float(grads["b"])

    return evaluate


def contenders(x, y, prefix=""):
    return {f"{prefix}dask floor": dask_floor(x, y), f"{prefix}cgraph, dask": cgraph_dask(x, y)}


def timed_calls(evaluations, w, b):
    """Each evaluation as a call of no arguments at the same point, returning the loss."""
    return {name: (lambda f=f: f(w, b)[0]) for name, f in evaluations.items()}


def throughput_tables(rows, chunk_rows, repeats, quick):
    from dask.distributed import Client, LocalCluster

    lazy_x, lazy_y = dataset(rows, chunk_rows)
    x, y = dask.compute(lazy_x, lazy_y)
    w, b = np.linspace(-0.5, 0.5, x.shape[1]), 0.1
    in_memory = {
        "numpy floor": numpy_floor(x, y),
        "cgraph, numpy": cgraph_numpy(x, y),
        "torch": torch_engine(x, y),
    }
    results = {name: f(w, b) for name, f in in_memory.items()}
    times = _harness.time_interleaved(timed_calls(in_memory, w, b), repeats, label="in memory")
    # a quick run skips the clusters: starting worker processes is most of its time
    setups = [("2 threads", None)] + [
        (f"{n} worker{'s' * (n > 1)}", n) for n in (() if quick else (1, 2))
    ]
    for label, workers in setups:
        cluster = client = None
        if workers:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=None, processes=True
            )
            client = Client(cluster)
        try:
            with (
                contextlib.nullcontext()
                if workers
                else dask.config.set(scheduler="threads", num_workers=2)
            ):
                persisted = dask.persist(lazy_x, lazy_y)
                on_dask = contenders(*persisted, prefix=f"{label}: ")
                on_dask.update(contenders(lazy_x, lazy_y, prefix=f"{label}, generated: "))
                results.update({name: f(w, b) for name, f in on_dask.items()})
                times.update(
                    _harness.time_interleaved(timed_calls(on_dask, w, b), repeats, label=label)
                )
        finally:
            if client is not None:
                client.close()
                cluster.close()
    _harness.check_agree(
        "loss, then gradients",
        {
            name: [loss, *np.ravel(grad_w), grad_b]
            for name, (loss, grad_w, grad_b) in results.items()
        },
        rel=1e-9,
    )
    rows_table = _harness.format_table(
        ["contender", "per call", "rows per second", "vs numpy floor"],
        [
            [
                name,
                _harness.format_time(seconds),
                f"{rows / seconds:,.0f}",
                f"{seconds / times['numpy floor']:.2f}x",
            ]
            for name, seconds in times.items()
        ],
    )
    return times, rows_table


MEMORY_SCRIPT = """
import sys
sys.path.insert(0, {examples!r})
import dask
from dask_logistic_regression import dataset, fit, logistic_regression, peak_rss_mb
X, y = dataset({rows}, {chunk_rows})
if {in_memory}:
    X, y = dask.compute(X, y)
with dask.config.set(scheduler="threads", num_workers=2):
    fit(logistic_regression(X, y), steps=3)
print(peak_rss_mb())
"""


def peak_memory(rows, chunk_rows, in_memory):
    """The peak resident memory, in MB, of a fresh process training 3 steps on ``rows`` rows."""
    script = MEMORY_SCRIPT.format(
        examples=str(EXAMPLES), rows=rows, chunk_rows=chunk_rows, in_memory=in_memory
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(1, 5))
    rows, chunk_rows = (200_000, 50_000) if options.quick else (ROWS, CHUNK_ROWS)
    memory_rows = (100_000, 400_000) if options.quick else MEMORY_ROWS
    times, rows_table = throughput_tables(rows, chunk_rows, options.repeats, options.quick)

    memory = []
    for count in memory_rows:
        lazy = peak_memory(count, chunk_rows, in_memory=False)
        # numpy holds the data: past 16M rows (1 GB) it only grows, so it is not run there
        eager = peak_memory(count, chunk_rows, in_memory=True) if count <= 16_000_000 else None
        memory.append((count, lazy, eager))
    memory_table = _harness.format_table(
        ["rows", "data", "peak RSS, dask", "peak RSS, numpy in memory"],
        [
            [
                f"{count:,}",
                f"{count * 8 * 8 / 1e6:,.0f} MB",
                f"{lazy:,.0f} MB",
                "-" if eager is None else f"{eager:,.0f} MB",
            ]
            for count, lazy, eager in memory
        ],
    )
    setup = "2 threads" if options.quick else "2 workers"
    targets = [
        _harness.Target(
            f"cgraph on dask within 1.1x of the dask floor, {setup}",
            times[f"{setup}: cgraph, dask"] / times[f"{setup}: dask floor"],
            1.1,
            at_least=False,
        ),
        _harness.Target(
            f"dask peak memory at {memory[-1][0]:,} rows over at {memory[0][0]:,}",
            memory[-1][1] / memory[0][1],
            1.5,
            at_least=False,
        ),
    ]
    _harness.report(
        "bench_dask",
        "Logistic regression on Dask: throughput and memory",
        f"One evaluation of the loss and its gradient over {rows:,} rows of 8 features, "
        f"in chunks of {chunk_rows:,} rows. Memory: a fresh process trains 3 steps of "
        "examples/dask_logistic_regression.py.",
        [rows_table, memory_table],
        targets,
        options,
    )


if __name__ == "__main__":
    main()

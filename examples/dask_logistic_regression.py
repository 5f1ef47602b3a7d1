"""Logistic regression on more rows than fit in memory: the same named graph, on Dask arrays.

The data, ``rows`` samples of ``features`` standard normal features and a 0/1
label drawn from a known logistic model, is never held in memory: it is a Dask
array generated chunk by chunk, on the fly, each time a pass reads it (the
same numbers every time: Dask seeds each chunk). The graph is the one a numpy
user would write, ``loss = bce_with_logits(X @ w + b, y)``, with ``X`` and ``y``
Dask arrays and the parameters ``w`` and ``b`` plain numpy values.

``forward`` and ``backward`` on Dask arrays build lazy task graphs; each step of
``minimize`` computes the loss and both gradients in one ``dask.compute``, so
every chunk is generated once per step, and the step's memory is a few chunks
per worker, whatever the number of rows. The example prints the data's size,
the time per step, the rows per second, the process's peak memory, and the
fitted weights beside the true ones.

Run it with ``python examples/dask_logistic_regression.py`` (a million rows,
seconds; needs ``pip install 'cgraph[dask]'``). ``--rows 400_000_000`` holds
25.6 GB of features, more than this machine's memory, in the same peak memory;
``--workers 2`` runs it on a local Dask cluster of two worker processes, and
``--scheduler tcp://host:8786`` on a real cluster. ``--check`` also fits the
same data held in numpy arrays and prints the largest difference.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from cgraph import ComputationalGraph, minimize
from cgraph.optim import Adam

FEATURES = 8
SEED = 0


def dataset(rows: int, chunk_rows: int, features: int = FEATURES) -> tuple:
    """Features X (rows x features) and labels y from a logistic model, as lazy Dask arrays."""
    import dask.array as da

    rng = da.random.default_rng(SEED)
    x = rng.standard_normal((rows, features), chunks=(chunk_rows, features))
    w_true, b_true = true_parameters(features)
    chance = 1.0 / (1.0 + da.exp(-(x @ w_true + b_true)))
    y = (rng.random(rows, chunks=chunk_rows) < chance).astype(np.float64)
    return x, y


def true_parameters(features: int = FEATURES) -> tuple[np.ndarray, float]:
    """The model the labels are drawn from: weights from -1 to 1, bias 0.5."""
    return np.linspace(-1.0, 1.0, features), 0.5


def logistic_regression(x: object, y: object, features: int = FEATURES) -> ComputationalGraph:
    """The graph: loss = mean binary cross-entropy of sigmoid(X w + b) against y."""
    cg = ComputationalGraph()
    cg.add_input("X", x, trainable=False)
    cg.add_input("y", y, trainable=False)
    cg.add_inputs(w=np.zeros(features), b=0.0)
    cg.add_expression("logits", "X @ w + b")
    cg.add_computation_node("loss", "bce_with_logits", ("logits", "y"))
    return cg


def fit(cg: ComputationalGraph, steps: int) -> object:
    """Adam on w and b; each step is one forward, one backward and one compute."""
    return minimize(cg, "loss", params=["w", "b"], optimizer=Adam(lr=0.05), steps=steps, tol=None)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    On Linux, the kernel's high-water mark of this program (``VmHWM``): getrusage's
    ``ru_maxrss`` would report the parent's peak instead when that was larger, as it
    survives ``exec``. Elsewhere ``ru_maxrss`` (kilobytes, on macOS bytes).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--workers", type=int, default=0, help="0: Dask's threads, in process")
    parser.add_argument("--scheduler", help="the address of a running Dask scheduler")
    parser.add_argument("--check", action="store_true", help="fit numpy arrays too, compare")
    args = parser.parse_args(argv)

    client = None
    if args.scheduler or args.workers:
        from dask.distributed import Client, LocalCluster

        cluster = args.scheduler or LocalCluster(
            n_workers=args.workers, threads_per_worker=1, dashboard_address=None
        )
        client = Client(cluster)
    try:
        x, y = dataset(args.rows, args.chunk_rows)
        cg = logistic_regression(x, y)
        start = time.perf_counter()
        result = fit(cg, args.steps)
        seconds = time.perf_counter() - start
    finally:
        if client is not None:
            client.close()

    w_true, b_true = true_parameters()
    passes = result.nfev
    report = {
        "rows": args.rows,
        "gigabytes": args.rows * FEATURES * 8 / 1e9,
        "seconds_per_step": seconds / passes,
        "rows_per_second": args.rows * passes / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "loss": result.fun,
        "w": result.x["w"],
        "b": result.x["b"],
    }
    print(
        f"{args.rows:,} rows x {FEATURES} features: {report['gigabytes']:.2f} GB, never in memory"
    )
    print(f"{passes} passes (loss and gradients, one dask.compute each) in {seconds:.1f} s:")
    print(f"  {report['seconds_per_step']:.2f} s per step, {report['rows_per_second']:,.0f} rows/s")
    print(f"  peak memory of this process: {report['peak_rss_mb']:.0f} MB")
    print(f"loss {result.fun:.6f}")
    print("w fitted", np.round(result.x["w"], 3), "b", round(result.x["b"], 3))
    print("w true  ", np.round(w_true, 3), "b", b_true)
    print("values read by name say they are lazy:")
    print("\n".join(cg.summary().splitlines()[:2] + cg.summary().splitlines()[-2:]))
    if args.check:
        import dask

        x_in_memory, y_in_memory = dask.compute(x, y)
        in_memory = fit(logistic_regression(x_in_memory, y_in_memory), args.steps)
        gap = max(
            abs(in_memory.fun - result.fun),
            float(np.max(np.abs(in_memory.x["w"] - result.x["w"]))),
            abs(in_memory.x["b"] - result.x["b"]),
        )
        report["numpy_gap"] = gap
        print(f"numpy arrays in memory give the same fit: largest difference {gap:.1e}")
    return report


if __name__ == "__main__":
    main()

"""A chain of 1,000,000 nodes, x_{i+1} = sin(x_i): declaration, passes and memory per node.

Depth is what a recursive engine cannot take (micrograd's topological sort
recurses once per node), so this compares cgraph with the plain Python floor
only: a loop computing the chain forward into a list of values, then a loop
back along it storing every gradient, dx_{n-1}/dx_i, as the product of the
cosines (cgraph too keeps every node's value and gradient). x_0 = 1; the chain
decays slowly towards 0, so every value and gradient stays finite. Measured:

- declaring the chain in a fresh graph (once; names are made beforehand);
- the first ``forward``, which also builds the cached schedule (once);
- compiling the chain's plan (``compile``; a schedule this large is not compiled
  by itself, so by default ``forward`` interprets it), in chunks of 500 nodes;
- steady-state ``forward`` plus ``backward`` against the floor, interleaved,
  median of several calls, interpreted and compiled, after checking that all
  give the same value and gradient of x_0;
- peak memory per node, interpreted and compiled: each engine runs in a fresh
  Python process that reports the growth from its resident set size after its
  imports to its peak resident set size while declaring and running forward and
  backward once (Linux ``/proc/self/status``), divided by the node count:
  everything included, names, networkx graph, values, gradients.

Run ``python benchmarks/bench_chain.py [--quick] [--write]``.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import subprocess
import sys
import time
from pathlib import Path

import _harness

from cgraph import ComputationalGraph
from cgraph.ops import Sin

START = 1.0


def chain_names(size: int) -> list[str]:
    return [f"x{i}" for i in range(size)]


def declare_chain(names: list[str]) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**{names[0]: START})
    for previous, name in itertools.pairwise(names):
        cg.add_computation_node(name, Sin, (previous,))
    return cg


def python_floor(size: int):
    """A call: the chain forward into a list, then back; returns x_{n-1} and d x_{n-1}/d x_0."""

    def run():
        values = [START] * size
        for i in range(1, size):
            values[i] = math.sin(values[i - 1])
        grads = [0.0] * size
        grads[-1] = 1.0
        for i in range(size - 2, -1, -1):
            grads[i] = grads[i + 1] * math.cos(values[i])
        return values[-1], grads[0]

    return run


def rss_kib(field: str) -> int:
    """This process's resident set size now (``"VmRSS"``) or at its peak (``"VmHWM"``), KiB.

    Read from ``/proc/self/status`` (Linux): ``ru_maxrss`` would not do, as a
    child process inherits there the peak of the parent it was forked from.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"no {field} in /proc/self/status")


def memory_child(engine: str, size: int) -> None:
    """In a fresh process: print the peak RSS growth, in bytes, of running ``engine`` once."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # peak := now (Linux >= 4.0)
    before = rss_kib("VmRSS")
    if engine.startswith("cgraph"):
        names = chain_names(size)
        cg = declare_chain(names)
        if engine == "cgraph compiled":
            cg.compile(names[-1])
        cg.forward(names[-1])
        cg.backward(names[-1])
    else:
        python_floor(size)()
    print((rss_kib("VmHWM") - before) * 1024)


def peak_bytes_per_node(engine: str, size: int) -> float:
    code = f"import bench_chain; bench_chain.memory_child({engine!r}, {size})"
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout.strip()) / size


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(3, 5))
    size = 20_000 if options.quick else 1_000_000
    names, root = chain_names(size), f"x{size - 1}"

    start = time.perf_counter()
    cg = declare_chain(names)
    declared = time.perf_counter()
    cg.forward(root)
    first_forward = time.perf_counter()

    def cgraph_run():
        cg.use_plans = False  # what forward runs by default at this size: the interpreter
        return cg.forward(root), cg.backward(root)[names[0]]

    def compiled_run():
        cg.use_plans = True
        return cg.forward(root), cg.backward(root)[names[0]]

    plans = hasattr(cg, "compile")  # not on an engine before plans (benchmarks/compare.py)
    began = time.perf_counter()
    if plans:
        cg.compile(root)  # larger than plans are written for by themselves: asked for
    compiled = time.perf_counter()
    runs = {
        "python floor": python_floor(size),
        "cgraph": cgraph_run,
        "cgraph compiled": compiled_run,
    }
    if not plans:
        del runs["cgraph compiled"]
    _harness.check_agree(
        "x_{n-1} and its gradient with respect to x_0", {name: run() for name, run in runs.items()}
    )
    times = _harness.time_interleaved(runs, options.repeats)
    engines = ("cgraph", "cgraph compiled", "python floor") if plans else ("cgraph", "python floor")
    memory = {name: peak_bytes_per_node(name, size) for name in engines}

    def per_node(seconds: float) -> str:
        return f"{_harness.format_time(seconds)} ({_harness.format_time(seconds / size)}/node)"

    steady = times["cgraph"] / times["python floor"]
    planned = times["cgraph compiled"] / times["python floor"] if plans else None
    floor_memory = memory["python floor"]

    def bytes_row(name: str) -> list[str]:
        ratio = f"{memory[name] / floor_memory:.1f}x" if floor_memory else ""
        return [
            f"peak memory per node, {name} (fresh process)",
            f"{memory[name]:,.0f} B",
            f"{floor_memory:,.0f} B",
            ratio,
        ]

    interpreted = [
        f"forward + backward, interpreted (median of {options.repeats})",
        per_node(times["cgraph"]),
        per_node(times["python floor"]),
        f"{steady:.2f}x",
    ]
    rows = [
        [f"declare {size:,} nodes (once)", per_node(declared - start), "", ""],
        ["first forward, builds the schedule (once)", per_node(first_forward - declared), "", ""],
    ]
    if plans:
        rows += [
            ["compile (once; functions of 500 operations)", per_node(compiled - began), "", ""],
            interpreted,
            [
                f"forward + backward, compiled (median of {options.repeats})",
                per_node(times["cgraph compiled"]),
                per_node(times["python floor"]),
                f"{planned:.2f}x",
            ],
            bytes_row("cgraph"),
            bytes_row("cgraph compiled"),
        ]
    else:
        rows += [interpreted, bytes_row("cgraph")]
    table = _harness.format_table(["measurement", "cgraph", "python floor", "ratio"], rows)
    targets = [
        _harness.Target(
            "cgraph forward + backward slower than the floor", steady, 10, at_least=False
        ),
        _harness.Target(
            "cgraph peak memory per node", memory["cgraph"], 1536, at_least=False, unit=" B"
        ),
    ]
    if plans:
        targets[1:1] = [
            _harness.Target(
                "compiled forward + backward slower than the floor", planned, 2, at_least=False
            )
        ]
        targets.append(
            _harness.Target(
                "compiled peak memory per node",
                memory["cgraph compiled"],
                400,
                at_least=False,
                unit=" B",
            )
        )
    _harness.report(
        "bench_chain",
        f"Chain of {size:,} nodes",
        f"x_(i+1) = sin(x_i) for {size:,} nodes, x_0 = 1: declaring it, the first forward pass, "
        "steady forward + backward against a plain Python loop, and peak memory per node.",
        [table],
        targets,
        options,
    )


if __name__ == "__main__":
    main()

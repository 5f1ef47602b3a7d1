"""Run every benchmark in turn, passing this script's arguments on to each.

``python benchmarks/run_all.py --write`` re-measures everything and replaces
each benchmark's section of ``benchmarks/RESULTS.md``; ``--quick`` makes it a
smoke run of a few seconds. Stops at the first benchmark that fails.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = (
    "bench_fxy.py",
    "bench_random_dag.py",
    "bench_declare.py",
    "bench_chain.py",
    "bench_mlp.py",
    "bench_conv2d.py",
    "bench_jacobian.py",
    "bench_hvp.py",
)


def main() -> None:
    here = Path(__file__).parent
    missing = {path.name for path in here.glob("bench_*.py")} - set(BENCHMARKS)
    if missing:
        sys.exit(f"run_all.py does not list {sorted(missing)}; add them to BENCHMARKS")
    for script in BENCHMARKS:
        print(f"=== {script} {' '.join(sys.argv[1:])}", flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(here / script), *sys.argv[1:]], check=True)
        print(f"=== {script} took {time.perf_counter() - start:.0f} s\n", flush=True)


if __name__ == "__main__":
    main()

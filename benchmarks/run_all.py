"""Run every benchmark in turn (but those of ``RUN_ALONE``), passing this script's arguments on.

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


#: Benchmarks run only by themselves, and why.
RUN_ALONE = {
    "bench_dask.py": "needs cgraph[dask], and its largest run fills the machine's memory",
}


def unlisted(here: Path) -> list[str]:
    """The benchmark scripts in ``here`` that neither list names."""
    listed = set(BENCHMARKS) | set(RUN_ALONE)
    return sorted({path.name for path in here.glob("bench_*.py")} - listed)


def main() -> None:
    here = Path(__file__).parent
    missing = unlisted(here)
    if missing:
        sys.exit(f"run_all.py does not list {missing}; add them to BENCHMARKS or RUN_ALONE")
    for script in BENCHMARKS:
        print(f"=== {script} {' '.join(sys.argv[1:])}", flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(here / script), *sys.argv[1:]], check=True)
        print(f"=== {script} took {time.perf_counter() - start:.0f} s\n", flush=True)


if __name__ == "__main__":
    main()

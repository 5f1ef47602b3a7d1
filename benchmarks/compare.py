"""Did a change to the engine make a benchmark slower? The ratios, before and after, interleaved.

The project's rule is that the benchmarks' ratios (f(x, y) step, random DAG,
MLP step, million-node chain) stay within 5% of the previous engine's, measured
in the same harness, interleaved. This script measures exactly that:

- The previous engine is a git revision, ``--before REF`` (default ``HEAD``),
  checked out with ``git worktree add --detach`` under the system temp
  directory (or the one left there by an earlier ``--keep``, reused), and
  removed at the end unless ``--keep``.
- Every run uses the benchmark scripts of this checkout, so that the benchmark
  code is the same both times and only the engine differs: "before" runs them
  with ``PYTHONPATH`` set to the worktree, "after" with ``PYTHONPATH`` set to
  this checkout. ``PYTHONPATH`` comes before the finder of an editable install
  of cgraph; before anything is timed the script checks that each tree's
  ``cgraph`` is the one imported, and after every run, from the JSON the
  harness writes (``CGRAPH_BENCH_JSON``), that every ``cgraph`` module the
  benchmark used came from that tree (a module missing there would otherwise
  come from the editable install).
- Each benchmark runs ``--rounds`` times (default 3) with each engine, in ABBA
  order (before, after; after, before; before, after; ...), so that drift of
  the machine falls on both alike.
- A run's numbers are the ratios its tables print: each contender's median
  call over its floor's (the hand-written Python or numpy code), both timed
  interleaved in that one run. For every ratio the report gives the median over
  the rounds before and after, the change of after over before, and the change
  of each round's pair. Only cgraph's ratios depend on the engine; those of
  micrograd and torch are printed as a control of the noise. A cgraph ratio
  more than ``--threshold`` percent (default 5) higher after than before is
  flagged; so is cgraph's peak memory per node in the chain benchmark.

The exit status is 1 when anything is flagged (never with ``--quick``, whose
sizes are too small to measure anything), 2 when a run fails.

Run ``python benchmarks/compare.py [--before REF] [--rounds N] [--quick]
[--repeats N] [--keep] [BENCHMARK ...]``, the benchmarks named as ``fxy``,
``bench_fxy`` or ``bench_fxy.py`` (default: fxy random_dag mlp chain).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _harness

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The benchmarks the rule names.
DEFAULT = ("fxy", "random_dag", "mlp", "chain")


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "benchmarks",
        nargs="*",
        default=list(DEFAULT),
        metavar="BENCHMARK",
        help=f"benchmarks to run (default: {' '.join(DEFAULT)})",
    )
    parser.add_argument(
        "--before",
        default="HEAD",
        metavar="REF",
        help="git revision of the previous engine (default: HEAD)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="runs of each benchmark with each engine, ABBA order (default: 3)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="pass --quick on: a smoke test of this script, not a measurement",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="pass --repeats N on to every benchmark"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=5.0,
        help="flag a cgraph ratio this many percent higher after (default: 5)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the worktree of REF (a later run reuses it)"
    )
    options = parser.parse_args(argv)
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    options.scripts = []
    for name in options.benchmarks:
        stem = name.removesuffix(".py").removeprefix("bench_")
        script = HERE / f"bench_{stem}.py"
        if not script.is_file():
            known = sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))
            parser.error(f"no benchmark {name!r}; there are {', '.join(known)}")
        options.scripts.append(script)
    return options


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def worktree(ref: str) -> tuple[Path, str]:
    """A worktree of ``ref`` under the temp directory, made or reused: ``(path, commit)``."""
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except subprocess.CalledProcessError:
        sys.exit(f"--before {ref}: no such commit in {ROOT}")
    path = Path(tempfile.gettempdir()) / f"cgraph-before-{commit[:12]}"
    if path.exists():
        try:
            reusable = git("rev-parse", "HEAD", cwd=path) == commit and not git(
                "status", "--porcelain", "--untracked-files=no", cwd=path
            )
        except subprocess.CalledProcessError:
            reusable = False
        if reusable:
            print(f"reusing the worktree {path} of {ref} ({commit[:12]})", file=sys.stderr)
            return path, commit
        path = Path(tempfile.mkdtemp(prefix=f"cgraph-before-{commit[:12]}-"))
    # --force: also when a worktree once registered at this path was deleted by hand.
    git("worktree", "add", "--detach", "--force", str(path), commit)
    print(f"made the worktree {path} of {ref} ({commit[:12]})", file=sys.stderr)
    return path, commit


def remove_worktree(path: Path) -> None:
    try:
        git("worktree", "remove", "--force", str(path))
    except subprocess.CalledProcessError as error:
        print(
            f"git worktree remove failed ({error.stderr.strip()}); deleting {path}", file=sys.stderr
        )
        shutil.rmtree(path, ignore_errors=True)
        git("worktree", "prune")


def environment(tree: Path, **extra: str) -> dict[str, str]:
    """This process's environment with ``tree`` first on ``PYTHONPATH``."""
    paths = [str(tree), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


def within(file: str | None, tree: Path) -> bool:
    return file is not None and Path(file).resolve().is_relative_to(tree.resolve())


def check_import(tree: Path) -> None:
    """Exit unless ``import cgraph``, run as the benchmarks are, imports ``tree``'s cgraph."""
    child = subprocess.run(
        [sys.executable, "-c", "import cgraph; print(cgraph.__file__)"],
        cwd=HERE,
        env=environment(tree),
        capture_output=True,
        text=True,
        check=False,
    )
    file = child.stdout.strip()
    if child.returncode or not within(file, tree / "cgraph"):
        sys.exit(
            f"with PYTHONPATH={tree}, import cgraph gave {file or child.stderr.strip()!r},"
            f" not the package in {tree}"
        )
    print(f"PYTHONPATH={tree}: cgraph from {file}", file=sys.stderr)


def run_benchmark(script: Path, tree: Path, flags: list[str]) -> tuple[dict, float]:
    """Run ``script`` on the engine in ``tree``; its JSON record and the seconds it took."""
    with tempfile.TemporaryDirectory(prefix="cgraph-compare-") as scratch:
        record_path = Path(scratch) / "record.json"
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, str(script), *flags],
            cwd=HERE,
            capture_output=True,
            text=True,
            env=environment(tree, CGRAPH_BENCH_JSON=str(record_path)),
            check=False,
        )
        seconds = time.perf_counter() - start
        if child.returncode or not record_path.exists():
            raise RuntimeError(
                f"{script.name} {' '.join(flags)} with the engine in {tree} "
                f"failed (exit status {child.returncode}):\n"
                f"{child.stdout[-3000:]}{child.stderr[-3000:]}"
            )
        record = json.loads(record_path.read_text())
    strays = {
        name: file
        for name, file in record["cgraph_files"].items()
        if file is not None and not within(file, tree)
    }
    if strays or "cgraph" not in record["cgraph_files"]:
        raise RuntimeError(
            f"{script.name} with PYTHONPATH={tree} imported cgraph modules from "
            f"elsewhere: {strays or 'no cgraph at all'}"
        )
    return record, seconds


def numbers(record: dict) -> dict[tuple[str, str], tuple[float, str, bool]]:
    """A run's comparable numbers: ``(measurement, what) -> (value, unit, higher is worse)``.

    Every contender's ratio to the floor of its measurement, and the targets
    that are not ratios (the chain's bytes per node).
    """
    found = {}
    for measurement in record["measurements"]:
        for name, ratio in measurement["ratios"].items():
            if name != measurement["floor"]:
                found[measurement["label"], f"{name} / {measurement['floor']}"] = (ratio, "x", True)
    for target in record["targets"]:
        if target["unit"] != "x":
            found["", target["text"]] = (target["ratio"], target["unit"], not target["at_least"])
    return found


def show(value: float, unit: str) -> str:
    """A ratio as ``'15.45x'``, anything else as ``'1,304 B'``."""
    return f"{value:.2f}x" if unit == "x" else f"{value:,.0f}{unit}"


def summary(records: dict[str, dict[str, list[dict]]], threshold: float) -> tuple[str, list[str]]:
    """The table of medians before and after, and the rows flagged as slower."""
    rows, flagged = [], []
    for benchmark, by_engine in records.items():
        before = [numbers(record) for record in by_engine["before"]]
        after = [numbers(record) for record in by_engine["after"]]
        for key, (_, unit, higher_is_worse) in after[0].items():
            if not all(key in run for run in (*before, *after)):
                continue  # the benchmark's contenders changed between runs
            old = statistics.median(run[key][0] for run in before)
            new = statistics.median(run[key][0] for run in after)
            change = 100 * (new / old - 1)
            worse = change if higher_is_worse else -change
            pairs = " ".join(
                f"{100 * (a[key][0] / b[key][0] - 1):+.1f}"
                for b, a in zip(before, after, strict=True)
            )
            label, what = key
            engine_dependent = what.startswith("cgraph")
            flag = ""
            if engine_dependent and worse > threshold:
                flag = "**SLOWER**" if unit == "x" else "**WORSE**"
                flagged.append(f"{benchmark} {label} {what}".replace("  ", " "))
            elif not engine_dependent:
                flag = "(control)"

            rows.append(
                [
                    benchmark,
                    label,
                    what,
                    show(old, unit),
                    show(new, unit),
                    f"{change:+.1f}%",
                    pairs,
                    flag,
                ]
            )
    table = _harness.format_table(
        [
            "benchmark",
            "measurement",
            "ratio",
            "before",
            "after",
            "change",
            "change per round, %",
            "flag",
        ],
        rows,
    )
    return table, flagged


def main() -> None:
    options = parse_options()
    flags = [
        *(["--quick"] if options.quick else []),
        *(["--repeats", str(options.repeats)] if options.repeats else []),
    ]
    old_tree, commit = worktree(options.before)
    trees = {"before": old_tree, "after": ROOT}
    records = {
        script.stem.removeprefix("bench_"): {"before": [], "after": []}
        for script in options.scripts
    }
    start = time.perf_counter()
    try:
        for tree in trees.values():
            check_import(tree)
        for round_number in range(options.rounds):
            order = ["before", "after"] if round_number % 2 == 0 else ["after", "before"]
            for script in options.scripts:
                benchmark = script.stem.removeprefix("bench_")
                for engine in order:
                    record, seconds = run_benchmark(script, trees[engine], flags)
                    records[benchmark][engine].append(record)
                    cgraph = ", ".join(
                        f"{label} {what} {show(value, unit)}".strip()
                        for (label, what), (value, unit, _) in numbers(record).items()
                        if what.startswith("cgraph")
                    )
                    print(
                        f"round {round_number + 1}/{options.rounds} {benchmark:<10} "
                        f"{engine:<6} {seconds:5.1f} s  {cgraph}",
                        file=sys.stderr,
                        flush=True,
                    )
    except RuntimeError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
    finally:
        if options.keep:
            print(f"kept the worktree {old_tree}", file=sys.stderr)
        else:
            remove_worktree(old_tree)

    table, flagged = summary(records, options.threshold)
    dirty = "+" if git("status", "--porcelain", "--untracked-files=no") else ""
    mode = "QUICK smoke run, not a measurement; " if options.quick else ""
    print(
        f"Ratios to the floor, before ({options.before} = {commit[:12]}) and after "
        f"(this checkout, {git('rev-parse', '--short=12', 'HEAD')}{dirty}): median of "
        f"{options.rounds} runs each, ABBA order; change = after / before - 1\n\n{table}\n\n"
        f"_{mode}{len(options.scripts) * options.rounds * 2} runs in "
        f"{time.perf_counter() - start:.0f} s; flagged: cgraph more than "
        f"{options.threshold:g}% higher after than before_"
    )
    if flagged:
        print(f"\n{len(flagged)} flagged: {'; '.join(flagged)}")
        if not options.quick:
            sys.exit(1)


if __name__ == "__main__":
    main()

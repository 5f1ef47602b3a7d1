"""Shared helpers for the benchmarks: flags, interleaved timing, checks, tables, RESULTS.md.

Every benchmark times several *contenders* doing the same work. They are run
interleaved, round-robin (one call of each, then the next round, with the
starting contender rotating), so that machine noise falls on all of them alike,
and each is summarised by the median of its calls. Ratios are always taken
between contenders measured in the same run, never against numbers from
another run. The garbage collector stays on, as in real use, but is emptied
before every timed call so that no contender pays for another's garbage.

With the environment variable ``CGRAPH_BENCH_JSON`` set to a file name,
``report`` also writes there, as JSON, every contender's median and its ratio
to the first contender of its measurement (each benchmark names its floor
first), the targets, and the files the ``cgraph`` modules were imported from;
``compare.py`` reads it. The printed tables stay the same.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def parse_options(
    description: str, repeats: tuple[int, int], argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """The flags every benchmark takes: ``--quick``, ``--write`` and ``--repeats``.

    ``repeats`` gives the default number of timed blocks per contender of a quick
    run and of a full one; ``options.repeats`` is always set.
    """
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few repeats: a smoke test, not a measurement",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="replace this benchmark's section of benchmarks/RESULTS.md",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls per contender (default: the benchmark's own)",
    )
    options = parser.parse_args(argv)
    if options.repeats is None:
        options.repeats = repeats[0] if options.quick else repeats[1]
    return options


def import_torch():
    """torch, pinned to one thread and float64 so that it competes on the same terms."""
    import torch

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    return torch


# --------------------------------------------------------------------------------------
# Timing and checking
# --------------------------------------------------------------------------------------


#: Consecutive timed calls of one contender before the next one's turn.
BLOCK = 3

#: Every ``time_interleaved`` result of this process, in order: ``(label, medians)``.
MEASURED: list[tuple[str, dict[str, float]]] = []


def time_interleaved(
    contenders: Mapping[str, Callable[[], object]],
    repeats: int,
    block: int = BLOCK,
    label: str = "",
) -> dict[str, float]:
    """The median wall time in seconds of one call of each contender.

    Each contender is called once untimed (a warm-up). Then come ``repeats``
    rounds; in each, every contender makes ``block`` consecutive timed calls,
    the first contender of the round rotating. Blocks interleave the
    contenders, so machine noise falls on all alike; calls within a block run
    back to back as in a training loop, so the median call (over all blocks)
    is one with warm caches, not one just after another engine flushed them.

    The garbage collector stays on and runs when it would during a call. What
    exists before the first round (imports, declared graphs) is frozen out of
    it (``gc.freeze``), so a collection costs each contender what it allocates
    itself, as if it ran alone; after each block, outside the timing, what the
    calls returned and left behind is freed, so that no contender pays for
    another's garbage.

    The medians are also kept in ``MEASURED`` under ``label`` (which tells
    apart the measurements of a benchmark that makes several), for
    ``CGRAPH_BENCH_JSON``.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        contenders[name]()
    gc.collect()
    gc.freeze()
    try:
        for round_number in range(repeats):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                results = []
                for _ in range(block):
                    start = time.perf_counter()
                    results.append(contenders[name]())
                    samples[name].append(time.perf_counter() - start)
                del results
                gc.collect()  # only what is not frozen: this block's leftovers
    finally:
        gc.unfreeze()
    medians = {name: statistics.median(samples[name]) for name in names}
    MEASURED.append((label, dict(medians)))
    return medians


def check_agree(what: str, results: Mapping[str, Sequence[float]], rel: float = 1e-9) -> None:
    """Raise AssertionError unless every contender's numbers match the first one's.

    Numbers are compared with a relative tolerance ``rel`` (and an absolute one
    of ``rel`` for numbers near zero); all must be finite.
    """
    reference_name, reference = next(iter(results.items()))
    for name, values in results.items():
        values = [float(value) for value in values]
        if len(values) != len(reference):
            raise AssertionError(
                f"{what}: {name} gave {len(values)} numbers, {reference_name} {len(reference)}"
            )
        for i, (got, expected) in enumerate(zip(values, reference, strict=True)):
            if not math.isfinite(got):
                raise AssertionError(f"{what}: {name} gave a non-finite number at {i}: {got}")
            if not math.isclose(got, float(expected), rel_tol=rel, abs_tol=rel):
                raise AssertionError(
                    f"{what}: {name} gave {got!r} at {i}, {reference_name} gave {float(expected)!r}"
                )


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


@dataclass
class Target:
    """A goal such as "cgraph at least 5x faster than torch": ``ratio`` against ``goal``.

    ``at_least`` says whether the ratio must reach the goal (a speed-up) or stay
    under it (a slowdown against a floor, bytes per node).
    """

    text: str
    ratio: float
    goal: float
    at_least: bool = True
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.ratio >= self.goal if self.at_least else self.ratio <= self.goal


def format_time(seconds: float) -> str:
    """A duration with three significant digits in a readable unit: ``'1.23 us'``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table padded into aligned columns, readable in a terminal too."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join(
        "| "
        + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        + " |"
        for line in lines
    )


def contender_table(times: Mapping[str, float], floor: str, count: int, unit: str) -> str:
    """One row per contender: time per call, time per ``unit`` and the ratio to the floor."""
    rows = [
        [name, format_time(seconds), format_time(seconds / count), f"{seconds / times[floor]:.2f}x"]
        for name, seconds in times.items()
    ]
    return format_table(["contender", "per call", f"per {unit}", f"vs {floor}"], rows)


def speedup(times: Mapping[str, float], slower: str, faster: str) -> float:
    """How many times ``faster`` outpaces ``slower``."""
    return times[slower] / times[faster]


def targets_table(targets: Sequence[Target]) -> str:
    """One row per target: what, measured ratio, goal, and whether it is met."""

    def number(value: float, unit: str) -> str:
        return f"{value:.3g}x" if unit == "x" else f"{value:,.0f}{unit}"

    sign = {True: ">=", False: "<="}
    rows = [
        [
            target.text,
            number(target.ratio, target.unit),
            f"{sign[target.at_least]} {number(target.goal, target.unit)}",
            "yes" if target.met else "**no**",
        ]
        for target in targets
    ]
    return format_table(["target", "measured", "goal", "met"], rows)


def environment(options: argparse.Namespace) -> str:
    """One line naming the interpreter, the libraries in use, the machine and the run."""
    libraries = [f"cgraph {version('cgraph')}{git_commit()}"]
    for package in ("micrograd", "torch", "networkx", "numpy"):
        if package in sys.modules:
            with contextlib.suppress(PackageNotFoundError):
                libraries.append(f"{package} {version(package)}")
    threads = "; torch on 1 thread" if "torch" in sys.modules else ""
    mode = "QUICK smoke run, not a measurement; " if options.quick else ""
    return (
        f"{mode}Python {platform.python_version()}, {', '.join(libraries)}; "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs{threads}; "
        f"median of {options.repeats} interleaved blocks of {BLOCK} calls; "
        f"{time.strftime('%Y-%m-%d')}."
    )


def git_commit() -> str:
    """`` (git abc1234)`` for the repository's HEAD, ``+`` if modified; empty if unknown."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=RESULTS.parent, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        dirty = "+" if git("status", "--porcelain", "--untracked-files=no") else ""
        return f" (git {git('rev-parse', '--short', 'HEAD')}{dirty})"
    except (OSError, subprocess.CalledProcessError):
        return ""


def report(
    key: str,
    title: str,
    summary: str,
    tables: Sequence[str],
    targets: Sequence[Target],
    options: argparse.Namespace,
) -> None:
    """Print a benchmark's tables and targets; with ``--write`` store them in RESULTS.md.

    The section is delimited by ``<!-- key -->`` and ``<!-- /key -->`` so that a
    re-run replaces it in place; a new section is appended at the end.
    """
    body = "\n\n".join([summary, *tables, targets_table(targets), f"_{environment(options)}_"])
    print(f"{title}\n\n{body}\n")
    if os.environ.get("CGRAPH_BENCH_JSON"):
        write_json(Path(os.environ["CGRAPH_BENCH_JSON"]), key, title, targets, options)
    if options.write:
        section = f"<!-- {key} -->\n## {title}\n\n{body}\n<!-- /{key} -->"
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        pattern = re.compile(rf"<!-- {re.escape(key)} -->.*?<!-- /{re.escape(key)} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: section, text)
        else:
            text = text.rstrip("\n") + "\n\n" + section
        RESULTS.write_text(text.rstrip("\n") + "\n")
        print(f"wrote section {key!r} of {RESULTS}", file=sys.stderr)


def write_json(
    path: Path, key: str, title: str, targets: Sequence[Target], options: argparse.Namespace
) -> None:
    """Write this run's medians, ratios and targets to ``path`` as JSON (``CGRAPH_BENCH_JSON``).

    A measurement's ratios are to its first contender, the floor its table
    divides by. ``cgraph_files`` maps each imported ``cgraph`` module to its
    file, so that a reader can check which engine was measured.
    """
    measurements = [
        {
            "label": label,
            "floor": next(iter(medians)),
            "medians": medians,
            "ratios": {
                name: seconds / next(iter(medians.values())) for name, seconds in medians.items()
            },
        }
        for label, medians in MEASURED
    ]
    record = {
        "benchmark": key,
        "title": title,
        "quick": options.quick,
        "repeats": options.repeats,
        "block": BLOCK,
        "measurements": measurements,
        "targets": [
            {
                "text": target.text,
                "ratio": target.ratio,
                "goal": target.goal,
                "at_least": target.at_least,
                "unit": target.unit,
                "met": target.met,
            }
            for target in targets
        ],
        "cgraph_files": {
            name: getattr(module, "__file__", None)
            for name, module in sorted(sys.modules.items())
            if name == "cgraph" or name.startswith("cgraph.")
        },
    }
    path.write_text(json.dumps(record, indent=1) + "\n")

"""A save either completes or leaves the old graph file and its npz loadable, as they were.

Fault injection: each call a save makes to the file system (os.open, os.write, os.fsync,
os.close, os.replace, os.unlink, os.stat...) and to numpy's array writer fails in turn,
with an OSError raised instead of the call, or a KeyboardInterrupt raised instead of it
or just after it returned (Ctrl-C landing between two steps). After each, the graph file must
load with the old values (or the new ones, if the fault came after the commit), and no
temporary file and no npz that no graph file uses may be left behind.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cgraph import ComputationalGraph

# Everything a save may call that touches the disk, or encodes the npz's arrays.
FAULT_POINTS = [
    (os, name)
    for name in (
        "open",
        "write",
        "fsync",
        "close",
        "replace",
        "rename",
        "unlink",
        "remove",
        "stat",
        "lstat",
        "fstat",
        "read",
    )
]
FAULT_POINTS.append((np.lib.format, "write_array"))


class Faults:
    """Counts the calls to FAULT_POINTS, and makes call number ``at`` fail."""

    def __init__(
        self, at: int = -1, error: BaseException | None = None, after: bool = False
    ) -> None:
        self.at, self.error, self.after, self.calls = at, error, after, []

    def wrap(self, name: str, original: Callable) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            index = len(self.calls)
            self.calls.append(name)
            if index == self.at and not self.after:
                raise self.error
            result = original(*args, **kwargs)
            if index == self.at:
                raise self.error  # the call happened, then the interrupt landed
            return result

        return call

    def run(self, monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
        with monkeypatch.context() as patch:
            for module, name in FAULT_POINTS:
                patch.setattr(module, name, self.wrap(name, getattr(module, name)))
            action()


def graph(**values: Any) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**values)
    return cg


def values_of(path: Path) -> dict[str, tuple]:
    """Each input's value as (type, dtype, shape, bytes): equal only if identical."""
    loaded = ComputationalGraph.load(path)
    return {
        name: (
            type(node.output).__name__,
            np.asarray(node.output).dtype.str,
            np.shape(node.output),
            np.asarray(node.output).tobytes(),
        )
        for name, node in loaded.inputs.items()
    }


def npz_named(directory: Path) -> set[str]:
    """The npz the graph file in ``directory`` names, as a set of at most one name."""
    document = json.loads((directory / "graph.json").read_text())
    entry = document.get("npz")
    return set() if entry is None else {entry.get("file", "graph.npz")}


def legacy(directory: Path) -> None:
    """Make the saved graph file one of an older save: its npz is graph.npz, unrecorded."""
    path = directory / "graph.json"
    content = json.loads(path.read_text())
    (directory / content["npz"].pop("file")).rename(directory / "graph.npz")
    path.write_text(json.dumps(content))


SCENARIOS = {
    # old graph, new graph, whether the old file is made one of an older save
    "npz to another npz": (graph(w=np.zeros(6), b=1.0), graph(w=np.ones(6), b=2.0), False),
    "npz to none": (graph(w=np.zeros(6)), graph(w=3.0), False),
    "none to npz": (graph(w=3.0), graph(w=np.ones(6)), False),
    "same npz, other scalar": (graph(w=np.ones(6), b=1.0), graph(w=np.ones(6), b=2.0), False),
    "older save's graph.npz to npz": (graph(w=np.zeros(6)), graph(w=np.ones(6)), True),
    "float32 and NaN payloads": (
        graph(w=np.zeros(4, dtype=np.float32)),
        graph(w=np.array([1, 2, 3, 0x7FC00001], dtype=np.uint32).view(np.float32)),
        False,
    ),
}
ERRORS = {"OSError": OSError(errno.EIO, "injected fault"), "KeyboardInterrupt": KeyboardInterrupt()}
# (error, after): an OSError means the call failed; an interrupt may come before or after it.
FAULTS = [
    (ERRORS["OSError"], False),
    (ERRORS["KeyboardInterrupt"], False),
    (ERRORS["KeyboardInterrupt"], True),
]


@pytest.fixture
def old_state(request, tmp_path) -> tuple[dict[str, bytes], dict, ComputationalGraph]:
    old, new, older = SCENARIOS[request.param]
    old.save(tmp_path / "graph.json", array_threshold=2)
    if older:
        legacy(tmp_path)
    files = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    return files, values_of(tmp_path / "graph.json"), new


def restore(directory: Path, files: dict[str, bytes]) -> None:
    for path in directory.iterdir():
        path.unlink()
    for name, content in files.items():
        (directory / name).write_bytes(content)


@pytest.mark.parametrize("old_state", SCENARIOS, indirect=True)
def test_every_fault_at_every_step_leaves_a_loadable_graph(old_state, tmp_path, monkeypatch):
    files, old_values, new = old_state
    path = tmp_path / "graph.json"

    def save() -> None:
        new.save(path, array_threshold=2)

    clean = Faults()
    clean.run(monkeypatch, save)
    new_json, new_values = path.read_bytes(), values_of(path)
    assert set(os.listdir(tmp_path)) == {"graph.json"} | npz_named(tmp_path)  # old npz gone
    assert len(clean.calls) > 10, clean.calls
    tried = 0
    for at in range(len(clean.calls)):
        for error, after in FAULTS:
            restore(tmp_path, files)
            faults = Faults(at, error, after)
            try:
                faults.run(monkeypatch, save)
                raised = None
            except (OSError, KeyboardInterrupt) as err:
                raised = err
            check(
                tmp_path,
                files,
                old_values,
                new_json,
                new_values,
                raised,
                f"{faults.calls[at]} (call {at}), {type(error).__name__}, "
                f"{'after' if after else 'instead of'} the call",
            )
            tried += 1
    assert tried == len(FAULTS) * len(clean.calls)


def check(
    directory: Path,
    files: dict[str, bytes],
    old_values: dict,
    new_json: bytes,
    new_values: dict,
    raised: BaseException | None,
    fault: str,
) -> None:
    names = set(os.listdir(directory))
    assert not [name for name in names if name.endswith(".tmp")], f"{fault}: temporary left"
    committed = (directory / "graph.json").read_bytes() == new_json
    if not committed:
        assert raised is not None, f"{fault}: save returned but the old file is in place"
        assert {name: (directory / name).read_bytes() for name in names} == files, (
            f"{fault}: the old files changed, or the new npz was left: {sorted(names)}"
        )
        assert values_of(directory / "graph.json") == old_values, fault
        return
    assert not isinstance(raised, OSError), f"{fault}: an OSError after the commit"
    assert values_of(directory / "graph.json") == new_values, fault
    # The old npz may remain only if the fault stopped its removal after the commit.
    assert names - {"graph.json"} - npz_named(directory) <= set(files), (
        f"{fault}: stray files {sorted(names)}"
    )


def test_with_no_old_file_a_failed_save_leaves_nothing(tmp_path, monkeypatch):
    new, path = graph(w=np.ones(6)), tmp_path / "graph.json"
    clean = Faults()
    clean.run(monkeypatch, lambda: new.save(path, array_threshold=2))
    for at in range(len(clean.calls)):
        for error, after in FAULTS:
            for child in tmp_path.iterdir():
                child.unlink()
            try:
                Faults(at, error, after).run(monkeypatch, lambda: new.save(path, array_threshold=2))
                raised = False
            except (OSError, KeyboardInterrupt):
                raised = True
            names = sorted(os.listdir(tmp_path))
            if raised and not names:
                continue  # failed before the commit: nothing left
            assert names == sorted(["graph.json", *npz_named(tmp_path)]), (at, names)
            assert ComputationalGraph.load(path).inputs["w"].output.tolist() == [1.0] * 6


def test_a_save_does_not_remove_a_file_that_an_old_graph_file_names_but_did_not_make(tmp_path):
    """An old file (hostile, edited) naming another npz: not the save's to remove."""
    precious = tmp_path / "precious.npz"
    precious.write_bytes(b"not ours")
    path = tmp_path / "graph.json"
    path.write_text(
        '{"format": "cgraph", "version": 1, "npz": {"file": "precious.npz", '
        f'"sha256": "{"0" * 64}"}}, "nodes": []}}'
    )
    graph(w=np.ones(6)).save(path, array_threshold=2)
    assert precious.read_bytes() == b"not ours"
    assert ComputationalGraph.load(path).inputs["w"].output.tolist() == [1.0] * 6


def test_saving_over_a_fifo_neither_blocks_nor_reads_it(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "graph.json")
    graph(w=2.0).save(tmp_path / "graph.json")  # would block on open() if it read the FIFO
    assert ComputationalGraph.load(tmp_path / "graph.json").inputs["w"].output == 2.0


def test_a_short_write_is_continued(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(os, "write", lambda handle, data: real(handle, bytes(data[:7])))
    graph(w=np.arange(50.0)).save(tmp_path / "graph.json", array_threshold=2)
    monkeypatch.undo()
    assert ComputationalGraph.load(tmp_path / "graph.json").inputs["w"].output.tolist() == list(
        np.arange(50.0)
    )

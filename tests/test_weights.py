"""Weights files (cgraph.io.weights): inputs' values saved and loaded alone, all or nothing."""

from __future__ import annotations

import hashlib
import json
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_hostile_files import member, npy, zip_bytes
from test_save_faults import FAULTS, Faults

import cgraph.io
from cgraph import ComputationalGraph, GraphError, GraphFileError, UnknownNodeError, dense
from cgraph.io import load_weights, save_weights

PEAK_BYTES = 32 << 20
SECONDS = 5.0


def model(seed: int = 0) -> ComputationalGraph:
    """Two dense layers on non-trainable data; weights by seed."""
    cg = ComputationalGraph()
    cg.add_input("data", np.arange(12.0).reshape(4, 3), trainable=False)
    dense(cg, "layer1", "data", 5, rng=seed)
    dense(cg, "layer2", "layer1/a", 2, activation=None, rng=seed + 1)
    cg.add_computation_node("loss", "sum", ("layer2/z",))
    return cg


def values(cg: ComputationalGraph) -> dict[str, tuple]:
    """Each input's value as (type, dtype, shape, bytes): equal only if identical."""
    return {
        name: (
            type(node.output).__name__,
            np.asarray(node.output).dtype.str,
            np.shape(node.output),
            np.asarray(node.output).tobytes(),
        )
        for name, node in cg.inputs.items()
    }


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


def test_round_trip_restores_every_weight_and_leaves_the_data(tmp_path):
    trained, fresh = model(0), model(7)
    path = tmp_path / "weights.json"
    assert save_weights(trained, path) == ("layer1/W", "layer1/b", "layer2/W", "layer2/b")
    document = json.loads(path.read_text())
    assert document["format"] == "cgraph-weights"
    assert [record["name"] for record in document["weights"]] == [
        "layer1/W",
        "layer1/b",
        "layer2/W",
        "layer2/b",
    ]  # no data, no structure
    held = fresh.inputs["layer1/W"].output
    fresh.inputs["data"].output[...] = -1.0
    assert load_weights(fresh, path) == ("layer1/W", "layer1/b", "layer2/W", "layer2/b")
    assert fresh.inputs["layer1/W"].output is held  # updated in place, as an optimiser does
    expected = values(trained)
    got = values(fresh)
    assert {k: v for k, v in got.items() if k != "data"} == {
        k: v for k, v in expected.items() if k != "data"
    }
    assert fresh.inputs["data"].output.min() == -1.0  # not in the file: unchanged
    fresh.inputs["data"].output[...] = trained.inputs["data"].output
    assert fresh.forward("loss") == trained.forward("loss")


def test_exact_values_of_every_kind(tmp_path):
    cg = ComputationalGraph()
    nan = np.array([1, 0x7FC00001, 0xFFC00000], dtype=np.uint32).view(np.float32)
    cg.add_inputs(
        f=0.1,
        h=np.array([1.5, -2.0], dtype=np.float16),
        n=nan,
        z=np.zeros((0, 3)),
        s=np.array(np.pi, dtype=np.float32),
        x=-np.nan,
    )
    cg.add_input("count", np.array([1, 2, 3]), trainable=False)
    saved = values(cg)
    cg.save_weights(tmp_path / "w.json", [*cg.inputs])
    for node in cg.inputs.values():  # overwrite every value, keeping shapes and dtypes
        if isinstance(node.output, np.ndarray):
            node.output[...] = 0
        else:
            node.output = 0.0
    cg.load_weights(tmp_path / "w.json")
    assert values(cg) == saved
    assert type(cg.inputs["f"].output) is float


def test_large_arrays_go_to_an_npz_that_a_new_save_replaces(tmp_path):
    cg = model()
    path = tmp_path / "weights.json"
    cg.save_weights(path, array_threshold=4)
    first = {p.name for p in tmp_path.iterdir()}
    assert len(first) == 2
    assert "weights.json" in first
    cg.inputs["layer1/W"].output += 1.0
    cg.save_weights(path, array_threshold=4)
    second = {p.name for p in tmp_path.iterdir()}
    assert len(second) == 2
    assert second != first  # the old npz is gone
    target = model(3)
    target.load_weights(path)
    assert values(target)["layer1/W"] == values(cg)["layer1/W"]


def test_saving_weights_over_a_graph_file_removes_its_npz(tmp_path):
    path = tmp_path / "model.json"
    model().save(path, array_threshold=4)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    model().save_weights(path, "layer2/b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


# --------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------


def test_a_group_saves_and_loads_on_its_own(tmp_path):
    trained, fresh = model(0), model(5)
    before = values(fresh)
    assert trained.save_weights(tmp_path / "l1.json", "layer1/") == ("layer1/W", "layer1/b")
    assert fresh.load_weights(tmp_path / "l1.json") == ("layer1/W", "layer1/b")
    after = values(fresh)
    assert after["layer1/W"] == values(trained)["layer1/W"]
    assert after["layer2/W"] == before["layer2/W"]


def test_names_and_groups_mix_and_come_in_declaration_order(tmp_path):
    cg = model()
    assert save_weights(cg, tmp_path / "w.json", ["layer2/", "data", "layer1/b"]) == (
        "data",
        "layer1/b",
        "layer2/W",
        "layer2/b",
    )


def test_load_can_pick_a_group_of_the_file(tmp_path):
    trained, fresh = model(0), model(5)
    before = values(fresh)
    trained.save_weights(tmp_path / "all.json")
    assert fresh.load_weights(tmp_path / "all.json", params="layer2/") == ("layer2/W", "layer2/b")
    assert values(fresh)["layer1/W"] == before["layer1/W"]
    assert values(fresh)["layer2/W"] == values(trained)["layer2/W"]
    with pytest.raises(GraphFileError, match="holds no weights for 'layer3/'") as info:
        fresh.load_weights(tmp_path / "all.json", params=["layer1/", "layer3/"])
    assert info.value.nodes == ("layer3/",)


def test_strict_false_skips_names_the_graph_lacks(tmp_path):
    big = model()
    big.add_inputs(extra=np.ones(2))
    big.save_weights(tmp_path / "w.json")
    small = model(9)
    with pytest.raises(GraphFileError, match="'extra' is not a node of the graph"):
        small.load_weights(tmp_path / "w.json")
    assert small.load_weights(tmp_path / "w.json", strict=False) == (
        "layer1/W",
        "layer1/b",
        "layer2/W",
        "layer2/b",
    )


# --------------------------------------------------------------------------------------
# Refusals: nothing written, nothing changed
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ("layer1/w", UnknownNodeError, "did you mean 'layer1/W'"),
        ("layer1", UnknownNodeError, "for its group of 2 input.s. write 'layer1/'"),
        ("layer3/", UnknownNodeError, "the groups are 'layer1/', 'layer2/'"),
        ("loss", UnknownNodeError, "an operation or constant"),
        ([3], GraphError, "not 3"),
        ([""], GraphError, "input names or groups"),
    ],
)
def test_save_refuses_what_it_cannot_select_and_writes_nothing(params, error, match, tmp_path):
    with pytest.raises(error, match=match):
        save_weights(model(), tmp_path / "w.json", params)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_an_npz_path_and_a_graph_without_weights(tmp_path):
    with pytest.raises(GraphFileError, match="where their arrays would go"):
        save_weights(model(), tmp_path / "w.npz")
    cg = ComputationalGraph()
    cg.add_input("data", 1.0, trainable=False)
    with pytest.raises(GraphError, match="no trainable input"):
        save_weights(cg, tmp_path / "w.json")
    assert list(tmp_path.iterdir()) == []


def edited(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (
            lambda d: d["weights"].append({"name": "nope", "value": 1.0}),
            ["weights record 4 ('nope')", "'nope' is not a node"],
        ),
        (
            lambda d: d["weights"].append({"name": "loss", "value": 1.0}),
            ["'loss' is an operation or constant"],
        ),
        (
            lambda d: d["weights"][2].update(value=1.0),
            [
                "weights record 2 ('layer2/W')",
                "the file holds a scalar of float64",
                "input 'layer2/W' holds shape (2, 5) of float64",
            ],
        ),
        (
            lambda d: d["weights"][3]["value"].update(dtype="float32"),
            ["'layer2/b'", "shape (2,) of float32", "same shape and dtype"],
        ),
        (
            lambda d: d["weights"][1]["value"].update(shape=[1, 5]),
            ["'layer1/b'", "shape (1, 5) of float64"],
        ),
        (
            lambda d: d["weights"].append(d["weights"][0]),
            ["weights record 4 ('layer1/W')", "has a record already"],
        ),
        (lambda d: d["weights"][0].update(grad=0), ["unknown field 'grad'"]),
        (lambda d: d["weights"][0].pop("value"), ["the field 'value' is missing"]),
        (lambda d: d["weights"][0].update(name=7), ['"name" must be a non-empty string, not 7']),
        (lambda d: d.update(version=2), ["has version 2", "reads version 1"]),
        (lambda d: d.update(format="cgraph"), ["is a graph file, not a weights file"]),
        (lambda d: d.update(format="safetensors"), ["not a cgraph weights file"]),
        (lambda d: d.update(nodes=[]), ["unknown field 'nodes'"]),
        (lambda d: d.update(weights={}), ['"weights" must be a list']),
    ],
)
def test_load_refuses_a_bad_record_before_any_input_changes(change, fragments, tmp_path):
    path = tmp_path / "w.json"
    model(0).save_weights(path)
    edited(path, change)
    target = model(4)
    before = values(target)
    with pytest.raises(GraphFileError) as info:
        target.load_weights(path)
    message = str(info.value)
    assert f"weights file '{path}'" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert values(target) == before


def test_errors_name_the_node(tmp_path):
    path = tmp_path / "w.json"
    model(0).save_weights(path)
    edited(path, lambda d: d["weights"][3]["value"].update(dtype="float32"))
    with pytest.raises(GraphFileError) as info:
        model(1).load_weights(path)
    assert info.value.nodes == ("layer2/b",)


def test_a_graph_file_and_a_weights_file_are_told_apart(tmp_path):
    cg = model()
    cg.save(tmp_path / "graph.json")
    cg.save_weights(tmp_path / "weights.json")
    with pytest.raises(GraphFileError, match="is a graph file, not a weights file"):
        cg.load_weights(tmp_path / "graph.json")
    with pytest.raises(GraphFileError, match=r"is a weights file .*load_weights\(cg, path\)"):
        ComputationalGraph.load(tmp_path / "weights.json")


def test_a_missing_npz_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "w.json"
    model(0).save_weights(path, array_threshold=4)
    for npz in tmp_path.glob("*.npz"):
        npz.unlink()
    target = model(2)
    before = values(target)
    with pytest.raises(GraphFileError, match=r"keep the \.npz beside"):
        target.load_weights(path)
    assert values(target) == before


def test_load_weights_checks_strict():
    with pytest.raises(GraphError, match="strict must be True or False"):
        load_weights(model(), "w.json", strict="no")


# --------------------------------------------------------------------------------------
# Atomic saves: every fault at every step leaves the old file, or the new one whole
# --------------------------------------------------------------------------------------


def test_every_fault_at_every_step_leaves_old_weights_or_new(tmp_path, monkeypatch):
    old, new, path = model(0), model(1), tmp_path / "w.json"
    old.save_weights(path, array_threshold=4)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    clean = Faults()
    clean.run(monkeypatch, lambda: new.save_weights(path, array_threshold=4))
    new_json = path.read_bytes()
    assert len(clean.calls) > 10
    for at in range(len(clean.calls)):
        for error, after in FAULTS:
            for child in tmp_path.iterdir():
                child.unlink()
            for name, content in files.items():
                (tmp_path / name).write_bytes(content)
            fault = f"{clean.calls[at]} (call {at}), {type(error).__name__}, after={after}"
            try:
                Faults(at, error, after).run(
                    monkeypatch, lambda: new.save_weights(path, array_threshold=4)
                )
                raised = None
            except (OSError, KeyboardInterrupt) as err:
                raised = err
            names = set(os.listdir(tmp_path))
            assert not [n for n in names if n.endswith(".tmp")], fault
            target = model(9)
            target.load_weights(path)
            if path.read_bytes() == new_json:
                assert not isinstance(raised, OSError), fault
                assert values(target) == values(new), fault
            else:
                assert raised is not None, fault
                assert {n: (tmp_path / n).read_bytes() for n in names} == files, fault
                assert values(target) == values(old), fault


# --------------------------------------------------------------------------------------
# Hostile files: a GraphFileError in bounded memory and time, and the graph unchanged
# --------------------------------------------------------------------------------------


def refused(path: Path, *fragments: str) -> GraphFileError:
    target = model(3)
    before = values(target)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(GraphFileError) as info:
            load_weights(target, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < SECONDS
    assert peak < PEAK_BYTES, f"the load allocated {peak:,} bytes"
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert values(target) == before
    return info.value


def weights_document(*records: Any, **top: Any) -> str:
    return json.dumps({"format": "cgraph-weights", "version": 1, **top, "weights": list(records)})


B2 = {"name": "layer2/b", "value": {"dtype": "float64", "shape": [2], "data": [1.0, 2.0]}}
HOSTILE = {
    "not JSON": ('{"format": ', "not valid JSON"),
    "a JSON list": ("[]", "holds a JSON list"),
    "a repeated key": ('{"format": "cgraph-weights", "format": "x"}', "appears twice"),
    "NaN literal": (weights_document(B2).replace("1.0", "NaN"), "not valid JSON"),
    "1e400": (weights_document(B2).replace("1.0", "1e400"), "out of the range of a float"),
    "400-digit integer": (
        weights_document({"name": "layer2/b", "value": 0}).replace(
            '"value": 0', '"value": ' + "9" * 400
        ),
        "out of the range of a float",
    ),
    "nested 100000 deep": (
        '{"format": "cgraph-weights", "version": 1, "weights": '
        + "[" * 100000
        + "]" * 100000
        + "}",
        "nested too deeply",
    ),
    "complex dtype": (
        weights_document(
            {"name": "layer2/b", "value": {"dtype": "complex128", "shape": [2], "data": [1, 2]}}
        ),
        "dtype 'complex128' is not allowed",
    ),
    "object dtype": (
        weights_document(
            {"name": "layer2/b", "value": {"dtype": "object", "shape": [2], "data": [1, 2]}}
        ),
        "dtype 'object' is not allowed",
    ),
    "shape against data": (
        weights_document(
            {"name": "layer2/b", "value": {"dtype": "float64", "shape": [10**12], "data": [1.0]}}
        ),
        "needs 1000000000000 element(s)",
    ),
    "a million-character name": (
        weights_document({"name": "n" * 10**6, "value": 1.0}),
        "is not a node",
    ),
    "npz up a directory": (
        weights_document(B2, npz={"file": "../w.npz", "sha256": "0" * 64}),
        "without a directory",
    ),
    "npz digest not hex": (
        weights_document(B2, npz={"file": "w.npz", "sha256": "z" * 64}),
        "64 lowercase hex digits",
    ),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_weights_files(case, tmp_path):
    text, *fragments = case
    (tmp_path / "w.json").write_text(text)
    refused(tmp_path / "w.json", *fragments)


def test_a_fifo_a_device_and_a_huge_file_are_refused_unread(tmp_path, monkeypatch):
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.json")
        refused(tmp_path / "fifo.json", "a FIFO")
    if Path("/dev/zero").exists():
        (tmp_path / "zero.json").symlink_to("/dev/zero")
        refused(tmp_path / "zero.json", "a character device")
    (tmp_path / "w.json").write_text(weights_document(B2))
    monkeypatch.setattr(cgraph.io, "MAX_JSON_BYTES", 20)
    refused(tmp_path / "w.json", "more than the 20 allowed", "cannot read weights file")


def test_a_forged_npz_is_refused_before_its_array_is_allocated(tmp_path):
    archive = zip_bytes(member("a0.npy", npy("<f8", (10**12,), np.arange(2.0).tobytes())))
    (tmp_path / "w.forged.npz").write_bytes(archive)
    digest = hashlib.sha256(archive).hexdigest()
    (tmp_path / "w.json").write_text(
        weights_document(
            {"name": "layer2/b", "value": {"dtype": "float64", "shape": [10**12], "npz": "a0"}},
            npz={"file": "w.forged.npz", "sha256": digest},
        )
    )
    refused(tmp_path / "w.json", "declares 8,000,000,000,000 bytes of data but holds 16")

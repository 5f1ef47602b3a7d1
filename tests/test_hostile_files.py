"""Hostile graph files: each is refused with a GraphFileError, in bounded memory and time.

A graph file and its npz may come from anyone. Loading one must never reach a raw
exception (OverflowError, RecursionError, MemoryError...), block (a FIFO), read without
end (/dev/zero) or allocate what a header merely declares. The files here are small and
crafted by hand (zip members and npy headers written byte by byte, sparse files, FIFOs),
so that the suite itself allocates nothing large; each load is measured with tracemalloc
and a clock, and a SIGALRM deadline turns a hang into a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cgraph.io
from cgraph import ComputationalGraph, GraphFileError, Operation

PEAK_BYTES = 32 << 20  # what a refused load may allocate at most
SECONDS = 5.0


class Blocked(BaseException):
    """Raised by the deadline: not an OSError, so no handler in cgraph can swallow it."""


@pytest.fixture(autouse=True)
def deadline():
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise Blocked("the load blocked or ran past its deadline")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def refused(path: Path, *fragments: str) -> GraphFileError:
    """Load ``path``: a GraphFileError with ``fragments``, within PEAK_BYTES and SECONDS."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(GraphFileError) as info:
            ComputationalGraph.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < SECONDS
    assert peak < PEAK_BYTES, f"the load allocated {peak:,} bytes"
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info.value


def document(*records: Any, **top: Any) -> str:
    return json.dumps({"format": "cgraph", "version": 1, **top, "nodes": list(records)})


def input_record(value: Any, name: str = "x") -> dict:
    return {"name": name, "kind": "input", "trainable": True, "value": value}


X = input_record(1.0)


def op_record(params: Any, op: str = "sum") -> dict:
    return {"name": "y", "kind": "operation", "op": op, "inputs": ["x"], "params": params}


def nested(depth: int, leaf: Any = 0, tag: str | None = None) -> str:
    """JSON text of ``leaf`` inside ``depth`` lists (or tagged objects), without recursion."""
    opening, closing = (f'{{"{tag}": [', "]}") if tag else ("[", "]")
    return opening * depth + json.dumps(leaf) + closing * depth


# --------------------------------------------------------------------------------------
# The JSON file's content
# --------------------------------------------------------------------------------------

BIG = "9" * 400
JSON_CASES = {
    "400-digit integer value": (
        document(X).replace('"value": 1.0', f'"value": {BIG}'),
        "out of the range of a float",
    ),
    "400-digit integer in a float array": (
        document(input_record({"dtype": "float64", "shape": [1], "data": [0]})).replace(
            '"data": [0]', f'"data": [{BIG}]'
        ),
        "out of the range of a float",
    ),
    "1e400, which json reads as inf": (
        document(X).replace('"value": 1.0', '"value": 1e400'),
        "out of the range of a float",
    ),
    "5000-digit integer": (
        document(X).replace('"value": 1.0', f'"value": {"9" * 5000}'),
        "not valid JSON",
    ),
    "params nested 500 lists deep": (
        document(X, op_record({"axis": 0})).replace('{"axis": 0}', f'{{"axis": {nested(500)}}}'),
        "parameter 'axis'",
        "more than 100 levels deep",
    ),
    "params nested 300 tuples deep": (
        document(X, op_record({"axis": 0})).replace(
            '{"axis": 0}', f'{{"axis": {nested(300, tag="tuple")}}}'
        ),
        "more than 100 levels deep",
    ),
    "params nested 900 deep, under a dict": (
        document(X, op_record({"axis": 0})).replace(
            '{"axis": 0}', f'{{"axis": {{"dict": {{"a": {nested(900)}}}}}}}'
        ),
        "more than 100 levels deep",
    ),
    "trainable nested 900 deep": (
        document(input_record(1.0)).replace('"trainable": true', '"trainable": ' + nested(900)),
        '"trainable" must be true or false, not [[[[',
    ),
    "format nested 900 deep": (
        document().replace('"format": "cgraph"', '"format": ' + nested(900)),
        "not a cgraph graph file",
    ),
    "a field name of a million characters": (document({**X, "z" * 10**6: 1}), "unknown field 'zzz"),
    "float16 element out of its range": (
        document(input_record({"dtype": "float16", "shape": [1], "data": [1e300]})),
        "out of the range of float16",
    ),
    "NaN bits of the wrong width": (
        document(
            input_record({"dtype": "float32", "shape": [1], "data": ["nan:0x7ff8000000000001"]})
        ),
        "not a NaN of 32 bits",
    ),
    "NaN bits of a finite number": (
        document(input_record("nan:0x3ff0000000000000")),
        "is not a NaN's bits",
    ),
    "NaN bits in uppercase": (
        document(input_record("nan:0x7FF8000000000001")),
        "not a NaN of 64 bits",
    ),
    "NaN bits in an int array": (
        document(
            input_record({"dtype": "int64", "shape": [1], "data": ["nan:0x7ff8000000000001"]})
        ),
        "must be an integer",
    ),
    "shape of 100 dimensions": (
        document(input_record({"dtype": "float64", "shape": [1] * 100, "data": [1.0]})),
        "node record 0",
    ),
    "shape of 10**400 by 0": (
        document(input_record({"dtype": "float64", "shape": [0], "data": []})).replace(
            '"shape": [0]', f'"shape": [{BIG}, 0]'
        ),
        "node record 0",
    ),
    "npz digest not hex": (
        document(
            input_record({"dtype": "float64", "shape": [1], "npz": "a0"}),
            npz={"file": "g.npz", "sha256": "x" * 64},
        ),
        "64 lowercase hex digits",
    ),
    "npz digest a list": (
        document(X, npz={"file": "g.npz", "sha256": [1]}),
        "64 lowercase hex digits",
    ),
    "npz file up a directory": (
        document(X, npz={"file": "../g.npz", "sha256": "0" * 64}),
        "without a directory",
    ),
    "npz file absolute": (
        document(X, npz={"file": "/dev/zero", "sha256": "0" * 64}),
        "without a directory",
    ),
    "npz file not .npz": (
        document(X, npz={"file": "graph.json", "sha256": "0" * 64}),
        "without a directory",
    ),
    "npz file a number": (document(X, npz={"file": 3, "sha256": "0" * 64}), "without a directory"),
    "npz entry with an extra field": (
        document(X, npz={"file": "g.npz", "sha256": "0" * 64, "size": 3}),
        "unknown field",
    ),
    "npz key not a string": (
        document(
            input_record({"dtype": "float64", "shape": [1], "npz": ["a0"]}),
            npz={"file": "g.npz", "sha256": "0" * 64},
        ),
        '"npz" must be a string',
    ),
}


@pytest.mark.parametrize("case", JSON_CASES.values(), ids=JSON_CASES.keys())
def test_hostile_json_content(case, tmp_path):
    text, *fragments = case
    (tmp_path / "graph.json").write_text(text)
    refused(tmp_path / "graph.json", *fragments)


# --------------------------------------------------------------------------------------
# The JSON file itself
# --------------------------------------------------------------------------------------


def test_graph_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "graph.json")
    refused(tmp_path / "graph.json", "a FIFO", "not a regular file")


def test_graph_file_that_links_to_dev_zero_is_refused_unread(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    (tmp_path / "graph.json").symlink_to("/dev/zero")
    refused(tmp_path / "graph.json", "a character device", "not a regular file")


def test_graph_file_that_is_a_directory(tmp_path):
    (tmp_path / "graph.json").mkdir()
    refused(tmp_path / "graph.json", "a directory")


def test_huge_graph_file_is_refused_by_its_size_before_it_is_read(tmp_path):
    with (tmp_path / "graph.json").open("wb") as file:
        file.truncate(cgraph.io.MAX_JSON_BYTES + 1)  # sparse: takes no disk, reads as zeros
    refused(tmp_path / "graph.json", f"{cgraph.io.MAX_JSON_BYTES + 1:,} bytes", "MAX_JSON_BYTES")


def test_the_json_limit_is_the_one_set(tmp_path, monkeypatch):
    (tmp_path / "graph.json").write_text(document(X))
    monkeypatch.setattr(cgraph.io, "MAX_JSON_BYTES", 20)
    refused(tmp_path / "graph.json", "more than the 20 allowed")
    monkeypatch.undo()
    assert ComputationalGraph.load(tmp_path / "graph.json").inputs["x"].output == 1.0


# --------------------------------------------------------------------------------------
# Saving what loading would refuse
# --------------------------------------------------------------------------------------


class Holding(Operation):
    """y = x, with a parameter of any structure (a test op)."""

    name = "test_hostile_holding"

    def __init__(self, held: Any = None) -> None:
        self.held = held

    def params(self) -> dict[str, Any]:
        return {"held": self.held}

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (upstream,)


def deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def looped() -> list:
    value: list = [1]
    value.append(value)
    return value


@pytest.mark.parametrize(
    "held",
    [deep_list(5000), deep_list(101), looped(), {"a": (deep_list(200),)}],
    ids=["5000 deep", "101 deep", "contains itself", "deep in a dict"],
)
def test_saving_params_nested_too_deep_is_refused_and_writes_nothing(held, tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("y", Holding(held), ("x",))
    with pytest.raises(GraphFileError, match=r"parameter 'held'.*more than 100 levels deep"):
        cg.save(tmp_path / "graph.json")
    assert list(tmp_path.iterdir()) == []


def test_params_nested_100_deep_round_trip(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("y", Holding([deep_list(98), (1, {"k": slice(1, None)})]), ("x",))
    cg.save(tmp_path / "graph.json")
    assert ComputationalGraph.load(tmp_path / "graph.json").operations["y"].op.params() == {
        "held": [deep_list(98), (1, {"k": slice(1, None)})]
    }


# --------------------------------------------------------------------------------------
# The npz: zip members and npy headers crafted by hand
# --------------------------------------------------------------------------------------


def npy(
    descr: str, shape: Any, data: bytes = b"", fortran: bool = False, version: bytes = b"\x01\x00"
) -> bytes:
    """An npy file: its magic, a header declaring ``descr`` and ``shape``, then ``data``."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(header)) + header + data


def member(
    name: str,
    data: bytes,
    *,
    method: int = 0,
    size: int | None = None,
    crc: int | None = None,
    flags: int = 0,
) -> tuple:
    """A zip member: stored ``data``, declaring ``size`` bytes once extracted."""
    return (
        name,
        data,
        method,
        len(data) if size is None else size,
        zlib.crc32(data) if crc is None else crc,
        flags,
    )


def zip_bytes(*members: tuple) -> bytes:
    """A zip archive written byte by byte, so that its headers may lie."""
    body, directory = bytearray(), bytearray()
    for name, data, method, size, crc, flags in members:
        offset, raw = len(body), name.encode()
        body += (
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                20,
                flags,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(raw),
                0,
            )
            + raw
            + data
        )
        directory += (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                flags,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
        )
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0
    )
    return bytes(body + directory + end)


def forge(directory: Path, archive: bytes, *records: dict) -> Path:
    """A graph file whose npz is ``archive``, with its true digest: only the content lies."""
    (directory / "graph.forged.npz").write_bytes(archive)
    digest = hashlib.sha256(archive).hexdigest()
    records = records or (input_record({"dtype": "float64", "shape": [4], "npz": "a0"}),)
    path = directory / "graph.json"
    path.write_text(document(*records, npz={"file": "graph.forged.npz", "sha256": digest}))
    return path


FOUR = np.arange(4.0).tobytes()


def deflate_bomb() -> tuple[bytes, int]:
    """A deflate stream of an npy of 2 GiB of zeros, about 2 MB long, and its size."""
    header = npy("<f8", (1 << 28,))
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = head.compress(header) + head.flush(zlib.Z_FULL_FLUSH)
    chunk = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = chunk.compress(bytes(1 << 24)) + chunk.flush(zlib.Z_FULL_FLUSH)  # 16 MiB
    return stream + zeros * 128 + b"\x03\x00", len(header) + (1 << 31)


def test_deflate_bomb_is_refused_without_inflating_it(tmp_path, monkeypatch):
    stream, size = deflate_bomb()
    assert len(stream) < 2_500_000
    assert size > 2 * 10**9
    path = forge(
        tmp_path,
        zip_bytes(member("a0.npy", stream, method=8, size=size, crc=0)),
        input_record({"dtype": "float64", "shape": [1 << 28], "npz": "a0"}),
    )
    monkeypatch.setattr(zlib, "decompressobj", lambda *a: pytest.fail("inflated"))
    refused(path, "graph.forged.npz", "'a0.npy' is compressed")


NPZ_CASES = {
    "npy header declaring shape (10**12,)": (
        [member("a0.npy", npy("<f8", (10**12,), FOUR))],
        [10**12],
        "declares 8,000,000,000,000 bytes of data but holds 32",
    ),
    "npy header declaring more than the member holds": (
        [member("a0.npy", npy("<f8", (4,), FOUR[:16]))],
        [4],
        "declares 32 bytes of data but holds 16",
    ),
    "npy header declaring less than the member holds": (
        [member("a0.npy", npy("<f8", (2,), FOUR))],
        [2],
        "declares 16 bytes of data but holds 32",
    ),
    "zip header declaring 2 GB for a small stored member": (
        [member("a0.npy", npy("<f8", (4,), FOUR), size=1 << 31)],
        [4],
        "declares 2,147,483,648 bytes but stores",
    ),
    "compressed member": (
        [
            member(
                "a0.npy",
                zlib.compress(npy("<f8", (4,), FOUR))[2:-4],
                method=8,
                size=len(npy("<f8", (4,), FOUR)),
                crc=zlib.crc32(npy("<f8", (4,), FOUR)),
            )
        ],
        [4],
        "is compressed",
    ),
    "encrypted member": ([member("a0.npy", npy("<f8", (4,), FOUR), flags=1)], [4], "is encrypted"),
    "bad CRC": ([member("a0.npy", npy("<f8", (4,), FOUR), crc=1)], [4], "not a readable npy"),
    "object dtype": ([member("a0.npy", npy("|O", (4,), FOUR))], [4], "unpickling"),
    "complex dtype": (
        [member("a0.npy", npy("<c16", (2,), FOUR))],
        [4],
        "declares dtype complex128",
        "cannot hold",
    ),
    "structured dtype": ([member("a0.npy", npy([("a", "<f8")], (4,), FOUR))], [4], "cannot hold"),
    "string dtype of a huge itemsize": (
        [member("a0.npy", npy("<U99999999", (4,), FOUR))],
        [4],
        "cannot hold",
    ),
    "negative dimension": ([member("a0.npy", npy("<f8", (-4,), FOUR))], [4], "cannot hold"),
    "a bool as a dimension": ([member("a0.npy", npy("<f8", (True,), FOUR))], [1], "cannot hold"),
    "shape other than the record's": (
        [member("a0.npy", npy("<f8", (2, 2), FOUR))],
        [4],
        "shape (2, 2), but the file says float64 and [4]",
    ),
    "dtype other than the record's": (
        [member("a0.npy", npy("<i8", (4,), FOUR))],
        [4],
        "dtype int64",
    ),
    "not an npy": ([member("a0.npy", b"PK" + FOUR)], [4], "not a readable npy"),
    "npy version 3": (
        [member("a0.npy", npy("<f8", (4,), FOUR, version=b"\x03\x00"))],
        [4],
        "not a readable npy",
    ),
    "npy header that is not a dict": (
        [member("a0.npy", b"\x93NUMPY\x01\x00\x08\x00" + b"[1, 2]\n " + FOUR)],
        [4],
        "not a readable npy",
    ),
    "npy header of code": (
        [member("a0.npy", b"\x93NUMPY\x01\x00\x10\x00" + b"__import__('os')" + FOUR)],
        [4],
        "not a readable npy",
    ),
    "missing member": ([member("b0.npy", npy("<f8", (4,), FOUR))], [4], "'a0' is not in"),
    "extra member": (
        [member("a0.npy", npy("<f8", (4,), FOUR)), member("b0.npy", npy("<f8", (4,), FOUR))],
        [4],
        "no record uses: 'b0'",
    ),
    "duplicate member": (
        [member("a0.npy", npy("<f8", (4,), FOUR)), member("a0.npy", npy("<f8", (4,), FOUR[::-1]))],
        [4],
        "'a0.npy' appears twice",
    ),
    "member up a directory": (
        [member("../a0.npy", npy("<f8", (4,), FOUR))],
        [4],
        "is not named '<key>.npy'",
    ),
    "member in a folder": (
        [member("d/a0.npy", npy("<f8", (4,), FOUR))],
        [4],
        "is not named '<key>.npy'",
    ),
    "member not an npy": ([member("a0.pkl", b"\x80\x04N.")], [4], "is not named"),
}


@pytest.mark.parametrize("case", NPZ_CASES.values(), ids=NPZ_CASES.keys())
def test_hostile_npz(case, tmp_path):
    members, shape, *fragments = case
    path = forge(
        tmp_path,
        zip_bytes(*members),
        input_record({"dtype": "float64", "shape": shape, "npz": "a0"}),
    )
    refused(path, "graph.forged.npz", *fragments)


def test_truncated_npz(tmp_path):
    archive = zip_bytes(member("a0.npy", npy("<f8", (4,), FOUR)))
    refused(forge(tmp_path, archive[: len(archive) // 2]), "not an npz archive")


def test_npz_that_is_empty(tmp_path):
    refused(forge(tmp_path, b""), "not an npz archive")


@pytest.mark.parametrize("kind", ["/dev/zero", "FIFO", "directory", "sparse, over the limit"])
@pytest.mark.parametrize("name", ["graph.forged.npz", "graph.npz"], ids=["named", "older save"])
def test_npz_that_is_not_a_regular_file_is_refused_before_it_is_opened(kind, name, tmp_path):
    side = tmp_path / name
    if kind == "/dev/zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        side.symlink_to("/dev/zero")
    elif kind == "FIFO":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(side)
    elif kind == "directory":
        side.mkdir()
    else:
        with side.open("wb") as file:
            file.truncate(cgraph.io.MAX_NPZ_BYTES + 1)
    entry = {"sha256": "0" * 64} | ({"file": name} if name != "graph.npz" else {})
    (tmp_path / "graph.json").write_text(
        document(input_record({"dtype": "float64", "shape": [4], "npz": "a0"}), npz=entry)
    )
    refused(
        tmp_path / "graph.json",
        name,
        "cannot be read",
        {
            "/dev/zero": "a character device",
            "FIFO": "a FIFO",
            "directory": "a directory",
            "sparse, over the limit": "MAX_NPZ_BYTES",
        }[kind],
    )


# --------------------------------------------------------------------------------------
# What is valid, however unusual, still loads
# --------------------------------------------------------------------------------------


def test_fortran_order_and_big_endian_members_load_exactly(tmp_path):
    values = np.arange(6.0).reshape(2, 3)
    archive = zip_bytes(
        member("a0.npy", npy("<f8", (2, 3), values.T.tobytes(), fortran=True)),
        member("a1.npy", npy(">f8", (2, 3), values.astype(">f8").tobytes())),
    )
    path = forge(
        tmp_path,
        archive,
        input_record({"dtype": "float64", "shape": [2, 3], "npz": "a0"}, "f"),
        input_record({"dtype": "float64", "shape": [2, 3], "npz": "a1"}, "b"),
    )
    loaded = ComputationalGraph.load(path)
    for name in ("f", "b"):
        output = loaded.inputs[name].output
        assert output.dtype == np.float64
        assert output.dtype.isnative
        assert output.flags.c_contiguous
        assert output.flags.writeable
        assert output.tobytes() == values.tobytes(), name


def test_two_records_of_one_member_get_arrays_of_their_own(tmp_path):
    archive = zip_bytes(member("a0.npy", npy("<f8", (4,), FOUR)))
    record = {"dtype": "float64", "shape": [4], "npz": "a0"}
    loaded = ComputationalGraph.load(
        forge(tmp_path, archive, input_record(record, "p"), input_record(record, "q"))
    )
    loaded.inputs["p"].output[0] = 99.0  # an in-place update, as an optimiser makes
    assert loaded.inputs["q"].output.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_the_npz_written_by_save_is_what_the_reader_accepts(tmp_path):
    """The reader's rules (stored members, npy 1.0) hold for what save writes."""
    cg = ComputationalGraph()
    cg.add_inputs(w=np.arange(2000.0).reshape(40, 50), b=np.ones(1500, dtype=np.float32))
    cg.save(tmp_path / "graph.json")
    (npz,) = tmp_path.glob("*.npz")
    with zipfile.ZipFile(npz) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    loaded = ComputationalGraph.load(tmp_path / "graph.json")
    assert loaded.inputs["w"].output.tobytes() == cg.inputs["w"].output.tobytes()

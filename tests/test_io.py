"""Graph files (cgraph.io): save and load round trips, and every file that load refuses.

A round trip must give the same structure (names in declaration order, kinds, ops,
parameters, inputs, trainable flags), the same values bit for bit (dtype, shape,
NaN, infinities and the sign of zero included) and the same forward values and
gradients. Each refused file must raise the right error naming the file, the
record and the node, and no graph.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import build_classic_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import DOMAINS, MASK_OPS, TENSOR_CASES, op_cases

import cgraph
import cgraph.io
from cgraph import (
    OPERATIONS,
    ArityError,
    ComputationalGraph,
    CycleError,
    DuplicateNodeError,
    GraphError,
    GraphFileError,
    InvalidOperationError,
    Operation,
    UnknownNodeError,
)
from cgraph.engine.nodes import Constant, Input

# --------------------------------------------------------------------------------------
# Helpers: exact comparison of two graphs
# --------------------------------------------------------------------------------------


def assert_identical(a: Any, b: Any, what: str = "value") -> None:
    """Same type, dtype, shape and bits (so NaN equals NaN and -0.0 differs from 0.0)."""
    assert type(a) is type(b), f"{what}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes(), f"{what}: {a!r} != {b!r}"
    else:
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{what}: {a.dtype}{a.shape}"
        assert a.tobytes() == b.tobytes(), f"{what}: {a!r} != {b!r}"


def same_param(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            type(a) is type(b)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same_param(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(same_param(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def assert_same_graph(original: ComputationalGraph, loaded: ComputationalGraph) -> None:
    assert list(loaded.nodes) == list(original.nodes)  # declaration order
    assert set(loaded.graph.edges) == set(original.graph.edges)
    for name, node in original.nodes.items():
        copy = loaded.nodes[name]
        assert type(copy) is type(node), name
        assert copy.index == node.index
        if isinstance(node, Input):
            assert copy.trainable == node.trainable, name
        if isinstance(node, (Input, Constant)):
            assert_identical(node.output, copy.output, name)
        else:
            assert type(copy.op) is type(node.op), name
            assert copy.input_names == node.input_names, name
            assert same_param(node.op.params(), copy.op.params()), (
                f"{name}: {node.op.params()} != {copy.op.params()}"
            )
    assert list(loaded.inputs) == list(original.inputs)
    assert list(loaded.constants) == list(original.constants)
    assert list(loaded.operations) == list(original.operations)


def round_trip(cg: ComputationalGraph, directory: Path, **options: Any) -> ComputationalGraph:
    path = directory / "graph.json"
    cg.save(path, **options)
    loaded = ComputationalGraph.load(path)
    assert_same_graph(cg, loaded)
    return loaded


def assert_same_results(
    original: ComputationalGraph, loaded: ComputationalGraph, root: str
) -> None:
    assert_identical(original.forward(root), loaded.forward(root), f"forward({root!r})")
    expected, got = original.backward(root), loaded.backward(root)
    assert expected.keys() == got.keys()
    for name in expected:
        assert_identical(expected[name], got[name], f"gradient of {name}")


def npz_of(path: Path) -> Path | None:
    """The npz the graph file ``path`` names (beside it), or None if it names none."""
    entry = json.loads(path.read_text()).get("npz")
    return None if entry is None else path.parent / entry["file"]


def write(path: Path, document: Any) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def input_record(name: str, value: Any = 1.0, trainable: bool = True) -> dict:
    return {"name": name, "kind": "input", "trainable": trainable, "value": value}


def op_record(name: str, op: str, inputs: list, params: dict | None = None) -> dict:
    return {"name": name, "kind": "operation", "op": op, "inputs": inputs, "params": params or {}}


def document(*records: dict, **top: Any) -> dict:
    return {"format": "cgraph", "version": 1, "nodes": list(records), **top}


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


def test_classic_graph_round_trips_with_the_same_numbers(tmp_path):
    cg = build_classic_graph()
    loaded = round_trip(cg, tmp_path)
    assert loaded.forward("f") == 0.41345423252018193
    assert loaded.backward("f") == {"x": 0.5348320870757595, "y": 0.342460382923052}
    assert_same_results(cg, loaded, "f")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.json"]  # no large arrays, no npz


def test_file_is_strict_json_with_one_record_per_line_in_declaration_order(tmp_path):
    cg = build_classic_graph()
    cg.save(tmp_path / "graph.json")
    text = (tmp_path / "graph.json").read_text()
    saved = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the file"))
    assert saved["format"] == "cgraph"
    assert saved["version"] == 1
    assert [r["name"] for r in saved["nodes"]] == list(cg.nodes)
    assert saved["nodes"][0] == {"name": "x", "kind": "input", "trainable": True, "value": 2.0}
    assert saved["nodes"][-1] == {
        "name": "f",
        "kind": "operation",
        "op": "div",
        "inputs": ["num", "denom"],
        "params": {},
    }
    assert len(text.splitlines()) == len(cg.nodes) + 2


def test_path_may_be_a_string_and_a_graph_after_training_saves_its_current_values(tmp_path):
    cg = build_classic_graph()
    cg.forward("f")
    cg.inputs["x"].output -= 0.1 * cg.backward("f")["x"]
    cg.save(str(tmp_path / "trained.json"))
    loaded = ComputationalGraph.load(str(tmp_path / "trained.json"))
    assert loaded.inputs["x"].output == cg.inputs["x"].output
    assert_same_results(cg, loaded, "f")


def test_saving_changes_nothing_in_the_graph(tmp_path):
    cg = build_classic_graph()
    value, gradients = cg.forward("f"), cg.backward("f")
    cg.save(tmp_path / "graph.json")
    assert cg.get_value("f") == value
    assert cg.get_gradient("x") == gradients["x"]
    loaded = ComputationalGraph.load(tmp_path / "graph.json")
    assert all(node.output is None for node in loaded.operations.values())  # nothing evaluated


def test_load_into_a_subclass_gives_the_subclass(tmp_path):
    class MyGraph(ComputationalGraph):
        pass

    build_classic_graph().save(tmp_path / "graph.json")
    assert type(MyGraph.load(tmp_path / "graph.json")) is MyGraph


def test_empty_graph_round_trips(tmp_path):
    loaded = round_trip(ComputationalGraph(), tmp_path)
    assert len(loaded) == 0


def test_repeated_inputs_and_constants_round_trip(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=3.0)
    cg.add_constant("c", np.array([1, 2, 3]))
    cg.add_computation_node("xx", "mul", ("x", "x"))
    cg.add_computation_node("y", "mul", ("xx", "c"))
    loaded = round_trip(cg, tmp_path)
    assert loaded.operations["xx"].input_names == ("x", "x")
    assert_same_results(cg, loaded, "y")


def _ships_with_cgraph(cls: type[Operation]) -> bool:
    return (
        cls.__module__.startswith("cgraph.")
        and getattr(sys.modules[cls.__module__], cls.__qualname__, None) is cls
    )


BUILT_IN_OPS = sorted(
    {cls for cls in OPERATIONS.values() if _ships_with_cgraph(cls)}, key=lambda cls: cls.name
)
OP_CASES = [
    pytest.param(case, id=case.id)
    for cls in BUILT_IN_OPS
    if cls in DOMAINS or cls in TENSOR_CASES
    for case in op_cases(cls)
]


@pytest.mark.parametrize("op_class", MASK_OPS, ids=lambda cls: cls.name)
def test_a_comparison_and_the_where_it_feeds_round_trip(op_class, tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(a=np.array([1.0, -2.0, 3.0]), b=np.array([1.0, 0.5, -3.0]))
    if op_class is cgraph.ops.LogicalAnd:
        cg.add_computation_node("pa", "greater", ("a", "b"))
        cg.add_computation_node("pb", "less", ("a", "b"))
        cg.add_computation_node("mask", op_class, ("pa", "pb"))
    else:
        cg.add_computation_node("mask", op_class, ("a", "b"))
    cg.add_computation_node("chosen", "where", ("mask", "a", "b"))
    cg.add_computation_node("y", "sum", ("chosen",))
    assert_same_results(cg, round_trip(cg, tmp_path), "y")


# The comparisons make masks, not values to differentiate: their round trip is the test above.
@pytest.mark.parametrize(
    "op_class", [cls for cls in BUILT_IN_OPS if cls not in MASK_OPS], ids=lambda cls: cls.name
)
def test_every_registered_op_has_round_trip_cases(op_class):
    assert op_class in {case.values[0].op_class for case in OP_CASES}, (
        f"registered op {op_class.name!r} has no case in DOMAINS or TENSOR_CASES "
        "(tests/strategies.py), so its save/load round trip is not tested"
    )


@pytest.mark.parametrize("case", OP_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_every_op_case_round_trips_with_identical_values_and_gradients(case, dtype, data):
    if case.op_class.name in ("lgamma", "digamma", "polygamma"):
        pytest.importorskip("scipy", reason=f"{case.op_class.name} needs scipy.special")
    cg = case.graph(case.draw(data, dtype)[1])
    with tempfile.TemporaryDirectory() as tmp:
        loaded = round_trip(cg, Path(tmp))
    assert type(loaded.operations["y"].op) is case.op_class
    assert same_param(loaded.operations["y"].op.params(), case.op().params())
    with np.errstate(all="ignore"):
        assert_same_results(cg, loaded, "y")


ARRAYS = {
    "float64": np.array([[0.1, -2.5, 1e-300], [5e-324, 1.7976931348623157e308, -0.0]]),
    "float32": np.array([0.1, 1e-45, -3.4028235e38], dtype=np.float32),
    "float16": np.array([0.1, 65504.0, 6e-8], dtype=np.float16),
    "int64": np.array([-(2**63), 2**63 - 1, 0]),
    "int32": np.arange(6, dtype=np.int32).reshape(3, 2),
    "uint64": np.array([2**64 - 1], dtype=np.uint64),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "bool": np.array([[True, False], [False, True]]),
    "0-d float64": np.array(2.5),
    "0-d float32": np.array(-1.25, dtype=np.float32),
    "0-d int64": np.array(7),
    "empty": np.zeros((0,)),
    "empty 2-d int": np.zeros((3, 0), dtype=np.int64),
    "non-finite": np.array([np.nan, np.inf, -np.inf, -0.0, 1.0]),
    "non-finite float32": np.array([np.nan, -np.inf], dtype=np.float32),
    "large float64": np.random.default_rng(0).normal(size=(40, 50)),
    "large int32": np.arange(3000, dtype=np.int32),
    "large bool": np.random.default_rng(1).random(1500) > 0.5,
    "large non-finite": np.where(
        np.arange(2000) % 7 == 0, np.nan, np.random.default_rng(2).normal(size=2000)
    ),
}


@pytest.mark.parametrize("array", ARRAYS.values(), ids=ARRAYS.keys())
def test_arrays_round_trip_exactly_as_inputs_and_constants(array, tmp_path):
    cg = ComputationalGraph()
    cg.add_input("data", array, trainable=False)
    cg.add_constant("c", array)
    if array.dtype.kind == "f":
        cg.add_input("w", array)  # trainable: keeps its float dtype
    loaded = round_trip(cg, tmp_path)
    assert_identical(array, loaded.inputs["data"].output)
    npz = npz_of(tmp_path / "graph.json")
    assert (npz is not None) == (array.size > cgraph.io.ARRAY_THRESHOLD)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["graph.json"] + ([npz.name] if npz else [])
    )


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        -0.0,
        0.1 + 0.2,
        5e-324,
        1.7976931348623157e308,
        np.float64(1.5),
    ],
)
def test_scalar_floats_round_trip_bit_for_bit(value, tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=value)
    cg.add_constant("c", value)
    cg.add_computation_node("y", "mul", ("x", "c"))
    loaded = round_trip(cg, tmp_path)
    assert_identical(float(value), loaded.inputs["x"].output)
    with np.errstate(all="ignore"):
        assert_same_results(cg, loaded, "y")


# NaN bit patterns: quiet with a payload, -nan (the NaN x86 arithmetic makes), signalling,
# all ones, and the canonical quiet NaN (written "nan").
NAN_BITS = {
    np.float64: [
        0x7FF8000000000001,
        0xFFF8000000000000,
        0x7FF0000000000001,
        0xFFFFFFFFFFFFFFFF,
        0x7FF8000000000000,
        0x7FFC0000DEADBEEF,
    ],
    np.float32: [0x7FC00001, 0xFFC00000, 0x7F800001, 0xFFFFFFFF, 0x7FC00000, 0x7FA5A5A5],
    np.float16: [0x7E01, 0xFE00, 0x7C01, 0xFFFF, 0x7E00],
}
UINT = {np.float64: np.uint64, np.float32: np.uint32, np.float16: np.uint16}


def nans(dtype: type) -> np.ndarray:
    return np.array(NAN_BITS[dtype], dtype=UINT[dtype]).view(dtype)


def bits(value: Any) -> bytes:
    return np.asarray(value).tobytes()


@pytest.mark.parametrize("pattern", NAN_BITS[np.float64], ids=hex)
def test_float64_scalar_nans_round_trip_bit_for_bit(pattern, tmp_path):
    value = float(np.array([pattern], dtype=np.uint64).view(np.float64)[0])
    cg = ComputationalGraph()
    cg.add_inputs(x=value)
    cg.add_constant("c", value)
    cg.add_computation_node("y", Scaled(value), ("x",))
    loaded = round_trip(cg, tmp_path)
    for got in (
        loaded.inputs["x"].output,
        loaded.constants["c"].output,
        loaded.operations["y"].op.params()["factor"],
    ):
        assert type(got) is float
        assert np.array(got).view(np.uint64) == pattern, hex(int(np.array(got).view(np.uint64)))


@pytest.mark.parametrize("pattern", NAN_BITS[np.float32], ids=hex)
def test_float32_scalar_nans_round_trip_bit_for_bit(pattern, tmp_path):
    value = np.array(pattern, dtype=np.uint32).view(np.float32)  # 0-d: a float32 "scalar"
    cg = ComputationalGraph()
    cg.add_inputs(x=value)
    loaded = round_trip(cg, tmp_path)
    got = loaded.inputs["x"].output
    assert got.dtype == np.float32
    assert got.shape == ()
    assert int(got.view(np.uint32)) == pattern


@pytest.mark.parametrize("size", [6, 1500], ids=["in the JSON", "in the npz"])
@pytest.mark.parametrize("dtype", NAN_BITS, ids=lambda dtype: dtype.__name__)
def test_nan_arrays_round_trip_bit_for_bit(dtype, size, tmp_path):
    array = np.resize(
        np.concatenate([nans(dtype), np.array([1.5, -0.0, np.inf], dtype)]), size
    ).reshape(-1, 3)
    cg = ComputationalGraph()
    cg.add_inputs(w=array)
    cg.add_constant("c", array)
    loaded = round_trip(cg, tmp_path)
    for got in (loaded.inputs["w"].output, loaded.constants["c"].output):
        assert got.dtype == array.dtype
        assert got.view(UINT[dtype]).tolist() == array.view(UINT[dtype]).tolist()


def test_nans_are_written_nan_when_canonical_and_with_their_bits_otherwise(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=math.nan, y=-math.nan, w=nans(np.float32)[:2])
    cg.save(tmp_path / "graph.json")
    values = [
        record["value"] for record in json.loads((tmp_path / "graph.json").read_text())["nodes"]
    ]
    assert values[0] == "nan"
    assert values[1] == "nan:0xfff8000000000000"
    assert values[2]["data"] == ["nan:0x7fc00001", "nan:0xffc00000"]


@pytest.mark.parametrize(
    ("dtype", "text"),
    [
        (np.float64, "nan:0x7ff8000000000001"),
        (np.float32, "nan:0x7fc00001"),
        (np.float16, "nan:0x7e01"),
        (np.float64, "nan"),
        (np.float32, "-inf"),
    ],
)
def test_encode_float_gives_a_nan_its_own_width(dtype, text):
    from cgraph.io.values import encode_float

    value = nans(dtype)[0] if text.startswith("nan:") else dtype(text)
    assert encode_float(value) == text


def test_large_arrays_go_to_the_npz_and_the_threshold_can_be_chosen(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(small=np.arange(3.0), large=np.arange(1001.0))
    cg.add_computation_node("s", "concat", ("small", "large"))
    cg.add_computation_node("t", "sum", ("s",))
    loaded = round_trip(cg, tmp_path)
    records = json.loads((tmp_path / "graph.json").read_text())["nodes"]
    assert "data" in records[0]["value"]
    assert records[1]["value"]["npz"] == "a0"
    assert_same_results(cg, loaded, "t")
    round_trip(cg, tmp_path, array_threshold=2)
    records = json.loads((tmp_path / "graph.json").read_text())["nodes"]
    assert records[0]["value"]["npz"] == "a0"
    assert records[1]["value"]["npz"] == "a1"
    with np.load(npz_of(tmp_path / "graph.json"), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["a0", "a1"]
    assert len(list(tmp_path.glob("*.npz"))) == 1  # the first save's npz is removed


INDICES = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, None, 2),
    "reversed slice": slice(None, None, -1),
    "list": [0, 0, 2],
    "int array 2-d": np.array([[0, 1], [2, 2]]),
    "bool array": np.array([True, False, True]),
    "tuple of slice and list": (slice(None), [2, 0, 2]),
    "ellipsis": (1, Ellipsis),
    "None": (None, slice(0, 2)),
    "everything": (Ellipsis, None, np.array([0, 2], dtype=np.int32)),
    "uint8 array": np.array([2, 0], dtype=np.uint8),
}


@pytest.mark.parametrize("index", INDICES.values(), ids=INDICES.keys())
def test_index_parameters_round_trip(index, tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=np.arange(12.0).reshape(3, 4) if isinstance(index, tuple) else np.arange(3.0))
    cg.add_computation_node("y", "index", ("x",), index=index)
    cg.add_computation_node("s", "sum", ("y",))
    loaded = round_trip(cg, tmp_path)
    assert same_param(loaded.operations["y"].op.index, index)
    assert_same_results(cg, loaded, "s")


class Scaled(Operation):
    """y = factor x with parameters of every kind the file encodes (a test op)."""

    name = "test_io_scaled"

    def __init__(self, factor: float, options: dict | None = None, spare: Any = None) -> None:
        self.factor, self.options, self.spare = factor, options, spare

    def params(self) -> dict[str, Any]:
        return {"factor": self.factor, "options": self.options, "spare": self.spare}

    def forward(self, x):
        return self.factor * x

    def backward(self, upstream):
        return (self.factor * upstream,)


def test_custom_op_registered_in_this_process_round_trips_with_any_parameters(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0)
    options = {
        "name": "a",
        "weights": np.array([1.5, np.nan]),
        "pair": (1, None),
        "nested": [{"deep": (slice(2), Ellipsis)}],
        "inf": -math.inf,
        "flag": True,
    }
    cg.add_computation_node("y", Scaled(3.0, options, spare=-1), ("x",))
    loaded = round_trip(cg, tmp_path)
    assert loaded.operations["y"].op.options["nested"][0]["deep"] == (slice(2), Ellipsis)
    assert_same_results(cg, loaded, "y")


def test_params_named_like_arguments_of_add_computation_node_round_trip(tmp_path):
    class Named(Operation):
        """y = x (a test op whose parameters are called name and inputs)."""

        name = "test_io_named"

        def __init__(self, name: str = "", inputs: int = 0) -> None:
            self.label, self.count = name, inputs

        def params(self):
            return {"name": self.label, "inputs": self.count}

        def forward(self, x):
            return x

        def backward(self, upstream):
            return (upstream,)

    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("y", Named(name="label", inputs=3), ("x",))
    loaded = round_trip(cg, tmp_path)
    assert loaded.operations["y"].op.params() == {"name": "label", "inputs": 3}


def test_deep_chain_round_trips_without_recursion(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x0=0.5)
    for i in range(1, 5001):
        cg.add_computation_node(f"x{i}", "sin", (f"x{i - 1}",))
    loaded = round_trip(cg, tmp_path)
    assert_same_results(cg, loaded, "x5000")


# --------------------------------------------------------------------------------------
# Graphs that cannot be saved: refused before any file is written
# --------------------------------------------------------------------------------------


class Unnamed(Operation):
    """An op registered under no name (a test op)."""

    def forward(self, x):
        return x

    def backward(self, upstream):
        return (upstream,)


class Forgetful(Operation):
    """An op whose params() forgets its required argument (a test op)."""

    name = "test_io_forgetful"

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def forward(self, x):
        return self.scale * x

    def backward(self, upstream):
        return (self.scale * upstream,)


@pytest.mark.parametrize(
    ("op", "match"),
    [
        (Unnamed(), r"node 'y'.*Unnamed is not registered under a name"),
        (Forgetful(2.0), r"node 'y'.*Forgetful\(\*\*\{\}\) fails.*params\(\)"),
        (Scaled(1.0, options={"bad": 1j}), r"node 'y', parameter 'options'.*complex"),
        (Scaled(1.0, options={1: 2}), r"parameter 'options'.*cannot be written"),
        (Scaled(1.0, spare=object()), r"parameter 'spare'.*object"),
    ],
    ids=["unregistered", "params do not rebuild", "complex", "int keys", "object"],
)
def test_unsavable_op_is_refused_and_no_file_is_written(op, match, tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("y", op, ("x",))
    with pytest.raises(GraphFileError, match=match):
        cg.save(tmp_path / "graph.json")
    assert list(tmp_path.iterdir()) == []


def test_unsavable_value_is_refused_and_the_previous_file_is_kept(tmp_path):
    cg = build_classic_graph()
    cg.save(tmp_path / "graph.json")
    before = (tmp_path / "graph.json").read_bytes()
    cg.inputs["x"].output = np.array(["a", "b"])  # assigned directly, bypassing the checks
    with pytest.raises(GraphFileError, match=r"node 'x'.*dtype <U1"):
        cg.save(tmp_path / "graph.json")
    assert (tmp_path / "graph.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.json"]


def test_saving_over_the_npz_path_is_refused(tmp_path):
    with pytest.raises(GraphFileError, match="arrays would go"):
        build_classic_graph().save(tmp_path / "graph.npz")


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_save_leaves_the_old_files_and_no_partial_file(failing, tmp_path, monkeypatch):
    old = ComputationalGraph()
    old.add_inputs(big=np.zeros(2000))
    old.save(tmp_path / "graph.json")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cg = ComputationalGraph()
    cg.add_inputs(big=np.ones(2000))
    calls = []

    def fail(*args):
        calls.append(args)
        raise OSError("disk full")

    monkeypatch.setattr(cgraph.io.os, failing, fail)
    with pytest.raises(OSError, match="disk full"):
        cg.save(tmp_path / "graph.json")
    assert calls
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary left
    assert_identical(
        ComputationalGraph.load(tmp_path / "graph.json").inputs["big"].output, np.zeros(2000)
    )


# --------------------------------------------------------------------------------------
# Refused files
# --------------------------------------------------------------------------------------


def refuse(path: Path, error: type[GraphError], *fragments: str) -> GraphError:
    """Load ``path``, expecting ``error`` with ``fragments`` (and the path) in its message."""
    operations = dict(OPERATIONS)
    with pytest.raises(error) as info:
        ComputationalGraph.load(path)
    message = str(info.value)
    for fragment in (str(path), *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert message.count(str(path)) == 1, message  # where it happened, said once
    assert operations == OPERATIONS  # loading registers nothing
    return info.value


def test_missing_file(tmp_path):
    refuse(tmp_path / "absent.json", GraphFileError, "cannot read", "No such file")


def test_truncated_file(tmp_path):
    cg = build_classic_graph()
    cg.save(tmp_path / "graph.json")
    text = (tmp_path / "graph.json").read_text()
    write(tmp_path / "graph.json", text[: len(text) // 2])
    refuse(tmp_path / "graph.json", GraphFileError, "not valid JSON", "line ", "column ")


@pytest.mark.parametrize(
    "content",
    [
        "format: cgraph",
        "",
        "\x89PNG\r\n\x1a\n",
        '{"format": "cgraph", "version": NaN}',
        '{"format": "cgraph", "format": "cgraph", "version": 1, "nodes": []}',
    ],
    ids=["text", "empty", "binary", "NaN literal", "repeated key"],
)
def test_not_json(content, tmp_path):
    refuse(write(tmp_path / "graph.json", content), GraphFileError, "not valid JSON")


def test_deeply_nested_json(tmp_path):
    refuse(write(tmp_path / "g.json", "[" * 100_000 + "]" * 100_000), GraphFileError, "nested")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ([1, 2], ("holds a JSON list", "object")),
        ({"version": 1, "nodes": []}, ('"format" is None', "cgraph")),
        ({"format": "onnx", "version": 1, "nodes": []}, ("not a cgraph graph file", "'onnx'")),
        ({"format": "cgraph", "nodes": []}, ('no "version"', "versions 1 and 2")),
        ({"format": "cgraph", "version": 3, "nodes": []}, ("version 3", "reads versions 1 and 2")),
        ({"format": "cgraph", "version": "1", "nodes": []}, ("version '1'", "versions 1 and 2")),
        ({"format": "cgraph", "version": 1}, ("'nodes' is missing",)),
        ({"format": "cgraph", "version": 1, "nodes": {}}, ('"nodes" must be a list',)),
        (
            {"format": "cgraph", "version": 1, "nodes": [], "author": "me"},
            ("unknown field 'author'",),
        ),
    ],
    ids=[
        "list",
        "no format",
        "wrong format",
        "no version",
        "version 3",
        "version string",
        "no nodes",
        "nodes object",
        "extra top-level field",
    ],
)
def test_wrong_document(content, fragments, tmp_path):
    refuse(write(tmp_path / "graph.json", content), GraphFileError, *fragments)


X = input_record("x")
RECORD_CASES = {
    "record not an object": ([X, "y"], "node record 1", "must be an object"),
    "unknown kind": ([X, {"name": "y", "kind": "variable"}], "node record 1 ('y')", "'variable'"),
    "missing field": (
        [{"name": "x", "kind": "input", "value": 1.0}],
        "node record 0 ('x')",
        "'trainable' is missing",
    ),
    "extra field": ([{**X, "grad": 0.0}], "node record 0 ('x')", "unknown field 'grad'"),
    "extra value field": (
        [input_record("x", {"dtype": "int64", "shape": [1], "data": [1], "order": "C"})],
        "unknown field 'order'",
    ),
    "name not a string": ([input_record(3)], "node record 0", '"name" must be a non-empty'),
    "empty name": ([input_record("")], "node record 0", '"name" must be a non-empty'),
    "trainable not a bool": (
        [input_record("x", trainable="yes")],
        "node record 0 ('x')",
        '"trainable" must be true or false, not "yes"',
    ),
    "value a word": (
        [input_record("x", "one")],
        "node record 0 ('x')",
        "must be a number, 'nan', 'inf' or '-inf'",
    ),
    "value a bool": ([input_record("x", True)], "node record 0 ('x')", "must be a number"),
    "op not a string": (
        [X, op_record("y", 3, ["x"])],
        "node record 1 ('y')",
        '"op" must be a string',
    ),
    "inputs a string": (
        [X, op_record("y", "neg", "x")],
        "node record 1 ('y')",
        '"inputs" must be a list',
    ),
    "input not a string": ([X, op_record("y", "neg", [0])], "every input must be a string"),
    "params a list": (
        [X, {**op_record("y", "sum", ["x"]), "params": [0]}],
        '"params" must be an object',
    ),
    "bad slice": (
        [X, op_record("y", "index", ["x"], {"index": {"slice": [1, 2]}})],
        "node record 1 ('y'), parameter 'index'",
        "is not a parameter value",
    ),
    "unknown tag": (
        [X, op_record("y", "sum", ["x"], {"axis": {"set": [0]}})],
        "parameter 'axis'",
        "tagged",
    ),
    "shape and data disagree": (
        [input_record("x", {"dtype": "float64", "shape": [2, 2], "data": [1.0, 2.0, 3.0]})],
        "node record 0 ('x')",
        "needs 4 element(s)",
        "has 3",
    ),
    "negative shape": (
        [input_record("x", {"dtype": "float64", "shape": [-1], "data": []})],
        "shape must be a list of non-negative ints",
    ),
    "object dtype": (
        [input_record("x", {"dtype": "object", "shape": [1], "data": [1]})],
        "dtype 'object' is not allowed",
    ),
    "complex dtype": (
        [input_record("x", {"dtype": "complex128", "shape": [1], "data": [1]})],
        "dtype 'complex128' is not allowed",
    ),
    "string dtype": (
        [input_record("x", {"dtype": "<U3", "shape": [1], "data": ["abc"]})],
        "dtype '<U3' is not allowed",
    ),
    "floats in an int array": (
        [input_record("x", {"dtype": "int64", "shape": [1], "data": [1.5]}, False)],
        "must be an integer",
    ),
    "ints in a bool array": (
        [input_record("x", {"dtype": "bool", "shape": [1], "data": [1]}, False)],
        "must be true or false",
    ),
    "int out of range": (
        [input_record("x", {"dtype": "uint8", "shape": [1], "data": [300]}, False)],
        "node record 0 ('x')",
        "300",
    ),
    "words in a float array": (
        [input_record("x", {"dtype": "float32", "shape": [1], "data": ["NaN"]})],
        "'nan', 'inf'",
    ),
    "npz without a digest": (
        [input_record("x", {"dtype": "float64", "shape": [1], "npz": "a0"})],
        'no "npz" entry',
    ),
    "forward reference": (
        [op_record("y", "neg", ["x"]), X],
        "node record 0 ('y')",
        "'x' is declared later, in node record 1",
        "declaration order",
    ),
}


@pytest.mark.parametrize("case", RECORD_CASES.values(), ids=RECORD_CASES.keys())
def test_malformed_record(case, tmp_path):
    records, *fragments = case
    refuse(write(tmp_path / "graph.json", document(*records)), GraphFileError, *fragments)


DECLARATION_CASES = {
    "unknown op": (
        [X, op_record("y", "sigmod", ["x"])],
        InvalidOperationError,
        "node record 1 ('y')",
        "no operation is registered as 'sigmod'",
        "did you mean 'sigmoid'",
        "defined (imported) in this process",
    ),
    "unknown parameter": (
        [X, op_record("y", "sum", ["x"], {"axes": 0})],
        InvalidOperationError,
        "node record 1 ('y')",
        "axes",
    ),
    "refused parameter value": (
        [X, X | {"name": "t"}, op_record("y", "mse", ["x", "t"], {"reduction": "avg"})],
        InvalidOperationError,
        "node record 2 ('y')",
        "'avg'",
    ),
    "wrong arity": (
        [X, op_record("y", "add", ["x"])],
        ArityError,
        "node record 1 ('y')",
        "takes 2 input(s) but was given 1",
    ),
    "duplicate name": (
        [X, op_record("x", "neg", ["x"])],
        DuplicateNodeError,
        "node record 1 ('x')",
        "already exists",
    ),
    "duplicate input": ([X, X], DuplicateNodeError, "node record 1 ('x')"),
    "unknown input": (
        [X, op_record("y", "neg", ["z"])],
        UnknownNodeError,
        "node record 1 ('y')",
        "input 'z' is not a node",
    ),
    "self-reference": (
        [X, op_record("y", "add", ["x", "y"])],
        CycleError,
        "node record 1 ('y')",
        "lists itself",
    ),
    "cycle": (
        [X, op_record("a", "add", ["x", "b"]), op_record("b", "neg", ["a"])],
        CycleError,
        "node record 1 ('a')",
        "a -> b -> a",
    ),
}


@pytest.mark.parametrize("case", DECLARATION_CASES.values(), ids=DECLARATION_CASES.keys())
def test_records_that_declaring_refuses(case, tmp_path):
    records, error, *fragments = case
    assert refuse(write(tmp_path / "graph.json", document(*records)), error, *fragments).nodes


def test_op_registered_only_in_another_process_is_refused(tmp_path):
    (tmp_path / "elsewhere.py").write_text(
        textwrap.dedent('''
        from cgraph import Operation

        class OnlyElsewhere(Operation):
            """y = 2 x, registered only in the process that imports this module."""

            name = "test_io_only_elsewhere"

            def forward(self, x):
                return 2 * x

            def backward(self, upstream):
                return (2 * upstream,)
    ''')
    )
    script = (
        "import elsewhere\nfrom cgraph import ComputationalGraph\n"
        "cg = ComputationalGraph()\ncg.add_inputs(x=1.0)\n"
        "cg.add_computation_node('y', 'test_io_only_elsewhere', ('x',))\n"
        "cg.save('graph.json')\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=60)
    assert "test_io_only_elsewhere" not in OPERATIONS
    refuse(
        tmp_path / "graph.json",
        InvalidOperationError,
        "node record 1 ('y')",
        "'test_io_only_elsewhere'",
        "defined (imported) in this process",
    )
    assert "elsewhere" not in sys.modules  # nothing named in the file was imported


# --------------------------------------------------------------------------------------
# The npz beside the file
# --------------------------------------------------------------------------------------


@pytest.fixture
def saved_with_npz(tmp_path) -> Path:
    cg = ComputationalGraph()
    cg.add_inputs(w=np.arange(1500.0))
    cg.add_computation_node("s", "sum", ("w",))
    cg.save(tmp_path / "graph.json")
    return tmp_path / "graph.json"


def _replace_npz(path: Path, **arrays: Any) -> None:
    """Write another npz beside ``path`` and record its digest, as a forger would."""
    with npz_of(path).open("wb") as file:
        np.savez(file, **arrays)
    _replace_npz_digest_only(path)


def test_npz_is_named_after_the_graph_file_and_its_digest(saved_with_npz):
    entry = json.loads(saved_with_npz.read_text())["npz"]
    assert entry["file"] == f"graph.{entry['sha256'][:16]}.npz"
    assert cgraph.io.npz_path(saved_with_npz, entry["sha256"]) == npz_of(saved_with_npz)
    assert hashlib.sha256(npz_of(saved_with_npz).read_bytes()).hexdigest() == entry["sha256"]


def test_a_graph_file_renamed_without_its_npz_still_loads(saved_with_npz):
    saved_with_npz.rename(saved_with_npz.parent / "renamed.json")
    assert ComputationalGraph.load(saved_with_npz.parent / "renamed.json").forward("s") == float(
        np.arange(1500.0).sum()
    )


def test_a_file_of_an_older_save_with_graph_npz_still_loads(saved_with_npz):
    """Before the npz's name was recorded, it was always graph.npz beside graph.json."""
    npz_of(saved_with_npz).rename(saved_with_npz.with_suffix(".npz"))
    content = json.loads(saved_with_npz.read_text())
    del content["npz"]["file"]
    write(saved_with_npz, content)
    assert ComputationalGraph.load(saved_with_npz).forward("s") == float(np.arange(1500.0).sum())
    ComputationalGraph.load(saved_with_npz).save(saved_with_npz)  # saved anew: the new name
    assert sorted(p.name for p in saved_with_npz.parent.iterdir()) == sorted(
        ["graph.json", npz_of(saved_with_npz).name]
    )


def test_missing_npz(saved_with_npz):
    name = npz_of(saved_with_npz).name
    npz_of(saved_with_npz).unlink()
    refuse(saved_with_npz, GraphFileError, "node record 0 ('w')", name, "cannot be read")


def test_npz_of_another_save(saved_with_npz):
    np.savez(npz_of(saved_with_npz), a0=np.zeros(1500))
    refuse(
        saved_with_npz,
        GraphFileError,
        "node record 0 ('w')",
        npz_of(saved_with_npz).name,
        "sha256 digest differs",
    )


def test_npz_that_is_not_an_archive(saved_with_npz):
    with npz_of(saved_with_npz).open("wb") as file:
        np.save(file, np.zeros(3))
    _replace_npz_digest_only(saved_with_npz)
    refuse(saved_with_npz, GraphFileError, "not an npz archive")


def _replace_npz_digest_only(path: Path) -> None:
    content = json.loads(path.read_text())
    content["npz"]["sha256"] = hashlib.sha256(npz_of(path).read_bytes()).hexdigest()
    write(path, content)


def test_npz_holding_an_object_array_is_refused_without_unpickling(saved_with_npz, monkeypatch):
    _replace_npz(saved_with_npz, a0=np.array([{"x": 1}, None], dtype=object))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    refuse(saved_with_npz, GraphFileError, "node record 0 ('w')", "'a0'", "unpickling")


def test_npz_without_the_key(saved_with_npz):
    _replace_npz(saved_with_npz, b0=np.zeros(1500))
    refuse(saved_with_npz, GraphFileError, "node record 0 ('w')", "'a0' is not in")


def test_npz_array_of_another_shape_or_dtype(saved_with_npz):
    _replace_npz(saved_with_npz, a0=np.zeros(1500, dtype=np.float32))
    refuse(saved_with_npz, GraphFileError, "node record 0 ('w')", "float32", "float64")


def test_loading_with_npz_never_unpickles(saved_with_npz, monkeypatch):
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, lambda *a, **k: pytest.fail("pickle used on load"))
    loaded = ComputationalGraph.load(saved_with_npz)
    assert loaded.forward("s") == float(np.arange(1500.0).sum())


def test_io_source_has_no_code_execution():
    source = "".join(path.read_text() for path in Path(cgraph.io.__file__).parent.glob("*.py"))
    for forbidden in (
        "import pickle",
        "pickle.",
        "eval(",
        "exec(",
        "import_module",
        "__import__",
        "allow_pickle=True",
    ):
        assert forbidden not in source, forbidden
    assert "allow_pickle=False" in source


def test_a_failed_load_leaves_no_file_and_no_state(tmp_path):
    write(tmp_path / "graph.json", document(X, op_record("y", "add", ["x"])))
    before = sorted(tmp_path.iterdir())
    modules, operations = set(sys.modules), dict(OPERATIONS)
    with pytest.raises(ArityError):
        ComputationalGraph.load(tmp_path / "graph.json")
    assert sorted(tmp_path.iterdir()) == before
    assert set(sys.modules) == modules
    assert operations == OPERATIONS


def test_os_path_like_is_accepted(tmp_path):
    class Where(os.PathLike):
        def __fspath__(self):
            return str(tmp_path / "graph.json")

    build_classic_graph().save(Where())
    assert ComputationalGraph.load(Where()).forward("f") == 0.41345423252018193


def test_saved_files_get_the_mode_the_umask_gives(tmp_path):
    mask = os.umask(0o022)
    try:
        cg = ComputationalGraph()
        cg.add_inputs(w=np.zeros(2000))
        cg.save(tmp_path / "graph.json")
    finally:
        os.umask(mask)
    for path in (tmp_path / "graph.json", npz_of(tmp_path / "graph.json")):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_same_graph_gives_the_same_bytes(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(w=np.arange(2000.0))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cg.save(tmp_path / "a" / "graph.json")
    cg.save(tmp_path / "b" / "graph.json")
    a, b = tmp_path / "a" / "graph.json", tmp_path / "b" / "graph.json"
    assert npz_of(a).name == npz_of(b).name
    assert npz_of(a).read_bytes() == npz_of(b).read_bytes()
    assert a.read_bytes() == b.read_bytes()


def test_record_errors_name_the_node_in_nodes(tmp_path):
    write(tmp_path / "graph.json", document(input_record("x", "one")))
    assert refuse(tmp_path / "graph.json", GraphFileError, "node record 0 ('x')").nodes == ("x",)

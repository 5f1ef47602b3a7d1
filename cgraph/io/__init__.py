"""Graph files: a graph saved as versioned JSON, with large arrays in an ``.npz`` beside it.

The file is one JSON object, ``{"format": "cgraph", "version": 1, "nodes": [...]}``,
with one record per node in declaration order, one line each:

- ``{"name": "x", "kind": "input", "trainable": true, "value": V}``
- ``{"name": "c", "kind": "constant", "value": V}``
- ``{"name": "s", "kind": "operation", "op": "sum", "inputs": ["x"], "params": {...}}``:
  the op by its registered name, its inputs in argument order (repeats allowed),
  and its ``params()``: JSON's numbers, strings, booleans, null and lists as they
  are, anything else as a one-key tagged object: ``{"tuple": [...]}``, ``{"slice":
  [start, stop, step]}``, ``{"ellipsis": true}``, ``{"float": "nan"}`` (or
  ``"inf"``, ``"-inf"``, ``"nan:0x..."``), ``{"dict": {...}}``, ``{"array": A}``.

A value V is a JSON number for a Python float, or a string for what JSON has no
number for: ``"inf"``, ``"-inf"``, ``"nan"`` (the canonical quiet NaN) or
``"nan:0x7ff8000000000001"`` (any other NaN: its bits in hex, 4, 8 or 16 digits for
float16, float32 or float64, so a NaN's payload and sign survive); an array A is
``{"dtype": "float32", "shape": [2, 3], "data": [...]}``, its elements flat in C
order. An array of more than ``ARRAY_THRESHOLD`` elements is written ``{"dtype",
"shape", "npz": "a0"}`` instead: the key of an array in the ``.npz`` beside the file,
which the document names with its sha256 digest, ``"npz": {"file":
"graph.<16 hex digits>.npz", "sha256": ...}`` (:func:`npz_path`), so a stale or
swapped npz is refused. (Files written before the name was recorded have ``"npz":
{"sha256": ...}`` and their npz is ``graph.npz``; they still load.) Dtypes are real
numbers only: bool, int8-64, uint8-64, float16-64. Floats are written with ``repr``
and NaNs with their bits: every value comes back bit for bit.

Saving is atomic: the npz goes to a new name (its digest's), then the JSON is
renamed into place, the one commit point; only then is the old npz removed. A save
that fails or is interrupted (KeyboardInterrupt included) at any step before that
rename leaves the old graph file and its npz loadable, with the same values, and no
temporary file; one interrupted after it has saved the new graph whole.

A graph holding a loop (:func:`cgraph.loops.add_loop`) is written as version 2,
which adds records of kind ``"loop"`` and, before ``"nodes"``, ``"bodies"``: each
loop's body, a list of node records of its own, listed before the body holding
the loop, so that nesting is read one body after the other
(:mod:`cgraph.io.loops` describes them). A graph without loops is still written as
version 1, which every cgraph reads; this one reads both (:data:`VERSIONS`).

Loading is strict: each field must be present with its type, and an unknown field
is refused, not ignored (a typo must not pass silently; a new format gets a new
version). The nodes are then declared through the graph's own methods, so every
check of declaring applies; any failure raises a GraphError naming the file, the
record and the node, and returns no graph. Nothing is unpickled, evaluated or
imported: ops are looked up by name among those registered in this process, and
the npz is read member by member, never unpickled.

Weights files (:mod:`cgraph.io.weights`: :func:`save_weights`, :func:`load_weights`)
hold only inputs' values by name, ``{"format": "cgraph-weights", "version": 1,
"weights": [{"name": ..., "value": V}, ...]}``, written and read by the same rules.

Loading is bounded, whatever the file: a hostile file gets a GraphFileError, not a
raw exception, a hang or an exhausted memory. Only regular files are read (a
device, FIFO or directory, even behind a symlink, is refused before it is opened),
of at most ``MAX_JSON_BYTES`` and ``MAX_NPZ_BYTES``; parameters nest at most
``MAX_NESTING`` levels (on saving too); a number must fit a float; the npz's
members must be stored uncompressed, each npy header's dtype and shape must be
those the record gives and its data exactly the member's size, all checked before
an array is allocated; an npz member that no record uses is refused. Each loop body
is the body of exactly one loop, so it is declared once and copied once: a body no
loop uses, used twice, or used before it is listed is refused.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import reprlib
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx
import numpy as np

from cgraph.engine import GraphCore
from cgraph.engine.nodes import Input, OperationNode
from cgraph.errors import CycleError, GraphError, GraphFileError, InvalidOperationError
from cgraph.io.commit import commit, previous_npz
from cgraph.io.files import GraphArrays, npz_bytes, read_regular
from cgraph.io.loops import LOOP_FIELDS, body_users, declare_loop, encode_nodes, loop_parents
from cgraph.io.values import (
    DTYPES,
    MAX_NESTING,
    check_dtype_shape,
    check_fields,
    decode_array,
    decode_float,
    decode_param,
    encode_array,
    encode_float,
    encode_param,
    expect,
)
from cgraph.ops.operation import Operation
from cgraph.ops.registry import OPERATIONS
from cgraph.ops.resolve import resolve_operation

__all__ = [
    "save",
    "load",
    "save_weights",
    "load_weights",
    "npz_path",
    "FORMAT",
    "VERSION",
    "VERSIONS",
    "ARRAY_THRESHOLD",
    "DTYPES",
    "MAX_JSON_BYTES",
    "MAX_NPZ_BYTES",
    "MAX_NESTING",
]

#: The graph class a load returns (``ComputationalGraph`` unless a subclass is asked for).
G = TypeVar("G", bound=GraphCore)

FORMAT = "cgraph"
#: The newest version of the format: what a graph holding a loop is written as.
VERSION = 2
#: The versions this cgraph reads: 1 (no loops; still written for a graph without one) and 2.
VERSIONS = (1, 2)
#: Arrays with more elements than this go to the .npz beside the JSON file.
ARRAY_THRESHOLD = 1000
#: The largest graph file (JSON) load reads, in bytes: 256 MiB.
MAX_JSON_BYTES = 1 << 28
#: The largest npz load reads, in bytes: 16 GiB (it is hashed in chunks before it is read).
MAX_NPZ_BYTES = 1 << 34
_FIELDS = {
    "input": ("name", "kind", "trainable", "value"),
    "constant": ("name", "kind", "value"),
    "operation": ("name", "kind", "op", "inputs", "params"),
}


def npz_path(path: str | os.PathLike[str], sha256: str) -> Path:
    """Where :func:`save` puts the large arrays of the graph file ``path``, given their digest.

    Beside the file, named after it and the first 16 hex digits of the npz's sha256
    digest: new content gets a new name, so that writing it never touches the npz of
    the graph being replaced (see :func:`save`). The graph file records the name.

    Examples
    --------
    >>> npz_path("models/graph.json", "0123456789abcdef" * 4).as_posix()
    'models/graph.0123456789abcdef.npz'
    """
    path = Path(path)
    return path.parent / f"{path.stem}.{sha256[:16]}.npz"


def _npz_pattern(path: Path) -> re.Pattern[str]:
    """The names :func:`npz_path` gives for ``path``, whatever the digest."""
    return re.compile(re.escape(path.stem) + r"\.[0-9a-f]{16}\.npz")


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------


def save(
    cg: GraphCore, path: str | os.PathLike[str], *, array_threshold: int = ARRAY_THRESHOLD
) -> None:
    """Write the graph to a JSON file: every node in declaration order, with its values.

    Inputs and constants are saved with their values (dtype and shape, exactly),
    operations by their registered name, ``params()`` and input names. An array
    of more than ``array_threshold`` elements goes to an ``.npz`` beside the file,
    named after it and its sha256 digest (``graph.json`` ->
    ``graph.<16 hex digits>.npz``), which the file records. Floats, NaN payloads
    and ``-nan`` included, come back bit for bit. Cached outputs and gradients
    are not saved: ``forward`` and ``backward`` recompute them. A loop is saved
    with its body (written as version 2, see :mod:`cgraph.io.loops`).

    The save is atomic: the new ``.npz`` gets a new name, then the JSON is
    written to a temporary file and renamed into place, the one commit point. A
    save that raises (an OSError, a KeyboardInterrupt) at any step before it
    leaves the old file and its ``.npz`` loadable with the same values, and no
    temporary file; after it, the old ``.npz`` is removed. The format is
    described in :mod:`cgraph.io`.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file to write, e.g. ``"graph.json"``; it is replaced if it exists.
    array_threshold : int, optional
        Arrays with more elements go to the ``.npz``; 1000 by default.

    Raises
    ------
    GraphFileError
        If an op is not registered under a name, its ``params()`` cannot be written
        (or do not rebuild it, or nest more than 100 levels deep), a value is
        not a real number or numeric array, or a loop has a parameter
        ``add_loop`` does not declare; then no file is written. Errors in a
        loop's body name the loop node and the body's node.
    OSError
        If a file cannot be written.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> import pathlib, tempfile
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0)
    >>> cg.add_computation_node("y", "sum", ("x",), axis=None)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     cg.save(pathlib.Path(tmp) / "graph.json")
    ...     print((pathlib.Path(tmp) / "graph.json").read_text(), end="")
    {"format": "cgraph", "version": 1, "nodes": [
      {"name": "x", "kind": "input", "trainable": true, "value": 2.0},
      {"name": "y", "kind": "operation", "op": "sum", "inputs": ["x"], "params": {"axis": null, "keepdims": false}}
    ]}
    """  # noqa: E501
    path = Path(path)
    if path.suffix == ".npz":
        raise GraphFileError(
            f"cannot save a graph as '{path}': that is where its arrays would "
            "go; give a path such as 'graph.json'"
        )
    arrays: dict[str, np.ndarray] = {}
    rebuilt: set[tuple[type, str]] = set()
    records, bodies = encode_nodes(
        list(cg.nodes.values()),
        f"graph file '{path}'",
        lambda node, where: _record(node, where, arrays, array_threshold, rebuilt),
    )
    # The lowest version that holds the graph: one without loops stays readable by any cgraph.
    head: dict[str, Any] = {"format": FORMAT, "version": VERSION if bodies else 1}
    npz = None
    if arrays:
        blob = npz_bytes(arrays)
        digest = hashlib.sha256(blob).hexdigest()
        npz = (npz_path(path, digest), blob)
        head["npz"] = {"file": npz[0].name, "sha256": digest}
    parts = [json.dumps(head)[:-1]]
    if bodies:
        parts.append(f'"bodies": {_listed([_listed(body, "    ") for body in bodies], "  ")}')
    parts.append(f'"nodes": {_listed(records, "  ")}')
    document = f"{', '.join(parts)}}}\n".encode("ascii")
    stale = previous_npz(path, _npz_pattern(path), path.with_suffix(".npz"))
    commit(path, document, npz, stale)


def _listed(items: list, indent: str) -> str:
    """A JSON list, one item a line: records as JSON, lists already written as text."""
    if not items:
        return "[]"
    lines = (
        indent + (item if isinstance(item, str) else json.dumps(item, allow_nan=False))
        for item in items
    )
    return "[\n" + ",\n".join(lines) + "\n" + indent[:-2] + "]"


def _record(
    node: Any,
    where: str,
    arrays: dict[str, np.ndarray],
    threshold: int,
    rebuilt: set[tuple[type, str]],
) -> dict[str, Any]:
    if not isinstance(node, OperationNode):
        record = {"name": node.name, "kind": "input" if isinstance(node, Input) else "constant"}
        if isinstance(node, Input):
            record["trainable"] = node.trainable
        record["value"] = _encode_value(node.output, where, arrays, threshold)
        return record
    op, cls = node.op, type(node.op)
    params = op.params()
    encoded = {
        key: encode_param(value, f"{where}, parameter {key!r}") for key, value in params.items()
    }
    # The file keeps only the op's name and params(): check that they rebuild it (once
    # per class and parameters), or the file could not be loaded.
    signature = (cls, json.dumps(encoded))
    if signature not in rebuilt:
        try:
            cls(**{key: decode_param(value, where) for key, value in encoded.items()})
        except Exception as err:
            raise GraphFileError(
                f"{where}: {cls.__name__}(**{params!r}) fails ({err}), so the file could not "
                "be loaded; make the op's params() return the arguments of its constructor",
                nodes=[node.name],
            ) from err
        rebuilt.add(signature)
    return {
        "name": node.name,
        "kind": "operation",
        "op": _registered_name(op, where, node.name),
        "inputs": list(node.input_names),
        "params": encoded,
    }


def _registered_name(op: Operation, where: str, node: str) -> str:
    cls = type(op)
    for key in (cls.name, *cls.aliases):
        if not key:
            continue
        found = OPERATIONS.get(key)
        # A class redefined by re-running a notebook cell replaces its name: same qualname.
        if found is not None and (found.__module__, found.__qualname__) == (
            cls.__module__,
            cls.__qualname__,
        ):
            return key
    raise GraphFileError(
        f"{where}: its op {cls.__name__} is not registered under a name, and a file names each "
        "op; give the class a `name` attribute (e.g. name = 'my_op')",
        nodes=[node],
    )


def _encode_value(value: Any, where: str, arrays: dict[str, np.ndarray], threshold: int) -> Any:
    if isinstance(value, (float, int)) and not isinstance(value, (bool, np.bool_)):
        return encode_float(float(value))  # np.float64 is a float too
    array = np.asarray(value)
    if array.size <= threshold:
        return encode_array(array, f"{where}: its value")
    encoded = encode_array(array.ravel()[:0], f"{where}: its value")  # checks the dtype
    key = f"a{len(arrays)}"
    arrays[key] = np.ascontiguousarray(array)
    return {"dtype": encoded["dtype"], "shape": list(array.shape), "npz": key}


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def load(path: str | os.PathLike[str], graph_type: type[G]) -> G:
    """Read a graph written by :func:`save`: the same nodes, values and gradients.

    ``ComputationalGraph.load(path)`` is ``load(path, ComputationalGraph)``.

    The file is checked as strictly as declaring: its format and version, every
    record's fields and types (an unknown field is refused, not ignored), dtypes
    (real numbers only), shapes against data, and the ``.npz`` beside it (present
    and the one saved with the file). The nodes are then declared in the file's
    order through :meth:`add_input`, :meth:`add_constant` and
    :meth:`add_computation_node` (a loop, after its body, through
    :func:`cgraph.loops.add_loop`), so duplicate names, unknown inputs, cycles and
    wrong arities are refused as there. Ops are found by their registered name
    only: a custom op must be defined (imported) in this process before loading.
    Nothing is unpickled, evaluated or imported.

    Any file, however hostile, is refused with a GraphFileError in bounded memory
    and time: only regular files are read (a FIFO or a device, even through a
    symlink, is refused before it is opened), within ``cgraph.io.MAX_JSON_BYTES``
    and ``MAX_NPZ_BYTES``; numbers must fit a float; parameters nest at most 100
    levels; ``.npz`` members must be stored uncompressed, and each npy header's
    dtype, shape and size must agree with the record before an array is allocated.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file written by :func:`save`.
    graph_type : type
        The class of the graph to return: :class:`cgraph.ComputationalGraph`, or a
        subclass of it or of :class:`cgraph.engine.GraphCore`.

    Returns
    -------
    ComputationalGraph
        A new ``graph_type()`` holding the file's nodes; nothing has been evaluated yet.

    Raises
    ------
    GraphFileError
        If the file (or its ``.npz``) cannot be read, is not a regular file, is too
        large, is not valid JSON, is not a cgraph file of a version this cgraph
        reads, or a record or an npz member is malformed.
    InvalidOperationError
        If an op name is not registered in this process, or its parameters are refused.
    DuplicateNodeError, UnknownNodeError, CycleError, ArityError
        If the records declare what declaring refuses.

    Every message names the file, the record's position and the node; when
    loading fails no graph is returned.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> import pathlib, tempfile
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     cg.save(pathlib.Path(tmp) / "graph.json")
    ...     loaded = ComputationalGraph.load(pathlib.Path(tmp) / "graph.json")
    >>> loaded.forward("y"), loaded.backward("y")
    (9.0, {'x': 6.0})
    """
    path = Path(path)
    document, where = _read_json(path), f"graph file '{path}'"
    if not isinstance(document, dict):
        raise GraphFileError(
            f"{where} holds a JSON {type(document).__name__}, not a graph: "
            "a graph file is a JSON object"
        )
    if document.get("format") == "cgraph-weights":
        raise GraphFileError(
            f"{where} is a weights file (inputs' values, no graph): load it "
            "into a graph with cgraph.io.load_weights(cg, path)"
        )
    if document.get("format") != FORMAT:
        raise GraphFileError(
            f'{where} is not a cgraph graph file: its "format" is '
            f"{reprlib.repr(document.get('format'))}, not {FORMAT!r}"
        )
    if "version" not in document:
        raise GraphFileError(
            f'{where} has no "version"; this cgraph reads versions '
            f"{' and '.join(map(str, VERSIONS))}"
        )
    version = document["version"]
    if type(version) is not int or version not in VERSIONS:
        raise GraphFileError(
            f"{where} has version {reprlib.repr(version)}, but this cgraph reads versions "
            f"{' and '.join(map(str, VERSIONS))} only (a newer cgraph may have written it)"
        )
    loops = version >= 2  # version 2 adds loops: "bodies", and records of kind "loop"
    check_fields(
        document,
        ("format", "version", "nodes"),
        where,
        optional=("npz", "bodies") if loops else ("npz",),
    )
    records = expect(document["nodes"], list, '"nodes"', where)
    bodies = expect(document.get("bodies", []), list, '"bodies"', where)
    users = body_users(bodies, records, where) if loops else []
    arrays = GraphArrays(path, document.get("npz"), where, MAX_NPZ_BYTES)
    try:
        built: list[GraphCore] | None = [] if loops else None
        for number, (body, user) in enumerate(zip(bodies, users, strict=True)):
            # Bodies first, innermost first: a loop of body k uses bodies 0 to k - 1 only.
            at = f"{where}, body {number} (the body of {user})"
            built.append(_declare_all(GraphCore(), body, at, arrays, built))  # type: ignore[union-attr]
        cg = _declare_all(graph_type(), records, where, arrays, built)
        arrays.check_all_used(where)
    finally:
        arrays.close()
    return cg


def _declare_all(
    cg: G, records: list, where: str, arrays: GraphArrays, bodies: list[GraphCore] | None
) -> G:
    """Declare the records in ``cg``; ``bodies``: the loops' bodies built so far (None: v1)."""
    # Where each name is declared, to tell a node used before its record (a forward
    # reference, or a cycle) from one that does not exist.
    positions: dict[str, int] = {}
    for index, record in enumerate(records):
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            positions.setdefault(record["name"], index)
    for index, record in enumerate(records):
        name = record.get("name") if isinstance(record, dict) else None
        at = f"{where}, node record {index}" + (f" ({name!r})" if isinstance(name, str) else "")
        try:
            _declare(cg, record, at, arrays, positions, records, index, bodies)
        except GraphFileError as err:
            if not err.nodes and isinstance(name, str):
                err.nodes = (name,)
            raise
        except GraphError as err:  # from declaring: keep its class, add where it happened
            raise _located(err, at) from err
    return cg


def _read_json(path: Path, what: str = "graph file") -> Any:
    raw = read_regular(
        path,
        MAX_JSON_BYTES,
        lambda reason: GraphFileError(f"cannot read {what} '{path}': {reason}"),
    )
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as err:
        raise GraphFileError(
            f"{what} '{path}' is not valid JSON: {err.msg} at line {err.lineno}, column "
            f"{err.colno} (is it truncated, or not a {what}?)"
        ) from err
    except ValueError as err:  # not UTF-8, a repeated key, NaN or Infinity
        raise GraphFileError(f"{what} '{path}' is not valid JSON: {err}") from err
    except RecursionError as err:
        raise GraphFileError(f"{what} '{path}' is nested too deeply to be a {what}") from err


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # the first key seen a second time
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return result


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # json would read 1e400 as inf; save writes "inf"
        raise ValueError(f"the number {text[:40]} is out of the range of a float")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (a non-finite float is written 'nan', 'inf', '-inf')")


def _declare(
    cg: GraphCore,
    record: Any,
    at: str,
    arrays: GraphArrays,
    positions: dict[str, int],
    records: list,
    index: int,
    bodies: list[GraphCore] | None,
) -> None:
    expect(record, dict, "a node record", at)
    kind = record.get("kind")
    kinds = (*_FIELDS, "loop") if bodies is not None else tuple(_FIELDS)
    if not isinstance(kind, str) or kind not in kinds:
        raise GraphFileError(
            f'{at}: "kind" is {reprlib.repr(kind)}; it must be '
            + ", ".join(map(repr, kinds[:-1]))
            + f" or {kinds[-1]!r}"
            + (" (a loop needs a file of version 2)" if kind == "loop" else "")
        )
    check_fields(record, LOOP_FIELDS if kind == "loop" else _FIELDS[kind], at)
    name = record["name"]
    if not isinstance(name, str) or not name:
        raise GraphFileError(f'{at}: "name" must be a non-empty string, not {name!r}')
    if kind == "loop":
        declare_loop(
            cg,
            record,
            at,
            bodies,  # type: ignore[arg-type]
            lambda inputs: _check_order(cg, name, inputs, positions, records, index, at),
        )
        return
    if kind != "operation":
        value = _decode_value(record["value"], at, arrays)
        if kind == "constant":
            cg.add_constant(name, value)
        else:
            cg.add_input(name, value, expect(record["trainable"], bool, '"trainable"', at))
        return
    op = expect(record["op"], str, '"op"', at)
    inputs = expect(record["inputs"], list, '"inputs"', at)
    _check_order(cg, name, inputs, positions, records, index, at)
    params = {
        key: decode_param(value, f"{at}, parameter {key!r}")
        for key, value in expect(record["params"], dict, '"params"', at).items()
    }
    cls = OPERATIONS.get(op)
    if cls is None:
        close = difflib.get_close_matches(op, OPERATIONS, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InvalidOperationError(
            f"no operation is registered as {op!r} in this process{hint}; a custom op "
            "must be defined (imported) in this process before loading (a graph file never "
            "imports code)",
            nodes=[name],
        )
    # Without parameters the name is the fast path; with them, an instance (so a parameter
    # named like an argument of add_computation_node, e.g. "inputs", cannot clash).
    cg.add_computation_node(name, resolve_operation(cls, name, params) if params else op, inputs)


def _check_order(
    cg: GraphCore,
    name: str,
    inputs: list,
    positions: dict[str, int],
    records: list,
    index: int,
    at: str,
) -> None:
    """Each input is a name; one declared further down is refused (see _refuse_forward)."""
    for parent in inputs:
        expect(parent, str, "every input", at)
        if positions.get(parent, -1) > index and parent not in cg.nodes:
            _refuse_forward(name, parent, positions[parent], records, at)


def _parents(record: Any) -> list:
    """The names a record uses as inputs, as written (for finding a cycle)."""
    if not isinstance(record, dict):
        return []
    if record.get("kind") == "loop":
        return loop_parents(record)
    inputs = record.get("inputs")
    return inputs if isinstance(inputs, list) else []


def _refuse_forward(name: str, parent: str, later: int, records: list, at: str) -> None:
    """A node uses one declared further down: a cycle if there is one, else out of order."""
    graph = nx.DiGraph()
    for record in records:
        graph.add_edges_from(
            (p, record.get("name")) for p in _parents(record) if isinstance(p, str)
        )
    try:
        cycle = [edge[0] for edge in nx.find_cycle(graph, name)]  # iterative: no recursion
    except nx.NetworkXNoCycle:
        raise GraphFileError(
            f"{at}: input {parent!r} is declared later, in node record {later}; records must "
            "come in declaration order (each node after its inputs)",
            nodes=[name, parent],
        ) from None
    # A GraphError other than GraphFileError: load() adds where it happened.
    raise CycleError(
        f"the nodes {' -> '.join(cycle + cycle[:1])} form a cycle; a graph "
        "is acyclic, each node declared after its inputs",
        nodes=cycle,
    )


def _located(err: GraphError, at: str) -> GraphError:
    try:
        return type(err)(f"{at}: {err}", nodes=err.nodes)
    except TypeError:  # a subclass with another constructor
        return GraphFileError(f"{at}: {err}", nodes=err.nodes)


def _decode_value(value: Any, where: str, arrays: GraphArrays) -> Any:
    if not isinstance(value, dict):
        return decode_float(value, '"value"', where)
    if "npz" not in value:
        check_fields(value, ("dtype", "shape", "data"), f'{where}, "value"')
        return decode_array(value, where)
    check_fields(value, ("dtype", "shape", "npz"), f'{where}, "value"')
    dtype, shape = check_dtype_shape(value, where)  # before anything of that size is read
    return arrays.get(expect(value["npz"], str, '"npz"', where), dtype, shape, where)


# Last: weights files are written and read with the helpers above.
from cgraph.io.weights import load_weights, save_weights  # noqa: E402

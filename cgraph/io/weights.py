"""Weights files: the values of a graph's inputs, saved and loaded on their own, like a state_dict.

A weights file holds values by input name and nothing else: no data (by default
only trainable inputs are saved), no structure, no op. It is written and read as
graph files are (:mod:`cgraph.io`): versioned JSON, one record per input, large
arrays in an ``.npz`` beside it, floats bit for bit, an atomic save, and a
bounded, strict load that never unpickles::

    {"format": "cgraph-weights", "version": 1, "weights": [
      {"name": "layer1/W", "value": {"dtype": "float64", "shape": [2, 3], "data": [...]}},
      {"name": "layer1/b", "value": 0.5}
    ]}

(with ``"npz": {"file": ..., "sha256": ...}`` after ``"version"`` when an array
is in the npz). A group is selected by a prefix ending in ``/``: ``"layer1/"``
is every trainable input whose name starts with it, the names :func:`cgraph.dense`
gives a layer's weights and biases.

Loading puts the values into the inputs of an existing graph of the same
names, shapes and dtypes, all or nothing: every record is read and checked
before any input changes. Inputs the file does not name keep their values, so a
file holding one group loads into the whole model.
"""

from __future__ import annotations

import hashlib
import json
import os
import reprlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import cgraph.io
from cgraph.engine import GraphCore
from cgraph.errors import GraphError, GraphFileError, UnknownNodeError
from cgraph.io import (
    ARRAY_THRESHOLD,
    _decode_value,
    _encode_value,
    _npz_pattern,
    _read_json,
    npz_path,
)
from cgraph.io.commit import commit, previous_npz
from cgraph.io.files import GraphArrays, npz_bytes
from cgraph.io.values import check_fields, expect
from cgraph.messages import did_you_mean

__all__ = ["save_weights", "load_weights", "weight_names", "WEIGHTS_FORMAT", "VERSION"]

WEIGHTS_FORMAT = "cgraph-weights"
#: The version of weights files (graph files have their own, cgraph.io.VERSION).
VERSION = 1


def weight_names(cg: GraphCore, params: str | Iterable[str] | None = None) -> tuple[str, ...]:
    """The inputs ``params`` selects, in declaration order: names and groups (``"layer1/"``).

    Parameters
    ----------
    cg : GraphCore
        The graph.
    params : str or iterable of str, optional
        Each entry is an input's name (trainable or not), or a prefix ending in
        ``/`` that selects every trainable input whose name starts with it. By
        default every trainable input.

    Returns
    -------
    tuple of str

    Raises
    ------
    UnknownNodeError
        If a name is not an input of the graph, or a group holds no trainable input.
    GraphError
        If nothing is selected, or an entry is not a string.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(**{"layer1/W": 1.0, "layer1/b": 0.0, "layer2/W": 2.0})
    >>> cg.add_input("data", 3.0, trainable=False)
    >>> weight_names(cg, "layer1/"), weight_names(cg, ["layer2/W", "data"])
    (('layer1/W', 'layer1/b'), ('layer2/W', 'data'))
    """
    trainable = [name for name, node in cg.inputs.items() if node.trainable]
    if params is None:
        chosen = set(trainable)
    else:
        chosen = set()
        for entry in (params,) if isinstance(params, str) else params:
            if not isinstance(entry, str) or not entry:
                raise GraphError(
                    f"params must hold input names or groups such as 'layer1/', not {entry!r}"
                )
            chosen.update(_select(cg, entry, trainable))
    if not chosen:
        raise GraphError(
            "there are no weights to save: the graph has no trainable input; "
            "name the inputs in params"
        )
    return tuple(name for name in cg.inputs if name in chosen)


def _select(cg: GraphCore, entry: str, trainable: list[str]) -> list[str]:
    if entry.endswith("/"):
        found = [name for name in trainable if name.startswith(entry)]
        if not found:
            groups = sorted({name.split("/")[0] + "/" for name in trainable if "/" in name})
            hint = f"; the groups are {', '.join(map(repr, groups[:10]))}" if groups else ""
            raise UnknownNodeError(
                f"no trainable input is in the group {entry!r} (no name starts with it){hint}",
                nodes=[entry],
            )
        return found
    if entry in cg.inputs:
        return [entry]
    if entry in cg.nodes:
        raise UnknownNodeError(
            f"{entry!r} is an operation or constant; a weights file holds inputs' values",
            nodes=[entry],
        )
    under = [name for name in trainable if name.startswith(entry + "/")]
    hint = (
        f"; for its group of {len(under)} input(s) write {entry + '/'!r}"
        if under
        else did_you_mean(entry, cg.inputs)
    )
    raise UnknownNodeError(f"{entry!r} is not an input of the graph{hint}", nodes=[entry])


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------


def save_weights(
    cg: GraphCore,
    path: str | os.PathLike[str],
    params: str | Iterable[str] | None = None,
    *,
    array_threshold: int = ARRAY_THRESHOLD,
) -> tuple[str, ...]:
    """Write the values of a graph's inputs to a weights file, like ``torch.save(state_dict)``.

    Only values, by input name: not the graph's structure, and by default only
    its trainable inputs (the weights, not the data). ``params`` picks a group:
    ``"layer1/"`` saves every trainable input whose name starts with it. The
    file is JSON in the graph files' format (:mod:`cgraph.io.weights`), arrays
    of more than ``array_threshold`` elements in an ``.npz`` beside it, and the
    save is atomic as :func:`cgraph.io.save` is: a save that fails or is
    interrupted leaves the old file as it was. :func:`load_weights` reads it
    into a graph with inputs of the same names.

    Parameters
    ----------
    cg : GraphCore
        The graph whose inputs are saved.
    path : str or os.PathLike
        The file to write, e.g. ``"weights.json"``; replaced if it exists.
    params : str or iterable of str, optional
        Input names (trainable or not) and groups: a prefix ending in ``/``
        selects every trainable input under it. By default every trainable input.
    array_threshold : int, optional
        Arrays with more elements go to the ``.npz``; 1000 by default.

    Returns
    -------
    tuple of str
        The names saved, in declaration order.

    Raises
    ------
    UnknownNodeError
        If a name is not an input, or a group holds no trainable input; nothing is written.
    GraphFileError
        If ``path`` ends in ``.npz``, or a value cannot be written (not a real number or
        numeric array); nothing is written.
    OSError
        If the file cannot be written; the old file is left as it was.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(**{"layer1/W": np.array([[1.0, 2.0]]), "layer1/b": 0.5, "out/W": 3.0})
    >>> cg.add_input("data", np.ones(2), trainable=False)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "layer1.json"
    ...     print(save_weights(cg, path, "layer1/"))
    ...     print(path.read_text(), end="")
    ('layer1/W', 'layer1/b')
    {"format": "cgraph-weights", "version": 1, "weights": [
      {"name": "layer1/W", "value": {"dtype": "float64", "shape": [1, 2], "data": [1.0, 2.0]}},
      {"name": "layer1/b", "value": 0.5}
    ]}
    """
    path = Path(path)
    if path.suffix == ".npz":
        raise GraphFileError(
            f"cannot save weights as '{path}': that is where their arrays "
            "would go; give a path such as 'weights.json'"
        )
    names = weight_names(cg, params)
    arrays: dict[str, np.ndarray] = {}
    records = [
        {
            "name": name,
            "value": _encode_value(
                cg.inputs[name].output,
                f"weights file '{path}', input {name!r}",
                arrays,
                array_threshold,
            ),
        }
        for name in names
    ]
    head: dict[str, Any] = {"format": WEIGHTS_FORMAT, "version": VERSION}
    npz = None
    if arrays:
        blob = npz_bytes(arrays)
        digest = hashlib.sha256(blob).hexdigest()
        npz = (npz_path(path, digest), blob)
        head["npz"] = {"file": npz[0].name, "sha256": digest}
    body = ",\n".join("  " + json.dumps(record, allow_nan=False) for record in records)
    document = f'{json.dumps(head)[:-1]}, "weights": [\n{body}\n]}}\n'.encode("ascii")
    commit(path, document, npz, previous_npz(path, _npz_pattern(path), path.with_suffix(".npz")))
    return names


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def load_weights(
    cg: GraphCore,
    path: str | os.PathLike[str],
    params: str | Iterable[str] | None = None,
    *,
    strict: bool = True,
) -> tuple[str, ...]:
    """Set a graph's inputs to the values in a weights file, all or nothing: ``load_state_dict``.

    Each record's value goes into the input of the same name, which must hold a
    value of the same shape and dtype (a float counts as a 0-d float64 array);
    arrays are updated in place, as an optimiser updates them, and a float input
    stays a float. Inputs the file does not name keep their values, so a file
    holding one group (``"layer1/"``) loads into the whole model. Everything is
    read and checked first; if anything is refused, no input changes.

    The file is read as a graph file is (:func:`cgraph.io.load`): strictly (every
    field and type checked, an unknown field refused), within
    ``cgraph.io.MAX_JSON_BYTES`` and ``MAX_NPZ_BYTES``, from regular files only,
    with the ``.npz``'s digest and every npy header checked before an array is
    allocated; nothing is unpickled. Optimiser state is not part of a weights file.

    Parameters
    ----------
    cg : GraphCore
        The graph whose inputs are set.
    path : str or os.PathLike
        A file written by :func:`save_weights`.
    params : str or iterable of str, optional
        Load only these names and groups (a prefix ending in ``/``) of the file;
        each must match a record. By default every record.
    strict : bool, default True
        Refuse a record naming no input of the graph; with False such records are
        skipped (a mismatched shape or dtype is refused either way).

    Returns
    -------
    tuple of str
        The names of the inputs set, in the file's order.

    Raises
    ------
    GraphFileError
        If the file or its ``.npz`` cannot be read, is not a weights file of a version
        this cgraph reads, or is malformed; if a record names no input of the graph
        (with ``strict``) or a value's shape or dtype differs from the input's; if an
        entry of ``params`` matches no record. The message names the file, the record
        and the input; no input has changed.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(**{"layer1/w": 1.0, "layer2/w": 2.0})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "weights.json"
    ...     _ = save_weights(cg, path)
    ...     cg.inputs["layer1/w"].output = cg.inputs["layer2/w"].output = 0.0
    ...     print(load_weights(cg, path, "layer1/"))
    ('layer1/w',)
    >>> cg.inputs["layer1/w"].output, cg.inputs["layer2/w"].output
    (1.0, 0.0)
    """
    if not isinstance(strict, (bool, np.bool_)):
        raise GraphError(f"strict must be True or False, not {strict!r}")
    path = Path(path)
    where = f"weights file '{path}'"
    document = _read_json(path, "weights file")
    records = _records(document, where)
    arrays = GraphArrays(path, document.get("npz"), where, cgraph.io.MAX_NPZ_BYTES)
    try:
        values = [(name, _decode_value(value, at, arrays), at) for name, value, at in records]
        arrays.check_all_used(where)
    finally:
        arrays.close()
    if params is not None:
        values = _chosen(values, params, where)
    updates = []
    for name, value, at in values:
        node = cg.inputs.get(name)
        if node is None:
            if not strict:
                continue
            kind = "an operation or constant" if name in cg.nodes else "not a node"
            # No suggestion for a name no typo makes (difflib would index all of it).
            hint = "" if name in cg.nodes or len(name) > 200 else did_you_mean(name, cg.inputs, "")
            raise GraphFileError(
                f"{at}: {reprlib.repr(name)} is {kind} of the graph, so the "
                f"value has nowhere to go{hint} (strict=False skips such "
                "records)",
                nodes=[name],
            )
        updates.append((node, _checked(node, value, at)))
    # Only now, with every value read and checked, do the inputs change.
    with cg.lock:
        for node, value in updates:
            current = node.output
            if isinstance(current, np.ndarray) and current.flags.writeable:
                current[...] = value  # in place: whatever holds the array sees the weights
            else:
                node.output = value
    return tuple(node.name for node, _ in updates)


def _records(document: Any, where: str) -> list[tuple[str, Any, str]]:
    """The (name, encoded value, where) of each record, after checking the document."""
    if not isinstance(document, dict):
        raise GraphFileError(
            f"{where} holds a JSON {type(document).__name__}, not weights: "
            "a weights file is a JSON object"
        )
    kind = document.get("format")
    if kind == cgraph.io.FORMAT:
        raise GraphFileError(
            f"{where} is a graph file, not a weights file: read it with "
            "ComputationalGraph.load(path), or write weights with "
            "save_weights(cg, path)"
        )
    if kind != WEIGHTS_FORMAT:
        raise GraphFileError(
            f'{where} is not a cgraph weights file: its "format" is '
            f"{reprlib.repr(kind)}, not {WEIGHTS_FORMAT!r}"
        )
    version = document.get("version")
    if type(version) is not int or version != VERSION:
        raise GraphFileError(
            f"{where} has version {reprlib.repr(version)}, but this cgraph "
            f"reads version {VERSION} only (a newer cgraph may have written it)"
        )
    check_fields(document, ("format", "version", "weights"), where, optional=("npz",))
    found, seen = [], set()
    for index, record in enumerate(expect(document["weights"], list, '"weights"', where)):
        at = f"{where}, weights record {index}"
        expect(record, dict, "a weights record", at)
        name = record.get("name")
        if isinstance(name, str) and name:
            at += f" ({reprlib.repr(name)})"
        check_fields(record, ("name", "value"), at)
        if not isinstance(name, str) or not name:
            raise GraphFileError(
                f'{at}: "name" must be a non-empty string, not {reprlib.repr(name)}'
            )
        if name in seen:
            raise GraphFileError(
                f"{at}: {reprlib.repr(name)} has a record already; each input appears once",
                nodes=[name],
            )
        seen.add(name)
        found.append((name, record["value"], at))
    return found


def _chosen(values: list, params: str | Iterable[str], where: str) -> list:
    """The records ``params`` selects, by name or group; an entry matching none is refused."""
    names = [name for name, _, _ in values]
    keep: set[str] = set()
    for entry in (params,) if isinstance(params, str) else params:
        if not isinstance(entry, str) or not entry:
            raise GraphError(f"params must hold names or groups such as 'layer1/', not {entry!r}")
        found = (
            [name for name in names if name.startswith(entry)]
            if entry.endswith("/")
            else [entry]
            if entry in names
            else []
        )
        if not found:
            raise GraphFileError(
                f"{where} holds no weights for {entry!r}{did_you_mean(entry, names, '')}",
                nodes=[entry],
            )
        keep.update(found)
    return [item for item in values if item[0] in keep]


def _checked(node: Any, value: Any, at: str) -> Any:
    """``value``, refused unless of the input's shape and dtype; a float for a float input."""
    current = node.output
    have, want = np.asarray(current), np.asarray(value)
    if have.shape != want.shape or have.dtype != want.dtype:
        raise GraphFileError(
            f"{at}: the file holds {_kind(want)}, but input {node.name!r} holds {_kind(have)}; "
            "weights load only into inputs of the same shape and dtype",
            nodes=[node.name],
        )
    return float(value) if isinstance(current, float) else want


def _kind(array: np.ndarray) -> str:
    return f"{'a scalar' if array.ndim == 0 else f'shape {array.shape}'} of {array.dtype}"

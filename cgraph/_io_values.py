"""The values of graph files: numbers, arrays and op parameters, to JSON and back.

Used by :mod:`cgraph.io`, which describes the format. Floats are written with
Python's ``repr``, so they come back bit for bit; JSON has no NaN or infinity, so
those are the strings ``"nan"``, ``"inf"`` and ``"-inf"``. Decoding checks every
type and refuses with a GraphFileError saying where (``where`` begins each message).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from cgraph.errors import GraphFileError

__all__ = ["DTYPES", "check_fields", "expect", "encode_float", "encode_array", "encode_param",
           "decode_float", "decode_array", "decode_param"]

#: The dtypes a graph file may hold: real numbers, never objects, strings or complex.
DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                    "uint64", "float16", "float32", "float64"})
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_TYPE_NAMES = {str: "a string", bool: "true or false", list: "a list", dict: "an object"}


def check_fields(record: dict, required: tuple[str, ...], where: str,
                 optional: tuple[str, ...] = ()) -> None:
    """Refuse a missing field, and an unknown one (a typo must not pass silently)."""
    for field in required:
        if field not in record:
            raise GraphFileError(f"{where}: the field {field!r} is missing")
    for field in record:
        if field not in required and field not in optional:
            raise GraphFileError(f"{where}: unknown field {field!r}; the fields are "
                                 f"{', '.join(map(repr, required + optional))}")


def expect(value: Any, kind: type, what: str, where: str) -> Any:
    """``value`` if it is a ``kind`` (a bool is not an int here), else a GraphFileError."""
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise GraphFileError(f"{where}: {what} must be {_TYPE_NAMES.get(kind, kind)}, "
                             f"not {json.dumps(value)[:60]}")
    return value


# --------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------


def encode_float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def encode_array(array: np.ndarray, where: str) -> dict[str, Any]:
    """``{"dtype", "shape", "data"}`` with the elements flat, in C order."""
    if array.dtype.name not in DTYPES:
        raise GraphFileError(f"{where}: dtype {array.dtype} cannot be written to a graph file; "
                             f"use one of {', '.join(sorted(DTYPES))}")
    data = array.ravel().tolist()  # Python floats and ints: exact for every allowed dtype
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        data = [encode_float(x) for x in data]
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": data}


def encode_param(value: Any, where: str) -> Any:
    """A parameter as JSON: plain for JSON's own types, a one-key tagged object otherwise."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        encoded = encode_float(float(value))
        return encoded if isinstance(encoded, float) else {"float": encoded}
    if isinstance(value, list):
        return [encode_param(item, where) for item in value]
    if isinstance(value, tuple):
        return {"tuple": [encode_param(item, where) for item in value]}
    if isinstance(value, slice):
        return {"slice": [encode_param(p, where) for p in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"dict": {key: encode_param(item, where) for key, item in value.items()}}
    if isinstance(value, np.ndarray):
        return {"array": encode_array(value, where)}
    raise GraphFileError(
        f"{where}: {value!r} ({type(value).__name__}) cannot be written to a graph file; "
        "parameters may be numbers, strings, booleans, None, lists, tuples, dicts with "
        "string keys, slices, ... and numeric arrays")


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------


def decode_float(value: Any, what: str, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    raise GraphFileError(f"{where}: {what} must be a number, 'nan', 'inf' or '-inf', "
                         f"not {json.dumps(value)[:60]}")


def decode_array(record: dict, where: str, stored: np.ndarray | None = None) -> np.ndarray:
    """The array ``record`` describes: from its ``"data"``, or ``stored`` (read from the npz)."""
    dtype, shape = record["dtype"], record["shape"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise GraphFileError(f"{where}: dtype {dtype!r} is not allowed in a graph file; use "
                             f"one of {', '.join(sorted(DTYPES))}")
    if not isinstance(shape, list) or not all(type(side) is int and side >= 0 for side in shape):
        raise GraphFileError(f"{where}: shape must be a list of non-negative ints, not {shape!r}")
    if stored is not None:
        if stored.dtype.name != dtype or list(stored.shape) != shape:
            raise GraphFileError(f"{where}: the npz holds an array of dtype {stored.dtype} and "
                                 f"shape {stored.shape}, but the file says {dtype} and {shape}")
        return stored.astype(stored.dtype.newbyteorder("="), copy=False)
    data = expect(record["data"], list, '"data"', where)
    if len(data) != math.prod(shape):
        raise GraphFileError(f"{where}: shape {shape} needs {math.prod(shape)} element(s) but "
                             f'"data" has {len(data)}')
    kind = np.dtype(dtype).kind
    if kind == "f":
        data = [decode_float(x, "each element", where) for x in data]
    elif not all(type(x) is (bool if kind == "b" else int) for x in data):
        raise GraphFileError(f"{where}: every element of a {dtype} array must be "
                             f"{'true or false' if kind == 'b' else 'an integer'}")
    try:
        return np.array(data, dtype=dtype).reshape(shape)
    except (OverflowError, ValueError) as err:
        raise GraphFileError(f"{where}: {err}") from err


def decode_param(value: Any, where: str) -> Any:
    """The inverse of :func:`encode_param`; anything else is refused."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode_param(item, where) for item in value]
    tag, body = next(iter(value.items())) if isinstance(value, dict) and len(value) == 1 else (
        None, None)
    if tag == "tuple" and isinstance(body, list):
        return tuple(decode_param(item, where) for item in body)
    if tag == "slice" and isinstance(body, list) and len(body) == 3 and all(
            part is None or type(part) is int for part in body):
        return slice(*body)
    if tag == "ellipsis" and body is True:
        return Ellipsis
    if tag == "float" and isinstance(body, str) and body in _NON_FINITE:
        return _NON_FINITE[body]
    if tag == "dict" and isinstance(body, dict):
        return {key: decode_param(item, where) for key, item in body.items()}
    if tag == "array" and isinstance(body, dict):
        check_fields(body, ("dtype", "shape", "data"), where)
        return decode_array(body, where)
    raise GraphFileError(f"{where}: {json.dumps(value)[:80]} is not a parameter value; objects "
                         "are tagged: tuple, slice, ellipsis, float, dict or array")

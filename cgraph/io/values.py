"""The values of graph files: numbers, arrays and op parameters, to JSON and back.

Used by :mod:`cgraph.io`, which describes the format. Floats are written with
Python's ``repr``, so they come back bit for bit; JSON has no NaN or infinity, so
those are the strings ``"inf"``, ``"-inf"``, ``"nan"`` (the canonical quiet NaN)
and ``"nan:0x..."`` (any other NaN: its bits in hex, so a payload or a sign bit is
kept). Decoding checks every type and refuses with a GraphFileError saying where
(``where`` begins each message). Nested parameters are walked with an explicit
stack and refused beyond ``MAX_NESTING`` levels, on saving as on loading.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from cgraph.errors import GraphFileError

__all__ = [
    "DTYPES",
    "MAX_NESTING",
    "check_fields",
    "expect",
    "shown",
    "encode_float",
    "encode_array",
    "encode_param",
    "decode_float",
    "decode_array",
    "decode_param",
]

#: The dtypes a graph file may hold: real numbers, never objects, strings or complex.
DTYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    }
)
#: How deeply parameters may nest (lists, tuples, dicts): deeper is refused, not recursed into.
MAX_NESTING = 100
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_TYPE_NAMES = {str: "a string", bool: "true or false", list: "a list", dict: "an object"}
# By a float's size in bytes: the unsigned type of its bits, the bits of +inf, and of the
# quiet NaN numpy and Python make (written "nan"; any other NaN is written with its bits).
_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}
_INF_BITS = {2: 0x7C00, 4: 0x7F800000, 8: 0x7FF0000000000000}
_QUIET_NAN = {2: 0x7E00, 4: 0x7FC00000, 8: 0x7FF8000000000000}
_NAN_TEXT = re.compile(r"nan:0x([0-9a-f]+)")


def check_fields(
    record: dict, required: tuple[str, ...], where: str, optional: tuple[str, ...] = ()
) -> None:
    """Refuse a missing field, and an unknown one (a typo must not pass silently)."""
    for field in required:
        if field not in record:
            raise GraphFileError(f"{where}: the field {field!r} is missing")
    for field in record:
        if field not in required and field not in optional:
            raise GraphFileError(
                f"{where}: unknown field {reprlib.repr(field)}; the fields are "
                f"{', '.join(map(repr, required + optional))}"
            )


def expect(value: Any, kind: type, what: str, where: str) -> Any:
    """``value`` if it is a ``kind`` (a bool is not an int here), else a GraphFileError."""
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise GraphFileError(
            f"{where}: {what} must be {_TYPE_NAMES.get(kind, kind)}, not {shown(value)}"
        )
    return value


class _Text(str):
    """Punctuation in :func:`shown`'s output, not a string value."""


def shown(value: Any, limit: int = 60) -> str:
    """JSON text of ``value`` cut at ``limit`` characters, reading no more of it than that.

    For messages about a file's content: a value nested thousands deep, or holding a
    million elements, costs no more than a short one (``json.dumps`` would recurse).

    Examples
    --------
    >>> shown({"a": [1, None, "x"]}), shown(list(range(10**6)), 20)
    ('{"a": [1, null, "x"]}', '[0, 1, 2, 3, 4, 5, 6')
    """
    parts: list[str] = []
    size, stack = 0, [iter((value,))]
    while stack and size <= limit:
        item = next(stack[-1], _DONE)
        if item is _DONE:
            stack.pop()
            continue
        text = item if isinstance(item, _Text) else _opening(item, limit)
        if isinstance(item, (list, tuple, dict)):
            stack.append(_inside(item))
        parts.append(text)
        size += len(text)
    return "".join(parts)[:limit]


_DONE = _Text()  # an iterator of shown()'s stack is exhausted


def _opening(item: Any, limit: int) -> str:
    if isinstance(item, (list, tuple)):
        return "["
    if isinstance(item, dict):
        return "{"
    return json.dumps(item[:limit] if isinstance(item, str) else item, default=repr)


def _inside(container: list | tuple | dict) -> Iterator[Any]:
    """The tokens of a list or dict after its opening bracket."""
    for index, key in enumerate(container):
        if index:
            yield _Text(", ")
        if isinstance(container, dict):
            yield _Text(json.dumps(str(key)[:60]) + ": ")
            yield container[key]
        else:
            yield key
    yield _Text("}" if isinstance(container, dict) else "]")


# --------------------------------------------------------------------------------------
# Floats
# --------------------------------------------------------------------------------------


def encode_float(x: float | np.floating) -> float | str:
    """A float as a graph file (and the CLI's JSON) writes it: exact, NaN bits included.

    A finite float is itself (a Python float); infinities are ``"inf"`` and
    ``"-inf"``; the canonical quiet NaN (``float("nan")``, ``np.nan``) is ``"nan"``;
    any other NaN, a payload or a sign bit, is ``"nan:0x"`` and its bits in hex, as
    many digits as its own size needs (a numpy float16 or float32 keeps its width).
    :func:`decode_float` and :func:`decode_array` read it back bit for bit.

    Examples
    --------
    >>> encode_float(0.1), encode_float(-math.inf), encode_float(math.nan)
    (0.1, '-inf', 'nan')
    >>> encode_float(-math.nan), encode_float(np.float32(-np.nan))
    ('nan:0xfff8000000000000', 'nan:0xffc00000')
    """
    if math.isfinite(x):
        return float(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    # A numpy float16 or float32 keeps its own bits; anything else is a float64's.
    scalar = x if isinstance(x, np.floating) and x.dtype.itemsize in _UINT else np.float64(x)
    size = scalar.dtype.itemsize
    bits = int(scalar.view(_UINT[size]))
    return "nan" if bits == _QUIET_NAN[size] else f"nan:0x{bits:0{2 * size}x}"


def _nan_bits(text: str, size: int, where: str) -> int:
    """The bits ``"nan:0x..."`` gives a NaN of ``size`` bytes; refused unless they are a NaN."""
    match = _NAN_TEXT.fullmatch(text)
    if match is None or len(match.group(1)) != 2 * size:
        raise GraphFileError(
            f"{where}: {shown(text)} is not a NaN of {8 * size} bits: write "
            f"'nan:0x' and {2 * size} lowercase hex digits"
        )
    bits = int(match.group(1), 16)
    if bits & ~(1 << (8 * size - 1)) <= _INF_BITS[size]:  # exponent all ones, mantissa not 0
        raise GraphFileError(
            f"{where}: {text} is not a NaN's bits (a finite number or an "
            "infinity is written as a number, 'inf' or '-inf')"
        )
    return bits


def decode_float(value: Any, what: str, where: str) -> float:
    """The float ``value`` (a JSON number or one of :func:`encode_float`'s strings) stands for."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise GraphFileError(
                f"{where}: {what} {shown(value, 30)}... is out of the range of a float"
            ) from None
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, str) and value.startswith("nan:"):
        return struct.unpack("<d", _nan_bits(value, 8, where).to_bytes(8, "little"))[0]
    raise GraphFileError(
        f"{where}: {what} must be a number, 'nan', 'inf' or '-inf' (or "
        f"'nan:0x' and a NaN's bits), not {shown(value)}"
    )


# --------------------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------------------


def encode_array(array: np.ndarray, where: str) -> dict[str, Any]:
    """``{"dtype", "shape", "data"}`` with the elements flat, in C order."""
    if array.dtype.name not in DTYPES:
        raise GraphFileError(
            f"{where}: dtype {array.dtype} cannot be written to a graph file; "
            f"use one of {', '.join(sorted(DTYPES))}"
        )
    flat = array.ravel()
    data = flat.tolist()  # Python floats and ints: exact for every allowed dtype
    if array.dtype.kind == "f":
        for index in np.flatnonzero(~np.isfinite(flat)).tolist():
            data[index] = encode_float(flat[index])  # the numpy scalar: its own width's bits
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": data}


def check_dtype_shape(record: dict, where: str) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape an array record declares, refused unless allowed."""
    dtype, shape = record["dtype"], record["shape"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise GraphFileError(
            f"{where}: dtype {reprlib.repr(dtype)} is not allowed in a graph "
            f"file; use one of {', '.join(sorted(DTYPES))}"
        )
    if not isinstance(shape, list) or not all(type(side) is int and side >= 0 for side in shape):
        raise GraphFileError(
            f"{where}: shape must be a list of non-negative ints, not {shown(shape)}"
        )
    return np.dtype(dtype), tuple(shape)


def decode_array(record: dict, where: str) -> np.ndarray:
    """The array ``record`` describes, from its ``"data"``."""
    dtype, shape = check_dtype_shape(record, where)
    data = expect(record["data"], list, '"data"', where)
    if len(data) != math.prod(shape):
        raise GraphFileError(
            f"{where}: shape {list(shape)} needs {math.prod(shape)} element(s) "
            f'but "data" has {len(data)}'
        )
    if dtype.kind == "f":
        return _float_array(data, dtype, shape, where)
    if not all(type(x) is (bool if dtype.kind == "b" else int) for x in data):
        raise GraphFileError(
            f"{where}: every element of a {dtype} array must be "
            f"{'true or false' if dtype.kind == 'b' else 'an integer'}"
        )
    try:
        return np.array(data, dtype=dtype).reshape(shape)
    except (OverflowError, ValueError) as err:
        raise GraphFileError(f"{where}: {err}") from err


def _float_array(data: list, dtype: np.dtype, shape: tuple[int, ...], where: str) -> np.ndarray:
    size, payloads = dtype.itemsize, {}
    floats = []
    for index, x in enumerate(data):
        if isinstance(x, str) and x.startswith("nan:"):
            payloads[index] = _nan_bits(x, size, where)
            x = 0.0  # its bits are set below, in the array's own width
        floats.append(decode_float(x, "each element", where))
    try:
        with np.errstate(over="ignore"):
            array = np.array(floats, dtype=dtype).reshape(shape)
    except ValueError as err:  # e.g. more dimensions than numpy allows
        raise GraphFileError(f"{where}: {err}") from err
    if dtype.itemsize < 8 and (np.isinf(array.ravel()) != np.isinf(np.array(floats))).any():
        raise GraphFileError(
            f"{where}: an element is out of the range of {dtype} (a graph "
            f"file holds each {dtype} exactly)"
        )
    if payloads:
        array.reshape(-1).view(_UINT[size])[list(payloads)] = list(payloads.values())
    return array


# --------------------------------------------------------------------------------------
# Parameters, walked with an explicit stack
# --------------------------------------------------------------------------------------

# What a step of the walk gives back: (True, result) for a leaf, or (False, (children,
# build)) for a container, rebuilt as build(list of its converted children).
_Step = tuple[bool, Any]


def _walk(root: Any, step: Callable[[Any], _Step], where: str) -> Any:
    """``root`` converted bottom-up by ``step``, with no recursion and a bounded depth."""
    leaf, payload = step(root)
    if leaf:
        return payload
    stack: list[tuple[list, Callable[[list], Any], list]] = [(*payload, [])]
    while True:
        children, build, done = stack[-1]
        if len(done) == len(children):
            stack.pop()
            if not stack:
                return build(done)
            stack[-1][2].append(build(done))
            continue
        leaf, payload = step(children[len(done)])
        if leaf:
            done.append(payload)
        elif len(stack) >= MAX_NESTING:
            raise GraphFileError(
                f"{where}: the value nests lists, tuples or dicts more than "
                f"{MAX_NESTING} levels deep; a graph file refuses deeper ones "
                "(a parameter that contains itself never ends)"
            )
        else:
            stack.append((*payload, []))


def encode_param(value: Any, where: str) -> Any:
    """A parameter as JSON: plain for JSON's own types, a one-key tagged object otherwise."""
    return _walk(value, lambda item: _encode_step(item, where), where)


def _encode_step(value: Any, where: str) -> _Step:
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, np.bool_):
        return True, bool(value)
    if isinstance(value, (int, np.integer)):
        return True, int(value)
    if isinstance(value, (float, np.floating)):
        encoded = encode_float(float(value))
        return True, encoded if isinstance(encoded, float) else {"float": encoded}
    if isinstance(value, list):
        return False, (value, list)
    if isinstance(value, tuple):
        return False, (list(value), lambda items: {"tuple": items})
    if isinstance(value, slice):
        return False, ([value.start, value.stop, value.step], lambda items: {"slice": items})
    if value is Ellipsis:
        return True, {"ellipsis": True}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        keys = list(value)
        return False, (
            [value[key] for key in keys],
            lambda items: {"dict": dict(zip(keys, items, strict=True))},
        )
    if isinstance(value, np.ndarray):
        return True, {"array": encode_array(value, where)}
    raise GraphFileError(
        f"{where}: {reprlib.repr(value)} ({type(value).__name__}) cannot be written to a graph "
        "file; parameters may be numbers, strings, booleans, None, lists, tuples, dicts "
        "with string keys, slices, ... and numeric arrays"
    )


def decode_param(value: Any, where: str) -> Any:
    """The inverse of :func:`encode_param`; anything else is refused."""
    return _walk(value, lambda item: _decode_step(item, where), where)


def _decode_step(value: Any, where: str) -> _Step:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True, value
    if isinstance(value, list):
        return False, (value, list)
    tag, body = (
        next(iter(value.items())) if isinstance(value, dict) and len(value) == 1 else (None, None)
    )
    if tag == "tuple" and isinstance(body, list):
        return False, (body, tuple)
    if (
        tag == "slice"
        and isinstance(body, list)
        and len(body) == 3
        and all(part is None or type(part) is int for part in body)
    ):
        return True, slice(*body)
    if tag == "ellipsis" and body is True:
        return True, Ellipsis
    if (
        tag == "float"
        and isinstance(body, str)
        and (body in _NON_FINITE or body.startswith("nan:"))
    ):
        return True, decode_float(body, "a float", where)
    if tag == "dict" and isinstance(body, dict):
        keys = list(body)
        return False, (
            [body[key] for key in keys],
            lambda items: dict(zip(keys, items, strict=True)),
        )
    if tag == "array" and isinstance(body, dict):
        check_fields(body, ("dtype", "shape", "data"), where)
        return True, decode_array(body, where)
    raise GraphFileError(
        f"{where}: {shown(value, 80)} is not a parameter value; objects "
        "are tagged: tuple, slice, ellipsis, float, dict or array"
    )

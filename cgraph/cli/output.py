"""What the ``cgraph`` command prints: aligned text for people, exact JSON for programs.

Text shows a float as Python prints it (the shortest form that reads back as
the same float) and an array as numpy prints it. JSON keeps every float
exactly (Python writes the shortest round-trip form), writes arrays as nested
lists, and writes the values JSON has no number for as graph files do (see
:func:`cgraph.io.values.encode_float`): ``"inf"``, ``"-inf"``, ``"nan"``, and
``"nan:0x..."`` for a NaN with a sign or payload, so that any JSON parser reads
the output and no bit is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from cgraph.io.values import encode_float

__all__ = ["jsonable", "to_json", "format_value", "aligned", "check_table"]


def jsonable(value: Any) -> Any:
    """``value`` made of dicts, lists, strings, bools, ints and finite floats only.

    Examples
    --------
    >>> jsonable({"x": np.array([1.0, np.nan]), "y": np.float64(-np.inf), "n": (1, 2)})
    {'x': [1.0, 'nan'], 'y': '-inf', 'n': [1, 2]}
    >>> jsonable(-np.float32("nan"))
    'nan:0xffc00000'
    """
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            # tolist() would widen float16/32 NaNs to float64 ones; encode each element itself.
            encoded = [encode_float(element) for element in value.ravel()]
            return np.array(encoded, dtype=object).reshape(value.shape).tolist()
        return value.tolist()
    if isinstance(value, (float, np.floating)):
        return encode_float(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_json(value: Any) -> str:
    """One JSON object, indented, with every float exact (see :func:`jsonable`).

    Examples
    --------
    >>> text = to_json({"value": 0.1 + 0.2, "grad": [np.inf]})
    >>> json.loads(text)["value"] == 0.1 + 0.2, json.loads(text)["grad"]
    (True, ['inf'])
    """
    return json.dumps(jsonable(value), indent=2, allow_nan=False)


def format_value(value: Any) -> str:
    """A value as text: floats as Python prints them, arrays as numpy does.

    Examples
    --------
    >>> format_value(0.1 + 0.2), format_value(np.float64(2.0)), format_value(np.eye(2))
    ('0.30000000000000004', '2.0', '[[1. 0.]\\n [0. 1.]]')
    """
    if isinstance(value, np.generic):
        value = value.item()
    return str(value) if isinstance(value, np.ndarray) else repr(value)


def aligned(rows: Iterable[tuple[str, Any]]) -> str:
    """``label = value`` lines, the ``=`` signs aligned; an array's further lines indented.

    Examples
    --------
    >>> print(aligned([("f", 0.5), ("df/dx", np.array([[1.0, 2.0], [3.0, 4.0]]))]))
    f     = 0.5
    df/dx = [[1. 2.]
             [3. 4.]]
    """
    rows = [
        (label, value if isinstance(value, str) else format_value(value)) for label, value in rows
    ]
    width = max((len(label) for label, _ in rows), default=0)
    indent = "\n" + " " * (width + 3)
    return "\n".join(
        f"{label.ljust(width)} = {text.replace(chr(10), indent)}" for label, text in rows
    )


def check_table(
    root: str, rows: dict[str, dict[str, Any]], eps: float, atol: float, rtol: float
) -> str:
    """The gradient check as text: a row per input, a verdict.

    The rows are :func:`cgraph.transforms.gradcheck.compare_gradients`'s, so the verdict is gradcheck's.

    Examples
    --------
    >>> from cgraph.transforms.gradcheck import compare_gradients
    >>> rows = {"x": compare_gradients(0.0, 0.5, 1e-5, 1e-3)}
    >>> print(check_table("f", rows, 1e-6, 1e-5, 1e-3))
    gradient check of f: backward against central differences (eps 1e-06), the worst element of each input
    input  element  analytic  numerical  abs error  rel error  check
    x      -        0.0       0.5        0.5        1          FAIL
    FAIL: |analytic - numerical| > 1e-05 + 0.001 * |numerical| for 'x'
    """  # noqa: E501
    header = ("input", "element", "analytic", "numerical", "abs error", "rel error", "check")
    table = [header] + [
        (
            name,
            str(tuple(row["element"])) if row["element"] else "-",
            *(
                format_value(row[key]) if row[key] is not None else "-"  # None: an empty input
                for key in ("analytic", "numerical")
            ),
            f"{row['abs_error']:.3g}",
            f"{row['rel_error']:.3g}",
            "ok" if row["passed"] else "FAIL",
        )
        for name, row in rows.items()
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    bound = f"{atol:g} + {rtol:g} * |numerical|"
    failed = ", ".join(repr(name) for name, row in rows.items() if not row["passed"])
    verdict = (
        f"FAIL: |analytic - numerical| > {bound} for {failed}"
        if failed
        else f"PASS: |analytic - numerical| <= {bound} for every element"
    )
    return "\n".join(
        [
            f"gradient check of {root}: backward against central differences "
            f"(eps {eps:g}), the worst element of each input",
            *lines,
            verdict,
        ]
    )

"""Reading the ``cgraph`` command's input: the graph (an expression or a file) and its values.

Values are read as data, never evaluated: a number with ``float``, an array's
nested lists with ``json.loads`` or ``ast.literal_eval``. Whatever is wrong with
the command line raises :class:`UsageError`, which the command reports in one line.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from cgraph.engine.nodes import as_value
from cgraph.errors import UnknownNodeError
from cgraph.graph import ComputationalGraph

#: Lists nested deeper than this are refused before parsing: numpy arrays have at most 64 axes.
MAX_NESTING = 64

__all__ = [
    "UsageError",
    "parse_value",
    "parse_assignments",
    "is_graph_file",
    "load_graph",
    "root_of",
    "listed",
]


class UsageError(Exception):
    """Bad command-line input: reported as one line on stderr, exit status 2.

    Examples
    --------
    >>> str(UsageError("--at takes NAME=VALUE"))
    '--at takes NAME=VALUE'
    """


def parse_value(name: str, text: str) -> Any:
    """A value given on the command line: a number, or nested lists of numbers for an array.

    Read with ``float``, ``json.loads`` or ``ast.literal_eval``: data only, never
    evaluated as code.

    Examples
    --------
    >>> parse_value("x", "-4"), parse_value("x", "[[1, 2], [3, 4.5]]").tolist()
    (-4.0, [[1.0, 2.0], [3.0, 4.5]])
    >>> parse_value("labels", "[0, 2, 1]").dtype.kind   # integers stay integers for data
    'i'

    >>> parse_value("x", "two")
    Traceback (most recent call last):
    ...
    cgraph.cli.inputs.UsageError: the value of 'x', 'two', is not a number or a list of numbers
    """
    try:
        return float(text)
    except ValueError:
        pass
    shown = text if len(text) <= 60 else text[:57] + "..."
    problem = UsageError(f"the value of {name!r}, {shown!r}, is not a number or a list of numbers")
    _check_nesting(name, text)
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = ast.literal_eval(text.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise problem from None
    try:
        array = np.array(parsed)
    except (ValueError, TypeError):  # ragged lists
        raise problem from None
    if array.dtype.kind not in "iuf" or array.ndim == 0:
        raise problem
    return array


def _check_nesting(name: str, text: str) -> None:
    """Refuse lists nested deeper than an array can be, before a recursive parser sees them."""
    depth = deepest = 0
    for char in text:
        if char in "[(":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "])":
            depth -= 1
    if deepest > MAX_NESTING:
        raise UsageError(
            f"the value of {name!r} nests lists {deepest} deep; an array has at "
            f"most {MAX_NESTING} dimensions"
        )


def parse_assignments(pairs: Sequence[str], flag: str = "--at") -> dict[str, Any]:
    """``NAME=VALUE`` pairs as a dict of values (see :func:`parse_value`).

    Examples
    --------
    >>> parse_assignments(["x=2", "y=-4"])
    {'x': 2.0, 'y': -4.0}
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            raise UsageError(f"{flag} takes NAME=VALUE pairs such as x=2, not {pair!r}")
        if name in values:
            raise UsageError(f"{flag} gives {name!r} twice")
        values[name] = parse_value(name, text)
    return values


def is_graph_file(source: str) -> bool:
    """Whether the first argument names a graph file (it ends in .json) or is an expression.

    Examples
    --------
    >>> is_graph_file("model.json"), is_graph_file("x**2 + 1")
    (True, False)
    """
    return source.strip().lower().endswith(".json")


def load_graph(source: str, values: dict[str, Any], flag: str = "--at") -> ComputationalGraph:
    """The graph an expression describes, or a graph file holds, with ``values`` for its inputs.

    An expression's node is named ``f`` (``f_`` when an input is called ``f``),
    its intermediates ``f/add``, ``f/sigmoid``... (see :mod:`cgraph.expressions`);
    every name it uses must be given a value.

    Raises
    ------
    UsageError
        For a missing file, a name in ``values`` that is not an input, or a name
        of the expression that is given no value.
    GraphError
        For an expression or file that cannot be read, or a value that does not fit.

    Examples
    --------
    >>> cg = load_graph("x * y", {"x": 2.0, "y": 3.0})
    >>> cg.forward("f")
    6.0
    """
    if is_graph_file(source):
        return _file_graph(source, values, flag)
    cg = ComputationalGraph()
    for name, value in values.items():
        cg.add_input(name, value)  # one by one: any name, even 'self', is an input name
    root = "f"
    while root in values:
        root += "_"
    try:
        cg.add_expression(root, source)
    except UnknownNodeError as error:  # a name of the expression that is no input
        missing = error.nodes[-1] if len(error.nodes) > 1 else "NAME"
        raise UsageError(
            f"no value for {missing!r}, which the expression uses: give it one "
            f"with {flag} {missing}=VALUE"
        ) from None
    unused = [name for name in values if not nx.has_path(cg.graph, name, root)]
    if unused:
        used = [name for name in values if name not in unused]
        raise UsageError(
            f"{flag} gives {listed(unused)}, which the expression does not use; "
            f"its inputs are {listed(used)}"
        )
    return cg


def _file_graph(source: str, values: dict[str, Any], flag: str) -> ComputationalGraph:
    if not Path(source).is_file():
        raise UsageError(f"no graph file {source!r}: the path does not exist or is not a file")
    cg = ComputationalGraph.load(source)
    for name, value in values.items():
        if name not in cg.inputs:
            raise UsageError(
                f"{flag} names {name!r}, which is not an input of {source!r}; "
                f"its inputs are {listed(cg.inputs)}"
            )
        node = cg.inputs[name]
        # Checked as add_input checks (integer data stays integer unless trainable).
        node.output = as_value(value, name, node.trainable)
    return cg


def root_of(cg: ComputationalGraph, root: str | None) -> str:
    """``root`` if it is a node, else the graph's only sink.

    Examples
    --------
    >>> cg = load_graph("x * y", {"x": 2.0, "y": 3.0})
    >>> root_of(cg, None) == root_of(cg, "f")
    True
    """
    if root is not None:
        if root not in cg:
            raise UsageError(f"--root {root!r} is not a node of the graph")
        return root
    sinks = [name for name, degree in cg.graph.out_degree() if degree == 0]
    if len(sinks) != 1:
        raise UsageError(
            f"the graph has {len(sinks)} sinks ({listed(sinks)}): name the node to use with --root"
        )
    return sinks[0]


def listed(names: Any) -> str:
    """Names quoted and comma-separated, at most ten, for a message.

    Examples
    --------
    >>> listed(["x", "y"]), listed([])
    ("'x', 'y'", 'none')
    """
    names = list(names)
    shown = ", ".join(repr(name) for name in names[:10])
    return shown + (", ..." if len(names) > 10 else "") if names else "none"

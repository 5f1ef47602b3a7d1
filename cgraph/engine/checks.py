"""The checks a graph makes before it changes: names, inputs, arities, feeds and seeds.

Each check raises the GraphError a user should see, naming the nodes involved and
what to do, or returns a cleaned-up value. Declaring a node, parsing an expression
and loading a file all use these, so a name or an arity is refused in the same
words wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import numpy as np

from cgraph.engine.nodes import Constant, Input, Node, as_value
from cgraph.engine.passes import ones_like
from cgraph.errors import (
    CycleError,
    DuplicateNodeError,
    InvalidValueError,
    ShapeError,
    UnknownNodeError,
)
from cgraph.messages import did_you_mean, shown
from cgraph.ops.operation import Operation

__all__ = [
    "arity_problem",
    "check_names_exist",
    "check_new_name",
    "checked_feed",
    "checked_seed",
    "raise_bad_inputs",
    "raise_unknown_inputs",
]


def check_new_name(nodes: Mapping[str, Node], name: Any, context: str = "") -> None:
    """Refuse ``name`` for a new node unless it is a non-empty string not yet taken.

    ``context`` starts the message (``"expression 'f': "``) when the name comes
    from something larger than one declaration.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> check_new_name(cg.nodes, "x")
    Traceback (most recent call last):
    ...
    cgraph.errors.DuplicateNodeError: a node named 'x' already exists; choose another name
    """
    if type(name) is not str or not name:
        raise InvalidValueError(
            f"{context}node names are non-empty strings, not {shown(name)} ({type(name).__name__})",
            nodes=[str(name)],
        )
    if name in nodes:
        raise DuplicateNodeError(
            f"{context}a node named {name!r} already exists; choose another name", nodes=[name]
        )


def check_names_exist(
    nodes: Mapping[str, Node], names: Iterable[Any], what: str, declaring: str | None = None
) -> None:
    """Refuse any of ``names`` that is not a node, suggesting the closest names.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(weight=1.0)
    >>> check_names_exist(cg.nodes, ["wieght"], "input")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cgraph.errors.UnknownNodeError: input 'wieght' is not a node of the graph; did you mean...
    """
    for name in names:
        if not isinstance(name, str):
            raise InvalidValueError(
                f"{what} {shown(name)} is not a node name: names are strings, not "
                f"{type(name).__name__}; give the name of a node",
                nodes=[] if declaring is None else [declaring],
            )
        if name not in nodes:
            raise UnknownNodeError(
                f"{what} {name!r} is not a node of the graph{did_you_mean(name, nodes)}",
                nodes=[name] if declaring is None else [name, declaring],
            )


def arity_problem(op: Operation, given: int, label: str | None = None) -> str | None:
    """What is wrong with giving ``op`` this many inputs, or None when nothing is.

    ``label`` names the op as the user wrote it (``"sigmoid"``); by default its class.

    Examples
    --------
    >>> from cgraph.ops import Add, Concat
    >>> arity_problem(Add(), 3)
    'Add takes 2 input(s) but was given 3'
    >>> arity_problem(Concat(), 0)
    'Concat takes at least 1 input(s) but was given 0'
    >>> arity_problem(Add(), 2) is None
    True
    """
    name = label or type(op).__name__
    if op.arity is not None:
        if op.arity != given:
            return f"{name} takes {op.arity} input(s) but was given {given}"
    elif given < op.min_arity:
        return f"{name} takes at least {op.min_arity} input(s) but was given {given}"
    return None


def raise_bad_inputs(name: str, inputs: Any) -> NoReturn:
    """Refuse an ``inputs`` argument that is neither a name nor an iterable of names."""
    raise InvalidValueError(
        f"node {name!r}: inputs must be a node name or an iterable of node names, e.g. "
        f"('x', 'y'), not {shown(inputs)} ({type(inputs).__name__})",
        nodes=[name],
    )


def raise_unknown_inputs(
    nodes: Mapping[str, Node], name: str, input_names: tuple[Any, ...]
) -> NoReturn:
    """Say which of a new node's inputs is wrong: not a string, the node itself, or unknown."""
    # Types before the cycle check: comparing the name to an array is ambiguous.
    for parent in input_names:
        if not isinstance(parent, str):
            raise InvalidValueError(
                f"node {name!r}: inputs are node names (strings), not {shown(parent)} "
                f"({type(parent).__name__})",
                nodes=[name],
            )
    if name in input_names:
        raise CycleError(
            f"node {name!r} lists itself as an input, which would make a cycle; "
            "give it a new name or use an existing node",
            nodes=[name],
        )
    check_names_exist(nodes, input_names, f"node {name!r}: input", declaring=name)
    raise AssertionError("unreachable: every input exists")  # pragma: no cover


def checked_feed(nodes: Mapping[str, Node], feed: Any) -> dict[str, Any]:
    """A feed's values as inputs hold them, refusing what is not an input or not a number.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> checked_feed(cg.nodes, {"x": 2})
    {'x': 2.0}
    """
    if not isinstance(feed, Mapping):
        raise InvalidValueError(
            f"feed must be a mapping of input names to values, e.g. feed={{'x': 1.0}}, "
            f"not a {type(feed).__name__}"
        )
    checked = {}
    for name, value in feed.items():
        node = nodes.get(name) if isinstance(name, str) else None
        if node is None:
            check_names_exist(nodes, [name], "fed name")
        if not isinstance(node, Input):
            raise InvalidValueError(
                f"cannot feed {name!r}: only inputs can be fed, and it is "
                f"{'a constant' if isinstance(node, Constant) else 'an operation'}",
                nodes=[name],
            )
        checked[name] = as_value(value, name, node.trainable)
    return checked


def checked_seed(root: Node, value: Any, seed: Any) -> Any:
    """The gradient backward starts from: ones shaped like the root's value, or ``seed``.

    Examples
    --------
    >>> from cgraph.engine.nodes import Input
    >>> checked_seed(Input("y", 1.0, 0), 2.0, None)
    1.0
    """
    if seed is None:
        return ones_like(value)
    seed = as_value(seed, root.name, trainable=True)
    if np.shape(seed) != np.shape(value):
        raise ShapeError(
            f"seed for {root.name!r} has shape {np.shape(seed)} but its output has shape "
            f"{np.shape(value)}; give a seed shaped like the output",
            nodes=[root.name],
        )
    return seed

"""The errors forward and backward raise, worded in the user's node names.

Kept apart from the passes themselves so that the hot loops stay short: they
only call in here once something has already gone wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from cgraph.engine.nodes import Constant, Node, OperationNode
from cgraph.engine.summary import describe_value
from cgraph.errors import (
    GraphError,
    InvalidOperationError,
    InvalidValueError,
    NonFiniteError,
    OperationError,
    ShapeError,
)
from cgraph.messages import shown
from cgraph.ops.namespaces import is_foreign

__all__ = [
    "describe",
    "is_finite",
    "invalid_leaf",
    "non_finite_input",
    "non_finite_output",
    "non_finite_gradient",
    "forward_failure",
    "backward_failure",
    "as_gradient_tuple",
]


def describe(value: Any) -> str:
    """:func:`cgraph.engine.summary.describe_value`, or the value's short repr when that fails.

    Examples
    --------
    >>> describe(0.5), describe("oops")
    ('0.5', "'oops' (str)")
    """
    try:
        return describe_value(value)
    except Exception:  # a message must come out whatever the value (a string, an object)
        return f"{shown(value)} ({type(value).__name__})"


def is_finite(value: Any) -> bool:
    """Whether a float or every element of an array is finite (not NaN, not infinite).

    Examples
    --------
    >>> is_finite(1.0), is_finite(float("nan"))
    (True, False)
    """
    if type(value) is float:
        return math.isfinite(value)
    try:
        return bool(np.all(np.isfinite(value)))
    except TypeError:  # not a number at all (a string): the caller's message says what it is
        return False


def invalid_leaf(nodes: Iterable[Node], feed: dict[str, Any]) -> InvalidValueError | None:
    """The error for the first leaf holding something that is not a number, if any.

    Only called after a pass failed: an input's ``output`` set by hand to a string
    (or any object) shows up as an op's failure, which this names at its source.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.inputs["x"].output = "oops"
    >>> print(invalid_leaf(cg.nodes.values(), {}))
    input 'x' holds 'oops' (str), which is not a number or a numeric array; set inputs['x'].output to a float or a numeric array
    """  # noqa: E501
    for leaf in nodes:
        if isinstance(leaf, OperationNode):
            continue
        value = feed.get(leaf.name, leaf.output)
        if type(value) is float or (
            isinstance(value, (int, np.bool_, np.number))
            and not (isinstance(value, np.timedelta64))
        ):
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            continue
        if is_foreign(value):  # checked when given: a failure here is not the leaf's
            continue
        kind, where = (
            ("constant", "constants") if isinstance(leaf, Constant) else ("input", "inputs")
        )
        return InvalidValueError(
            f"{kind} {leaf.name!r} holds {describe(value)}, which is not a number or a numeric "
            f"array; set {where}[{leaf.name!r}].output to a float or a numeric array",
            nodes=[leaf.name],
        )
    return None


def _inputs_text(node: OperationNode, values: list[Any], parents: tuple[int, ...]) -> str:
    return ", ".join(
        f"{parent.name!r} = {describe(values[pos])}"
        for parent, pos in zip(node.parents, parents, strict=True)
    )


def _said(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # an exception whose own message cannot be built
        return f"<{type(error).__name__} with an unprintable message>"


def _involved(node: OperationNode) -> list[str]:
    return [node.name, *dict.fromkeys(parent.name for parent in node.parents)]


def _op_name(node: OperationNode) -> str:
    return type(node.op).__name__


def non_finite_input(leaf: Node, value: Any) -> NonFiniteError:
    """The error for an input or constant that already holds NaN or infinity.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=float("nan"))
    >>> print(non_finite_input(cg.nodes["x"], float("nan")))
    input 'x' is not finite: nan
    """
    return NonFiniteError(
        f"input {leaf.name!r} is not finite: {describe(value)}", nodes=[leaf.name]
    )


def non_finite_output(
    node: OperationNode, values: list[Any], parents: tuple[int, ...], out: Any
) -> NonFiniteError:
    """The error for the first node whose output is not finite although its inputs are.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=0.0)
    >>> cg.add_computation_node("l", "log", ("x",))
    >>> print(non_finite_output(cg.operations["l"], [0.0], (0,), float("-inf")))
    forward: node 'l' (Log) gave a non-finite output, -inf, from finite inputs 'x' = 0; check those inputs against the operation's domain
    """  # noqa: E501
    return NonFiniteError(
        f"forward: node {node.name!r} ({_op_name(node)}) gave a non-finite output, "
        f"{describe(out)}, from finite inputs {_inputs_text(node, values, parents)}; "
        "check those inputs against the operation's domain",
        nodes=_involved(node),
    )


def non_finite_gradient(
    node: OperationNode, parent: Node, values: list[Any], parents: tuple[int, ...]
) -> NonFiniteError:
    """The error for the first node to pass a non-finite gradient back from a finite one.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=0.0)
    >>> cg.add_computation_node("r", "sqrt", ("x",))
    >>> error = non_finite_gradient(cg.operations["r"], cg.nodes["x"], [0.0], (0,))
    >>> error.nodes
    ('r', 'x')
    """
    return NonFiniteError(
        f"backward: node {node.name!r} ({_op_name(node)}) passed a non-finite gradient to "
        f"its input {parent.name!r} from a finite upstream gradient; its inputs were "
        f"{_inputs_text(node, values, parents)}",
        nodes=[node.name, parent.name],
    )


def forward_failure(
    node: OperationNode, values: list[Any], parents: tuple[int, ...], error: Exception
) -> GraphError:
    """Turn an exception raised inside an op's forward into an error naming the node.

    A GraphError the op raised itself (a ShapeError for a misaligned matmul)
    keeps its class and gains the node's name and inputs; inputs that numpy
    cannot broadcast give a :class:`ShapeError` listing each input's shape;
    anything else an :class:`OperationError` with the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(a=np.ones(2), b=np.ones(3))
    >>> cg.add_computation_node("s", "add", ("a", "b"))
    >>> print(forward_failure(cg.operations["s"], [np.ones(2), np.ones(3)], (0, 1),
    ...                       ValueError("operands could not be broadcast together")))
    node 's' (Add): input shapes do not broadcast ('a' (2,), 'b' (3,)); reshape an input or fix the graph
    """  # noqa: E501
    if isinstance(error, GraphError):  # an op's own check: same class, now naming the node
        return type(error)(
            f"node {node.name!r} ({_op_name(node)}): {_said(error)}; its inputs were "
            f"{_inputs_text(node, values, parents)}",
            nodes=_involved(node),
        )
    if isinstance(error, ValueError) and "broadcast" in _said(error):
        shapes = ", ".join(
            f"{parent.name!r} {np.shape(values[pos])}"
            for parent, pos in zip(node.parents, parents, strict=True)
        )
        return ShapeError(
            f"node {node.name!r} ({_op_name(node)}): input shapes do not broadcast "
            f"({shapes}); reshape an input or fix the graph",
            nodes=_involved(node),
        )
    return OperationError(
        f"forward of node {node.name!r} ({_op_name(node)}) failed with "
        f"{type(error).__name__}: {_said(error)}; its inputs were "
        f"{_inputs_text(node, values, parents)}",
        nodes=_involved(node),
    )


def backward_failure(node: OperationNode, error: Exception) -> GraphError:
    """Turn an exception raised inside an op's backward into an error naming the node.

    A GraphError the op raised itself (a singular matrix) keeps its class and
    gains the node's name; anything else becomes an :class:`OperationError`.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("y", "exp", ("x",))
    >>> print(backward_failure(cg.operations["y"], ZeroDivisionError("oops")))
    backward of node 'y' (Exp) failed with ZeroDivisionError: oops
    """
    if isinstance(error, GraphError):
        return type(error)(
            f"backward of node {node.name!r} ({_op_name(node)}): {_said(error)}", nodes=[node.name]
        )
    return OperationError(
        f"backward of node {node.name!r} ({_op_name(node)}) failed with "
        f"{type(error).__name__}: {_said(error)}",
        nodes=[node.name],
    )


def as_gradient_tuple(node: OperationNode, local: Any) -> tuple[Any, ...]:
    """Check what an op's backward returned: one gradient (or None) per input.

    A one-input op may return its gradient bare; a list is accepted as a tuple.

    Raises
    ------
    InvalidOperationError
        If the count does not match the node's inputs.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("y", "exp", ("x",))
    >>> as_gradient_tuple(cg.operations["y"], 2.0)
    (2.0,)
    """
    count = len(node.parents)
    if isinstance(local, (tuple, list)):
        if len(local) == count:
            return tuple(local)
        got = f"{len(local)} gradients"
    elif count == 1:
        return (local,)
    else:
        got = f"a single {type(local).__name__}"
    raise InvalidOperationError(
        f"node {node.name!r}: {_op_name(node)}.backward returned {got} but the node has "
        f"{count} inputs; return one gradient (or None) per input, in order",
        nodes=[node.name],
    )

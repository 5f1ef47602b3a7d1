"""Forward mode and Jacobians: tangents carried with the values over the cached schedule.

Reverse mode (``backward``) pulls one output's gradient back through the graph:
a row ``u^T J`` of the Jacobian per sweep. Forward mode pushes a direction ``t``
in input space forward beside the values, as dual numbers do: each op's ``jvp``
turns its inputs' tangents into its output's, so one sweep gives ``f(x)`` and the
directional derivative ``J t``, a column of the Jacobian per unit direction.

A full Jacobian therefore costs one forward-mode sweep per input element or one
backward sweep per output element; :func:`jacobian` picks the fewer. Like the
passes in :mod:`cgraph.engine.passes`, the sweeps here are flat loops over a
:class:`~cgraph.engine.schedule.Schedule`: no recursion, no networkx.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.engine.diagnostics import forward_failure
from cgraph.engine.nodes import Input, Node, OperationNode, plain_value
from cgraph.engine.passes import leaf_values, run_backward, run_forward
from cgraph.engine.schedule import Schedule
from cgraph.errors import (
    GraphError,
    InvalidValueError,
    NoGradientError,
    OperationError,
    ShapeError,
)
from cgraph.ops import numeric
from cgraph.ops.arrays import as_output, float_dtype
from cgraph.ops.namespaces import is_foreign, is_lazy, namespace
from cgraph.ops.numeric import zeros_like

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["MODES", "run_jvp", "jvp", "jacobian"]

#: The values of ``jacobian``'s ``mode``.
MODES = ("auto", "forward", "reverse")


# --------------------------------------------------------------------------------------
# The forward-mode sweep
# --------------------------------------------------------------------------------------


def run_jvp(
    schedule: Schedule,
    feed: Mapping[str, Any],
    seeds: Mapping[int, Any],
    values: list[Any] | None = None,
) -> tuple[list[Any], list[Any]]:
    """Evaluate the schedule and push the seeded tangents forward, node by node.

    Parameters
    ----------
    schedule : Schedule
        What to evaluate, in order.
    feed : mapping of str to value
        Input values replacing the inputs' own ones (ignored when ``values`` is given).
    seeds : mapping of int to tangent
        The tangent of each seeded leaf, by position, already shaped like its value.
    values : list, optional
        The values of a forward pass just run over this schedule: only tangents
        are then computed, by each op's ``pushforward`` on those values.

    Returns
    -------
    values, tangents : list
        By position. A tangent is ``None`` where no seeded tangent reaches the node.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> run_jvp(Schedule(cg.nodes["y"]), {}, {0: 1.0})
    ([3.0, 9.0], [1.0, 6.0])
    """
    evaluate = values is None
    if values is None:
        values = leaf_values(schedule, feed)
    tangents: list[Any] = [None] * len(schedule.nodes)
    for pos, tangent in seeds.items():
        tangents[pos] = tangent
    in_jvp = False
    try:
        for pos, node, op, parents in schedule.steps:
            if evaluate:
                in_jvp = False
                values[pos] = op.forward(*[values[parent] for parent in parents])
            if len(parents) == 1:  # the common case, without building a list
                incoming: Any = tangents[parents[0]]
                if incoming is None:
                    continue
                in_jvp = True
                out = op.pushforward(numeric, (incoming,), values[pos], values[parents[0]])
            else:
                incoming = tuple([tangents[parent] for parent in parents])
                if all(tangent is None for tangent in incoming):  # not count(None): arrays
                    continue
                in_jvp = True
                out = op.pushforward(
                    numeric, incoming, values[pos], *[values[parent] for parent in parents]
                )
            if out is not None and (type(out) is not float or type(values[pos]) is not float):
                out = _fitted_tangent(out, values[pos], node)
            tangents[pos] = out
    except Exception as error:
        if isinstance(error, GraphError) and error.nodes:
            raise
        raise _failure(in_jvp, node, values, parents, error) from error
    return values, tangents


def _fitted_tangent(tangent: Any, value: Any, node: OperationNode) -> Any:
    """An op's tangent broadcast to its output's shape (once, here); a float for a float."""
    shape = np.shape(value)
    if np.shape(tangent) != shape:
        try:
            if is_foreign(tangent) or is_foreign(value):
                xp = namespace(tangent, value)
                tangent = xp.broadcast_to(xp.asarray(tangent), shape)
            else:
                tangent = np.array(np.broadcast_to(tangent, shape))
        except ValueError:
            raise ShapeError(
                f"jvp of node {node.name!r} ({type(node.op).__name__}) returned a tangent of "
                f"shape {np.shape(tangent)}, which does not broadcast to the output's shape "
                f"{shape}; return it shaped like the output",
                nodes=[node.name],
            ) from None
    return float(tangent) if type(value) is float and not is_foreign(tangent) else tangent


def _failure(
    in_jvp: bool,
    node: OperationNode,
    values: list[Any],
    parents: tuple[int, ...],
    error: Exception,
) -> GraphError:
    """The error for a failed forward or jvp of ``node``, naming the node and its op."""
    if not in_jvp:
        return forward_failure(node, values, parents, error)
    where = f"jvp of node {node.name!r} ({type(node.op).__name__})"
    if isinstance(error, GraphError):  # the op's own refusal (no tangent rule): same class
        return type(error)(f"{where}: {error}", nodes=[node.name])
    return OperationError(f"{where} failed with {type(error).__name__}: {error}", nodes=[node.name])


# --------------------------------------------------------------------------------------
# jvp and jacobian of a graph
# --------------------------------------------------------------------------------------


def jvp(
    cg: GraphCore,
    root: str | None = None,
    tangents: Mapping[str, Any] | None = None,
    feed: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    """The root's value and its directional derivative in one forward sweep (forward mode).

    Every input x_i gets a tangent t_i (a direction), and each node carries its
    value and its tangent forward together, as dual numbers do: an op's ``jvp``
    turns its inputs' tangents into its output's. The root's tangent is the
    Jacobian-vector product ``sum_i (d root / d x_i) t_i``: with ``{"x": 1.0}``,
    d root / dx. Inputs without a tangent have tangent zero.

    Like ``forward``, it caches every node's value and clears the gradients, so
    ``backward(root)`` may follow.

    Parameters
    ----------
    root : str, optional
        The node to evaluate; by default the graph's only sink.
    tangents : mapping of str to float or array_like
        A tangent per input, by name: a float, or an array shaped like the
        input's value or broadcastable to it (``1.0`` for an array input is the
        all-ones direction). Trainable or not, as long as the input holds floats.
    feed : mapping of str to value, optional
        Input values for this call only, as for ``forward``.

    Returns
    -------
    value, tangent : float or numpy.ndarray
        The root's value and its tangent, shaped like the value.

    Raises
    ------
    UnknownNodeError
        If ``root``, a fed name or a name in ``tangents`` is not a node.
    InvalidValueError
        If a tangent names a constant, an operation or an integer input, or is
        not numeric.
    ShapeError
        If a tangent does not broadcast to its input's shape.
    InvalidOperationError
        If an op on the way has no tangent rule (``jvp``), naming the node and op.
    OperationError
        If an op's ``forward`` or ``jvp`` raised; the original error is chained.

    A call that raises changes no cached value or gradient.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=3.0)
    >>> cg.add_computation_node("xy", "mul", ("x", "y"))
    >>> cg.add_computation_node("f", "sin", ("xy",))
    >>> value, dfdx = cg.jvp("f", tangents={"x": 1.0})   # df/dx = y cos(xy)
    >>> round(value, 6), round(dfdx, 6)
    (-0.279415, 2.880511)
    >>> round(cg.backward("f")["x"], 6)                      # reverse mode agrees
    2.880511
    """
    if tangents is not None and not isinstance(tangents, Mapping):
        raise InvalidValueError(
            f"jvp: tangents must be a mapping of input names to tangents, e.g. "
            f"tangents={{'x': 1.0}}, not a {type(tangents).__name__}"
        )
    schedule = cg.schedule(root)
    feed_values = cg.check_feed(feed)
    positions = leaf_positions(schedule)
    seeds = {}
    for name, tangent in (tangents or {}).items():
        value = point_of(cg, name, feed_values, "a tangent")
        tangent = checked_tangent(name, value, tangent)
        if name in positions:  # an input the root does not depend on changes nothing
            seeds[positions[name]] = tangent
    with cg.running(schedule):  # all or nothing, one thread at a time
        values, swept = run_jvp(schedule, feed_values, seeds)
        cg.keep_pass(schedule, values, feed_values)
    tangent = swept[-1]
    if tangent is None:  # no tangent reached the root
        tangent = zeros_like(values[-1])
    return plain_value(values[-1]), plain_value(tangent)


def jacobian(
    cg: GraphCore,
    root: str | None,
    wrt: str | Sequence[str],
    mode: str = "auto",
    feed: Mapping[str, Any] | None = None,
) -> Any:
    """The Jacobian of ``root`` with respect to one input or several, like torch's.

    ``J[i..., j...] = d root[i...] / d x[j...]``, shaped ``root.shape + x.shape``
    as ``torch.autograd.functional.jacobian`` gives it: for a scalar root it is
    the gradient, for a scalar input the derivative of every output element.

    Forward mode (``mode="forward"``) computes it a column at a time, one
    ``jvp`` sweep per input element; reverse mode (``"reverse"``) a row at a
    time, one ``backward`` per output element, seeded with that element's
    one-hot vector. Each sweep costs about one forward pass, so ``"auto"`` picks
    forward mode when the inputs have fewer elements in total than the root,
    and reverse mode otherwise (a gradient of a scalar is a single backward),
    and forward mode whenever an input in ``wrt`` is not trainable (backward
    computes no gradient for it).

    Afterwards the graph is as after ``forward(root, feed)``: every value of this
    point cached, no gradient (the per-row gradients are not kept).

    Parameters
    ----------
    root : str or None
        The node to differentiate; None for the graph's only sink.
    wrt : str or sequence of str
        An input's name, or several.
    mode : {"auto", "forward", "reverse"}, default "auto"
        How to compute it; all give the same numbers.
    feed : mapping of str to value, optional
        Input values for this call only, as for ``forward``.

    Returns
    -------
    numpy.ndarray, float, or tuple of them
        For a name, an array shaped ``root.shape + input.shape`` (a float when
        both are scalars); for a sequence of names, a tuple of such blocks. An
        input the root does not depend on gets zeros.

    Raises
    ------
    UnknownNodeError
        If ``root``, a fed name or a name in ``wrt`` is not a node.
    InvalidValueError
        If ``wrt`` names a constant, an operation or an integer input.
    NoGradientError
        With ``mode="reverse"``, if an input in ``wrt`` is not trainable.
    GraphError
        If ``mode`` is none of the three.
    InvalidOperationError
        In forward mode, if an op on the way has no tangent rule.
    OperationError, ShapeError
        As for ``forward`` and ``backward``.

    A call that raises changes no cached value or gradient.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> import numpy as np
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=np.array([1.0, 2.0, 3.0]), w=2.0)
    >>> cg.add_computation_node("wx", "mul", ("w", "x"))
    >>> cg.add_computation_node("y", "square", ("wx",))     # y_i = (w x_i)^2
    >>> cg.jacobian("y", "x")                                # 2 w^2 x_i on the diagonal
    array([[ 8.,  0.,  0.],
           [ 0., 16.,  0.],
           [ 0.,  0., 24.]])
    >>> dydx, dydw = cg.jacobian("y", ["x", "w"], mode="reverse")
    >>> dydw                                                 # 2 w x_i^2
    array([ 4., 16., 36.])
    """
    if mode not in MODES:
        raise GraphError(f"jacobian: mode must be one of {MODES}, not {mode!r}")
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    schedule = cg.schedule(root)
    feed_values = cg.check_feed(feed)
    point = {name: point_of(cg, name, feed_values, "a Jacobian") for name in names}
    fixed = [name for name in names if not cg.inputs[name].trainable]
    if fixed and mode == "reverse":
        raise NoGradientError(
            f"jacobian: input {fixed[0]!r} is not trainable, so reverse mode (backward) has no "
            "gradient for it; use mode='forward' or 'auto', or declare it trainable",
            nodes=[fixed[0], schedule.root.name],
        )
    with cg.running(schedule):  # all or nothing, one thread at a time
        values = run_forward(schedule, feed_values)
        if mode == "auto":  # one sweep per input element, or one per output element
            inputs = sum(np.size(value) for value in point.values())
            mode = "forward" if fixed or inputs < np.size(values[-1]) else "reverse"
        by_mode = _columns_by_forward_mode if mode == "forward" else _rows_by_reverse_mode
        blocks = dict(zip(point, by_mode(schedule, values, point), strict=True))
        cg.keep_pass(schedule, values, feed_values)
    result = tuple(as_output(blocks[name]) for name in names)  # a name given twice: twice
    return result[0] if isinstance(wrt, str) else result


def _columns_by_forward_mode(
    schedule: Schedule, values: list[Any], point: dict[str, Any]
) -> list[np.ndarray]:
    """One jvp sweep per input element: each gives the column d root / d x[index]."""
    positions = leaf_positions(schedule)
    blocks = []
    for name, value in point.items():
        block = _empty_block(values[-1], value)
        if name in positions:
            for index in np.ndindex(np.shape(value)):
                seed = {positions[name]: unit_vector(value, index)}
                tangent = run_jvp(schedule, {}, seed, values)[1][-1]
                if tangent is not None:
                    block[(..., *index)] = tangent
        blocks.append(block)
    return blocks


def _rows_by_reverse_mode(
    schedule: Schedule, values: list[Any], point: dict[str, Any]
) -> list[np.ndarray]:
    """One backward sweep per output element, seeded one-hot: each gives a row d y[index] / d x."""
    positions = leaf_positions(schedule)
    output = values[-1]
    blocks = [_empty_block(output, value) for value in point.values()]
    for index in np.ndindex(np.shape(output)):
        grads = run_backward(schedule, values, unit_vector(output, index))
        for name, block in zip(point, blocks, strict=True):
            if name in positions:
                block[index] = grads[positions[name]]
    return blocks


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def leaf_positions(schedule: Schedule) -> dict[str, int]:
    nodes = schedule.nodes
    return {nodes[pos].name: pos for pos in range(schedule.leaf_count)}


def point_of(cg: GraphCore, name: str, feed: Mapping[str, Any], what: str) -> Any:
    """The value of input ``name`` for this call, refusing what cannot have a tangent."""
    node: Node = cg.get_node(name)
    if not isinstance(node, Input):
        kind = "a constant" if not isinstance(node, OperationNode) else "an operation"
        raise InvalidValueError(
            f"{name!r} cannot have {what}: it is {kind}; only inputs are differentiated with "
            "respect to",
            nodes=[name],
        )
    value = feed.get(name, node.output)
    if is_foreign(value):
        dtype, real = value.dtype, namespace(value).isdtype(value.dtype, "real floating")
    else:  # numpy's own test: np.isdtype is numpy 2's
        dtype = np.result_type(value)
        real = dtype.kind == "f"
    if not real:
        raise InvalidValueError(
            f"input {name!r} holds {dtype} values (labels, counts), which have "
            f"no tangent; declare it with float values to differentiate with respect to it",
            nodes=[name],
        )
    return value


def checked_tangent(name: str, value: Any, tangent: Any) -> Any:
    """A tangent for input ``name`` broadcast to its value's shape, in its float type."""
    if is_foreign(value) or is_foreign(tangent):  # in the value's library, never via numpy
        return _foreign_tangent(name, value, tangent)
    tangent = np.asarray(tangent)
    if tangent.dtype.kind not in "biuf":  # None, strings, complex numbers, objects
        raise InvalidValueError(
            f"tangent for {name!r} is not a real number or numeric array (dtype "
            f"{tangent.dtype}); give a float or an array shaped like the input",
            nodes=[name],
        )
    shape = np.shape(value)
    try:
        tangent = np.broadcast_to(tangent, shape)
    except ValueError:
        raise ShapeError(
            f"tangent for {name!r} has shape {tangent.shape}, which does not broadcast to the "
            f"input's shape {shape}; give a float or an array shaped like the input",
            nodes=[name],
        ) from None
    if type(value) is float:
        return float(tangent)
    return np.array(tangent, dtype=value.dtype)  # a copy of our own, writable


def _foreign_tangent(name: str, value: Any, tangent: Any) -> Any:
    """checked_tangent for a Dask, CuPy or other array-API value (or tangent)."""
    try:
        xp = namespace(value, tangent)
        tangent = xp.asarray(tangent)
        real = xp.isdtype(tangent.dtype, ("real floating", "integral", "bool"))
    except (GraphError, TypeError, ValueError) as error:
        raise InvalidValueError(
            f"tangent for {name!r} cannot be used with its input's value ({error}); give a "
            "float or an array of the input's library, shaped like the input",
            nodes=[name],
        ) from None
    if not real:
        raise InvalidValueError(
            f"tangent for {name!r} is not a real number or numeric array (dtype "
            f"{tangent.dtype}); give a float or an array shaped like the input",
            nodes=[name],
        )
    shape = tuple(np.shape(value))
    try:
        tangent = xp.broadcast_to(xp.astype(tangent, float_dtype(value)), shape)
    except ValueError:
        raise ShapeError(
            f"tangent for {name!r} has shape {tuple(tangent.shape)}, which does not broadcast "
            f"to the input's shape {shape}; give a float or an array shaped like the input",
            nodes=[name],
        ) from None
    return tangent if is_lazy(tangent) else xp.asarray(tangent, copy=True)


def unit_vector(value: Any, index: tuple[int, ...]) -> Any:
    """The unit vector e_index shaped like ``value`` (1.0 for a float or numpy scalar)."""
    if not isinstance(value, np.ndarray):
        return 1.0
    unit = zeros_like(value)
    unit[index] = 1.0
    return unit


def _empty_block(output: Any, value: Any) -> np.ndarray:
    """Zeros shaped output.shape + input.shape, in the wider of their float types."""
    dtype = np.result_type(
        *(float_dtype(v) if isinstance(v, np.ndarray) else np.float64 for v in (output, value))
    )
    return np.zeros(np.shape(output) + np.shape(value), dtype)

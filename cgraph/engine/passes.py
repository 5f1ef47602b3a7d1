"""The forward and backward passes: two flat loops over a cached :class:`Schedule`.

These are the hot path. They read and write one list of values (or gradients)
by position and never look at networkx; everything that can be worked out in
advance is in the schedule. Each loop is wrapped in one ``try`` (free in
CPython 3.11 until something raises) so that any failure is reported with the
node's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce
from operator import add
from typing import Any, NamedTuple

import numpy as np

from cgraph.engine.diagnostics import (
    as_gradient_tuple,
    backward_failure,
    forward_failure,
    is_finite,
    non_finite_gradient,
    non_finite_input,
    non_finite_output,
)
from cgraph.engine.nodes import plain_value
from cgraph.engine.schedule import Schedule
from cgraph.errors import GraphError
from cgraph.ops import numeric
from cgraph.ops.arrays import float_dtype
from cgraph.ops.kinds import nan_safe
from cgraph.ops.namespaces import is_foreign, namespace
from cgraph.ops.numeric import zeros_like
from cgraph.ops.operation import unbroadcast

__all__ = [
    "EvaluatedPass",
    "fitted",
    "gradients_by_name",
    "leaf_values",
    "ones_like",
    "run_backward",
    "run_forward",
]


class EvaluatedPass(NamedTuple):
    """A forward pass that succeeded: what ``backward`` differentiates.

    Attributes
    ----------
    schedule : Schedule
        The schedule evaluated.
    values : list
        Every node's value, in the schedule's order (inputs as fed).
    feed : dict of str to value
        The inputs fed for this pass only.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0)
    >>> cg.add_computation_node("y", "exp", ("x",))
    >>> _ = cg.forward("y", feed={"x": 0.0})
    >>> cg.last_pass.values, cg.last_pass.feed
    ([0.0, 1.0], {'x': 0.0})
    """

    schedule: Schedule
    values: list[Any]
    feed: dict[str, Any]


def run_forward(schedule: Schedule, feed: dict[str, Any], check_finite: bool = False) -> list[Any]:
    """Evaluate every node of the schedule; return the values by position.

    Parameters
    ----------
    schedule : Schedule
        What to evaluate, in order.
    feed : dict of str to value
        Input values that replace the inputs' own ones for this pass.
    check_finite : bool
        Raise on the first non-finite input or output.

    Returns
    -------
    list
        One value per position of ``schedule.nodes``; the root's is last.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> run_forward(Schedule(cg.nodes["y"]), {"x": 2.0})
    [2.0, 4.0]
    """
    values = leaf_values(schedule, feed)
    if check_finite:
        for pos in range(schedule.leaf_count):
            if not is_finite(values[pos]):
                raise non_finite_input(schedule.nodes[pos], values[pos])
    try:
        for pos, node, op, parents in schedule.steps:
            if len(parents) == 2:
                out = op.forward(values[parents[0]], values[parents[1]])
            elif len(parents) == 1:
                out = op.forward(values[parents[0]])
            else:
                out = op.forward(*[values[parent] for parent in parents])
            values[pos] = out
            if check_finite and not is_finite(out):
                raise non_finite_output(node, values, parents, out)
    except Exception as error:
        if isinstance(error, GraphError) and error.nodes:
            raise
        # Anything an op raised, its own GraphErrors included, now names the node.
        raise forward_failure(node, values, parents, error) from error
    return values


def leaf_values(schedule: Schedule, feed: Mapping[str, Any]) -> list[Any]:
    """A list of values by position with the leaves filled in, fed ones replacing their own.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> leaf_values(Schedule(cg.nodes["y"]), {"x": 2.0})
    [2.0, None]
    """
    nodes = schedule.nodes
    values: list[Any] = [None] * len(nodes)
    for pos in range(schedule.leaf_count):
        leaf = nodes[pos]
        values[pos] = feed.get(leaf.name, leaf.output) if feed else leaf.output
    return values


def run_backward(
    schedule: Schedule, values: list[Any], seed: Any, check_finite: bool = False
) -> list[Any]:
    """Pull ``seed`` back from the root to every node that leads to a trainable input.

    Visits the operation nodes in reverse topological order; each one's
    gradient, pulled back through its operation's rule (``pullback`` on numbers),
    is summed into its inputs' gradients after being summed back to each input's
    shape.

    Parameters
    ----------
    schedule : Schedule
        The schedule the values were computed with.
    values : list
        The values of the forward pass, by position.
    seed : float or numpy.ndarray
        The root's gradient, shaped like its value.
    check_finite : bool
        Raise on the first op that turns a finite gradient into a non-finite one.

    Returns
    -------
    list
        One gradient per position: ``None`` where the node leads to no trainable input.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> schedule = Schedule(cg.nodes["y"])
    >>> run_backward(schedule, run_forward(schedule, {}), 1.0)
    [6.0, 1.0]
    """
    grads: list[Any] = [None] * len(values)
    grads[-1] = seed
    contributions = schedule.contributions
    guarded = schedule.guarded
    in_order = _Contributions  # local names: looked up on every node
    p = numeric
    try:
        for pos, node, op, parents, targets in schedule.grad_steps:
            upstream = grads[pos]
            if upstream is None:  # every child returned None for it: it has no effect
                grads[pos] = zeros_like(values[pos])
                continue
            if type(upstream) is in_order:
                upstream = grads[pos] = upstream.total()
            if len(parents) == 2:
                local = op.pullback(
                    p, upstream, values[pos], values[parents[0]], values[parents[1]]
                )
            elif len(parents) == 1:
                local = op.pullback(p, upstream, values[pos], values[parents[0]])
            else:
                local = op.pullback(
                    p, upstream, values[pos], *[values[parent] for parent in parents]
                )
            if type(local) is not tuple or len(local) != len(targets):
                local = as_gradient_tuple(node, local)
            if guarded is not None and guarded[pos]:  # it feeds a where: 0 * inf counts as 0
                local = nan_safe(p, upstream, local)
            # Lengths were checked above; any keyword (strict=) makes zip() twice as slow.
            for target, grad in zip(targets, local):  # noqa: B905
                if target < 0 or grad is None:
                    continue
                if type(grad) is not float or type(values[target]) is not float:
                    grad = fitted(grad, values[target], schedule.nodes[target].name)
                if check_finite and not is_finite(grad):
                    raise non_finite_gradient(node, schedule.nodes[target], values, parents)
                previous = grads[target]
                if previous is None:
                    grads[target] = grad
                elif contributions[target] < 3:  # a + b == b + a exactly: no order to keep
                    grads[target] = previous + grad
                elif type(previous) is in_order:
                    previous.append(grad)
                else:
                    grads[target] = in_order((previous, grad))
    except Exception as error:
        if isinstance(error, GraphError) and error.nodes:
            raise
        # Anything an op raised, its own GraphErrors included, now names the node.
        raise backward_failure(node, error) from error
    for pos in schedule.trainable:
        grad = grads[pos]
        if type(grad) is _Contributions:
            grads[pos] = grad.total()
        elif grad is None:
            grads[pos] = zeros_like(values[pos])
    return grads


class _Contributions(list):
    """Gradients a node received from three or more children, in the reverse of their order.

    A node's gradient is the sum over its children in declaration order,
    dL/dx = sum_c dL/dc dc/dx. Backward meets the children last-first, so for
    three or more it keeps their contributions and adds them up once all have
    arrived: the rounding of every sum is then independent of how the graph
    was traversed. (Two need no keeping, as a + b == b + a exactly.)
    """

    __slots__ = ()

    def total(self) -> Any:
        return reduce(add, reversed(self))


def fitted(grad: Any, value: Any, name: str) -> Any:
    """The gradient summed back to the value's shape; a float for a float value.

    Examples
    --------
    >>> fitted(np.ones((2, 3)), np.zeros(3), "x"), fitted(np.float64(2.0), 1.0, "x")
    (array([2., 2., 2.]), 2.0)
    """
    if type(value) is float:
        return unbroadcast(grad, (), name)
    return unbroadcast(grad, np.shape(value), name)


def ones_like(value: Any) -> Any:
    """The default seed: 1.0 for a scalar, else ones shaped like the value, in a float dtype.

    Examples
    --------
    >>> import numpy as np
    >>> ones_like(2.5), ones_like(np.zeros(2, np.float32))
    (1.0, array([1., 1.], dtype=float32))
    """
    if is_foreign(value):  # a Dask or GPU array's seed is one of its own kind
        return namespace(value).ones(value.shape, dtype=float_dtype(value))
    if not isinstance(value, np.ndarray):
        return 1.0
    return np.ones(value.shape, float_dtype(value))


def gradients_by_name(schedule: Schedule, grads: list[Any]) -> dict[str, Any]:
    """What ``backward`` returns: each trainable input's gradient by name, numpy scalars as floats.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> gradients_by_name(cg.schedule("y"), [np.float64(6.0), 1.0])
    {'x': 6.0}
    """
    named = {}
    for pos, name in schedule.trainable_names:  # a loop: a comprehension costs twice as much
        grad = grads[pos]
        named[name] = grad if type(grad) is float else plain_value(grad)
    return named

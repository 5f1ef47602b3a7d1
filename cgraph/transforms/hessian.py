"""Second derivatives: Hessians and Hessian-vector products, forward mode over reverse mode.

The gradient graph (:mod:`cgraph.transforms.gradient_graph`) computes g(x) = d root / dx with
ordinary nodes, so forward mode can differentiate it: one ``jvp`` sweep of it
with tangent v gives its directional derivative, ``H v``, at the cost of about
two forward passes of the gradient graph, and the Hessian is never formed. A
full Hessian is one such sweep per input element (a column each), reusing one
forward pass. Reverse over reverse (a backward of the gradient graph per
gradient element) needs as many sweeps; forward over reverse also keeps every
sweep a flat loop over values already computed.

The gradient graph of a (root, wrt) pair is built once and kept on the graph
until its structure changes (the graph then drops it) or an input's shape does,
so repeated ``hvp`` calls, as in Newton-CG or a Lanczos iteration, cost only
their sweep. The graph itself is never changed: its values and gradients stay
as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.engine.nodes import plain_value
from cgraph.engine.passes import run_forward
from cgraph.engine.schedule import Schedule
from cgraph.errors import InvalidValueError, ShapeError
from cgraph.ops.arrays import as_output
from cgraph.ops.operation import Operation
from cgraph.transforms.forward_mode import checked_tangent, leaf_positions, run_jvp, unit_vector
from cgraph.transforms.gradient_graph import gradient_graph, gradient_name, wrt_names

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["hvp", "hessian"]


class _Joined(Operation):
    """The gradients raveled and joined, so that one sweep carries every block (unregistered)."""

    def forward(self, *blocks: Any) -> Any:
        self.shapes = [np.shape(block) for block in blocks]
        return np.concatenate([np.ravel(block) for block in blocks])

    def backward(self, upstream: Any) -> tuple[Any, ...]:
        splits = np.cumsum([int(np.prod(shape)) for shape in self.shapes[:-1]])
        return tuple(
            np.reshape(part, shape)
            for part, shape in zip(np.split(upstream, splits), self.shapes, strict=True)
        )

    def jvp(self, *tangents: Any) -> Any:
        return np.concatenate(
            [
                np.zeros(int(np.prod(shape))) if t is None else np.ravel(t)
                for t, shape in zip(tangents, self.shapes, strict=True)
            ]
        )


@dataclass
class _Plan:
    """A gradient graph ready to sweep: its schedule, where the inputs sit, how to split."""

    leaf_shapes: tuple[tuple[int, ...], ...]  # still valid while the leaves keep these shapes
    sweep: Schedule
    positions: dict[str, int]  # of the leaves, by name
    names: list[str]
    shapes: list[tuple[int, ...]]


def _plan(
    cg: GraphCore, root: str | None, names: list[str], feed: Mapping[str, Any], what: str
) -> _Plan:
    """The cached plan for (root, names), built when missing or stale."""
    schedule = cg.schedule(root)
    leaves = schedule.nodes[: schedule.leaf_count]
    leaf_shapes = tuple(np.shape(feed.get(leaf.name, leaf.output)) for leaf in leaves)
    # The graph drops its plans when its structure changes; a shape can change without that.
    plans = cg.structure_cache("hessian")
    plan = plans.get((schedule.root.name, tuple(names)))
    if plan is not None and plan.leaf_shapes == leaf_shapes:
        return plan
    gg = gradient_graph(cg, schedule.root.name, names, feed)
    root_value = gg.nodes[schedule.root.name].output
    if np.ndim(root_value) != 0:
        raise ShapeError(
            f"{what}: root {schedule.root.name!r} has shape {np.shape(root_value)}, but a "
            "Hessian is of a scalar; reduce it to one number first (a 'sum' or 'mean' node)",
            nodes=[schedule.root.name],
        )
    outputs = [gradient_name(schedule.root.name, name) for name in dict.fromkeys(names)]
    if len(outputs) > 1:  # one sink joining them, so one sweep gives every block
        gg.add_computation_node(f"grad/{schedule.root.name}", _Joined(), outputs)
        outputs = [f"grad/{schedule.root.name}"]
    sweep = gg.schedule(outputs[0])
    plan = _Plan(
        leaf_shapes,
        sweep,
        leaf_positions(sweep),
        names,
        # from the graph itself: an input the root does not read is not in the gradient graph
        [np.shape(feed.get(name, cg.nodes[name].output)) for name in names],
    )
    plans[(schedule.root.name, tuple(names))] = plan
    return plan


def _leaf_feed(cg: GraphCore, plan: _Plan, feed: Mapping[str, Any]) -> dict[str, Any]:
    """The graph's current leaf values (and the feed), so a cached plan sees today's point."""
    nodes = cg.nodes
    return {
        leaf.name: feed.get(leaf.name, nodes[leaf.name].output)
        for leaf in plan.sweep.nodes[: plan.sweep.leaf_count]
        if leaf.name in nodes
    }


def _blocks(plan: _Plan, tangent: Any) -> list[Any]:
    """The swept tangent split into one block per distinct input, shaped like it."""
    shapes = dict(zip(plan.names, plan.shapes, strict=True))
    if len(shapes) == 1:
        return [tangent]
    sizes = np.cumsum([int(np.prod(shape)) for shape in shapes.values()])[:-1]
    return [
        np.reshape(part, shape)
        for part, shape in zip(np.split(tangent, sizes), shapes.values(), strict=True)
    ]


def hvp(
    cg: GraphCore,
    root: str | None,
    wrt: str | Sequence[str],
    v: Any,
    feed: Mapping[str, Any] | None = None,
) -> Any:
    """The Hessian-vector product H v of a scalar root, without forming the Hessian.

    One forward-mode (``jvp``) sweep of the gradient graph with tangent ``v``:
    about the cost of two forward passes, whatever the number of inputs. The
    gradient graph is built on the first call and kept until the graph's
    structure (or an input's shape) changes, so repeated calls (Newton-CG,
    power iteration) cost only their sweep. The graph's values and gradients
    are not changed.

    Parameters
    ----------
    root : str or None
        A node holding a single number; None for the graph's only sink.
    wrt : str or sequence of str
        A trainable input's name, or several.
    v : float, array_like, dict or sequence
        The direction: shaped like the input for a name; for a list of names, a
        dict by name (names left out have direction zero) or one part per name.
    feed : mapping of str to value, optional
        Input values for this call only, as for ``forward``.

    Returns
    -------
    float, numpy.ndarray, or tuple of them
        H v, shaped like the input; for a list of names a tuple, one part per
        name: ``(H v)_i = sum_j H[i][j] v_j``.

    Raises
    ------
    ShapeError
        If the root is not a single number, or ``v`` does not fit the inputs.
    InvalidValueError
        If ``v`` names an input not in ``wrt``, or is not numeric.
    UnknownNodeError, NoGradientError, InvalidOperationError
        As for :meth:`gradient_graph`.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> import numpy as np
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=np.array([1.0, 2.0]))
    >>> cg.add_computation_node("c", "mul", ("x", "x"))
    >>> cg.add_computation_node("q", "mul", ("c", "x"))
    >>> cg.add_computation_node("f", "sum", ("q",))          # sum of x_i^3: H = diag(6 x)
    >>> cg.hvp("f", "x", np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    names = wrt_names(cg, wrt, "hvp")
    feed = cg.check_feed(feed)
    if isinstance(wrt, str):
        directions = {names[0]: v}
    elif isinstance(v, Mapping):
        unknown = [name for name in v if name not in names]
        if unknown:
            raise InvalidValueError(
                f"hvp: v names {unknown[0]!r}, which is not in wrt {names}; give v by the "
                "names in wrt (a name left out has direction zero)",
                nodes=[str(unknown[0])],
            )
        directions = dict(v)
    else:
        if len(v) != len(names):
            raise ShapeError(
                f"hvp: v has {len(v)} parts for the {len(names)} inputs in wrt; "
                "give one per input, in order, or a dict by name",
                nodes=names,
            )
        directions = dict(zip(names, v, strict=True))
    plan = _plan(cg, root, names, feed, "hvp")
    seeds = {}
    for name, direction in directions.items():
        point = feed.get(name, cg.inputs[name].output)
        direction = checked_tangent(name, point, direction)
        if name in plan.positions:  # an input the gradient does not depend on: H v = 0 there
            seeds[plan.positions[name]] = direction
    values, tangents = run_jvp(plan.sweep, _leaf_feed(cg, plan, feed), seeds)
    swept = tangents[-1]
    if swept is None:
        swept = np.zeros(np.shape(values[-1]))
    blocks = dict(zip(dict.fromkeys(names), _blocks(plan, swept), strict=True))
    result = tuple(plain_value(as_output(blocks[name])) for name in names)
    return result[0] if isinstance(wrt, str) else result


def hessian(
    cg: GraphCore,
    root: str | None,
    wrt: str | Sequence[str],
    feed: Mapping[str, Any] | None = None,
) -> Any:
    """The Hessian of a scalar root, shaped like torch.autograd.functional.hessian's.

    ``H[i..., j...] = d^2 root / dx[i...] dx[j...]``, shaped ``x.shape + x.shape``.
    For a list of inputs, a tuple of tuples of blocks: ``H[i][j]`` is shaped
    ``x_i.shape + x_j.shape``. Computed forward over reverse: the gradient graph
    (built once and kept until the graph's structure changes) is evaluated once,
    then one ``jvp`` sweep per input element gives a column. The graph's values
    and gradients are not changed.

    Parameters
    ----------
    root : str or None
        A node holding a single number; None for the graph's only sink.
    wrt : str or sequence of str
        A trainable input's name, or several.
    feed : mapping of str to value, optional
        Input values for this call only, as for ``forward``.

    Returns
    -------
    numpy.ndarray, float, or tuple of tuples of them
        A float when the input is a single number.

    Raises
    ------
    ShapeError
        If the root is not a single number (shape ``()``).
    UnknownNodeError, InvalidValueError, NoGradientError, InvalidOperationError
        As for :meth:`gradient_graph`.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0, y=2.0)
    >>> cg.add_computation_node("xy", "mul", ("x", "y"))
    >>> cg.add_computation_node("f", "mul", ("xy", "y"))     # f = x y^2
    >>> cg.hessian("f", "y")                                  # 2 x
    2.0
    >>> H = cg.hessian("f", ["x", "y"])
    >>> H[0][1], H[1][0]                                      # 2 y, both ways
    (4.0, 4.0)
    """
    names = wrt_names(cg, wrt, "hessian")
    feed = cg.check_feed(feed)
    plan = _plan(cg, root, names, feed, "hessian")
    distinct = list(dict.fromkeys(names))
    shapes = dict(zip(plan.names, plan.shapes, strict=True))
    values = run_forward(plan.sweep, _leaf_feed(cg, plan, feed))
    blocks = {
        (row, column): np.zeros(shapes[row] + shapes[column])
        for row in distinct
        for column in distinct
    }
    for column in distinct:
        if column not in plan.positions:
            continue
        point = values[plan.positions[column]]
        for index in np.ndindex(shapes[column]):
            seed = {plan.positions[column]: unit_vector(point, index)}
            tangent = run_jvp(plan.sweep, {}, seed, values)[1][-1]
            if tangent is None:
                continue
            for row, block in zip(distinct, _blocks(plan, tangent), strict=True):
                blocks[row, column][(..., *index)] = block
    if isinstance(wrt, str):
        return as_output(blocks[names[0], names[0]])
    return tuple(tuple(as_output(blocks[row, column]) for column in names) for row in names)

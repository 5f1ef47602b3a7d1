"""A loop's derivative rules written out as nodes: the adjoint and the tangent of a loop are loops.

A gradient graph (or tangent graph) runs each op's rule on terms, which declares
the rule as nodes. For a loop ``y = loop(c_0, xs, w)`` with
``c_{t+1} = f(c_t, x_t, w)``, :func:`adjoint` declares its pullback as two
loops, as JAX transposes a ``scan``:

- the *trajectory*: the same loop, stacking each iteration's carries before
  it runs (``c_0 ... c_{T-1}``; the carries are packed into one flat row when
  there are several);
- the *adjoint*: a loop over the iterations backwards, reading row t of the
  trajectory, whose body is the gradient graph (built by
  :func:`cgraph.transforms.gradient_graph`) of
  ``L_t = <a, f(c_t, x_t, w)> + <u_t, y_t>``, the body's vector-Jacobian
  product. It carries the carries' adjoints ``a = dL/dc_{t+1}`` (updated to
  ``dL/dc_t``) and stacks, per iteration, the gradients the loop's inputs
  want, packed into one row: the xs' gradients are those rows, the fixed
  inputs' gradients their sum, the initial carries' the row of iteration 0.

:func:`tangent` declares the pushforward as one loop whose body is the body
joined with its tangent graph (:func:`cgraph.transforms.tangent_graph`),
carrying each carry and its tangent.

Both are built of registered ops and :class:`~cgraph.loops.op.Loop` nodes,
whose rules are these, so they differentiate again: a Hessian (forward over
reverse) pushes tangents through the adjoint loop numerically, and a gradient
graph of a gradient graph applies :func:`adjoint` to the adjoint. Carries must
keep their shape from one iteration to the next (the body's gradient graph is
built for one shape); ``until=`` loops work too: the trajectory stops on the
condition, and the adjoint runs over as many rows as it stacked.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> step = ComputationalGraph()                  # x' = r x (1 - x)
>>> step.add_inputs(x=0.0, r=0.0)
>>> _ = step.add_expression("x_next", "r * x * (1 - x)")
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x0=0.2, r=2.5)
>>> cg.add_loop("x", step, carry={"x": "x0"}, updates={"x": "x_next"},
...             inputs={"r": "r"}, steps=3)
'x'
>>> gg = cg.gradient_graph("x", "r")
>>> for name in ("grad/x/x/loop", "grad/x/x/loop_2"):   # the trajectory, the adjoint
...     print(gg.operations[name].op)
Loop(carry=('x',), steps=3, output='carries', stack=True)
Loop(carry=('adjoint/x',), steps=None, output='pack', stack=True, reverse=True)
>>> cg.forward("x")
0.6000000000000001
>>> gg.forward("grad/x/r") == cg.backward("x")["r"]
True
>>> cg.hessian("x", "r")                         # forward mode through the adjoint loop
-0.6079999999999999
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cgraph.engine.core import GraphCore
from cgraph.engine.nodes import Input, OperationNode
from cgraph.engine.passes import run_forward
from cgraph.errors import InvalidOperationError
from cgraph.loops.op import ROOT, SYMBOLIC_RULES, Loop, LoopBody, Outputs
from cgraph.ops.terms import Term, apply, value_of
from cgraph.subgraphs import add_subgraph, ancestors
from cgraph.transforms.gradient_graph import gradient_graph, gradient_name
from cgraph.transforms.tangent_graph import tangent_graph, tangent_name

__all__ = ["adjoint", "tangent"]


# --------------------------------------------------------------------------------------
# What both rules read of the loop
# --------------------------------------------------------------------------------------


class _Setting:
    """A loop node's body and inputs as the rules need them: names, values, the first point."""

    def __init__(self, op: Loop, inputs: Sequence[Any]) -> None:
        body = self.body = op.loop_body
        self.op = op
        self.inputs = list(inputs)
        self.names = [*body.carries, *body.sequences, *body.constants]
        values = [value_of(item) for item in inputs]
        self.value = dict(zip(self.names, values, strict=True))
        carried, along = len(body.carries), len(body.sequences)
        self.count = op._count(values[carried : carried + along])  # checks the sequences
        nodes = body.schedule.nodes
        self.update = {
            carry: nodes[pos].name for carry, pos in zip(body.carries, body.updates, strict=True)
        }
        self.out = nodes[body.output].name  # the body node whose value the loop gives
        self.until = None if body.until is None else nodes[body.until].name
        # The first iteration's element of each sequence (the last one, run in reverse).
        self.first = len(values[carried]) - 1 if op.reverse and along else 0
        self.at: dict[str, Any] = {}  # the body's values in the first iteration, by point()

    def point(self) -> dict[str, Any]:
        """The body inputs' values in the first iteration; the body's values there, checked.

        A carry starting as an integer that its update makes a float is a float
        from the first point on, so that it has a gradient and a tangent.
        """
        body = self.body
        point = {name: self.value[name] for name in (*body.carries, *body.constants)}
        for name in body.sequences:
            point[name] = _element(self.value[name], self.first)
        values = run_forward(body.schedule, point)
        self.at = {
            node.name: value for node, value in zip(body.schedule.nodes, values, strict=True)
        }
        for carry in body.carries:
            start, update = point[carry], self.at[self.update[carry]]
            if np.shape(start) != np.shape(update):
                raise InvalidOperationError(
                    f"loop node {self.op.label!r}: carry {carry!r} has shape "
                    f"{np.shape(start)} before the first iteration and {np.shape(update)} "
                    f"after it; gradient and tangent graphs of a loop need each carry to "
                    f"keep its shape: give its initial value the shape of its update",
                    nodes=[self.op.label],
                )
            if _is_float(update) and not _is_float(start):
                point[carry] = _element(np.asarray(start, dtype=float)[np.newaxis], 0)
        return point

    def graph(self, point: dict[str, Any]) -> GraphCore:
        """A copy of the body's nodes (its root left out), every input trainable, at ``point``."""
        nodes = self.body.schedule.nodes[:-1]
        graph = GraphCore()
        for node in nodes:
            if isinstance(node, Input):
                graph.add_input(node.name, point.get(node.name, node.output), trainable=True)
            elif not isinstance(node, OperationNode):
                graph.add_constant(node.name, node.output)
        graph.add_computation_nodes(
            (node.name, node.op, node.input_names)
            for node in nodes
            if isinstance(node, OperationNode)
        )
        return graph

    def loop(self, loop_body: LoopBody, label: str, output: str, **options: Any) -> Loop:
        """A loop over ``loop_body`` keeping this one's count, checks and direction."""
        op = self.op
        settings: dict[str, Any] = {
            "steps": op.steps,
            "stack": op.stack,
            "until": op.until,
            "max_steps": op.max_steps,
            "checkpoint": op.checkpoint,
            "check_finite": op.check_finite,
            "reverse": op.reverse,
        }
        settings.update(options)
        return Loop(loop_body, label, output=output, **settings)


def _element(sequence: Any, index: int) -> Any:
    element = np.asarray(sequence)[index]
    return element.item() if element.ndim == 0 else element


def _is_float(value: Any) -> bool:
    return bool(np.asarray(value).dtype.kind == "f")


def _fresh(graph: GraphCore, name: str) -> str:
    while name in graph.nodes:
        name += "'"
    return name


def _root(graph: GraphCore, name: str, prefix: str) -> str:
    """A root's name not taken, under which ``{prefix}/{root}/...`` names no node either.

    A gradient graph names its nodes ``grad/{root}/...`` and a tangent graph
    ``tangent/{root}/...``: in a body that is itself such a graph (a loop's
    adjoint differentiated again), the root's name must not bring back a taken one.
    """
    while name in graph.nodes or any(node.startswith(f"{prefix}/{name}/") for node in graph.nodes):
        name += "'"
    return name


def _node(graph: GraphCore, name: str, op: str, inputs: Sequence[str], **params: Any) -> str:
    """Declare an op node under a name not taken; return the name."""
    name = _fresh(graph, name)
    graph.add_computation_node(name, op, tuple(inputs), **params)
    return name


def _pack(graph: GraphCore, name: str, parts: Sequence[str], shapes: Sequence[Any]) -> str:
    """One node holding ``parts``: a lone part as it is, several raveled and joined."""
    if len(parts) == 1:
        return _node(graph, name, "reshape", parts, shape=tuple(shapes[0]))
    flat = [_node(graph, f"{name}/{part}", "reshape", [part], shape=(-1,)) for part in parts]
    return _node(graph, name, "concat", flat, axis=0)


def _offsets(shapes: Sequence[Any]) -> list[tuple[int, int]]:
    """Where each part sits in a packed row: (start, stop)."""
    stops = np.cumsum([int(np.prod(shape)) for shape in shapes])
    return [
        (int(stop - np.prod(shape)), int(stop)) for shape, stop in zip(shapes, stops, strict=True)
    ]


# --------------------------------------------------------------------------------------
# The pullback: the trajectory, then the adjoint loop over it
# --------------------------------------------------------------------------------------


def adjoint(op: Loop, upstream: Term, inputs: Sequence[Any]) -> tuple[Any, ...]:
    """The loop's pullback as terms: one gradient (or None) per input of the node.

    The gradients are read from one adjoint loop that stacks, per iteration,
    the wanted gradients packed into one row (see the module's description).

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.ops.terms import Term
    >>> body = ComputationalGraph()
    >>> body.add_inputs(h=0.0, w=0.0)
    >>> body.add_computation_node("h_next", "mul", ("h", "w"))
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(h0=1.0, w=2.0)
    >>> _ = cg.add_loop("h", body, carry={"h": "h0"}, updates={"h": "h_next"},
    ...                 inputs={"w": "w"}, steps=3)       # h = h0 w^3
    >>> grads = adjoint(cg.operations["h"].op, Term.node("u", 1.0),
    ...                 [Term.node("h0", 1.0), Term.node("w", 2.0)])
    >>> [grad.value for grad in grads]                     # w^3, 3 h0 w^2
    [8.0, 12.0]
    """
    setting = _Setting(op, inputs)
    body = setting.body
    grads: list[Any] = [None] * len(inputs)
    if op.until is None and setting.count == 0:  # the output is the initial carry itself
        grads[body.carries.index(op.output)] = upstream
        return tuple(grads)
    point = setting.point()
    floats = [carry for carry in body.carries if _is_float(setting.at[setting.update[carry]])]
    wanted = {
        name
        for index, name in enumerate(setting.names)
        if op.wants_grad(index)
        and _is_float(point[name])
        and (name not in body.carries or _is_float(setting.value[name]))
    }
    vjp = _Vjp(setting, point, floats)
    if vjp.root is None:
        return tuple(grads)
    solved = vjp.gradients([name for name in setting.names if name in floats or name in wanted])
    parts = [
        name
        for name in setting.names
        if name in wanted and name in solved and solved[name] is not None
    ]
    if not parts:
        return tuple(grads)
    rows = _adjoint_loop(setting, vjp, solved, parts, floats, upstream)
    shapes = [np.shape(point[name]) for name in parts]
    packed = len(parts) > 1
    first = -1 if op.reverse else 0  # the row of the forward's iteration 0
    for name, shape, (start, stop) in zip(parts, shapes, _offsets(shapes), strict=True):
        columns = slice(start, stop)
        if name in body.carries:
            grad = (
                apply("reshape", apply("index", rows, index=(first, columns)), shape=shape)
                if packed
                else apply("index", rows, index=first)
            )
        elif name in body.sequences:
            grad = (
                apply(
                    "reshape",
                    apply("index", rows, index=(slice(None), columns)),
                    shape=(-1, *shape),
                )
                if packed
                else rows
            )
        else:
            every = apply("index", rows, index=(slice(None), columns)) if packed else rows
            grad = apply("sum", every, axis=0)
            if packed:
                grad = apply("reshape", grad, shape=shape)
        grads[setting.names.index(name)] = grad
    return tuple(grads)


class _Vjp:
    """The body's vector-Jacobian product as a graph: the gradient graph of a scalar ``L``.

    ``L = sum_i <a_i, update_i> + <s, y>``: ``a_i`` the adjoint of carry i after
    the iteration, ``y`` the node the loop gives, ``s`` its upstream in this
    iteration (``u_t`` stacked; ``first * u``, only in the last iteration, for
    a body node the loop gives once; none for a carry, seeded in ``a``).
    """

    def __init__(self, setting: _Setting, point: dict[str, Any], floats: list[str]) -> None:
        op, at = setting.op, setting.at
        graph = self.graph = setting.graph(point)
        self.adjoints: dict[str, str] = {}
        self.upstream = self.first = None
        products = []
        for carry in floats:
            update = setting.update[carry]
            adj = self.adjoints[carry] = _fresh(graph, f"adjoint/{carry}")
            graph.add_input(adj, np.zeros_like(np.asarray(at[update], dtype=float)))
            products.append(_node(graph, f"{adj}/product", "mul", [adj, update]))
        out_value = at[setting.out]
        seeded = op.stack or op.output not in setting.body.carries
        if seeded and _is_float(out_value):
            self.upstream = _fresh(graph, "upstream")
            graph.add_input(self.upstream, np.zeros_like(np.asarray(out_value, dtype=float)))
            seed = self.upstream
            if not op.stack:
                self.first = _fresh(graph, "first")
                graph.add_input(self.first, 1.0)
                seed = _node(graph, f"{seed}/last", "mul", [self.first, seed])
            products.append(_node(graph, f"{seed}/product", "mul", [seed, setting.out]))
        self.root: str | None = None
        root = _root(graph, "L", "grad")
        if len(products) == 1:
            self.root = _node(graph, root, "sum", products)
        elif products:
            dots = [_node(graph, f"{product}/sum", "sum", [product]) for product in products]
            total = dots[0]
            for count, dot in enumerate(dots[1:], start=2):
                name = root if count == len(dots) else f"{root}/sum"
                total = _node(graph, name, "add", [total, dot])
            self.root = total
        self.point = point
        self.gradient: GraphCore | None = None

    def gradients(self, names: list[str]) -> dict[str, str | None]:
        """``grad/L/name`` for each name (None: zero), declared in :attr:`gradient`."""
        graph, root = self.graph, self.root
        assert root is not None
        wrt = [name for name in names if name in graph.inputs]
        self.gradient = gradient_graph(graph, root, wrt) if wrt else None
        solved: dict[str, str | None] = {}
        for name in names:
            grad = gradient_name(root, name)
            solved[name] = (
                grad
                if self.gradient is not None and name in wrt and grad in self.gradient.operations
                else None
            )
        return solved


def _adjoint_loop(
    setting: _Setting,
    vjp: _Vjp,
    solved: dict[str, str | None],
    parts: list[str],
    floats: list[str],
    upstream: Term,
) -> Term:
    """The adjoint loop's term: per iteration, the packed row of the wanted gradients."""
    op, body, point = setting.op, setting.body, vjp.point
    step = GraphCore()  # the adjoint's body; its names are its own, the body's under vjp/
    bound: dict[str, str] = {}  # each input of the body's gradient graph: the node feeding it
    carries, starts = [], []
    for carry in floats:
        name = f"adjoint/{carry}"
        step.add_input(name, vjp.graph.inputs[vjp.adjoints[carry]].output)
        bound[vjp.adjoints[carry]] = name
        carries.append(name)
        seeded = not op.stack and op.output == carry  # the loop gives its last value
        starts.append(upstream if seeded else np.zeros_like(step.inputs[name].output))
    sequences, along = [], []
    for rows, group in _trajectories(setting, point):
        name = _fresh(step, "carries")
        sequences.append(name)
        along.append(rows)
        if len(group) == 1:
            step.add_input(name, point[group[0]])
            bound[group[0]] = name
            continue
        step.add_input(name, np.concatenate([np.ravel(point[carry]) for carry in group]))
        shapes = [np.shape(point[carry]) for carry in group]
        for carry, shape, (start, stop) in zip(group, shapes, _offsets(shapes), strict=True):
            flat = _node(step, f"carry/{carry}/flat", "index", [name], index=slice(start, stop))
            bound[carry] = _node(step, f"carry/{carry}", "reshape", [flat], shape=shape)
    for name in body.sequences:
        bound[name] = f"xs/{name}"
        step.add_input(bound[name], point[name])
        sequences.append(bound[name])
        along.append(setting.inputs[setting.names.index(name)])
    constants, fixed = [], []
    for name in body.constants:
        bound[name] = f"inputs/{name}"
        step.add_input(bound[name], point[name])
        constants.append(bound[name])
        fixed.append(setting.inputs[setting.names.index(name)])
    if vjp.first is not None:  # 1 in the first iteration run (the forward's last), then 0
        step.add_input("first", 1.0)
        bound[vjp.first] = "first"
    if vjp.upstream is not None:  # per iteration when stacked, else the same each time
        step.add_input("upstream", vjp.graph.inputs[vjp.upstream].output)
        bound[vjp.upstream] = "upstream"
        (sequences if op.stack else constants).append("upstream")
        (along if op.stack else fixed).append(upstream)
    gradient = vjp.gradient
    assert gradient is not None
    declared = add_subgraph(
        step,
        "vjp",
        gradient,
        inputs={inner: outer for inner, outer in bound.items() if inner in gradient.inputs},
        outputs=[grad for grad in solved.values() if grad is not None],
    )
    updates = []
    for carry, name in zip(floats, carries, strict=True):
        grad = solved[carry]
        if grad is None:  # nothing in the body carries it back: its adjoint is zero
            zero = _fresh(step, f"{name}/zero")
            step.add_constant(zero, np.zeros_like(step.inputs[name].output))
            updates.append(zero)
        else:
            updates.append(declared[grad])
    if vjp.first is not None:
        step.add_constant("zero", 0.0)
        step.add_computation_node("first/next", "mul", ("first", "zero"))
        carries.append("first")
        updates.append("first/next")
        starts.append(1.0)
    row = [declared[str(solved[name])] for name in parts]
    pack = _pack(step, "pack", row, [np.shape(point[name]) for name in parts])
    loop_body = LoopBody.build(
        step, carries, sequences, constants, updates, pack, reads_output=True
    )
    loop = setting.loop(
        loop_body,
        f"adjoint of {op.label}",
        pack,
        steps=None,  # as many iterations as the trajectory has rows
        stack=True,
        until=None,
        max_steps=None,
        reverse=not op.reverse,
    )
    return apply(loop, *starts, *along, *fixed)


def _trajectories(setting: _Setting, point: dict[str, Any]) -> list[tuple[Term, list[str]]]:
    """Loops stacking the carries before each iteration: the floats packed, the rest apart."""
    body, op = setting.body, setting.op
    floats = [c for c in body.carries if _is_float(point[c])]
    others = [c for c in body.carries if not _is_float(point[c])]
    made = []
    for group in (floats, others):
        if not group:
            continue
        graph = setting.graph(point)
        pack = _pack(graph, _fresh(graph, "carries"), group, [np.shape(point[c]) for c in group])
        loop_body = LoopBody.build(
            graph,
            body.carries,
            body.sequences,
            body.constants,
            [setting.update[carry] for carry in body.carries],
            pack,
            reads_output=True,
            until=setting.until,
        )
        loop = setting.loop(loop_body, f"carries of {op.label}", pack, stack=True)
        made.append((apply(loop, *setting.inputs), group))
    return made


# --------------------------------------------------------------------------------------
# The pushforward: one loop carrying each carry and its tangent
# --------------------------------------------------------------------------------------


def tangent(op: Loop, tangents: Sequence[Any], inputs: Sequence[Any]) -> Any:
    """The loop's pushforward as a term: the tangent of its value, or None where it is zero.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.ops.terms import Term
    >>> body = ComputationalGraph()
    >>> body.add_inputs(h=0.0, w=0.0)
    >>> body.add_computation_node("h_next", "mul", ("h", "w"))
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(h0=1.0, w=2.0)
    >>> _ = cg.add_loop("h", body, carry={"h": "h0"}, updates={"h": "h_next"},
    ...                 inputs={"w": "w"}, steps=3)       # h = h0 w^3
    >>> float(tangent(cg.operations["h"].op, (None, Term.node("dw", 1.0)),
    ...         [Term.node("h0", 1.0), Term.node("w", 2.0)]).value)   # 3 h0 w^2
    12.0
    """
    setting = _Setting(op, inputs)
    body = setting.body
    if op.until is None and setting.count == 0:
        return tangents[body.carries.index(op.output)]
    point = setting.point()
    at = setting.at
    graph = setting.graph(point)
    reads = {
        name: {node.name for node in ancestors(graph, [name]) if isinstance(node, Input)}
        for name in (*setting.update.values(), setting.out)
    }
    moving = {
        name
        for name, item in zip(setting.names, tangents, strict=True)
        if item is not None and _is_float(point[name])
    }
    grown = True
    while grown:  # a carry moves once its update reads something that moves
        grown = False
        for carry in body.carries:
            if carry in moving or not _is_float(point[carry]):
                continue
            if reads[setting.update[carry]] & moving:
                moving.add(carry)
                grown = True
    given = not op.stack and op.output in body.carries
    if not (op.output in moving if given else reads[setting.out] & moving):
        return None
    root = _root(graph, ROOT, "tangent")
    read = [*setting.update.values(), setting.out, *([setting.until] if setting.until else [])]
    graph.add_computation_node(root, Outputs(), read)
    seeds = {}
    for name, item in zip(setting.names, tangents, strict=True):
        if name in moving and name in graph.inputs:
            value = (
                np.zeros_like(np.asarray(point[name], dtype=float))
                if item is None
                else value_of(item)
            )
            seeds[name] = _element(value, setting.first) if name in body.sequences else value
    if not seeds:
        return None
    joined = tangent_graph(graph, root, seeds)
    named = {name: tangent_name(root, name) for name in setting.names}

    def moved(node: str, like: Any) -> str:
        """The tangent of a body node in the joined graph; a zero constant if it has none."""
        name = tangent_name(root, node)
        if name in joined.nodes:
            return name
        zero = _fresh(joined, f"{name}/zero")
        joined.add_constant(zero, np.zeros_like(np.asarray(like, dtype=float)))
        return zero

    carries = [*body.carries, *(named[c] for c in body.carries if c in moving)]
    updates = [setting.update[c] for c in body.carries] + [
        moved(setting.update[c], at[setting.update[c]]) for c in body.carries if c in moving
    ]
    sequences = [*body.sequences, *(named[x] for x in body.sequences if x in moving)]
    constants = [*body.constants, *(named[w] for w in body.constants if w in moving)]
    if given:
        output = named[op.output]
        node = updates[carries.index(output)]
    else:
        if tangent_name(root, setting.out) not in joined.nodes:
            return None  # the rules on the way gave no tangent: it is zero
        output = node = tangent_name(root, setting.out)
    loop_body = LoopBody.build(
        joined,
        carries,
        sequences,
        constants,
        updates,
        node,
        reads_output=not given,
        until=setting.until,
    )
    loop = setting.loop(loop_body, f"tangent of {op.label}", output)

    def starts(names: Sequence[str], offset: int) -> list[Any]:
        moved_items = []
        for index, name in enumerate(names):
            if name in moving:
                item = tangents[offset + index]
                moved_items.append(
                    np.zeros_like(np.asarray(point[name], dtype=float)) if item is None else item
                )
        return moved_items

    carried, along = len(body.carries), len(body.sequences)
    arguments = [
        *setting.inputs[:carried],
        *starts(body.carries, 0),
        *setting.inputs[carried : carried + along],
        *starts(body.sequences, carried),
        *setting.inputs[carried + along :],
        *starts(body.constants, carried + along),
    ]
    return apply(loop, *arguments)


SYMBOLIC_RULES.update(adjoint=adjoint, tangent=tangent)

"""Loops in graph files: each loop's body stored as a graph of its own, listed before its use.

Used by :mod:`cgraph.io`, which describes the format. A graph holding a loop
(:func:`cgraph.loops.add_loop`) is written as version 2: besides ``"nodes"``,
the document holds ``"bodies"``, a list of bodies, each a list of node records
like ``"nodes"``. A loop is a record of kind ``"loop"`` naming its body by
position and binding it as :func:`~cgraph.loops.add_loop` does::

    {"name": "h", "kind": "loop", "body": 0, "carry": {"h": "h0"},
     "updates": {"h": "h_next"}, "xs": {"x": "xs"}, "inputs": {"w": "w"},
     "params": {"steps": null, "output": "h", "stack": false, "until": null,
                "max_steps": null, "checkpoint": null, "check_finite": false}}

The node's inputs are the values of ``"carry"``, ``"xs"`` and ``"inputs"``, in
that order (the objects' order is kept). A body may hold loops too: a loop in
body k names a body listed before it (j < k), and a loop of ``"nodes"`` any
body, so the bodies are built one after the other, innermost first, with no
recursion however deep the nesting. Each body is the body of exactly one loop:
one that no loop uses, or that two use, is refused, so loading copies each
body once and its cost stays that of the file's size.

A body holds what the loop runs: the body's nodes it reads (as the loop
copied them when it was declared, every input trainable) and the inputs it
binds, in evaluation order. Loading declares each body as a graph and the loop
through :func:`cgraph.loops.add_loop`, so every check of declaring a loop
applies, and the loop evaluates the same ops in the same order: the same
values and gradients, bit for bit.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterator
from typing import Any

from cgraph.engine import GraphCore
from cgraph.engine.nodes import Node, OperationNode
from cgraph.errors import GraphFileError
from cgraph.io.values import check_fields, expect, shown
from cgraph.loops import add_loop
from cgraph.loops.op import Loop

__all__ = ["LOOP_FIELDS", "encode_nodes", "loop_parents", "body_users", "declare_loop"]

#: The fields of a loop record, and of its ``"params"``.
LOOP_FIELDS = ("name", "kind", "body", "carry", "updates", "xs", "inputs", "params")
_BINDINGS = ("carry", "xs", "inputs")  # the node's inputs, in this order
# What Loop.params() may show of a loop that add_loop declared.
_DECLARED = {"carry", "steps", "until", "max_steps", "output", "stack", "checkpoint"}
# Each parameter of add_loop a loop record keeps, the types it may take, and their names.
_COUNT = ((int, type(None)), "an integer or null")
_PARAMS: dict[str, tuple[tuple[type, ...], str]] = {
    "steps": _COUNT,
    "output": ((str,), "a string"),
    "stack": ((bool,), "true or false"),
    "until": ((str, type(None)), "a string or null"),
    "max_steps": _COUNT,
    "checkpoint": _COUNT,
    "check_finite": ((bool,), "true or false"),
}


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------


def encode_nodes(
    nodes: list[Node], where: str, encode: Callable[[Node, str], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """The records of ``nodes``, and the bodies of the loops among them and in their bodies.

    ``encode(node, where)`` writes a record of an input, a constant or an
    operation. Loops are walked with an explicit stack: a body is appended to
    the list when its last record is written, so every body comes after the
    bodies of the loops it holds, and its loop record gets its position then.
    An error in a body names the graph's loop node and the body's node.
    """
    top: list[dict[str, Any]] = []
    bodies: list[list[dict[str, Any]]] = []
    # Each frame: what is left to write (nodes, or records ready made), where its records
    # go, the text locating them, the loop record whose body it is, the graph's loop node.
    frames: list[tuple[Iterator[Any], list, str, dict | None, str | None]]
    frames = [(iter(nodes), top, where, None, None)]
    while frames:
        items, records, context, owner, outermost = frames[-1]
        item = next(items, None)
        if item is None:
            frames.pop()
            if owner is not None:
                owner["body"] = len(bodies)
                bodies.append(records)
            continue
        if isinstance(item, dict):  # an input the loop binds but does not read
            records.append(item)
            continue
        at = f"{context}, node {item.name!r}"
        loop = isinstance(item, OperationNode) and type(item.op) is Loop
        try:
            record = _loop_record(item, at) if loop else encode(item, at)
        except GraphFileError as err:
            if outermost is not None:  # name the graph's node first: the body's is inside it
                err.nodes = (outermost, *err.nodes)
            raise
        records.append(record)
        if loop:
            where_body = f"{at} (a loop), in its body"
            frames.append(
                (iter(_body_items(item.op)), [], where_body, record, outermost or item.name)
            )
    return top, bodies


def _loop_record(node: OperationNode, where: str) -> dict[str, Any]:
    """The record of a loop node; its ``"body"`` is set once its body is written.

    Refused if the loop has a parameter that :func:`~cgraph.loops.add_loop`
    cannot declare, and so a file could not give back (a loop that runs its
    sequences in reverse, which gradient graphs make).
    """
    op = node.op
    assert isinstance(op, Loop)
    unknown = sorted(set(op.params()) - _DECLARED)
    if unknown:
        raise GraphFileError(
            f"{where}: the loop has the parameter(s) {unknown}, which add_loop does not "
            "declare, so a graph file cannot hold it yet; save the graph the loop came from",
            nodes=[node.name],
        )
    body = op.loop_body
    outer = iter(node.input_names)
    bound = {
        kind: {inner: next(outer) for inner in names}
        for kind, names in zip(
            _BINDINGS, (body.carries, body.sequences, body.constants), strict=True
        )
    }
    names = [item.name for item in body.schedule.nodes]
    updates = zip(body.carries, body.updates, strict=True)
    return {
        "name": node.name,
        "kind": "loop",
        "body": None,
        "carry": bound["carry"],
        "updates": {carry: names[pos] for carry, pos in updates},
        "xs": bound["xs"],
        "inputs": bound["inputs"],
        "params": {
            "steps": op.steps,
            "output": op.output,
            "stack": op.stack,
            "until": op.until,
            "max_steps": op.max_steps,
            "checkpoint": op.checkpoint,
            "check_finite": op.check_finite,
        },
    }


def _body_items(op: Loop) -> list[Any]:
    """What a loop's body holds: its nodes in evaluation order, then the inputs it ignores.

    The schedule's root (the loop's own ``Outputs`` node) is left out: declaring
    the loop makes it again. An input bound to the loop that nothing the loop
    reads depends on was not copied into the body; it is written as an input
    of value 0.0 (never read), so that the binding declares again.
    """
    schedule = op.loop_body.schedule
    nodes = [node for node in schedule.nodes if node is not schedule.root]
    present = {node.name for node in nodes}
    body = op.loop_body
    ignored = [
        {"name": name, "kind": "input", "trainable": True, "value": 0.0}
        for name in (*body.carries, *body.sequences, *body.constants)
        if name not in present
    ]
    return [*nodes, *ignored]


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def loop_parents(record: dict) -> list[Any]:
    """The outer names a loop record binds, in the node's input order (unchecked)."""
    return [
        parent
        for kind in _BINDINGS
        if isinstance(record.get(kind), dict)
        for parent in record[kind].values()
    ]


def body_users(bodies: list, records: list, where: str) -> list[str]:
    """For each body, the text locating the loop using it; refused unless each has one.

    Checked before anything is declared: a loop's ``"body"`` must be a position
    in the list, before the body holding the loop (any, for a loop of
    ``"nodes"``), and no body may serve two loops or none.
    """
    users: list[str | None] = [None] * len(bodies)
    for number, held in enumerate([*bodies, records]):
        inside = number < len(bodies)
        context = f"{where}, body {number}" if inside else where
        expect(held, list, "a body" if inside else '"nodes"', context)
        for index, record in enumerate(held):
            if not isinstance(record, dict) or record.get("kind") != "loop":
                continue
            name = record.get("name")
            at = f"{context}, node record {index}" + (
                f" ({reprlib.repr(name)})" if isinstance(name, str) else ""
            )
            body = record.get("body")
            earlier = number if inside else len(bodies)
            if type(body) is not int or not 0 <= body < earlier:
                allowed = (
                    f"the position of a body listed before body {number}"
                    if inside
                    else 'the position of a body in "bodies"'
                ) + (f", 0 to {earlier - 1}" if earlier else " (there is none)")
                raise GraphFileError(
                    f'{at}: "body" is {shown(body)}; it must be {allowed}',
                    nodes=[name] if isinstance(name, str) else [],
                )
            if users[body] is not None:
                raise GraphFileError(
                    f"{at}: body {body} is already the body of {users[body]}; each body is "
                    "the body of one loop",
                    nodes=[name] if isinstance(name, str) else [],
                )
            users[body] = f"loop {reprlib.repr(name)}" + (f" in body {number}" if inside else "")
    for number, user in enumerate(users):
        if user is None:
            raise GraphFileError(
                f"{where}, body {number}: no loop uses it (was the file edited?); each body "
                "is the body of one loop"
            )
    return [user for user in users if user is not None]


def declare_loop(
    cg: GraphCore,
    record: dict,
    at: str,
    bodies: list[GraphCore],
    check_inputs: Callable[[list[str]], None],
) -> None:
    """Declare the loop a record describes, through :func:`cgraph.loops.add_loop`.

    The record's fields and their types are checked here, then its outer names
    by ``check_inputs`` (declared before it); what they mean (the bindings
    against the body, the counts) is checked by ``add_loop`` itself.
    ``record["body"]`` was checked by :func:`body_users`.
    """
    check_fields(record, LOOP_FIELDS, at)
    bindings: dict[str, dict[str, str]] = {}
    for kind in (*_BINDINGS, "updates"):
        mapping = expect(record[kind], dict, f'"{kind}"', at)
        for inner, outer in mapping.items():
            expect(outer, str, f'"{kind}" of {reprlib.repr(inner)}', at)
        bindings[kind] = mapping
    params = expect(record["params"], dict, '"params"', at)
    check_fields(params, tuple(_PARAMS), f'{at}, "params"')
    for key, (kinds, described) in _PARAMS.items():
        if type(params[key]) not in kinds:  # type(), not isinstance(): true is not a count
            raise GraphFileError(
                f'{at}, "params": {key!r} must be {described}, not {shown(params[key])}'
            )
    check_inputs(loop_parents(record))
    add_loop(
        cg,
        record["name"],
        bodies[record["body"]],
        bindings["carry"],
        bindings["updates"],
        xs=bindings["xs"],
        inputs=bindings["inputs"],
        **params,
    )

"""Loops in drawings: what a loop is in one line, and its body drawn as a cluster of boxes.

A loop (:func:`cgraph.loops.add_loop`) is one node of its graph, drawn as one
box. Expanded (``draw(expand=...)``), its body is drawn as well: a cluster of
boxes labelled with what the loop is (:func:`loop_summary`), the outer nodes
bound to the body's inputs feeding them, the node the loop gives feeding the
loop's box, and each carry's update fed back to the carry by a back edge (one
that the layout ignores, so data still flows left to right). A loop in an
expanded body can be expanded too. Every walk here is a loop over a work list:
loops may nest deeply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cgraph.engine.nodes import Input, Node, OperationNode
from cgraph.errors import InvalidValueError, UnknownNodeError
from cgraph.loops.op import Loop
from cgraph.messages import did_you_mean

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = [
    "Cluster",
    "NewBox",
    "Expansion",
    "loop_summary",
    "loop_details",
    "loop_of",
    "expanded_names",
    "expand_loops",
]

#: What each kind of bound body input is called in its box.
ROLES = {"carry": "carry", "xs": "element of a sequence", "inputs": "loop input"}
Expand = bool | str | Iterable[str] | None


@dataclass
class Cluster:
    """A loop's body, drawn: its boxes have ``cluster`` set to this cluster's position.

    ``key`` is the key of the loop's own box (for a loop inside a body, the
    path ``outer/inner``), ``loop`` that box's position, and ``parent`` the
    position of the cluster holding this one, None for a loop of the graph.
    """

    key: str
    label: str
    loop: int
    parent: int | None


@dataclass
class NewBox:
    """A body node's box: its key, kind and label, its cluster, and its loop's box."""

    key: str
    kind: str
    lines: list[tuple[str, str]]
    cluster: int
    loop: int


@dataclass
class Expansion:
    """What expanding loops adds to a view, each edge by box positions.

    ``boxes`` are numbered after the view's own; ``back_edges`` run from each
    carry's update to the carry.
    """

    boxes: list[NewBox]
    edges: list[tuple[int, int]]
    back_edges: list[tuple[int, int]]
    clusters: list[Cluster]


def loop_summary(node: OperationNode, known: bool = True) -> str:
    """What a loop node is, in one line: ``loop <name>:`` and its :func:`loop_details`.

    It labels the cluster of an expanded loop's body in drawings.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> step = ComputationalGraph()
    >>> step.add_inputs(x=0.0)
    >>> _ = step.add_expression("x_next", "cos(x)")
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x0=1.0)
    >>> _ = cg.add_loop("x", step, carry={"x": "x0"}, updates={"x": "x_next"}, steps=10)
    >>> loop_summary(cg.operations["x"])
    'loop x: 10 steps; carry x <- x_next'
    """
    return f"loop {node.name}: {loop_details(node, known)}"


def loop_details(node: OperationNode, known: bool = True) -> str:
    """A loop node's count, its carries and their updates, and what it gives, in one line.

    With ``known``, a loop over sequences counts its steps from the values of
    the nodes bound to them, once they have one (a body's nodes keep none, so a
    loop inside a body is summarised with ``known=False``).

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cell = ComputationalGraph()
    >>> cell.add_inputs(h=0.0, x=0.0)
    >>> _ = cell.add_expression("h_next", "tanh(h + x)")
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(h0=0.0, xs=[1.0, 2.0, 3.0])
    >>> _ = cg.add_loop("h", cell, carry={"h": "h0"}, updates={"h": "h_next"}, xs={"x": "xs"})
    >>> loop_details(cg.operations["h"])
    '3 steps over xs; carry h <- h_next'
    """
    op = loop_of(node)
    assert op is not None, "loop_details takes a loop node"
    body = op.loop_body
    names = [member.name for member in body.schedule.nodes]
    start = len(body.carries)
    sequences = node.parents[start : start + len(body.sequences)]
    if op.until is not None:
        count = f"until {op.until}, at most {_steps(op.max_steps or 0)}"
    elif op.steps is not None:
        count = _steps(op.steps)
    else:
        shape = getattr(sequences[0].output, "shape", None) if known and sequences else None
        each = _steps(int(shape[0])) if shape else "a step per element"
        count = f"{each} over {', '.join(sequence.name for sequence in sequences)}"
    parts = [count]
    if body.carries:
        updates = zip(body.carries, body.updates, strict=True)
        parts.append("carry " + ", ".join(f"{carry} <- {names[pos]}" for carry, pos in updates))
    if op.stack:
        parts.append(f"stacks {op.output}")
    elif op.output not in body.carries or len(body.carries) > 1:
        parts.append(f"gives {op.output}")
    if op.checkpoint:
        parts.append(f"checkpoint every {op.checkpoint}")
    return "; ".join(parts)


def _steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"


# --------------------------------------------------------------------------------------
# Which loops to expand
# --------------------------------------------------------------------------------------


def loop_of(node: Node) -> Loop | None:
    """The loop a node is (its op, a :class:`~cgraph.loops.op.Loop`), or None.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> loop_of(cg.nodes["x"]) is None
    True
    """
    if isinstance(node, OperationNode) and isinstance(node.op, Loop):
        return node.op
    return None


def expanded_names(cg: GraphCore, expand: Expand) -> set[str] | bool:
    """``expand`` checked: True (every loop), or the keys of the loops to expand.

    A loop of the graph is named by its name, one in a loop's body by the
    path ``outer/inner`` (its box's key). A name that is no loop is refused.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> expanded_names(ComputationalGraph(), None), expanded_names(ComputationalGraph(), True)
    (set(), True)
    """
    if expand is None or expand is False:
        return set()
    if expand is True:
        return True
    names = [expand] if isinstance(expand, str) else list(expand)
    if not all(isinstance(name, str) for name in names):
        raise InvalidValueError(
            f"expand={expand!r}: give True, or the names of loop nodes such as ['h']"
        )
    wanted = set(names)
    for name in sorted(wanted):
        if name in cg.nodes and loop_of(cg.nodes[name]) is None:
            raise InvalidValueError(
                f"expand: node {name!r} is not a loop, so it has no body to draw; expand "
                "takes the names of loop nodes (add_loop)",
                nodes=[name],
            )
    unknown = sorted(
        wanted - set(cg.nodes) - (_loop_paths(cg) if wanted - set(cg.nodes) else set())
    )
    if unknown:
        raise UnknownNodeError(
            f"expand: no loop is named {unknown[0]!r}{did_you_mean(unknown[0], _loop_paths(cg))}; "
            "name a loop of the graph, or one in a loop's body by its path 'outer/inner'",
            nodes=unknown,
        )
    return wanted


def _loop_paths(cg: GraphCore) -> set[str]:
    """The path of every loop of the graph and, at any depth, of the loops in its body."""
    paths: set[str] = set()
    work: list[tuple[str, Node]] = [("", node) for node in cg.operations.values()]
    while work:
        prefix, node = work.pop()
        op = loop_of(node)
        if op is not None:
            paths.add(prefix + node.name)
            work.extend((f"{prefix}{node.name}/", inner) for inner in op.loop_body.schedule.nodes)
    return paths


# --------------------------------------------------------------------------------------
# Expanding
# --------------------------------------------------------------------------------------

# A loop to expand: its node and op, its box, the cluster holding it (None: the graph's
# loop), its key, and the boxes of the graph or body it is in (where its inputs come from).
_Work = tuple[OperationNode, Loop, int, "int | None", str, dict[str, int]]


def expand_loops(
    loops: list[tuple[OperationNode, Loop, int]],
    wanted: set[str] | bool,
    box_of: dict[str, int],
    taken: set[str],
    label: Callable[[Node], list[tuple[str, str]]],
    start: int,
) -> Expansion:
    """The boxes, edges and clusters that draw each loop's body, one box per body node.

    ``loops`` are the graph's loop nodes to expand, with their ops and the
    positions of their boxes; ``box_of`` gives the box of each node shown;
    ``taken`` holds the keys of the boxes shown; ``label(node)`` is the label of
    an operation or constant of a body; the new boxes are numbered from
    ``start``. A loop in a body is expanded too when ``wanted`` names its path
    (or is True).
    """
    result = Expansion([], [], [], [])
    work: list[_Work] = [
        (node, op, box, None, node.name, box_of) for node, op, box in reversed(loops)
    ]
    while work:  # the first loop first: clusters come in declaration order, parents first
        item = work.pop()
        work.extend(reversed(_expand(item, wanted, result, start, taken, label)))
    return result


def _expand(
    item: _Work,
    wanted: set[str] | bool,
    result: Expansion,
    start: int,
    taken: set[str],
    label: Callable[[Node], list[tuple[str, str]]],
) -> list[_Work]:
    """Add one loop's body to ``result``; the loops in it to expand next."""
    node, op, loop_box, parent, key, outer = item
    body = op.loop_body
    cluster = len(result.clusters)
    summary = loop_summary(node, known=parent is None)
    result.clusters.append(Cluster(key, summary, loop_box, parent))
    roles = {
        **{name: ROLES["carry"] for name in body.carries},
        **{name: ROLES["xs"] for name in body.sequences},
        **{name: ROLES["inputs"] for name in body.constants},
    }
    members = [member for member in body.schedule.nodes if member is not body.schedule.root]
    made = [
        (member.name, "input", [("name", member.name), ("op", roles.get(member.name, ""))])
        if isinstance(member, Input)
        else (
            member.name,
            "operation" if isinstance(member, OperationNode) else "fixed",
            label(member),
        )
        for member in members
    ]
    present = {member.name for member in members}
    # A bound input that nothing the loop reads depends on was not copied: drawn all the same.
    made += [
        (name, "input", [("name", name), ("op", role)])
        for name, role in roles.items()
        if name not in present
    ]
    inner: dict[str, int] = {}
    for name, kind, lines in made:
        inner[name] = start + len(result.boxes)
        result.boxes.append(NewBox(_unique(f"{key}/{name}", taken), kind, lines, cluster, loop_box))
    nested: list[_Work] = []
    for member in members:
        inner_op = loop_of(member)
        path = f"{key}/{member.name}"
        if inner_op is not None and (wanted is True or path in wanted):  # type: ignore[operator]
            assert isinstance(member, OperationNode)
            nested.append((member, inner_op, inner[member.name], cluster, path, inner))
        elif isinstance(member, OperationNode):  # a nested loop's inputs feed its body instead
            result.edges.extend((inner[p.name], inner[member.name]) for p in member.parents)
    bound = (*body.carries, *body.sequences, *body.constants)
    for name, source in zip(bound, node.input_names, strict=True):
        if source in outer:  # not left out by root= or depth=
            result.edges.append((outer[source], inner[name]))
    result.edges.append((inner[body.schedule.nodes[body.output].name], loop_box))
    result.back_edges.extend(
        (inner[body.schedule.nodes[pos].name], inner[carry])
        for carry, pos in zip(body.carries, body.updates, strict=True)
    )
    return nested


def _unique(key: str, taken: set[str]) -> str:
    """``key``, with primes added if a box already has it (an outer node of that name)."""
    while key in taken:
        key += "'"
    taken.add(key)
    return key

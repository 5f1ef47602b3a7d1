"""What a drawing shows: the boxes and edges left after root=, depth= and collapse=, laid out.

Shared by the matplotlib drawing and the DOT text of :mod:`cgraph.viz`. Every
walk over the graph here is a loop (a breadth-first search, Kahn's algorithm):
graphs may be a million nodes deep. Needs no plotting library.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.engine.nodes import Constant, Input, Node, OperationNode
from cgraph.engine.summary import describe_value
from cgraph.errors import GraphError, InvalidValueError, UnknownNodeError
from cgraph.messages import shown
from cgraph.viz.loops import Cluster, Expand, expand_loops, expanded_names, loop_of

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["Box", "View", "Layout", "build_view", "layout", "op_label"]

PREVIEW_ITEMS = 3  # array elements shown in a label
Collapse = bool | str | Iterable[str] | None


@dataclass
class Box:
    """One box of a drawing: a node, or the nodes sharing a collapsed name prefix."""

    key: str  # the node's name, or 'prefix/*' (no node outside the group can have that name)
    kind: str  # 'input', 'fixed', 'operation' or 'group'
    first: int  # the smallest declaration index among its nodes: orders the boxes
    lines: list[tuple[str, str]] = field(default_factory=list)  # (role, text)
    size: int = 1  # how many nodes it stands for
    cut: bool = False  # some of its inputs are left out by depth=
    cluster: int | None = None  # the position of the expanded loop whose body it is in


@dataclass
class View:
    """The boxes to show and the edges between them, (parent box, child box) by position.

    With loops expanded (``expand=``), ``clusters`` holds each loop's body (its
    boxes have ``cluster`` set) and ``back_edges`` each carry's feedback, from
    its update to the carry; the layout leaves them out, so data flows one way.
    """

    boxes: list[Box]
    edges: list[tuple[int, int]]
    back_edges: list[tuple[int, int]] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Choosing what to show
# --------------------------------------------------------------------------------------


def build_view(
    cg: GraphCore,
    root: str | None = None,
    depth: int | None = None,
    collapse: Collapse = None,
    max_nodes: int = 200,
    expand: Expand = None,
) -> View:
    """The boxes and edges to draw, after ``root``, ``depth``, ``collapse`` and ``expand``.

    A node used twice by one op (``mul(x, x)``) gives two edges; edges into or
    out of a collapsed group are kept once per pair of boxes. ``collapse=None``
    (the default) collapses each use of a subgraph (``cg.subgraphs``), if any;
    ``collapse=False`` collapses nothing. ``expand`` draws the body of each loop
    it names (True: every loop, those in bodies too) in a cluster of its own
    (:mod:`cgraph.viz.loops`): the body's inputs fed by the outer nodes bound to
    them, the node the loop gives feeding its box, and a back edge from each
    carry's update to the carry; a loop inside a collapsed group stays hidden.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(**{"l1/w": 1.0, "l1/b": 2.0})
    >>> cg.add_computation_node("y", "add", ("l1/w", "l1/b"))
    >>> view = build_view(cg, collapse=True)
    >>> [box.key for box in view.boxes], view.edges
    (['l1/*', 'y'], [(0, 1)])
    """
    _check_count(depth, "depth", allow_none=True)
    _check_count(max_nodes, "max_nodes")
    if depth is not None and (root is None or depth < 0):
        raise GraphError(
            f"depth={depth} counts steps up from a root: give root= too and a "
            "depth of 0 or more, e.g. draw(root='loss', depth=2)"
        )
    if collapse is None:  # each use of a subgraph is one box, until asked otherwise
        collapse = list(cg.subgraphs) or None
    nodes, cut = _selected(cg, root, depth, max_nodes if not collapse else None)
    group_of = _grouping(collapse)
    boxes: list[Box] = []
    box_of: dict[str, int] = {}  # node name -> box position
    group_box: dict[str, int] = {}
    for node in nodes:
        prefix = group_of(node.name)
        if prefix is None:
            box_of[node.name] = len(boxes)
            boxes.append(
                Box(
                    node.name,
                    _kind(node),
                    node.index,
                    _label_lines(node, cg.stale(node.name) is not None),
                    cut=node.name in cut,
                )
            )
        elif prefix in group_box:
            box_of[node.name] = group_box[prefix]
            boxes[group_box[prefix]].size += 1
        else:
            box_of[node.name] = group_box[prefix] = len(boxes)
            boxes.append(Box(f"{prefix}/*", "group", node.index))
        if len(boxes) > max_nodes:
            _refuse(len(boxes), max_nodes, root, "boxes")
    for prefix, position in group_box.items():
        box = boxes[position]
        box.lines = [("name", f"{prefix}/..."), ("op", f"{box.size} nodes")]
    _check_prefixes(cg, collapse, group_box)
    wanted = expanded_names(cg, expand)
    loops = [
        (node, op, box_of[node.name])
        for node in nodes
        if wanted
        and isinstance(node, OperationNode)
        and (op := loop_of(node)) is not None
        and boxes[box_of[node.name]].kind != "group"  # hidden in a collapsed group
        and (wanted is True or node.name in wanted)
    ]
    expanded = {node.name for node, _, _ in loops}  # their inputs feed their bodies instead
    edges: list[tuple[int, int]] = []
    seen_group_edges = set()
    for node in nodes:
        child = box_of[node.name]
        for parent in () if node.name in expanded else node.parents:
            source = box_of.get(parent.name)
            if source is None or source == child:
                continue  # left out by depth=, or inside one collapsed group
            if boxes[source].kind == "group" or boxes[child].kind == "group":
                if (source, child) in seen_group_edges:
                    continue
                seen_group_edges.add((source, child))
            edges.append((source, child))
    if not loops:
        return View(boxes, edges)
    taken = {box.key for box in boxes}
    added = expand_loops(loops, wanted, box_of, taken, _body_label, len(boxes))
    for new in added.boxes:
        boxes.append(Box(new.key, new.kind, boxes[new.loop].first, new.lines, cluster=new.cluster))
    if len(boxes) > max_nodes:
        _refuse(len(boxes), max_nodes, root, "boxes")
    return View(boxes, edges + added.edges, added.back_edges, added.clusters)


def _check_count(value: Any, what: str, allow_none: bool = False) -> None:
    """Refuse a count that is not a whole number (a string, a float, a bool) by its name."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidValueError(
            f"{what} must be a whole number (an int), not {shown(value)} "
            f"({type(value).__name__}); e.g. draw(root='loss', depth=2, max_nodes=200)"
        )


def _selected(
    cg: GraphCore, root: str | None, depth: int | None, limit: int | None
) -> tuple[list[Node], set[str]]:
    """The nodes to show in declaration order, and those whose inputs depth= leaves out."""
    if root is None:
        if limit is not None and len(cg.nodes) > limit:
            _refuse(len(cg.nodes), limit, None, "nodes")
        return list(cg.nodes.values()), set()
    start = cg.get_node(root)
    distance = {start.name: 0}
    cut = set()
    queue = deque([start])
    while queue:  # breadth first, so each node is reached at its shortest distance
        node = queue.popleft()
        if depth is not None and distance[node.name] == depth:
            if node.parents:
                cut.add(node.name)
            continue
        for parent in node.parents:
            if parent.name not in distance:
                distance[parent.name] = distance[node.name] + 1
                queue.append(parent)
                if limit is not None and len(distance) > limit:
                    _refuse(len(distance), limit, root, "nodes")
    cut.difference_update(  # a node at the edge whose inputs are all shown anyway is not cut
        name
        for name in list(cut)
        if all(parent.name in distance for parent in cg.nodes[name].parents)
    )
    return sorted((cg.nodes[name] for name in distance), key=lambda n: n.index), cut


def _grouping(collapse: Collapse) -> Any:
    """A function from a node's name to its group's prefix, or None for no group."""
    if not collapse:
        return lambda name: None
    if collapse is True:
        return lambda name: (name.split("/", 1)[0] or None) if "/" in name else None
    prefixes = sorted(_prefixes(collapse), key=len, reverse=True)  # the longest match wins
    return lambda name: next((p for p in prefixes if name.startswith(p + "/")), None)


def _prefixes(collapse: Collapse) -> list[str]:
    items = [collapse] if isinstance(collapse, str) else list(collapse)  # type: ignore[arg-type]
    if not all(isinstance(item, str) and item.strip("/") for item in items):
        raise GraphError(
            f"collapse={collapse!r}: give True, or name prefixes such as "
            "['layer1'] for the nodes named 'layer1/...'"
        )
    return [item.rstrip("/") for item in items]


def _check_prefixes(cg: GraphCore, collapse: Collapse, found: dict[str, int]) -> None:
    """A prefix that names no node at all is a typo; one outside this view is fine."""
    if not collapse or collapse is True:
        return
    for prefix in _prefixes(collapse):
        if prefix not in found and not any(name.startswith(prefix + "/") for name in cg.nodes):
            raise UnknownNodeError(
                f"collapse: no node is named {prefix + '/...'!r}; collapse takes the prefixes "
                "of node names before a '/'",
                nodes=[prefix],
            )


def _refuse(count: int, limit: int, root: str | None, what: str) -> None:
    shown = f"{root!r} and its ancestors make" if root else "the graph has"
    raise GraphError(
        f"{shown} more than {limit} {what} ({count} so far), too many to show readably; show "
        "part of it with root= (one node and its ancestors), depth= (only a few steps above "
        "root), collapse=True (one box per name prefix 'layer1/...'), or raise max_nodes",
        nodes=[root] if root else [],
    )


# --------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------


def _kind(node: Node) -> str:
    if isinstance(node, OperationNode):
        return "operation"
    return "input" if isinstance(node, Input) and node.trainable else "fixed"


def op_label(node: Node) -> str:
    """What a node is: its op with any parameters (``'sum(axis=1)'``), or the kind of leaf.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_constant("c", 2.0)
    >>> cg.add_computation_node("s", "sigmoid", ("c",))
    >>> op_label(cg.nodes["c"]), op_label(cg.nodes["s"])
    ('constant', 'sigmoid')
    """
    if isinstance(node, OperationNode):
        op = node.op
        name = type(op).name or type(op).__name__
        params = ", ".join(f"{key}={value!r}" for key, value in op.params().items())
        return f"{name}({params})" if params else name
    if isinstance(node, Constant):
        return "constant"
    return "input" if node.requires_grad else "input (fixed)"


def _body_label(node: Node) -> list[tuple[str, str]]:
    """A loop body's operation or constant: its values change every iteration, so none."""
    lines = [("name", node.name), ("op", op_label(node))]
    if isinstance(node, Constant):
        lines.append(("value", f"value {describe_value(node.output, PREVIEW_ITEMS)}"))
    return lines


def _label_lines(node: Node, stale: bool = False) -> list[tuple[str, str]]:
    lines = [("name", node.name), ("op", op_label(node))]
    if stale:  # a value of another input state than the one shown (GraphCore.stale)
        lines.append(("value", "value stale"))
    elif node.output is not None:
        lines.append(("value", f"value {describe_value(node.output, PREVIEW_ITEMS)}"))
    if node.local_grad is not None:  # None once a forward has made it stale
        lines.append(("grad", f"grad {describe_value(node.local_grad, PREVIEW_ITEMS)}"))
    return lines


# --------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Where each box goes, as (layer, slot): layer 0 on the left, slot 0 at the top.

    An edge that skips layers passes through one empty slot in each layer it
    crosses (``bends``), so it runs between boxes, never under one.
    """

    positions: list[tuple[int, int]]  # by box
    bends: list[list[tuple[int, int]]]  # by edge: the slots it passes through, left to right
    slots: dict[int, int]  # how many slots each layer has
    # By cluster (expanded loop): its first and last layer, first and last slot. Its first
    # slot holds its label; no box outside it lies within these bounds.
    clusters: list[tuple[int, int, int, int]] = field(default_factory=list)


def layout(view: View) -> Layout:
    """Lay the boxes out left to right: a layer per step, edges kept short and apart.

    A box's layer is the longest path to it from the leaves; a leaf sits just
    left of its first user, so a label used only by the loss is not drawn far
    away. In each layer, boxes (and the edges passing through) are ordered by
    the mean height of what feeds them, which keeps edges short and uncrossed.

    With expanded loops, slots are rows shared by every layer: the graph's boxes
    take the top rows, and each loop's body a band of rows below them (its label
    first, then its boxes, then the bands of the loops inside it), so that the
    rectangle around a body holds no other box.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("s", "sigmoid", ("x",))
    >>> cg.add_computation_node("f", "mul", ("x", "s"))
    >>> result = layout(build_view(cg))  # x -> f skips layer 1: it passes through slot (1, 0)
    >>> result.positions, result.bends
    ([(0, 0), (1, 1), (2, 0)], [[], [(1, 0)], []])
    """
    layer = _layers(view)
    slot_of: dict[tuple, tuple[int, int]] = {}  # ('box', b) or ('edge', e, layer) -> place
    feeds: dict[tuple, list[tuple]] = {("box", box): [] for box in range(len(view.boxes))}
    by_layer: dict[int, list[tuple]] = {}
    for box in sorted(range(len(view.boxes)), key=lambda b: (layer[b], view.boxes[b].first)):
        by_layer.setdefault(layer[box], []).append(("box", box))
    for edge, (source, child) in enumerate(view.edges):
        previous: tuple = ("box", source)
        for crossed in range(layer[source] + 1, layer[child]):
            feeds[("edge", edge, crossed)] = [previous]
            by_layer.setdefault(crossed, []).append(("edge", edge, crossed))
            previous = ("edge", edge, crossed)
        if layer[source] < layer[child]:  # not a loop that collapsing made
            feeds[("box", child)].append(previous)
    bands = _Bands(view, by_layer) if view.clusters else None
    height: dict[tuple, float] = {}
    for number in sorted(by_layer):

        def key(item: tuple) -> tuple[float, int]:
            fed = [height[f] for f in feeds[item] if f in height]
            first = view.boxes[item[1] if item[0] == "box" else view.edges[item[1]][0]].first
            return (sum(fed) / len(fed) if fed else -1e9, first)

        items = sorted(by_layer[number], key=key)
        if bands is None:
            for slot, item in enumerate(items):
                slot_of[item] = (number, slot)
                height[item] = slot - (len(items) - 1) / 2  # centred, as drawn
        else:
            for item, row in zip(items, bands.rows(items), strict=True):
                slot_of[item] = (number, row)
                height[item] = row
    positions = [slot_of[("box", box)] for box in range(len(view.boxes))]
    bends = [
        [slot_of[("edge", edge, crossed)] for crossed in range(layer[source] + 1, layer[child])]
        for edge, (source, child) in enumerate(view.edges)
    ]
    if bands is None:
        return Layout(positions, bends, {number: len(items) for number, items in by_layer.items()})
    return Layout(
        positions,
        bends,
        {number: bands.total for number in by_layer},
        bands.spans(positions),
    )


class _Bands:
    """Rows for a layout with clusters: the graph's boxes on top, each body's band below.

    A band's height is its label row (a cluster's), the most of its own items in
    any one layer, and its clusters' bands, stacked under them in order.
    """

    def __init__(self, view: View, by_layer: dict[int, list[tuple]]) -> None:
        self.view = view
        clusters = view.clusters
        own = [0] * (len(clusters) + 1)  # by band: the graph's is the last, -1
        for items in by_layer.values():
            counts = [0] * len(own)
            for item in items:
                counts[self.band(item)] += 1
            own = [max(a, b) for a, b in zip(own, counts, strict=True)]
        height = [1 + count for count in own[:-1]] + [own[-1]]
        for number in reversed(range(len(clusters))):  # a cluster comes after its parent
            parent = clusters[number].parent
            height[-1 if parent is None else parent] += height[number]
        self.start = [0] * len(own)  # each band's first row, its label's for a cluster
        below = {-1: own[-1]}  # the next free row of each band
        for number, cluster in enumerate(clusters):
            parent = -1 if cluster.parent is None else cluster.parent
            self.start[number] = below[parent]
            below[parent] += height[number]
            below[number] = self.start[number] + 1 + own[number]
        self.height, self.total = height, height[-1]
        self.own_start = [start + 1 for start in self.start[:-1]] + [0]

    def band(self, item: tuple) -> int:
        """The band of a box, or of an edge passing through: the clusters it lies in, -1: none."""
        boxes = self.view.boxes
        if item[0] == "box":
            cluster = boxes[item[1]].cluster
            return -1 if cluster is None else cluster
        source, child = self.view.edges[item[1]]
        return self._common(boxes[source].cluster, boxes[child].cluster)

    def _common(self, a: int | None, b: int | None) -> int:
        """The innermost cluster holding both (-1: the graph): a cluster's parent comes first."""
        clusters = self.view.clusters
        while a != b:
            if a is None or b is None:
                return -1
            if a > b:
                a = clusters[a].parent
            else:
                b = clusters[b].parent
        return -1 if a is None else a

    def rows(self, items: list[tuple]) -> list[int]:
        """Each item's row, in the order given, each in the next free row of its band."""
        used = [0] * len(self.start)
        rows = []
        for item in items:
            band = self.band(item)
            rows.append(self.own_start[band] + used[band])
            used[band] += 1
        return rows

    def spans(self, positions: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
        """Each cluster's layers (those of its boxes and its clusters') and rows."""
        clusters = self.view.clusters
        layers: list[list[int]] = [[] for _ in clusters]
        for box, (layer, _) in zip(self.view.boxes, positions, strict=True):
            cluster = box.cluster
            while cluster is not None:
                layers[cluster].append(layer)
                cluster = clusters[cluster].parent
        return [
            (min(found), max(found), self.start[number], self.start[number] + size - 1)
            for number, (found, size) in enumerate(zip(layers, self.height, strict=False))
        ]


def _layers(view: View) -> list[int]:
    """Each box's layer: the longest path to it from the leaves, by Kahn's algorithm."""
    count = len(view.boxes)
    parents: list[list[int]] = [[] for _ in range(count)]
    children: list[list[int]] = [[] for _ in range(count)]
    for source, child in dict.fromkeys(view.edges):
        parents[child].append(source)
        children[source].append(child)
    waiting = [len(p) for p in parents]
    ready = deque(box for box in range(count) if not waiting[box])
    layer = [-1] * count  # -1: not placed yet
    for _ in range(count):
        if ready:
            box = ready.popleft()
        else:  # collapsing made a loop: place its earliest box from the inputs known so far
            box = min((b for b in range(count) if layer[b] < 0), key=lambda b: view.boxes[b].first)
        layer[box] = max((layer[p] + 1 for p in parents[box] if layer[p] >= 0), default=0)
        for child in children[box]:
            waiting[child] -= 1
            if waiting[child] == 0 and layer[child] < 0:
                ready.append(child)
    for box in range(count):
        if not parents[box] and children[box]:
            layer[box] = max(0, min(layer[child] for child in children[box]) - 1)
    return layer

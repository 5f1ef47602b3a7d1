"""The evaluation schedule of one root: which nodes to run, in which order, fed from where.

Building it walks the graph once (iteratively: a million-node chain is fine);
``forward`` and ``backward`` then only loop over flat lists, so the hot path
never touches networkx. The graph keeps one schedule per root and drops them
all whenever its structure changes.
"""

from __future__ import annotations

import copy
from operator import attrgetter
from typing import Any

from cgraph.engine.allocation import cyclic_gc_paused
from cgraph.engine.nodes import Node, OperationNode
from cgraph.ops.kinds import Elementwise
from cgraph.ops.operation import keeps_state

__all__ = ["Schedule"]


class Schedule:
    """The root's ancestors in topological order, with each node's inputs as positions.

    Positions index one flat list of values: the inputs and constants the root
    depends on come first, then the operation nodes in declaration order (a
    topological order, since a node's inputs exist before it is declared).

    Attributes
    ----------
    root : Node
        The node this schedule evaluates.
    nodes : list of Node
        The root's ancestors and the root, leaves first, then operations in order.
    leaf_count : int
        How many of ``nodes`` are inputs or constants.
    steps : list of tuple
        ``(position, node, op, input_positions)`` for each operation node, in order.
    grad_steps : list of tuple
        ``(position, node, op, input_positions, targets)`` for the operation nodes
        that lead to a trainable input, in reverse order; ``targets`` holds each
        input's position, or -1 for an input that needs no gradient.
    trainable : list of int
        The positions of the trainable inputs.
    trainable_names : list of tuple
        ``(position, name)`` of each trainable input: what ``backward`` returns.
    contributions : bytearray
        How many gradients backward adds into each position (counted up to 255).
    guarded : bytearray or None
        1 at the position of each elementwise node that feeds a branch of a
        ``where`` (an op's ``branches``): its gradients are NaN-safe
        (:func:`cgraph.ops.kinds.nan_safe`). None when no op selects.
    stateful : list of OperationNode
        The nodes whose ops keep state between ``forward`` and ``backward`` (classic
        custom ops): their gradients are valid only for the pass that ran them last.
    runs : int
        How many passes have asked for a plan of it (:mod:`cgraph.engine.plan`).
    plan : Plan or None
        The compiled plan its last planned pass ran, if any.
    plans : dict
        Its compiled plans, by the leaf types each was written for.
    planned : list or None
        The values of its last pass that a plan computed: the only ones its
        plan may differentiate.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0, y=2.0)
    >>> cg.add_computation_node("f", "mul", ("x", "x"))
    >>> schedule = Schedule(cg.nodes["f"])
    >>> [node.name for node in schedule.nodes]
    ['x', 'f']
    >>> schedule.steps[0][3]
    (0, 0)
    """

    __slots__ = (
        "root",
        "nodes",
        "leaf_count",
        "steps",
        "grad_steps",
        "trainable",
        "trainable_names",
        "contributions",
        "guarded",
        "stateful",
        "_positions",
        "runs",
        "plan",
        "plans",
        "planned",
    )

    def __init__(self, root: Node) -> None:
        with cyclic_gc_paused():
            self._build(root)

    def _build(self, root: Node) -> None:
        ancestors = _ancestors(root)
        leaves: list[Node] = [node for node in ancestors if not isinstance(node, OperationNode)]
        operations = [node for node in ancestors if isinstance(node, OperationNode)]
        self.root = root
        self.nodes: list[Node] = [*leaves, *operations]
        self.leaf_count = len(leaves)
        position = [0] * (root.index + 1)  # by declaration index: faster than a dict
        for pos, node in enumerate(self.nodes):
            position[node.index] = pos
        self.steps: list[tuple[int, OperationNode, Any, tuple[int, ...]]] = []
        steps = self.steps
        for pos, node in enumerate(operations, start=len(leaves)):
            parents = node.parents
            if len(parents) == 1:
                inputs: tuple[int, ...] = (position[parents[0].index],)
            elif len(parents) == 2:
                inputs = (position[parents[0].index], position[parents[1].index])
            else:
                inputs = tuple([position[parent.index] for parent in parents])
            steps.append((pos, node, node.op, inputs))
        # An op's needs_input_grad is set only when some input needs no gradient.
        self.grad_steps = [
            _with_targets(step) if step[2].needs_input_grad else (*step, step[3])
            for step in reversed(self.steps)
            if step[1].requires_grad
        ]
        self.trainable = [pos for pos, node in enumerate(leaves) if node.requires_grad]
        self.trainable_names = [(pos, leaves[pos].name) for pos in self.trainable]
        self.stateful = [node for node in operations if keeps_state(node.op)]
        self.guarded = _feeding_branches(self.steps, len(leaves), len(self.nodes))
        self._positions: dict[int, int] | None = None
        self.runs = 0
        self.plan: Any = None
        self.plans: dict[tuple[bool, ...], Any] = {}
        self.planned: list[Any] | None = None
        self.contributions = counts = bytearray(len(self.nodes))
        for _, _, _, _, targets in self.grad_steps:
            for target in targets:
                if target >= 0 and counts[target] < 255:
                    counts[target] += 1

    def __deepcopy__(self, memo: dict[int, Any]) -> Schedule:
        """A copy over the copied nodes, without plans: theirs read the original's nodes."""
        twin = object.__new__(Schedule)
        memo[id(self)] = twin
        for slot in _COPIED:
            setattr(twin, slot, copy.deepcopy(getattr(self, slot), memo))
        twin._positions, twin.runs, twin.plan, twin.plans, twin.planned = None, 0, None, {}, None
        return twin

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node: object) -> bool:
        """Whether ``node`` is evaluated by this schedule."""
        return self.position(node) is not None

    def position(self, node: object) -> int | None:
        """``node``'s position in :attr:`nodes`, or None if this schedule does not evaluate it.

        The table is built on first use: passes never need it, only reading a
        node's value or gradient by name does.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0, y=2.0)
        >>> cg.add_computation_node("f", "exp", ("y",))
        >>> schedule = Schedule(cg.nodes["f"])
        >>> schedule.position(cg.nodes["f"]), schedule.position(cg.nodes["x"])
        (1, None)
        """
        positions = self._positions
        if positions is None:
            positions = self._positions = {id(node): pos for pos, node in enumerate(self.nodes)}
        return positions.get(id(node))

    def __repr__(self) -> str:
        return f"<Schedule of {self.root.name!r}: {len(self.nodes)} nodes>"


#: What a copy of a schedule copies; the rest (plans, the position table) starts afresh.
_COPIED = tuple(
    slot
    for slot in Schedule.__slots__
    if slot not in ("_positions", "runs", "plan", "plans", "planned")
)


def _feeding_branches(
    steps: list[tuple[int, OperationNode, Any, tuple[int, ...]]], leaf_count: int, size: int
) -> bytearray | None:
    """Flags of the elementwise nodes that feed a selecting op's branches; None if none do."""
    stack = [step[3][index] for step in steps for index in step[2].branches]
    if not stack:
        return None
    guarded, seen = bytearray(size), bytearray(size)
    while stack:  # every ancestor of a branch, iteratively
        pos = stack.pop()
        if seen[pos] or pos < leaf_count:
            continue
        seen[pos] = 1
        _, _, op, parents = steps[pos - leaf_count]
        guarded[pos] = isinstance(op, Elementwise)
        stack.extend(parents)
    return guarded


def _with_targets(step: tuple) -> tuple:
    """The step with its targets: -1 in place of the inputs that need no gradient."""
    pos, node, op, parents = step
    targets = tuple(
        p if parent.requires_grad else -1 for p, parent in zip(parents, node.parents, strict=True)
    )
    return (pos, node, op, parents, targets)


def _ancestors(root: Node) -> list[Node]:
    """The root and all its ancestors in declaration order, found without recursion."""
    seen = bytearray(root.index + 1)  # by declaration index; ancestors come before the root
    seen[root.index] = 1
    found = [root]
    stack = [root]
    while stack:
        for parent in stack.pop().parents:
            if not seen[parent.index]:
                seen[parent.index] = 1
                found.append(parent)
                stack.append(parent)
    found.sort(key=attrgetter("index"))
    return found

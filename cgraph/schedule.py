"""The evaluation schedule of one root: which nodes to run, in which order, fed from where.

Building it walks the graph once (iteratively: a million-node chain is fine);
``forward`` and ``backward`` then only loop over flat lists, so the hot path
never touches networkx. The graph keeps one schedule per root and drops them
all whenever its structure changes.
"""

from __future__ import annotations

from operator import attrgetter

from cgraph.nodes import Node, OperationNode

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
        ``(position, node, op, parent_positions)`` for each operation node, in order.
    grad_steps : list of tuple
        The steps of the nodes that lead to a trainable input, in reverse order.
    requires_grad : list of bool
        Whether each position leads to a trainable input.

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

    __slots__ = ("root", "nodes", "leaf_count", "steps", "grad_steps", "requires_grad")

    def __init__(self, root: Node) -> None:
        ancestors = _ancestors(root)
        leaves = [node for node in ancestors if not isinstance(node, OperationNode)]
        operations = [node for node in ancestors if isinstance(node, OperationNode)]
        self.root = root
        self.nodes: list[Node] = leaves + operations
        self.leaf_count = len(leaves)
        position = {node.index: pos for pos, node in enumerate(self.nodes)}
        self.steps = [
            (pos, node, node.op, tuple([position[parent.index] for parent in node.parents]))
            for pos, node in enumerate(operations, start=len(leaves))
        ]
        self.grad_steps = [step for step in reversed(self.steps) if step[1].requires_grad]
        self.requires_grad = [node.requires_grad for node in self.nodes]

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"<Schedule of {self.root.name!r}: {len(self.nodes)} nodes>"


def _ancestors(root: Node) -> list[Node]:
    """The root and all its ancestors in declaration order, found without recursion."""
    seen = {root.index}
    found = [root]
    stack = [root]
    while stack:
        for parent in stack.pop().parents:
            if parent.index not in seen:
                seen.add(parent.index)
                found.append(parent)
                stack.append(parent)
    found.sort(key=attrgetter("index"))
    return found

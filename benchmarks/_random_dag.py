"""A seeded random scalar DAG whose values stay finite and bounded, shared by two benchmarks.

Nodes are numbered: the inputs first (uniform in [-1, 1]), then the operation
nodes in a topological order, the last one being the root. Every node is an
ancestor of the root: each operation takes as its first input the oldest node
that no operation uses yet, and the nodes left unused at the end are summed
pairwise into the root. The second input of a binary operation is drawn from
the ``window`` most recent nodes, which makes fan-out and skip connections;
the depth stays near ``size / inputs``.

Values stay bounded because the generator tracks a bound on every node's
magnitude: an operation whose output could exceed ``LIMIT`` (or an ``exp`` of
an input not bounded by 1) is replaced by ``tanh`` of its first input.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

UNARY = ("sigmoid", "tanh", "sin", "square", "neg", "exp")
BINARY = ("add", "mul", "sub", "maximum")
LIMIT = 4.0

BOUNDS = {
    "sigmoid": lambda a: 1.0,
    "tanh": lambda a: 1.0,
    "sin": lambda a: 1.0,
    "square": lambda a: a * a,
    "neg": lambda a: a,
    "exp": lambda a: math.exp(a) if a <= 1.0 else math.inf,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "maximum": max,
}


@dataclass
class RandomDag:
    """The DAG as plain data.

    Attributes
    ----------
    inputs : list of float
        The value of nodes ``0 .. len(inputs) - 1``.
    ops : list of (str, tuple of int)
        For node ``len(inputs) + j``, its registered op name and its inputs' numbers.
    names : list of str
        A name per node, ``"n0"``, ``"n1"``, ...; the root is the last.
    """

    inputs: list[float]
    ops: list[tuple[str, tuple[int, ...]]]
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def declarations(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """``(name, op name, input names)`` for every operation node, in order."""
        first = len(self.inputs)
        return [
            (self.names[first + j], op, tuple(self.names[p] for p in parents))
            for j, (op, parents) in enumerate(self.ops)
        ]


def random_dag(size: int, seed: int = 0, inputs: int = 100, window: int = 1000) -> RandomDag:
    """A random DAG of exactly ``size`` nodes, ``inputs`` of them inputs, reproducible by seed."""
    rng = random.Random(seed)
    values = [rng.uniform(-1.0, 1.0) for _ in range(inputs)]
    bounds = [1.0] * inputs
    unused = deque(range(inputs))
    ops: list[tuple[str, tuple[int, ...]]] = []

    def add(op: str, parents: tuple[int, ...], bound: float) -> None:
        unused.append(len(bounds))
        bounds.append(bound)
        ops.append((op, parents))

    # The final sum of the unused nodes takes len(unused) - 1 == inputs - 1 more nodes.
    while len(bounds) + inputs - 1 < size:
        first, count = unused.popleft(), len(bounds)
        if rng.random() < 0.5:
            op, parents = rng.choice(UNARY), (first,)
        else:
            second = rng.randrange(max(0, count - window), count - 1)
            op, parents = rng.choice(BINARY), (first, second + (second >= first))
        bound = BOUNDS[op](*(bounds[p] for p in parents))
        if bound > LIMIT:
            op, parents, bound = "tanh", (first,), 1.0
        add(op, parents, bound)
    while len(unused) > 1:
        a, b = unused.popleft(), unused.popleft()
        add("add", (a, b), bounds[a] + bounds[b])
    return RandomDag(values, ops, [f"n{i}" for i in range(len(bounds))])


def declare_cgraph(dag: RandomDag, declarations=None):
    """A ComputationalGraph holding ``dag``; pass ``dag.declarations()`` to reuse them."""
    from cgraph import ComputationalGraph

    cg = ComputationalGraph()
    cg.add_inputs(**dict(zip(dag.names[: len(dag.inputs)], dag.inputs, strict=True)))
    for name, op, parents in declarations or dag.declarations():
        cg.add_computation_node(name, op, parents)
    return cg

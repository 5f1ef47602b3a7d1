"""Forward and backward through a random scalar DAG of 10,000 nodes: the time per node.

The DAG (``_random_dag.py``, seed 0) has 100 inputs in [-1, 1] and a mix of
unary sigmoid, tanh, sin, square, neg and exp (of bounded values) and binary
add, mul, sub and maximum; every node is an ancestor of the root. One call is a
forward pass to the root and a backward pass to every input. Contenders:

- ``python floor``: one Python loop over a precomputed list of (op name,
  input numbers), computing values with ``math``, then one loop back over it
  accumulating gradients into a list; no graph machinery at all.
- ``cgraph``: the graph is declared and compiled once, outside the timing
  (``compile(root)``, whose time per node is reported); a call is
  ``forward(root)`` and ``backward(root)``, which run the compiled plan.
- ``cgraph interpreted``: the same with plans turned off (``use_plans = False``).
- ``micrograd`` (0.1.0) and ``torch`` (eager, float64 scalars, one thread) are
  define-by-run: a call rebuilds the whole expression from its leaves and runs
  ``.backward()``, which is how they are used, so their time includes building
  the graph. Leaf gradients are reset first. micrograd lacks sigmoid, tanh, sin,
  exp and maximum; ``_micrograd_ops.py`` adds each as one node in its own style.

Before timing, the contenders must agree on the root's value and on every
input's gradient. The table gives the median call and its share per node.

Run ``python benchmarks/bench_random_dag.py [--quick] [--write]``.
"""

from __future__ import annotations

import math
import operator

import _harness
import _micrograd_ops
from _random_dag import RandomDag, declare_cgraph, random_dag
from micrograd.engine import Value


def python_floor(dag: RandomDag):
    """A call: the forward loop, then the reverse loop; returns root value and input grads."""
    # (position, op, a, b): a unary op's b repeats a, so that nothing is unpacked per node.
    program = [
        (i, op, parents[0], parents[-1])
        for i, (op, parents) in enumerate(dag.ops, start=len(dag.inputs))
    ]
    reverse = program[::-1]

    def run():
        values = [*dag.inputs, *[0.0] * len(program)]
        for i, op, a, b in program:
            x = values[a]
            if op == "add":
                values[i] = x + values[b]
            elif op == "mul":
                values[i] = x * values[b]
            elif op == "sub":
                values[i] = x - values[b]
            elif op == "maximum":
                values[i] = max(x, values[b])
            elif op == "sigmoid":
                values[i] = 1 / (1 + math.exp(-x))
            elif op == "tanh":
                values[i] = math.tanh(x)
            elif op == "sin":
                values[i] = math.sin(x)
            elif op == "square":
                values[i] = x * x
            elif op == "neg":
                values[i] = -x
            else:
                values[i] = math.exp(x)
        grads = [0.0] * len(values)
        grads[-1] = 1.0
        for i, op, a, b in reverse:
            upstream = grads[i]
            if op == "add":
                grads[a] += upstream
                grads[b] += upstream
            elif op == "mul":
                grads[a] += upstream * values[b]
                grads[b] += upstream * values[a]
            elif op == "sub":
                grads[a] += upstream
                grads[b] -= upstream
            elif op == "maximum":
                if values[a] == values[b]:  # ties split the gradient, as in torch
                    grads[a] += 0.5 * upstream
                    grads[b] += 0.5 * upstream
                else:
                    grads[a if values[a] > values[b] else b] += upstream
            elif op == "sigmoid":
                grads[a] += upstream * values[i] * (1 - values[i])
            elif op == "tanh":
                grads[a] += upstream * (1 - values[i] * values[i])
            elif op == "sin":
                grads[a] += upstream * math.cos(values[a])
            elif op == "square":
                grads[a] += upstream * 2 * values[a]
            elif op == "neg":
                grads[a] -= upstream
            else:
                grads[a] += upstream * values[i]
        return [values[-1], *grads[: len(dag.inputs)]]

    return run


def cgraph_engine(dag: RandomDag, use_plans: bool = True):
    """A call for cgraph: the graph is declared once, here; returns root value and grads."""
    cg = declare_cgraph(dag)
    cg.use_plans = use_plans
    root, input_names = dag.names[-1], dag.names[: len(dag.inputs)]
    if use_plans and hasattr(cg, "compile"):  # not on an engine before plans (compare.py)
        COMPILE_SECONDS.append(cg.compile(root).compile_seconds)

    def run():
        value, grads = cg.forward(root), cg.backward(root)
        return [value, *[grads[name] for name in input_names]]

    return run


def define_by_run(dag: RandomDag, leaves: list, functions: dict, reset_grads, read):
    """A call of a define-by-run engine: rebuild the expression from ``leaves``, backward.

    ``read(root, leaves)`` returns the root's value and the leaves' gradients.
    """

    def run():
        reset_grads()
        nodes = list(leaves)
        for op, parents in dag.ops:
            nodes.append(functions[op](*[nodes[p] for p in parents]))
        nodes[-1].backward()
        return read(nodes[-1], leaves)

    return run


def micrograd_engine(dag: RandomDag):
    """A call for micrograd: leaves made once, the rest rebuilt by ``define_by_run``."""
    leaves = [Value(value) for value in dag.inputs]
    functions = {
        "add": operator.add,
        "mul": operator.mul,
        "sub": operator.sub,
        "maximum": _micrograd_ops.maximum,
        "sigmoid": _micrograd_ops.sigmoid,
        "tanh": _micrograd_ops.tanh,
        "sin": _micrograd_ops.sin,
        "square": lambda v: v**2,
        "neg": operator.neg,
        "exp": _micrograd_ops.exp,
    }

    def reset_grads():
        for leaf in leaves:
            leaf.grad = 0

    def read(root, leaves):
        return [root.data, *[leaf.grad for leaf in leaves]]

    return define_by_run(dag, leaves, functions, reset_grads, read)


def torch_engine(dag: RandomDag):
    """A call for torch eager: leaves made once, the rest rebuilt by ``define_by_run``."""
    torch = _harness.import_torch()
    leaves = [torch.tensor(value, requires_grad=True) for value in dag.inputs]
    functions = {
        op: getattr(torch, op)
        for op in ("add", "mul", "sub", "maximum", "sigmoid", "tanh", "sin", "square", "neg", "exp")
    }

    def reset_grads():
        for leaf in leaves:
            leaf.grad = None

    def read(root, leaves):
        return [root.detach(), *[leaf.grad for leaf in leaves]]

    return define_by_run(dag, leaves, functions, reset_grads, read)


ENGINES = {
    "python floor": python_floor,
    "cgraph": cgraph_engine,
    "cgraph interpreted": lambda dag: cgraph_engine(dag, use_plans=False),
    "micrograd": micrograd_engine,
    "torch": torch_engine,
}
#: How long cgraph_engine's compile() took (writing and compiling the plan).
COMPILE_SECONDS: list[float] = []


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(3, 15))
    size, inputs = (500, 20) if options.quick else (10_000, 100)
    dag = random_dag(size, seed=0, inputs=inputs)
    runs = {name: make(dag) for name, make in ENGINES.items()}
    _harness.check_agree(
        "root value and input gradients",
        {name: [float(x) for x in run()] for name, run in runs.items()},
        rel=1e-9,
    )

    times = _harness.time_interleaved(runs, options.repeats)
    targets = [
        _harness.Target("cgraph faster than torch", _harness.speedup(times, "torch", "cgraph"), 5),
        _harness.Target(
            "cgraph faster than micrograd", _harness.speedup(times, "micrograd", "cgraph"), 4
        ),
        _harness.Target(
            "cgraph slower than the floor",
            _harness.speedup(times, "cgraph", "python floor"),
            1,
            at_least=False,
        ),
        *[
            _harness.Target(
                "compile time per node", seconds * 1e6 / len(dag), 100, at_least=False, unit=" us"
            )
            for seconds in COMPILE_SECONDS[:1]
        ],
    ]
    compiled = (
        f" cgraph's plan took {COMPILE_SECONDS[0] * 1e3:.0f} ms to write and compile "
        f"({COMPILE_SECONDS[0] * 1e6 / len(dag):.1f} us per node)."
        if COMPILE_SECONDS
        else ""
    )
    _harness.report(
        "bench_random_dag",
        f"Random DAG of {len(dag):,} nodes",
        f"One forward and backward pass through a seeded random scalar DAG of {len(dag):,} "
        f"nodes ({inputs} inputs); micrograd and torch rebuild it on every call.{compiled}",
        [_harness.contender_table(times, "python floor", len(dag), "node")],
        targets,
        options,
    )


if __name__ == "__main__":
    main()

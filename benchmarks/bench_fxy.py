"""Gradient descent on a small scalar function: the time of one step, per engine.

The function is the seed's example,

    f(x, y) = (x + sigmoid(y)) / (sigmoid(x) + (x + y)^2),

minimised from (x, y) = (2, -4) with learning rate 0.1. One step is a forward
pass, a backward pass and the update of both inputs. Contenders:

- ``python floor``: plain Python floats, ``math.exp`` and the gradient derived
  by hand for this exact f; the least any Python engine could do.
- ``cgraph``: the graph is declared once; a step is ``forward``, ``backward``
  and assigning ``inputs[name].output``. Passes run the graph's compiled plan
  (generated straight-line code), as they do by default.
- ``cgraph interpreted``: the same with plans turned off (``use_plans = False``):
  the interpreter's loop over the schedule.
- ``cgraph expression``: the same step, the graph declared as one expression,
  ``add_expression("f", "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)")``: the
  square is a ``pow`` node with a constant exponent, as users write it.
- ``cgraph value_and_grad``: the compiled plan called as a pure function
  (``cg.compile("f").value_and_grad()``, as ``jax.jit(jax.value_and_grad(f))``):
  the graph keeps no value or gradient of the pass, so none is stored node by
  node; the update of x and y is the same.
- ``micrograd`` (0.1.0): define-by-run, so every step rebuilds the expression;
  its sigmoid is built from its primitives as a user would, ``1 / (1 + exp(-v))``,
  with ``exp`` added in micrograd's own style (0.1.0 has none).
- ``torch``: eager mode, float64 scalars with ``requires_grad``, one thread;
  gradients set to None before each step, the update under ``no_grad``.

Before timing, every contender must give the same gradients at the first five
steps and at the last one. A timed call is a run of consecutive steps from
(2, -4) (the descent is chaotic further on, so every call restarts there); the
table gives the median call and its share per step.

Run ``python benchmarks/bench_fxy.py [--quick] [--write]``.
"""

from __future__ import annotations

import math

import _harness
import _micrograd_ops
from micrograd.engine import Value

from cgraph import ComputationalGraph
from cgraph.ops import Add, Div, Sigmoid, Square

START = (2.0, -4.0)
LEARNING_RATE = 0.1


def python_floor():
    """``(step, reset)`` on plain floats, with the gradient of f derived by hand.

    Every engine returns such a pair: ``step()`` makes one descent step and
    returns the gradients it used; ``reset()`` moves (x, y) back to the start.
    """
    point = list(START)

    def step():
        x, y = point
        sig_x, sig_y = 1 / (1 + math.exp(-x)), 1 / (1 + math.exp(-y))
        x_plus_y = x + y
        num, denom = x + sig_y, sig_x + x_plus_y * x_plus_y
        # f = num / denom: df = (dnum * denom - num * ddenom) / denom^2
        grad_x = (denom - num * (sig_x * (1 - sig_x) + 2 * x_plus_y)) / (denom * denom)
        grad_y = (sig_y * (1 - sig_y) * denom - num * 2 * x_plus_y) / (denom * denom)
        point[0] = x - LEARNING_RATE * grad_x
        point[1] = y - LEARNING_RATE * grad_y
        return grad_x, grad_y

    def reset():
        point[:] = START

    return step, reset


def declare_f():
    """The seed's graph of f(x, y), at the start."""
    cg = ComputationalGraph()
    cg.add_inputs(x=START[0], y=START[1])
    cg.add_computation_node("sigy", Sigmoid, ("y",))
    cg.add_computation_node("num", Add, ("x", "sigy"))
    cg.add_computation_node("sigx", Sigmoid, ("x",))
    cg.add_computation_node("xpy", Add, ("x", "y"))
    cg.add_computation_node("sq", Square, ("xpy",))
    cg.add_computation_node("denom", Add, ("sigx", "sq"))
    cg.add_computation_node("f", Div, ("num", "denom"))
    return cg


def declare_f_expression():
    """f(x, y) as one expression, at the start."""
    cg = ComputationalGraph()
    cg.add_inputs(x=START[0], y=START[1])
    cg.add_expression("f", "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)")
    return cg


def cgraph_engine(use_plans=True, declare=declare_f):
    """``(step, reset)`` for cgraph: the graph is declared once, here."""
    cg = declare()
    cg.use_plans = use_plans
    x, y = cg.inputs["x"], cg.inputs["y"]

    def step():
        cg.forward("f")
        grads = cg.backward("f")
        x.output -= LEARNING_RATE * grads["x"]
        y.output -= LEARNING_RATE * grads["y"]
        return grads["x"], grads["y"]

    def reset():
        x.output, y.output = START

    return step, reset


def compiled_engine():
    """``(step, reset)`` for cgraph's compiled plan as a pure function of the inputs."""
    cg = declare_f()
    f = cg.compile("f")
    x, y = cg.inputs["x"], cg.inputs["y"]

    def step():
        _, grads = f.value_and_grad()
        x.output -= LEARNING_RATE * grads["x"]
        y.output -= LEARNING_RATE * grads["y"]
        return grads["x"], grads["y"]

    def reset():
        x.output, y.output = START

    return step, reset


def micrograd_engine():
    """``(step, reset)`` for micrograd: each step builds f anew from the leaves x and y."""
    x, y = Value(START[0]), Value(START[1])

    def sigmoid(v):
        return 1 / (1 + _micrograd_ops.exp(-v))

    def step():
        x.grad = y.grad = 0
        f = (x + sigmoid(y)) / (sigmoid(x) + (x + y) ** 2)
        f.backward()
        x.data -= LEARNING_RATE * x.grad
        y.data -= LEARNING_RATE * y.grad
        return x.grad, y.grad

    def reset():
        x.data, y.data = START

    return step, reset


def torch_engine():
    """``(step, reset)`` for torch eager: each step builds f anew from the leaves x and y."""
    torch = _harness.import_torch()
    x = torch.tensor(START[0], requires_grad=True)
    y = torch.tensor(START[1], requires_grad=True)

    def step():
        x.grad = y.grad = None
        f = (x + torch.sigmoid(y)) / (torch.sigmoid(x) + (x + y) ** 2)
        f.backward()
        with torch.no_grad():
            x.sub_(LEARNING_RATE * x.grad)
            y.sub_(LEARNING_RATE * y.grad)
        return x.grad, y.grad

    def reset():
        with torch.no_grad():
            x.fill_(START[0])
            y.fill_(START[1])

    return step, reset


ENGINES = {
    "python floor": python_floor,
    "cgraph": cgraph_engine,
    "cgraph interpreted": lambda: cgraph_engine(use_plans=False),
    "cgraph expression": lambda: cgraph_engine(declare=declare_f_expression),
    "cgraph value_and_grad": compiled_engine,
    "micrograd": micrograd_engine,
    "torch": torch_engine,
}
if not hasattr(ComputationalGraph, "compile"):  # an engine before plans (benchmarks/compare.py)
    del ENGINES["cgraph value_and_grad"]


def descent(step, reset, steps):
    """A run of ``steps`` steps from the start; returns the gradients of every step."""

    def run():
        reset()
        return [step() for _ in range(steps)]

    return run


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(3, 15))
    steps = 50 if options.quick else 1000
    runs = {name: descent(*make(), steps) for name, make in ENGINES.items()}

    gradients = {name: run() for name, run in runs.items()}
    _harness.check_agree(
        "gradients of the first 5 steps",
        {name: [float(g) for step in grads[:5] for g in step] for name, grads in gradients.items()},
    )
    _harness.check_agree(
        f"gradients of step {steps}",
        {name: [float(g) for g in grads[-1]] for name, grads in gradients.items()},
        rel=1e-6,
    )

    times = _harness.time_interleaved(runs, options.repeats)
    targets = [
        _harness.Target(
            "cgraph slower than the floor",
            _harness.speedup(times, "cgraph", "python floor"),
            2,
            at_least=False,
        ),
        *[
            _harness.Target(
                "cgraph value_and_grad slower than the floor",
                _harness.speedup(times, "cgraph value_and_grad", "python floor"),
                2,
                at_least=False,
            )
            for _ in ("cgraph value_and_grad",)
            if "cgraph value_and_grad" in times
        ],
        _harness.Target("cgraph faster than torch", _harness.speedup(times, "torch", "cgraph"), 5),
        _harness.Target(
            "cgraph faster than micrograd", _harness.speedup(times, "micrograd", "cgraph"), 1.5
        ),
    ]
    _harness.report(
        "bench_fxy",
        "Gradient descent on f(x, y)",
        f"One step (forward, backward, update of x and y) of f(x, y) = (x + sigmoid(y)) / "
        f"(sigmoid(x) + (x + y)^2); a call is {steps} steps from (2, -4), learning rate 0.1.",
        [_harness.contender_table(times, "python floor", steps, "step")],
        targets,
        options,
    )


if __name__ == "__main__":
    main()

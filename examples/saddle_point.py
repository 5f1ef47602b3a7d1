"""Nested differentiation: find a saddle point by minimising the size of a gradient.

L(x, y) = x^2 - y^2 + x y + sin(x) has a saddle point, where its gradient is
zero but it is a minimum along one direction and a maximum along another.
Gradient descent on L cannot find it (it runs off towards y = +-infinity), but
the saddle is the minimum of the squared size of L's gradient,

    S(x, y) = |grad L(x, y)|^2 = (dL/dx)^2 + (dL/dy)^2,

and descending S needs the derivative of a derivative: the gradient of S goes
through dL/dx = 2x + y + cos(x) and dL/dy = -2y + x.

cgraph writes grad L as a graph of its own (``gradient_graph``), and that graph
is used inside the outer problem as a subgraph (``add_subgraph``): no node is
copied by hand, and the same L serves both. The node-by-node form, which
declares dL/dx and dL/dy by hand, is timed beside it; both find the same point.
At the end the Hessian of L there has one positive and one negative
eigenvalue: a saddle.

Run ``python examples/saddle_point.py``.
"""

from __future__ import annotations

import time

import numpy as np

from cgraph import ComputationalGraph, minimize
from cgraph.optim import Adam

START = {"x": 1.0, "y": 1.0}
STEPS = 3000


def lagrangian() -> ComputationalGraph:
    """L(x, y) = x^2 - y^2 + x y + sin(x)."""
    lag = ComputationalGraph()
    lag.add_inputs(x=0.0, y=0.0)
    lag.add_computation_node("x2", "square", ("x",))
    lag.add_computation_node("y2", "square", ("y",))
    lag.add_computation_node("xy", "mul", ("x", "y"))
    lag.add_computation_node("sin_x", "sin", ("x",))
    lag.add_computation_node("quadratic", "sub", ("x2", "y2"))
    lag.add_computation_node("mixed", "add", ("quadratic", "xy"))
    lag.add_computation_node("L", "add", ("mixed", "sin_x"))
    return lag


def nested() -> ComputationalGraph:
    """S = |grad L|^2, with grad L the gradient graph of L used as a subgraph."""
    grad_l = lagrangian().gradient_graph("L", ["x", "y"])
    size_graph = ComputationalGraph()
    size_graph.add_inputs(**START)
    outputs = size_graph.add_subgraph(
        "dL", grad_l, {"x": "x", "y": "y"}, outputs=["grad/L/x", "grad/L/y"]
    )
    size_graph.add_computation_node("gx2", "square", (outputs["grad/L/x"],))
    size_graph.add_computation_node("gy2", "square", (outputs["grad/L/y"],))
    size_graph.add_computation_node("S", "add", ("gx2", "gy2"))
    return size_graph


def by_hand() -> ComputationalGraph:
    """The same S with dL/dx = 2x + y + cos(x) and dL/dy = -2y + x declared node by node."""
    size_graph = ComputationalGraph()
    size_graph.add_inputs(**START)
    size_graph.add_constant("two", 2.0)
    size_graph.add_computation_node("two_x", "mul", ("two", "x"))
    size_graph.add_computation_node("two_y", "mul", ("two", "y"))
    size_graph.add_computation_node("cos_x", "cos", ("x",))
    size_graph.add_computation_node("gx_a", "add", ("two_x", "y"))
    size_graph.add_computation_node("gx", "add", ("gx_a", "cos_x"))
    size_graph.add_computation_node("gy", "sub", ("x", "two_y"))
    size_graph.add_computation_node("gx2", "square", ("gx",))
    size_graph.add_computation_node("gy2", "square", ("gy",))
    size_graph.add_computation_node("S", "add", ("gx2", "gy2"))
    return size_graph


def solve(declare) -> tuple[dict[str, float], float, float, int]:
    """Declare S and minimise it: the point, the declaration and solve times, the node count."""
    began = time.perf_counter()
    size_graph = declare()
    declared = time.perf_counter()
    result = minimize(
        size_graph, "S", ["x", "y"], optimizer=Adam(lr=0.05), steps=STEPS, tol=1e-20, progress=False
    )
    solved = time.perf_counter()
    point = {name: float(value) for name, value in result.x.items()}
    return point, declared - began, solved - declared, len(size_graph)


def main() -> None:
    point, declare_s, solve_s, nodes = solve(nested)
    hand, hand_declare_s, hand_solve_s, hand_nodes = solve(by_hand)
    print(
        f"saddle point (gradient graph as a subgraph): x = {point['x']:.10f}, y = {point['y']:.10f}"
    )
    print(
        f"saddle point (declared node by node):        x = {hand['x']:.10f}, y = {hand['y']:.10f}"
    )
    print(f"largest difference between the two: {max(abs(point[k] - hand[k]) for k in point):.1e}")

    lag = lagrangian()
    gradient = lag.gradient_graph("L", ["x", "y"])
    for name, value in point.items():
        gradient.inputs[name].output = value
    size = float(np.hypot(gradient.forward("grad/L/x"), gradient.forward("grad/L/y")))
    print(f"|grad L| there: {size:.1e}")
    blocks = lag.hessian("L", ["x", "y"], feed=point)  # torch's shape: one block per pair
    hessian = np.array([[float(blocks[a][b]) for b in range(2)] for a in range(2)])
    eigenvalues = np.linalg.eigvalsh(hessian)
    print(
        f"Hessian eigenvalues there: {eigenvalues[0]:.6f}, {eigenvalues[1]:.6f} "
        f"({'a saddle' if eigenvalues[0] < 0 < eigenvalues[1] else 'not a saddle'})"
    )
    print()
    print(f"{'':28} {'nodes':>5} {'declare':>10} {'solve':>10}")
    print(
        f"{'gradient graph as subgraph':28} {nodes:>5} {declare_s * 1e3:>7.2f} ms "
        f"{solve_s * 1e3:>7.1f} ms"
    )
    print(
        f"{'declared node by node':28} {hand_nodes:>5} {hand_declare_s * 1e3:>7.2f} ms "
        f"{hand_solve_s * 1e3:>7.1f} ms"
    )


if __name__ == "__main__":
    main()

"""A damped oscillator integrated by Runge-Kutta 4 as a loop, and its gradient in the damping.

The oscillator x'' = -k x - c x' is the system y' = f(y) for y = (x, v),
f(x, v) = (v, -k x - c v). One classic Runge-Kutta step of size dt is

    k1 = f(y),  k2 = f(y + dt/2 k1),  k3 = f(y + dt/2 k2),  k4 = f(y + dt k3),
    y' = y + dt/6 (k1 + 2 k2 + 2 k3 + k4),

declared once as a graph (``rk4_step``, from formulas) and applied
STEPS times from (x, v) = (1, 0) to t = STEPS dt by ``cg.add_loop``: one node,
whatever the number of steps. The example

- compares x(T) with the exact solution of the oscillator (RK4's error is of
  order dt^4);
- differentiates x(T) with respect to the damping c by ``backward`` (the loop
  runs the step's backward from the last step to the first), and checks it
  against central differences of the loop itself and against forward mode (``jvp``);
- declares the same integration node by node, one ``add_subgraph`` per step,
  and prints both forms' node counts, declaration and evaluation times, and
  that they give the same numbers.

Run it with ``python examples/rk4_ode.py``.
"""

import math
import time

from cgraph import ComputationalGraph

K, C = 4.0, 0.3  # stiffness and damping
DT, STEPS = 0.01, 500  # to T = 5
X0, V0 = 1.0, 0.0


def rk4_step() -> ComputationalGraph:
    """One RK4 step of the oscillator: inputs x, v, k, c, dt; outputs x_next, v_next."""
    step = ComputationalGraph()
    step.add_inputs(x=0.0, v=0.0, k=K, c=C, dt=DT)
    step.add_expression("h", "0.5 * dt")
    step.add_expression("a1", "-k * x - c * v")  # k1 = (v, a1)
    step.add_expression("x2", "x + h * v")
    step.add_expression("v2", "v + h * a1")
    step.add_expression("a2", "-k * x2 - c * v2")  # k2 = (v2, a2)
    step.add_expression("x3", "x + h * v2")
    step.add_expression("v3", "v + h * a2")
    step.add_expression("a3", "-k * x3 - c * v3")  # k3 = (v3, a3)
    step.add_expression("x4", "x + dt * v3")
    step.add_expression("v4", "v + dt * a3")
    step.add_expression("a4", "-k * x4 - c * v4")  # k4 = (v4, a4)
    step.add_expression("x_next", "x + dt / 6 * (v + 2 * v2 + 2 * v3 + v4)")
    step.add_expression("v_next", "v + dt / 6 * (a1 + 2 * a2 + 2 * a3 + a4)")
    return step


def outer_graph() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x0=X0, v0=V0, c=C)
    cg.add_input("k", K, trainable=False)
    cg.add_input("dt", DT, trainable=False)
    return cg


def as_loop(step: ComputationalGraph) -> ComputationalGraph:
    cg = outer_graph()
    cg.add_loop(
        "x_T",
        step,
        carry={"x": "x0", "v": "v0"},
        updates={"x": "x_next", "v": "v_next"},
        inputs={"k": "k", "c": "c", "dt": "dt"},
        steps=STEPS,
        output="x",
    )
    return cg


def node_by_node(step: ComputationalGraph) -> tuple[ComputationalGraph, str]:
    cg = outer_graph()
    x, v = "x0", "v0"
    for t in range(STEPS):
        names = cg.add_subgraph(
            f"rk4@{t}",
            step,
            {"x": x, "v": v, "k": "k", "c": "c", "dt": "dt"},
            outputs=["x_next", "v_next"],
        )
        x, v = names["x_next"], names["v_next"]
    return cg, x


def exact_x(t: float, c: float = C) -> float:
    """The underdamped oscillator from (1, 0): e^(-c t/2) (cos w t + c/(2w) sin w t)."""
    w = math.sqrt(K - c * c / 4)
    return math.exp(-c * t / 2) * (math.cos(w * t) + c / (2 * w) * math.sin(w * t))


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def main() -> None:
    step = rk4_step()
    loop, declare_loop = timed(lambda: as_loop(step))
    x_end, forward_loop = timed(lambda: loop.forward("x_T"))
    grads, backward_loop = timed(lambda: loop.backward("x_T"))
    print(
        f"RK4, {STEPS} steps of dt = {DT} to T = {STEPS * DT:g}, one step = "
        f"{len(step.operations)} operations"
    )
    print(f"x(T) by the loop      = {x_end:.12f}")
    print(f"x(T) exact            = {exact_x(STEPS * DT):.12f}")
    print(f"error                 = {abs(x_end - exact_x(STEPS * DT)):.2e}")

    eps = 1e-6
    central = (
        loop.forward("x_T", feed={"c": C + eps}) - loop.forward("x_T", feed={"c": C - eps})
    ) / (2 * eps)
    _, tangent = loop.jvp("x_T", {"c": 1.0})
    exact_slope = (exact_x(STEPS * DT, C + eps) - exact_x(STEPS * DT, C - eps)) / (2 * eps)
    print(f"dx(T)/dc by backward  = {grads['c']:.10f}")
    print(f"dx(T)/dc by jvp       = {tangent:.10f}")
    print(f"central differences   = {central:.10f}")
    print(f"of the exact solution = {exact_slope:.10f}")
    print(f"|backward - central|  = {abs(grads['c'] - central):.1e}")

    (unrolled, x_name), declare_unrolled = timed(lambda: node_by_node(step))
    x_unrolled, forward_unrolled = timed(lambda: unrolled.forward(x_name))
    grads_unrolled, backward_unrolled = timed(lambda: unrolled.backward(x_name))
    print()
    print(f"{'':14}{'nodes':>8}{'declare':>11}{'forward':>11}{'backward':>11}  (first passes)")
    for label, graph, times in (
        ("loop", loop, (declare_loop, forward_loop, backward_loop)),
        ("node by node", unrolled, (declare_unrolled, forward_unrolled, backward_unrolled)),
    ):
        cells = "".join(f"{seconds * 1e3:9.1f}ms" for seconds in times)
        print(f"{label:14}{len(graph):8d}{cells}")
    same = max(
        abs(x_end - x_unrolled),
        abs(grads["c"] - grads_unrolled["c"]),
        abs(grads["x0"] - grads_unrolled["x0"]),
    )
    print(f"largest difference between the two forms (x(T), dx/dc, dx/dx0) = {same:.1e}")


if __name__ == "__main__":
    main()

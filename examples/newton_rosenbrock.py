"""Newton's method beside gradient descent on Rosenbrock's function, using cgraph's Hessian.

f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 has its minimum 0 at (1, 1), at the end
of a long, curved valley. Both methods start at the classic (-1.2, 1), search
along their direction d with the same backtracking line search (halve the step
t from 1 until f(p + t d) <= f(p) + 1e-4 t g.d, Armijo's condition), and stop
when the gradient's norm is below TOL = 1e-8:

- gradient descent steps along d = -g, the gradient from ``cg.backward``. The
  valley is about 2,500 times more curved across than along (the condition
  number of the Hessian at the minimum), so it zigzags down the valley floor:
  thousands of steps.
- Newton's method steps along d = -H^-1 g, with the Hessian H from
  ``cg.hessian("f", ["x", "y"])`` (the gradient graph differentiated by forward
  mode) and ``np.linalg.solve``. Near the minimum it converges quadratically:
  a few dozen steps in all. Where H is not positive definite, -H^-1 g may not
  go downhill; then it takes the gradient step instead.

Run it with ``python examples/newton_rosenbrock.py``.
"""

import numpy as np

from cgraph import ComputationalGraph

START = (-1.2, 1.0)
TOL = 1e-8
MAX_STEPS = 100_000


def build_graph() -> ComputationalGraph:
    """Declare f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 at the classic start (-1.2, 1)."""
    cg = ComputationalGraph()
    cg.add_inputs(x=START[0], y=START[1])
    cg.add_constant("one", 1.0)
    cg.add_constant("hundred", 100.0)
    cg.add_computation_node("1-x", "sub", ("one", "x"))
    cg.add_computation_node("(1-x)^2", "square", ("1-x",))
    cg.add_computation_node("x^2", "square", ("x",))
    cg.add_computation_node("y-x^2", "sub", ("y", "x^2"))
    cg.add_computation_node("(y-x^2)^2", "square", ("y-x^2",))
    cg.add_computation_node("valley", "mul", ("hundred", "(y-x^2)^2"))
    cg.add_computation_node("f", "add", ("(1-x)^2", "valley"))
    return cg


def point(cg: ComputationalGraph) -> np.ndarray:
    return np.array([cg.inputs["x"].output, cg.inputs["y"].output])


def line_search(
    cg: ComputationalGraph, value: float, grad: np.ndarray, direction: np.ndarray
) -> None:
    """Move the inputs along ``direction`` by the first halving of 1 that decreases f enough."""
    p, slope, t = point(cg), float(grad @ direction), 1.0
    while (
        cg.forward("f", feed=dict(zip("xy", p + t * direction, strict=True)))
        > (value + 1e-4 * t * slope)
        and t > 1e-12
    ):
        t /= 2
    cg.inputs["x"].output, cg.inputs["y"].output = (float(c) for c in p + t * direction)


def minimise(newton: bool) -> tuple[int, np.ndarray, float]:
    """Run one method from the start; return its steps, final point and gradient norm."""
    cg = build_graph()
    steps = 0
    while True:
        value = cg.forward("f")
        grads = cg.backward("f")
        grad = np.array([grads["x"], grads["y"]])
        if np.linalg.norm(grad) < TOL or steps == MAX_STEPS:
            break
        steps += 1
        direction = -grad
        if newton:
            newton_step = -np.linalg.solve(np.array(cg.hessian("f", ["x", "y"])), grad)
            if grad @ newton_step < 0:  # downhill only where H is positive definite
                direction = newton_step
        line_search(cg, value, grad, direction)
    return steps, point(cg), float(np.linalg.norm(grad))


def main() -> None:
    cg = build_graph()
    print("Rosenbrock f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1); minimum at (1, 1)")
    print("Hessian at the start:", np.array(cg.hessian("f", ["x", "y"])).tolist())
    print(
        "Hessian at (1, 1):",
        np.array(cg.hessian("f", ["x", "y"], feed={"x": 1.0, "y": 1.0})).tolist(),
    )
    print(f"stopping when |gradient| < {TOL:g}")
    results = {}
    for label, newton in (("Newton's method", True), ("gradient descent", False)):
        steps, final, norm = minimise(newton)
        results[label] = steps
        print(
            f"{label}: {steps} steps to ({final[0]:.10f}, {final[1]:.10f}), "
            f"|gradient| = {norm:.2e}, distance to (1, 1) = {np.linalg.norm(final - 1):.2e}"
        )
    ratio = results["gradient descent"] / results["Newton's method"]
    print(f"Newton's method took {ratio:.0f} times fewer steps")


if __name__ == "__main__":
    main()

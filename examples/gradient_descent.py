"""Gradient descent on f(x, y) = x^2 + y^2 + 400 x + 8 y, written as a plain loop.

The gradient is

    df/dx = 2 x + 400,    df/dy = 2 y + 8,

so the minimum is where both vanish: (x, y) = (-200, -4), with
f = -40016. Each step of gradient descent with learning rate lr = 0.1 is

    x <- x - lr (2 x + 400) = 0.8 x - 40,    y <- 0.8 y - 0.8,

so after n steps from (0, 0) the point is exactly

    x_n = -200 (1 - 0.8^n),    y_n = -4 (1 - 0.8^n):

the distance to the minimum shrinks by a factor 0.8 per step, and after 50
steps (0.8^50 = 1.4e-5) the point is (-199.99715, -3.99994).

The loop is the one you would write for any model: ``forward`` the loss,
``backward`` it, and move every trainable input against its gradient through
``cg.inputs[name].output``. ``backward`` starts from fresh gradients on every
call, so there is nothing to zero between steps.

Run it with ``python examples/gradient_descent.py``.
"""

from cgraph import ComputationalGraph

LEARNING_RATE = 0.1
STEPS = 50


def build_graph() -> ComputationalGraph:
    """Declare f(x, y) = x^2 + y^2 + 400 x + 8 y, starting from (0, 0).

    Returns
    -------
    ComputationalGraph
        The graph, whose only sink is ``f``.
    """
    cg = ComputationalGraph()
    cg.add_inputs(x=0.0, y=0.0)
    cg.add_constant("a", 400.0)
    cg.add_constant("b", 8.0)
    cg.add_computation_node("x2", "square", ("x",))
    cg.add_computation_node("y2", "square", ("y",))
    cg.add_computation_node("ax", "mul", ("a", "x"))
    cg.add_computation_node("by", "mul", ("b", "y"))
    cg.add_computation_node("quadratic", "add", ("x2", "y2"))
    cg.add_computation_node("linear", "add", ("ax", "by"))
    cg.add_computation_node("f", "add", ("quadratic", "linear"))
    return cg


def main() -> None:
    """Run 50 steps of gradient descent and compare with the exact minimum."""
    cg = build_graph()
    for step in range(STEPS):
        loss = cg.forward("f")
        grads = cg.backward("f")
        if step % 10 == 0:
            x, y = cg.get_value("x"), cg.get_value("y")
            print(f"step {step:2d}: f = {loss:12.4f} at (x, y) = ({x:11.6f}, {y:9.6f})")
        for name, grad in grads.items():
            cg.inputs[name].output -= LEARNING_RATE * grad

    x, y = cg.get_value("x"), cg.get_value("y")
    print(f"step {STEPS:2d}: f = {cg.forward('f'):12.4f} at (x, y) = ({x:11.6f}, {y:9.6f})")
    print()
    print(f"final point after {STEPS} steps: x = {x:.6f}, y = {y:.6f}")
    shrink = (1 - 2 * LEARNING_RATE) ** STEPS
    print(
        f"predicted by x_n = -200 (1 - 0.8^n), y_n = -4 (1 - 0.8^n): "
        f"x = {-200 * (1 - shrink):.6f}, y = {-4 * (1 - shrink):.6f}"
    )
    # Setting the gradient to zero: x = -400 / 2, y = -8 / 2, f = -(400^2 + 8^2) / 4.
    print(f"exact minimum: x = {-400 / 2:g}, y = {-8 / 2:g}, f = {-(400**2 + 8**2) / 4:g}")


if __name__ == "__main__":
    main()

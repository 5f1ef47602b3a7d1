"""Defining new operations: by subclassing ``cgraph.Operation``, or with a decorator.

An operation y = op(x_1, ..., x_n) needs two things: ``forward``, which
computes y, and ``backward``, which receives the upstream gradient u = dL/dy
and returns one gradient per input, u * dy/dx_i (a vector-Jacobian product).

1. Subclassing, for ops with parameters or saved state. The smooth absolute
   value

       y = sqrt(x^2 + eps^2),    dy/dx = x / y,

   keeps x and y on ``self`` in ``forward`` for ``backward`` to use. Each node
   gets its own copy of the op instance, so one instance declared for two
   nodes keeps two separate states.

2. The ``cgraph.operation(grad=...)`` decorator, for a function and its
   derivative rule. The squared difference

       y = (a - b)^2,    dy/da = 2 (a - b),    dy/db = -2 (a - b),

   gets ``grad(upstream, output, a, b)`` returning one gradient per input.

Both are registered by name (``name = ...`` on the class; the function's name
for the decorator), so a node can name them like any built-in op. Both are
checked against central finite differences with ``cgraph.gradcheck``, the way
every new operation should be.

Run it with ``python examples/custom_op.py``.
"""

import numpy as np

import cgraph
from cgraph import ComputationalGraph, Operation, gradcheck


class SmoothAbs(Operation):
    """Smooth absolute value y = sqrt(x^2 + eps^2); dy/dx = x / y.

    Parameters
    ----------
    eps : float, default 1e-3
        How far from 0 the kink of |x| is rounded off.
    """

    name = "smooth_abs"

    def __init__(self, eps: float = 1e-3) -> None:
        self.eps = eps

    def params(self) -> dict[str, float]:
        """The constructor's parameters, shown in summaries and reprs."""
        return {"eps": self.eps}

    def forward(self, x):
        self.x = x
        self.out = np.sqrt(x * x + self.eps**2)
        return self.out

    def backward(self, upstream):
        return (upstream * self.x / self.out,)


@cgraph.operation(
    grad=lambda upstream, out, a, b: (2 * (a - b) * upstream, -2 * (a - b) * upstream)
)
def sq_diff(a, b):
    """Squared difference y = (a - b)^2; dy/da = 2 (a - b), dy/db = -2 (a - b)."""
    return (a - b) ** 2


def main() -> None:
    """Use both operations in one graph and check their gradients."""
    print(
        f"registered: 'smooth_abs' -> {cgraph.OPERATIONS['smooth_abs'].__name__}, "
        f"'sq_diff' -> {cgraph.OPERATIONS['sq_diff'].__name__}"
    )
    print()

    # f = sq_diff(smooth_abs(x), smooth_abs(y)) + smooth_abs(y) with a sharper eps.
    cg = ComputationalGraph()
    cg.add_inputs(x=-1.5, y=0.5)
    soft = SmoothAbs(eps=0.5)
    cg.add_computation_node("ax", soft, ("x",))  # one instance for two nodes:
    cg.add_computation_node("ay", soft, ("y",))  # each node gets its own copy
    cg.add_computation_node("ay_sharp", "smooth_abs", ("y",), eps=0.01)  # by name
    cg.add_computation_node("d", sq_diff, ("ax", "ay"))
    cg.add_computation_node("f", "add", ("d", "ay_sharp"))

    f = cg.forward("f")
    grads = cg.backward("f")
    print(f"f = {f:.10f}, df/dx = {grads['x']:.10f}, df/dy = {grads['y']:.10f}")
    print(cg.summary())
    print()
    print(
        f"saved state: node 'ax' holds x = {cg.operations['ax'].op.x}, "
        f"node 'ay' holds x = {cg.operations['ay'].op.x}"
    )
    print()

    # The same gradients by hand: y_a = smooth_abs(a), f = (y_x - y_y)^2 + sharp(y).
    ax, ay, sharp = cg.get_value("ax"), cg.get_value("ay"), cg.get_value("ay_sharp")
    by_hand_x = 2 * (ax - ay) * (-1.5 / ax)
    by_hand_y = -2 * (ax - ay) * (0.5 / ay) + 0.5 / sharp
    print(f"by hand: df/dx = {by_hand_x:.10f}, df/dy = {by_hand_y:.10f}")
    print(f"gradcheck(cg, 'f') -> {gradcheck(cg, 'f')}")
    print()

    # Elementwise on arrays too: numpy does the work in forward and backward.
    arrays = ComputationalGraph()
    arrays.add_inputs(a=np.array([-2.0, 0.0, 3.0]), b=np.array([1.0, 1.0, 1.0]))
    arrays.add_computation_node("s", "smooth_abs", ("a",), eps=0.1)
    arrays.add_computation_node("d", "sq_diff", ("s", "b"))
    print(f"on arrays: d = {arrays.forward('d')}")
    print(f"gradcheck(arrays, 'd') -> {gradcheck(arrays, 'd')}")

    # A wrong derivative rule is caught, naming the input and the element.
    @cgraph.operation(grad=lambda upstream, out, x: upstream * 2 * x, name="cube_wrong")
    def cube(x):
        """x^3 with a deliberately wrong derivative (2 x instead of 3 x^2)."""
        return x**3

    wrong = ComputationalGraph()
    wrong.add_inputs(x=2.0)
    wrong.add_computation_node("c", cube, ("x",))
    try:
        gradcheck(wrong, "c")
    except cgraph.GradientMismatchError as err:
        print(f"a wrong rule fails gradcheck: {err}")


if __name__ == "__main__":
    main()

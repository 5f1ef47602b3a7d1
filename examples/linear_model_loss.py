"""The squared error of a linear model, with data as non-trainable inputs.

A model predicts y from x with two weights, pred = w0 + w1 x, and is scored
by the squared error

    L = (w0 + w1 x - y)^2.

With r = w0 + w1 x - y the chain rule gives

    dL/dw0 = 2 r,    dL/dw1 = 2 r x.

At x = 3, y = 7, w0 = -2, w1 = 2: pred = 4, r = -3, L = 9, dL/dw0 = -6 and
dL/dw1 = -18. The weights are trainable inputs; the data point (x, y) is
declared with ``trainable=False``, so ``backward`` skips it and asking for its
gradient is an error. A different data point is passed with ``feed``, which
leaves the inputs' own values unchanged.

Run it with ``python examples/linear_model_loss.py``.
"""

from cgraph import ComputationalGraph, GraphError, gradcheck


def build_graph() -> ComputationalGraph:
    """Declare L = (w0 + w1 x - y)^2 with data x, y and weights w0, w1.

    Returns
    -------
    ComputationalGraph
        The graph, with root ``loss``.
    """
    cg = ComputationalGraph()
    cg.add_input("x", 3.0, trainable=False)  # data: no gradient wanted
    cg.add_input("y", 7.0, trainable=False)
    cg.add_inputs(w0=-2.0, w1=2.0)  # weights: trainable
    cg.add_computation_node("w1x", "mul", ("w1", "x"))
    cg.add_computation_node("pred", "add", ("w0", "w1x"))
    cg.add_computation_node("residual", "sub", ("pred", "y"))
    cg.add_computation_node("loss", "square", ("residual",))
    return cg


def main() -> None:
    """Print the loss and its gradients at x=3, y=7, w0=-2, w1=2, and check them."""
    cg = build_graph()
    loss = cg.forward("loss")
    grads = cg.backward("loss")
    print(f"prediction = {cg.get_value('pred')}, loss = {loss}")
    print(f"dL/dw0 = {grads['w0']}")
    print(f"dL/dw1 = {grads['w1']}")
    residual = cg.get_value("residual")
    x = cg.get_value("x")
    print(f"by hand: 2 r = {2 * residual}, 2 r x = {2 * residual * x}")
    print(f"backward returned gradients for {sorted(grads)} only")
    try:
        cg.get_gradient("x")
    except GraphError as err:
        print(f"get_gradient('x') raises {type(err).__name__}: {err}")
    print(f"gradcheck(cg, 'loss') -> {gradcheck(cg, 'loss')}")
    print()

    print(cg.summary())
    print()

    loss = cg.forward("loss", feed={"x": 1.0, "y": 2.0})
    grads = cg.backward("loss")
    print(
        f"at the data point x=1, y=2 (fed): loss = {loss}, "
        f"dL/dw0 = {grads['w0']}, dL/dw1 = {grads['w1']}"
    )
    print(f"the inputs keep their own values: x = {cg.get_value('x')}, y = {cg.get_value('y')}")


if __name__ == "__main__":
    main()

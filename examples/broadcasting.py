"""Arrays and broadcasting: a linear model y = w * x + b fitted by mean squared error.

Four samples of three features, x of shape (4, 3), are scaled feature by
feature by weights w of shape (3,) and shifted by a scalar bias b:

    y[i, j] = w[j] x[i, j] + b,    r = y - t,    L = sum_ij r[i, j]^2 / 12.

``w * x`` broadcasts w over the 4 rows and ``+ b`` broadcasts b over all 12
elements, as in numpy. To show every intermediate's shape, the first root is
the (4, 3) array of terms r^2 / 12: ``backward`` seeds every element of an
array root with 1, which differentiates the sum of its elements, i.e. the mean
squared error L. The usual way, a ``mean`` reduction of r^2 to a scalar root,
gives the same gradients, and the fit below uses it. Differentiating by hand,

    dL/dw[j] = sum_i 2 r[i, j] x[i, j] / 12,    dL/db = sum_ij 2 r[i, j] / 12:

the gradient of a broadcast input is the sum of its gradients over the axes
it was broadcast along. The engine does that sum, so dL/dw has w's shape (3,)
and dL/db is a float like b, while intermediate nodes keep shape (4, 3).

Run it with ``python examples/broadcasting.py``.
"""

import numpy as np

from cgraph import ComputationalGraph, gradcheck


def build_graph(x: np.ndarray, t: np.ndarray) -> ComputationalGraph:
    """Declare the terms r^2 / n of the mean squared error of y = w * x + b.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, 3)
        The samples (a non-trainable input).
    t : numpy.ndarray, shape (n, 3)
        The targets (a non-trainable input).

    Returns
    -------
    ComputationalGraph
        The graph, whose only sink ``terms`` has shape (n, 3).
    """
    cg = ComputationalGraph()
    cg.add_input("x", x, trainable=False)
    cg.add_input("t", t, trainable=False)
    cg.add_inputs(w=np.array([0.5, -1.0, 2.0]), b=0.1)
    cg.add_constant("inv_n", 1.0 / t.size)
    cg.add_computation_node("wx", "mul", ("w", "x"))  # (3,) * (4, 3) -> (4, 3)
    cg.add_computation_node("y", "add", ("wx", "b"))  # (4, 3) + () -> (4, 3)
    cg.add_computation_node("r", "sub", ("y", "t"))
    cg.add_computation_node("r2", "square", ("r",))
    cg.add_computation_node("terms", "mul", ("r2", "inv_n"))  # sum of terms = MSE
    return cg


def main() -> None:
    """Differentiate the mean squared error and show the shape of every gradient."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    t = x * np.array([1.0, 2.0, -1.0]) + 0.5  # targets from w = (1, 2, -1), b = 0.5
    cg = build_graph(x, t)

    terms = cg.forward("terms")
    grads = cg.backward("terms")
    print(f"root 'terms' has shape {terms.shape}; mean squared error = {terms.sum():.6f}")
    print()
    print("node   value shape   gradient shape")
    for name in ("w", "b", "wx", "y", "r", "terms"):
        value, grad = cg.get_value(name), cg.get_gradient(name)
        print(f"{name:5s}  {np.shape(value)!s:11s}   {np.shape(grad)!s}")
    print()

    r = cg.get_value("r")
    print(f"dL/dw = {grads['w']}")
    print(f"  by hand, sum over rows of 2 r x / 12: {np.sum(2 * r * x, axis=0) / t.size}")
    print(f"dL/db = {grads['b']:.10f}  ({type(grads['b']).__name__}, like b)")
    print(f"  by hand, sum of 2 r / 12:             {np.sum(2 * r) / t.size:.10f}")
    print(f"gradcheck(cg, 'terms') -> {gradcheck(cg, 'terms')}")

    # The same loss as a scalar: the mean reduction of r^2 over all 12 elements.
    cg.add_computation_node("mse", "mean", ("r2",))
    mse = cg.forward("mse")
    same = all(np.allclose(cg.backward("mse")[name], grads[name]) for name in grads)
    print(f"mse = mean(r2), a scalar root: {mse:.6f}, the same gradients: {same}")
    print()

    # The same gradients drive gradient descent on arrays.
    learning_rate = 0.2
    for step in range(201):
        mse = cg.forward("mse")
        grads = cg.backward("mse")
        if step % 50 == 0:
            print(f"step {step:3d}: mse = {mse:.3e}")
        for name, grad in grads.items():
            cg.inputs[name].output -= learning_rate * grad
    print(
        f"fitted w = {np.round(cg.get_value('w'), 4)}, b = {cg.get_value('b'):.4f} "
        "(the targets used w = [1, 2, -1], b = 0.5)"
    )


if __name__ == "__main__":
    main()

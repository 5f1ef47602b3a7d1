"""The sigmoid built from primitive operations, differentiated and checked.

The logistic sigmoid is

    s(z) = 1 / (1 + e^(-z)),

which is a chain of four primitive steps, each a named node here:
``neg = -z``, ``e = exp(neg)``, ``den = one + e`` (``one`` a constant 1) and
``s = 1 / den``. Reverse mode multiplies the local derivatives along the chain,

    ds/dz = (-1 / den^2) * 1 * e * (-1) = e / (1 + e)^2 = s (1 - s),

so at z = 0 (e = 1, den = 2) the sigmoid is 0.5 and its derivative 0.25.
The script checks that value against central finite differences and against
the built-in ``Sigmoid`` operation, whose backward uses s (1 - s) directly.

Run it with ``python examples/sigmoid_from_primitives.py``.
"""

from cgraph import ComputationalGraph, gradcheck, numerical_gradient
from cgraph.ops import Add, Exp, Inv, Neg, Sigmoid


def build_graph(z: float) -> ComputationalGraph:
    """Declare s(z) = 1 / (1 + e^-z) from primitives, and the built-in sigmoid beside it.

    Parameters
    ----------
    z : float
        The point to evaluate at.

    Returns
    -------
    ComputationalGraph
        A graph with two roots: ``s`` (from primitives) and ``s_builtin``.
    """
    cg = ComputationalGraph()
    cg.add_inputs(z=z)
    cg.add_constant("one", 1.0)
    cg.add_computation_node("neg", Neg, ("z",))
    cg.add_computation_node("e", Exp, ("neg",))
    cg.add_computation_node("den", Add, ("one", "e"))
    cg.add_computation_node("s", Inv, ("den",))
    cg.add_computation_node("s_builtin", Sigmoid, ("z",))
    return cg


def main() -> None:
    """Evaluate and differentiate the sigmoid at z = 0, then check the derivative."""
    cg = build_graph(z=0.0)

    # The graph has two sinks, so every call names its root.
    value = cg.forward("s")
    grads = cg.backward("s")
    print(f"s(0)      = {value}")
    print(f"ds/dz (0) = {grads['z']}")
    print()
    print("Every node after forward('s') and backward('s'):")
    print(cg.summary())
    print()

    numerical = numerical_gradient(cg, "s")["z"]
    print(f"central differences: ds/dz = {numerical:.10f}")
    print(f"gradcheck(cg, 's') -> {gradcheck(cg, 's')}")
    print()

    builtin_value = cg.forward("s_builtin")
    builtin_grad = cg.backward("s_builtin")["z"]
    print(f"built-in Sigmoid: s(0) = {builtin_value}, ds/dz = {builtin_grad}")
    print()

    print("Away from 0 the two agree too:")
    print("    z   s (primitives)   s (built-in)   ds/dz (primitives)   ds/dz (built-in)")
    for z in (-3.0, -1.0, 0.5, 2.0):
        s_prim = cg.forward("s", feed={"z": z})
        grad_prim = cg.backward("s")["z"]
        s_builtin = cg.forward("s_builtin", feed={"z": z})
        grad_builtin = cg.backward("s_builtin")["z"]
        print(
            f"{z:5.1f}   {s_prim:14.10f}   {s_builtin:12.10f}   "
            f"{grad_prim:18.10f}   {grad_builtin:16.10f}"
        )


if __name__ == "__main__":
    main()

"""The classic example: f(x, y) = (x + sigmoid(y)) / (sigmoid(x) + (x + y)^2) at x=2, y=-4.

Each step of the formula is a named node::

    sigy = sigmoid(y)      num   = x + sigy
    sigx = sigmoid(x)      xpy   = x + y
    sq   = xpy^2           denom = sigx + sq
    f    = num / denom

``forward('f')`` evaluates the nodes in topological order and caches each
value; ``backward('f')`` starts from df/df = 1 and applies the chain rule in
reverse order, so every node ends up holding df/d(node). An input that feeds
several nodes (x feeds num, sigx and xpy) sums the contributions of all its
paths to f: the multivariate chain rule. At (2, -4):

    f = 0.41345423252018193,  df/dx = 0.5348320870757595,  df/dy = 0.342460382923052.

The script then checks those gradients against central finite differences
and takes one gradient-descent step on x.

Run it with ``python examples/classic_fxy.py``.
"""

import cgraph

# The classic script, verbatim (its import line names more ops than this graph uses).
from cgraph import ComputationalGraph
from cgraph.ops import Add, Div, Inv, Multiply, Sigmoid, Square, Sub  # noqa: F401

cg = ComputationalGraph()
cg.add_inputs(x=2.0, y=-4.0)  # named, trainable inputs
cg.add_computation_node("sigy", Sigmoid, ("y",))  # name, operation, input names
cg.add_computation_node("num", Add, ("x", "sigy"))
cg.add_computation_node("sigx", Sigmoid, ("x",))
cg.add_computation_node("xpy", Add, ("x", "y"))
cg.add_computation_node("sq", Square, ("xpy",))
cg.add_computation_node("denom", Add, ("sigx", "sq"))
cg.add_computation_node("f", Div, ("num", "denom"))

f = cg.forward("f")
cg.backward("f")
print(f"f(2, -4) = {f!r}")
print(f"df/dx    = {cg.get_gradient('x')!r}")
print(f"df/dy    = {cg.get_gradient('y')!r}")
print()

print("Every node's value and gradient df/d(node), by name:")
print(cg.summary())
print()
print(
    f"any one by name: value of 'denom' = {cg.get_value('denom')!r}, "
    f"df/d(denom) = {cg.get_gradient('denom')!r}"
)
print()

numerical = cgraph.numerical_gradient(cg, "f")
print(f"central differences: df/dx = {numerical['x']:.10f}, df/dy = {numerical['y']:.10f}")
print(f"gradcheck(cg, 'f') -> {cgraph.gradcheck(cg, 'f')}")
print()

# One step of gradient descent on x; the next forward() sees the new value.
cg.inputs["x"].output -= 0.1 * cg.get_gradient("x")
print(f"after x -= 0.1 * df/dx: x = {cg.get_value('x')!r}, f = {cg.forward('f')!r}")

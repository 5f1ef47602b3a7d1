"""The Operation contract: custom ops, the registry, per-node state, unbroadcast."""

from __future__ import annotations

import numpy as np
import pytest

import cgraph
from cgraph import OPERATIONS, ComputationalGraph, Operation, operation, unbroadcast
from cgraph.ops import Multiply, Sigmoid


class Scale(Operation):
    """y = k x with a parameter k; dy/dx = k. Saves nothing: stateless apart from k."""

    name = "scale_for_tests"

    def __init__(self, k: float = 2.0) -> None:
        self.k = k

    def forward(self, x):
        return self.k * x

    def backward(self, upstream):
        return upstream * self.k  # bare: allowed for a one-input op

    def params(self):
        return {"k": self.k}


class SelectFirst(Operation):
    """y = a, with b an index-like input that has no gradient (returns None for it)."""

    def forward(self, a, b):
        return a

    def backward(self, upstream):
        return upstream, None


def _graph_with(op, inputs=("x",), **values) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**(values or {"x": 3.0}))
    cg.add_computation_node("y", op, inputs)
    return cg


@pytest.mark.parametrize(
    "given", [Sigmoid, Sigmoid(), "sigmoid"], ids=["class", "instance", "name"]
)
def test_an_op_may_be_a_class_an_instance_or_a_registered_name(given):
    cg = _graph_with(given)
    assert cg.forward("y") == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert isinstance(cg.operations["y"].op, Sigmoid)


def test_numpy_long_names_are_aliases_of_the_same_class():
    assert OPERATIONS["mul"] is OPERATIONS["multiply"] is Multiply
    assert OPERATIONS["sub"] is OPERATIONS["subtract"]
    assert OPERATIONS["pow"] is OPERATIONS["power"]


def test_one_instance_passed_to_two_nodes_keeps_two_states():
    shared = Multiply()
    cg = ComputationalGraph()
    cg.add_inputs(a=2.0, b=3.0, c=5.0)
    cg.add_computation_node("ab", shared, ("a", "b"))
    cg.add_computation_node("abc", shared, ("ab", "c"))
    assert cg.operations["ab"].op is not cg.operations["abc"].op
    cg.forward("abc")
    assert cg.backward("abc") == {"a": 15.0, "b": 10.0, "c": 6.0}


def test_parameters_reach_the_constructor_for_a_class_or_a_name():
    for op in (Scale, "scale_for_tests"):
        cg = _graph_with(op)
        cg.add_computation_node("z", op, ("x",), k=5.0)
        assert cg.forward("z") == 15.0
        assert cg.operations["z"].op.params() == {"k": 5.0}
        assert cg.backward("z") == {"x": 5.0}
    assert repr(Scale(3.0)) == "Scale(k=3.0)"


def test_a_subclass_gets_its_arity_from_forwards_signature():
    assert Scale.arity == 1
    assert SelectFirst.arity == 2

    class Variadic(Operation):
        def forward(self, *xs):
            return sum(xs)

        def backward(self, upstream):
            return (upstream,) * 3

    assert Variadic.arity is None
    cg = ComputationalGraph()
    cg.add_inputs(a=1.0, b=2.0, c=3.0)
    cg.add_computation_node("s", Variadic, ("a", "b", "c"))
    assert cg.forward("s") == 6.0
    assert cg.backward("s") == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_none_means_no_gradient_and_an_input_reached_only_so_gets_zeros():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.array([1.0, 2.0]), b=np.array([4.0, 5.0]))
    cg.add_computation_node("y", SelectFirst, ("a", "b"))
    cg.forward("y")
    grads = cg.backward("y")
    np.testing.assert_array_equal(grads["a"], [1.0, 1.0])
    np.testing.assert_array_equal(grads["b"], [0.0, 0.0])


def test_the_decorator_makes_a_registered_op_from_a_function_and_its_rule():
    def rule(upstream, out, x, y):
        return upstream * y * out / x, upstream * out * np.log(x)

    @operation(grad=rule)
    def x_to_the_y(x, y):
        """x ** y for positive x."""
        return x**y

    assert OPERATIONS["x_to_the_y"] is x_to_the_y
    assert issubclass(x_to_the_y, Operation)
    assert x_to_the_y.arity == 2
    assert x_to_the_y.__doc__ == "x ** y for positive x."
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0, y=3.0)
    cg.add_computation_node("p", "x_to_the_y", ("x", "y"))
    assert cg.forward("p") == 8.0
    assert cg.backward("p") == pytest.approx({"x": 12.0, "y": 8.0 * np.log(2.0)})
    assert cgraph.gradcheck(cg, "p")


def test_redefining_an_op_replaces_it_but_another_class_may_not_take_its_name():
    def define():
        class Twice(Operation):
            name = "twice_for_tests"

            def forward(self, x):
                return 2 * x

            def backward(self, upstream):
                return (2 * upstream,)

        return Twice

    first, second = define(), define()  # as when a notebook cell runs again
    assert OPERATIONS["twice_for_tests"] is second is not first
    with pytest.raises(cgraph.InvalidOperationError, match="'sigmoid' is already registered"):

        class Impostor(Operation):
            name = "sigmoid"

            def forward(self, x):
                return x


def test_an_op_without_forward_or_backward_says_so():
    class Nothing(Operation):
        arity = 1

    cg = _graph_with(Nothing)
    with pytest.raises(cgraph.OperationError, match="does not define forward"):
        cg.forward("y")


@pytest.mark.parametrize(
    ("shape", "target", "expected"),
    [
        ((2, 3), (3,), np.full(3, 2.0)),
        ((2, 3), (2, 1), np.full((2, 1), 3.0)),
        ((2, 3), (1, 3), np.full((1, 3), 2.0)),
        ((4, 2, 3), (2, 1), np.full((2, 1), 12.0)),
        ((2, 3), (), 6.0),
        ((2, 3), (2, 3), np.ones((2, 3))),
    ],
)
def test_unbroadcast_sums_over_the_broadcast_axes(shape, target, expected):
    result = unbroadcast(np.ones(shape), target)
    np.testing.assert_array_equal(result, expected)
    assert np.shape(result) == target


def test_unbroadcast_broadcasts_a_scalar_gradient_and_refuses_impossible_shapes():
    np.testing.assert_array_equal(unbroadcast(2.0, (2, 2)), np.full((2, 2), 2.0))
    with pytest.raises(cgraph.ShapeError, match="'w'"):
        unbroadcast(np.ones((2, 3)), (2,), "w")


def test_an_input_that_gets_no_gradient_gets_zeros_in_its_own_float_dtype():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones(2, np.float32), b=np.ones(2, np.float32))
    cg.add_computation_node("y", SelectFirst, ("a", "b"))
    cg.forward("y")
    grads = cg.backward("y")
    assert grads["a"].dtype == grads["b"].dtype == np.float32
    np.testing.assert_array_equal(grads["b"], [0.0, 0.0])

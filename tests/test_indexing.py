"""take, scatter_add and index_put: the adjoint pair, repeated indices, and refusals.

``test_ops.py`` checks every op against torch and finite differences in every
mode on its table of cases; this module checks what the table cannot: that
scatter_add is take's transpose (so each is the other's pullback, in gradient
graphs too), numpy's semantics (negative indices, broadcasting, np.take as a
special case), repeated indices, and indices or entries that are refused with
the node's name.
"""

from __future__ import annotations

import numpy as np
import pytest

from cgraph import ComputationalGraph, InvalidValueError, ShapeError
from cgraph.ops import IndexPut, ScatterAdd, Take

RNG = np.random.default_rng(18)

#: (x's shape, the index's shape, axis): broadcasting, negative axes, the flattened array.
ALONG_AXIS = [
    ((3, 4), (3, 5), 1),
    ((3, 4), (6, 4), 0),
    ((3, 4), (1, 2), -1),
    ((1, 4), (3, 2), 1),
    ((2, 3, 4), (2, 5, 1), 1),
    ((3, 4), (7,), None),
]


def _index(shape: tuple[int, ...], index_shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    """Random indices along ``axis`` of ``shape``, negative ones included."""
    side = int(np.prod(shape)) if axis is None else shape[axis]
    return RNG.integers(-side, side, size=index_shape)


@pytest.mark.parametrize(("shape", "index_shape", "axis"), ALONG_AXIS, ids=str)
def test_take_is_numpys_take_along_axis(shape, index_shape, axis):
    x, index = RNG.normal(size=shape), _index(shape, index_shape, axis)
    np.testing.assert_array_equal(
        Take(axis=axis).forward(x, index), np.take_along_axis(x, index, axis=axis)
    )


@pytest.mark.parametrize(("shape", "index_shape", "axis"), ALONG_AXIS, ids=str)
def test_scatter_add_is_the_transpose_of_take(shape, index_shape, axis):
    # <take(x, i), u> = <x, scatter_add(0, i, u)> for every x and u.
    x, index = RNG.normal(size=shape), _index(shape, index_shape, axis)
    picked = Take(axis=axis).forward(x, index)
    u = RNG.normal(size=picked.shape)
    scattered = ScatterAdd(axis=axis).forward(np.zeros(shape), index, u)
    assert np.sum(picked * u) == pytest.approx(np.sum(x * scattered), rel=1e-13)


def test_take_and_scatter_add_are_each_others_pullback_in_gradient_graphs():
    cg = ComputationalGraph()
    cg.add_inputs(x=RNG.normal(size=(3, 4)), src=RNG.normal(size=(3, 2)))
    cg.add_input("i", np.array([[0, 3], [1, 1], [2, 0]]), trainable=False)
    cg.add_computation_node("picked", "take", ("x", "i"), axis=1)
    cg.add_computation_node("added", "scatter_add", ("x", "i", "src"), axis=1)
    for root, made in (("picked", "scatter_add"), ("added", "take")):
        gradient_graph = cg.gradient_graph(root, ["x", "src"] if root == "added" else ["x"])
        assert made in {node.op.name for node in gradient_graph.operations.values()}


def test_an_element_taken_twice_gets_both_gradients():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.array([10.0, 20.0, 30.0]))
    cg.add_input("i", np.array([2, 2, -1, 0]), trainable=False)
    cg.add_computation_node("y", "gather", ("x", "i"), axis=0)
    cg.add_computation_node("s", "sum", ("y",))
    assert cg.forward("s") == 100.0
    np.testing.assert_array_equal(cg.backward("s")["x"], [1.0, 0.0, 3.0])


def test_an_embedding_lookup_is_np_take_with_a_column_of_ids():
    weights, ids = RNG.normal(size=(5, 3)), np.array([4, 0, 4, 2])
    np.testing.assert_array_equal(
        Take(axis=0).forward(weights, ids.reshape(-1, 1)), np.take(weights, ids, axis=0)
    )


def test_indices_held_as_whole_floats_are_taken():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(Take(axis=0).forward(x, np.array([2.0, 0.0])), [3.0, 1.0])


@pytest.mark.parametrize(
    ("index", "error", "message"),
    [
        (np.array([[0, 3]]), InvalidValueError, "out of range"),
        (np.array([[0, -4]]), InvalidValueError, "out of range"),
        (np.array([[0.5, 1.0]]), InvalidValueError, "whole numbers"),
        (np.array([0, 1]), ShapeError, "axes"),
        (np.array([[0], [1], [2]]), ShapeError, "do not fit"),
    ],
)
def test_bad_indices_are_refused_naming_the_node(index, error, message):
    cg = ComputationalGraph()
    cg.add_inputs(x=np.ones((2, 3)))
    cg.add_input("i", index, trainable=False)
    cg.add_computation_node("y", "take", ("x", "i"), axis=1)
    with pytest.raises(error, match=message) as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes


def test_scatter_add_refuses_src_larger_than_the_indices():
    with pytest.raises(ShapeError):
        ScatterAdd(axis=0).forward(np.zeros(4), np.array([0, 1]), np.ones(3))


# --------------------------------------------------------------------------------------
# index_put
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index",
    [1, slice(1, 3), [3, 0], (slice(None), [2, 0]), np.array([True, False, True]), (Ellipsis, -1)],
    ids=str,
)
def test_index_put_is_numpys_setitem_without_changing_x(index):
    x = RNG.normal(size=(3, 4)) if isinstance(index, (tuple, np.ndarray)) else RNG.normal(size=4)
    values = RNG.normal(size=np.shape(x[index]))
    expected = x.copy()
    expected[index] = values
    before = x.copy()
    np.testing.assert_array_equal(IndexPut(index=index).forward(x, values), expected)
    np.testing.assert_array_equal(x, before)


def test_index_put_gradient_is_zero_at_the_entries_set_and_upstream_for_the_values():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.arange(6.0).reshape(2, 3), v=np.array([10.0, 20.0]))
    cg.add_constant("w", np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    cg.add_computation_node("y", "index_put", ("x", "v"), index=(slice(None), 1))
    cg.add_computation_node("yw", "mul", ("y", "w"))
    cg.add_computation_node("s", "sum", ("yw",))
    cg.forward("s")
    gradients = cg.backward("s")
    np.testing.assert_array_equal(gradients["x"], [[1.0, 0.0, 3.0], [4.0, 0.0, 6.0]])
    np.testing.assert_array_equal(gradients["v"], [2.0, 5.0])


def test_index_put_accumulates_repeated_entries_and_passes_x_its_whole_gradient():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.zeros(3), v=np.array([1.0, 2.0, 4.0]))
    cg.add_computation_node("y", "index_put", ("x", "v"), index=[0, 0, 2], accumulate=True)
    cg.add_constant("w", np.array([1.0, 10.0, 100.0]))
    cg.add_computation_node("yw", "mul", ("y", "w"))
    cg.add_computation_node("s", "sum", ("yw",))
    np.testing.assert_array_equal(cg.forward("y"), [3.0, 0.0, 4.0])
    cg.forward("s")
    gradients = cg.backward("s")
    np.testing.assert_array_equal(gradients["x"], [1.0, 10.0, 100.0])
    np.testing.assert_array_equal(gradients["v"], [1.0, 1.0, 100.0])


@pytest.mark.parametrize("index", [[0, 0], [2, -1], (slice(None), [1, 1])], ids=str)
def test_index_put_refuses_to_set_an_element_twice(index):
    cg = ComputationalGraph()
    cg.add_inputs(x=np.zeros((2, 3)) if isinstance(index, tuple) else np.zeros(3), v=1.0)
    cg.add_computation_node("y", "index_put", ("x", "v"), index=index)
    with pytest.raises(InvalidValueError, match="twice") as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes


def test_index_put_values_that_do_not_fit_name_the_node():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.zeros(4), v=np.ones(3))
    cg.add_computation_node("y", "index_put", ("x", "v"), index=slice(0, 2))
    with pytest.raises(ShapeError, match="broadcast to x\\[index\\]") as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes


def test_index_put_of_float32_stays_float32():
    out = IndexPut(index=0).forward(np.ones(3, np.float32), 2.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [2.0, 1.0, 1.0])

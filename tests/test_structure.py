"""einsum, cross, tril and triu: numpy's forms, and errors that name what is wrong.

``test_ops.py`` checks every op against torch and finite differences in every
mode on its table of cases; this module runs einsum over more of numpy's
subscript forms (implicit outputs, diagonals, broadcast letters and '...'),
checks that the gradients are einsums of the same kind, and that bad
subscripts and shapes are refused when declared or evaluated, by node name.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch

from cgraph import (
    ArityError,
    ComputationalGraph,
    InvalidOperationError,
    ShapeError,
    numerical_gradient,
)
from cgraph.ops import Cross, Einsum, Tril, Triu

if HAS_TORCH:
    from oracle import torch_reference

#: Subscripts and operand shapes: numpy's forms, each with a gradient that is not a matmul's.
EINSUM_FORMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("Ba,bA", [(2, 3), (4, 5)]),  # implicit output: sorted, capitals first
    ("iij->j", [(3, 3, 2)]),  # a diagonal inside a larger operand
    ("iii->i", [(2, 2, 2)]),
    ("bii->b", [(2, 3, 3)]),  # batched traces
    ("ij,ij->i", [(2, 3), (2, 1)]),  # a letter of size 1 broadcast
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("i...j->j...", [(2, 3, 4, 5)]),  # '...' between letters
    ("i...j,j->...", [(2, 3, 4), (4,)]),  # '...' summed against an operand without it
    ("...,...->...", [(2, 3), (3,)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
    (",i->i", [(), (3,)]),  # a scalar operand
]


def _einsum_graph(
    subscripts: str, shapes: list[tuple[int, ...]]
) -> tuple[ComputationalGraph, list]:
    rng = np.random.default_rng(len(subscripts))
    operands = [rng.normal(size=shape) if shape else 0.7 for shape in shapes]
    cg = ComputationalGraph()
    names = tuple(f"x{i}" for i in range(len(operands)))
    for name, value in zip(names, operands, strict=True):
        cg.add_input(name, value)
    cg.add_computation_node("y", "einsum", names, subscripts=subscripts)
    shape = np.shape(cg.forward("y"))
    cg.add_constant("w", rng.normal(size=shape) if shape else 1.3)
    cg.add_computation_node("yw", "mul", ("y", "w"))
    cg.add_computation_node("s", "sum", ("yw",))
    return cg, operands


@pytest.mark.parametrize(("subscripts", "shapes"), EINSUM_FORMS, ids=[f[0] for f in EINSUM_FORMS])
def test_einsum_is_numpys_and_its_gradients_are_right_in_every_form(subscripts, shapes):
    cg, operands = _einsum_graph(subscripts, shapes)
    np.testing.assert_allclose(cg.forward("y"), np.einsum(subscripts, *operands), rtol=1e-14)
    cg.forward("s")
    gradients = cg.backward("s")
    numerical = numerical_gradient(cg, "s")
    gradient_graph = cg.gradient_graph("s", list(gradients))
    for name, gradient in gradients.items():
        assert np.shape(gradient) == np.shape(cg.inputs[name].output)
        np.testing.assert_allclose(gradient, numerical[name], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(gradient_graph.forward(f"grad/s/{name}"), gradient)


@needs_torch
@pytest.mark.parametrize(("subscripts", "shapes"), EINSUM_FORMS, ids=[f[0] for f in EINSUM_FORMS])
def test_einsum_gradients_are_torchs(subscripts, shapes):
    cg, _ = _einsum_graph(subscripts, shapes)
    cg.forward("s")
    reference = torch_reference(cg, "s").gradients
    for name, gradient in cg.backward("s").items():
        np.testing.assert_allclose(gradient, reference[name], rtol=1e-13, atol=1e-15)


def test_einsum_gradient_is_an_einsum_onto_the_operands_subscripts():
    cg, _ = _einsum_graph("ij,jk->ik", [(2, 3), (3, 4)])
    gradient_graph = cg.gradient_graph("y", ["x0", "x1"])
    made = {repr(node.op) for node in gradient_graph.operations.values()}
    assert "Einsum(subscripts='ik,jk->ij')" in made
    assert "Einsum(subscripts='ik,ij->jk')" in made


def test_einsum_with_the_wrong_number_of_inputs_is_refused_when_declared():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones((2, 3)), b=np.ones((3, 2)))
    with pytest.raises(ArityError, match="takes 2 input") as caught:
        cg.add_computation_node("y", Einsum("ij,jk->ik"), ("a",))
    assert caught.value.nodes == ("y",)
    assert "y" not in cg.nodes


@pytest.mark.parametrize(
    ("subscripts", "message"),
    [
        ("ij,jk->ikk", "each letter once"),
        ("ij->iz", "only letters of the operands"),
        ("i1->i", "not a letter"),
        ("i...j...->i", "one '...'"),
        ("ij->...ij", "no operand does"),
        ("ij->i->j", "'->' twice"),
    ],
)
def test_einsum_refuses_bad_subscripts(subscripts, message):
    with pytest.raises(InvalidOperationError, match=message):
        Einsum(subscripts)


def test_einsum_shapes_that_do_not_fit_name_the_node():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones((2, 3)), b=np.ones((4, 2)))
    cg.add_computation_node("y", "einsum", ("a", "b"), subscripts="ij,jk->ik")
    with pytest.raises(ShapeError, match=r"'y'.*einsum") as caught:
        cg.forward("y")
    assert "y" in caught.value.nodes


@needs_torch
def test_cross_gradients_are_cross_products_and_torchs():
    a, b = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]), np.array([-2.0, 0.5, 1.0])
    cg = ComputationalGraph()
    cg.add_inputs(a=a, b=b)
    cg.add_computation_node("c", "cross", ("a", "b"))
    cg.add_computation_node("s", "sum", ("c",))
    cg.forward("s")
    gradients = cg.backward("s")
    u = np.ones((2, 3))
    np.testing.assert_allclose(gradients["a"], np.cross(b, u))  # b x u
    np.testing.assert_allclose(gradients["b"], np.cross(u, a).sum(axis=0))  # u x a, summed
    reference = torch_reference(cg, "s").gradients
    for name, gradient in gradients.items():
        np.testing.assert_allclose(gradient, reference[name], rtol=1e-14)


@pytest.mark.parametrize("op", [Cross(), Cross(axis=0)])
def test_cross_refuses_vectors_of_other_than_three_elements(op):
    with pytest.raises(ShapeError, match="3-vectors"):
        op.forward(np.ones((2, 2)), np.ones((2, 2)))


@pytest.mark.parametrize("op", [Tril(), Triu(k=1)])
def test_triangles_take_matrices_only(op):
    with pytest.raises(ShapeError, match="matrix"):
        op.forward(np.ones(3))


def test_a_triangular_matrix_from_its_free_entries():
    # The motivating case: building a lower-triangular factor L, then L L^T, needed
    # 'scatter'; tril of a full matrix of parameters does it, and the gradient stays lower.
    cg = ComputationalGraph()
    cg.add_inputs(theta=np.arange(1.0, 10.0).reshape(3, 3))
    cg.add_computation_node("L", "tril", ("theta",))
    cg.add_computation_node("S", "einsum", ("L", "L"), subscripts="ik,jk->ij")
    cg.add_computation_node("s", "sum", ("S",))
    cg.forward("s")
    gradient = cg.backward("s")["theta"]
    np.testing.assert_array_equal(np.triu(gradient, 1), 0.0)
    np.testing.assert_allclose(gradient, numerical_gradient(cg, "s")["theta"], rtol=1e-7)


def test_the_shapes_worked_out_before_evaluating_are_the_shapes_computed():
    from cgraph.cli.limits import shapes_of

    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones((2, 3)), b=np.ones((1, 3)), v=np.ones((2, 4)))
    cg.add_input("i", np.zeros((1, 4), int), trainable=False)
    declared = [
        ("var", ("a",), {"axis": 0, "ddof": 1}),
        ("std", ("a",), {"keepdims": True}),
        ("norm", ("a",), {"ord": 1, "axis": (0, 1)}),
        ("cumsum", ("a",), {}),
        ("cumprod", ("a",), {"axis": 1}),
        ("cross", ("a", "b"), {}),
        ("tril", ("a",), {"k": 1}),
        ("triu", ("a",), {}),
        ("take", ("a", "i"), {"axis": 1}),
        ("scatter_add", ("a", "i", "v"), {}),
        ("index_put", ("a", "a"), {"index": slice(None)}),
        ("einsum", ("a", "b", "v"), {"subscripts": "ij,kj,il->lij"}),
    ]
    for op, inputs, params in declared:
        cg.add_computation_node(op, op, inputs, **params)
        assert shapes_of(cg, op)[op] == np.shape(cg.forward(op)), op

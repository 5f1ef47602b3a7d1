"""Convolution and max pooling: what the one parametrised op test cannot check.

``test_ops.py`` checks every op's values and derivatives, in every mode, against
torch and central differences on small random cases. This module checks the
rest: the three convolution ops are each other's adjoints, a small CNN's Hessian
is torch's, max pooling gives a tie's gradient to torch's element, and bad
shapes or parameters are refused naming the node.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs_torch

from cgraph import ComputationalGraph, gradcheck
from cgraph.errors import ArityError, InvalidOperationError, ShapeError
from cgraph.ops import (
    Conv1d,
    Conv2d,
    ConvInputGrad,
    ConvWeightGrad,
    MaxPool2d,
    MaxPool2dGather,
    MaxPool2dGrad,
)

RNG = np.random.default_rng(0)


def _inner(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a * b))


# --------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dims", "stride", "padding"),
    [(1, 1, 0), (1, 2, 1), (1, 3, 2), (2, 1, 0), (2, 2, 1), (2, (2, 1), (0, 2)), (2, 3, 1)],
)
def test_the_three_convolution_ops_are_each_others_adjoints(dims, stride, padding):
    size = (7,) if dims == 1 else (7, 6)
    x = RNG.normal(size=(2, 3, *size))
    w = RNG.normal(size=(4, 3, *(3,) * dims))
    conv = (Conv1d if dims == 1 else Conv2d)(stride=stride, padding=padding)
    y = conv.forward(x, w)
    u = RNG.normal(size=y.shape)
    params = {"stride": stride, "padding": padding}
    to_x = ConvInputGrad(size=size, **params).forward(u, w)
    to_w = ConvWeightGrad(size=w.shape[2:], **params).forward(x, u)
    assert to_x.shape == x.shape
    assert to_w.shape == w.shape
    # <conv(x, w), u> = <x, conv_input_grad(u, w)> = <w, conv_weight_grad(x, u)>
    assert _inner(y, u) == pytest.approx(_inner(x, to_x), rel=1e-12)
    assert _inner(y, u) == pytest.approx(_inner(w, to_w), rel=1e-12)


def test_bias_is_optional_as_in_torch():
    x, w, b = RNG.normal(size=(1, 2, 5, 5)), RNG.normal(size=(3, 2, 3, 3)), np.arange(3.0)
    without, with_bias = Conv2d().forward(x, w), Conv2d().forward(x, w, b)
    np.testing.assert_allclose(with_bias - without, np.broadcast_to(b[:, None, None], (1, 3, 3, 3)))


def test_output_sizes_are_torchs_floor_rule():
    x = np.ones((1, 1, 8, 7))
    assert Conv2d(stride=3, padding=1).forward(x, np.ones((1, 1, 3, 3))).shape == (1, 1, 3, 3)
    assert Conv1d(stride=2).forward(np.ones((1, 1, 8)), np.ones((1, 1, 3))).shape == (1, 1, 3)


def test_float32_stays_float32():
    x, w = np.ones((1, 1, 4, 4), np.float32), np.ones((2, 1, 3, 3), np.float32)
    cg = ComputationalGraph()
    cg.add_inputs(x=x, w=w)
    cg.add_computation_node("y", "conv2d", ("x", "w"), padding=1)
    cg.add_computation_node("p", "max_pool2d", ("y",), kernel_size=2)
    cg.add_computation_node("s", "sum", ("p",))
    cg.forward("s")
    gradients = cg.backward("s")
    assert cg.get_value("p").dtype == np.float32
    assert gradients["x"].dtype == gradients["w"].dtype == np.float32


@needs_torch
def test_hessian_of_a_small_cnn_is_torchs():
    from oracle import torch, torch_function

    cg = ComputationalGraph()
    cg.add_input("x", RNG.normal(size=(2, 1, 5, 5)), trainable=False)
    cg.add_inputs(
        w=RNG.normal(size=(2, 1, 3, 3)) / 3,
        b=RNG.normal(size=2),
        v=RNG.normal(size=(3, 2, 2, 2)) / 3,
    )
    cg.add_computation_node("h", "conv2d", ("x", "w", "b"), padding=1)
    cg.add_computation_node("a", "tanh", ("h",))
    cg.add_computation_node("z", "conv2d", ("a", "v"), stride=2)
    cg.add_computation_node("q", "square", ("z",))
    cg.add_computation_node("loss", "sum", ("q",))
    names = ["w", "b", "v"]
    tangents = [RNG.normal(size=np.shape(cg.inputs[name].output)) for name in names]
    product = cg.hvp("loss", names, tangents)
    primals = tuple(torch.tensor(cg.inputs[name].output) for name in names)
    _, expected = torch.autograd.functional.hvp(
        torch_function(cg, "loss", names), primals, tuple(map(torch.tensor, tangents))
    )
    for name, got, want in zip(names, product, expected, strict=True):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    assert gradcheck(cg, "loss")


@pytest.mark.parametrize(
    ("op", "inputs", "message"),
    [
        ("conv2d", [(1, 2, 5, 5), (3, 1, 3, 3)], "takes 1 input channel"),
        ("conv2d", [(2, 5, 5), (3, 2, 3, 3)], r"must have shape \(N, C, H, W\)"),
        ("conv1d", [(1, 1, 2), (1, 1, 3)], "does not fit"),
        ("conv2d", [(1, 1, 5, 5), (2, 1, 3, 3), (3,)], "one value per output channel"),
        ("max_pool2d", [(1, 1, 1, 5)], "does not fit"),
    ],
)
def test_bad_shapes_are_shape_errors_naming_the_node(op, inputs, message):
    cg = ComputationalGraph()
    names = [f"a{i}" for i in range(len(inputs))]
    for name, shape in zip(names, inputs, strict=True):
        cg.add_input(name, np.ones(shape))
    params = {"kernel_size": 2} if op == "max_pool2d" else {}
    cg.add_computation_node("y", op, names, **params)
    with pytest.raises(ShapeError, match=message) as caught:
        cg.forward("y")
    assert "'y'" in str(caught.value)


def test_a_fourth_input_is_an_arity_error():
    cg = ComputationalGraph()
    cg.add_inputs(x=np.ones((1, 1, 3, 3)), w=np.ones((1, 1, 3, 3)), b=np.ones(1))
    cg.add_computation_node("y", "conv2d", ("x", "w", "b", "b"))
    with pytest.raises(ArityError, match="optional bias"):
        cg.forward("y")


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        (Conv2d, {"stride": 0}, "stride must be an int >= 1"),
        (Conv2d, {"padding": (1, 2, 3)}, "a tuple of 2"),
        (Conv1d, {"padding": -1}, "padding must be an int >= 0"),
        (ConvInputGrad, {"size": (1, 2, 3)}, "1 or 2 spatial sizes"),
        (MaxPool2d, {"kernel_size": 2, "padding": 2}, "at most half the kernel"),
    ],
)
def test_bad_parameters_are_refused(op, params, message):
    with pytest.raises(InvalidOperationError, match=message):
        op(**params)


# --------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize(
    ("kernel_size", "stride", "padding"),
    [(2, None, 0), (3, 1, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))],
)
def test_max_pool_gives_a_ties_gradient_to_torchs_element(kernel_size, stride, padding):
    from oracle import torch

    x = RNG.integers(0, 3, size=(2, 2, 6, 7)).astype(float)  # many ties, overlapping windows
    op = MaxPool2d(kernel_size=kernel_size, stride=stride, padding=padding)
    cg = ComputationalGraph()
    cg.add_inputs(x=x)
    cg.add_computation_node("y", op, ("x",))
    upstream = RNG.normal(size=op.forward(x).shape)
    cg.add_constant("u", upstream)
    cg.add_computation_node("yu", "mul", ("y", "u"))
    cg.add_computation_node("s", "sum", ("yu",))
    cg.forward("s")
    gradient = cg.backward("s")["x"]
    tx = torch.tensor(x, requires_grad=True)
    pooled = torch.nn.functional.max_pool2d(tx, kernel_size, stride, padding)
    pooled.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(cg.get_value("y"), pooled.detach().numpy())
    np.testing.assert_allclose(gradient, tx.grad.numpy(), rtol=1e-15)


def test_a_tied_window_sends_its_gradient_to_its_first_maximum():
    x = np.ones((1, 1, 2, 2))
    grad = MaxPool2dGrad(kernel_size=2).forward(x, np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(grad, [[[[5.0, 0.0], [0.0, 0.0]]]])


def test_pooling_is_gathering_the_input_at_its_maxima():
    x = RNG.normal(size=(2, 3, 6, 6))
    op = MaxPool2dGather(kernel_size=3, stride=1)
    np.testing.assert_array_equal(op.forward(x, x), MaxPool2d(3, stride=1).forward(x))
    v, u = RNG.normal(size=x.shape), RNG.normal(size=(2, 3, 4, 4))
    grad = MaxPool2dGrad(kernel_size=3, stride=1).forward(x, u)
    assert _inner(op.forward(x, v), u) == pytest.approx(_inner(v, grad), rel=1e-12)

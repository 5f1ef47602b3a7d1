"""The torch oracle: every cgraph operation as a torch function, and a graph replayed in torch.

``TORCH_OPS`` maps each operation class to ``fn(op, *tensors)``, which computes
the same output from float64 tensors with torch. The instance ``op`` is passed
so that ops with parameters (``Sum(axis=1)``) can read them; the plain
elementwise ops ignore it. :func:`torch_reference` rebuilds a graph's structure
in torch, evaluates its root and differentiates ``sum(root)`` with torch
autograd, giving the values and gradients cgraph must reproduce.

Adding an operation to cgraph means adding a row here: ``tests/test_ops.py``
fails for any registered op without one.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x=3.0)
>>> cg.add_computation_node("y", "square", ("x",))
>>> reference = torch_reference(cg, "y")
>>> float(reference.values["y"]), float(reference.gradients["x"])
(9.0, 6.0)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pytest
from conftest import TORCH_ORACLE

from cgraph import ComputationalGraph, Operation, ops

# Without torch, a module that imports the oracle (and this module's doctest) skips, saying why.
torch = pytest.importorskip("torch", reason=TORCH_ORACLE)
F = pytest.importorskip("torch.nn.functional", reason=TORCH_ORACLE)

__all__ = ["TORCH_OPS", "TorchReference", "torch_reference", "torch_function", "torch_jvp"]

torch.set_num_threads(1)

#: ``fn(op, *tensors) -> tensor`` for an op instance ``op`` and its inputs as tensors.
TorchFunction = Callable[..., torch.Tensor]


def _ignoring_op(fn: Callable[..., torch.Tensor]) -> TorchFunction:
    """Adapt a torch function of tensors alone, for an op without parameters."""

    def apply(op: Operation, *tensors: torch.Tensor) -> torch.Tensor:
        return fn(*tensors)

    apply.__name__ = apply.__qualname__ = getattr(fn, "__name__", repr(fn))
    return apply


TORCH_OPS: dict[type[Operation], TorchFunction] = {
    # Arithmetic
    ops.Add: _ignoring_op(torch.add),
    ops.Sub: _ignoring_op(torch.sub),
    ops.Multiply: _ignoring_op(torch.mul),
    ops.Div: _ignoring_op(torch.div),
    ops.Inv: _ignoring_op(torch.reciprocal),
    ops.Neg: _ignoring_op(torch.neg),
    ops.Square: _ignoring_op(torch.square),
    ops.Pow: _ignoring_op(torch.pow),
    # Exponentials, logarithms and roots
    ops.Exp: _ignoring_op(torch.exp),
    ops.Log: _ignoring_op(torch.log),
    ops.Sqrt: _ignoring_op(torch.sqrt),
    # Trigonometric and activation functions
    ops.Sin: _ignoring_op(torch.sin),
    ops.Cos: _ignoring_op(torch.cos),
    ops.Tanh: _ignoring_op(torch.tanh),
    ops.Sigmoid: _ignoring_op(torch.sigmoid),
    ops.ReLU: _ignoring_op(torch.relu),
    ops.Abs: _ignoring_op(torch.abs),
    # Comparisons
    ops.Maximum: _ignoring_op(torch.maximum),
    ops.Minimum: _ignoring_op(torch.minimum),
    ops.Where: lambda op, c, a, b: torch.where(c.bool(), a, b),
    ops.Equal: _ignoring_op(torch.eq),
    ops.Greater: _ignoring_op(torch.gt),
    ops.GreaterEqual: _ignoring_op(torch.ge),
    ops.Less: _ignoring_op(torch.lt),
    ops.LessEqual: _ignoring_op(torch.le),
    ops.LogicalAnd: _ignoring_op(torch.logical_and),
    # Products (np.dot is the matrix product for vectors and matrices)
    ops.MatMul: _ignoring_op(torch.matmul),
    ops.Dot: _ignoring_op(torch.matmul),
    ops.Outer: _ignoring_op(lambda a, b: torch.outer(a.flatten(), b.flatten())),
    ops.Linear: _ignoring_op(torch.nn.functional.linear),
    # Reductions
    ops.Sum: lambda op, x: _reduce(torch.sum, op, x),
    ops.Mean: lambda op, x: _reduce(torch.mean, op, x),
    ops.Max: lambda op, x: _reduce(torch.amax, op, x),
    ops.Min: lambda op, x: _reduce(torch.amin, op, x),
    # Shape and selection
    ops.Reshape: lambda op, x: x.reshape(op.shape),
    ops.Transpose: lambda op, x: x.permute(
        op.axes if op.axes is not None else tuple(reversed(range(x.ndim)))
    ),
    ops.Index: lambda op, x: x[_torch_index(op.index)],
    ops.Concat: lambda op, *xs: torch.cat(xs, dim=op.axis),
    ops.Stack: lambda op, *xs: torch.stack(xs, dim=op.axis),
    # Reductions, scans, products, structure and indexing by data (ops/reductions.py,
    # ops/structure.py, ops/indexing.py); numpy's ddof is torch's correction
    ops.Var: lambda op, x: _spread(torch.var, op, x),
    ops.Std: lambda op, x: _spread(torch.std, op, x),
    ops.Norm: lambda op, x: torch.linalg.vector_norm(
        x, ord=op.ord, dim=op.axis, keepdim=op.keepdims
    ),
    ops.CumSum: lambda op, x: _scan(torch.cumsum, op, x),
    ops.CumProd: lambda op, x: _scan(torch.cumprod, op, x),
    ops.Einsum: lambda op, *xs: torch.einsum(op.subscripts, *xs),
    ops.Cross: lambda op, a, b: torch.linalg.cross(*torch.broadcast_tensors(a, b), dim=op.axis),
    ops.Tril: lambda op, x: torch.tril(x, diagonal=op.k),
    ops.Triu: lambda op, x: torch.triu(x, diagonal=op.k),
    ops.Take: lambda op, x, index: _gather(op, x, index),
    ops.ScatterAdd: lambda op, x, index, src: _scatter_add(op, x, index, src),
    ops.IndexPut: lambda op, x, values: _index_put(op, x, values),
    # Softmax and losses (torch's multi-margin loss also divides by the number of classes)
    ops.Softmax: lambda op, x: torch.softmax(x, dim=op.axis),
    ops.LogSoftmax: lambda op, x: torch.log_softmax(x, dim=op.axis),
    ops.CrossEntropy: lambda op, z, y: F.cross_entropy(z, y.long(), reduction=op.reduction),
    ops.Hinge: lambda op, s, y: (
        F.multi_margin_loss(s, y.long(), margin=op.margin, reduction=op.reduction) * s.shape[-1]
    ),
    ops.MSE: lambda op, p, t: F.mse_loss(*torch.broadcast_tensors(p, t), reduction=op.reduction),
    ops.BCEWithLogits: lambda op, z, t: F.binary_cross_entropy_with_logits(
        *torch.broadcast_tensors(z, t), reduction=op.reduction
    ),
    # Linear algebra (cholesky factors the symmetric part, as the op does)
    ops.Inverse: _ignoring_op(torch.linalg.inv),
    ops.Solve: lambda op, a, b: _solve(a, b),
    ops.Det: _ignoring_op(torch.linalg.det),
    ops.LogAbsDet: lambda op, a: torch.linalg.slogdet(a).logabsdet,
    ops.Slogdet: lambda op, a: torch.stack(tuple(torch.linalg.slogdet(a)), dim=-1),
    ops.Cholesky: lambda op, a: torch.linalg.cholesky((a + a.mT) / 2),
    # Convolution, pooling and dropout (dropout's mask is cgraph's: torch's generator differs)
    ops.Conv1d: lambda op, x, w, *b: F.conv1d(x, w, *b, stride=op.stride, padding=op.padding),
    ops.Conv2d: lambda op, x, w, *b: F.conv2d(x, w, *b, stride=op.stride, padding=op.padding),
    ops.ConvInputGrad: lambda op, u, w: _conv_input_grad(op, u, w),
    ops.ConvWeightGrad: lambda op, x, u: _conv_weight_grad(op, x, u),
    ops.MaxPool2d: lambda op, x: F.max_pool2d(x, op.kernel_size, op.stride, op.padding),
    ops.MaxPool2dGrad: lambda op, x, u: _max_pool2d_grad(op, x, u),
    ops.MaxPool2dGather: lambda op, x, v: _max_pool2d_gather(op, x, v),
    ops.Dropout: lambda op, x, training: (
        x * torch.as_tensor(op.mask(tuple(x.shape), training.item()), dtype=x.dtype)
    ),
    # Activations, log-sum-exp and special functions (torch's digamma differentiated
    # accurately: see _Digamma)
    ops.Softplus: lambda op, x: F.softplus(x, beta=op.beta, threshold=op.threshold),
    ops.LeakyReLU: lambda op, x: F.leaky_relu(x, op.negative_slope),
    ops.ELU: lambda op, x: F.elu(x, op.alpha),
    ops.GELU: lambda op, x: F.gelu(x, approximate=op.approximate),
    ops.Clip: lambda op, x: torch.clamp(x, op.min, op.max),
    ops.LogSumExp: lambda op, x: torch.logsumexp(
        x, dim=tuple(range(x.ndim)) if op.axis is None else op.axis, keepdim=op.keepdims
    ),
    ops.Log1p: _ignoring_op(torch.log1p),
    ops.Expm1: _ignoring_op(torch.expm1),
    ops.Erf: _ignoring_op(torch.erf),
    ops.Lgamma: lambda op, x: _Lgamma.apply(x),
    ops.Digamma: lambda op, x: _Digamma.apply(x),
    ops.Polygamma: lambda op, x: _polygamma(op.n, x),
    # The ops of gradient graphs (the flat ones keep x in the graph with derivative 0)
    ops.Step: lambda op, x: torch.where(x == 0, op.at_zero, (torch.sign(x) + 1) / 2),
    ops.Sign: _ignoring_op(torch.sign),
    ops.Unbroadcast: lambda op, x: _sum_to(x, op.shape),
    ops.BroadcastTo: lambda op, x: x.broadcast_to(op.shape),
    ops.Scatter: lambda op, u: torch.func.vjp(
        lambda z: z[_torch_index(op.index)], torch.zeros(op.shape, dtype=u.dtype)
    )[1](u)[0],
    ops.MaxWeights: lambda op, x: _extreme_weights(torch.amax, op, x),
    ops.MinWeights: lambda op, x: _extreme_weights(torch.amin, op, x),
    ops.CrossEntropyGrad: lambda op, z, y: (
        torch.softmax(z, -1) - F.one_hot(y.long(), z.shape[-1]).to(z.dtype)
    ),
    ops.HingeGrad: lambda op, s, y: _hinge_grad(op, s, y),
}


def _solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """np.linalg.solve's rule in torch: b is a vector only if it has one axis (torch also takes
    b of shape A's minus its last axis as vectors); a leading 1 makes such a b matrices."""
    return torch.linalg.solve(a, b.unsqueeze(0) if b.ndim == a.ndim - 1 > 1 else b)


def _conv_input_grad(op: Operation, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The transposed convolution onto the padded input, zero rows added where a stride leaves
    some uncovered, the padding cropped. (torch has no double backward for output_padding.)"""
    transpose = F.conv_transpose1d if len(op.size) == 1 else F.conv_transpose2d
    full = transpose(u, w, stride=op.stride)
    extra = [
        size + 2 * pad - full_size
        for size, pad, full_size in zip(op.size, op.padding, full.shape[2:], strict=True)
    ]
    padded = F.pad(full, [side for more in reversed(extra) for side in (0, more)])
    inside = (slice(pad, pad + size) for pad, size in zip(op.padding, op.size, strict=True))
    return padded[(..., *inside)]


def _conv_weight_grad(op: Operation, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Input channels as a batch, correlated with the upstream as a kernel dilated by the
    stride; cropped to the kernel's size."""
    conv = F.conv1d if len(op.size) == 1 else F.conv2d
    grad = conv(x.transpose(0, 1), u.transpose(0, 1), padding=op.padding, dilation=op.stride)
    return grad.transpose(0, 1)[(..., *(slice(0, kernel) for kernel in op.size))]


def _pool_indices(op: Operation, x: torch.Tensor) -> torch.Tensor:
    """torch's arg-max of each pooling window, a flat index into H * W, shape (N, C, P * Q)."""
    pooled = F.max_pool2d(x, op.kernel_size, op.stride, op.padding, return_indices=True)
    return pooled[1].flatten(2)


def _max_pool2d_grad(op: Operation, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """u added at each window's arg-max, + 0 x (derivative 0 in x)."""
    routed = (
        torch.zeros(x.shape, dtype=u.dtype)
        .flatten(2)
        .scatter_add(2, _pool_indices(op, x), u.flatten(2))
    )
    return routed.view(x.shape) + 0 * x


def _max_pool2d_gather(op: Operation, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """v at each window's arg-max, + 0 max_pool2d(x) (derivative 0 in x)."""
    pooled = F.max_pool2d(x, op.kernel_size, op.stride, op.padding)
    return v.flatten(2).gather(2, _pool_indices(op, x)).view(pooled.shape) + 0 * pooled


def _polygamma(n: int, x: torch.Tensor) -> torch.Tensor:
    """polygamma(n, x), from n = 1 on as (-1)^(n+1) n! zeta(n + 1, x), as torch itself does from
    n = 2 on (for n = 1 torch sums a shortened series instead: see _Digamma)."""
    if n == 0:
        return _Digamma.apply(x)
    return (-1) ** (n + 1) * math.factorial(n) * torch.special.zeta(n + 1.0, x)


class _Digamma(torch.autograd.Function):
    """torch.digamma, differentiated by _polygamma (Hurwitz zeta) instead of torch's trigamma.

    torch's trigamma, polygamma(1, x), cuts its asymptotic series short: it is off by up to
    5e-10 relative near x = 1, where zeta(2, x), scipy and mpmath agree to 1e-15. zeta has no
    forward-mode rule in torch, so the tangent is stated here (``jvp``).
    """

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.digamma(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad * _polygamma(1, ctx.saved_tensors[0])

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor) -> torch.Tensor:
        return tangent * _polygamma(1, ctx.saved_tensors[0])


class _Lgamma(torch.autograd.Function):
    """torch.lgamma, differentiated by _Digamma, so that its second derivative is accurate too."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.lgamma(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad * _Digamma.apply(ctx.saved_tensors[0])

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor) -> torch.Tensor:
        return tangent * torch.digamma(ctx.saved_tensors[0])


def _sum_to(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """x summed over the axes broadcasting to its shape from ``shape`` added."""
    lead = x.ndim - len(shape)
    if lead:
        x = x.sum(dim=tuple(range(lead)))
    axes = tuple(i for i, side in enumerate(shape) if side == 1 and x.shape[i] != 1)
    return x.sum(dim=axes, keepdim=True) if axes else x


def _extreme_weights(
    fn: Callable[..., torch.Tensor], op: Operation, x: torch.Tensor
) -> torch.Tensor:
    """1/k at each of the k extreme elements over the op's axes, + 0 x (derivative 0)."""
    axes = tuple(range(x.ndim)) if op.axis is None else op.axis
    winners = (x == fn(x, dim=axes, keepdim=True)).to(x.dtype) if x.ndim else torch.ones_like(x)
    return (winners / winners.sum(dim=axes, keepdim=True) if x.ndim else winners) + 0 * x


def _hinge_grad(op: Operation, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 per violated margin, minus their count at the label, + 0 s (derivative 0)."""
    picked = y.long().unsqueeze(-1)
    margins = s - s.gather(-1, picked) + op.margin
    violated = (margins > 0).to(s.dtype).scatter(-1, picked, 0.0)
    return violated.scatter(-1, picked, -violated.sum(-1, keepdim=True)) + 0 * s


def _reduce(fn: Callable[..., torch.Tensor], op: Operation, x: torch.Tensor) -> torch.Tensor:
    """A torch reduction over the op's axes (every axis for None; a 0-d tensor is kept)."""
    if x.ndim == 0:
        return fn(x)
    axes = tuple(range(x.ndim)) if op.axis is None else op.axis
    return fn(x, dim=axes, keepdim=op.keepdims)


def _torch_index(index: Any) -> Any:
    """A numpy index with its lists and arrays as torch tensors."""
    parts = index if isinstance(index, tuple) else (index,)
    converted = tuple(
        torch.as_tensor(np.asarray(part)) if isinstance(part, (list, np.ndarray)) else part
        for part in parts
    )
    return converted if isinstance(index, tuple) else converted[0]


def _spread(fn: Callable[..., torch.Tensor], op: Operation, x: torch.Tensor) -> torch.Tensor:
    """torch.var or torch.std over the op's axes, numpy's ddof as torch's correction."""
    if x.ndim == 0:
        return fn(x, correction=op.ddof)
    axes = tuple(range(x.ndim)) if op.axis is None else op.axis
    return fn(x, dim=axes, correction=op.ddof, keepdim=op.keepdims)


def _scan(fn: Callable[..., torch.Tensor], op: Operation, x: torch.Tensor) -> torch.Tensor:
    """torch.cumsum or torch.cumprod along the op's axis (of the flattened x for None), from
    the end for cumsum's ``reverse``."""
    axis = 0 if op.axis is None else op.axis
    x = x.flatten() if op.axis is None else x
    if getattr(op, "reverse", False):
        return fn(x.flip(axis), axis).flip(axis)
    return fn(x, axis)


def _along(x: torch.Tensor, index: torch.Tensor, axis: int) -> tuple[torch.Size, torch.Tensor]:
    """x's shape with its other axes broadcast against the index's, and the index broadcast to
    the result (np.take_along_axis's rule; torch.gather and scatter_add take no broadcasting)."""
    other = torch.broadcast_shapes(
        (*x.shape[:axis], 1, *x.shape[axis + 1 :]),
        (*index.shape[:axis], 1, *index.shape[axis + 1 :]),
    )
    full = other[:axis] + x.shape[axis : axis + 1] + other[axis + 1 :]
    return full, index.long().expand(
        other[:axis] + index.shape[axis : axis + 1] + other[axis + 1 :]
    )


def _gather(op: Operation, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """torch.gather with numpy's take_along_axis rules: other axes broadcast; the flattened x
    for axis None."""
    if op.axis is None:
        return torch.gather(x.flatten(), 0, index.long())
    axis = op.axis % x.ndim
    full, index = _along(x, index, axis)
    return torch.gather(x.expand(full), axis, index)


def _scatter_add(
    op: Operation, x: torch.Tensor, index: torch.Tensor, src: torch.Tensor
) -> torch.Tensor:
    """torch.scatter_add, src broadcast to the index's shape (and x's axes of size 1 summed)."""
    if op.axis is None:
        index = index.long()
        return torch.scatter_add(x.flatten(), 0, index, src.expand(index.shape)).view(x.shape)
    axis = op.axis % x.ndim
    full, index = _along(x, index, axis)
    src = src.expand(index.shape)
    if full == x.shape:
        return torch.scatter_add(x, axis, index, src)
    added = torch.zeros(full, dtype=x.dtype).scatter_add(axis, index, src)
    return x + _sum_to(added, tuple(x.shape))


def _index_put(op: Operation, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """x with x[index] set to values (added, with repeats, for accumulate), out of place."""
    index = _torch_index(op.index)
    if op.accumulate:  # indexing's adjoint adds repeated indices (+= would not)
        picked = x[index]
        return (
            x
            + torch.func.vjp(lambda z: z[index], torch.zeros_like(x))[1](
                values.expand(picked.shape)
            )[0]
        )
    out = x.clone()
    out[index] = values
    return out


@dataclass(frozen=True)
class TorchReference:
    """What torch computes for a graph: values of the root's ancestors, gradients of sum(root).

    Attributes
    ----------
    values : dict of str to numpy.ndarray
        The float64 value of the root and of every node it depends on.
    gradients : dict of str to numpy.ndarray
        The float64 gradient of ``sum(root)`` with respect to every trainable
        input the root depends on, shaped like the input.
    """

    values: dict[str, np.ndarray]
    gradients: dict[str, np.ndarray]


def _as_tensor(value: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(value, dtype=np.float64), dtype=torch.float64)


def torch_reference(cg: ComputationalGraph, root: str) -> TorchReference:
    """Replay the structure of ``cg`` up to ``root`` in torch (float64) and differentiate it.

    Inputs and constants take their current values (cast to float64); operation
    nodes are evaluated in declaration order, each with its own op instance, so
    parameters are read from the instance. The root is summed and differentiated
    by torch autograd.

    Parameters
    ----------
    cg : ComputationalGraph
        The graph; it is read, never changed.
    root : str
        The node to evaluate and differentiate.

    Returns
    -------
    TorchReference
        Values of the root and its ancestors, and the gradients of every trainable
        input the root depends on.

    Raises
    ------
    KeyError
        If an operation on the way has no row in :data:`TORCH_OPS`.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=-4.0)
    >>> cg.add_computation_node("f", "mul", ("x", "y"))
    >>> {name: float(g) for name, g in torch_reference(cg, "f").gradients.items()}
    {'x': -4.0, 'y': 2.0}
    """
    needed = nx.ancestors(cg.graph, root) | {root}
    tensors: dict[str, torch.Tensor] = {}
    trainable: dict[str, torch.Tensor] = {}
    for name, node in {**cg.inputs, **cg.constants}.items():
        if name in needed:
            tensors[name] = _as_tensor(node.output)
            if getattr(node, "trainable", False):
                trainable[name] = tensors[name].requires_grad_()
    for name, node in cg.operations.items():
        if name in needed:
            torch_fn = TORCH_OPS[type(node.op)]
            tensors[name] = torch_fn(node.op, *(tensors[parent.name] for parent in node.parents))
    output = tensors[root]
    gradients = {}
    if trainable:
        grads = torch.autograd.grad(output.sum(), list(trainable.values()), allow_unused=True)
        for name, grad in zip(trainable, grads, strict=True):
            gradients[name] = np.zeros(trainable[name].shape) if grad is None else grad.numpy()
    values = {name: tensor.detach().numpy() for name, tensor in tensors.items()}
    return TorchReference(values=values, gradients=gradients)


def torch_function(
    cg: ComputationalGraph, root: str, names: list[str]
) -> Callable[..., torch.Tensor]:
    """``root`` as a torch function of the inputs ``names``; every other leaf is held fixed.

    The function takes one float64 tensor per name, in order, and replays the
    graph's operations in declaration order, as :func:`torch_reference` does, so
    that torch.func and torch.autograd.functional can differentiate it.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0, y=2.0)
    >>> cg.add_computation_node("f", "mul", ("x", "y"))
    >>> float(torch_function(cg, "f", ["x"])(torch.tensor(5.0, dtype=torch.float64)))
    10.0
    """
    needed = nx.ancestors(cg.graph, root) | {root}
    fixed = {
        name: _as_tensor(node.output)
        for name, node in {**cg.inputs, **cg.constants}.items()
        if name in needed and name not in names
    }
    steps = [(name, node) for name, node in cg.operations.items() if name in needed]

    def function(*tensors: torch.Tensor) -> torch.Tensor:
        values = {**fixed, **dict(zip(names, tensors, strict=True))}
        for name, node in steps:
            values[name] = TORCH_OPS[type(node.op)](
                node.op, *(values[parent.name] for parent in node.parents)
            )
        return values[root]

    return function


def torch_jvp(
    cg: ComputationalGraph, root: str, tangents: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The root's value and its tangent along ``tangents`` (by input name), by torch.func.jvp.

    torch.func.jvp is true forward mode; for the few functions torch has neither
    a forward-mode formula nor a double backward for (multi_margin_loss), the
    product of torch.autograd.functional.jacobian's blocks with the tangents.
    Each tangent must be shaped like its input. Float64, from the inputs' values.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> tuple(float(v) for v in torch_jvp(cg, "y", {"x": 0.5}))
    (9.0, 3.0)
    """
    names = list(tangents)
    primals = tuple(_as_tensor(cg.inputs[name].output) for name in names)
    directions = tuple(_as_tensor(tangents[name]) for name in names)
    function = torch_function(cg, root, names)
    try:
        with warnings.catch_warnings():  # torch's own first use of forward AD scripts with jit
            warnings.filterwarnings(
                "ignore", "`torch.jit.script` is deprecated", DeprecationWarning
            )
            value, tangent = torch.func.jvp(function, primals, directions)
    except NotImplementedError:  # "Trying to use forward AD with ... not implemented yet"
        value = function(*primals)
        blocks = torch.autograd.functional.jacobian(function, primals)
        tangent = sum(
            torch.tensordot(block, direction, dims=direction.ndim)
            for block, direction in zip(blocks, directions, strict=True)
        )
    return value.detach().numpy(), tangent.detach().numpy()

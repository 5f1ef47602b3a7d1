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
        op.axes if op.axes is not None else tuple(reversed(range(x.ndim)))),
    ops.Index: lambda op, x: x[_torch_index(op.index)],
    ops.Concat: lambda op, *xs: torch.cat(xs, dim=op.axis),
    ops.Stack: lambda op, *xs: torch.stack(xs, dim=op.axis),
    # Softmax and losses (torch's multi-margin loss also divides by the number of classes)
    ops.Softmax: lambda op, x: torch.softmax(x, dim=op.axis),
    ops.LogSoftmax: lambda op, x: torch.log_softmax(x, dim=op.axis),
    ops.CrossEntropy: lambda op, z, y: F.cross_entropy(z, y.long(), reduction=op.reduction),
    ops.Hinge: lambda op, s, y: F.multi_margin_loss(
        s, y.long(), margin=op.margin, reduction=op.reduction) * s.shape[-1],
    ops.MSE: lambda op, p, t: F.mse_loss(*torch.broadcast_tensors(p, t), reduction=op.reduction),
    ops.BCEWithLogits: lambda op, z, t: F.binary_cross_entropy_with_logits(
        *torch.broadcast_tensors(z, t), reduction=op.reduction),
    # The ops of gradient graphs (the flat ones keep x in the graph with derivative 0)
    ops.Step: lambda op, x: torch.where(x == 0, op.at_zero, (torch.sign(x) + 1) / 2),
    ops.Sign: _ignoring_op(torch.sign),
    ops.Unbroadcast: lambda op, x: _sum_to(x, op.shape),
    ops.BroadcastTo: lambda op, x: x.broadcast_to(op.shape),
    ops.Scatter: lambda op, u: torch.func.vjp(
        lambda z: z[_torch_index(op.index)], torch.zeros(op.shape, dtype=u.dtype))[1](u)[0],
    ops.MaxWeights: lambda op, x: _extreme_weights(torch.amax, op, x),
    ops.MinWeights: lambda op, x: _extreme_weights(torch.amin, op, x),
    ops.CrossEntropyGrad: lambda op, z, y: torch.softmax(z, -1) - F.one_hot(
        y.long(), z.shape[-1]).to(z.dtype),
    ops.HingeGrad: lambda op, s, y: _hinge_grad(op, s, y),
}


def _sum_to(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """x summed over the axes broadcasting to its shape from ``shape`` added."""
    lead = x.ndim - len(shape)
    if lead:
        x = x.sum(dim=tuple(range(lead)))
    axes = tuple(i for i, side in enumerate(shape) if side == 1 and x.shape[i] != 1)
    return x.sum(dim=axes, keepdim=True) if axes else x


def _extreme_weights(fn: Callable[..., torch.Tensor], op: Operation,
                     x: torch.Tensor) -> torch.Tensor:
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
        for part in parts)
    return converted if isinstance(index, tuple) else converted[0]


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


def torch_function(cg: ComputationalGraph, root: str,
                   names: list[str]) -> Callable[..., torch.Tensor]:
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
    fixed = {name: _as_tensor(node.output) for name, node in {**cg.inputs, **cg.constants}.items()
             if name in needed and name not in names}
    steps = [(name, node) for name, node in cg.operations.items() if name in needed]

    def function(*tensors: torch.Tensor) -> torch.Tensor:
        values = {**fixed, **dict(zip(names, tensors, strict=True))}
        for name, node in steps:
            values[name] = TORCH_OPS[type(node.op)](
                node.op, *(values[parent.name] for parent in node.parents))
        return values[root]

    return function


def torch_jvp(cg: ComputationalGraph, root: str,
              tangents: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
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
            warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated",
                                    DeprecationWarning)
            value, tangent = torch.func.jvp(function, primals, directions)
    except NotImplementedError:  # "Trying to use forward AD with ... not implemented yet"
        value = function(*primals)
        blocks = torch.autograd.functional.jacobian(function, primals)
        tangent = sum(torch.tensordot(block, direction, dims=direction.ndim)
                      for block, direction in zip(blocks, directions, strict=True))
    return value.detach().numpy(), tangent.detach().numpy()

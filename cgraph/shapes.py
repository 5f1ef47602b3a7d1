"""Every node's shape worked out from its inputs' shapes and its op's parameters, without values.

The rules are numpy's (broadcasting, matmul, reductions, indexing), one per op
name. The command line uses them to refuse a formula whose values would be too
large before evaluating anything (:mod:`cgraph.cli.limits`); expressions use
them to tell how many axes an indexed value has when it is declared.

An op with no rule here (one registered by other code) gets no shape, and
neither do the nodes after it, unless their shape follows from their
parameters alone (``broadcast_to``, ``unbroadcast``, ``scatter``).

Examples
--------
>>> from cgraph.ops import MatMul
>>> shape_after(MatMul(), [(3, 4), (4, 2)])
(3, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from cgraph.engine.core import GraphCore
from cgraph.ops.structure import Einsum

__all__ = ["Shape", "shape_after", "shapes_of"]

Shape = tuple[int, ...]

# Ops whose output has the broadcast shape of their inputs.
_ELEMENTWISE = frozenset(
    (
        "abs",
        "add",
        "cos",
        "div",
        "exp",
        "inv",
        "log",
        "maximum",
        "minimum",
        "mul",
        "neg",
        "pow",
        "relu",
        "sigmoid",
        "sin",
        "sqrt",
        "square",
        "sub",
        "tanh",
        "step",
        "sign",
        "softmax",
        "log_softmax",
        "max_weights",
        "min_weights",
        "softplus",
        "leaky_relu",
        "elu",
        "gelu",
        "clip",
        "log1p",
        "expm1",
        "erf",
        "lgamma",
        "digamma",
        "polygamma",
        "where",
        "equal",
        "greater",
        "greater_equal",
        "less",
        "less_equal",
        "logical_and",
    )
)


def shapes_of(cg: GraphCore, root: str) -> dict[str, Shape | None]:
    """Each node's shape up to ``root``, in evaluation order, None where it cannot be told.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(a=np.ones((3, 1)), b=np.ones(4))
    >>> _ = cg.add_expression("f", "sum(a * b, axis=0)")
    >>> shapes_of(cg, "f")
    {'a': (3, 1), 'b': (4,), 'f/mul': (3, 4), 'f': (4,)}
    """
    wanted = nx.ancestors(cg.graph, root) | {root}
    shapes: dict[str, Shape | None] = {}
    for name in nx.topological_sort(cg.graph.subgraph(wanted)):
        node = cg.nodes[name]
        op = getattr(node, "op", None)
        if op is None:  # an input or a constant: its value is there
            shapes[name] = np.shape(node.output)
            continue
        inputs = [shapes.get(parent.name) for parent in node.parents]
        shapes[name] = shape_after(op, inputs)
    return shapes


def shape_after(op: Any, inputs: Sequence[Shape | None]) -> Shape | None:
    """The shape of ``op``'s output for inputs of these shapes, or None if it cannot be told.

    Examples
    --------
    >>> from cgraph.ops import Sum
    >>> shape_after(Sum(axis=0), [(3, 4)]), shape_after(object(), [(2,)])
    ((4,), None)
    """
    params = op.params() if hasattr(op, "params") else {}
    name: str = getattr(op, "name", None) or ""
    if name in ("broadcast_to", "unbroadcast", "scatter"):
        return _as_shape(params["shape"])
    if any(shape is None for shape in inputs):
        return None
    rule: Callable[..., Shape | None] | None = _RULES.get(name) or (
        _elementwise if name in _ELEMENTWISE else None
    )
    if rule is None:
        return None
    try:
        return rule(params, *inputs)
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError):
        return None  # shapes that do not fit: evaluating reports that, with the node's name


def _as_shape(shape: Any) -> Shape:
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(side) for side in shape)


def _broadcast(*shapes: Shape) -> Shape:
    return tuple(np.broadcast_shapes(*shapes))


def _elementwise(params: dict[str, Any], *shapes: Shape) -> Shape:
    return _broadcast(*shapes)


def _stand_in(shape: Shape) -> np.ndarray:
    """An array of ``shape`` whose elements take no memory (itemsize 0), for numpy's shape rules."""
    return np.empty(shape, dtype=np.dtype([]))


def _matmul(params: dict[str, Any], a: Shape, b: Shape) -> Shape:
    left = a if len(a) > 1 else (1, *a)
    right = b if len(b) > 1 else (*b, 1)
    shape = (*_broadcast(left[:-2], right[:-2]), left[-2], right[-1])
    if len(b) == 1:
        shape = shape[:-1]
    if len(a) == 1:
        shape = shape[:-2] + shape[-1:] if len(b) > 1 else shape[:-1]
    return shape


def _linear(params: dict[str, Any], x: Shape, weight: Shape, bias: Shape) -> Shape:
    return _broadcast((*x[:-1], weight[0]), bias)


def _reduced(params: dict[str, Any], x: Shape) -> Shape:
    axis, keepdims = params.get("axis"), bool(params.get("keepdims", False))
    axes = range(len(x)) if axis is None else (axis if isinstance(axis, Sequence) else (axis,))
    dropped = {int(a) % len(x) if x else int(a) for a in axes}
    if keepdims:
        return tuple(1 if i in dropped else side for i, side in enumerate(x))
    return tuple(side for i, side in enumerate(x) if i not in dropped)


def _loss(params: dict[str, Any], scores: Shape, targets: Shape) -> Shape | None:
    if params.get("reduction", "mean") != "none":
        return ()
    return _broadcast(scores, targets)


def _class_loss(params: dict[str, Any], scores: Shape, labels: Shape) -> Shape:
    return () if params.get("reduction", "mean") != "none" else scores[:-1]


def _reshape(params: dict[str, Any], x: Shape) -> Shape:
    return _stand_in(x).reshape(_as_shape(params["shape"])).shape


def _transpose(params: dict[str, Any], x: Shape) -> Shape:
    return np.transpose(_stand_in(x), params.get("axes")).shape


def _index(params: dict[str, Any], x: Shape) -> Shape:
    index = params["index"]
    parts = index if isinstance(index, tuple) else (index,)
    key = tuple(np.asarray(part) if isinstance(part, list) else part for part in parts)
    return _stand_in(x)[key].shape


def _joined(join: Callable[..., Any]) -> Callable[..., Shape]:
    def rule(params: dict[str, Any], *shapes: Shape) -> Shape:
        return join([_stand_in(shape) for shape in shapes], axis=params.get("axis", 0)).shape

    return rule


def _outer(params: dict[str, Any], a: Shape, b: Shape) -> Shape:
    return (math.prod(a), math.prod(b))


def _matrices(a: Shape) -> Shape:
    """The batch axes of a stack of square matrices (..., n, n)."""
    if len(a) < 2 or a[-1] != a[-2]:
        raise ValueError(f"not square matrices: {a}")
    return a[:-2]


def _solve(params: dict[str, Any], a: Shape, b: Shape) -> Shape:
    if len(b) == 1:  # one vector for every matrix, as np.linalg.solve
        return (*_matrices(a), a[-1])
    return (*_broadcast(_matrices(a), b[:-2]), *b[-2:])


def _spatial(params: dict[str, Any], size: Shape, kernel: Shape) -> Shape:
    """A convolution's or pooling's output sizes: (size + 2 padding - kernel) // stride + 1."""
    out = tuple(
        (s + 2 * p - k) // st + 1
        for s, k, st, p in zip(size, kernel, params["stride"], params["padding"], strict=True)
    )
    if min(out) < 1:
        raise ValueError(f"a kernel {kernel} does not fit {size}")
    return out


def _conv(params: dict[str, Any], x: Shape, weight: Shape, *bias: Shape) -> Shape:
    return (x[0], weight[0], *_spatial(params, x[2:], weight[2:]))


def _pooled(params: dict[str, Any], x: Shape, *values: Shape) -> Shape:
    return (*x[:2], *_spatial(params, x[2:], params["kernel_size"]))


def _scanned(params: dict[str, Any], x: Shape) -> Shape:
    return (math.prod(x),) if params.get("axis") is None else x


def _taken(params: dict[str, Any], x: Shape, index: Shape) -> Shape:
    """take_along_axis: the index's length along the axis, the others broadcast with x's."""
    axis = params.get("axis", -1)
    if axis is None:
        return index
    axis = axis % len(x)
    other = _broadcast((*x[:axis], 1, *x[axis + 1 :]), (*index[:axis], 1, *index[axis + 1 :]))
    return (*other[:axis], index[axis], *other[axis + 1 :])


_RULES: dict[str, Callable[..., Shape | None]] = {
    "matmul": _matmul,
    "dot": _matmul,
    "linear": _linear,
    "outer": _outer,
    "sum": _reduced,
    "mean": _reduced,
    "max": _reduced,
    "min": _reduced,
    "logsumexp": _reduced,
    "mse": _loss,
    "bce_with_logits": _loss,
    "cross_entropy": _class_loss,
    "hinge": _class_loss,
    "reshape": _reshape,
    "transpose": _transpose,
    "index": _index,
    "concat": _joined(np.concatenate),
    "stack": _joined(np.stack),
    "var": _reduced,
    "std": _reduced,
    "norm": _reduced,
    "cumsum": _scanned,
    "cumprod": _scanned,
    "einsum": lambda params, *shapes: Einsum(params["subscripts"]).output_shape(*shapes),
    "cross": _elementwise,
    "tril": _elementwise,
    "triu": _elementwise,
    "take": _taken,
    "scatter_add": lambda params, x, index, src: x,
    "index_put": lambda params, x, values: x,
    "conv1d": _conv,
    "conv2d": _conv,
    "max_pool2d": _pooled,
    "max_pool2d_gather": _pooled,
    "conv_input_grad": lambda params, u, weight: (u[0], weight[1], *params["size"]),
    "conv_weight_grad": lambda params, x, u: (u[1], x[1], *params["size"]),
    "max_pool2d_grad": lambda params, x, u: x,
    "dropout": _elementwise,
    "inverse": lambda params, a: (*_matrices(a), *a[-2:]),
    "cholesky": lambda params, a: (*_matrices(a), *a[-2:]),
    "det": lambda params, a: _matrices(a),
    "logabsdet": lambda params, a: _matrices(a),
    "slogdet": lambda params, a: (*_matrices(a), 2),
    "solve": _solve,
}

"""Neural-network layers declared as named nodes, so every weight stays inspectable by name.

``dense(cg, "layer1", "X", 64)`` adds the weight ``layer1/W``, the bias
``layer1/b``, the pre-activation ``layer1/z`` and the activation ``layer1/a``:
a multilayer perceptron is one call per layer, and any weight, pre-activation
or gradient can be read back by its name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgraph.engine import GraphCore
from cgraph.engine.nodes import OperationNode
from cgraph.errors import DuplicateNodeError, InvalidOperationError, ShapeError, UnknownNodeError
from cgraph.ops import Linear, ReLU, elementwise
from cgraph.ops.operation import Operation
from cgraph.ops.resolve import resolve_operation

__all__ = ["dense", "INITIALISERS"]


def _he(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """He (Kaiming) normal: std sqrt(2 / fan_in), which keeps ReLU activations' variance."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))


def _xavier(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """Xavier (Glorot) uniform: limit sqrt(6 / (fan_in + fan_out)), for tanh and sigmoid."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in))


#: Weight initialisers by name: ``init(rng, out_features, in_features) -> (out, in) array``.
INITIALISERS = {"he": _he, "xavier": _xavier}


def dense(
    cg: GraphCore,
    prefix: str,
    x: str,
    units: int,
    *,
    activation: str | type[Operation] | None = "relu",
    init: str | None = None,
    rng: int | np.random.Generator | None = None,
    in_features: int | None = None,
    dtype: Any = np.float64,
) -> str:
    """Add a fully connected layer ``a = activation(x W^T + b)`` as named nodes under ``prefix``.

    Declares the trainable inputs ``{prefix}/W`` (``units x in_features``) and
    ``{prefix}/b`` (zeros), the node ``{prefix}/z`` (a ``linear`` op: the
    pre-activation) and, unless ``activation`` is None, ``{prefix}/a``.

    Parameters
    ----------
    cg : GraphCore
        The graph to add the layer to.
    prefix : str
        The layer's name, the prefix of its nodes' names (``"layer1"``).
    x : str
        The node the layer reads: rows are samples, the last axis is features.
    units : int
        The number of outputs (neurons).
    activation : str or Operation class or None
        A one-input op applied to ``z``, by registered name (``"relu"``,
        ``"tanh"``, ``"sigmoid"``) or class; None for a linear layer (logits).
    init : {"he", "xavier"}, optional
        How ``W`` is drawn: He normal (the default for ReLU) or Xavier uniform
        (the default otherwise).
    rng : int or numpy.random.Generator, optional
        A seed or a generator; pass one generator to every layer to make a whole
        network reproducible. None draws fresh entropy.
    in_features : int, optional
        The width of ``x``. Read from ``x``'s value when it has one, or from the
        ``linear`` node that ``x`` comes from (through one-input ops, such as the
        activation of a previous ``dense`` layer).
    dtype : numpy dtype
        The dtype of ``W`` and ``b`` (float64 or float32).

    Returns
    -------
    str
        The name of the layer's output node: ``{prefix}/a``, or ``{prefix}/z``
        without an activation.

    Raises
    ------
    UnknownNodeError
        If ``x`` is not in the graph.
    DuplicateNodeError
        If a node named ``{prefix}/...`` already exists.
    ShapeError
        If the width of ``x`` cannot be found; give ``in_features``.
    InvalidOperationError
        For an unknown activation or initialiser.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph import ComputationalGraph, dense
    >>> cg = ComputationalGraph()
    >>> cg.add_input("X", np.ones((5, 3)), trainable=False)
    >>> hidden = dense(cg, "layer1", "X", 4, rng=0)
    >>> logits = dense(cg, "layer2", hidden, 2, activation=None, rng=0)
    >>> hidden, logits, cg.inputs["layer2/W"].output.shape
    ('layer1/a', 'layer2/z', (2, 4))
    >>> cg.forward(logits).shape
    (5, 2)
    """
    names = {part: f"{prefix}/{part}" for part in ("W", "b", "z", "a")}
    if activation is None:
        del names["a"]
    taken = [name for name in names.values() if name in cg.nodes]
    if taken:
        raise DuplicateNodeError(
            f"dense layer {prefix!r}: nodes {taken} already exist; choose another prefix",
            nodes=taken,
        )
    if x not in cg.nodes:
        raise UnknownNodeError(
            f"dense layer {prefix!r}: its input {x!r} is not in the graph; declare it first",
            nodes=[x],
        )
    # Resolved now, so that a bad activation adds nothing to the graph.
    activation_op = None if activation is None else resolve_operation(activation, names["a"])
    if init is None:
        init = "he" if isinstance(activation_op, ReLU) else "xavier"
    if init not in INITIALISERS:
        raise InvalidOperationError(
            f"dense layer {prefix!r}: unknown init {init!r}; use one of {sorted(INITIALISERS)}",
            nodes=[names["W"]],
        )
    fan_in = _width(cg, x, prefix) if in_features is None else int(in_features)

    weight = INITIALISERS[init](np.random.default_rng(rng), int(units), fan_in).astype(dtype)
    cg.add_input(names["W"], weight)
    cg.add_input(names["b"], np.zeros(int(units), dtype))
    cg.add_computation_node(names["z"], Linear, (x, names["W"], names["b"]))
    if activation is None:
        return names["z"]
    cg.add_computation_node(names["a"], activation_op, (names["z"],))
    return names["a"]


def _width(cg: GraphCore, x: str, prefix: str) -> int:
    """The size of the last axis of ``x``: from its value, or from the linear op it comes from."""
    node = cg.nodes[x]
    if node.output is not None and np.ndim(node.output) >= 1:
        return int(np.shape(node.output)[-1])
    # Elementwise one-input ops (activations) keep the width of the linear node they follow.
    while isinstance(node, OperationNode) and node.output is None:
        if isinstance(node.op, Linear):
            return int(np.shape(node.parents[1].output)[0])
        if len(node.parents) != 1 or type(node.op).__module__ != elementwise.__name__:
            break
        node = node.parents[0]
    raise ShapeError(
        f"dense layer {prefix!r}: cannot tell how many features {x!r} has before a forward "
        "pass; give in_features=",
        nodes=[x],
    )

"""cgraph: automatic differentiation on an explicit graph of named nodes.

Declare named inputs and operations, run ``forward`` and ``backward``, and read
any node's value or gradient by name.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x=2.0, y=-4.0)
>>> cg.add_computation_node("s", "add", ("x", "y"))
>>> cg.add_computation_node("f", "square", ("s",))
>>> cg.forward("f"), cg.backward("f")
(4.0, {'x': -4.0, 'y': -4.0})
"""

from cgraph import ops, optim
from cgraph.engine.nodes import Constant, Input, Node, OperationNode
from cgraph.errors import (
    ArityError,
    ArrayTypeError,
    CycleError,
    DuplicateNodeError,
    ExpressionError,
    GradientMismatchError,
    GraphError,
    GraphFileError,
    InvalidOperationError,
    InvalidValueError,
    NoGradientError,
    NonFiniteError,
    NotComputedError,
    OperationError,
    ShapeError,
    UnknownNodeError,
)
from cgraph.graph import ComputationalGraph, from_expression
from cgraph.layers import dense
from cgraph.ops.decorator import operation
from cgraph.ops.operation import Operation, unbroadcast
from cgraph.ops.registry import OPERATIONS
from cgraph.optim.minimize import OptimizeResult, minimize
from cgraph.transforms.gradcheck import gradcheck, numerical_gradient
from cgraph.viz import Explanation

__version__ = "0.1.0"

__all__ = [
    "ComputationalGraph",
    "Operation",
    "operation",
    "OPERATIONS",
    "unbroadcast",
    "numerical_gradient",
    "gradcheck",
    "Explanation",
    "dense",
    "from_expression",
    "ops",
    "optim",
    "minimize",
    "OptimizeResult",
    "Node",
    "Input",
    "Constant",
    "OperationNode",
    "GraphError",
    "ArityError",
    "CycleError",
    "DuplicateNodeError",
    "ExpressionError",
    "GradientMismatchError",
    "GraphFileError",
    "ArrayTypeError",
    "InvalidOperationError",
    "InvalidValueError",
    "NoGradientError",
    "NonFiniteError",
    "NotComputedError",
    "OperationError",
    "ShapeError",
    "UnknownNodeError",
]

"""All built-in operations, by family; each is also registered by its lower-case name.

- :mod:`cgraph.ops.elementwise`: arithmetic, exponentials, activations, comparisons.
- :mod:`cgraph.ops.tensor`: matrix products, reductions, reshaping and indexing.
- :mod:`cgraph.ops.losses`: softmax, log-softmax and the training losses.
- :mod:`cgraph.ops.gradient_ops`: the steps, weights and adjoints gradient graphs use.

Examples
--------
>>> from cgraph.ops import Add, Sigmoid
>>> from cgraph import OPERATIONS
>>> OPERATIONS["sigmoid"] is Sigmoid
True
"""

from cgraph.ops.elementwise import (
    Abs,
    Add,
    Cos,
    Div,
    Equal,
    Exp,
    Greater,
    GreaterEqual,
    Inv,
    Less,
    LessEqual,
    Log,
    LogicalAnd,
    Maximum,
    Minimum,
    Multiply,
    Neg,
    Pow,
    ReLU,
    Sigmoid,
    Sign,
    Sin,
    Sqrt,
    Square,
    Step,
    Sub,
    Tanh,
    Where,
)
from cgraph.ops.gradient_ops import (
    BroadcastTo,
    CrossEntropyGrad,
    HingeGrad,
    MaxWeights,
    MinWeights,
    Scatter,
    Unbroadcast,
)
from cgraph.ops.losses import MSE, BCEWithLogits, CrossEntropy, Hinge, LogSoftmax, Softmax
from cgraph.ops.tensor import (
    Concat,
    Dot,
    Index,
    Linear,
    MatMul,
    Max,
    Mean,
    Min,
    Outer,
    Reshape,
    Stack,
    Sum,
    Transpose,
)

__all__ = [
    # elementwise
    "Abs",
    "Add",
    "Cos",
    "Div",
    "Exp",
    "Inv",
    "Log",
    "Maximum",
    "Minimum",
    "Multiply",
    "Neg",
    "Pow",
    "ReLU",
    "Sigmoid",
    "Sin",
    "Sqrt",
    "Square",
    "Sub",
    "Tanh",
    "Where",
    "Step",
    "Sign",
    "Equal",
    "Greater",
    "GreaterEqual",
    "Less",
    "LessEqual",
    "LogicalAnd",
    # tensor
    "Concat",
    "Dot",
    "Index",
    "Linear",
    "MatMul",
    "Max",
    "Mean",
    "Min",
    "Outer",
    "Reshape",
    "Stack",
    "Sum",
    "Transpose",
    # losses
    "BCEWithLogits",
    "CrossEntropy",
    "Hinge",
    "LogSoftmax",
    "MSE",
    "Softmax",
    # gradient graphs
    "BroadcastTo",
    "CrossEntropyGrad",
    "HingeGrad",
    "MaxWeights",
    "MinWeights",
    "Scatter",
    "Unbroadcast",
]

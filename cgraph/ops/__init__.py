"""All built-in operations, by family; each is also registered by its lower-case name.

- :mod:`cgraph.ops.elementwise`: arithmetic, exponentials, activations, comparisons.
- :mod:`cgraph.ops.activations`: softplus, leaky ReLU, ELU, GELU and clipping.
- :mod:`cgraph.ops.special`: log1p, expm1, erf, and the gamma function's lgamma,
  digamma and polygamma.
- :mod:`cgraph.ops.tensor`: matrix products, reductions, reshaping and indexing.
- :mod:`cgraph.ops.losses`: softmax, log-softmax, log-sum-exp and the training losses.
- :mod:`cgraph.ops.linalg`: inverse, solve, determinants and the Cholesky factor.
- :mod:`cgraph.ops.conv`: convolution and max pooling, for small CNNs.
- :mod:`cgraph.ops.stochastic`: dropout, its random mask made reproducible.
- :mod:`cgraph.ops.reductions`: variance, standard deviation, norms, cumulative sums and
  products.
- :mod:`cgraph.ops.structure`: einsum, the cross product, triangular parts.
- :mod:`cgraph.ops.indexing`: gather along an axis (take), scatter-add, setting entries.
- :mod:`cgraph.ops.gradient_ops`: the steps, weights and adjoints gradient graphs use.

Examples
--------
>>> from cgraph.ops import Add, Sigmoid
>>> from cgraph import OPERATIONS
>>> OPERATIONS["sigmoid"] is Sigmoid
True
"""

from cgraph.ops.activations import ELU, GELU, Clip, LeakyReLU, Softplus
from cgraph.ops.conv import (
    Conv1d,
    Conv2d,
    ConvInputGrad,
    ConvWeightGrad,
    MaxPool2d,
    MaxPool2dGather,
    MaxPool2dGrad,
)
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
from cgraph.ops.indexing import IndexPut, ScatterAdd, Take
from cgraph.ops.linalg import Cholesky, Det, Inverse, LogAbsDet, Slogdet, Solve
from cgraph.ops.losses import (
    MSE,
    BCEWithLogits,
    CrossEntropy,
    Hinge,
    LogSoftmax,
    LogSumExp,
    Softmax,
)
from cgraph.ops.reductions import CumProd, CumSum, Norm, Std, Var
from cgraph.ops.special import Digamma, Erf, Expm1, Lgamma, Log1p, Polygamma
from cgraph.ops.stochastic import Dropout
from cgraph.ops.structure import Cross, Einsum, Tril, Triu
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
    "LogSumExp",
    # activations
    "Clip",
    "ELU",
    "GELU",
    "LeakyReLU",
    "Softplus",
    # special functions
    "Digamma",
    "Erf",
    "Expm1",
    "Lgamma",
    "Log1p",
    "Polygamma",
    # linear algebra
    "Cholesky",
    "Det",
    "Inverse",
    "LogAbsDet",
    "Slogdet",
    "Solve",
    # convolutional networks and dropout
    "Conv1d",
    "Conv2d",
    "ConvInputGrad",
    "ConvWeightGrad",
    "Dropout",
    "MaxPool2d",
    "MaxPool2dGather",
    "MaxPool2dGrad",
    # reductions and scans
    "CumProd",
    "CumSum",
    "Norm",
    "Std",
    "Var",
    # products and structure
    "Cross",
    "Einsum",
    "Tril",
    "Triu",
    # indexing by data
    "IndexPut",
    "ScatterAdd",
    "Take",
    # gradient graphs
    "BroadcastTo",
    "CrossEntropyGrad",
    "HingeGrad",
    "MaxWeights",
    "MinWeights",
    "Scatter",
    "Unbroadcast",
]

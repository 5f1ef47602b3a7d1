"""All built-in operations, by family; each is also registered by its lower-case name.

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
    Exp,
    Inv,
    Log,
    Maximum,
    Minimum,
    Multiply,
    Neg,
    Pow,
    ReLU,
    Sigmoid,
    Sin,
    Sqrt,
    Square,
    Sub,
    Tanh,
)

__all__ = [
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
]

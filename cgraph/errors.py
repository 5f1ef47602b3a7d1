"""The errors cgraph raises.

Every error is a :class:`GraphError`, itself a :class:`ValueError`, so one
``except cgraph.GraphError`` catches everything the library refuses. Each error
names the node(s) involved, in ``.nodes`` as well as in the message, and its
message says what to do about it.

Examples
--------
>>> import cgraph
>>> cg = cgraph.ComputationalGraph()
>>> cg.add_inputs(x=1.0)
>>> try:
...     cg.add_inputs(x=2.0)
... except cgraph.DuplicateNodeError as err:
...     print(err.nodes)
('x',)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "GraphError",
    "DuplicateNodeError",
    "UnknownNodeError",
    "CycleError",
    "ArityError",
    "InvalidOperationError",
    "InvalidValueError",
    "ArrayTypeError",
    "ShapeError",
    "OperationError",
    "NotComputedError",
    "NoGradientError",
    "NonFiniteError",
    "GradientMismatchError",
    "ExpressionError",
    "GraphFileError",
]


class GraphError(ValueError):
    """Base class of every error cgraph raises; names the nodes involved.

    Parameters
    ----------
    message : str
        What went wrong and what to do about it.
    nodes : iterable of str, optional
        The names of the nodes involved, kept in ``.nodes``.

    Examples
    --------
    >>> err = GraphError("node 'f' is broken", nodes=["f"])
    >>> err.nodes
    ('f',)
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, message: str, nodes: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.nodes: tuple[str, ...] = tuple(nodes)


class DuplicateNodeError(GraphError):
    """A node was declared with a name the graph already has.

    Examples
    --------
    >>> DuplicateNodeError("duplicate", nodes=["x"]).nodes
    ('x',)
    """


class UnknownNodeError(GraphError, KeyError):
    """A name that is not a node of the graph was used.

    Also a :class:`KeyError`, as for a missing dictionary key.

    Examples
    --------
    >>> isinstance(UnknownNodeError("no node 'z'", nodes=["z"]), KeyError)
    True
    """

    def __str__(self) -> str:
        # KeyError quotes its message; ours is a sentence, so show it as one.
        return str(self.args[0])


class CycleError(GraphError):
    """A declaration would make the graph cyclic (e.g. a node listing itself).

    Examples
    --------
    >>> CycleError("cycle", nodes=["f"]).nodes
    ('f',)
    """


class ArityError(GraphError):
    """An operation was given the wrong number of inputs.

    Examples
    --------
    >>> ArityError("arity", nodes=["f"]).nodes
    ('f',)
    """


class InvalidOperationError(GraphError, TypeError):
    """Something that is not an Operation was given as one, or an op broke its contract.

    Examples
    --------
    >>> isinstance(InvalidOperationError("not an op", nodes=["f"]), TypeError)
    True
    """


class InvalidValueError(GraphError, TypeError):
    """A value that is not a real number or a numeric array was given to a node.

    Examples
    --------
    >>> InvalidValueError("bad value", nodes=["x"]).nodes
    ('x',)
    """


class ArrayTypeError(InvalidValueError):
    """Arrays of libraries that cannot compute together met at a node (CuPy and numpy).

    numpy arrays mix with Dask arrays (parameters in memory, data in chunks);
    CuPy and array-api-strict arrays do not mix with numpy's: give every input
    of such a graph in one library (``cupy.asarray``). Also raised for an array
    of a library cgraph cannot compute with, or when ``array-api-compat`` (the
    ``dask`` and ``gpu`` extras) is missing.

    Examples
    --------
    >>> ArrayTypeError("cupy arrays and numpy arrays meet at node 'z'", nodes=["z"]).nodes
    ('z',)
    """


class ShapeError(GraphError):
    """Shapes do not fit: inputs that do not broadcast, a seed or gradient of the wrong shape.

    Examples
    --------
    >>> ShapeError("shapes", nodes=["f"]).nodes
    ('f',)
    """


class OperationError(GraphError):
    """An operation's forward or backward raised; the original error is chained.

    Examples
    --------
    >>> OperationError("failed", nodes=["f"]).nodes
    ('f',)
    """


class NotComputedError(GraphError):
    """A value or gradient was asked for before the pass that computes it ran.

    Examples
    --------
    >>> NotComputedError("run forward first", nodes=["f"]).nodes
    ('f',)
    """


class NoGradientError(GraphError):
    """A gradient was asked of a node that the last backward pass did not reach.

    Examples
    --------
    >>> NoGradientError("no gradient", nodes=["z"]).nodes
    ('z',)
    """


class NonFiniteError(GraphError, FloatingPointError):
    """A value or gradient held NaN or infinity where ``check_finite=True`` asked for finite.

    Examples
    --------
    >>> NonFiniteError("nan", nodes=["f", "x"]).nodes
    ('f', 'x')
    """


class GradientMismatchError(GraphError):
    """:func:`cgraph.gradcheck` found an analytic gradient that disagrees with finite differences.

    Examples
    --------
    >>> GradientMismatchError("mismatch", nodes=["x"]).nodes
    ('x',)
    """


class ExpressionError(GraphError):
    """An expression's text is refused: bad syntax, a construct that is not maths, too long.

    Raised by :meth:`ComputationalGraph.add_expression` for what the other errors do
    not cover (an attribute other than ``.T``, strings, lambdas, ``!=``, a mask as
    an index...); the message quotes the offending piece of text and its column.

    Examples
    --------
    >>> ExpressionError("expression 'f': attribute 'shape' in 'x.shape' at column 1",
    ...                 nodes=["f"]).nodes
    ('f',)
    """


class GraphFileError(GraphError):
    """A graph file cannot be saved or loaded: not JSON, a wrong version, a bad or edited record.

    Raised by :meth:`ComputationalGraph.save` and :meth:`ComputationalGraph.load`
    for what the declaring errors do not cover, and by ``load_weights`` for any
    weights file it refuses; the message names the file, the record and the field.
    A graph file that declares something the API refuses (a duplicate name, a
    wrong arity, an unknown op) raises that error instead, with the file and
    record added to its message.

    Examples
    --------
    >>> GraphFileError("graph file 'g.json', node record 2 ('f'): ...", nodes=["f"]).nodes
    ('f',)
    """

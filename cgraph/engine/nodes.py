"""The nodes of a graph: inputs, constants and operation nodes.

Every node has a ``name``, an ``output`` (its value, cached by ``forward`` for
operation nodes) and a ``local_grad`` (the gradient of the last root
differentiated with respect to it, set by ``backward``; ``None`` before).
Nodes are light (``__slots__``) because graphs may hold millions of them.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from cgraph.errors import GraphError, InvalidValueError
from cgraph.ops.namespaces import is_foreign, is_lazy, library_name, namespace
from cgraph.ops.operation import Operation

__all__ = [
    "Node",
    "Input",
    "Constant",
    "OperationNode",
    "Shown",
    "as_value",
    "plain_value",
    "tick",
]

#: One clock for every input and pass: an input assigned after a pass has a later version.
tick = itertools.count(1).__next__


class Shown:
    """What a graph's nodes show: the values and gradients of its last passes, kept whole.

    A pass keeps its values as one list by schedule position, and ``backward``
    its gradients likewise; a node reads its own from them when asked
    (``node.output``, ``node.local_grad``). Nothing is stored node by node on
    the hot path, so keeping a pass costs the same for seven nodes or a
    million. Only when the graph keeps a pass of another schedule does it write
    the previous pass's values into their nodes (:meth:`settle`), which then show
    them until a pass computes them again.

    Attributes
    ----------
    values : tuple or None
        The last pass kept, a tuple that begins with its schedule and its values by
        position (the graph's record of the pass).
    grads : tuple of (Schedule, list) or None
        The schedule of the last ``backward`` and its gradients by position;
        None once a forward pass has made them stale.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> _ = cg.forward("y")
    >>> schedule, values = cg.nodes["y"].shown.values[:2]
    >>> schedule.root.name, values
    ('y', [3.0, 9.0])
    """

    __slots__ = ("values", "grads")

    def __init__(self) -> None:
        # Each a single attribute, assigned whole: a reader never sees one pass's
        # schedule with another's values.
        self.values: tuple[Any, ...] | None = None
        self.grads: tuple[Any, list[Any]] | None = None

    def settle(self) -> None:
        """Write the values shown into their operation nodes, which keep them from now on."""
        shown = self.values
        if shown is None:
            return
        schedule, values = shown[0], shown[1]
        nodes = schedule.nodes
        for pos in range(schedule.leaf_count, len(nodes)):
            nodes[pos]._output = values[pos]
        self.values = None


class Node:
    """What every node has: a name, a cached output and a gradient.

    Attributes
    ----------
    name : str
        The node's name, unique in its graph.
    output : float or numpy.ndarray or None
        The node's value: given for inputs and constants, cached by ``forward``
        for operation nodes (``None`` until then).
    local_grad : float or numpy.ndarray or None
        The gradient of the last root differentiated with respect to this node.
    parents : tuple of Node
        The node's inputs in argument order (a node may appear twice).
    requires_grad : bool
        Whether the node leads to a trainable input, so that ``backward`` differentiates it.
    index : int
        The node's position in declaration order, which is a topological order.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.nodes["x"]
    Input('x', output=3.0, trainable=True)
    """

    __slots__ = ("name", "parents", "index", "requires_grad", "shown")

    output: Any  # each kind of node keeps its value its own way

    def __init__(
        self,
        name: str,
        parents: tuple[Node, ...],
        index: int,
        requires_grad: bool,
        shown: Shown,
    ) -> None:
        self.name = name
        self.parents = parents
        self.index = index
        self.requires_grad = requires_grad
        #: The graph's :class:`Shown`: where this node reads its gradient (and an
        #: operation node its value) from.
        self.shown = shown

    @property
    def local_grad(self) -> Any:
        """The gradient of the last root differentiated with respect to this node, or None.

        None before any ``backward``, for a node the last root does not depend on,
        and once a forward pass has made the gradients stale.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y"); _ = cg.backward("y")
        >>> cg.nodes["x"].local_grad
        6.0
        """
        grads = self.shown.grads
        if grads is None:
            return None
        pos = grads[0].position(self)
        return None if pos is None else grads[1][pos]


class Input(Node):
    """A named input: a value given by the user, differentiated when ``trainable``.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_input("w", [1.0, 2.0], trainable=False)
    >>> cg.inputs["w"].trainable
    False
    """

    __slots__ = ("_value", "version")

    def __init__(
        self, name: str, output: Any, index: int, trainable: bool = True, shown: Shown | None = None
    ) -> None:
        super().__init__(name, (), index, trainable, Shown() if shown is None else shown)
        self.output = output

    @property
    def output(self) -> Any:
        """The input's value; assigning it gives the input a new :attr:`version`.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> before = cg.inputs["x"].version
        >>> cg.inputs["x"].output -= 0.5
        >>> cg.inputs["x"].output, cg.inputs["x"].version > before
        (0.5, True)
        """
        return self._value

    @output.setter
    def output(self, value: Any) -> None:
        self._value = value
        self.version = tick()

    def mark_changed(self) -> None:
        """Record a change made in place (``cg.inputs["w"].output[0] = 1.0``).

        Values computed from the old value are then no longer shown as current,
        as after an assignment. Optimisers call this after updating in place.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(w=[1.0, 2.0])
        >>> cg.add_computation_node("s", "sum", ("w",))
        >>> cg.forward("s")
        3.0
        >>> cg.inputs["w"].output[0] = 5.0
        >>> cg.inputs["w"].mark_changed()
        >>> cg.get_value("s")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cgraph.errors.NotComputedError: the value of 's' is stale: input 'w' was assigned after...
        """
        self.version = tick()

    @property
    def trainable(self) -> bool:
        """Whether ``backward`` computes this input's gradient (same as ``requires_grad``).

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> cg.inputs["x"].trainable
        True
        """
        return self.requires_grad

    def __repr__(self) -> str:
        return f"Input({self.name!r}, output={self.output!r}, trainable={self.trainable})"


class Constant(Node):
    """A named constant: a fixed value, never differentiated and never fed.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_constant("two", 2)
    >>> cg.nodes["two"]
    Constant('two', output=2.0)
    """

    __slots__ = ("output",)

    def __init__(self, name: str, output: Any, index: int, shown: Shown | None = None) -> None:
        super().__init__(name, (), index, False, Shown() if shown is None else shown)
        self.output = output

    def __repr__(self) -> str:
        return f"Constant({self.name!r}, output={self.output!r})"


class OperationNode(Node):
    """A node whose output is an operation applied to its parents' outputs.

    Attributes
    ----------
    op : Operation
        This node's own operation instance (its saved state is this node's alone).

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> cg.operations["y"]
    OperationNode('y', op=Square(), inputs=('x',))
    """

    __slots__ = ("op", "_output")

    def __init__(
        self,
        name: str,
        op: Operation,
        parents: tuple[Node, ...],
        index: int,
        requires_grad: bool,
        shown: Shown | None = None,
    ) -> None:
        # Assigned here rather than through Node.__init__: graphs declare millions of these.
        self.name = name
        self.parents = parents
        self.index = index
        self.requires_grad = requires_grad
        self.shown = Shown() if shown is None else shown
        self.op = op
        self._output: Any = None

    @property
    def output(self) -> Any:
        """The node's value from the last pass that computed it, or None before any.

        Assigning it (as transforms do for the nodes they declare) sets the
        value this node shows until a pass computes it again.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.nodes["y"].output is None, cg.forward("y"), cg.nodes["y"].output
        (True, 9.0, 9.0)
        """
        values = self.shown.values
        if values is not None:
            pos = values[0].position(self)
            if pos is not None:
                return values[1][pos]
        return self._output

    @output.setter
    def output(self, value: Any) -> None:
        values = self.shown.values
        if values is not None and values[0].position(self) is not None:
            self.shown.settle()  # the pass shown no longer speaks for this node
        self._output = value

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of this node's inputs, in argument order.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "mul", ("x", "x"))
        >>> cg.operations["y"].input_names
        ('x', 'x')
        """
        return tuple(parent.name for parent in self.parents)

    def __repr__(self) -> str:
        return f"OperationNode({self.name!r}, op={self.op!r}, inputs={self.input_names})"


def as_value(value: Any, name: str, trainable: bool) -> Any:
    """Check and normalise a value given for an input or constant.

    Python and numpy real scalars become Python floats (numpy float32 scalars
    become 0-d float32 arrays, keeping their precision); arrays and sequences
    become numpy arrays of the graph's own (a copy, as ``torch.tensor`` makes),
    so in-place updates of an input never reach the caller's array. A
    trainable input's integer or boolean array becomes float64, as only
    floating-point values have gradients.

    Parameters
    ----------
    value : float, int, sequence or numpy.ndarray
        The value as given.
    name : str
        The node's name, for the error message.
    trainable : bool
        Whether gradients will be taken with respect to this value.

    Returns
    -------
    float or numpy.ndarray

    Raises
    ------
    InvalidValueError
        For anything that is not real and numeric (strings, complex, objects).

    Examples
    --------
    >>> as_value(2, "x", trainable=True)
    2.0
    >>> as_value([1, 2], "x", trainable=True)
    array([1., 2.])
    """
    if type(value) is float:
        return value
    # numpy's timedelta64 is an integer type; it goes on to be refused by its dtype.
    if isinstance(value, (bool, int, float, np.integer, np.bool_, np.float64)) and not (
        isinstance(value, np.timedelta64)
    ):
        try:
            return float(value)
        except OverflowError:  # an int past 1.8e308
            digits = int(int(value).bit_length() * 0.30103)
            raise InvalidValueError(
                f"value for {name!r} is an integer of about {digits}"
                " digits, too large for a float (at most about 1.8e308); give a smaller number",
                nodes=[name],
            ) from None
    if is_foreign(value):
        return _foreign_value(value, name, trainable)
    try:
        array = np.array(value)  # a copy: updating the input never changes the caller's array
    except (TypeError, ValueError) as err:
        raise InvalidValueError(
            f"value for {name!r} is not numeric ({err}); give a float or a numeric array",
            nodes=[name],
        ) from err
    kind = array.dtype.kind
    if kind not in "biuf":
        raise InvalidValueError(
            f"value for {name!r} has dtype {array.dtype}, which is not a real number type; "
            "give a float or an array of floats (or integers)",
            nodes=[name],
        )
    if trainable and kind != "f":
        array = array.astype(np.float64)
    return array


def plain_value(value: Any) -> Any:
    """A numpy scalar as a Python number, for what the user reads; anything else unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> plain_value(np.float64(2.5)), plain_value(np.ones(2))
    (2.5, array([1., 1.]))
    """
    return value.item() if isinstance(value, np.generic) else value


def _foreign_value(value: Any, name: str, trainable: bool) -> Any:
    """A Dask, CuPy or other array-API array, checked: kept in its own library, never copied
    to numpy (a Dask array stays lazy, a CuPy array on its GPU)."""
    try:
        xp = namespace(value)
        real = xp.isdtype(value.dtype, ("real floating", "integral", "bool"))
    except (GraphError, AttributeError, TypeError) as error:
        raise InvalidValueError(
            f"value for {name!r} is a {library_name(value)} array that cgraph cannot compute "
            f"with ({error}); give a numpy array, or an array of a library with the array API",
            nodes=[name],
        ) from None
    if not real:
        raise InvalidValueError(
            f"value for {name!r} has dtype {value.dtype}, which is not a real number type; "
            "give an array of floats (or integers)",
            nodes=[name],
        )
    if trainable and not xp.isdtype(value.dtype, "real floating"):
        return xp.astype(value, xp.float64)
    if is_lazy(value):  # immutable: nothing can change it behind the graph's back
        return value
    return xp.asarray(value, copy=True)  # as numpy's: the caller's array is never updated

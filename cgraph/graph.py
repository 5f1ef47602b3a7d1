"""ComputationalGraph: declare named nodes, then run forward and backward over a cached schedule."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from operator import attrgetter
from typing import Any

import networkx as nx
import numpy as np

from cgraph.diagnostics import did_you_mean
from cgraph.errors import (
    ArityError,
    CycleError,
    DuplicateNodeError,
    GraphError,
    InvalidValueError,
    NoGradientError,
    NotComputedError,
    ShapeError,
    UnknownNodeError,
)
from cgraph.nodes import Constant, Input, Node, OperationNode, as_value
from cgraph.operation import OPERATIONS, resolve_operation
from cgraph.passes import ones_like, run_backward, run_forward
from cgraph.schedule import Schedule
from cgraph.summary import format_summary

__all__ = ["ComputationalGraph"]

# One shared tuple per pattern, so a million ops do not hold a million copies.
_NEEDS: dict[tuple[bool, ...], tuple[bool, ...]] = {}
_requires_grad = attrgetter("requires_grad")


class ComputationalGraph:
    """A graph of named inputs and operations, differentiated by reverse-mode autodiff.

    Declare inputs, constants and operation nodes by name; ``forward(root)``
    evaluates the root's ancestors in topological order and caches every
    output on its node; ``backward(root)`` seeds the root with ones and applies
    the chain rule in reverse order, summing each node's gradients into its
    inputs. Every intermediate value and gradient can be read by name.

    Attributes
    ----------
    graph : networkx.DiGraph
        The structure: one node per name, an edge parent -> child per dependency.
        Read it freely; declare nodes through this class, not by editing it.
    nodes, inputs, constants, operations : dict of str to Node
        Every node, and each kind of node, by name in declaration order.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.ops import Add, Multiply
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=3.0)
    >>> cg.add_computation_node("xy", Multiply, ("x", "y"))
    >>> cg.add_computation_node("f", Add, ("xy", "x"))
    >>> cg.forward("f")
    8.0
    >>> cg.backward("f")
    {'x': 4.0, 'y': 2.0}
    >>> cg.get_gradient("xy")
    1.0
    """

    def __init__(self) -> None:
        self.graph: nx.DiGraph = nx.DiGraph()
        self.nodes: dict[str, Node] = {}
        self.inputs: dict[str, Input] = {}
        self.constants: dict[str, Constant] = {}
        self.operations: dict[str, OperationNode] = {}
        self._schedules: dict[str, Schedule] = {}
        self._sinks: list[str] | None = None
        # (schedule, values, feed) of the last successful forward pass.
        self._evaluated: tuple[Schedule, list[Any], dict[str, Any]] | None = None
        self._differentiated: Schedule | None = None
        self._failed_forward: GraphError | None = None

    # ----------------------------------------------------------------------------------
    # Declaring nodes. Each call validates everything before it changes anything.
    # ----------------------------------------------------------------------------------

    def add_inputs(self, **values: Any) -> None:
        """Declare trainable inputs by keyword, e.g. ``add_inputs(x=2.0, y=-4.0)``.

        Parameters
        ----------
        **values : float or array_like
            One input per keyword. Integers become floats, sequences numpy arrays.

        Raises
        ------
        DuplicateNodeError
            If a name is already a node; then none of the inputs is added.
        InvalidValueError
            If a value is not numeric; then none of the inputs is added.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2, w=[1.0, 2.0])
        >>> cg.inputs["x"].output, cg.inputs["w"].output
        (2.0, array([1., 2.]))
        """
        checked = {name: self._checked_leaf(name, value, True) for name, value in values.items()}
        for name, value in checked.items():
            self._add_leaf(Input(name, value, len(self.nodes), trainable=True))

    def add_input(self, name: str, value: Any, trainable: bool = True) -> None:
        """Declare one input; ``trainable=False`` keeps it out of ``backward`` (data, labels).

        Parameters
        ----------
        name : str
            The new node's name.
        value : float or array_like
            Its value; it can be changed later through ``inputs[name].output`` or
            overridden for one call with ``forward(feed=...)``.
        trainable : bool, default True
            Whether ``backward`` computes this input's gradient.

        Raises
        ------
        DuplicateNodeError, InvalidValueError
            As for :meth:`add_inputs`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_input("data", [[1, 2], [3, 4]], trainable=False)
        >>> cg.inputs["data"].output.dtype
        dtype('int64')
        """
        value = self._checked_leaf(name, value, trainable)
        self._add_leaf(Input(name, value, len(self.nodes), trainable=trainable))

    def add_constant(self, name: str, value: Any) -> None:
        """Declare a constant: a fixed value that is never differentiated nor fed.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_constant("two", 2)
        >>> cg.get_value("two")
        2.0
        """
        value = self._checked_leaf(name, value, False)
        self._add_leaf(Constant(name, value, len(self.nodes)))

    def add_computation_node(
        self, name: str, op: Any, inputs: Iterable[str] | str, **params: Any
    ) -> None:
        """Declare a node computing ``op`` of the named inputs, in argument order.

        Parameters
        ----------
        name : str
            The new node's name.
        op : Operation subclass, Operation instance, or str
            The operation: a class (``Sigmoid``), an instance for ops with
            parameters, or a registered name (``'sigmoid'``). Each node gets its
            own instance, so one instance can serve several nodes.
        inputs : iterable of str, or str
            The names of existing nodes, in the order the op takes them. A name
            may appear twice (``('x', 'x')``). A single string is one input.
        **params
            Passed to the op's constructor when ``op`` is a class or a name.

        Raises
        ------
        DuplicateNodeError
            If ``name`` is already a node.
        CycleError
            If the node lists itself as an input.
        UnknownNodeError
            If an input is not a node of the graph.
        InvalidOperationError
            If ``op`` is not an operation or not a registered name.
        ArityError
            If the op takes a different number of inputs.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("sq", "mul", ("x", "x"))
        >>> cg.forward("sq"), cg.backward("sq")
        (9.0, {'x': 6.0})
        """
        input_names = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        nodes = self.nodes
        if name in nodes or type(name) is not str or not name:
            self._check_new_name(name)
        try:
            parents = tuple(map(nodes.__getitem__, input_names))
        except (KeyError, TypeError):
            self._raise_unknown_inputs(name, input_names)
        cls = OPERATIONS.get(op) if type(op) is str and not params else None
        instance = cls() if cls is not None else resolve_operation(op, name, params)
        if instance.arity is not None and instance.arity != len(parents):
            raise ArityError(
                f"node {name!r}: {type(instance).__name__} takes {instance.arity} input(s) "
                f"but was given {len(parents)}: {input_names}",
                nodes=[name],
            )
        if all(map(_requires_grad, parents)):
            requires_grad = bool(parents)
        else:  # the default needs_input_grad, (), means every input needs a gradient
            needs = tuple(map(_requires_grad, parents))
            instance.needs_input_grad = _NEEDS.setdefault(needs, needs)
            requires_grad = True in needs
        nodes[name] = self.operations[name] = OperationNode(
            name, instance, parents, len(nodes), requires_grad)
        add_edge = self.graph.add_edge
        for parent in input_names:
            add_edge(parent, name)  # adds the node too; a repeated edge is a no-op
        if not input_names:
            self.graph.add_node(name)
        self._structure_changed()

    def add_expression(self, name: str, text: str) -> str:
        """Declare the nodes of a maths expression, one named node per operation.

        The text is parsed with Python's ``ast`` module and never evaluated. It may
        use numbers, names of existing nodes, ``+ - * / ** @``, unary minus and calls
        of registered ops by name (``sigmoid(y)``, ``maximum(a, b)``), with literal
        keyword arguments for their parameters (``sum(x, axis=0)``). The last
        operation is the node ``name``; each other one is ``name/<op>`` (``f/add``,
        ``f/sigmoid``, ``f/pow``), then ``name/<op>_2``, ``_3``... in post-order, left
        to right. Numbers become constants ``name/const``, ``name/const_2``... (one
        per distinct value; ``-2`` is the constant -2). ``a ** b`` is ``pow``, ``-a``
        is ``neg``. An identical sub-expression used twice is one node.

        Parameters
        ----------
        name : str
            The name of the expression's result; a new node name.
        text : str
            The expression, at most ``cgraph.expression.MAX_LENGTH`` characters.

        Returns
        -------
        str
            ``name``.

        Raises
        ------
        ExpressionError
            For bad syntax, anything that is not maths (attribute access, subscripts,
            strings, lambdas, comprehensions, comparisons, assignments...), a keyword
            value that is not a literal, a text too long or too deeply nested.
        UnknownNodeError
            If a name is not a node of the graph.
        InvalidOperationError
            If a function is not a registered op, or the op refuses its keywords.
        ArityError
            If an op is called with the wrong number of inputs.
        DuplicateNodeError
            If ``name``, or a name it would give an intermediate, is already a node.
        CycleError
            If the expression uses ``name`` itself.

        Every message quotes the offending piece of text and its column. A refused
        expression adds nothing to the graph.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0, y=-4.0)
        >>> cg.add_expression("f", "(x + sigmoid(y)) / (sigmoid(x) + (x + y)**2)")
        'f'
        >>> list(cg.operations)
        ['f/sigmoid', 'f/add', 'f/sigmoid_2', 'f/add_2', 'f/pow', 'f/add_3', 'f']
        >>> cg.forward("f"), cg.backward("f")
        (0.41345423252018193, {'x': 0.5348320870757595, 'y': 0.342460382923052})
        """
        from cgraph.expression import add_expression

        return add_expression(self, name, text)

    # ----------------------------------------------------------------------------------
    # Forward and backward
    # ----------------------------------------------------------------------------------

    def forward(
        self,
        root: str | None = None,
        feed: Mapping[str, Any] | None = None,
        check_finite: bool = False,
    ) -> Any:
        """Evaluate ``root`` and its ancestors in topological order, caching every output.

        The gradients of the last ``backward`` are cleared: they belong to the
        previous values (call ``backward`` again for the new ones).

        Parameters
        ----------
        root : str, optional
            The node to evaluate; by default the graph's only sink.
        feed : mapping of str to value, optional
            Input values for this call only; the inputs' own values are unchanged.
        check_finite : bool, default False
            Raise on the first input or output that holds NaN or infinity.

        Returns
        -------
        float or numpy.ndarray
            The root's value.

        Raises
        ------
        UnknownNodeError
            If ``root`` or a fed name is not a node.
        GraphError
            If there is no root to choose, or several sinks to choose from.
        ShapeError
            If a node's inputs do not broadcast.
        OperationError
            If an operation raised; the original error is chained.
        NonFiniteError
            With ``check_finite``, naming the first node whose output is not finite
            although its inputs are, and those inputs.

        A call that raises changes no cached value or gradient. Operations may
        have saved state from the failed attempt, so a ``backward`` after it asks
        for a successful ``forward`` first.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.forward()
        4.0
        >>> cg.forward(feed={"x": 3.0}), cg.inputs["x"].output
        (9.0, 2.0)
        """
        schedule = self._schedule(root)
        feed_values = self._checked_feed(feed) if feed else {}
        try:
            with _quiet_numpy(check_finite):
                values = run_forward(schedule, feed_values, check_finite)
        except GraphError as error:
            self._evaluated = None
            self._failed_forward = error
            raise
        # Only now, with every output computed, does the graph take the new values.
        for node, value in zip(schedule.nodes[schedule.leaf_count:],
                               values[schedule.leaf_count:], strict=True):
            node.output = value
        self._evaluated = (schedule, values, feed_values)
        self._failed_forward = None
        self._clear_gradients()  # they belong to the previous values
        return _plain(values[-1])

    def backward(
        self, root: str | None = None, seed: Any = None, check_finite: bool = False
    ) -> dict[str, Any]:
        """Differentiate ``root`` with respect to every node it depends on (reverse mode).

        The root is seeded with ones shaped like its output (or with ``seed``);
        nodes are visited in reverse topological order and each one's gradient,
        pulled back through its operation, is summed into its inputs: the
        multivariate chain rule. Gradients start from zero on every call, so two
        calls after one forward give the same gradients. (PyTorch instead adds
        into ``.grad`` until ``zero_grad()``; here there is nothing to zero.)

        Parameters
        ----------
        root : str, optional
            The node to differentiate; by default the root of the last forward.
        seed : float or array_like, optional
            The gradient to start from, shaped like the root's output.
        check_finite : bool, default False
            Raise on the first operation that passes a NaN or infinite gradient
            to an input from a finite upstream gradient.

        Returns
        -------
        dict of str to gradient
            The gradient of every trainable input the root depends on, by name.
            Array gradients may be shared between nodes (an addition passes the
            same array to both its inputs): copy one before changing it in place.

        Raises
        ------
        NotComputedError
            If ``root`` was not evaluated by the last successful forward.
        ShapeError
            If ``seed`` or an operation's gradient has the wrong shape.
        InvalidOperationError
            If an operation returned the wrong number of gradients.
        NonFiniteError
            With ``check_finite``, naming the operation and the input concerned.

        A call that raises changes no gradient.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "mul", ("x", "x"))
        >>> _ = cg.forward("y")
        >>> cg.backward("y")
        {'x': 6.0}
        >>> cg.backward("y", seed=2.0)
        {'x': 12.0}
        """
        schedule, values = self._evaluated_for(root)
        seed = self._checked_seed(schedule.nodes[-1], values[-1], seed)
        with _quiet_numpy(check_finite):
            grads = run_backward(schedule, values, seed, check_finite)
        # Only now, with every gradient computed, does the graph take the new gradients.
        if self._differentiated is not schedule:
            self._clear_gradients()
        for node, grad in zip(schedule.nodes, grads, strict=True):
            node.local_grad = grad
        self._differentiated = schedule
        return {schedule.nodes[pos].name: _plain(grads[pos]) for pos in schedule.trainable}

    # ----------------------------------------------------------------------------------
    # Reading values and gradients
    # ----------------------------------------------------------------------------------

    def get_value(self, name: str) -> Any:
        """The value of a node: given for inputs, cached by the last forward for operations.

        Raises
        ------
        UnknownNodeError
            If ``name`` is not a node.
        NotComputedError
            If ``name`` is an operation no forward pass has evaluated yet.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "neg", ("x",))
        >>> _ = cg.forward("y")
        >>> cg.get_value("y")
        -3.0
        """
        node = self._node(name)
        if node.output is None:
            raise NotComputedError(
                f"node {name!r} has no value yet; call forward({name!r}) (or forward of a "
                "node that depends on it) first",
                nodes=[name],
            )
        return _plain(node.output)

    def get_gradient(self, name: str) -> Any:
        """The gradient of the last root differentiated with respect to node ``name``.

        Raises
        ------
        UnknownNodeError
            If ``name`` is not a node.
        NotComputedError
            If no backward pass has run yet.
        NoGradientError
            If the last root does not depend on ``name``, or ``name`` leads to no
            trainable input (a constant, a non-trainable input).

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y"); _ = cg.backward("y")
        >>> cg.get_gradient("x")
        6.0
        """
        node = self._node(name)
        if node.local_grad is not None:
            return _plain(node.local_grad)
        if self._differentiated is None:
            raise NotComputedError(
                f"no gradient of {name!r}: call backward(root) after forward(root) (every "
                "forward clears the gradients, which belong to the previous values)",
                nodes=[name],
            )
        root = self._differentiated.root.name
        if not node.requires_grad:
            why = "it is a constant" if isinstance(node, Constant) else (
                "it is not trainable" if isinstance(node, Input)
                else "it depends on no trainable input")
            raise NoGradientError(
                f"node {name!r} has no gradient: {why}", nodes=[name, root])
        raise NoGradientError(
            f"node {name!r} has no gradient: the last root differentiated, {root!r}, does not "
            f"depend on it; call backward of a node that does",
            nodes=[name, root],
        )

    def summary(self, max_rows: int | None = None) -> str:
        """A table of every node: name, op, inputs, shape, value and gradient once known.

        Parameters
        ----------
        max_rows : int, optional
            Show at most this many rows (the first and last ones); all by default.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> print(cg.summary())
        name  op      inputs  shape  value  gradient
        ----  ------  ------  -----  -----  --------
        x     input           ()     3      -
        y     square  x       -      -      -
        """
        return format_summary(self.nodes.values(), max_rows)

    # ----------------------------------------------------------------------------------
    # Container protocol
    # ----------------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __repr__(self) -> str:
        counts = (f"{len(self.inputs)} inputs, {len(self.constants)} constants, "
                  f"{len(self.operations)} operations")
        return f"<ComputationalGraph: {counts}>\n{self.summary(max_rows=20)}"

    # ----------------------------------------------------------------------------------
    # Saving and loading graph files (cgraph.io)
    # ----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, array_threshold: int | None = None) -> None:
        """Write the graph to a JSON file: every node in declaration order, with its values.

        Inputs and constants are saved with their values (dtype and shape, exactly),
        operations by their registered name, ``params()`` and input names. An array
        of more than ``array_threshold`` elements goes to an ``.npz`` beside the file,
        named like it (``graph.json`` -> ``graph.npz``). Cached outputs and gradients
        are not saved: ``forward`` and ``backward`` recompute them. The files are
        written to temporary files and renamed into place, so a failed save leaves no
        half-written file. The format is described in :mod:`cgraph.io`.

        Parameters
        ----------
        path : str or os.PathLike
            The JSON file to write, e.g. ``"graph.json"``; it is replaced if it exists.
        array_threshold : int, optional
            Arrays with more elements go to the ``.npz``; 1000 by default.

        Raises
        ------
        GraphFileError
            If an op is not registered under a name, its ``params()`` cannot be written
            (or do not rebuild it), or a value is not a real number or numeric array;
            then no file is written.
        OSError
            If a file cannot be written.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "sum", ("x",), axis=None)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cg.save(pathlib.Path(tmp) / "graph.json")
        ...     print((pathlib.Path(tmp) / "graph.json").read_text(), end="")
        {"format": "cgraph", "version": 1, "nodes": [
          {"name": "x", "kind": "input", "trainable": true, "value": 2.0},
          {"name": "y", "kind": "operation", "op": "sum", "inputs": ["x"], "params": {"axis": null, "keepdims": false}}
        ]}
        """  # noqa: E501
        from cgraph.io import ARRAY_THRESHOLD, save

        save(self, path, array_threshold=ARRAY_THRESHOLD if array_threshold is None
             else array_threshold)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ComputationalGraph:
        """Read a graph written by :meth:`save`: the same nodes, values and gradients.

        The file is checked as strictly as declaring: its format and version, every
        record's fields and types (an unknown field is refused, not ignored), dtypes
        (real numbers only), shapes against data, and the ``.npz`` beside it (present
        and the one saved with the file). The nodes are then declared in the file's
        order through :meth:`add_input`, :meth:`add_constant` and
        :meth:`add_computation_node`, so duplicate names, unknown inputs, cycles and
        wrong arities are refused as there. Ops are found by their registered name
        only: a custom op must be defined (imported) in this process before loading.
        Nothing is unpickled, evaluated or imported.

        Parameters
        ----------
        path : str or os.PathLike
            The JSON file written by :meth:`save`.

        Returns
        -------
        ComputationalGraph
            A new graph; nothing has been evaluated yet.

        Raises
        ------
        GraphFileError
            If the file (or its ``.npz``) cannot be read, is not valid JSON, is not a
            cgraph file of a version this cgraph reads, or a record is malformed.
        InvalidOperationError
            If an op name is not registered in this process, or its parameters are refused.
        DuplicateNodeError, UnknownNodeError, CycleError, ArityError
            If the records declare what declaring refuses.

        Every message names the file, the record's position and the node; when
        loading fails no graph is returned.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cg.save(pathlib.Path(tmp) / "graph.json")
        ...     loaded = ComputationalGraph.load(pathlib.Path(tmp) / "graph.json")
        >>> loaded.forward("y"), loaded.backward("y")
        (9.0, {'x': 6.0})
        """
        from cgraph.io import load

        return load(path, graph_class=cls)

    # ----------------------------------------------------------------------------------
    # Seeing the graph: drawings, DOT text, the chain rule written out (cgraph.viz, .explain)
    # ----------------------------------------------------------------------------------

    def draw(
        self,
        root: str | None = None,
        *,
        depth: int | None = None,
        collapse: bool | str | Iterable[str] | None = None,
        ax: Any = None,
        path: str | None = None,
        max_nodes: int = 200,
    ) -> Any:
        """Draw the graph with matplotlib, left to right, with values and gradients once known.

        Each box shows a node's name and op, its value (green) after ``forward``
        and its gradient (red) after ``backward``; inputs are blue, constants and
        fixed inputs grey. Needs matplotlib (``pip install "cgraph[viz]"``).

        Parameters
        ----------
        root : str, optional
            Draw only this node and its ancestors.
        depth : int, optional
            With ``root``: only nodes at most this many steps above it.
        collapse : bool, str or iterable of str, optional
            Draw the nodes named ``prefix/...`` as one box per prefix: ``True`` for
            every prefix before the first ``/``, or the prefixes to collapse.
        ax : matplotlib.axes.Axes, optional
            Draw on these axes; by default on a new pyplot figure sized to the graph.
        path : str, optional
            Also save the drawing to this file, in the format its extension names
            (``.png``, ``.svg``, ``.pdf``); a new figure is then closed after saving.
        max_nodes : int, default 200
            Refuse to draw more boxes than this.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        UnknownNodeError
            If ``root`` is not a node, or no node is named with a prefix in ``collapse``.
        GraphError
            If there would be more than ``max_nodes`` boxes, or ``path`` has an extension
            matplotlib cannot write.
        ImportError
            If matplotlib is not installed.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y"); _ = cg.backward("y")
        >>> fig = cg.draw()
        >>> sorted(text.get_text() for text in fig.axes[0].texts if text.get_text())
        ['grad 1', 'grad 6', 'input', 'square', 'value 3', 'value 9', 'x', 'y']
        """
        from cgraph.viz import draw

        return draw(self, root, depth=depth, collapse=collapse, ax=ax, path=path,
                    max_nodes=max_nodes)

    def to_dot(
        self,
        root: str | None = None,
        *,
        depth: int | None = None,
        collapse: bool | str | Iterable[str] | None = None,
        max_nodes: int = 1000,
    ) -> str:
        """The graph as Graphviz DOT text, laid out left to right, for ``dot -Tsvg``.

        Parameters
        ----------
        root, depth, collapse
            As for :meth:`draw`.
        max_nodes : int, default 1000
            Refuse graphs with more boxes than this.

        Returns
        -------
        str

        Raises
        ------
        UnknownNodeError, GraphError
            As for :meth:`draw`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "mul", ("x", "x"))
        >>> print(cg.to_dot())  # doctest: +ELLIPSIS
        digraph cgraph {
            rankdir=LR;
        ...
            "x" -> "y";
            "x" -> "y";
        }
        """
        from cgraph.viz import to_dot

        return to_dot(self, root, depth=depth, collapse=collapse, max_nodes=max_nodes)

    def explain(self, wrt: str, root: str | None = None, max_paths: int = 1000) -> Any:
        """The chain rule for d root / d ``wrt`` written out: every path, step and product.

        The gradient is the sum over the paths from ``root`` down to ``wrt`` of the
        product of the local derivatives along each path. Each local derivative
        comes from the op's own ``backward``; the sum equals what ``backward`` gave.
        Explains scalar graphs only.

        Parameters
        ----------
        wrt : str
            The input (or intermediate node) whose gradient to explain.
        root : str, optional
            The node differentiated; by default the root of the last ``backward``.
        max_paths : int, default 1000
            Refuse when more paths than this lead from ``root`` to ``wrt``.

        Returns
        -------
        cgraph.explain.Explanation
            Printable; ``.paths`` (each with ``.nodes``, ``.factors``, ``.product``),
            ``.total`` and ``.gradient`` hold the numbers.

        Raises
        ------
        UnknownNodeError
            If ``wrt`` or ``root`` is not a node.
        NotComputedError
            If no ``backward`` of ``root`` has run since the last ``forward``.
        NoGradientError
            If ``root`` does not depend on ``wrt``.
        ShapeError
            If a node on a path holds an array.
        GraphError
            If there are more than ``max_paths`` paths.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("s", "square", ("x",))
        >>> cg.add_computation_node("f", "add", ("s", "x"))
        >>> _ = cg.forward("f"); _ = cg.backward("f")
        >>> result = cg.explain("x")
        >>> [path.factors for path in result.paths], result.total, result.gradient
        ([(1.0, 4.0), (1.0,)], 5.0, 5.0)
        """
        from cgraph.explain import explain

        return explain(self, wrt, root, max_paths=max_paths)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a graph as its drawing (None, so the text repr, when it cannot)."""
        from cgraph.viz import repr_svg

        return repr_svg(self)

    # ----------------------------------------------------------------------------------
    # Forward mode and Jacobians (cgraph.modes)
    # ----------------------------------------------------------------------------------

    def jvp(
        self,
        root: str | None = None,
        tangents: Mapping[str, Any] | None = None,
        feed: Mapping[str, Any] | None = None,
    ) -> tuple[Any, Any]:
        """The root's value and its directional derivative in one forward sweep (forward mode).

        Every input x_i gets a tangent t_i (a direction), and each node carries its
        value and its tangent forward together, as dual numbers do: an op's ``jvp``
        turns its inputs' tangents into its output's. The root's tangent is the
        Jacobian-vector product ``sum_i (d root / d x_i) t_i``: with ``{"x": 1.0}``,
        d root / dx. Inputs without a tangent have tangent zero.

        Like ``forward``, it caches every node's value and clears the gradients, so
        ``backward(root)`` may follow.

        Parameters
        ----------
        root : str, optional
            The node to evaluate; by default the graph's only sink.
        tangents : mapping of str to float or array_like
            A tangent per input, by name: a float, or an array shaped like the
            input's value or broadcastable to it (``1.0`` for an array input is the
            all-ones direction). Trainable or not, as long as the input holds floats.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        value, tangent : float or numpy.ndarray
            The root's value and its tangent, shaped like the value.

        Raises
        ------
        UnknownNodeError
            If ``root``, a fed name or a name in ``tangents`` is not a node.
        InvalidValueError
            If a tangent names a constant, an operation or an integer input, or is
            not numeric.
        ShapeError
            If a tangent does not broadcast to its input's shape.
        InvalidOperationError
            If an op on the way has no tangent rule (``jvp``), naming the node and op.
        OperationError
            If an op's ``forward`` or ``jvp`` raised; the original error is chained.

        A call that raises changes no cached value or gradient.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0, y=3.0)
        >>> cg.add_computation_node("xy", "mul", ("x", "y"))
        >>> cg.add_computation_node("f", "sin", ("xy",))
        >>> value, dfdx = cg.jvp("f", tangents={"x": 1.0})   # df/dx = y cos(xy)
        >>> round(value, 6), round(dfdx, 6)
        (-0.279415, 2.880511)
        >>> round(cg.backward("f")["x"], 6)                      # reverse mode agrees
        2.880511
        """
        from cgraph.modes import jvp

        return jvp(self, root, tangents, feed)

    def jacobian(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        mode: str = "auto",
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Jacobian of ``root`` with respect to one input or several, like torch's.

        ``J[i..., j...] = d root[i...] / d x[j...]``, shaped ``root.shape + x.shape``
        as ``torch.autograd.functional.jacobian`` gives it: for a scalar root it is
        the gradient, for a scalar input the derivative of every output element.

        Forward mode (``mode="forward"``) computes it a column at a time, one
        ``jvp`` sweep per input element; reverse mode (``"reverse"``) a row at a
        time, one ``backward`` per output element, seeded with that element's
        one-hot vector. Each sweep costs about one forward pass, so ``"auto"`` picks
        forward mode when the inputs have fewer elements in total than the root,
        and reverse mode otherwise (a gradient of a scalar is a single backward),
        and forward mode whenever an input in ``wrt`` is not trainable (backward
        computes no gradient for it).

        Afterwards the graph is as after ``forward(root, feed)``: every value of this
        point cached, no gradient (the per-row gradients are not kept).

        Parameters
        ----------
        root : str or None
            The node to differentiate; None for the graph's only sink.
        wrt : str or sequence of str
            An input's name, or several.
        mode : {"auto", "forward", "reverse"}, default "auto"
            How to compute it; all give the same numbers.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        numpy.ndarray, float, or tuple of them
            For a name, an array shaped ``root.shape + input.shape`` (a float when
            both are scalars); for a sequence of names, a tuple of such blocks. An
            input the root does not depend on gets zeros.

        Raises
        ------
        UnknownNodeError
            If ``root``, a fed name or a name in ``wrt`` is not a node.
        InvalidValueError
            If ``wrt`` names a constant, an operation or an integer input.
        NoGradientError
            With ``mode="reverse"``, if an input in ``wrt`` is not trainable.
        GraphError
            If ``mode`` is none of the three.
        InvalidOperationError
            In forward mode, if an op on the way has no tangent rule.
        OperationError, ShapeError
            As for ``forward`` and ``backward``.

        A call that raises changes no cached value or gradient.

        Examples
        --------
        >>> import numpy as np
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=np.array([1.0, 2.0, 3.0]), w=2.0)
        >>> cg.add_computation_node("wx", "mul", ("w", "x"))
        >>> cg.add_computation_node("y", "square", ("wx",))     # y_i = (w x_i)^2
        >>> cg.jacobian("y", "x")                                # 2 w^2 x_i on the diagonal
        array([[ 8.,  0.,  0.],
               [ 0., 16.,  0.],
               [ 0.,  0., 24.]])
        >>> dydx, dydw = cg.jacobian("y", ["x", "w"], mode="reverse")
        >>> dydw                                                 # 2 w x_i^2
        array([ 4., 16., 36.])
        """
        from cgraph.modes import jacobian

        return jacobian(self, root, wrt, mode, feed)

    # ----------------------------------------------------------------------------------
    # Gradient graphs and second derivatives (cgraph.symbolic, cgraph.higher)
    # ----------------------------------------------------------------------------------

    def gradient_graph(
        self, root: str | None, wrt: str | Sequence[str]
    ) -> ComputationalGraph:
        """The backward pass as a new graph of named nodes, to draw, read or differentiate again.

        The new graph holds the forward nodes ``root`` needs (same names, inputs and
        values) and, for every node ``n`` on a path from the root to an input in
        ``wrt``, a node ``grad/{root}/{n}`` computing d root / d n: ``grad/f/x`` for
        input ``x``. Each op's pullback is declared by its ``backward_graph`` rule,
        its pieces named ``grad/{root}/{child}/{op}``; a node used by several
        children sums their contributions (``grad/{root}/{n}/from_{child}``) in the
        order ``backward`` does, and broadcasting is undone by ``unbroadcast`` nodes.
        The root is seeded with ones (``grad/{root}/{root}``), as by ``backward``.

        Every value is computed at the inputs' current values; the new graph's
        ``forward`` recomputes them, and its ``backward`` or its own gradient graph
        differentiates the gradient again. This graph is not changed.

        Parameters
        ----------
        root : str or None
            The node to differentiate; None for the graph's only sink.
        wrt : str or sequence of str
            The trainable inputs whose gradients ``grad/{root}/{name}`` are wanted.

        Returns
        -------
        ComputationalGraph
            A new graph; ``grad/{root}/{name}`` for each name in ``wrt`` is its
            gradient (a zero constant if the root does not depend on the input).

        Raises
        ------
        UnknownNodeError
            If ``root`` or a name in ``wrt`` is not a node.
        InvalidValueError
            If ``wrt`` names a constant, an operation or an integer input.
        NoGradientError
            If an input in ``wrt`` is not trainable.
        InvalidOperationError
            If an op on the way has no symbolic rule (``backward_graph``).
        OperationError, ShapeError
            As for ``forward``.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("s", "sin", ("x",))
        >>> cg.add_computation_node("f", "mul", ("s", "x"))      # f = x sin x
        >>> gg = cg.gradient_graph("f", "x")
        >>> [name for name in gg if name.startswith("grad/")]
        ['grad/f/f', 'grad/f/s', 'grad/f/x/from_f', 'grad/f/s/cos', 'grad/f/x/from_s', 'grad/f/x']
        >>> round(gg.forward("grad/f/x"), 6)                      # sin x + x cos x
        0.077004
        >>> round(gg.backward("grad/f/x")["x"], 6)                # f'' = 2 cos x - x sin x
        -2.650889
        """
        from cgraph.symbolic import gradient_graph

        return gradient_graph(self, root, wrt)

    def hessian(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Hessian of a scalar root, shaped like torch.autograd.functional.hessian's.

        ``H[i..., j...] = d^2 root / dx[i...] dx[j...]``, shaped ``x.shape + x.shape``.
        For a list of inputs, a tuple of tuples of blocks: ``H[i][j]`` is shaped
        ``x_i.shape + x_j.shape``. Computed forward over reverse: the gradient graph
        (built once and kept until the graph's structure changes) is evaluated once,
        then one ``jvp`` sweep per input element gives a column. The graph's values
        and gradients are not changed.

        Parameters
        ----------
        root : str or None
            A node holding a single number; None for the graph's only sink.
        wrt : str or sequence of str
            A trainable input's name, or several.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        numpy.ndarray, float, or tuple of tuples of them
            A float when the input is a single number.

        Raises
        ------
        ShapeError
            If the root is not a single number (shape ``()``).
        UnknownNodeError, InvalidValueError, NoGradientError, InvalidOperationError
            As for :meth:`gradient_graph`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0, y=2.0)
        >>> cg.add_computation_node("xy", "mul", ("x", "y"))
        >>> cg.add_computation_node("f", "mul", ("xy", "y"))     # f = x y^2
        >>> cg.hessian("f", "y")                                  # 2 x
        2.0
        >>> H = cg.hessian("f", ["x", "y"])
        >>> H[0][1], H[1][0]                                      # 2 y, both ways
        (4.0, 4.0)
        """
        from cgraph.higher import hessian

        return hessian(self, root, wrt, feed)

    def hvp(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        v: Any,
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Hessian-vector product H v of a scalar root, without forming the Hessian.

        One forward-mode (``jvp``) sweep of the gradient graph with tangent ``v``:
        about the cost of two forward passes, whatever the number of inputs. The
        gradient graph is built on the first call and kept until the graph's
        structure (or an input's shape) changes, so repeated calls (Newton-CG,
        power iteration) cost only their sweep. The graph's values and gradients
        are not changed.

        Parameters
        ----------
        root : str or None
            A node holding a single number; None for the graph's only sink.
        wrt : str or sequence of str
            A trainable input's name, or several.
        v : float, array_like, dict or sequence
            The direction: shaped like the input for a name; for a list of names, a
            dict by name (names left out have direction zero) or one part per name.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        float, numpy.ndarray, or tuple of them
            H v, shaped like the input; for a list of names a tuple, one part per
            name: ``(H v)_i = sum_j H[i][j] v_j``.

        Raises
        ------
        ShapeError
            If the root is not a single number, or ``v`` does not fit the inputs.
        InvalidValueError
            If ``v`` names an input not in ``wrt``, or is not numeric.
        UnknownNodeError, NoGradientError, InvalidOperationError
            As for :meth:`gradient_graph`.

        Examples
        --------
        >>> import numpy as np
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=np.array([1.0, 2.0]))
        >>> cg.add_computation_node("c", "mul", ("x", "x"))
        >>> cg.add_computation_node("q", "mul", ("c", "x"))
        >>> cg.add_computation_node("f", "sum", ("q",))          # sum of x_i^3: H = diag(6 x)
        >>> cg.hvp("f", "x", np.array([1.0, 1.0]))
        array([ 6., 12.])
        """
        from cgraph.higher import hvp

        return hvp(self, root, wrt, v, feed)

    # ----------------------------------------------------------------------------------
    # Internals
    # ----------------------------------------------------------------------------------

    def _add_leaf(self, node: Input | Constant) -> None:
        self.nodes[node.name] = node
        (self.inputs if isinstance(node, Input) else self.constants)[node.name] = node
        self.graph.add_node(node.name)
        self._structure_changed()

    def _clear_gradients(self) -> None:
        if self._differentiated is not None:
            for node in self._differentiated.nodes:
                node.local_grad = None
            self._differentiated = None

    def _structure_changed(self) -> None:
        """Drop everything derived from the structure; values and gradients stay valid."""
        if self._schedules:
            self._schedules.clear()
        self._sinks = None

    def _check_new_name(self, name: Any) -> None:
        if name in self.nodes:
            raise DuplicateNodeError(
                f"a node named {name!r} already exists; choose another name", nodes=[name])
        if type(name) is not str or not name:
            raise InvalidValueError(
                f"node names are non-empty strings, not {name!r}", nodes=[str(name)])

    def _check_names_exist(
        self, names: Iterable[str], what: str, declaring: str | None = None
    ) -> None:
        for name in names:
            if name not in self.nodes:
                raise UnknownNodeError(
                    f"{what} {name!r} is not a node of the graph{did_you_mean(name, self.nodes)}",
                    nodes=[name] if declaring is None else [name, declaring])

    def _raise_unknown_inputs(self, name: str, input_names: tuple[Any, ...]) -> None:
        if name in input_names:
            raise CycleError(
                f"node {name!r} lists itself as an input, which would make a cycle; "
                "give it a new name or use an existing node",
                nodes=[name])
        for parent in input_names:
            if not isinstance(parent, str):
                raise InvalidValueError(
                    f"node {name!r}: inputs are node names (strings), not {parent!r}",
                    nodes=[name])
        self._check_names_exist(input_names, f"node {name!r}: input", declaring=name)

    def _checked_leaf(self, name: str, value: Any, trainable: bool) -> Any:
        self._check_new_name(name)
        return as_value(value, name, trainable)

    def _node(self, name: str) -> Node:
        node = self.nodes.get(name)
        if node is None:
            self._check_names_exist([name], "node")
        return node  # type: ignore[return-value]

    def _schedule(self, root: str | None) -> Schedule:
        if root is None:
            root = self._default_root()
        schedule = self._schedules.get(root)
        if schedule is None:
            schedule = self._schedules[root] = Schedule(self._node(root))
        return schedule

    def _default_root(self) -> str:
        if self._sinks is None:
            self._sinks = [name for name, degree in self.graph.out_degree() if degree == 0]
        if len(self._sinks) == 1:
            return self._sinks[0]
        if not self._sinks:
            raise GraphError("the graph is empty: declare inputs and operations first")
        shown = ", ".join(repr(s) for s in self._sinks[:10])
        more = ", ..." if len(self._sinks) > 10 else ""
        raise GraphError(
            f"the graph has {len(self._sinks)} sinks ({shown}{more}); "
            f"name the root to evaluate, e.g. forward({self._sinks[-1]!r})",
            nodes=self._sinks[:10],
        )

    def _checked_feed(self, feed: Mapping[str, Any]) -> dict[str, Any]:
        checked = {}
        for name, value in feed.items():
            node = self._node(name)
            if not isinstance(node, Input):
                raise InvalidValueError(
                    f"cannot feed {name!r}: only inputs can be fed, and it is "
                    f"{'a constant' if isinstance(node, Constant) else 'an operation'}",
                    nodes=[name])
            checked[name] = as_value(value, name, node.trainable)
        return checked

    def _evaluated_for(self, root: str | None) -> tuple[Schedule, list[Any]]:
        """The schedule for ``root`` and the values the last forward computed for it."""
        if self._evaluated is None:
            after = (f" (the last one failed: {self._failed_forward})"
                     if self._failed_forward else "")
            raise NotComputedError(
                f"backward({root!r}) needs a successful forward pass first{after}: "
                f"call forward({root!r})",
                nodes=[root] if root else [])
        last, values, feed = self._evaluated
        if root is None or root == last.root.name:
            return last, values
        schedule = self._schedule(root)
        if schedule.root.index > last.root.index or schedule.root not in last.nodes:
            raise NotComputedError(
                f"backward({root!r}) needs {root!r} evaluated by the last forward pass, which "
                f"was of {last.root.name!r}; call forward({root!r}) first",
                nodes=[root, last.root.name])
        return schedule, [feed.get(node.name, node.output) for node in schedule.nodes]

    def _checked_seed(self, root: Node, value: Any, seed: Any) -> Any:
        if seed is None:
            return ones_like(value)
        seed = as_value(seed, root.name, trainable=True)
        if np.shape(seed) != np.shape(value):
            raise ShapeError(
                f"seed for {root.name!r} has shape {np.shape(seed)} but its output has shape "
                f"{np.shape(value)}; give a seed shaped like the output",
                nodes=[root.name])
        return seed


def _quiet_numpy(quiet: bool) -> Any:
    """With check_finite, a non-finite number raises an error: numpy's warning would repeat it."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore") if quiet else nullcontext()


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, for what the user reads; arrays unchanged."""
    return value.item() if isinstance(value, np.generic) else value


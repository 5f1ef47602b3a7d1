"""ComputationalGraph: declare named nodes, then run forward and backward over a cached schedule."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from operator import attrgetter
from typing import Any

import networkx as nx
import numpy as np

from cgraph._graph_derivatives import GraphDerivatives
from cgraph._graph_files import GraphFiles
from cgraph._graph_views import GraphViews
from cgraph.diagnostics import did_you_mean, invalid_leaf, shown
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


class ComputationalGraph(GraphFiles, GraphViews, GraphDerivatives):
    """A graph of named inputs and operations, differentiated by reverse-mode autodiff.

    Declare inputs, constants and operation nodes by name; ``forward(root)``
    evaluates the root's ancestors in topological order and caches every
    output on its node; ``backward(root)`` seeds the root with ones and applies
    the chain rule in reverse order, summing each node's gradients into its
    inputs. Every intermediate value and gradient can be read by name.
    Saving and loading, drawing and explaining, forward mode and second
    derivatives are methods too, kept in ``cgraph._graph_files``,
    ``_graph_views`` and ``_graph_derivatives``.

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
        # Gradient graphs prepared by hessian() and hvp(), by (root, wrt) (cgraph.higher).
        self._hessian_plans: dict[tuple[str, tuple[str, ...]], Any] = {}
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
        InvalidValueError
            If ``name`` is not a non-empty string, or ``inputs`` is not a name or an
            iterable of names (``None``, a number, a list among the names).
        InvalidOperationError
            If ``op`` is not an operation or not a registered name (the closest names
            are suggested), or its constructor lacks a required parameter or does not
            take one given; the message lists the parameters it takes.
        ArityError
            If the op takes a different number of inputs, or fewer than the
            ``min_arity`` that an op taking any number of inputs may declare.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("sq", "mul", ("x", "x"))
        >>> cg.forward("sq"), cg.backward("sq")
        (9.0, {'x': 6.0})
        """
        nodes = self.nodes
        # The type first: an unhashable name (a list) cannot even be looked up.
        if type(name) is not str or not name or name in nodes:
            self._check_new_name(name)
        try:
            input_names = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        except TypeError:  # None, a number: not an iterable of names
            self._raise_bad_inputs(name, inputs)
        try:
            parents = tuple(map(nodes.__getitem__, input_names))
        except (KeyError, TypeError):
            self._raise_unknown_inputs(name, input_names)
        cls = OPERATIONS.get(op) if type(op) is str and not params else None
        if cls is None:
            instance = resolve_operation(op, name, params)
        else:
            try:
                instance = cls()
            except (TypeError, ValueError):  # a required parameter: let it say which
                instance = resolve_operation(op, name, params)
        arity = instance.arity
        if arity is not None:
            if arity != len(parents):
                raise ArityError(
                    f"node {name!r}: {type(instance).__name__} takes {arity} input(s) "
                    f"but was given {len(parents)}: {input_names}",
                    nodes=[name],
                )
        elif len(parents) < _min_arity(instance):
            raise ArityError(
                f"node {name!r}: {type(instance).__name__} takes at least "
                f"{_min_arity(instance)} input(s) but was given {len(parents)}: {input_names}",
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
        InvalidValueError
            If ``root`` or a fed name is not a string, ``feed`` is not a mapping, a fed
            value is not numeric, or an input holds something that is not a number
            (set by hand through ``inputs[name].output``): named before any op's failure.
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
            # Only now, on the way out: a leaf set by hand to a string fails in some op.
            blamed = invalid_leaf(schedule.nodes[:schedule.leaf_count], feed_values)
            self._evaluated = None
            self._failed_forward = blamed or error
            if blamed is not None:
                raise blamed from error
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
        if self._hessian_plans:
            self._hessian_plans.clear()
        self._sinks = None

    def _check_new_name(self, name: Any) -> None:
        if type(name) is not str or not name:
            raise InvalidValueError(
                f"node names are non-empty strings, not {shown(name)} "
                f"({type(name).__name__})", nodes=[str(name)])
        if name in self.nodes:
            raise DuplicateNodeError(
                f"a node named {name!r} already exists; choose another name", nodes=[name])

    def _check_names_exist(
        self, names: Iterable[str], what: str, declaring: str | None = None
    ) -> None:
        for name in names:
            if not isinstance(name, str):
                raise InvalidValueError(
                    f"{what} {shown(name)} is not a node name: names are strings, not "
                    f"{type(name).__name__}; give the name of a node",
                    nodes=[] if declaring is None else [declaring])
            if name not in self.nodes:
                raise UnknownNodeError(
                    f"{what} {name!r} is not a node of the graph{did_you_mean(name, self.nodes)}",
                    nodes=[name] if declaring is None else [name, declaring])

    def _raise_bad_inputs(self, name: str, inputs: Any) -> None:
        raise InvalidValueError(
            f"node {name!r}: inputs must be a node name or an iterable of node names, e.g. "
            f"('x', 'y'), not {shown(inputs)} ({type(inputs).__name__})", nodes=[name])

    def _raise_unknown_inputs(self, name: str, input_names: tuple[Any, ...]) -> None:
        # Types before the cycle check: comparing the name to an array is ambiguous.
        for parent in input_names:
            if not isinstance(parent, str):
                raise InvalidValueError(
                    f"node {name!r}: inputs are node names (strings), not {shown(parent)} "
                    f"({type(parent).__name__})", nodes=[name])
        if name in input_names:
            raise CycleError(
                f"node {name!r} lists itself as an input, which would make a cycle; "
                "give it a new name or use an existing node",
                nodes=[name])
        self._check_names_exist(input_names, f"node {name!r}: input", declaring=name)

    def _checked_leaf(self, name: str, value: Any, trainable: bool) -> Any:
        self._check_new_name(name)
        return as_value(value, name, trainable)

    def _node(self, name: str, what: str = "node") -> Node:
        node = self.nodes.get(name) if isinstance(name, str) else None
        if node is None:
            self._check_names_exist([name], what)
        return node  # type: ignore[return-value]

    def _schedule(self, root: str | None) -> Schedule:
        if root is None:
            root = self._default_root()
        schedule = self._schedules.get(root) if isinstance(root, str) else None
        if schedule is None:
            schedule = self._schedules[root] = Schedule(self._node(root, "root"))
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
        if not isinstance(feed, Mapping):
            raise InvalidValueError(
                f"feed must be a mapping of input names to values, e.g. feed={{'x': 1.0}}, "
                f"not a {type(feed).__name__}")
        checked = {}
        for name, value in feed.items():
            node = self._node(name, "fed name")
            if not isinstance(node, Input):
                raise InvalidValueError(
                    f"cannot feed {name!r}: only inputs can be fed, and it is "
                    f"{'a constant' if isinstance(node, Constant) else 'an operation'}",
                    nodes=[name])
            checked[name] = as_value(value, name, node.trainable)
        return checked

    def _evaluated_for(self, root: str | None) -> tuple[Schedule, list[Any]]:
        """The schedule for ``root`` and the values the last forward computed for it."""
        if root is not None and not isinstance(root, str):
            self._node(root, "root")  # refuses it, before any message quotes it as a node
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


def _min_arity(op: Any) -> int:
    """The fewest inputs an op with any number of them takes (``min_arity``, 0 by default)."""
    return getattr(op, "min_arity", 0)


def _quiet_numpy(quiet: bool) -> Any:
    """With check_finite, a non-finite number raises an error: numpy's warning would repeat it."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore") if quiet else nullcontext()


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, for what the user reads; arrays unchanged."""
    return value.item() if isinstance(value, np.generic) else value


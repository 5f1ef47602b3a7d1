"""GraphCore: declare named nodes, then run forward and backward over a cached schedule.

This is the engine's one class and the core of :class:`cgraph.ComputationalGraph`,
which adds convenience methods for the features built on it (forward mode,
second derivatives, drawings, files). Those features are functions that use
only the public interface below: :meth:`GraphCore.schedule`,
:meth:`~GraphCore.get_node`, :meth:`~GraphCore.check_feed`, the last pass
(:attr:`~GraphCore.last_pass`, :meth:`~GraphCore.keep_pass`,
:meth:`~GraphCore.fail_pass`) and :meth:`~GraphCore.structure_cache`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from operator import attrgetter
from typing import Any

import networkx as nx
import numpy as np

from cgraph.engine.allocation import cyclic_gc_paused
from cgraph.engine.checks import (
    arity_problem,
    check_names_exist,
    check_new_name,
    checked_feed,
    checked_seed,
    raise_bad_inputs,
    raise_unknown_inputs,
)
from cgraph.engine.compiled import CompiledRoot
from cgraph.engine.copying import copied_graph, refuse_pickling
from cgraph.engine.diagnostics import invalid_leaf
from cgraph.engine.digraph import add_children
from cgraph.engine.nodes import (
    Constant,
    Input,
    Node,
    OperationNode,
    Shown,
    as_value,
    plain_value,
    tick,
)
from cgraph.engine.passes import (
    EvaluatedPass,
    gradients_by_name,
    leaf_values,
    run_backward,
    run_forward,
)
from cgraph.engine.plan import compiled, planned_backward, planned_forward
from cgraph.engine.schedule import Schedule
from cgraph.engine.summary import format_summary
from cgraph.errors import (
    ArityError,
    GraphError,
    InvalidValueError,
    NoGradientError,
    NotComputedError,
)
from cgraph.messages import shown
from cgraph.ops.registry import OPERATIONS
from cgraph.ops.resolve import resolve_operation

__all__ = ["GraphCore"]

# One shared tuple per pattern, so a million ops do not hold a million copies.
_NEEDS: dict[tuple[bool, ...], tuple[bool, ...]] = {}
_requires_grad = attrgetter("requires_grad")


class GraphCore:
    """A graph of named inputs and operations, differentiated by reverse-mode autodiff.

    Declare inputs, constants and operation nodes by name; ``forward(root)``
    evaluates the root's ancestors in topological order and caches every
    output on its node; ``backward(root)`` seeds the root with ones and applies
    the chain rule in reverse order, summing each node's gradients into its
    inputs. Every intermediate value and gradient can be read by name.
    Users build :class:`cgraph.ComputationalGraph`, this class with the
    features' convenience methods; every example here works on either.

    Attributes
    ----------
    graph : networkx.DiGraph
        The structure: one node per name, an edge parent -> child per dependency.
        Read it freely; declare nodes through this class, not by editing it.
    nodes, inputs, constants, operations : dict of str to Node
        Every node, and each kind of node, by name in declaration order.
    subgraphs : dict of str to list of str
        The subgraphs used in this graph (``add_subgraph``), by the use's name:
        the outputs of each.
    use_plans : bool
        Whether ``forward`` and ``backward`` run compiled plans (generated
        straight-line code, :meth:`compile`) once a root has been evaluated a
        few times. True by default; the same numbers either way. Set it to
        False on a graph, or on the class for every graph; the environment
        variable ``CGRAPH_PLANS=0`` sets the default to False.

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

    use_plans: bool = os.environ.get("CGRAPH_PLANS", "1") != "0"

    def __init__(self) -> None:
        self.graph: nx.DiGraph = nx.DiGraph()
        self.nodes: dict[str, Node] = {}
        self.inputs: dict[str, Input] = {}
        self.constants: dict[str, Constant] = {}
        self.operations: dict[str, OperationNode] = {}
        self._schedules: dict[str, Schedule] = {}
        # What features derive from the structure, by owner (structure_cache).
        self._caches: dict[str, dict[Any, Any]] = {}
        self._sinks: list[str] | None = None
        #: The subgraphs used in this graph (:func:`cgraph.subgraphs.add_subgraph`): each
        #: use's name, the prefix of its nodes' names, to the outputs it computes.
        self.subgraphs: dict[str, list[str]] = {}
        # The last successful pass, any thread's (last_pass shows its first three fields).
        self._evaluated: PassRecord | None = None
        self._thread = threading.local()  # .evaluated: each thread's own last pass
        # The pass whose state each classic op (keeps_state) holds, set when that pass ends.
        self._op_states: dict[OperationNode, tuple[Any, ...]] = {}
        self._differentiated: Schedule | None = None
        # The values and gradients the nodes show, kept by whole passes (Shown).
        self._showing = Shown()
        self._failed_forward: BaseException | None = None
        # The last successful pass of each root: which input state each node's value
        # belongs to. _shown is the last of them, the state shown.
        self._computed: dict[Node, PassRecord] = {}
        self._shown: PassRecord | None = None
        #: Held by every pass and every change, so threads sharing a graph take turns and
        #: never mix two passes; reentrant, so an op may read the graph it is part of.
        self.lock = threading.RLock()

    def __deepcopy__(self, memo: dict[int, Any]) -> GraphCore:
        """An independent graph: its own nodes, with the values and gradients shown here.

        Examples
        --------
        >>> import copy
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y")
        >>> twin = copy.deepcopy(cg)
        >>> twin.get_value("y"), twin.backward("y")
        (9.0, {'x': 6.0})
        """
        return copied_graph(self, memo)

    def __copy__(self) -> GraphCore:
        """As ``copy.deepcopy``: nodes belong to one graph, so a copy has its own."""
        return copied_graph(self, {})

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise refuse_pickling(self)

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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2, w=[1.0, 2.0])
        >>> cg.inputs["x"].output, cg.inputs["w"].output
        (2.0, array([1., 2.]))
        """
        with self.lock:
            nodes = self.nodes
            checked = {
                name: _checked_leaf(nodes, name, value, True) for name, value in values.items()
            }
            for name, value in checked.items():
                self._add_leaf(Input(name, value, len(nodes), True, self._showing))

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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_input("data", [[1, 2], [3, 4]], trainable=False)
        >>> cg.inputs["data"].output.dtype
        dtype('int64')
        """
        with self.lock:
            value = _checked_leaf(self.nodes, name, value, trainable)
            self._add_leaf(Input(name, value, len(self.nodes), trainable, self._showing))

    def add_constant(self, name: str, value: Any) -> None:
        """Declare a constant: a fixed value that is never differentiated nor fed.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_constant("two", 2)
        >>> cg.get_value("two")
        2.0
        """
        with self.lock:
            value = _checked_leaf(self.nodes, name, value, False)
            self._add_leaf(Constant(name, value, len(self.nodes), self._showing))

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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("sq", "mul", ("x", "x"))
        >>> cg.forward("sq"), cg.backward("sq")
        (9.0, {'x': 6.0})
        """
        with self.lock:
            node = self._new_operation(name, op, inputs, params)
            self.nodes[name] = self.operations[name] = node
            add_children(self.graph, ((name, [parent.name for parent in node.parents]),))
            self._structure_changed()

    def add_computation_nodes(self, declarations: Iterable[tuple[Any, ...]]) -> None:
        """Declare many nodes at once: ``(name, op, inputs)`` or ``(name, op, inputs, params)``.

        The bulk form of :meth:`add_computation_node`, for graphs a program
        makes: each declaration is checked as there, and may use the nodes
        declared before it in the same call. The graph's structure is updated
        once for all, which makes declaring large graphs cheaper. All or nothing:
        if any declaration is refused, none is declared.

        Parameters
        ----------
        declarations : iterable of tuple
            ``(name, op, inputs)``, or ``(name, op, inputs, params)`` with ``params``
            a dict of the op's constructor arguments.

        Raises
        ------
        GraphError
            As :meth:`add_computation_node`, for the first declaration refused; it
            says which one it was.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_nodes([("a", "square", ("x",)), ("b", "sin", "a"),
        ...                           ("s", "sum", ("b",), {"axis": None})])
        >>> cg.forward("s") == cg.forward("b")
        True
        >>> cg.add_computation_nodes([("c", "neg", ("b",)), ("d", "neg", ("nope",))])
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cgraph.errors.UnknownNodeError: declaration 2 of 2: node 'd': input 'nope' is not a node ...
        >>> "c" in cg
        False
        """
        # Nothing declared is cyclic garbage: the collector's rescans would double the time.
        with self.lock, cyclic_gc_paused():
            nodes, operations = self.nodes, self.operations
            added: list[OperationNode] = []
            try:
                for count, declaration in enumerate(declarations, start=1):
                    if type(declaration) is tuple and len(declaration) == 3:  # the usual form
                        name, op, inputs = declaration
                        params: dict[str, Any] = {}
                    else:
                        name, op, inputs, params = _unpacked(declaration, count)
                    try:
                        node = self._new_operation(name, op, inputs, params)
                    except GraphError as error:
                        raise _numbered(error, count, declarations) from error
                    nodes[name] = operations[name] = node
                    added.append(node)
            except BaseException:
                for node in added:  # all or nothing: the graph as it was
                    del nodes[node.name], operations[node.name]
                raise
            add_children(
                self.graph, [(node.name, [p.name for p in node.parents]) for node in added]
            )
            if added:
                self._structure_changed()

    def _new_operation(
        self, name: Any, op: Any, inputs: Any, params: dict[str, Any]
    ) -> OperationNode:
        """The checked node a declaration makes; raises before anything changes."""
        nodes = self.nodes
        # The type first: an unhashable name (a list) cannot even be looked up.
        if type(name) is not str or not name or name in nodes:
            check_new_name(nodes, name)
        try:
            input_names = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        except TypeError:  # None, a number: not an iterable of names
            raise_bad_inputs(name, inputs)
        try:
            parents = tuple(map(nodes.__getitem__, input_names))
        except (KeyError, TypeError):
            raise_unknown_inputs(nodes, name, input_names)
        cls = OPERATIONS.get(op) if type(op) is str and not params else None
        if cls is None:
            instance = resolve_operation(op, name, params)
        else:
            try:
                instance = cls()
            except (TypeError, ValueError):  # a required parameter: let it say which
                instance = resolve_operation(op, name, params)
        # The common case first: an op of fixed arity given that many inputs.
        if instance.arity != len(parents):
            problem = arity_problem(instance, len(parents))
            if problem is not None:
                raise ArityError(f"node {name!r}: {problem}: {input_names}", nodes=[name])
        if all(map(_requires_grad, parents)):
            requires_grad = bool(parents)
            if instance.needs_input_grad:  # an instance from another node (a subgraph's) may
                instance.needs_input_grad = ()  # carry flags of its inputs there
        else:  # the default needs_input_grad, (), means every input needs a gradient
            needs = tuple(map(_requires_grad, parents))
            instance.needs_input_grad = _NEEDS.setdefault(needs, needs)
            requires_grad = True in needs
        return OperationNode(name, instance, parents, len(nodes), requires_grad, self._showing)

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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.forward()
        4.0
        >>> cg.forward(feed={"x": 3.0}), cg.inputs["x"].output
        (9.0, 2.0)
        """
        lock = self.lock
        lock.acquire()  # not a with-statement: this is the hot path, and that costs twice
        try:
            schedule = self._schedules.get(root) if type(root) is str else None
            if schedule is None:
                schedule = self.schedule(root)
            feed_values = checked_feed(self.nodes, feed) if feed else {}
            if schedule.stateful:
                self._forget_op_states(schedule)
            # running() inlined: this is the hot path, and a generator costs a microsecond.
            try:
                if check_finite:
                    with _quiet_numpy():
                        values = run_forward(schedule, feed_values, check_finite)
                elif self.use_plans:
                    values = planned_forward(schedule, feed_values)
                else:
                    values = run_forward(schedule, feed_values)
            except GraphError as error:
                # Only now, on the way out: a leaf set by hand to a string fails in some op.
                blamed = invalid_leaf(schedule.nodes[: schedule.leaf_count], feed_values)
                self.fail_pass(blamed or error)
                if blamed is not None:
                    raise blamed from error
                raise
            except BaseException as error:  # an interrupt: ops may hold its state
                self.fail_pass(error)
                raise
            # Only now, with every output computed, does the graph take the new values.
            self.keep_pass(schedule, values, feed_values)
            value = values[-1]
            return value if type(value) is float else plain_value(value)
        finally:
            lock.release()

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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "mul", ("x", "x"))
        >>> _ = cg.forward("y")
        >>> cg.backward("y")
        {'x': 6.0}
        >>> cg.backward("y", seed=2.0)
        {'x': 12.0}
        """
        lock = self.lock
        lock.acquire()
        try:
            # The usual case first: the root of this thread's last pass, no classic ops.
            own: Any = getattr(self._thread, "evaluated", _NO_PASS)
            record: PassRecord | None = self._evaluated if own is _NO_PASS else own
            if (
                record is not None
                and (root is None or root == record[0].root.name)
                and not record[0].stateful
            ):
                schedule, values = record[0], record[1]
            else:
                schedule, values = self._evaluated_for(root)
            if seed is None and type(values[-1]) is float:
                seed = 1.0
            else:
                seed = checked_seed(schedule.nodes[-1], values[-1], seed)
            if check_finite:
                with _quiet_numpy():
                    grads = run_backward(schedule, values, seed, check_finite)
            elif self.use_plans:
                grads = planned_backward(schedule, values, seed)
            else:
                grads = run_backward(schedule, values, seed)
            # Only now, with every gradient computed, does the graph take the new gradients.
            self._showing.grads = (schedule, grads)
            self._differentiated = schedule
        finally:
            lock.release()
        return gradients_by_name(schedule, grads)

    def compile(self, root: str | None = None) -> CompiledRoot:
        """The plan ``forward`` and ``backward`` run for ``root``, written and compiled now.

        ``forward(root)`` and ``backward(root)`` write a plan by themselves from
        a root's third pass on (for schedules of up to 100,000 nodes); this
        writes it at once, at any size (in functions of 2,000 operations each, or
        500 for schedules of over 100,000 nodes), and returns a handle to call it
        by and to read its code. The plan is specialised to the types of the
        inputs' values (Python floats or not); feeding other types writes another.

        Parameters
        ----------
        root : str, optional
            The node to compile; by default the graph's only sink.

        Returns
        -------
        CompiledRoot
            Call it with a feed for the root's value (a ``forward``); its
            ``gradients`` method runs ``forward`` and ``backward``; its ``source``
            is the generated code.

        Raises
        ------
        UnknownNodeError
            If ``root`` is not a node.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> plan = cg.compile("y")
        >>> plan(), plan(feed={"x": 3.0}), plan.gradients()
        (4.0, 9.0, {'x': 4.0})
        >>> print(plan.source.splitlines()[9])
                v1 = v0 * v0
        >>> plan.variables["v1"]
        'y'
        """
        with self.lock:
            schedule = self.schedule(root)
            plan = compiled(schedule, leaf_values(schedule, {}))
            return CompiledRoot(self, schedule.root.name, plan)

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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "neg", ("x",))
        >>> _ = cg.forward("y")
        >>> cg.get_value("y")
        -3.0
        """
        node = self.get_node(name)
        if node.output is None:
            raise NotComputedError(
                f"node {name!r} has no value yet; call forward({name!r}) (or forward of a "
                "node that depends on it) first",
                nodes=[name],
            )
        why = self.stale(name)
        if why is not None:
            raise NotComputedError(f"the value of {name!r} is stale: {why}", nodes=[name])
        return plain_value(node.output)

    def stale(self, name: str) -> str | None:
        """Why the value of ``name`` does not belong to the input state shown, or None.

        The graph shows the input state of its last pass: the inputs' values that
        pass used, fed or stored. An operation's value belongs to the pass that
        computed it last, and is *current* when that pass used the same values as
        the last pass for every input of its own, and no input of the last pass has
        been assigned since (``cg.inputs["x"].output = ...``, an optimiser's step,
        or :meth:`Input.mark_changed` after a change in place). Otherwise it is
        *stale*: ``get_value`` refuses it, and ``summary`` and drawings show
        "stale". Inputs and constants are always current: their own values. A
        value of a pass over several inputs counts as stale when any of them
        differs, even one it does not depend on: never shown wrongly.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> cg.add_computation_node("b", "exp", ("x",))
        >>> cg.add_computation_node("a", "square", ("x",))
        >>> _ = cg.forward("b"), cg.forward("a", feed={"x": 3.0})
        >>> cg.stale("a") is None
        True
        >>> print(cg.stale("b"))
        the last pass, of 'a', fed input 'x', and 'b' was computed with its stored value; call forward('b', feed=...) with the same feed to see it in this state
        """  # noqa: E501
        node = self.get_node(name)
        shown = self._shown
        if shown is None or not isinstance(node, OperationNode) or node.output is None:
            return None
        computed = _pass_of(node, self._recent_passes())
        if computed is None:  # set by hand, not by a pass: nothing to compare
            return None
        return _difference(computed, shown, name)

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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y"); _ = cg.backward("y")
        >>> cg.get_gradient("x")
        6.0
        """
        node = self.get_node(name)
        if node.local_grad is not None:
            return plain_value(node.local_grad)
        if self._differentiated is None:
            raise NotComputedError(
                f"no gradient of {name!r}: call backward(root) after forward(root) (every "
                "forward clears the gradients, which belong to the previous values)",
                nodes=[name],
            )
        root = self._differentiated.root.name
        if not node.requires_grad:
            why = (
                "it is a constant"
                if isinstance(node, Constant)
                else (
                    "it is not trainable"
                    if isinstance(node, Input)
                    else "it depends on no trainable input"
                )
            )
            raise NoGradientError(f"node {name!r} has no gradient: {why}", nodes=[name, root])
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
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> print(cg.summary())
        name  op      inputs  shape  value  gradient
        ----  ------  ------  -----  -----  --------
        x     input           ()     3      -
        y     square  x       -      -      -
        """
        return format_summary(self.nodes.values(), max_rows, stale=self._stale_nodes())

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
        counts = (
            f"{len(self.inputs)} inputs, {len(self.constants)} constants, "
            f"{len(self.operations)} operations"
        )
        return f"<{type(self).__name__}: {counts}>\n{self.summary(max_rows=20)}"

    # ----------------------------------------------------------------------------------
    # The engine's interface: what forward mode, derivatives, drawings and files use
    # ----------------------------------------------------------------------------------

    def get_node(self, name: str, what: str = "node") -> Node:
        """The node called ``name``, or an error that suggests the closest names.

        Parameters
        ----------
        name : str
            A node's name.
        what : str, default "node"
            What the name is, for the message ("root", "wrt", "input"...).

        Raises
        ------
        UnknownNodeError
            If ``name`` is not a node (the closest names are suggested).
        InvalidValueError
            If ``name`` is not a string.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(weight=1.0)
        >>> cg.get_node("weight")
        Input('weight', output=1.0, trainable=True)
        >>> cg.get_node("wieght", "root")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cgraph.errors.UnknownNodeError: root 'wieght' is not a node of the graph; did you mean...
        """
        node = self.nodes.get(name) if isinstance(name, str) else None
        if node is None:
            check_names_exist(self.nodes, [name], what)
        return node  # type: ignore[return-value]

    def schedule(self, root: str | None = None) -> Schedule:
        """The evaluation order of ``root``: its ancestors, leaves first, as flat lists.

        Built on first use without recursion and cached until the structure changes,
        so the passes never walk networkx. ``schedule().root.name`` resolves the
        default root (the graph's only sink).

        Raises
        ------
        UnknownNodeError
            If ``root`` is not a node.
        GraphError
            If ``root`` is None and the graph is empty or has several sinks.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> cg.add_computation_node("y", "exp", ("x",))
        >>> [node.name for node in cg.schedule().nodes]
        ['x', 'y']
        """
        if root is None:
            root = self._default_root()
        schedule = self._schedules.get(root) if isinstance(root, str) else None
        if schedule is None:
            schedule = self._schedules[root] = Schedule(self.get_node(root, "root"))
        return schedule

    def check_feed(self, feed: Mapping[str, Any] | None) -> dict[str, Any]:
        """A feed checked as ``forward`` checks it: input names to values held as inputs hold them.

        Raises
        ------
        UnknownNodeError, InvalidValueError
            For a name that is not an input, or a value that is not numeric.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> cg.check_feed({"x": 3})
        {'x': 3.0}
        """
        return checked_feed(self.nodes, feed) if feed else {}

    @property
    def last_pass(self) -> EvaluatedPass | None:
        """The last successful forward pass (schedule, values, feed), or None.

        ``backward`` differentiates it; after a failed pass it is None.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y", feed={"x": 3.0})
        >>> cg.last_pass.values, cg.last_pass.feed
        ([3.0, 9.0], {'x': 3.0})
        """
        record = self._evaluated
        return None if record is None else EvaluatedPass._make(record[:3])

    @property
    def last_backward(self) -> Schedule | None:
        """The schedule whose gradients the nodes hold (the last ``backward``), or None.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y"); _ = cg.backward("y")
        >>> cg.last_backward.root.name
        'y'
        """
        return self._differentiated

    def keep_pass(self, schedule: Schedule, values: list[Any], feed: dict[str, Any]) -> None:
        """Keep a pass's values as the graph's: each node's output, ready for ``backward``.

        Every sweep that evaluates a schedule (``forward``, forward mode, Jacobians)
        ends here once it has succeeded, so the graph only ever shows values of one
        whole pass. The gradients of the previous values are cleared.

        Parameters
        ----------
        schedule : Schedule
            The schedule evaluated.
        values : list
            Every node's value, in the schedule's order.
        feed : dict
            The inputs fed for this pass (checked by :meth:`check_feed`).

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> from cgraph.engine.passes import run_forward
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> schedule = cg.schedule("y")
        >>> cg.keep_pass(schedule, run_forward(schedule, {}), {})
        >>> cg.get_value("y"), cg.backward("y")
        (4.0, {'x': 4.0})
        """
        showing = self._showing
        shown = showing.values
        if shown is not None and shown[0] is not schedule:
            showing.settle()  # the nodes of that pass keep its values
        # One plain tuple for every use: a NamedTuple costs a tenth of a microsecond more.
        record: PassRecord = (schedule, values, feed, tick())
        self._evaluated = self._thread.evaluated = showing.values = record
        self._computed[schedule.root] = self._shown = record
        if schedule.stateful:
            for node in schedule.stateful:
                self._op_states[node] = record
        self._failed_forward = None
        # The gradients belong to the previous values.
        showing.grads = self._differentiated = None

    def fail_pass(self, error: BaseException) -> None:
        """Record a failed pass: ``backward`` must wait for a new one, and says why.

        The nodes keep the values of the last successful pass, but an op may hold
        state from the failed attempt, so that pass cannot be differentiated.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> from cgraph.errors import OperationError
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y")
        >>> cg.fail_pass(OperationError("square failed"))
        >>> cg.backward("y")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cgraph.errors.NotComputedError: backward('y') needs a successful forward pass first (the...
        """
        self._evaluated = self._thread.evaluated = None
        self._failed_forward = error

    @contextmanager
    def running(self, schedule: Schedule) -> Iterator[None]:
        """Hold the graph for one pass over ``schedule``: one thread at a time, all or nothing.

        Inside, evaluate the schedule (with :mod:`cgraph.engine.passes` or a sweep of
        one's own) and end with :meth:`keep_pass`. Any exception that leaves the
        block, a KeyboardInterrupt included, records the pass as failed
        (:meth:`fail_pass`), so ``backward`` never differentiates a half-run pass.
        ``forward`` does the same, inlined.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> from cgraph.engine.passes import run_forward
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> schedule = cg.schedule("y")
        >>> with cg.running(schedule):
        ...     cg.keep_pass(schedule, run_forward(schedule, {"x": 3.0}), {"x": 3.0})
        >>> cg.get_value("y")
        9.0
        """
        with self.lock:
            if schedule.stateful:
                self._forget_op_states(schedule)
            try:
                yield
            except BaseException as error:
                self.fail_pass(error)
                raise

    def structure_cache(self, owner: str) -> dict[Any, Any]:
        """A dict for what ``owner`` derives from the structure, emptied when it changes.

        Hessians keep their gradient graphs here, so a new node never meets a
        stale one.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.structure_cache("mine")["plan"] = 1
        >>> cg.add_inputs(x=1.0)
        >>> cg.structure_cache("mine")
        {}
        """
        return self._caches.setdefault(owner, {})

    # ----------------------------------------------------------------------------------
    # Internals
    # ----------------------------------------------------------------------------------

    def _add_leaf(self, node: Input | Constant) -> None:
        self.nodes[node.name] = node
        if isinstance(node, Input):
            self.inputs[node.name] = node
        else:
            self.constants[node.name] = node
        self.graph.add_node(node.name)
        self._structure_changed()

    def _clear_gradients(self) -> None:
        self._showing.grads = self._differentiated = None

    def _structure_changed(self) -> None:
        """Drop everything derived from the structure; values and gradients stay valid."""
        if self._schedules:
            self._schedules.clear()
        if self._caches:
            self._caches.clear()
        self._sinks = None

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

    def _evaluated_for(self, root: str | None) -> tuple[Schedule, list[Any]]:
        """The schedule for ``root`` and the values the last forward computed for it."""
        if root is not None and not isinstance(root, str):
            self.get_node(root, "root")  # refuses it, before any message quotes it as a node
        own: Any = getattr(self._thread, "evaluated", _NO_PASS)
        # A thread that ran no pass differentiates the graph's last.
        record: PassRecord | None = self._evaluated if own is _NO_PASS else own
        if record is None:
            raise NotComputedError(
                f"backward({root!r}) needs a successful forward pass first"
                f"{_failure(self._failed_forward)}: call forward({root!r})",
                nodes=[root] if root else [],
            )
        last, values = record[0], record[1]
        if root is None or root == last.root.name:
            schedule = last
        else:
            schedule = self.schedule(root)
            # The pass's own values, not the nodes': another thread may have run since.
            by_node = dict(zip(last.nodes, values, strict=True))
            if schedule.root.index > last.root.index or schedule.root not in by_node:
                raise NotComputedError(
                    f"backward({root!r}) needs {root!r} evaluated by the last forward pass, "
                    f"which was of {last.root.name!r}; call forward({root!r}) first",
                    nodes=[root, last.root.name],
                )
            values = [by_node[node] for node in schedule.nodes]
        if schedule.stateful:
            self._check_op_states(schedule, record)
        return schedule, values

    def _stale_nodes(self) -> Any:
        """A test of staleness for many nodes, each pass's verdict worked out once."""
        shown = self._shown
        if shown is None:
            return lambda node: False
        passes = self._recent_passes()
        verdicts: dict[int, bool] = {}

        def is_stale(node: Node) -> bool:
            if not isinstance(node, OperationNode) or node.output is None:
                return False
            record = _pass_of(node, passes)
            if record is None:
                return False
            if record[3] not in verdicts:
                verdicts[record[3]] = _difference(record, shown, node.name) is not None
            return verdicts[record[3]]

        return is_stale

    def _recent_passes(self) -> list[PassRecord]:
        """Each root's last pass, the latest first."""
        return sorted(self._computed.values(), key=lambda record: -record[3])

    def _forget_op_states(self, schedule: Schedule) -> None:
        """A pass over these ops begins: until it ends, their state is nobody's."""
        for node in schedule.stateful:
            self._op_states.pop(node, None)

    def _check_op_states(self, schedule: Schedule, record: tuple[Any, ...]) -> None:
        """Refuse to differentiate a pass whose classic ops hold another pass's state."""
        for node in schedule.stateful:
            if node.requires_grad and self._op_states.get(node) is not record:
                root = schedule.root.name
                raise NotComputedError(
                    f"backward({root!r}): node {node.name!r} ({type(node.op).__name__}) keeps "
                    "state on its op between forward and backward, and another pass (another "
                    "thread's, or one that failed) has run it since the pass being "
                    f"differentiated; call forward({root!r}) and backward({root!r}) together",
                    nodes=[node.name, root],
                )


#: A successful pass: its schedule, its values by position, its feed, and its clock
#: (:func:`tick`), which tells whether an input was assigned since.
PassRecord = tuple[Schedule, list[Any], dict[str, Any], int]

_NO_PASS = object()  # a thread that has run no pass yet
_NOT_FED = object()


def _pass_of(node: Node, passes: list[PassRecord]) -> PassRecord | None:
    """The pass that computed ``node``'s value: the latest of ``passes`` that evaluated it."""
    return next((record for record in passes if node in record[0]), None)


def _difference(
    computed: PassRecord,
    shown: PassRecord,
    name: str,
) -> str | None:
    """How the inputs of the pass that computed ``name`` differ from the shown state's."""
    schedule, _, feed, clock = computed
    shown_schedule, _, shown_feed, shown_clock = shown
    for leaf in schedule.nodes[: schedule.leaf_count]:
        if not isinstance(leaf, Input):
            continue
        if leaf.version > shown_clock:
            return (
                f"input {leaf.name!r} was assigned after the last pass; call "
                f"forward({name!r}) to compute it at the new value"
            )
        fed, fed_now = feed.get(leaf.name, _NOT_FED), shown_feed.get(leaf.name, _NOT_FED)
        if fed is _NOT_FED and fed_now is _NOT_FED:
            if leaf.version > clock:
                return (
                    f"it was computed before input {leaf.name!r} was last assigned; "
                    f"call forward({name!r})"
                )
        elif fed_now is _NOT_FED:
            return (
                f"it was computed with input {leaf.name!r} fed, and the last pass, of "
                f"{shown_schedule.root.name!r}, used its stored value; call "
                f"forward({name!r}) to see it in this state"
            )
        elif fed is _NOT_FED:
            return (
                f"the last pass, of {shown_schedule.root.name!r}, fed input "
                f"{leaf.name!r}, and {name!r} was computed with its stored value; call "
                f"forward({name!r}, feed=...) with the same feed to see it in this state"
            )
        elif not _same(fed, fed_now):
            return (
                f"it was computed with another value of input {leaf.name!r} fed than the "
                f"last pass, of {shown_schedule.root.name!r}, fed; call forward({name!r}, "
                "feed=...) with the same feed to see it in this state"
            )
    return None


def _same(a: Any, b: Any) -> bool:
    """Whether two fed values are the same value (NaN equal to NaN, dtype and shape too)."""
    if a is b:
        return True
    if type(a) is float and type(b) is float:
        return a == b or (a != a and b != b)
    a, b = np.asarray(a), np.asarray(b)
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    )


def _failure(error: BaseException | None) -> str:
    """Why the last pass failed, for the message of a backward that cannot follow it."""
    if error is None:
        return ""
    if isinstance(error, GraphError):
        return f" (the last one failed: {error})"
    return f" (the last one was interrupted: {type(error).__name__})"


def _checked_leaf(nodes: Mapping[str, Node], name: str, value: Any, trainable: bool) -> Any:
    check_new_name(nodes, name)
    return as_value(value, name, trainable)


def _quiet_numpy() -> Any:
    """With check_finite, a non-finite number raises an error: numpy's warning would repeat it."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore")


def _unpacked(declaration: Any, count: int) -> tuple[Any, Any, Any, dict[str, Any]]:
    """``(name, op, inputs, params)`` from a bulk declaration, refusing any other shape."""
    if type(declaration) in (tuple, list) and len(declaration) in (3, 4):
        params = declaration[3] if len(declaration) == 4 else {}
        if isinstance(params, Mapping):
            return declaration[0], declaration[1], declaration[2], dict(params)
    raise InvalidValueError(
        f"declaration {count} is {shown(declaration)}: give (name, op, inputs) or "
        f"(name, op, inputs, params) with params a dict"
    )


def _numbered(error: GraphError, count: int, declarations: Any) -> GraphError:
    """The error with the declaration it came from (and how many there were) in front."""
    total = f" of {len(declarations)}" if hasattr(declarations, "__len__") else ""
    error.args = (f"declaration {count}{total}: {error.args[0]}", *error.args[1:])
    return error

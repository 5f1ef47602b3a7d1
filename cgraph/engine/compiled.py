"""What ``compile(root)`` returns: a root's compiled plan, to call and to read.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x=1.0, y=2.0)
>>> cg.add_computation_node("f", "mul", ("x", "y"))
>>> plan = cg.compile("f")
>>> plan(feed={"x": 3.0}), plan.gradients(feed={"y": 5.0})
(6.0, {'x': 5.0, 'y': 1.0})
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

from cgraph.engine.nodes import plain_value
from cgraph.engine.passes import gradients_by_name, leaf_values, ones_like
from cgraph.engine.plan import Plan, compiled, planned_backward, planned_forward
from cgraph.engine.schedule import Schedule

__all__ = ["CompiledRoot"]


class _Graph(Protocol):
    """What a compiled root uses of its graph (a GraphCore; named so, it would be a cycle)."""

    lock: threading.RLock

    def schedule(self, root: str | None = ...) -> Schedule: ...

    def check_feed(self, feed: Mapping[str, Any] | None) -> dict[str, Any]: ...

    def forward(
        self, root: str | None = ..., feed: Mapping[str, Any] | None = ..., check_finite: bool = ...
    ) -> Any: ...

    def backward(
        self, root: str | None = ..., seed: Any = ..., check_finite: bool = ...
    ) -> dict[str, Any]: ...


class CompiledRoot:
    """A root of a graph with its compiled plan: call it for values, read ``source`` to learn.

    Calling it is ``graph.forward(root, feed)``: the graph keeps every value,
    readable by name as after any ``forward``. The plan belongs to the graph's
    current structure; declaring a node drops it, and the next passes write a
    new one.

    Attributes
    ----------
    graph : GraphCore
        The graph it computes.
    root : str
        The node it computes.
    plan : Plan
        The generated code, compiled.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=0.0)
    >>> cg.add_computation_node("y", "exp", ("x",))
    >>> cg.compile("y")  # doctest: +ELLIPSIS
    <CompiledRoot 'y': 2 nodes, 2 rules inlined, compiled in ... ms>
    """

    __slots__ = ("graph", "root", "plan", "_fused")

    def __init__(self, graph: _Graph, root: str, plan: Plan) -> None:
        self.graph, self.root, self.plan = graph, root, plan
        self._fused = _fused(plan)

    def __call__(self, feed: Mapping[str, Any] | None = None) -> Any:
        """The root's value: ``forward(root, feed)``.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "neg", ("x",))
        >>> cg.compile("y")(feed={"x": 1.0})
        -1.0
        """
        return self.graph.forward(self.root, feed)

    def gradients(self, feed: Mapping[str, Any] | None = None, seed: Any = None) -> dict[str, Any]:
        """``forward(root, feed)`` then ``backward(root, seed)``: each input's gradient by name.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.compile("y").gradients(feed={"x": 1.0})
        {'x': 2.0}
        """
        with self.graph.lock:  # one pass and its gradients, with no other thread's between
            self.graph.forward(self.root, feed)
            return self.graph.backward(self.root, seed)

    def value_and_grad(self, feed: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """The root's value and each trainable input's gradient, as a pure function of the inputs.

        The plan alone, as ``jax.jit(jax.value_and_grad(f))`` would run: the graph
        keeps nothing of the pass (no node's ``output`` or ``local_grad`` changes,
        and ``backward`` does not see it), so nothing is stored node by node.
        The numbers are those ``forward`` and ``backward`` give.

        Without a feed, this is one generated function from the inputs' values to
        the gradients (:attr:`source`'s ``value_and_grad``). It reads the inputs
        and writes nothing, so it takes no lock: threads may call it at once. (A
        graph only grows, so nodes declared since ``compile`` never change what
        it computes.) A plan with classic ops, which keep state between forward
        and backward, runs under the graph's lock, as ``forward`` does.

        Parameters
        ----------
        feed : mapping of str to value, optional
            Input values for this call; the others are the inputs' own.

        Returns
        -------
        value : float or numpy.ndarray
            The root's value.
        gradients : dict of str to gradient
            The gradient of every trainable input the root depends on, by name.

        Raises
        ------
        GraphError
            As ``forward`` and ``backward``, naming the node.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> f = cg.compile("y")
        >>> f.value_and_grad(feed={"x": 2.0}), cg.nodes["y"].output is None
        ((4.0, {'x': 4.0}), True)
        """
        fused = self._fused
        if fused is not None and not feed:
            try:
                return fused()
            except Exception:  # leaves of other types, an overflow: the way that names the node
                pass
        graph = self.graph
        with graph.lock:  # the schedule and its plan belong to the structure of this moment
            schedule = graph.schedule(self.root)
            feed_values = graph.check_feed(feed) if feed else {}
            if schedule.plan is None:
                compiled(schedule, leaf_values(schedule, feed_values))
            values = planned_forward(schedule, feed_values)
            value = values[-1]
            seed = 1.0 if type(value) is float else ones_like(value)
            grads = planned_backward(schedule, values, seed)
            if schedule.plan is not None:  # the plan of these leaf types, next time
                self.plan = schedule.plan
                self._fused = _fused(schedule.plan)
        return (
            value if type(value) is float else plain_value(value),
            gradients_by_name(schedule, grads),
        )

    @property
    def source(self) -> str:
        """The generated Python code: ``v3`` is node 3's value; backward returns the gradients.

        The code names no node: :attr:`variables` says which variable holds which.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "neg", ("x",))
        >>> "v1 = -v0" in cg.compile("y").source
        True
        """
        return self.plan.source

    @property
    def variables(self) -> dict[str, str]:
        """Each value's variable in :attr:`source`, and the node it holds.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "neg", ("x",))
        >>> cg.compile("y").variables
        {'v0': 'x', 'v1': 'y'}
        """
        return dict(self.plan.variables)

    @property
    def compile_seconds(self) -> float:
        """How long writing and compiling the plan took."""
        return self.plan.compile_seconds

    def __repr__(self) -> str:
        plan = self.plan
        return (
            f"<CompiledRoot {self.root!r}: {len(plan.schedule)} nodes, {plan.inlined} rules "
            f"inlined, compiled in {plan.compile_seconds * 1e3:.1f} ms>"
        )


def _fused(plan: Plan) -> Any:
    """The plan's value_and_grad function, where it may run outside the graph's lock."""
    if plan.schedule.stateful:  # a classic op keeps state between its forward and backward
        return None
    return plan.value_and_grad

"""A compiled plan: one schedule's forward and backward passes as generated straight-line code.

The interpreter (:mod:`cgraph.engine.passes`) loops over the schedule and
calls each op through its methods. A plan writes the same pass out as Python
source, one statement per operation, with every value in a local variable,
each op's forward and derivative rule written inline where they can be
(:mod:`cgraph.engine.codegen`), and compiles it once. It computes the same
numbers as the interpreter, bit for bit: the same functions and operators in
the same order, and every gradient summed in the same order.

A plan is specialised to the types of the leaves it was written for (which
are Python floats): a pass whose leaves differ raises :class:`PlanMismatchError`
before computing anything, and the graph writes a plan for the new types.
Any other exception in a plan's pass, an overflow of :mod:`math` included,
sends the graph back to the interpreter for that pass, which computes numpy's
answer or raises the error that names the node.

The source is written by :class:`cgraph.engine.writer.PlanWriter`: large
schedules as several functions (chunks) of at most ``writer.CHUNK`` operations,
each compiled alone, so that no function grows without bound and compiling
stays linear.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x=3.0)
>>> cg.add_computation_node("y", "square", ("x",))
>>> plan = Plan(cg.schedule("y"), (True,))
>>> values = [3.0, None]
>>> plan.forward(values)
>>> values, plan.backward(values, 1.0)
([3.0, 9.0], [6.0, 1.0])
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from cgraph.engine.passes import leaf_values, run_backward, run_forward
from cgraph.engine.schedule import Schedule
from cgraph.engine.writer import AUTO_LIMIT, PlanMismatchError, PlanOutputError, PlanWriter

__all__ = ["COMPILE_AFTER", "Plan", "compiled", "planned_backward", "planned_forward"]

#: The pass of a schedule on which its plan is written: a one-off pass is not worth the
#: compile (about 30 us a node, against well under 1 us a node to interpret).
COMPILE_AFTER = 3


class Plan:
    """Straight-line forward and backward code for one schedule and one set of leaf types.

    Parameters
    ----------
    schedule : Schedule
        The pass to write out.
    scalars : tuple of bool
        For each leaf of the schedule, whether it holds a Python float.
    trust_outputs : bool, default True
        Take the output of an elementwise op the plan calls (it is not written
        out) on floats for a float, checking it; a pass where it is not raises
        :class:`PlanOutputError`, and the graph writes a plan that does not.

    Attributes
    ----------
    schedule : Schedule
        The schedule it computes.
    scalars : tuple of bool
        The leaf types it was written for.
    trust_outputs : bool
        Whether it takes the float outputs of the elementwise ops it calls for floats.
    compile_seconds : float
        How long writing and compiling it took.
    inlined : int
        How many of the forwards and rules are written out rather than called.
    load : callable
        ``load()`` returns a new list of values by position for a pass that feeds
        nothing: the leaves read from their nodes, the rest None.
    forward : callable
        ``forward(values)`` fills ``values`` (a list by position, the leaves set, the
        rest None) with every operation's output. It raises :class:`PlanMismatchError`,
        before computing anything, if a leaf is not of the type written for.
    backward : callable
        ``backward(values, seed)`` returns the gradients by position, as
        :func:`cgraph.engine.passes.run_backward` does; :class:`PlanMismatchError` if a value
        or the seed is not of the type written for.
    run : callable or None
        ``run()``: ``load`` and ``forward`` in one function, returning the list of
        values; None for a plan written in chunks.
    value_and_grad : callable or None
        ``value_and_grad()``: ``load``, ``forward`` and ``backward`` seeded with ones in
        one function, returning the root's value and the trainable inputs' gradients
        by name; None for a plan written in chunks.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=3.0)
    >>> cg.add_computation_node("f", "mul", ("x", "y"))
    >>> print(Plan(cg.schedule("f"), (True, True)).source)
    def make(k0, k1, k2, k3, k4, k5, k6):
        def load():
            V = [k1._value, k2._value]
            V += k3
            return V
        def forward(V):
            v0, v1, _, = V
            if type(v0) is not float or type(v1) is not float:
                raise k0
            v2 = v0 * v1
            V[2:3] = [v2]
        def run():
            v0 = k1._value
            v1 = k2._value
            if type(v0) is not float or type(v1) is not float:
                raise k0
            v2 = v0 * v1
            return [v0, v1, v2]
        def backward(V, seed):
            v0, v1, _, = V
            if type(v0) is not float or type(v1) is not float:
                raise k0
            if type(seed) is not float:
                raise k0
            s2_0 = seed * v1
            s2_1 = seed * v0
            return [s2_0, s2_1, seed]
        def value_and_grad():
            v0 = k1._value
            v1 = k2._value
            if type(v0) is not float or type(v1) is not float:
                raise k0
            v2 = v0 * v1
            seed = k4
            s2_0 = seed * v1
            s2_1 = seed * v0
            return v2, {k5: s2_0, k6: s2_1}
        return load, forward, backward, run, value_and_grad
    <BLANKLINE>
    """

    __slots__ = (
        "schedule",
        "scalars",
        "trust_outputs",
        "compile_seconds",
        "inlined",
        "load",
        "forward",
        "backward",
        "run",
        "value_and_grad",
    )

    def __init__(
        self, schedule: Schedule, scalars: tuple[bool, ...], trust_outputs: bool = True
    ) -> None:
        began = time.perf_counter()
        self.schedule, self.scalars, self.trust_outputs = schedule, scalars, trust_outputs
        writer = PlanWriter(schedule, scalars, trust_outputs)
        self.run: Callable[[], list[Any]] | None = None
        self.value_and_grad: Callable[[], tuple[Any, dict[str, Any]]] | None = None
        forwards: list[Callable[..., Any]] = []
        backwards: list[Callable[..., Any]] = []
        for name, text in writer.functions():
            # Each function compiled alone: compiling holds one chunk's syntax tree at a time.
            function = _compiled(name, text, writer.constants, rename=writer.rename)
            if name == "load":
                self.load = function
            elif name == "run":
                self.run = function
            elif name == "value_and_grad":
                self.value_and_grad = function
            else:
                (forwards if name.startswith("forward") else backwards).append(function)
        self.inlined = writer.inlined
        self.forward = forwards[0] if len(forwards) == 1 else _in_turn(forwards)
        self.backward = (
            backwards[0] if len(backwards) == 1 else _in_turn_backward(backwards, len(schedule))
        )
        self.compile_seconds = time.perf_counter() - began

    @property
    def source(self) -> str:
        """The generated Python code, written again when read (a plan keeps only its functions).

        Variables are named by position: ``v3`` is the value of ``schedule.nodes[3]``.
        """
        writer = PlanWriter(self.schedule, self.scalars, self.trust_outputs)
        return writer.source(list(writer.functions()))

    @property
    def variables(self) -> dict[str, str]:
        """The node whose value each ``v{position}`` of :attr:`source` holds."""
        return {f"v{pos}": node.name for pos, node in enumerate(self.schedule.nodes)}

    def __repr__(self) -> str:
        return (
            f"<Plan of {self.schedule.root.name!r}: {len(self.schedule)} nodes, "
            f"{self.inlined} rules inlined, compiled in {self.compile_seconds * 1e3:.1f} ms>"
        )


def leaf_types(schedule: Schedule, values: list[Any]) -> tuple[bool, ...]:
    """Which leaves hold Python floats: what a plan is specialised to.

    Examples
    --------
    >>> import numpy as np
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0, v=np.ones(2))
    >>> cg.add_computation_node("y", "mul", ("x", "v"))
    >>> leaf_types(cg.schedule("y"), [1.0, np.ones(2), None])
    (True, False)
    """
    return tuple([type(values[pos]) is float for pos in range(schedule.leaf_count)])


def compiled(schedule: Schedule, values: list[Any]) -> Plan:
    """The schedule's plan for these leaf values' types, written now if there is none yet.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "exp", ("x",))
    >>> schedule = cg.schedule("y")
    >>> compiled(schedule, [3.0, None]) is compiled(schedule, [1.0, None])
    True
    """
    scalars = leaf_types(schedule, values)
    plan = schedule.plans.get(scalars)
    if plan is None:
        plan = schedule.plans[scalars] = Plan(schedule, scalars)
    schedule.plan = plan
    return plan


def planned_forward(schedule: Schedule, feed: dict[str, Any]) -> list[Any]:
    """A forward pass by the schedule's plan (written on its third pass), else interpreted.

    The values are those :func:`cgraph.engine.passes.run_forward` computes. A
    pass that raises anything in the plan is run again by the interpreter,
    which either computes numpy's answer (an overflow of :mod:`math`) or raises
    the error that names the node.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> [planned_forward(cg.schedule("y"), {"x": x}) for x in (1.0, 2.0, 3.0)]
    [[1.0, 1.0], [2.0, 4.0], [3.0, 9.0]]
    >>> cg.schedule("y").plan  # doctest: +ELLIPSIS
    <Plan of 'y': 2 nodes, 2 rules inlined, compiled in ... ms>
    """
    plan = schedule.plan
    if plan is None:
        schedule.runs += 1
        if schedule.runs < COMPILE_AFTER or len(schedule) > AUTO_LIMIT:
            return run_forward(schedule, feed)
        values = leaf_values(schedule, feed)
        plan = compiled(schedule, values)
    elif not feed and plan.run is not None:
        try:
            values = schedule.planned = plan.run()
            return values
        except Exception:  # the ways below: another plan, or the interpreter to name the node
            values = plan.load()
    else:
        values = leaf_values(schedule, feed) if feed else plan.load()
    try:
        plan.forward(values)
    except PlanOutputError:  # an op's float output was not a float: a plan that checks none
        values = leaf_values(schedule, feed)
        plan = schedule.plans[plan.scalars] = schedule.plan = Plan(
            schedule, plan.scalars, trust_outputs=False
        )
        return _forward_or_interpret(plan, schedule, feed, values)
    except PlanMismatchError:  # leaves of other types (checked before computing): their plan
        values = leaf_values(schedule, feed)
        return _forward_or_interpret(compiled(schedule, values), schedule, feed, values)
    except Exception:
        return run_forward(schedule, feed)
    schedule.planned = values
    return values


def _forward_or_interpret(
    plan: Plan, schedule: Schedule, feed: dict[str, Any], values: list[Any]
) -> list[Any]:
    try:
        plan.forward(values)
    except Exception:
        return run_forward(schedule, feed)
    schedule.planned = values
    return values


def planned_backward(schedule: Schedule, values: list[Any], seed: Any) -> list[Any]:
    """A backward pass by the plan the forward pass ran, else interpreted; the same gradients.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "square", ("x",))
    >>> schedule = cg.schedule("y")
    >>> values = planned_forward(schedule, {})
    >>> planned_backward(schedule, values, 1.0)
    [6.0, 1.0]
    """
    plan = schedule.plan
    # Only a pass the plan computed: after an interpreted one, an output the plan takes for a
    # float may be another type.
    if plan is not None and schedule.planned is values:
        try:
            return plan.backward(values, seed)
        except Exception:  # other types (PlanMismatchError), or an error the interpreter names
            pass
    return run_backward(schedule, values, seed)


_CONSTANT = re.compile(r"\bk(\d+)\b")
_VARIABLE = re.compile(r"\b[vgcs]\d+(?:_\d+)?\b")


def _compiled(name: str, text: str, constants: list[Any], rename: bool) -> Callable[..., Any]:
    """Compile one generated function, given the constants it names (and no others).

    With ``rename``, its variables are renamed in order of appearance (``a0``,
    ``a1``...), so that the chunks of a large plan share their names' strings
    instead of each holding its own thousands.
    """
    if rename:
        names: dict[str, str] = {}
        text = _VARIABLE.sub(lambda m: names.setdefault(m.group(0), f"a{len(names)}"), text)
    used = sorted({int(index) for index in _CONSTANT.findall(text)})
    source = "\n".join(
        [f"def make({', '.join(f'k{i}' for i in used)}):", text, f"    return {name}", ""]
    )
    namespace: dict[str, Any] = {}
    # The source holds only names this module made; every object is an argument of make().
    exec(compile(source, "<cgraph plan>", "exec"), namespace)
    function: Callable[..., Any] = namespace["make"](*[constants[i] for i in used])
    return function


def _in_turn(functions: list[Callable[[list[Any]], None]]) -> Callable[[list[Any]], None]:
    def forward(values: list[Any]) -> None:
        for function in functions:
            function(values)

    return forward


def _in_turn_backward(
    functions: list[Callable[[list[Any], list[Any]], None]], size: int
) -> Callable[[list[Any], Any], list[Any]]:
    def backward(values: list[Any], seed: Any) -> list[Any]:
        grads: list[Any] = [None] * size
        grads[-1] = seed
        for function in functions:
            function(values, grads)
        return grads

    return backward

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

Large schedules are written as several functions (chunks), each at most
:data:`CHUNK` operations long (a quarter of that past :data:`AUTO_LIMIT` nodes),
that pass values through the pass's list, so that no function grows without
bound and compiling stays linear.

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
from collections.abc import Callable, Iterator
from functools import reduce
from operator import add
from typing import Any

from cgraph.engine.codegen import Snippet, cache_key, trace_forward, trace_pullback
from cgraph.engine.diagnostics import as_gradient_tuple
from cgraph.engine.passes import fitted, leaf_values, run_backward, run_forward
from cgraph.engine.schedule import Schedule
from cgraph.ops.kinds import Elementwise, nan_safe
from cgraph.ops.numeric import zeros_like

__all__ = [
    "AUTO_LIMIT",
    "CHUNK",
    "COMPILE_AFTER",
    "Plan",
    "PlanMismatchError",
    "PlanOutputError",
    "accumulate",
    "compiled",
    "planned_backward",
    "planned_forward",
]

#: The most operations one generated function holds; larger schedules are written in chunks.
CHUNK = 2000
#: The pass of a schedule on which its plan is written: a one-off pass is not worth the
#: compile (about 30 us a node, against well under 1 us a node to interpret).
COMPILE_AFTER = 3
#: Schedules of more nodes are compiled only when asked (``compile``): writing a
#: million-node plan takes longer than many interpreted passes.
AUTO_LIMIT = 100_000


class PlanMismatchError(Exception):
    """A plan's pass met leaf values of other types than it was written for."""


class PlanOutputError(PlanMismatchError):
    """An op the plan calls gave a float's place something else: the plan must not trust it."""


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
    forward : callable
        ``forward(values)`` fills ``values`` (a list by position, the leaves set, the
        rest None) with every operation's output. It raises :class:`PlanMismatchError`,
        before computing anything, if a leaf is not of the type written for.
    backward : callable
        ``backward(values, seed)`` returns the gradients by position, as
        :func:`cgraph.engine.passes.run_backward` does; :class:`PlanMismatchError` if a value
        or the seed is not of the type written for.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=3.0)
    >>> cg.add_computation_node("f", "mul", ("x", "y"))
    >>> print(Plan(cg.schedule("f"), (True, True)).source)
    def make(k0):
        def forward(V):
            v0, v1, _, = V
            if type(v0) is not float or type(v1) is not float:
                raise k0
            v2 = v0 * v1
            V[2:3] = [v2]
        def backward(V, seed):
            v0, v1, _, = V
            if type(v0) is not float or type(v1) is not float:
                raise k0
            if type(seed) is not float:
                raise k0
            s2_0 = seed * v1
            s2_1 = seed * v0
            return [s2_0, s2_1, seed]
        return forward, backward
    <BLANKLINE>
    """

    __slots__ = (
        "schedule",
        "scalars",
        "trust_outputs",
        "compile_seconds",
        "inlined",
        "forward",
        "backward",
    )

    def __init__(
        self, schedule: Schedule, scalars: tuple[bool, ...], trust_outputs: bool = True
    ) -> None:
        began = time.perf_counter()
        self.schedule, self.scalars, self.trust_outputs = schedule, scalars, trust_outputs
        writer = _PlanWriter(schedule, scalars, trust_outputs)
        forwards: list[Callable[..., Any]] = []
        backwards: list[Callable[..., Any]] = []
        for name, text in writer.functions():
            # Each function compiled alone: compiling holds one chunk's syntax tree at a time.
            function = _compiled(name, text, writer.constants, rename=writer.rename)
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
        writer = _PlanWriter(self.schedule, self.scalars, self.trust_outputs)
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
    """Which leaves hold Python floats: what a plan is specialised to."""
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
    values = leaf_values(schedule, feed)
    plan = schedule.plan
    if plan is None:
        schedule.runs += 1
        if schedule.runs < COMPILE_AFTER or len(schedule) > AUTO_LIMIT:
            return run_forward(schedule, feed)
        plan = compiled(schedule, values)
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


def accumulate(contributions: tuple[Any, ...], latest_first: bool) -> Any:
    """Sum the gradients a node received, skipping None, in the interpreter's order.

    ``contributions`` are in the order backward met them; a node with three or
    more children (``latest_first``) sums them in declaration order of the
    children, the reverse (see :func:`cgraph.engine.passes.run_backward`).

    Examples
    --------
    >>> accumulate((1.0, None, 2.0), latest_first=False), accumulate((None,), False)
    (3.0, None)
    """
    present = [c for c in contributions if c is not None]
    if not present:
        return None
    if latest_first:
        present.reverse()
    return reduce(add, present)


def _send(grads: list[Any], target: int, contribution: Any) -> None:
    """Leave a gradient for a node that a later chunk sums (in arrival order)."""
    if contribution is None:
        return
    waiting = grads[target]
    if waiting is None:
        grads[target] = [contribution]
    else:
        waiting.append(contribution)


class _PlanWriter:
    """Writes one plan's source: positions become ``v{pos}``, gradients ``g{pos}``."""

    def __init__(self, schedule: Schedule, scalars: tuple[bool, ...], trust_outputs: bool) -> None:
        self.schedule = schedule
        self.trust_outputs = trust_outputs
        self.constants: list[Any] = []
        self._constant_names: dict[int, str] = {}
        self.inlined = 0
        self.mismatch = self.constant(PlanMismatchError)
        self.scalar = list(scalars) + [False] * (len(schedule) - len(scalars))
        self._traces: dict[Any, Snippet | None] = {}
        # Gradients earlier chunks leave in G, by position: whether each may be None.
        self._sent: dict[int, list[bool]] = {}
        # Compiling holds one function's syntax tree: a quarter of the size for the largest
        # plans, whose memory matters most.
        self.chunk = CHUNK if len(schedule) <= AUTO_LIMIT else max(1, CHUNK // 4)
        self.single = len(schedule.grad_steps) <= self.chunk  # one backward function
        self.chunked = not self.single or len(schedule.steps) > self.chunk
        # Renaming each chunk's variables (a0, a1...) shares their strings among chunks.
        self.rename = len(schedule) > AUTO_LIMIT

    def constant(self, value: Any) -> str:
        name = self._constant_names.get(id(value))
        if name is None:
            name = self._constant_names[id(value)] = f"k{len(self.constants)}"
            self.constants.append(value)
        return name

    def functions(self) -> Iterator[tuple[str, str]]:
        """``(name, source)`` of each function, forward chunks first, written one by one.

        One chunk each way is one function, ``forward`` and ``backward``; more are
        ``forward_0``, ``forward_1``... and ``backward_0``..., which the plan runs in
        turn. Written lazily, so that a large plan's source never exists whole.
        """
        schedule = self.schedule
        steps, grad_steps = schedule.steps, schedule.grad_steps
        size = self.chunk
        forward_chunks = [
            steps[start : start + size] for start in range(0, max(len(steps), 1), size)
        ]
        for index, chunk in enumerate(forward_chunks):
            name = "forward" if len(forward_chunks) == 1 else f"forward_{index}"
            yield name, self._forward_chunk(name, chunk)
        chunks = [
            grad_steps[start : start + size] for start in range(0, max(len(grad_steps), 1), size)
        ]
        consumer = self._consumers(chunks)
        for index, chunk in enumerate(chunks):
            name = "backward" if self.single else f"backward_{index}"
            yield name, self._backward_chunk(name, index, chunk, consumer, index == len(chunks) - 1)

    def source(self, functions: list[tuple[str, str]]) -> str:
        """The whole plan as one module: ``make`` takes the constants, returns both passes."""
        header = f"def make({', '.join(f'k{i}' for i in range(len(self.constants)))}):"
        forwards = [name for name, _ in functions if name.startswith("forward_")]
        backwards = [name for name, _ in functions if name.startswith("backward_")]
        drivers = []
        if forwards:
            drivers.append(_function("forward(V)", [f"{name}(V)" for name in forwards]))
        if backwards:
            size = len(self.schedule)
            drivers.append(
                _function(
                    "backward(V, seed)",
                    [
                        f"G = [None] * {size}",
                        f"G[{size - 1}] = seed",
                        *[f"{name}(V, G)" for name in backwards],
                        "return G",
                    ],
                )
            )
        texts = [text for _, text in functions]
        return "\n".join([header, *texts, *drivers, "    return forward, backward", ""])

    # -- forward -------------------------------------------------------------------------

    def _forward_chunk(self, name: str, steps: list[tuple[Any, ...]]) -> str:
        lines: list[str] = []
        produced = {step[0] for step in steps}
        loaded = sorted({p for step in steps for p in step[3] if p not in produced})
        if not steps:  # a root that is a leaf: nothing to compute
            loaded = []
        lines += self._loads(loaded)
        lines += self._guards(loaded)
        self._trusted: list[int] = []
        for pos, _, op, parents in steps:
            lines += self._forward_step(pos, op, parents)
        if self._trusted:
            # One check for the chunk: a value that is no float sends the whole pass to the
            # interpreter, so nothing computed from it before the check is ever kept.
            checks = " or ".join(f"type(v{pos}) is not float" for pos in self._trusted)
            lines += [f"if {checks}:", f"    raise {self.constant(PlanOutputError)}"]
        if steps:
            first, last = steps[0][0], steps[-1][0]
            outputs = ", ".join(f"v{step[0]}" for step in steps)
            # Positions of one chunk are consecutive: operations follow the leaves in order.
            lines.append(f"V[{first}:{last + 1}] = [{outputs}]")
        return _function(f"{name}(V)", lines)

    def _loads(self, positions: list[int]) -> list[str]:
        """Statements reading these values from V: as few as there are runs of positions."""
        if not positions:
            return []
        if not self.chunked and len(positions) > len(self.schedule) // 2:
            wanted = set(positions)  # most of them: unpack the whole list at once
            names = [f"v{pos}" if pos in wanted else "_" for pos in range(len(self.schedule))]
            return [f"{', '.join(names)}, = V"]
        lines: list[str] = []
        start = 0
        for end in range(1, len(positions) + 1):
            if end == len(positions) or positions[end] != positions[end - 1] + 1:
                run = positions[start:end]
                if len(run) == 1:
                    lines.append(f"v{run[0]} = V[{run[0]}]")
                else:
                    targets = ", ".join(f"v{pos}" for pos in run)
                    lines.append(f"{targets} = V[{run[0]}:{run[-1] + 1}]")
                start = end
        return lines

    def _guards(self, positions: list[int]) -> list[str]:
        checks = [
            f"type(v{p}) is not float"
            for p in positions
            if p < self.schedule.leaf_count and self.scalar[p]
        ]
        if not checks:
            return []
        return [f"if {' or '.join(checks)}:", f"    raise {self.mismatch}"]

    def _forward_step(self, pos: int, op: Any, parents: tuple[int, ...]) -> list[str]:
        flags = tuple(self.scalar[p] for p in parents)
        snippet = self._trace("forward", op, flags, trace_forward)
        inputs = [f"v{p}" for p in parents]
        if snippet is None:
            line = f"v{pos} = {self.constant(op.forward)}({', '.join(inputs)})"
            # An elementwise op of floats gives a float: trusted, and checked.
            self.scalar[pos] = self.trust_outputs and all(flags) and isinstance(op, Elementwise)
            if self.scalar[pos]:
                self._trusted.append(pos)
            return [line]
        self.inlined += 1
        self.scalar[pos] = snippet.scalars[0]
        fields = self._fields(snippet, f"s{pos}_", inputs)
        lines = [line.format_map(fields) for line in snippet.lines]
        result = snippet.results[0].format_map(fields)  # type: ignore[union-attr]
        if lines and lines[-1].startswith(f"{result} = "):
            lines[-1] = f"v{pos}" + lines[-1][len(result) :]  # the last temporary is the output
        else:
            lines.append(f"v{pos} = {result}")
        return lines

    # -- backward ------------------------------------------------------------------------

    def _consumers(self, chunks: list[list[tuple[Any, ...]]]) -> dict[int, int]:
        """The chunk that sums each position's gradient; the leaves' is the last."""
        consumer = {step[0]: index for index, chunk in enumerate(chunks) for step in chunk}
        for pos in self.schedule.trainable:
            consumer[pos] = len(chunks) - 1
        return consumer

    def _backward_chunk(
        self,
        name: str,
        index: int,
        steps: list[tuple[Any, ...]],
        consumer: dict[int, int],
        last: bool,
    ) -> str:
        schedule = self.schedule
        body: list[str] = []
        # What each position received within this chunk, in arrival order: (code, maybe None).
        received: dict[int, list[tuple[str, bool]]] = {}
        counter = [0]
        root = len(schedule) - 1
        # Each position's gradient, by the variable that holds it at the end of the chunk;
        # written to G once, in one list (a statement each would double the code).
        final: dict[int, str] = {}

        def fresh() -> str:
            counter[0] += 1
            return f"c{counter[0]}"

        def upstream_of(pos: int) -> tuple[str | None, bool, list[str]]:
            """The code of pos's total gradient, whether it may be None, and the lines to sum it."""
            parts = received.pop(pos, [])
            lines: list[str] = []
            if pos == root and index == 0:  # the seed
                if self.single:
                    seed = "seed"
                else:
                    seed = fresh()
                    lines.append(f"{seed} = G[{pos}]")
                parts.insert(0, (seed, False))
                if self.scalar[pos]:
                    lines += [f"if type({seed}) is not float:", f"    raise {self.mismatch}"]
            elif pos in self._sent:  # what earlier chunks left for it, in arrival order
                sent = self._sent[pos]
                if any(sent):  # some may be missing: the list holds those that came
                    earlier = fresh()
                    lines.append(f"{earlier} = G[{pos}]")
                    parts.insert(0, (f"*({earlier} or ())", True))
                else:  # each one came: a list of exactly that many
                    names = [fresh() for _ in sent]
                    lines.append(
                        f"{names[0]} = G[{pos}][0]"
                        if len(names) == 1
                        else f"{', '.join(names)} = G[{pos}]"
                    )
                    parts[:0] = [(name, False) for name in names]
            if not parts:
                return None, False, lines
            in_reverse = schedule.contributions[pos] >= 3
            if any(maybe for _, maybe in parts):
                listed = ", ".join(code for code, _ in parts)
                total = f"g{pos}"
                lines.append(f"{total} = {self.constant(accumulate)}(({listed},), {in_reverse})")
                return total, True, lines
            codes = [code for code, _ in parts]
            if len(codes) == 1:
                return codes[0], False, lines
            if in_reverse:
                codes.reverse()
            lines.append(f"g{pos} = {' + '.join(codes)}")
            return f"g{pos}", False, lines

        def zeros() -> str:
            return self.constant(zeros_like)

        for pos, node, op, parents, targets in steps:
            upstream, maybe_none, lines = upstream_of(pos)
            body += lines
            if upstream is None:  # statically no gradient reaches it
                body.append(f"g{pos} = {zeros()}(v{pos})")
                final[pos] = f"g{pos}"
                continue
            step = self._backward_step(pos, node, op, parents, targets, upstream, fresh)
            if maybe_none:  # upstream is g{pos}, made by accumulate()
                body += [
                    f"if {upstream} is None:",
                    f"    {upstream} = {zeros()}(v{pos})",
                    *[f"    {c} = None" for c in step.assigned if c != upstream],
                    "else:",
                    *[f"    {line}" for line in step.lines or ["pass"]],
                ]
            else:
                body += step.lines
            final[pos] = upstream
            for target, code, maybe in step.contributions:
                maybe = maybe or maybe_none
                if consumer.get(target, -1) == index:
                    received.setdefault(target, []).append((code, maybe))
                else:  # a later chunk sums it: left in G, in a list in arrival order
                    sent = self._sent.setdefault(target, [])
                    if maybe or any(sent):
                        body.append(f"{self.constant(_send)}(G, {target}, {code})")
                    elif not sent:
                        body.append(f"G[{target}] = [{code}]")
                    else:
                        body.append(f"G[{target}].append({code})")
                    sent.append(maybe)
        if last:
            for pos in schedule.trainable:
                total, maybe_none, lines = upstream_of(pos)
                body += lines
                if total is None:
                    body.append(f"g{pos} = {zeros()}(v{pos})")
                    total = f"g{pos}"
                elif maybe_none:  # total is g{pos}, made by accumulate()
                    body += [f"if {total} is None:", f"    {total} = {zeros()}(v{pos})"]
                final[pos] = total
        if self.single:
            final.setdefault(root, "seed")  # backward's gradient of the root is the seed
            listed = ", ".join(final.get(pos, "None") for pos in range(len(schedule)))
            body.append(f"return [{listed}]")
        elif final:
            low, high = min(final), max(final)
            listed = ", ".join(final.get(pos, "None") for pos in range(low, high + 1))
            body.append(f"G[{low}:{high + 1}] = [{listed}]")
        # Load only the values the code reads; check the leaves among them first.
        read = set(map(int, _VALUE.findall("\n".join(body))))
        needed = sorted(read)
        head = self._loads(needed) + self._guards(needed)
        return _function(f"{name}(V, seed)" if self.single else f"{name}(V, G)", head + body)

    def _backward_step(
        self,
        pos: int,
        node: Any,
        op: Any,
        parents: tuple[int, ...],
        targets: tuple[int, ...],
        upstream: str,
        fresh: Callable[[], str],
    ) -> _Step:
        flags = (
            self._upstream_scalar(pos, upstream),
            self.scalar[pos],
            *(self.scalar[p] for p in parents),
        )
        snippet = self._trace("pullback", op, flags, trace_pullback)
        inputs = [f"v{p}" for p in parents]
        lines: list[str] = []
        results: list[tuple[str | None, bool, bool]] = []  # (code, scalar, maybe None)
        if snippet is not None:
            self.inlined += 1
            fields = self._fields(snippet, f"s{pos}_", inputs, y=f"v{pos}", u=upstream)
            lines += [line.format_map(fields) for line in snippet.lines]
            for code, scalar in zip(snippet.results, snippet.scalars, strict=True):
                results.append((None if code is None else code.format_map(fields), scalar, False))
        else:
            local = fresh()
            args = ", ".join([self.constant(_numbers()), upstream, f"v{pos}", *inputs])
            lines += [
                f"{local} = {self.constant(op.pullback)}({args})",
                f"if type({local}) is not tuple or len({local}) != {len(parents)}:",
                f"    {local} = {self.constant(as_gradient_tuple)}({self.constant(node)}, {local})",
            ]
            names = [fresh() for _ in parents]
            lines.append(f"{', '.join(names)}{',' if len(names) == 1 else ''} = {local}")
            results += [(name, False, True) for name in names]
        guarded = self.schedule.guarded
        if guarded is not None and guarded[pos]:  # it feeds a where: as the interpreter, nan_safe
            names = [fresh() for _ in results]
            codes = ", ".join("None" if code is None else code for code, _, _ in results)
            lines.append(
                f"{', '.join(names)}{',' if len(names) == 1 else ''} = "
                f"{self.constant(nan_safe)}({self.constant(_numbers())}, {upstream}, "
                f"({codes},))"
            )
            results = [
                (None if code is None else name, scalar, maybe)
                for name, (code, scalar, maybe) in zip(names, results, strict=True)
            ]
        contributions: list[tuple[int, str, bool]] = []
        assigned: list[str] = []
        for target, (code, scalar, maybe) in zip(targets, results, strict=True):
            if target < 0 or code is None:
                continue
            if not (scalar and self.scalar[target]):
                # As the interpreter: summed back to the input's shape, a float for a float.
                name = self.constant(self.schedule.nodes[target].name)
                kept = f"type({code}) is float and type(v{target}) is float"
                if maybe:
                    kept = f"{code} is None or {kept}"
                contribution = fresh()
                lines.append(
                    f"{contribution} = {code} if {kept} else "
                    f"{self.constant(fitted)}({code}, v{target}, {name})"
                )
                code = contribution
            assigned.append(code)
            contributions.append((target, code, maybe))
        # Names a None upstream must set (the step skipped): every contribution made here.
        assigned += [name for name in _assigned_names(lines) if name.startswith("c")]
        return _Step(lines, contributions, sorted(set(assigned)))

    def _upstream_scalar(self, pos: int, upstream: str) -> bool:
        # Every gradient reaching a float node is summed back to a float (fitted); the root's
        # seed is checked by a guard.
        return self.scalar[pos]

    # -- shared --------------------------------------------------------------------------

    def _trace(
        self,
        kind: str,
        op: Any,
        flags: tuple[bool, ...],
        trace: Callable[[Any, tuple[bool, ...]], Snippet | None],
    ) -> Snippet | None:
        key = cache_key(op)  # needs_input_grad, which rules read, is among its attributes
        if key is None:
            return trace(op, flags)
        key = (kind, key, flags)
        if key not in self._traces:
            self._traces[key] = trace(op, flags)
        return self._traces[key]

    def _fields(self, snippet: Snippet, prefix: str, inputs: list[str], **named: str) -> Any:
        fields = {f"x{i}": name for i, name in enumerate(inputs)}
        fields.update(named)
        fields["t"] = prefix
        for i, value in enumerate(snippet.constants):
            fields[f"k{i}"] = self.constant(value)
        return fields


class _Step:
    __slots__ = ("lines", "contributions", "assigned")

    def __init__(
        self, lines: list[str], contributions: list[tuple[int, str, bool]], assigned: list[str]
    ) -> None:
        self.lines, self.contributions, self.assigned = lines, contributions, assigned


def _assigned_names(lines: list[str]) -> list[str]:
    return [
        line.split(" = ", 1)[0].split(",")[0].strip()
        for line in lines
        if " = " in line and not line.startswith((" ", "if "))
    ]


_VALUE = re.compile(r"\bv(\d+)\b")


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


def _function(signature: str, lines: list[str]) -> str:
    body = lines or ["pass"]
    return "\n".join([f"    def {signature}:", *(f"        {line}" for line in body)])


def _numbers() -> Any:
    from cgraph.ops import numeric

    return numeric

"""A compiled plan's source: a schedule written out as Python functions, and what they call.

:class:`PlanWriter` writes the statements of one schedule's forward and backward
passes for one set of leaf types: each op's forward and rule as traced by
:mod:`cgraph.engine.codegen`, or a call of the op where it cannot be traced;
each node's gradient summed over its children in the interpreter's order; a
large schedule in chunks that pass gradients through a list. :mod:`cgraph.engine.plan`
compiles what it writes. The generated code raises :class:`PlanMismatchError`
and :class:`PlanOutputError` and calls :func:`accumulate`, defined here.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x=3.0)
>>> cg.add_computation_node("y", "neg", ("x",))
>>> writer = PlanWriter(cg.schedule("y"), (True,), trust_outputs=True)
>>> [name for name, _ in writer.functions()]
['load', 'forward', 'run', 'backward', 'value_and_grad']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import reduce
from operator import add
from typing import Any

from cgraph.engine.codegen import Snippet, cache_key, trace_forward, trace_pullback
from cgraph.engine.diagnostics import as_gradient_tuple
from cgraph.engine.nodes import Input, plain_value
from cgraph.engine.passes import fitted, ones_like
from cgraph.engine.schedule import Schedule
from cgraph.ops.kinds import Elementwise, nan_safe
from cgraph.ops.numeric import zeros_like

__all__ = [
    "AUTO_LIMIT",
    "CHUNK",
    "PlanMismatchError",
    "PlanOutputError",
    "PlanWriter",
    "accumulate",
]

#: The most operations one generated function holds; larger schedules are written in chunks.
CHUNK = 2000
#: Schedules of more nodes are compiled only when asked (``compile``): writing a
#: million-node plan takes longer than many interpreted passes.
AUTO_LIMIT = 100_000


class PlanMismatchError(Exception):
    """A plan's pass met leaf values of other types than it was written for."""


class PlanOutputError(PlanMismatchError):
    """An op the plan calls gave a float's place something else: the plan must not trust it."""


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


class PlanWriter:
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
        """``(name, source)`` of each function, ``load`` and forward chunks first, one by one.

        ``load()`` makes the list of values a pass fills, the leaves read from
        their nodes (a pass that feeds none). One chunk each way is one function,
        ``forward`` and ``backward``; more are ``forward_0``, ``forward_1``... and
        ``backward_0``..., which the plan runs in turn. Written lazily, so that a
        large plan's source never exists whole.
        """
        schedule = self.schedule
        yield "load", self._loader()
        steps, grad_steps = schedule.steps, schedule.grad_steps
        if not self.chunked:  # one function each way, and both in one for value_and_grad
            forward = self._forward_body(steps)
            yield "forward", self._forward_function("forward", steps, forward)
            yield "run", self._run(forward)
            consumer = self._consumers([grad_steps])
            body, final = self._backward_body(0, grad_steps, consumer, True)
            yield "backward", self._backward_function("backward", body, final)
            yield "value_and_grad", self._fused(forward, body, final)
            return
        size = self.chunk
        forward_chunks = [
            steps[start : start + size] for start in range(0, max(len(steps), 1), size)
        ]
        for index, chunk in enumerate(forward_chunks):
            name = "forward" if len(forward_chunks) == 1 else f"forward_{index}"
            yield name, self._forward_function(name, chunk, self._forward_body(chunk))
        chunks = [
            grad_steps[start : start + size] for start in range(0, max(len(grad_steps), 1), size)
        ]
        consumer = self._consumers(chunks)
        for index, chunk in enumerate(chunks):
            name = "backward" if self.single else f"backward_{index}"
            body, final = self._backward_body(index, chunk, consumer, index == len(chunks) - 1)
            yield name, self._backward_function(name, body, final)

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
        fused = ", run, value_and_grad" if any(name == "run" for name, _ in functions) else ""
        ending = f"    return load, forward, backward{fused}"
        return "\n".join([header, *texts, *drivers, ending, ""])

    # -- forward -------------------------------------------------------------------------

    def _loader(self) -> str:
        schedule = self.schedule
        # An input's value is its _value (its output property would cost a call each).
        reads = [
            f"{self.constant(leaf)}.{'_value' if isinstance(leaf, Input) else 'output'}"
            for leaf in schedule.nodes[: schedule.leaf_count]
        ]
        empty = self.constant([None] * (len(schedule) - schedule.leaf_count))
        lines = [f"V = [{', '.join(reads)}]", f"V += {empty}"] if reads else [f"V = {empty}[:]"]
        return _function("load()", [*lines, "return V"])

    def _forward_body(self, steps: list[tuple[Any, ...]]) -> list[str]:
        """The statements computing the steps' outputs from values already loaded."""
        lines: list[str] = []
        self._trusted: list[int] = []
        for pos, _, op, parents in steps:
            lines += self._forward_step(pos, op, parents)
        if self._trusted:
            # One check for the chunk: a value that is no float sends the whole pass to the
            # interpreter, so nothing computed from it before the check is ever kept.
            checks = " or ".join(f"type(v{pos}) is not float" for pos in self._trusted)
            lines += [f"if {checks}:", f"    raise {self.constant(PlanOutputError)}"]
        return lines

    def _forward_function(self, name: str, steps: list[tuple[Any, ...]], body: list[str]) -> str:
        produced = {step[0] for step in steps}
        loaded = sorted({p for step in steps for p in step[3] if p not in produced})
        if not steps:  # a root that is a leaf: nothing to compute
            loaded = []
        lines = self._loads(loaded) + self._guards(loaded) + body
        if steps:
            first, last = steps[0][0], steps[-1][0]
            outputs = ", ".join(f"v{step[0]}" for step in steps)
            # Positions of one chunk are consecutive: operations follow the leaves in order.
            lines.append(f"V[{first}:{last + 1}] = [{outputs}]")
        return _function(f"{name}(V)", lines)

    def _leaves(self) -> list[str]:
        """Statements reading every leaf's value from its node, and checking its type."""
        schedule = self.schedule
        leaves = list(range(schedule.leaf_count))
        loads = [
            f"v{pos} = {self.constant(leaf)}.{'_value' if isinstance(leaf, Input) else 'output'}"
            for pos, leaf in zip(leaves, schedule.nodes, strict=False)
        ]
        return loads + self._guards(leaves)

    def _run(self, forward: list[str]) -> str:
        """``run()``: load and forward in one function, returning the list of values."""
        values = ", ".join(f"v{pos}" for pos in range(len(self.schedule)))
        return _function("run()", [*self._leaves(), *forward, f"return [{values}]"])

    def _fused(self, forward: list[str], backward: list[str], final: dict[int, str]) -> str:
        """``value_and_grad()``: load, forward and backward in one function, nothing stored.

        What ``CompiledRoot.value_and_grad`` runs for a pass that feeds nothing:
        the root's value and the trainable inputs' gradients by name, every value a
        local variable from the leaves' nodes to the gradients' dict.
        """
        schedule = self.schedule
        root = len(schedule) - 1
        if self.scalar[root]:
            seed = f"seed = {self.constant(1.0)}"
            check = ["if type(seed) is not float:", f"    raise {self.mismatch}"]
            if backward[:2] == check:  # a float seed for a float root needs no check
                backward = backward[2:]
        else:
            seed = f"seed = {self.constant(ones_like)}(v{root})"
        named = []
        for pos, name in schedule.trainable_names:
            grad = final.get(pos, "seed")
            if not self.scalar[pos]:  # as backward returns them: numpy scalars as floats
                grad = f"{self.constant(plain_value)}({grad})"
            named.append(f"{self.constant(name)}: {grad}")
        value = f"v{root}" if self.scalar[root] else f"{self.constant(plain_value)}(v{root})"
        ending = f"return {value}, {{{', '.join(named)}}}"
        lines = [*self._leaves(), *forward, seed, *backward, ending]
        return _function("value_and_grad()", lines)

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

    def _backward_body(
        self,
        index: int,
        steps: list[tuple[Any, ...]],
        consumer: dict[int, int],
        last: bool,
    ) -> tuple[list[str], dict[int, str]]:
        """Chunk ``index``'s statements, and the variable of each gradient it completes."""
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
        return body, final

    def _backward_function(self, name: str, body: list[str], final: dict[int, str]) -> str:
        schedule = self.schedule
        body = list(body)
        if self.single:
            final.setdefault(len(schedule) - 1, "seed")  # the root's gradient is the seed
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
            # Every gradient reaching a float node is summed back to a float (fitted);
            # the root's seed is checked by a guard.
            self.scalar[pos],
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


def _function(signature: str, lines: list[str]) -> str:
    body = lines or ["pass"]
    return "\n".join([f"    def {signature}:", *(f"        {line}" for line in body)])


def _numbers() -> Any:
    from cgraph.ops import numeric

    return numeric

"""A loop as one operation: a body graph applied repeatedly, its state carried between steps.

``Loop`` is the op behind :func:`cgraph.loops.add_loop`. Its node's inputs are
the outer nodes bound to the body: first the carries' initial values, then the
sequences (iteration t reads element t of each), then the inputs that are the
same every iteration (weights). Each iteration evaluates the body, a private
copy of the user's body graph (:class:`LoopBody`), with the engine's pure
passes (:mod:`cgraph.engine.passes`): nothing is stored on any graph's nodes.

Differentiation, for ``y = loop(c_0, xs, w)`` with ``c_{t+1} = f(c_t, x_t, w)``:

- reverse mode recomputes the iterations from the inputs (a rule keeps no state
  between ``forward`` and its pullback), keeping each one's values (or, with
  ``checkpoint=k``, every k-th carry, recomputing one segment at a time), then
  pulls the gradient back from the last iteration to the first:
  ``dL/dc_t = dL/dc_{t+1} . df/dc``, ``dL/dx_t = dL/dc_{t+1} . df/dx``, and
  ``dL/dw`` summed over the iterations;
- forward mode pushes the tangents through each iteration in turn, by the
  body's own forward mode (:func:`cgraph.transforms.forward_mode.run_jvp`).

- gradient graphs and tangent graphs (hence Hessians and ``hvp``) write these
  rules out as nodes that are loops themselves (:mod:`cgraph.loops.symbolic`):
  the adjoint of a loop is a loop running over the iterations backwards, whose
  body is the gradient graph of the body; the tangent of a loop is a loop whose
  body is the body joined with its tangent graph. Being loops, they
  differentiate again by the same rules.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> body = ComputationalGraph()             # x' = x / 2 + 1
>>> body.add_inputs(x=0.0)
>>> body.add_constant("half", 0.5)
>>> body.add_computation_node("x/2", "mul", ("x", "half"))
>>> body.add_computation_node("x_next", "add", ("x/2", "half"))
>>> cg = ComputationalGraph()
>>> cg.add_inputs(x0=3.0)
>>> cg.add_loop("x3", body, carry={"x": "x0"}, updates={"x": "x_next"}, steps=3)
'x3'
>>> cg.forward("x3"), cg.backward("x3"), type(cg.operations["x3"].op).__name__
(1.25, {'x0': 0.125}, 'Loop')
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cgraph.engine.core import GraphCore
from cgraph.engine.nodes import Input, OperationNode
from cgraph.engine.passes import run_backward, run_forward
from cgraph.engine.plan import planned_backward, planned_forward
from cgraph.engine.schedule import Schedule
from cgraph.errors import GraphError, OperationError, ShapeError
from cgraph.ops.numeric import zeros_like
from cgraph.ops.operation import Operation
from cgraph.subgraphs import ancestors

#: The rules on terms, ``adjoint`` and ``tangent``: :mod:`cgraph.loops.symbolic` sets them
#: when the package loads. They build loops of this class, so they sit above it.
SYMBOLIC_RULES: dict[str, Callable[..., Any]] = {}

__all__ = ["Loop", "LoopBody", "Outputs", "ROOT"]

#: The name of the body's root, over the nodes the loop reads (primes added if taken).
ROOT = "loop/outputs"


class Outputs(Operation):
    """The values a loop reads from its body each iteration, gathered under one root.

    Its forward computes nothing (the values are read by position from the
    pass); its pullback hands each gathered node its part of the seed, a tuple
    with one gradient (or None) per input, so that one backward pass of the
    body gives every input's gradient.

    Examples
    --------
    >>> from cgraph.ops import numeric
    >>> Outputs().pullback(numeric, (1.0, None), 0.0, 3.0, 4.0)
    (1.0, None)
    """

    traced = False  # its seed is a tuple: a plan would check it for a float

    def forward(self, *values: Any) -> float:
        return 0.0  # finite, so that a check_finite pass lets it by

    def pullback(self, p: Any, upstream: Any, output: Any, *inputs: Any) -> tuple[Any, ...]:
        return tuple(upstream)

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> None:
        return None


class LoopBody:
    """A loop's body ready to run: one schedule, and where each bound name sits in it.

    Built by :func:`cgraph.loops.add_loop` from a private copy of the body graph
    in which every input is trainable (gradients must reach each one whatever
    the user's graph says), with an :class:`Outputs` node as the root over the
    nodes the loop reads.

    Attributes
    ----------
    schedule : Schedule
        The schedule of the body's root.
    carries, sequences, constants : tuple of str
        The body inputs bound to the node's inputs, in the node's input order:
        carries, then per-iteration sequences, then inputs fixed for the loop.
    leaves : tuple of int or None
        Each bound input's position in the schedule (None: nothing the loop
        reads depends on it), in the same order.
    updates : tuple of int
        The position of each carry's next value.
    output : int
        The position of the value the loop gives (stacked or the last one).
    until : int or None
        The position of the stopping condition, if the loop has one.
    owner : weakref or None
        The graph holding the loop, whose ``use_plans`` the body follows.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> body = ComputationalGraph()
    >>> body.add_inputs(h=0.0)
    >>> body.add_computation_node("h_next", "sin", ("h",))
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(h0=1.0)
    >>> _ = cg.add_loop("h", body, carry={"h": "h0"}, updates={"h": "h_next"}, steps=2)
    >>> loop_body = cg.operations["h"].op.loop_body
    >>> [node.name for node in loop_body.schedule.nodes], loop_body.updates
    (['h', 'h_next', 'loop/outputs'], (1,))
    """

    __slots__ = (
        "schedule",
        "carries",
        "sequences",
        "constants",
        "leaves",
        "updates",
        "output",
        "until",
        "owner",
    )

    def __init__(
        self,
        schedule: Schedule,
        carries: Sequence[str],
        sequences: Sequence[str],
        constants: Sequence[str],
        updates: Sequence[int],
        output: int,
        until: int | None,
        owner: GraphCore | None = None,
    ) -> None:
        position = {node.name: pos for pos, node in enumerate(schedule.nodes)}
        self.schedule = schedule
        self.carries, self.sequences = tuple(carries), tuple(sequences)
        self.constants = tuple(constants)
        self.leaves = tuple(position.get(name) for name in (*carries, *sequences, *constants))
        self.updates, self.output, self.until = tuple(updates), output, until
        self.owner = None if owner is None else weakref.ref(owner)

    def __deepcopy__(self, memo: dict[int, Any]) -> LoopBody:
        """A copy whose owner is the owner's copy, when the owner is what is being copied."""
        twin = object.__new__(LoopBody)
        memo[id(self)] = twin
        for slot in LoopBody.__slots__:
            if slot != "owner":
                setattr(twin, slot, copy.deepcopy(getattr(self, slot), memo))
        owner = None if self.owner is None else self.owner()
        twin.owner = None if owner is None else weakref.ref(memo.get(id(owner), owner))
        return twin

    @classmethod
    def build(
        cls,
        graph: GraphCore,
        carries: Sequence[str],
        sequences: Sequence[str],
        constants: Sequence[str],
        updates: Sequence[str],
        output: str,
        *,
        reads_output: bool,
        until: str | None = None,
        owner: GraphCore | None = None,
    ) -> LoopBody:
        """The body of a loop over ``graph``: a private copy of what it reads, under one root.

        The copy holds the updates, ``output`` (when ``reads_output``: a stacked
        value, or a body node that is not a carry) and ``until``, with their
        ancestors; every input in it is trainable, so that backward reaches each
        one whatever ``graph`` says, and later changes to ``graph`` do not
        change the loop. Bound names that nothing read depends on sit nowhere.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> body = ComputationalGraph()
        >>> body.add_inputs(h=0.0, unused=0.0)
        >>> body.add_computation_node("h_next", "cos", ("h",))
        >>> built = LoopBody.build(body, ["h"], [], ["unused"], ["h_next"], "h_next",
        ...                        reads_output=False)
        >>> built.leaves, built.updates, built.output
        ((0, None), (1,), 1)
        """
        read = [*updates, *([output] if reads_output else []), *([until] if until else [])]
        copied = ancestors(graph, read)
        inner = GraphCore()
        for node in copied:
            if isinstance(node, Input):
                inner.add_input(node.name, node.output, trainable=True)
            elif not isinstance(node, OperationNode):
                inner.add_constant(node.name, node.output)
        inner.add_computation_nodes(
            (node.name, node.op, node.input_names)
            for node in copied
            if isinstance(node, OperationNode)
        )
        root = ROOT
        while root in inner.nodes:
            root += "'"
        inner.add_computation_node(root, Outputs(), read)
        schedule = inner.schedule(root)
        position = {node.name: pos for pos, node in enumerate(schedule.nodes)}
        return cls(
            schedule,
            carries,
            sequences,
            constants,
            updates=[position[name] for name in updates],
            output=position[output],
            until=None if until is None else position[until],
            owner=owner,
        )

    def uses_plans(self) -> bool:
        """Whether the body runs by compiled plans: as the graph holding the loop does.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> body = ComputationalGraph()
        >>> body.add_inputs(h=0.0)
        >>> body.add_computation_node("h_next", "sin", ("h",))
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(h0=1.0)
        >>> cg.use_plans = False
        >>> _ = cg.add_loop("h", body, carry={"h": "h0"}, updates={"h": "h_next"}, steps=2)
        >>> cg.operations["h"].op.loop_body.uses_plans()
        False
        """
        owner = None if self.owner is None else self.owner()
        return bool(GraphCore.use_plans if owner is None else owner.use_plans)


class Loop(Operation):
    """A loop: a body applied ``steps`` times (or until a condition), carrying its state.

    ``c_{t+1} = f(c_t, x_t, w)``; the value is the last ``c_T`` (or a body node's
    value in each iteration, stacked on a new first axis). Its gradient runs
    the body's backward from the last iteration to the first:
    ``dL/dc_t = dL/dc_{t+1} . df/dc_t``, with ``dL/dw`` summed over iterations;
    in a gradient graph, that is a loop too (:mod:`cgraph.loops.symbolic`).

    Declare it with :func:`cgraph.loops.add_loop` (``cg.add_loop``), which
    checks the body and the bindings; the parameters below are that
    function's, already resolved.

    Parameters
    ----------
    loop_body : LoopBody
        The body, ready to run.
    label : str
        The loop node's name, for errors.
    steps : int or None
        The iteration count; None to take it from the sequences' first axis
        or, with ``until``, to stop on the condition.
    output : str
        The carry or body node whose value the loop gives.
    stack : bool
        Stack ``output``'s value of every iteration on a new first axis.
    until : str or None
        The body node whose truth stops the loop after the iteration computing it.
    max_steps : int or None
        With ``until``, the most iterations; more raise an error.
    checkpoint : int or None
        Backward keeps every ``checkpoint``-th carry only, recomputing the rest.
    check_finite : bool
        Check every value and gradient of the body in every iteration.
    reverse : bool
        Run over the sequences from their last element to their first
        (``jax.lax.scan``'s ``reverse``): iteration t reads element T - 1 - t,
        and a stacked output puts iteration t's value at T - 1 - t. The
        adjoint of a loop is such a loop; :func:`add_loop` does not declare one.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> body = ComputationalGraph()
    >>> body.add_inputs(h=0.0, x=0.0)
    >>> body.add_computation_node("h_next", "add", ("h", "x"))
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(h0=0.0, xs=[1.0, 2.0, 3.0])
    >>> cg.add_loop("sums", body, carry={"h": "h0"}, updates={"h": "h_next"},
    ...             xs={"x": "xs"}, stack=True)
    'sums'
    >>> cg.forward("sums"), cg.backward("sums")["xs"]
    (array([1., 3., 6.]), array([3., 2., 1.]))
    >>> cg.operations["sums"].op
    Loop(carry=('h',), steps=None, output='h', stack=True)
    """

    traced = False  # runs a body of its own: a plan calls it as an object

    def __init__(
        self,
        loop_body: LoopBody,
        label: str,
        steps: int | None,
        output: str,
        stack: bool = False,
        until: str | None = None,
        max_steps: int | None = None,
        checkpoint: int | None = None,
        check_finite: bool = False,
        reverse: bool = False,
    ) -> None:
        self.loop_body, self.label = loop_body, label
        self.reverse = reverse
        self.steps, self.output, self.stack = steps, output, stack
        self.until, self.max_steps = until, max_steps
        self.checkpoint, self.check_finite = checkpoint, check_finite
        self.arity = len(loop_body.leaves)

    def params(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"carry": self.loop_body.carries}
        shown.update(
            {"until": self.until, "max_steps": self.max_steps}
            if self.until
            else {"steps": self.steps}
        )
        shown.update(output=self.output, stack=self.stack)
        if self.checkpoint:
            shown["checkpoint"] = self.checkpoint
        if self.reverse:
            shown["reverse"] = True
        return shown

    # ----------------------------------------------------------------------------------
    # Running the iterations
    # ----------------------------------------------------------------------------------

    def forward(self, *inputs: Any) -> Any:
        body = self.loop_body
        carries, sequences, fixed = self._split(inputs)
        stacked: list[Any] = []
        last: list[Any] | None = None
        for t in range(self._count(sequences)):
            last, _ = self._iterate(carries, sequences, fixed, t)
            carries = [last[pos] for pos in body.updates]
            if self.stack:
                stacked.append(last[body.output])
            if self._stops(last, t):
                break
        return self._result(carries, stacked, last)

    def pullback(self, p: Any, upstream: Any, output: Any, *inputs: Any) -> tuple[Any, ...]:
        """Reverse mode: recompute the iterations, then run the body's backward, last first.

        On terms (a gradient graph), the same rule as nodes: a loop stacking the
        carries, and the adjoint loop over them (:mod:`cgraph.loops.symbolic`).
        """
        if p.symbolic:
            return SYMBOLIC_RULES["adjoint"](self, upstream, inputs)
        body = self.loop_body
        carries, sequences, fixed = self._split(inputs)
        every = self.checkpoint or 0
        kept: list[Any] = []  # each iteration's (values, planned), or each segment's carries
        count = 0
        for t in range(self._count(sequences)):
            if every and t % every == 0:
                kept.append(carries)
            values, planned = self._iterate(carries, sequences, fixed, t)
            if not every:
                kept.append((values, planned))
            carries = [values[pos] for pos in body.updates]
            count = t + 1
            if self._stops(values, t):
                break
        if count == 0:  # no iteration: the output is the initial carry itself
            grads: list[Any] = [None] * len(inputs)
            grads[body.carries.index(self.output)] = upstream
            return tuple(grads)
        # The gradient reaching each carry after the last iteration (None: zero).
        after: list[Any] = [None] * len(body.carries)
        if not self.stack and self.output in body.carries:
            after[body.carries.index(self.output)] = upstream
        per_step: list[list[Any]] = [[None] * count for _ in body.sequences]
        totals: list[Any] = [None] * len(body.constants)

        def back(iteration: tuple[list[Any], bool], t: int) -> None:
            """Iteration t's backward: the carries' gradients before it, the inputs' parts."""
            nonlocal after
            grads = self._backward(*iteration, self._seed(after, upstream, t, count), t)
            leaves = body.leaves
            after = [None if pos is None else grads[pos] for pos in leaves[: len(after)]]
            offset = len(after)
            for i, steps in enumerate(per_step):
                pos = leaves[offset + i]
                steps[self._at(t, count)] = None if pos is None else grads[pos]
            offset += len(per_step)
            for i, total in enumerate(totals):
                pos = leaves[offset + i]
                if pos is not None and self.wants_grad(offset + i):
                    totals[i] = grads[pos] if total is None else total + grads[pos]

        if every:  # each segment recomputed from its first carries, the last segment first
            for start in range((count - 1) // every * every, -1, -every):
                stop = min(start + every, count)
                tape = self._segment(kept[start // every], sequences, fixed, start, stop)
                for t in range(stop - 1, start - 1, -1):
                    back(tape.pop(), t)
        else:
            for t in range(count - 1, -1, -1):
                back(kept.pop(), t)  # dropped once used: memory falls as backward goes
        carried = len(after)
        return (
            *after,
            *(
                self._stacked_gradient(steps, sequence, carried + i)
                for i, (steps, sequence) in enumerate(zip(per_step, sequences, strict=True))
            ),
            *totals,
        )

    def pushforward(self, p: Any, tangents: tuple[Any, ...], output: Any, *inputs: Any) -> Any:
        """Forward mode: each iteration's tangents by the body's forward mode, carried on.

        On terms (a tangent graph), the same rule as a node: a loop whose body is
        the body joined with its tangent graph (:mod:`cgraph.loops.symbolic`).
        """
        if p.symbolic:
            return SYMBOLIC_RULES["tangent"](self, tangents, inputs)
        from cgraph.transforms.forward_mode import run_jvp  # transforms import the engine

        body = self.loop_body
        carries, sequences, fixed = self._split(inputs)
        carried, along, fixed_tangents = self._split(tangents)
        stacked: list[Any] = []
        stacked_tangents: list[Any] = []
        values: list[Any] | None = None
        dvalues: list[Any] = []
        for t in range(self._count(sequences)):
            feed = self._feed(carries, sequences, fixed, t)
            seeds = {
                pos: tangent
                for pos, tangent in zip(
                    body.leaves,
                    (
                        *carried,
                        *(None if s is None else _element(s, self._at(t, len(s))) for s in along),
                        *fixed_tangents,
                    ),
                    strict=True,
                )
                if pos is not None and tangent is not None
            }
            values, dvalues = self._guarded(run_jvp, t, "forward mode", body.schedule, feed, seeds)
            carries = [values[pos] for pos in body.updates]
            carried = [dvalues[pos] for pos in body.updates]
            if self.stack:
                stacked.append(values[body.output])
                stacked_tangents.append(dvalues[body.output])
            if self._stops(values, t):
                break
        if values is None:  # no iteration: the initial carry's tangent
            return carried[body.carries.index(self.output)]
        if self.stack:
            if all(tangent is None for tangent in stacked_tangents):
                return None
            if self.reverse:
                stacked, stacked_tangents = stacked[::-1], stacked_tangents[::-1]
            return np.stack(
                [
                    zeros_like(value) if tangent is None else tangent
                    for value, tangent in zip(stacked, stacked_tangents, strict=True)
                ]
            )
        return dvalues[body.output]

    # ----------------------------------------------------------------------------------
    # The pieces
    # ----------------------------------------------------------------------------------

    def _split(self, inputs: Sequence[Any]) -> tuple[list[Any], list[Any], list[Any]]:
        body = self.loop_body
        carry_count, sequence_count = len(body.carries), len(body.sequences)
        return (
            list(inputs[:carry_count]),
            list(inputs[carry_count : carry_count + sequence_count]),
            list(inputs[carry_count + sequence_count :]),
        )

    def _count(self, sequences: list[Any]) -> int:
        """The number of iterations to run (at most, with ``until``), checking the sequences."""
        body = self.loop_body
        if self.until is not None:
            return int(self.max_steps or 0)
        lengths = []
        for name, sequence in zip(body.sequences, sequences, strict=True):
            if np.ndim(sequence) == 0:
                raise ShapeError(
                    f"loop node {self.label!r}: the sequence bound to {name!r} is a single "
                    f"number; give an array whose first axis is the iterations",
                    nodes=[self.label],
                )
            lengths.append(len(sequence))
        count = self.steps if self.steps is not None else (lengths[0] if lengths else 0)
        if any(length != count for length in lengths):
            raise ShapeError(
                f"loop node {self.label!r}: its sequences' first axes "
                f"{dict(zip(body.sequences, lengths, strict=True))} do not all have "
                f"{count} elements (one per iteration)",
                nodes=[self.label],
            )
        if count == 0 and (self.stack or self.output not in body.carries):
            raise ShapeError(
                f"loop node {self.label!r}: no iteration to take {self.output!r} from; a loop "
                f"of 0 iterations can only give a carry's initial value",
                nodes=[self.label],
            )
        return count

    def _feed(
        self, carries: list[Any], sequences: list[Any], fixed: list[Any], t: int
    ) -> dict[str, Any]:
        body = self.loop_body
        feed = dict(zip(body.constants, fixed, strict=True))
        feed.update(zip(body.carries, carries, strict=True))
        for name, sequence in zip(body.sequences, sequences, strict=True):
            feed[name] = _element(sequence, self._at(t, len(sequence)))
        return feed

    def _iterate(
        self, carries: list[Any], sequences: list[Any], fixed: list[Any], t: int
    ) -> tuple[list[Any], bool]:
        """Iteration ``t``: every value of the body by position, and whether a plan ran.

        By the body's compiled plan, as a graph's ``forward`` does (written on its
        third pass, the same numbers as the interpreter's), unless plans are off
        or every value is to be checked.
        """
        feed = self._feed(carries, sequences, fixed, t)
        schedule, check = self.loop_body.schedule, self.check_finite
        if check:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                return self._guarded(run_forward, t, "forward", schedule, feed, True), False
        if not self.loop_body.uses_plans():
            return self._guarded(run_forward, t, "forward", schedule, feed), False
        values = self._guarded(planned_forward, t, "forward", schedule, feed)
        return values, schedule.planned is values

    def _segment(
        self, carries: list[Any], sequences: list[Any], fixed: list[Any], start: int, stop: int
    ) -> list[tuple[list[Any], bool]]:
        """Iterations ``start`` to ``stop - 1`` again, from the carries kept at ``start``."""
        tape = []
        for t in range(start, stop):
            values, planned = self._iterate(carries, sequences, fixed, t)
            tape.append((values, planned))
            carries = [values[pos] for pos in self.loop_body.updates]
        return tape

    def _at(self, t: int, count: int) -> int:
        """The element of the sequences (and of a stacked output) that iteration ``t`` has."""
        return count - 1 - t if self.reverse else t

    def _seed(self, after: list[Any], upstream: Any, t: int, count: int) -> tuple[Any, ...]:
        """The seed of the body's root at iteration ``t``: the carries', then the output's."""
        seed = list(after)
        if self.stack:
            seed.append(upstream[self._at(t, count)])
        elif self.output not in self.loop_body.carries:
            seed.append(upstream if t == count - 1 else None)
        if self.until is not None:
            seed.append(None)  # the condition is piecewise constant: no gradient
        return tuple(seed)

    def _backward(
        self, values: list[Any], planned: bool, seed: tuple[Any, ...], t: int
    ) -> list[Any]:
        """Iteration ``t``'s backward: by the plan that computed its values, if one did."""
        schedule, check = self.loop_body.schedule, self.check_finite
        if check:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                return self._guarded(run_backward, t, "backward", schedule, values, seed, True)
        if planned:
            schedule.planned = values  # the values planned_backward may differentiate
            return self._guarded(planned_backward, t, "backward", schedule, values, seed)
        return self._guarded(run_backward, t, "backward", schedule, values, seed)

    def _stops(self, values: list[Any], t: int) -> bool:
        """Whether the condition holds after iteration ``t``; past ``max_steps``, an error."""
        until = self.loop_body.until
        if until is None:
            return False
        if bool(np.all(values[until])):
            return True
        if t + 1 >= (self.max_steps or 0):
            raise OperationError(
                f"loop node {self.label!r}: its condition {self.until!r} was still false after "
                f"max_steps={self.max_steps} iterations; raise max_steps, or check the "
                f"condition",
                nodes=[self.label],
            )
        return False

    def _result(self, carries: list[Any], stacked: list[Any], last: list[Any] | None) -> Any:
        body = self.loop_body
        if self.stack:
            try:
                return np.stack(stacked[::-1] if self.reverse else stacked)
            except ValueError as error:
                raise ShapeError(
                    f"loop node {self.label!r}: {self.output!r} does not have the same shape "
                    f"in every iteration, so it cannot be stacked: {error}",
                    nodes=[self.label],
                ) from None
        if self.output in body.carries:
            return carries[body.carries.index(self.output)]
        assert last is not None  # _count refuses 0 iterations for such an output
        return last[body.output]

    def _stacked_gradient(self, steps: list[Any], sequence: Any, index: int) -> Any:
        """A sequence's gradient: each iteration's, stacked (zero where it had none)."""
        if not self.wants_grad(index) or all(grad is None for grad in steps):
            return None
        return np.stack(
            [
                zeros_like(_element(sequence, t)) if grad is None else grad
                for t, grad in enumerate(steps)
            ]
        )

    def _guarded(self, run: Callable[..., Any], t: int, what: str, *args: Any) -> Any:
        """Run one pass of the body; its errors name the loop node and the iteration."""
        try:
            return run(*args)
        except GraphError as error:
            raise type(error)(
                f"loop node {self.label!r}, {what} of iteration {t}, in its body: {error}",
                nodes=[self.label],
            ) from error


def _element(sequence: Any, t: int) -> Any:
    """Element ``t`` of a sequence; a Python number where it is a single one."""
    element = sequence[t]
    return element.item() if isinstance(element, np.generic) else element

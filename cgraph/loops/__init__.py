"""Loops: a body graph applied repeatedly, declared as one node whatever the iteration count.

A loop carries state from one iteration to the next, as ``jax.lax.scan``,
``fori_loop`` and ``while_loop`` do: the body is a graph whose *carries* are
inputs that each iteration updates from one of its nodes (``h <- h_next``).
The loop is one node of the outer graph, whose inputs are the outer nodes
bound to the body, so declaring it costs the same for ten iterations or a
million; it differentiates in reverse mode (``backward``, compiled plans),
forward mode (``jvp``, ``jacobian``) and as graphs (``gradient_graph``,
``tangent_graph``, hence ``hessian`` and ``hvp``, to any order), whose nodes
are loops in turn. See :class:`cgraph.loops.op.Loop` and
:mod:`cgraph.loops.symbolic` for how.

Examples
--------
>>> from cgraph import ComputationalGraph
>>> cell = ComputationalGraph()                 # h' = tanh(w h + x)
>>> cell.add_inputs(h=0.0, x=0.0, w=0.5)
>>> cell.add_computation_node("wh", "mul", ("w", "h"))
>>> cell.add_computation_node("pre", "add", ("wh", "x"))
>>> cell.add_computation_node("h_next", "tanh", ("pre",))
>>> rnn = ComputationalGraph()
>>> rnn.add_inputs(h0=0.0, w=0.5, xs=[1.0, -1.0])
>>> add_loop(rnn, "h", cell, carry={"h": "h0"}, updates={"h": "h_next"},
...          xs={"x": "xs"}, inputs={"w": "w"})
'h'
>>> round(rnn.forward("h"), 6), round(rnn.backward("h")["w"], 6), len(rnn)
(-0.550573, 0.530732, 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cgraph.engine.core import GraphCore
from cgraph.engine.nodes import Input, OperationNode
from cgraph.errors import (
    DuplicateNodeError,
    InvalidOperationError,
    InvalidValueError,
    UnknownNodeError,
)
from cgraph.loops import symbolic as _symbolic  # noqa: F401  (sets Loop's rules on terms)
from cgraph.loops.op import ROOT, Loop, LoopBody
from cgraph.messages import did_you_mean
from cgraph.ops.operation import keeps_state
from cgraph.subgraphs import ancestors

__all__ = ["add_loop", "ROOT"]


def add_loop(
    cg: GraphCore,
    name: str,
    body: GraphCore,
    carry: Mapping[str, str],
    updates: Mapping[str, str],
    *,
    inputs: Mapping[str, str] | None = None,
    xs: Mapping[str, str] | None = None,
    steps: int | None = None,
    output: str | None = None,
    stack: bool = False,
    until: str | None = None,
    max_steps: int | None = None,
    checkpoint: int | None = None,
    check_finite: bool = False,
) -> str:
    """Declare ``name``: the body applied repeatedly, carrying state; one node for any count.

    Iteration t evaluates the body with each carry at its current value, each
    sequence's element t and the fixed inputs, then sets every carry to its
    update's value. The node's value is the last value of carry ``output``,
    or with ``stack=True`` the value of ``output`` in every iteration, stacked
    on a new first axis (a carry's value after each iteration). The body is
    copied when the loop is declared: changing it later does not change the loop.

    Parameters
    ----------
    cg : ComputationalGraph
        The graph to declare the loop in.
    name : str
        The loop node's name.
    body : ComputationalGraph
        The graph of one iteration.
    carry : mapping of str to str
        For each carry (an input of the body), the node of ``cg`` holding its
        initial value: ``{"h": "h0"}``.
    updates : mapping of str to str
        For each carry, the body node holding its next value: ``{"h": "h_next"}``.
        Every carry needs one.
    inputs : mapping of str to str, optional
        Body inputs that are the same in every iteration (weights), bound to
        nodes of ``cg``. Their gradients are summed over the iterations.
    xs : mapping of str to str, optional
        Body inputs that take one element per iteration (``scan``'s sequences):
        iteration t reads element t of the bound node's first axis.
    steps : int, optional
        The number of iterations. With ``xs`` it may be left out: the
        sequences' length. Not with ``until``.
    output : str, optional
        The carry whose last value the loop gives, or with ``stack=True`` the
        carry or body node whose per-iteration values it gives. A body node that
        is not a carry gives its value in the last iteration. By default the
        only carry.
    stack : bool, default False
        Give ``output`` in every iteration, stacked (shape ``(T, *shape)``).
    until : str, optional
        A body node that stops the loop: the loop runs at least one iteration,
        and stops after the first iteration in which this node is true (a
        nonzero number, or an array of which every element is nonzero). Its
        updates are applied: this is ``repeat ... until``. It gets no gradient.
    max_steps : int, optional
        With ``until``, the most iterations the loop may run: a loop whose
        condition is still false after them raises :class:`OperationError`
        naming the node, rather than return a value that has not converged.
    checkpoint : int, optional
        Memory for time in ``backward``: keep the carries of every
        ``checkpoint``-th iteration only, and recompute the iterations between
        them segment by segment (about sqrt(T) for T iterations keeps the least).
        By default every iteration's values are kept while backward runs.
    check_finite : bool, default False
        Check every value and gradient in the body, in every iteration: the
        first non-finite one raises :class:`NonFiniteError` naming the loop
        node, the iteration and the body node.

    Returns
    -------
    str
        ``name``, the loop node.

    Raises
    ------
    UnknownNodeError
        If a bound name is not an input of the body, an update, ``output`` or
        ``until`` is not a node of the body, or a bound outer node is not a node
        of ``cg``; or if a body input the loop needs is left unbound.
    InvalidValueError
        If the counts are missing, contradictory or not whole numbers, ``carry``
        and ``updates`` do not name the same carries, a body input is bound
        twice, or ``name`` is not a non-empty string.
    InvalidOperationError
        If the body holds a classic custom op (its ``backward`` reads state
        saved by ``forward``, which one pass per iteration would overwrite).
    DuplicateNodeError
        If ``name`` is already a node of ``cg``.

    A call that raises declares nothing. When it runs, a loop's errors (a
    shape that does not fit, an op that fails) name the loop node and the
    iteration, and quote the body's own error.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> step = ComputationalGraph()        # Newton's step for sqrt(a): x' = (x + a/x) / 2
    >>> step.add_inputs(x=1.0, a=2.0)
    >>> step.add_constant("half", 0.5)
    >>> step.add_constant("tol", 1e-12)
    >>> step.add_computation_node("a/x", "div", ("a", "x"))
    >>> step.add_computation_node("sum", "add", ("x", "a/x"))
    >>> step.add_computation_node("x_next", "mul", ("sum", "half"))
    >>> step.add_computation_node("move", "sub", ("x_next", "x"))
    >>> step.add_computation_node("size", "abs", ("move",))
    >>> step.add_computation_node("done", "less", ("size", "tol"))
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x0=1.0, a=2.0)
    >>> add_loop(cg, "root", step, carry={"x": "x0"}, updates={"x": "x_next"},
    ...          inputs={"a": "a"}, until="done", max_steps=50)
    'root'
    >>> cg.forward("root"), cg.backward("root")["a"]   # sqrt(2), and 1 / (2 sqrt(2))
    (1.414213562373095, 0.35355339059327373)
    """
    bound = _bindings(name, body, carry, xs, inputs)
    updates = dict(updates)
    output = _output(name, body, carry, output)
    _check_counts(name, steps, xs, until, max_steps, checkpoint, stack, output, carry)
    _check_updates(name, body, carry, updates, output, until)
    _check_outer(cg, name, bound)
    loop_body = _loop_body(
        cg, name, body, carry, xs or {}, inputs or {}, updates, output, stack, until
    )
    op = Loop(
        loop_body,
        name,
        steps,
        output,
        stack=stack,
        until=until,
        max_steps=max_steps,
        checkpoint=checkpoint,
        check_finite=check_finite,
    )
    cg.add_computation_node(
        name,
        op,
        [
            bound[inner]
            for inner in (*loop_body.carries, *loop_body.sequences, *loop_body.constants)
        ],
    )
    return name


# --------------------------------------------------------------------------------------
# Checks: everything a declaration could refuse, before anything is declared
# --------------------------------------------------------------------------------------


def _bindings(name: Any, body: Any, carry: Any, xs: Any, inputs: Any) -> dict[str, str]:
    """Every bound body input to its outer node, checking that each is a body input, once."""
    if type(name) is not str or not name:
        raise InvalidValueError(
            f"add_loop: the loop's name must be a non-empty string, not {name!r}"
        )
    if not isinstance(body, GraphCore):
        raise InvalidValueError(
            f"add_loop {name!r}: the body {body!r} is not a graph; give a ComputationalGraph"
        )
    bound: dict[str, str] = {}
    for kind, mapping in (("carry", carry), ("xs", xs), ("inputs", inputs)):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            raise InvalidValueError(
                f"add_loop {name!r}: {kind} must map body inputs to node names, not {mapping!r}"
            )
        for inner, outer in mapping.items():
            if inner not in body.inputs:
                raise UnknownNodeError(
                    f"add_loop {name!r}: {kind} binds {inner!r}, which is not an input of the "
                    f"body{did_you_mean(str(inner), body.inputs)}; its inputs are "
                    f"{sorted(body.inputs)}",
                    nodes=[str(inner)],
                )
            if inner in bound:
                raise InvalidValueError(
                    f"add_loop {name!r}: the body input {inner!r} is bound twice; bind each "
                    f"input once, in carry, xs or inputs",
                    nodes=[inner],
                )
            bound[inner] = outer
    return bound


def _output(name: str, body: GraphCore, carry: Mapping[str, str], output: str | None) -> str:
    if output is None:
        if len(carry) != 1:
            raise InvalidValueError(
                f"add_loop {name!r}: say which value the loop gives: output= one of the carries "
                f"{sorted(carry)} or a body node"
            )
        return next(iter(carry))
    if output not in carry and (output not in body.nodes or output in body.inputs):
        raise UnknownNodeError(
            f"add_loop {name!r}: output {output!r} is neither a carry ({sorted(carry)}) nor an "
            f"operation of the body{did_you_mean(str(output), body.operations)}",
            nodes=[str(output)],
        )
    return output


def _whole(value: Any, least: int) -> bool:
    return type(value) is int and value >= least


def _check_counts(
    name: str,
    steps: Any,
    xs: Any,
    until: Any,
    max_steps: Any,
    checkpoint: Any,
    stack: bool,
    output: str,
    carry: Mapping[str, str],
) -> None:
    """The iteration count: fixed, from the sequences, or until a condition up to a bound."""
    if until is not None:
        if steps is not None or xs:
            raise InvalidValueError(
                f"add_loop {name!r}: a loop with until= stops on its condition; it takes no "
                f"steps= and no xs=, only max_steps=, the most iterations it may run"
            )
        if not _whole(max_steps, 1):
            raise InvalidValueError(
                f"add_loop {name!r}: until= needs max_steps=, the most iterations the loop may "
                f"run, a whole number >= 1, not {max_steps!r}"
            )
    elif max_steps is not None:
        raise InvalidValueError(
            f"add_loop {name!r}: max_steps= bounds a loop with until=; "
            f"give steps= for a fixed count"
        )
    elif steps is None and not xs:
        raise InvalidValueError(
            f"add_loop {name!r}: say how many iterations: steps=, "
            f"sequences xs= or until= with max_steps="
        )
    elif steps is not None and not _whole(steps, 0):
        raise InvalidValueError(
            f"add_loop {name!r}: steps must be a whole number >= 0, not {steps!r}"
        )
    elif steps == 0 and (stack or output not in carry):
        raise InvalidValueError(
            f"add_loop {name!r}: a loop of 0 iterations can only give a carry's initial value, "
            f"not {'a stack' if stack else repr(output)}"
        )
    if checkpoint is not None and not _whole(checkpoint, 1):
        raise InvalidValueError(
            f"add_loop {name!r}: checkpoint must be a whole number >= 1 "
            f"(keep every k-th carry), not {checkpoint!r}"
        )
    if not carry and not xs:
        raise InvalidValueError(f"add_loop {name!r}: a loop needs a carry or a sequence (xs=)")


def _check_updates(
    name: str,
    body: GraphCore,
    carry: Mapping[str, str],
    updates: dict[str, str],
    output: str,
    until: str | None,
) -> None:
    missing = [inner for inner in carry if inner not in updates]
    extra = [inner for inner in updates if inner not in carry]
    if missing or extra:
        raise InvalidValueError(
            f"add_loop {name!r}: carry and updates must name the same carries; "
            + (f"{missing} have no update" if missing else "")
            + ("; " if missing and extra else "")
            + (f"updates names {extra}, which are not carries" if extra else ""),
            nodes=[*missing, *extra],
        )
    for inner, node in [*updates.items(), *([("until", until)] if until is not None else [])]:
        if not isinstance(node, str) or node not in body.nodes:
            what = "until" if inner == "until" else f"the update of carry {inner!r}"
            raise UnknownNodeError(
                f"add_loop {name!r}: {what} is {node!r}, which is not a node of the body"
                f"{did_you_mean(str(node), body.nodes)}",
                nodes=[str(node)],
            )


def _check_outer(cg: GraphCore, name: str, bound: dict[str, str]) -> None:
    if name in cg.nodes:
        raise DuplicateNodeError(
            f"add_loop: the graph already has a node {name!r}; give the loop another name",
            nodes=[name],
        )
    for inner, outer in bound.items():
        if not isinstance(outer, str) or outer not in cg.nodes:
            raise UnknownNodeError(
                f"add_loop {name!r}: the body input {inner!r} is bound to {outer!r}, which is "
                f"not a node of the graph{did_you_mean(str(outer), cg.nodes)}",
                nodes=[str(outer)],
            )


# --------------------------------------------------------------------------------------
# The body, copied and made ready to run
# --------------------------------------------------------------------------------------


def _loop_body(
    owner: GraphCore,
    name: str,
    body: GraphCore,
    carry: Mapping[str, str],
    xs: Mapping[str, str],
    inputs: Mapping[str, str],
    updates: dict[str, str],
    output: str,
    stack: bool,
    until: str | None,
) -> LoopBody:
    """A private copy of what the loop reads of the body (:meth:`LoopBody.build`), checked."""
    carries = list(carry)
    read = [updates[inner] for inner in carries]
    if stack or output not in carry:
        read.append(updates[output] if output in carry else output)
    if until is not None:
        read.append(until)
    copied = ancestors(body, read)
    unbound = [
        node.name
        for node in copied
        if isinstance(node, Input)
        and node.name not in carry
        and node.name not in xs
        and node.name not in inputs
    ]
    if unbound:
        raise UnknownNodeError(
            f"add_loop {name!r}: the body input(s) {unbound} are not bound; bind each in "
            f"carry=, xs= or inputs=",
            nodes=unbound,
        )
    stateful = [
        node.name for node in copied if isinstance(node, OperationNode) and keeps_state(node.op)
    ]
    if stateful:
        raise InvalidOperationError(
            f"add_loop {name!r}: the body's node(s) {stateful} use a classic custom op, whose "
            f"backward reads what its last forward saved; a loop runs forward once per "
            f"iteration, so write the op in the rule form (pullback) to use it in a loop",
            nodes=stateful,
        )
    return LoopBody.build(
        body,
        carries,
        list(xs),
        list(inputs),
        [updates[inner_name] for inner_name in carries],
        updates[output] if output in carry else output,
        reads_output=stack or output not in carry,
        until=until,
        owner=owner,
    )

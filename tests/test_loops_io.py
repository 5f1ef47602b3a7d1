"""Graph files holding loops (cgraph.io.loops): round trips bit for bit, and refused files.

A loop is saved with its body, as a version 2 file; loading declares each body and
then the loop through add_loop, so a loaded graph must run the same ops in the same
order: the same forward values, gradients and tangents to the last bit, in every
kind of loop (a fixed count, sequences, until, stacked, checkpointed, nested).
Each malformed loop record or body must be refused with a GraphError naming the
file, the body, the record and the node, and no graph.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cgraph.io
from cgraph import (
    ComputationalGraph,
    CycleError,
    GraphError,
    GraphFileError,
    InvalidValueError,
    Operation,
    UnknownNodeError,
)
from cgraph.loops.op import Loop

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def assert_identical(a: Any, b: Any, what: str) -> None:
    """Same type, dtype, shape and bits."""
    assert type(a) is type(b), f"{what}: {type(a).__name__} != {type(b).__name__}"
    a, b = np.asarray(a), np.asarray(b)
    assert (a.dtype, a.shape) == (b.dtype, b.shape), what
    assert a.tobytes() == b.tobytes(), f"{what}: {a!r} != {b!r}"


def loops_of(cg: ComputationalGraph) -> list[Loop]:
    """Every loop op in the graph and, breadth first, in the loops' bodies."""
    found, queue = [], [node.op for node in cg.operations.values()]
    while queue:
        op = queue.pop(0)
        if isinstance(op, Loop):
            found.append(op)
            queue.extend(node.op for node in op.loop_body.schedule.nodes if hasattr(node, "op"))
    return found


def assert_same_loops(original: ComputationalGraph, loaded: ComputationalGraph) -> None:
    """The same nodes and, loop by loop, the same body schedule, bindings and parameters."""
    assert list(loaded.nodes) == list(original.nodes)
    for name, node in original.operations.items():
        assert loaded.operations[name].input_names == node.input_names
    pairs = list(zip(loops_of(original), loops_of(loaded), strict=True))
    assert pairs
    for before, after in pairs:
        assert after.params() == before.params()
        assert after.check_finite == before.check_finite
        b, a = before.loop_body, after.loop_body
        assert [n.name for n in a.schedule.nodes] == [n.name for n in b.schedule.nodes]
        assert (a.carries, a.sequences, a.constants) == (b.carries, b.sequences, b.constants)
        assert (a.leaves, a.updates, a.output, a.until) == (b.leaves, b.updates, b.output, b.until)


def round_trip(cg: ComputationalGraph, directory: Path, **options: Any) -> ComputationalGraph:
    path = directory / "graph.json"
    cg.save(path, **options)
    loaded = ComputationalGraph.load(path)
    assert_same_loops(cg, loaded)
    return loaded


def assert_same_results(
    original: ComputationalGraph, loaded: ComputationalGraph, root: str, tangents: dict
) -> None:
    """Forward, backward and jvp of the two graphs agree bit for bit."""
    assert_identical(original.forward(root), loaded.forward(root), f"forward({root!r})")
    expected, got = original.backward(root), loaded.backward(root)
    assert expected.keys() == got.keys()
    for name in expected:
        assert_identical(expected[name], got[name], f"gradient of {name}")
    for before, after in zip(original.jvp(root, tangents), loaded.jvp(root, tangents), strict=True):
        assert_identical(before, after, f"jvp of {root!r}")


# --------------------------------------------------------------------------------------
# Graphs with loops
# --------------------------------------------------------------------------------------

RNG = np.random.default_rng(17)
H, X, T = 3, 2, 5


def rnn_cell() -> ComputationalGraph:
    """h' = tanh(W h + U x + b), with an input the loops bind but never read."""
    cell = ComputationalGraph()
    cell.add_inputs(
        h=np.zeros(H), x=np.zeros(X), W=np.zeros((H, H)), U=np.zeros((H, X)), b=np.zeros(H)
    )
    cell.add_input("unread", 0.0)
    cell.add_expression("h_next", "tanh(W @ h + U @ x + b)")
    cell.add_expression("energy", "sum(h_next * h_next)")
    return cell


def rnn(**options: Any) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(
        h0=RNG.normal(size=H),
        W=RNG.normal(size=(H, H)) * 0.5,
        U=RNG.normal(size=(H, X)),
        b=RNG.normal(size=H) * 0.1,
        scale=0.5,
    )
    cg.add_input("Xs", RNG.normal(size=(T, X)), trainable=False)
    cg.add_loop(
        "hT",
        rnn_cell(),
        carry={"h": "h0"},
        updates={"h": "h_next"},
        xs={"x": "Xs"},
        inputs={"W": "W", "U": "U", "b": "b", "unread": "scale"},
        **options,
    )
    cg.add_computation_node("loss", "sum", ("hT",))
    return cg


def newton() -> ComputationalGraph:
    """sqrt(a) by Newton's method, until the step is below a tolerance."""
    step = ComputationalGraph()
    step.add_inputs(x=1.0, a=2.0)
    step.add_constant("tol", 1e-12)
    step.add_expression("x_next", "0.5 * (x + a / x)")
    step.add_expression("done", "abs(x_next - x) < tol")
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0, a=2.0)
    cg.add_loop(
        "root",
        step,
        carry={"x": "x0"},
        updates={"x": "x_next"},
        inputs={"a": "a"},
        until="done",
        max_steps=50,
    )
    return cg


def nested(levels: int) -> ComputationalGraph:
    """``levels`` loops each inside the body of the next: x' = sin(x) * r + 0.1, 2 steps each."""
    body = ComputationalGraph()
    body.add_inputs(x=0.0, r=0.0)
    body.add_expression("x_next", "sin(x) * r + 0.1")
    for level in range(levels):
        outer = ComputationalGraph()
        outer.add_inputs(x=0.0, r=0.0)
        outer.add_loop(
            f"loop{level}",
            body,
            carry={"x": "x"},
            updates={"x": "x_next"},
            inputs={"r": "r"},
            steps=2,
        )
        outer.add_expression("x_next", f"loop{level} * 0.5 + x")
        body = outer
    cg = ComputationalGraph()
    cg.add_inputs(x0=0.3, r=0.9)
    cg.add_loop("top", body, carry={"x": "x0"}, updates={"x": "x_next"}, inputs={"r": "r"}, steps=2)
    return cg


KINDS = {
    "sequences": (lambda: rnn(), "loss", {"h0": np.ones(H)}),
    "stacked, checked": (lambda: rnn(stack=True, check_finite=True), "loss", {"b": np.ones(H)}),
    "body node output": (lambda: rnn(output="energy", stack=True), "loss", {"W": np.eye(H)}),
    "checkpointed": (lambda: rnn(checkpoint=2), "loss", {"U": np.ones((H, X))}),
    "fixed count": (lambda: rnn(steps=T), "loss", {"h0": np.ones(H)}),
    "until": (newton, "root", {"a": 1.0}),
    "nested": (lambda: nested(3), "top", {"r": 1.0}),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_loaded_loop_gives_the_same_values_gradients_and_tangents_bit_for_bit(kind, tmp_path):
    build, root, tangents = KINDS[kind]
    original = build()
    loaded = round_trip(original, tmp_path)
    assert_same_results(original, loaded, root, tangents)


def test_without_plans_too(tmp_path):
    original = rnn()
    loaded = round_trip(original, tmp_path)
    original.use_plans = loaded.use_plans = False
    assert_same_results(original, loaded, "loss", {"b": np.ones(H)})


def test_a_loop_file_is_version_2_with_each_body_before_the_nodes(tmp_path):
    rnn().save(tmp_path / "graph.json")
    text = (tmp_path / "graph.json").read_text()
    assert text.index('"bodies"') < text.index('"nodes"')
    saved = json.loads(text)
    assert saved["version"] == 2 == cgraph.io.VERSION
    (body,) = saved["bodies"]
    # The body as the loop runs it: what it reads, every input trainable, then the input
    # it binds but does not read; not the energy, nor the loop's own root.
    assert [record["name"] for record in body] == [
        "h", "x", "W", "U", "b", "h_next/matmul", "h_next/matmul_2", "h_next/add",
        "h_next/add_2", "h_next", "unread",
    ]  # fmt: skip
    assert all(record["trainable"] for record in body if record["kind"] == "input")
    loop = saved["nodes"][-2]
    assert loop == {
        "name": "hT",
        "kind": "loop",
        "body": 0,
        "carry": {"h": "h0"},
        "updates": {"h": "h_next"},
        "xs": {"x": "Xs"},
        "inputs": {"W": "W", "U": "U", "b": "b", "unread": "scale"},
        "params": {
            "steps": None,
            "output": "h",
            "stack": False,
            "until": None,
            "max_steps": None,
            "checkpoint": None,
            "check_finite": False,
        },
    }
    lines = text.splitlines()
    assert lines[0].endswith('"bodies": [')
    assert lines[1] == "  ["  # then one record a line
    assert all(line.startswith("    {") for line in lines[2 : 2 + len(body)])


def test_a_graph_without_loops_is_still_written_as_version_1(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.save(tmp_path / "graph.json")
    assert json.loads((tmp_path / "graph.json").read_text())["version"] == 1


def test_nested_bodies_are_listed_innermost_first(tmp_path):
    nested(3).save(tmp_path / "graph.json")
    saved = json.loads((tmp_path / "graph.json").read_text())
    uses = [
        (number, record["body"])
        for number, body in enumerate(saved["bodies"])
        for record in body
        if record["kind"] == "loop"
    ]
    assert uses == [(1, 0), (2, 1), (3, 2)]
    assert [r["body"] for r in saved["nodes"] if r["kind"] == "loop"] == [3]


def test_deep_nesting_saves_and_loads_without_recursion(tmp_path):
    levels = sys.getrecursionlimit() + 200  # deeper than any recursion could go
    original = nested(levels)
    loaded = round_trip(original, tmp_path)
    assert len(loops_of(loaded)) == levels + 1


def test_a_loop_reached_twice_is_written_twice_and_loads(tmp_path):
    # A and B copy the cell, and share its inner loop's body: each gets a body of its own.
    inner = ComputationalGraph()
    inner.add_inputs(x=0.0)
    inner.add_expression("x_next", "cos(x)")
    cell = ComputationalGraph()
    cell.add_inputs(x=0.0)
    cell.add_loop("inner", inner, carry={"x": "x"}, updates={"x": "x_next"}, steps=3)
    cell.add_expression("x_next", "inner + 0.25")
    cg = ComputationalGraph()
    cg.add_inputs(a=0.1, b=0.2)
    cg.add_loop("A", cell, carry={"x": "a"}, updates={"x": "x_next"}, steps=2)
    cg.add_loop("B", cell, carry={"x": "b"}, updates={"x": "x_next"}, steps=4)
    cg.add_expression("f", "A * B")
    in_a, in_b = (cg.operations[name].op.loop_body.schedule.nodes[2].op for name in "AB")
    assert in_a.loop_body is in_b.loop_body  # copies of one op: one body
    loaded = round_trip(cg, tmp_path)
    assert len(json.loads((tmp_path / "graph.json").read_text())["bodies"]) == 4
    assert_same_results(cg, loaded, "f", {"a": 1.0})


def test_large_arrays_of_a_body_go_to_the_npz_and_a_new_save_replaces_it(tmp_path):
    cell = ComputationalGraph()
    cell.add_inputs(h=np.zeros(4))
    cell.add_constant("big", np.linspace(0, 1, 2000).reshape(500, 4))
    cell.add_expression("h_next", "tanh(h + sum(big, axis=0))")
    cg = ComputationalGraph()
    cg.add_inputs(h0=np.zeros(4))
    cg.add_loop("h", cell, carry={"h": "h0"}, updates={"h": "h_next"}, steps=2)
    loaded = round_trip(cg, tmp_path)
    assert_same_results(cg, loaded, "h", {"h0": np.ones(4)})
    first = sorted(p.name for p in tmp_path.iterdir())
    assert len(first) == 2  # graph.json and its npz
    cg.save(tmp_path / "graph.json", array_threshold=3)  # h0 goes to the npz too
    second = sorted(p.name for p in tmp_path.iterdir())
    assert len(second) == 2
    assert second != first  # a new npz, and the old one removed
    assert_same_results(cg, ComputationalGraph.load(tmp_path / "graph.json"), "h", {})


def test_a_loaded_loop_is_a_loop_of_the_loaded_graph(tmp_path):
    loaded = round_trip(rnn(), tmp_path)
    op = loaded.operations["hT"].op
    assert op.loop_body.uses_plans() is True
    loaded.use_plans = False
    assert op.loop_body.uses_plans() is False  # it follows the graph that holds it


# --------------------------------------------------------------------------------------
# Saving refuses what a file cannot give back
# --------------------------------------------------------------------------------------


class Unnamed(Operation):
    """y = 2 x in the rule form, registered under no name (a test op)."""

    def forward(self, x):
        return 2 * x

    def pullback(self, p, upstream, output, x):
        return (2 * upstream,)


def test_saving_a_body_with_an_unregistered_op_names_the_loop_and_its_node(tmp_path):
    body = ComputationalGraph()
    body.add_inputs(x=0.0)
    body.add_computation_node("twice", Unnamed(), ("x",))
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0)
    cg.add_loop("doubling", body, carry={"x": "x0"}, updates={"x": "twice"}, steps=3)
    with pytest.raises(GraphFileError) as info:
        cg.save(tmp_path / "graph.json")
    assert "node 'doubling' (a loop), in its body, node 'twice'" in str(info.value)
    assert info.value.nodes == ("doubling", "twice")
    assert list(tmp_path.iterdir()) == []


def test_saving_a_loop_add_loop_cannot_declare_is_refused(tmp_path):
    cg = rnn()
    op = cg.operations["hT"].op
    if "reverse" not in Loop.__init__.__code__.co_varnames:
        pytest.skip("this cgraph's loops have no reverse")
    backwards = Loop(op.loop_body, "back", None, "h", reverse=True)
    cg.add_computation_node("back", backwards, cg.operations["hT"].input_names)
    with pytest.raises(GraphFileError, match=r"'back'.*\['reverse'\].*add_loop") as info:
        cg.save(tmp_path / "graph.json")
    assert info.value.nodes == ("back",)


# --------------------------------------------------------------------------------------
# Loading refuses malformed loops and bodies
# --------------------------------------------------------------------------------------


def body_records() -> list[dict]:
    return [
        {"name": "x", "kind": "input", "trainable": True, "value": 0.0},
        {"name": "x_next", "kind": "operation", "op": "sin", "inputs": ["x"], "params": {}},
    ]


def loop_record(name: str = "y", body: Any = 0, **changes: Any) -> dict:
    record = {
        "name": name,
        "kind": "loop",
        "body": body,
        "carry": {"x": "x0"},
        "updates": {"x": "x_next"},
        "xs": {},
        "inputs": {},
        "params": {
            "steps": 3,
            "output": "x",
            "stack": False,
            "until": None,
            "max_steps": None,
            "checkpoint": None,
            "check_finite": False,
        },
    }
    for key, value in changes.items():
        if key in record["params"]:
            record["params"][key] = value
        else:
            record[key] = value
    return record


X0 = {"name": "x0", "kind": "input", "trainable": True, "value": 0.5}


def loop_file(*records: dict, bodies: Any = None, version: int = 2) -> dict:
    return {
        "format": "cgraph",
        "version": version,
        "bodies": [body_records()] if bodies is None else bodies,
        "nodes": [X0, *records] if records else [X0, loop_record()],
    }


def refuse(tmp_path: Path, document: Any, error: type[GraphError], *fragments: str) -> GraphError:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(document))
    with pytest.raises(error) as info:
        ComputationalGraph.load(path)
    message = str(info.value)
    for fragment in (str(path), *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert message.count(str(path)) == 1, message
    return info.value


def test_the_hand_written_file_loads(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(loop_file()))
    loaded = ComputationalGraph.load(path)
    assert loaded.forward("y") == np.sin(np.sin(np.sin(0.5)))


MALFORMED = {
    "loop in a version 1 file": (
        {**loop_file(version=1), "bodies": None},
        "node record 1 ('y')",
        "'loop'",
        "needs a file of version 2",
    ),
    "bodies in a version 1 file": (
        {**loop_file(version=1), "nodes": [X0]},
        "unknown field 'bodies'",
    ),
    "bodies not a list": (loop_file(bodies={}), '"bodies" must be a list'),
    "a body not a list": (loop_file(bodies=[{}]), "body 0", "a body must be a list"),
    "body not a number": (loop_file(loop_record(body="0")), "('y')", '"body" is "0"', "0 to 0"),
    "body a bool": (loop_file(loop_record(body=False)), '"body" is false'),
    "body out of range": (loop_file(loop_record(body=1)), '"body" is 1'),
    "body used twice": (
        loop_file(loop_record("y"), loop_record("z")),
        "node record 2 ('z')",
        "body 0 is already the body of loop 'y'",
    ),
    "body unused": (
        loop_file(bodies=[body_records(), body_records()]),
        "body 1: no loop uses it",
    ),
    "body used by itself": (
        loop_file(bodies=[[*body_records(), loop_record("z", 0)]]),
        "body 0, node record 2 ('z')",
        "listed before body 0",
    ),
    "body used by an earlier body": (
        loop_file(
            loop_record("y", 0), bodies=[[*body_records(), loop_record("z", 1)], body_records()]
        ),
        "body 0, node record 2 ('z')",
        '"body" is 1',
    ),
    "missing field": (
        loop_file({k: v for k, v in loop_record().items() if k != "xs"}),
        "'xs' is missing",
    ),
    "extra field": (loop_file(loop_record(reverse=True)), "unknown field 'reverse'"),
    "extra parameter": (
        loop_file(loop_record(params={**loop_record()["params"], "unroll": 2})),
        "\"params\": unknown field 'unroll'",
    ),
    "carry not an object": (loop_file(loop_record(carry=["x0"])), '"carry" must be an object'),
    "carry to a number": (loop_file(loop_record(carry={"x": 0})), "\"carry\" of 'x' must be a"),
    "steps a string": (loop_file(loop_record(steps="3")), "'steps' must be an integer or null"),
    "steps a bool": (loop_file(loop_record(steps=True)), "'steps' must be an integer or null"),
    "stack a number": (loop_file(loop_record(stack=0)), "'stack' must be true or false"),
    "output null": (loop_file(loop_record(output=None)), "'output' must be a string"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_loops_are_refused(case, tmp_path):
    document, *fragments = MALFORMED[case]
    if document.get("bodies", []) is None:
        del document["bodies"]
    refuse(tmp_path, document, GraphFileError, *fragments)


def test_what_add_loop_refuses_is_refused_naming_the_record(tmp_path):
    error = refuse(
        tmp_path,
        loop_file(loop_record(updates={"x": "x_nxt"})),
        UnknownNodeError,
        "node record 1 ('y')",
        "add_loop 'y'",
        "'x_nxt'",
        "did you mean 'x_next'",
    )
    assert error.nodes == ("x_nxt",)
    refuse(
        tmp_path,
        loop_file(loop_record(steps=-1)),
        InvalidValueError,
        "node record 1 ('y')",
        "steps must be a whole number",
    )


def test_a_malformed_body_record_names_the_body_and_its_loop(tmp_path):
    body = [
        *body_records(),
        {"name": "z", "kind": "operation", "op": "sine", "inputs": ["x"], "params": {}},
    ]
    error = refuse(
        tmp_path,
        loop_file(bodies=[body]),
        GraphError,
        "body 0 (the body of loop 'y'), node record 2 ('z')",
        "no operation is registered as 'sine'",
    )
    assert error.nodes == ("z",)


def test_a_loop_using_a_later_node_and_a_cycle_through_a_loop(tmp_path):
    later = {"name": "x1", "kind": "input", "trainable": True, "value": 0.5}
    refuse(
        tmp_path,
        loop_file(loop_record(carry={"x": "x1"}), later),
        GraphFileError,
        "input 'x1' is declared later, in node record 2",
    )
    cycle = {"name": "x2", "kind": "operation", "op": "neg", "inputs": ["y"], "params": {}}
    refuse(
        tmp_path,
        loop_file(loop_record(carry={"x": "x2"}), cycle),
        CycleError,
        "y -> x2 -> y",
    )


def test_a_file_of_deeply_nested_loops_loads_in_linear_time(tmp_path):
    # 3,000 bodies, each the body of a loop in the next: no recursion, each copied once.
    count = 3000
    bodies = [body_records()]
    for number in range(1, count):
        inner = loop_record("x_next", number - 1, carry={"x": "x"})
        bodies.append([body_records()[0], inner])
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(loop_file(loop_record("y", count - 1, steps=1), bodies=bodies)))
    loaded = ComputationalGraph.load(path)
    assert len(loops_of(loaded)) == count

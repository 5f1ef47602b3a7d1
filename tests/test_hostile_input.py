"""Hostile input: every wrong argument, value or name is a GraphError that says what to give.

Each refusal must be a GraphError (never a raw TypeError, AttributeError or
OverflowError from deep inside), name the argument or node, say what is
expected, and leave the graph exactly as it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import numpy as np
import pytest
from conftest import build_classic_graph
from graph_state import assert_same_state, snapshot

import cgraph
from cgraph import ComputationalGraph, Operation, transforms
from cgraph.engine.diagnostics import forward_failure, non_finite_input, non_finite_output
from cgraph.messages import did_you_mean

Call = Callable[[ComputationalGraph], object]


def evaluated() -> ComputationalGraph:
    cg = build_classic_graph()
    cg.add_input("v", np.arange(6.0))
    cg.forward("f")
    cg.backward("f")
    return cg


def expect(error: type, pattern: str, call: Call, cg: ComputationalGraph | None = None) -> str:
    """``call`` raises ``error`` (a GraphError) matching ``pattern``; the graph is unchanged."""
    cg = evaluated() if cg is None else cg
    before = snapshot(cg)
    with pytest.raises(cgraph.GraphError) as info:
        call(cg)
    assert isinstance(info.value, error), f"{type(info.value).__name__}: {info.value}"
    assert re.search(pattern, str(info.value)), str(info.value)
    assert_same_state(before, snapshot(cg))
    return str(info.value)


# --------------------------------------------------------------------------------------
# 8. Wrong arguments: a GraphError naming the argument and what it takes
# --------------------------------------------------------------------------------------

OP = cgraph.InvalidOperationError
VALUE = cgraph.InvalidValueError

ARGUMENTS: dict[str, tuple[type, str, Call]] = {
    "reshape without shape": (
        OP,
        r"'r': reshape needs the parameter shape.*shape=",
        lambda cg: cg.add_computation_node("r", "reshape", ("v",)),
    ),
    "index without index": (
        OP,
        r"'r': index needs the parameter index",
        lambda cg: cg.add_computation_node("r", "index", ("v",)),
    ),
    "broadcast_to without shape": (
        OP,
        r"'r': broadcast_to needs the parameter shape",
        lambda cg: cg.add_computation_node("r", "broadcast_to", ("v",)),
    ),
    "scatter without index and shape": (
        OP,
        r"'r': scatter needs the parameters index, shape",
        lambda cg: cg.add_computation_node("r", "scatter", ("v",)),
    ),
    "unbroadcast without shape": (
        OP,
        r"'r': unbroadcast needs the parameter shape",
        lambda cg: cg.add_computation_node("r", "unbroadcast", ("v",)),
    ),
    "reshape class without shape": (
        OP,
        r"'r': reshape needs the parameter shape",
        lambda cg: cg.add_computation_node("r", cgraph.OPERATIONS["reshape"], ("v",)),
    ),
    "a wrong keyword": (
        OP,
        r"'r': sum takes parameters axis, keepdims; got axes; did you mean 'axis'\?",
        lambda cg: cg.add_computation_node("r", "sum", ("v",), axes=0),
    ),
    "a keyword for an op without parameters": (
        OP,
        r"'r': sigmoid takes no parameters; got axis",
        lambda cg: cg.add_computation_node("r", "sigmoid", ("x",), axis=0),
    ),
    "a list as a node name": (
        VALUE,
        r"node names are non-empty strings, not \['a'\] \(list\)",
        lambda cg: cg.add_computation_node(["a"], "sigmoid", ("x",)),
    ),
    "a dict as a node name": (
        VALUE,
        r"node names are non-empty strings, not \{\} \(dict\)",
        lambda cg: cg.add_computation_node({}, "sigmoid", ("x",)),
    ),
    "a list as an input's name": (
        VALUE,
        r"not \['a'\] \(list\)",
        lambda cg: cg.add_input(["a"], 1.0),
    ),
    "a dict as a constant's name": (
        VALUE,
        r"not \{\} \(dict\)",
        lambda cg: cg.add_constant({}, 1.0),
    ),
    "inputs=None": (
        VALUE,
        r"'r': inputs must be a node name or an iterable of node names.*not None",
        lambda cg: cg.add_computation_node("r", "sigmoid", None),
    ),
    "inputs=5": (
        VALUE,
        r"'r': inputs must be .*not 5 \(int\)",
        lambda cg: cg.add_computation_node("r", "sigmoid", 5),
    ),
    "an array among the inputs": (
        VALUE,
        r"'r': inputs are node names \(strings\), not array",
        lambda cg: cg.add_computation_node("r", "add", (np.array([1, 2]), "x")),
    ),
    "feed given as a list": (
        VALUE,
        r"feed must be a mapping of input names to values.*not a list",
        lambda cg: cg.forward("f", feed=[("x", 1.0)]),
    ),
    "feed with a number as a name": (
        VALUE,
        r"fed name 1 is not a node name: names are strings, not int",
        lambda cg: cg.forward("f", feed={1: 1.0}),
    ),
    "forward(123)": (
        VALUE,
        r"root 123 is not a node name: names are strings, not int",
        lambda cg: cg.forward(123),
    ),
    "forward of a list": (VALUE, r"root \['f'\] is not a node name", lambda cg: cg.forward(["f"])),
    "backward(123)": (VALUE, r"root 123 is not a node name", lambda cg: cg.backward(123)),
    "get_value of a list": (
        VALUE,
        r"node \['x'\] is not a node name",
        lambda cg: cg.get_value(["x"]),
    ),
    "jvp with tangents as a list": (
        VALUE,
        r"jvp: tangents must be a mapping of input names to tangents.*not a list",
        lambda cg: cg.jvp("f", tangents=[1.0]),
    ),
    "transforms.jvp with tangents as a list": (
        VALUE,
        r"jvp: tangents must be a mapping",
        lambda cg: transforms.jvp(cg, "f", [1.0]),
    ),
    "draw(depth='a')": (
        VALUE,
        r"depth must be a whole number \(an int\), not 'a' \(str\)",
        lambda cg: cg.draw("f", depth="a"),
    ),
    "to_dot(max_nodes='a')": (
        VALUE,
        r"max_nodes must be a whole number",
        lambda cg: cg.to_dot(max_nodes="a"),
    ),
    "explain(max_paths='a')": (
        VALUE,
        r"explain: max_paths must be a whole number \(an int\), not 'a'",
        lambda cg: cg.explain("x", max_paths="a"),
    ),
    "explain of a list": (VALUE, r"wrt \['x'\] is not a node name", lambda cg: cg.explain(["x"])),
    "an input of 10**400": (
        VALUE,
        r"'big' is an integer of about 400 digits, too large for a float",
        lambda cg: cg.add_inputs(big=10**400),
    ),
    "a constant of -10**400": (
        VALUE,
        r"'big' is an integer of about 400 digits",
        lambda cg: cg.add_constant("big", -(10**400)),
    ),
    "a feed of 10**400": (
        VALUE,
        r"'x' is an integer of about 400 digits",
        lambda cg: cg.forward("f", feed={"x": 10**400}),
    ),
    "a seed of 10**400": (
        VALUE,
        r"'f' is an integer of about 400 digits",
        lambda cg: cg.backward("f", seed=10**400),
    ),
    "an input of a timedelta": (
        VALUE,
        r"'t' has dtype timedelta64\[D\], which is not a real number type",
        lambda cg: cg.add_inputs(t=np.timedelta64(1, "D")),
    ),
    "a constant of a timedelta": (
        VALUE,
        r"'t' has dtype timedelta64",
        lambda cg: cg.add_constant("t", np.timedelta64(1, "D")),
    ),
    "a feed of a timedelta": (
        VALUE,
        r"'x' has dtype timedelta64",
        lambda cg: cg.forward("f", feed={"x": np.timedelta64(1, "D")}),
    ),
}


@pytest.mark.parametrize(("error", "pattern", "call"), ARGUMENTS.values(), ids=ARGUMENTS.keys())
def test_a_wrong_argument_is_a_graph_error_saying_what_it_takes(error, pattern, call):
    pytest.importorskip("matplotlib").use("Agg")
    expect(error, pattern, call)


def test_a_graph_file_without_an_ops_parameter_names_the_record_and_the_parameter(tmp_path):
    cg = ComputationalGraph()
    cg.add_inputs(x=np.ones(6))
    cg.add_computation_node("r", "reshape", ("x",), shape=(2, 3))
    path = tmp_path / "g.json"
    cg.save(path)
    for params, pattern in (
        ({}, r"reshape needs the parameter shape"),
        ({"shpe": {"tuple": [2, 3]}}, r"got shpe; did you mean 'shape'"),
    ):
        record = json.loads(path.read_text())
        record["nodes"][1]["params"] = params
        path.write_text(json.dumps(record))
        with pytest.raises(cgraph.InvalidOperationError, match=pattern) as info:
            ComputationalGraph.load(path)
        assert "node record 1 ('r')" in str(info.value)
        assert info.value.nodes == ("r",)


# --------------------------------------------------------------------------------------
# 9. Messages are built whatever the values are
# --------------------------------------------------------------------------------------


class Unprintable:
    """Neither repr nor format works."""

    def __repr__(self):
        raise RuntimeError("no repr")

    def __format__(self, spec):
        raise RuntimeError("no format")


@pytest.mark.parametrize(
    "value",
    ["oops", Unprintable(), object(), np.array(["a"])],
    ids=["str", "unprintable", "object", "string array"],
)
@pytest.mark.parametrize("check_finite", [False, True])
def test_an_input_set_by_hand_to_a_non_number_is_named_before_any_op(value, check_finite):
    cg = evaluated()
    cg.inputs["x"].output = value
    message = expect(
        cgraph.InvalidValueError,
        r"^input 'x' holds .*, which is not a number or a numeric array; set "
        r"inputs\['x'\].output to a float",
        lambda cg: cg.forward("f", check_finite=check_finite),
        cg,
    )
    assert "Unknown format code" not in message
    with pytest.raises(cgraph.NotComputedError, match="input 'x' holds"):
        cg.backward("f")  # the failure it remembers is the clear one


@pytest.mark.parametrize(
    "value",
    ["oops", Unprintable(), object(), [1, "a"], None],
    ids=["str", "unprintable", "object", "list", "None"],
)
def test_every_message_builder_copes_with_any_value(value):
    from cgraph.engine.diagnostics import describe

    cg = ComputationalGraph()
    cg.add_inputs(x=1.0)
    cg.add_computation_node("y", "exp", ("x",))
    node = cg.operations["y"]
    for error in (
        forward_failure(node, [value, None], (0,), ValueError("bad")),
        forward_failure(node, [value, None], (0,), cgraph.ShapeError("own")),
        non_finite_output(node, [value, None], (0,), value),
        non_finite_input(cg.nodes["x"], value),
    ):
        assert isinstance(error, cgraph.GraphError)
        assert "'x'" in str(error) or "'y'" in str(error)
    assert describe("oops") == "'oops' (str)"
    assert describe(Unprintable()) == "<Unprintable object> (Unprintable)"


# --------------------------------------------------------------------------------------
# 10. "Did you mean" is quick among many names, and still good among few
# --------------------------------------------------------------------------------------

rng = np.random.default_rng(0)
LONG_NAMES = ["".join(rng.choice(list("abcdefghij"), 100)) for _ in range(10_000)]
PATH_NAMES = [f"model/encoder/layer{i}/attention/query/weight" for i in range(10_000)]


@pytest.mark.parametrize(
    ("names", "typo", "meant"),
    [
        (
            PATH_NAMES,
            "model/encoder/layer1234/attention/qurey/weight",
            "model/encoder/layer1234/attention/query/weight",
        ),
        (
            PATH_NAMES,
            "model/encodr/layer77/attention/query/weight",
            "model/encoder/layer77/attention/query/weight",
        ),
        (LONG_NAMES, LONG_NAMES[4321][:50] + "Z" + LONG_NAMES[4321][51:], LONG_NAMES[4321]),
        (LONG_NAMES, "Q" + LONG_NAMES[99][1:-1] + "Q", LONG_NAMES[99]),
        ([f"w{i}\ud800" for i in range(10_000)], "w12\ud800x", "w12\ud800"),
    ],
    ids=[
        "path names",
        "path names, early typo",
        "long names",
        "long names, both ends",
        "names no codec can encode",
    ],
)
def test_an_unknown_name_among_10k_is_suggested_quickly(names, typo, meant):
    cg = ComputationalGraph()
    cg.add_inputs(**dict.fromkeys(names, 1.0))
    start = time.perf_counter()
    with pytest.raises(cgraph.UnknownNodeError) as info:
        cg.forward(typo)
    # A coarse guard against quadratic work (difflib over every name took 1.5 s to 20 s).
    assert time.perf_counter() - start < 0.5
    assert f"did you mean {meant!r}" in str(info.value)


@pytest.mark.parametrize(
    ("typo", "known", "meant"),
    [
        ("sigx", ["sigy", "x"], ["sigy"]),
        ("X", ["x", "y"], ["x"]),
        ("Weight", ["weight", "weights", "bias"], ["weight", "weights"]),
        ("zzzz", ["sigy", "x"], []),
    ],
)
def test_suggestions_among_few_names(typo, known, meant):
    hint = did_you_mean(typo, known)
    assert hint == (
        f"; did you mean {', '.join(map(repr, meant))}?" if meant else "; declare it first"
    )


# --------------------------------------------------------------------------------------
# 11. A misspelt op is suggested; too few inputs are refused when declared
# --------------------------------------------------------------------------------------


def test_a_misspelt_op_name_suggests_the_closest():
    expect(
        cgraph.InvalidOperationError,
        r"'sigmod'; did you mean 'sigmoid'.*; known names: abs",
        lambda cg: cg.add_computation_node("r", "sigmod", ("x",)),
    )


class AtLeastTwo(Operation):
    """Any number of inputs, but at least two."""

    min_arity = 2

    def forward(self, *inputs):
        return sum(inputs)

    def backward(self, upstream):
        return (upstream,) * 2


@pytest.mark.parametrize("inputs", [(), ("x",)])
def test_too_few_inputs_for_an_ops_min_arity_are_refused_when_declared(inputs):
    expect(
        cgraph.ArityError,
        r"node 'r': AtLeastTwo takes at least 2 input\(s\) but was given",
        lambda cg: cg.add_computation_node("r", AtLeastTwo, inputs),
    )
    cg = evaluated()
    cg.add_computation_node("r", AtLeastTwo, ("x", "y", "x"))
    assert cg.forward("r") == 0.0


@pytest.mark.parametrize("op", ["concat", "stack"])
def test_concat_and_stack_of_nothing_are_refused_when_declared(op):
    expect(
        cgraph.ArityError,
        r"node 'r': \w+ takes at least 1 input",
        lambda cg: cg.add_computation_node("r", op, ()),
    )
    expect(cgraph.ArityError, "at least 1 input", lambda cg: cg.add_expression("r", f"{op}()"))


# --------------------------------------------------------------------------------------
# 12. Names are names: not maths text, not another node under Unicode folding
# --------------------------------------------------------------------------------------

MATH_NAMES = [r"$\undefinedcmd$", r"$\alpha$", "$x^2$ and $", r"\$"]


def test_drawings_show_names_as_written_never_as_math_text():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cg = ComputationalGraph()
    cg.add_inputs(**dict.fromkeys(MATH_NAMES, 1.0))
    cg.add_computation_node("f", "add", (MATH_NAMES[0], MATH_NAMES[1]))
    try:
        fig = cg.draw()
        fig.canvas.draw()  # math text is parsed when drawn
        renderer = fig.canvas.get_renderer()
        texts = {t.get_text(): t for t in fig.axes[0].texts}
        assert set(MATH_NAMES) <= set(texts)
        alpha = texts[r"$\alpha$"]
        # Drawn as its 8 characters, as wide as the same text without math parsing.
        plain = fig.axes[0].text(
            0, 0, r"$\alpha$", fontsize=alpha.get_fontsize(), fontweight="bold", parse_math=False
        )
        width = alpha.get_window_extent(renderer).width
        assert width == pytest.approx(plain.get_window_extent(renderer).width, abs=1)
        svg = cg._repr_svg_()
        assert svg is not None
        assert svg.lstrip().startswith("<?xml")
    finally:
        plt.close("all")


FRAKTUR_H = "\N{BLACK-LETTER CAPITAL H}"  # Python reads it as H


def graph_of(**inputs: float) -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(**inputs)
    return cg


def test_an_expression_uses_the_node_named_as_written_not_its_nfkc_form():
    cg = graph_of(**{FRAKTUR_H: 100.0, "H": 5.0, "é": 2.0})
    cg.add_expression("f", f"{FRAKTUR_H} + 1")
    assert cg.forward("f") == 101.0
    cg.add_expression("g", f"é * {FRAKTUR_H} - H + sigmoid({FRAKTUR_H}) * 0")
    assert cg.forward("g") == 195.0
    cg.add_expression("h", "H + 1")
    assert cg.forward("h") == 6.0
    only_fancy = graph_of(**{FRAKTUR_H: 100.0})
    only_fancy.add_expression("f", f"2 * {FRAKTUR_H}")
    assert only_fancy.forward("f") == 200.0


def test_an_expression_name_that_folds_onto_another_node_is_refused_and_explained():
    cg = graph_of(H=5.0)
    message = expect(
        cgraph.UnknownNodeError,
        rf"unknown name '{FRAKTUR_H}' at column 3: Python reads it as 'H' "
        r"\(.*NFKC.*\)",
        lambda cg: cg.add_expression("f", f"1+{FRAKTUR_H}"),
        cg,
    )
    assert "which is another node" in message

"""Compiled plans compute what the interpreter computes, bit for bit, and only that.

A plan (``cgraph.engine.plan``) is generated straight-line code for one
schedule. Everything here compares it with the interpreter
(``cgraph.engine.passes``) exactly: the same types, shapes and bytes for every
value and every gradient, over every registered op (on floats and on
broadcasting arrays), over random graphs (whole and cut into chunks of a few
operations), and through the classic API. Then the code itself: it names no
node and prints no value, whatever the names and values; and a pass the plan
cannot finish falls back to the interpreter, which names the node.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import struct
import sys
import tokenize
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import DOMAINS, TENSOR_CASES, op_cases, random_graphs

from cgraph import OPERATIONS, ComputationalGraph, GraphError, Operation, UnknownNodeError
from cgraph.engine import writer as plan_writer
from cgraph.engine.codegen import Writer, trace_forward, trace_pullback
from cgraph.engine.passes import leaf_values, ones_like, run_backward, run_forward
from cgraph.engine.plan import compiled, planned_backward, planned_forward
from cgraph.ops import Maximum, Pow, ReLU, numeric


def _ships_with_cgraph(cls: type[Operation]) -> bool:
    module = sys.modules.get(cls.__module__)
    return cls.__module__.startswith("cgraph.") and getattr(module, cls.__qualname__, None) is cls


OP_CASES = [
    pytest.param(case, id=case.id)
    for cls in sorted(
        {c for c in OPERATIONS.values() if _ships_with_cgraph(c)}, key=lambda c: c.name
    )
    if cls in DOMAINS or cls in TENSOR_CASES
    for case in op_cases(cls)
]


#: The ops whose forward is scipy.special's.
SCIPY_OPS = {"lgamma", "digamma", "polygamma"}


def _bits(value):
    """What must match exactly: the type, and the bytes of a float or an array."""
    if type(value) is float:
        return (float, struct.pack("<d", value))
    if isinstance(value, np.ndarray):
        return (np.ndarray, value.dtype.str, value.shape, value.tobytes())
    return (type(value), value)


def _passes(schedule, feed=None, seed=None):
    """The interpreter's values and gradients, and the plan's, for one schedule."""
    feed = feed or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = run_forward(schedule, feed)
        seed = ones_like(values[-1]) if seed is None else seed
        grads = run_backward(schedule, values, seed)
        plan = compiled(schedule, leaf_values(schedule, feed))
        plan_values = leaf_values(schedule, feed)
        plan.forward(plan_values)
        plan_grads = plan.backward(plan_values, seed)
    return (values, grads), (plan_values, plan_grads), plan


def assert_same_passes(schedule, feed=None, seed=None):
    (values, grads), (plan_values, plan_grads), plan = _passes(schedule, feed, seed)
    for pos, node in enumerate(schedule.nodes):
        assert _bits(plan_values[pos]) == _bits(values[pos]), f"value of {node.name}"
        assert _bits(plan_grads[pos]) == _bits(grads[pos]), f"gradient of {node.name}"
    return plan


# --------------------------------------------------------------------------------------
# The same numbers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_every_op_gives_the_interpreters_values_and_gradients_bit_for_bit(case, data):
    if case.op_class.name in SCIPY_OPS:
        pytest.importorskip("scipy", reason=f"{case.op_class.name} needs scipy.special")
    _, arguments = case.draw(data)
    assert_same_passes(case.graph(arguments).schedule("y"))


@settings(max_examples=60, deadline=None)
@given(graph=random_graphs(max_nodes=30))
def test_random_graphs_give_the_interpreters_numbers_bit_for_bit(graph):
    assert_same_passes(graph.build().schedule(graph.root))


@settings(max_examples=30, deadline=None)
@given(graph=random_graphs(max_nodes=30), chunk=st.integers(1, 4))
def test_plans_cut_into_chunks_give_the_same_numbers(graph, chunk):
    original = plan_writer.CHUNK
    plan_writer.CHUNK = chunk
    try:
        plan = assert_same_passes(graph.build().schedule(graph.root))
        source = plan.source
    finally:
        plan_writer.CHUNK = original
    chunks = -(-len(plan.schedule.steps) // chunk)
    assert source.count("def forward_") == (chunks if chunks > 1 else 0)


def _scalar_graph(size: int, seed: int = 0) -> ComputationalGraph:
    """A random DAG on Python floats where nodes have up to five children."""
    rng = np.random.default_rng(seed)
    cg = ComputationalGraph()
    cg.add_inputs(**{f"x{i}": float(rng.uniform(0.5, 1.5)) for i in range(5)})
    names = list(cg.inputs)
    ops = ["add", "mul", "sub", "tanh", "sigmoid", "sin", "square", "neg"]
    for i in range(size):
        op = ops[rng.integers(len(ops))]
        arity = OPERATIONS[op].arity
        parents = tuple(names[j] for j in rng.integers(max(0, len(names) - 8), len(names), arity))
        cg.add_computation_node(f"n{i}", op, parents)
        names.append(f"n{i}")
    return cg


def test_a_node_with_many_children_sums_them_in_the_interpreters_order():
    cg = _scalar_graph(400)
    plan = assert_same_passes(cg.schedule("n399"))
    assert re.search(r"g\d+ = \w+ \+ \w+ \+ \w+", plan.source)  # three or more, in one sum


def test_an_input_used_twice_by_one_op_gets_both_gradients():
    cg = ComputationalGraph()
    cg.add_inputs(x=3.0)
    cg.add_computation_node("y", "mul", ("x", "x"))
    assert_same_passes(cg.schedule("y"))
    assert cg.compile("y").gradients() == {"x": 6.0}


def test_classic_custom_ops_are_called_and_keep_their_state():
    class Cube(Operation):
        def forward(self, x):
            self.x = x
            return x**3

        def backward(self, upstream):
            return (3 * self.x**2 * upstream,)

    cg = ComputationalGraph()
    cg.add_inputs(x=2.0)
    cg.add_computation_node("c", Cube, ("x",))
    cg.add_computation_node("y", "sin", ("c",))
    plan = cg.compile("y")
    assert plan.plan.inlined == 2  # sin's forward and rule; the cube is called
    assert plan.gradients() == {"x": math.cos(8.0) * 12.0}


# --------------------------------------------------------------------------------------
# By default, through the classic API
# --------------------------------------------------------------------------------------


def _fxy() -> ComputationalGraph:
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0, y=-4.0)
    cg.add_computation_node("sigy", "sigmoid", ("y",))
    cg.add_computation_node("num", "add", ("x", "sigy"))
    cg.add_computation_node("sigx", "sigmoid", ("x",))
    cg.add_computation_node("xpy", "add", ("x", "y"))
    cg.add_computation_node("sq", "square", ("xpy",))
    cg.add_computation_node("denom", "add", ("sigx", "sq"))
    cg.add_computation_node("f", "div", ("num", "denom"))
    return cg


def _descend(cg: ComputationalGraph, steps: int) -> list[tuple[float, float]]:
    x, y = cg.inputs["x"], cg.inputs["y"]
    trace = []
    for _ in range(steps):
        cg.forward("f")
        grads = cg.backward("f")
        x.output -= 0.1 * grads["x"]
        y.output -= 0.1 * grads["y"]
        trace.append((grads["x"], grads["y"]))
    return trace


def test_the_seeds_loop_runs_a_plan_and_descends_exactly_as_interpreted():
    planned, interpreted = _fxy(), _fxy()
    interpreted.use_plans = False
    assert _descend(planned, 50) == _descend(interpreted, 50)
    assert planned.schedule("f").plan is not None
    assert interpreted.schedule("f").plan is None
    assert planned.get_gradient("sigx") == interpreted.get_gradient("sigx")
    assert planned.nodes["denom"].output == interpreted.nodes["denom"].output


def test_a_plan_is_written_on_the_third_pass_and_dropped_with_the_structure():
    cg = _fxy()
    for expected in (False, False, True):
        cg.forward("f")
        assert (cg.schedule("f").plan is not None) is expected
    cg.add_computation_node("g", "neg", ("f",))
    assert cg.schedule("f").plan is None


def test_feeding_arrays_after_floats_writes_a_plan_for_arrays():
    cg = _fxy()
    plan = cg.compile("f")
    assert plan() == pytest.approx(0.41345423252018193)
    x = np.array([2.0, 0.5])
    value = cg.forward("f", feed={"x": x})
    grads = cg.backward("f")
    reference = _fxy()
    reference.use_plans = False
    assert _bits(value) == _bits(reference.forward("f", feed={"x": x}))
    assert _bits(grads["x"]) == _bits(reference.backward("f")["x"])
    assert set(cg.schedule("f").plans) == {(True, True), (False, True)}


def test_math_overflow_falls_back_to_numpys_answer_as_the_interpreter_does():
    cg = ComputationalGraph()
    cg.add_inputs(x=1000.0)
    cg.add_computation_node("y", "exp", ("x",))
    cg.compile("y")
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert cg.forward("y") == math.inf


def test_an_error_in_a_planned_pass_names_the_node():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones(3), b=np.ones(3))
    cg.add_computation_node("ab", "matmul", ("a", "b"))
    cg.add_computation_node("y", "sin", ("ab",))
    cg.compile("y")
    with pytest.raises(GraphError) as caught:
        cg.forward("y", feed={"b": np.ones(4)})
    assert "ab" in caught.value.nodes


def test_the_switch_turns_plans_off_for_one_graph():
    cg = _fxy()
    cg.use_plans = False
    for _ in range(5):
        cg.forward("f")
    assert cg.schedule("f").plan is None
    assert ComputationalGraph.use_plans is True


# --------------------------------------------------------------------------------------
# The code: only the library's names, no value printed
# --------------------------------------------------------------------------------------

HOSTILE = [
    "x'); import os; os.system('echo owned') #",
    "__import__('os')",
    "a\nb = 1",
    "{x0}",
    "v1",
    "G[0]",
    "k0",
]
ALLOWED = re.compile(
    r"(?:[vgcsk]\d+(?:_\d+)?|V|G|seed|make|(?:for|back)ward(?:_\d+)?|load|run|value_and_grad|"
    r"_value|output|def|_|"
    r"return|if|else|not|or|and|is|None|True|False|type|float|tuple|len|raise|"
    r"abs|pass)\Z"
)


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def test_the_source_holds_only_names_the_library_made_and_no_value():
    cg = ComputationalGraph()
    cg.add_inputs(**{"p": 1.5})
    for index, name in enumerate(HOSTILE):
        cg.add_input(name, 0.25 * (index + 1))
    cg.add_constant("c", 123.456)
    previous = "p"
    for index, name in enumerate([*HOSTILE, "c"]):
        node = f"{name}!{index}"
        cg.add_computation_node(node, "mul" if index % 2 else "add", (previous, name))
        previous = node
    cg.add_computation_node("powered", "pow", (previous, "p"))  # inlined on floats

    class Twice(Operation):  # a custom op: its forward and rule called as objects
        def forward(self, x):
            return 2.0 * x

        def pullback(self, p, upstream, output, x):
            return (2.0 * upstream,)

    cg.add_computation_node("out", Twice, ("powered",))
    plan = cg.compile("out")
    source = plan.source
    for token in _tokens(source):
        assert token.type != tokenize.STRING, token
        if token.type == tokenize.NAME:
            assert ALLOWED.match(token.string), token.string
        if token.type == tokenize.NUMBER:
            assert token.string.isdigit(), token.string  # positions only, never a value
    assert "123.456" not in source
    assert "owned" not in source
    assert sorted(plan.variables.values()) == sorted(n.name for n in cg.schedule("out").nodes)
    assert_same_passes(cg.schedule("out"))


# --------------------------------------------------------------------------------------
# Sigmoid, maximum, minimum and step: written as expressions, no call per node
# --------------------------------------------------------------------------------------


def _selections() -> ComputationalGraph:
    """Sigmoid, maximum and minimum forwards; maximum's, minimum's and relu's rules use step."""
    cg = ComputationalGraph()
    cg.add_inputs(x=1.5, y=-0.5)
    cg.add_computation_node("sx", "sigmoid", ("x",))
    cg.add_computation_node("hi", "maximum", ("x", "y"))
    cg.add_computation_node("lo", "minimum", ("x", "y"))
    cg.add_computation_node("r", "relu", ("lo",))
    cg.add_computation_node("shi", "sigmoid", ("hi",))
    cg.add_computation_node("a", "mul", ("sx", "r"))
    cg.add_computation_node("b", "add", ("shi", "a"))
    cg.add_computation_node("f", "sub", ("b", "hi"))
    return cg


def test_sigmoid_maximum_minimum_and_step_of_floats_are_written_with_no_call():
    writer = plan_writer.PlanWriter(_selections().schedule("f"), (True, True), True)
    source = writer.source(list(writer.functions()))
    called = [writer.constants[int(index)] for index in re.findall(r"\bk(\d+)\(", source)]
    assert math.exp in called  # sigmoid's, in its expression
    assert [f for f in called if getattr(f, "__module__", None) == numeric.__name__] == []
    exp = next(f"k{i}(" for i, value in enumerate(writer.constants) if value is math.exp)
    sigmoids = [line for line in source.splitlines() if ":=" in line]
    assert sigmoids
    assert all(line.count(exp) == 2 for line in sigmoids)  # once in each branch
    expressions = [line.strip() for line in source.splitlines() if " else " in line]
    assert len(expressions) >= 7  # two sigmoids, maximum, minimum, three steps
    for token in _tokens("\n".join(expressions)):  # their 1.0 and 0.0 are constants, not text
        assert token.type != tokenize.NUMBER, token.string


def test_an_operand_an_expression_reads_twice_stays_a_statement():
    # step(a - b, at_zero=0.5) reads a - b twice: nested into it, it would be computed twice.
    lines = trace_pullback(Maximum(), (True, True, True, True)).lines
    assert lines[0] == "{t}0 = {x0} - {x1}"
    assert lines[1].count("{t}0") == 2


EDGES = [0.0, -0.0, 1.5, -1.5, 800.0, -800.0, 1e308, -1e308, math.inf, -math.inf, math.nan]


def test_the_expressions_give_the_interpreters_bits_on_every_branch():
    # Signs, zeros of both signs, ties (x == y), exp's underflow, infinities and nan (which
    # maximum and minimum must pass on, as numpy does).
    schedule = _selections().schedule("f")
    for x, y in itertools.product(EDGES, EDGES):
        assert_same_passes(schedule, feed={"x": x, "y": y})


def _powers() -> ComputationalGraph:
    """x ** y with both trainable, then (x ** y) ** 2 as an expression writes it."""
    cg = ComputationalGraph()
    cg.add_inputs(x=2.0, y=3.0)
    cg.add_computation_node("p", "pow", ("x", "y"))
    cg.add_expression("f", "p ** 2")
    return cg


def test_pow_of_floats_is_written_out_although_its_rule_silences_numpy():
    # Pow's rule runs under p.errstate: on floats its statements are Python arithmetic,
    # which raises where numpy would warn, so it is written out, comparisons and where
    # as expressions; on arrays it would warn in the plan and not in the rule: called.
    floats = trace_pullback(Pow(), (True, True, True, True))
    assert floats is not None
    source = "\n".join(floats.lines)
    assert " == " in source
    assert " if " in source
    called = [floats.constants[int(i)] for i in re.findall(r"\{k(\d+)\}\(", source)]
    assert called == [math.pow, math.log]  # b * a^(b - 1) and y * log(a): math forms only
    assert trace_pullback(Pow(), (False, False, False, False)) is None
    plan = _powers().compile("f")
    assert plan.plan.inlined == 2 * 2  # both forwards and both rules


POWER_EDGES = [0.0, -0.0, 0.5, 1.0, 2.0, -2.0, -8.0, 1 / 3, -1.0, math.inf, -math.inf, math.nan]


def test_pow_gives_the_interpreters_bits_at_zero_infinity_and_a_negative_base():
    # 0 ** 0 (the guarded gradient), 0 ** negative (numpy's inf: the plan raises and the
    # pass runs interpreted), a negative base to a fraction (nan), infinities and nan.
    schedule = _powers().schedule("f")
    compiled(schedule, leaf_values(schedule, {}))
    for x, y in itertools.product(POWER_EDGES, POWER_EDGES):
        feed = {"x": x, "y": y}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = run_forward(schedule, feed)
            grads = run_backward(schedule, values, 1.0)
            plan_values = planned_forward(schedule, feed)
            plan_grads = planned_backward(schedule, plan_values, 1.0)
        assert list(map(_bits, plan_values)) == list(map(_bits, values)), feed
        assert list(map(_bits, plan_grads)) == list(map(_bits, grads)), feed


def test_a_rule_silencing_numpy_is_called_where_it_would_compute_on_arrays():
    class Quiet(Operation):
        traced = True

        def forward(self, x):
            return x

        def pullback(self, p, upstream, output, x):
            with p.errstate(divide="ignore"):
                return (p.log(x) * upstream,)

    assert trace_pullback(Quiet(), (True, True, True)) is not None
    assert trace_pullback(Quiet(), (True, True, False)) is None  # log of a maybe-array


def test_relu_of_a_float_is_written_as_its_expression():
    snippet = trace_forward(ReLU(), (True,))
    assert snippet.lines == ("{t}0 = {k0} if {x0} <= {k0} else {x0}",)
    assert snippet.scalars == (True,)
    cg = ComputationalGraph()
    cg.add_inputs(x=-0.5, y=2.0)
    cg.add_computation_node("r", "relu", ("x",))
    cg.add_computation_node("s", "relu", ("y",))
    cg.add_computation_node("f", "mul", ("r", "s"))
    for x in (-0.5, -0.0, 0.0, 0.5, math.inf, -math.inf, math.nan):
        assert_same_passes(cg.schedule("f"), feed={"x": x})


def test_a_comparison_of_floats_is_a_bool_and_where_picks_by_it():
    writer = Writer()
    x, y = writer.symbol("{x0}", True), writer.symbol("{x1}", True)
    chosen = writer.where(writer.logical_and(writer.greater(x, y), writer.less(x, 2.0)), x, y)
    assert writer.lines[-1] == "{t}3 = {x0} if {t}2 else {x1}"
    assert chosen.scalar
    # An int constant takes numpy's path in the primitive (a numpy bool): so it is called.
    compared = writer.equal(x, 0)
    assert not compared.boolean
    assert writer.lines[-1].startswith("{t}4 = {k")


def test_a_ten_thousand_node_graph_compiles_and_gives_the_same_numbers():
    # Its compile time is measured in benchmarks/bench_random_dag.py, not here.
    cg = _scalar_graph(10_000, seed=1)
    assert_same_passes(cg.schedule("n9999"))


@pytest.mark.slow
def test_a_long_chain_compiles_in_chunks_without_recursion():
    cg = ComputationalGraph()
    cg.add_inputs(x0=1.0)
    for i in range(1, 50_001):
        cg.add_computation_node(f"x{i}", "sin", (f"x{i - 1}",))
    plan = cg.compile("x50000")
    assert plan.source.count("def forward_") == 50_000 // plan_writer.CHUNK  # (under 100,000)
    assert_same_passes(cg.schedule("x50000"))


def test_an_elementwise_op_that_gives_a_numpy_scalar_for_floats_gets_a_plan_that_checks_nothing():
    from cgraph.ops.kinds import Elementwise

    class Half(Elementwise):
        def forward(self, x):
            return np.float64(x) / 2  # not a Python float: the plan must not take it for one

        def pullback(self, p, upstream, output, x):
            return (upstream / 2,)

    def graph():
        cg = ComputationalGraph()
        cg.add_inputs(x=3.0)
        cg.add_computation_node("h", Half, ("x",))
        cg.add_computation_node("y", "exp", ("h",))
        return cg

    planned, interpreted = graph(), graph()
    interpreted.use_plans = False
    planned.compile("y")
    assert _bits(planned.forward("y")) == _bits(interpreted.forward("y"))
    assert planned.backward("y") == interpreted.backward("y")
    assert planned.schedule("y").plan.trust_outputs is False
    assert _bits(planned.forward("y")) == _bits(interpreted.forward("y"))


def test_value_and_grad_is_forward_and_backward_as_a_pure_function():
    cg, reference = _fxy(), _fxy()
    reference.use_plans = False
    f = cg.compile("f")
    value, grads = f.value_and_grad(feed={"y": -3.0})
    assert value == reference.forward("f", feed={"y": -3.0})
    assert grads == reference.backward("f")
    assert cg.nodes["f"].output is None  # the graph kept nothing
    assert cg.last_pass is None
    x = np.array([1.0, 2.0])
    value, grads = f.value_and_grad(feed={"x": x})
    assert _bits(value) == _bits(reference.forward("f", feed={"x": x}))
    assert _bits(grads["x"]) == _bits(reference.backward("f")["x"])
    cg.add_computation_node("g", "neg", ("f",))  # a new structure: compiled again
    assert f.value_and_grad() == (reference.forward("f"), reference.backward("f"))


def test_value_and_grad_names_the_node_that_fails():
    cg = ComputationalGraph()
    cg.add_inputs(a=np.ones(3), b=np.ones(3))
    cg.add_computation_node("ab", "matmul", ("a", "b"))
    f = cg.compile("ab")
    with pytest.raises(GraphError) as caught:
        f.value_and_grad(feed={"b": np.ones(4)})
    assert "ab" in caught.value.nodes


def test_compiling_a_root_that_is_not_a_node_names_it():
    cg = _fxy()
    with pytest.raises(UnknownNodeError) as caught:
        cg.compile("fx")
    assert "fx" in caught.value.nodes
    assert "'f'" in str(caught.value)  # the closest name is suggested

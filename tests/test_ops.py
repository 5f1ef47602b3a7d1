"""Every registered operation, against central differences and torch autograd.

The op list is the registry, ``cgraph.OPERATIONS`` (aliases counted once), so a
new op is tested as soon as it is registered, and the suite fails until it has
a row in the torch oracle (``tests/oracle.py``) and the domain table
(``tests/strategies.py``). Each op is checked on Python floats and on arrays
that broadcast; then come the cases a rule can get wrong on its own: an input
used twice, saturation, infinities, kinks and ties, and float32.
"""

from __future__ import annotations

import functools
import operator
import sys
import warnings

import numpy as np
import pytest
from conftest import HAS_TORCH, needs_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import (
    DOMAINS,
    MASK_OPS,
    TENSOR_CASES,
    Interval,
    OpCase,
    op_cases,
    values_in,
)

from cgraph import OPERATIONS, ComputationalGraph, Operation, numerical_gradient, ops
from cgraph.ops import numeric

if HAS_TORCH:  # only the tests marked needs_torch use the oracle (importing it needs torch)
    from oracle import TORCH_OPS, torch, torch_function, torch_jvp, torch_reference


def _ships_with_cgraph(cls: type[Operation]) -> bool:
    """Whether ``cls`` is defined at the top level of a cgraph module (not by a test or doctest)."""
    module = sys.modules.get(cls.__module__)
    return cls.__module__.startswith("cgraph.") and getattr(module, cls.__qualname__, None) is cls


OP_CLASSES = sorted(
    {cls for cls in OPERATIONS.values() if _ships_with_cgraph(cls)}, key=lambda cls: cls.name
)
ELEMENTWISE_BINARY_OPS = [cls for cls in OP_CLASSES if cls.arity == 2 and cls in DOMAINS]


def _shape_id(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "float"


def _op_cases() -> list:
    return [
        pytest.param(case, id=case.id)
        for cls in OP_CLASSES
        if cls in DOMAINS or cls in TENSOR_CASES
        for case in op_cases(cls)
    ]


OP_CASES = _op_cases()
#: ``@by_name("op_class", classes)``: parametrise over op classes, with their names as ids.
by_name = functools.partial(pytest.mark.parametrize, ids=lambda cls: cls.name)


def _graph_of(
    op: Operation | type[Operation] | str,
    arguments: list,
    inputs: tuple[str, ...] = (),
    fixed: tuple[int, ...] = (),
) -> ComputationalGraph:
    """A graph whose node ``y`` applies ``op`` to inputs ``x0, x1, ...`` (or to ``inputs``).

    The arguments at the positions in ``fixed`` (labels) are not trainable.
    """
    cg = ComputationalGraph()
    names = [f"x{i}" for i in range(len(arguments))]
    for index, (name, value) in enumerate(zip(names, arguments, strict=True)):
        cg.add_input(name, value, trainable=index not in fixed)
    cg.add_computation_node("y", op, inputs or names)
    return cg


def _forward_backward(cg: ComputationalGraph) -> tuple:
    """The output of ``y`` and its gradients, with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cg.forward("y"), cg.backward("y")


# --------------------------------------------------------------------------------------
# Every op
# --------------------------------------------------------------------------------------


@needs_torch
@by_name("op_class", OP_CLASSES)
def test_registered_op_has_an_oracle_and_test_cases(op_class):
    assert op_class in TORCH_OPS, (
        f"registered op {op_class.name!r} has no torch oracle: add it to tests/oracle.py"
    )
    assert op_class in DOMAINS or op_class in TENSOR_CASES or op_class in MASK_OPS, (
        f"registered op {op_class.name!r} has no domain: add it to DOMAINS or TENSOR_CASES "
        "in tests/strategies.py"
    )


@needs_torch
@by_name("op_class", MASK_OPS)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_comparisons_make_the_masks_numpy_and_torch_make_and_pass_no_gradient(op_class, data):
    # Ties on purpose: small integers compare equal often.
    values = st.integers(-2, 2).map(float)
    a, b = (
        data.draw(st.one_of(values, hnp.arrays(np.float64, (2, 3), elements=values)))
        for _ in range(2)
    )
    if op_class is ops.LogicalAnd:
        a, b = np.asarray(a) > 0, np.asarray(b) > 0
    cg = _graph_of(op_class, [a, b])
    mask = cg.forward("y")
    expected = TORCH_OPS[op_class](op_class(), torch.as_tensor(a), torch.as_tensor(b)).numpy()
    np.testing.assert_array_equal(mask, expected)
    assert np.result_type(mask) == np.bool_
    cg.add_computation_node("chosen", "where", ("y", "x0", "x1"))
    cg.add_computation_node("total", "sum", ("chosen",))
    if op_class is not ops.LogicalAnd:  # masks of floats: the gradient flows by the mask only
        cg.forward("total")
        gradients = cg.backward("total")
        chosen = np.broadcast_to(expected, np.broadcast_shapes(np.shape(a), np.shape(b)))
        for name, value, share in (("x0", a, chosen), ("x1", b, ~chosen)):
            np.testing.assert_array_equal(
                gradients[name], numeric.sum_to(share.astype(float), np.shape(value))
            )


@by_name("op_class", OP_CLASSES)
def test_registered_op_states_its_derivative_for_every_mode(op_class):
    def states(method: str) -> bool:
        return getattr(op_class, method) is not getattr(Operation, method)

    assert states("pullback") or states("backward_graph"), (
        f"registered op {op_class.name!r} has no pullback: write its derivative as "
        "pullback(self, p, upstream, output, *inputs) beside forward"
    )
    assert states("pushforward") or states("jvp"), (
        f"registered op {op_class.name!r} has no pushforward: subclass Elementwise, LinearMap "
        "or Multilinear (cgraph.ops.kinds), or write pushforward beside pullback"
    )


@needs_torch
def test_tables_hold_only_registered_ops():
    registered = set(OPERATIONS.values())
    tables = {*TORCH_OPS, *DOMAINS, *TENSOR_CASES, *MASK_OPS}
    stale = sorted(cls.__name__ for cls in tables if cls not in registered)
    assert not stale, f"tests/oracle.py or tests/strategies.py name unregistered ops {stale}"


@needs_torch
@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_backward_matches_finite_differences_and_torch(case, data):
    cg = case.graph(case.draw(data)[1])
    _, gradients = _forward_backward(cg)
    numerical = numerical_gradient(cg, "y")
    reference = torch_reference(cg, "y").gradients
    assert gradients.keys() == reference.keys()
    assert len(gradients) == len(case.arguments) - len(case.fixed)
    for name, gradient in gradients.items():
        np.testing.assert_allclose(
            gradient,
            numerical[name],
            rtol=1e-6,
            atol=1e-6,
            err_msg=f"{name}: backward vs finite differences",
        )
        np.testing.assert_allclose(
            gradient, reference[name], rtol=1e-12, atol=1e-14, err_msg=f"{name}: backward vs torch"
        )


@needs_torch
@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_forward_matches_torch_and_gradients_are_shaped_like_inputs(case, data):
    _, arguments = case.draw(data)
    cg = case.graph(arguments)
    output, gradients = _forward_backward(cg)
    expected = torch_reference(cg, "y").values["y"]
    np.testing.assert_allclose(output, expected, rtol=1e-12, atol=1e-15)
    assert np.shape(output) == expected.shape
    if expected.shape == ():  # a single float64 number is a Python float, as inputs are
        assert type(output) is float
    for index, argument in enumerate(arguments):
        if index in case.fixed:
            continue
        gradient = gradients[f"x{index}"]
        assert type(gradient) is type(argument)
        assert np.shape(gradient) == np.shape(argument)
        assert np.result_type(gradient) == np.float64


@needs_torch
@pytest.mark.parametrize(
    "op_class",
    [pytest.param(cls, id=cls.name) for cls in OP_CLASSES if cls in DOMAINS or cls in TENSOR_CASES],
)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_float32_stays_float32_through_forward_and_backward(op_class, data):
    case = (
        TENSOR_CASES[op_class][0]
        if op_class in TENSOR_CASES
        else OpCase(
            op_class,
            ((2, 3), (3,))[: op_class.arity],
            DOMAINS[op_class].arguments,
            admits=DOMAINS[op_class].admits,
        )
    )
    cg = case.graph(case.draw(data, np.float32)[1])
    output, gradients = _forward_backward(cg)
    reference = torch_reference(cg, "y")
    assert np.result_type(output) == np.float32
    np.testing.assert_allclose(output, reference.values["y"], rtol=1e-5, atol=1e-6)
    for name, gradient in gradients.items():
        assert gradient.dtype == np.float32, f"gradient of {name} is {gradient.dtype}"
        np.testing.assert_allclose(gradient, reference.gradients[name], rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------
# An input used twice by one node
# --------------------------------------------------------------------------------------


@needs_torch
@by_name("op_class", ELEMENTWISE_BINARY_OPS)
@pytest.mark.parametrize("shape", [(), (2, 3)], ids=_shape_id)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_input_used_twice_gets_both_contributions(op_class, shape, data):
    interval = functools.reduce(operator.and_, DOMAINS[op_class].arguments)
    cg = _graph_of(op_class, [data.draw(values_in(interval, shape, scalar=True))], ("x0", "x0"))
    _, gradients = _forward_backward(cg)
    np.testing.assert_allclose(
        gradients["x0"], numerical_gradient(cg, "y")["x0"], rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        gradients["x0"], torch_reference(cg, "y").gradients["x0"], rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize(
    ("op_name", "x", "expected"),
    [
        ("mul", 3.0, 6.0),  # d(x x)/dx = 2 x
        ("div", 3.0, 0.0),  # d(x / x)/dx = 0
        ("pow", 2.0, 4.0 * (1.0 + np.log(2.0))),  # d(x^x)/dx = x^x (1 + ln x)
    ],
)
def test_input_used_twice_seed_examples(op_name, x, expected):
    cg = _graph_of(op_name, [x], ("x0", "x0"))
    assert _forward_backward(cg)[1]["x0"] == pytest.approx(expected, rel=1e-15, abs=1e-15)


# --------------------------------------------------------------------------------------
# Numerical edge cases: saturation, infinities, kinks and ties
# --------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize(("op_name", "limits"), [("sigmoid", (0.0, 1.0)), ("tanh", (-1.0, 1.0))])
@pytest.mark.parametrize("x", [1000.0, -1000.0, 1e4, -1e4])
@pytest.mark.parametrize("as_array", [False, True], ids=["float", "array"])
def test_saturating_activations_are_exact_and_quiet_at_large_inputs(op_name, limits, x, as_array):
    cg = _graph_of(op_name, [np.array([x, x]) if as_array else x])
    output, gradients = _forward_backward(cg)  # no overflow warning either
    np.testing.assert_array_equal(output, limits[x > 0])
    np.testing.assert_array_equal(gradients["x0"], 0.0)
    np.testing.assert_array_equal(gradients["x0"], torch_reference(cg, "y").gradients["x0"])


NUMPY_FUNCTIONS = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "inv": np.reciprocal,
    "div": np.divide,
    "pow": np.power,
}


@pytest.mark.parametrize(
    ("op_name", "arguments"),
    [
        ("exp", (1000.0,)),
        ("log", (0.0,)),
        ("log", (-1.0,)),
        ("sqrt", (-1.0,)),
        ("inv", (0.0,)),
        ("div", (1.0, 0.0)),
        ("div", (0.0, 0.0)),
        ("pow", (0.0, -1.0)),
        ("pow", (-8.0, 1 / 3)),
    ],
    ids=str,
)
def test_float_outside_domain_gives_numpys_answer_as_a_0d_array_does(op_name, arguments):
    with np.errstate(all="ignore"):
        expected = NUMPY_FUNCTIONS[op_name](*map(np.float64, arguments))
    results = []
    for values in (list(arguments), [np.array(a) for a in arguments]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            output = _graph_of(op_name, values).forward("y")
        results.append((output, sorted(str(w.message) for w in caught)))
    (float_output, float_warnings), (array_output, array_warnings) = results
    assert type(float_output) is float
    np.testing.assert_array_equal(float_output, expected)
    np.testing.assert_array_equal(array_output, expected)
    assert float_warnings == array_warnings


@needs_torch
@by_name("op_class", [cls for cls in ELEMENTWISE_BINARY_OPS if DOMAINS[cls].tie_gap])
@pytest.mark.parametrize("as_array", [False, True], ids=["float", "array"])
def test_ties_split_the_gradient_equally_as_torch(op_class, as_array):
    a, b = (np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])) if as_array else (1.0, 1.0)
    cg = _graph_of(op_class, [a, b])
    _, gradients = _forward_backward(cg)
    assert np.ravel(gradients["x0"])[0] == np.ravel(gradients["x1"])[0] == 0.5
    reference = torch_reference(cg, "y").gradients
    for name, gradient in gradients.items():
        np.testing.assert_array_equal(gradient, reference[name])


@needs_torch
@pytest.mark.parametrize("op_name", ["relu", "abs"])
@pytest.mark.parametrize("as_array", [False, True], ids=["float", "array"])
def test_kink_at_zero_has_gradient_zero_as_torch(op_name, as_array):
    cg = _graph_of(op_name, [np.array([0.0, -2.0, 3.0]) if as_array else 0.0])
    gradient = _forward_backward(cg)[1]["x0"]
    assert np.ravel(gradient)[0] == 0.0
    np.testing.assert_array_equal(gradient, torch_reference(cg, "y").gradients["x0"])


@needs_torch
@pytest.mark.parametrize("exponent", [0.0, 0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("as_array", [False, True], ids=["float", "array"])
def test_pow_at_base_zero_has_exponent_gradient_zero_as_torch(exponent, as_array):
    base = np.zeros(2) if as_array else 0.0
    cg = _graph_of("pow", [base, np.full(2, exponent) if as_array else exponent])
    _, gradients = _forward_backward(cg)
    np.testing.assert_array_equal(gradients["x1"], 0.0)
    reference = torch_reference(cg, "y").gradients
    for name, gradient in gradients.items():  # the base's gradient too: 0, 1 or inf
        np.testing.assert_array_equal(gradient, reference[name])


# --------------------------------------------------------------------------------------
# Forward mode: every op's tangent rule (pushforward), on numbers and as a graph
# --------------------------------------------------------------------------------------

#: The step of the central differences along a tangent, as numerical_gradient's.
JVP_EPS = 1e-6


@needs_torch
@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_jvp_matches_torch_and_finite_differences_along_the_tangent(case, data):
    _, arguments = case.draw(data)
    cg = case.graph(arguments)
    trainable = [f"x{i}" for i in range(len(arguments)) if i not in case.fixed]
    # A random non-empty subset of the inputs moves; the others' tangents are None (zero).
    moving = data.draw(
        st.lists(st.sampled_from(trainable), min_size=1, unique=True), label="moving"
    )
    tangents = {
        name: data.draw(
            values_in(Interval(-1.0, 1.0), np.shape(arguments[int(name[1:])]), scalar=True),
            label=f"tangent of {name}",
        )
        for name in moving
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, tangent = cg.jvp("y", tangents=tangents)
    assert np.shape(tangent) == np.shape(value)
    assert type(tangent) is type(value)
    expected_value, expected = torch_jvp(cg, "y", tangents)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        tangent, expected, rtol=1e-12, atol=1e-14, err_msg="jvp vs torch.func.jvp"
    )
    point = {name: cg.inputs[name].output for name in trainable}
    up = cg.forward("y", feed={n: point[n] + JVP_EPS * t for n, t in tangents.items()})
    down = cg.forward("y", feed={n: point[n] - JVP_EPS * t for n, t in tangents.items()})
    np.testing.assert_allclose(
        tangent,
        (np.asarray(up) - down) / (2 * JVP_EPS),
        rtol=1e-6,
        atol=1e-6,
        err_msg="jvp vs finite differences",
    )


@needs_torch
@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_tangent_graph_computes_what_jvp_does_and_torch_agrees(case, data):
    _, arguments = case.draw(data)
    cg = case.graph(arguments)
    trainable = _trainable(case, arguments)
    moving = data.draw(
        st.lists(st.sampled_from(trainable), min_size=1, unique=True), label="moving"
    )
    tangents = {
        name: data.draw(
            values_in(Interval(-1.0, 1.0), np.shape(arguments[int(name[1:])]), scalar=True),
            label=f"tangent of {name}",
        )
        for name in moving
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, tangent = cg.jvp("y", tangents=tangents)
        tg = cg.tangent_graph("y", tangents)
        symbolic = tg.forward("tangent/y/y")
    assert np.shape(symbolic) == np.shape(tangent)
    np.testing.assert_allclose(
        symbolic, tangent, rtol=1e-13, atol=1e-14, err_msg="tangent graph vs jvp"
    )
    np.testing.assert_allclose(
        symbolic,
        torch_jvp(cg, "y", tangents)[1],
        rtol=1e-12,
        atol=1e-14,
        err_msg="tangent graph vs torch.func.jvp",
    )


# --------------------------------------------------------------------------------------
# Second order: every op's symbolic rule (pullback on terms), and hvp through it
# --------------------------------------------------------------------------------------

#: Ops whose torch function has no double backward, so torch cannot give their hvp;
#: they are checked against finite differences of the gradient alone.
NO_TORCH_HVP = {ops.Hinge: "torch's multi_margin_loss has no double backward"}


def _torch_hvp_is_right(case: OpCase, arguments: list) -> bool:
    """Whether torch's hvp is the true one: torch's pow masks d/da at b = 0, which zeroes the
    mixed derivative d2(a^b)/da db = a^(b-1) (1 + b ln a) there, so those points are skipped."""
    if case.op_class in NO_TORCH_HVP:
        return False
    return case.op_class is not ops.Pow or not np.any(np.asarray(arguments[1]) == 0)


def _trainable(case: OpCase, arguments: list) -> list[str]:
    return [f"x{i}" for i in range(len(arguments)) if i not in case.fixed]


@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_gradient_graph_computes_what_backward_does(case, data):
    if case.op_class.name in ("lgamma", "digamma", "polygamma"):
        pytest.importorskip("scipy", reason=f"{case.op_class.name} needs scipy.special")
    _, arguments = case.draw(data)
    cg = case.graph(arguments)
    _, gradients = _forward_backward(cg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gg = cg.gradient_graph("y", _trainable(case, arguments))
        for name, gradient in gradients.items():
            symbolic = gg.forward(f"grad/y/{name}")
            assert np.shape(symbolic) == np.shape(gradient), name
            np.testing.assert_allclose(
                symbolic,
                gradient,
                rtol=1e-13,
                atol=1e-14,
                err_msg=f"{name}: gradient graph vs backward",
            )


def _projected(cg: ComputationalGraph, data: st.DataObject) -> str:
    """Add s = sum(y * w) for a random constant w shaped like y: a scalar mixing y's elements."""
    shape = np.shape(cg.forward("y"))
    cg.add_constant(
        "w", data.draw(values_in(Interval(-1.0, 1.0), shape, scalar=True), label="projection")
    )
    cg.add_computation_node("yw", "mul", ("y", "w"))
    cg.add_computation_node("s", "sum", ("yw",))
    return "s"


@needs_torch
@pytest.mark.parametrize("case", OP_CASES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_hvp_matches_torch_and_finite_differences_of_the_gradient(case, data):
    _, arguments = case.draw(data)
    cg = case.graph(arguments)
    root = _projected(cg, data)
    names = _trainable(case, arguments)
    v = [
        data.draw(
            values_in(Interval(-1.0, 1.0), np.shape(cg.inputs[name].output), scalar=True),
            label=f"v of {name}",
        )
        for name in names
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        product = cg.hvp(root, names, v)
    assert len(product) == len(names)
    if _torch_hvp_is_right(case, arguments):
        primals = tuple(torch.tensor(np.asarray(cg.inputs[n].output, np.float64)) for n in names)
        _, expected = torch.autograd.functional.hvp(
            torch_function(cg, root, names),
            primals,
            tuple(torch.tensor(np.asarray(part, np.float64)) for part in v),
        )
        for name, got, want in zip(names, product, expected, strict=True):
            assert np.shape(got) == np.shape(cg.inputs[name].output)
            np.testing.assert_allclose(
                got,
                want.numpy(),
                rtol=1e-10,
                atol=1e-12,
                err_msg=f"{name}: hvp vs torch.autograd.functional.hvp",
            )
    point = {name: cg.inputs[name].output for name in names}
    step = dict(zip(names, v, strict=True))
    grads = []
    for sign in (1, -1):
        cg.forward(root, feed={n: point[n] + sign * JVP_EPS * step[n] for n in names})
        grads.append(cg.backward(root))
    for name, got in zip(names, product, strict=True):
        numerical = (np.asarray(grads[0][name]) - grads[1][name]) / (2 * JVP_EPS)
        np.testing.assert_allclose(
            got,
            numerical,
            rtol=1e-5,
            atol=1e-5,
            err_msg=f"{name}: hvp vs finite differences of backward",
        )

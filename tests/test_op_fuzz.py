"""A fuzz of every registered op with odd parameters and odd inputs: GraphErrors only.

For every built-in op in ``cgraph.OPERATIONS`` (aliases counted once, as in
``tests/test_ops.py``), each case declares ``y = op(x0, x1, ...)`` and runs
``forward``, ``backward``, ``jvp``, ``gradient_graph`` and a forward of the
gradient graph's gradients; forward and backward run twice, the second time
with ``check_finite``. The property is the project's rule for everything a
user can cause: every call succeeds or raises a :class:`cgraph.GraphError`
(never a raw TypeError, IndexError, OverflowError, numpy's AxisError... nor a
crash of the interpreter), and a call that raises leaves the graph exactly as
it was, so a refused declaration adds nothing.

Three kinds of case start from the op's valid cases in ``tests/strategies.py``
(so that forward and backward get to run):

- every parameter the constructor takes (read with ``inspect.signature``), and
  an unknown keyword, set to each of ``ODD_VALUES`` in turn in the first valid
  case: None, strings, huge and negative ints, nan and inf, bools, nested
  lists, dicts, numpy scalars and arrays, slices...;
- every input of up to three valid cases made odd in each of the ways of
  ``ODD_INPUTS``: int, bool, float32 and float16 arrays, nan, inf and huge
  values, 0-d, empty and high-rank arrays, mismatched shapes, Python ints and
  bools, labels out of range; given as a constant, a fixed or a trainable
  input; one input too many or too few;
- hypothesis: any valid case with up to three such changes at once, or
  parameters and inputs drawn from nothing.

``TALLY`` counts the cases tried, the calls made and the escapes. The census,
``python tests/test_op_fuzz.py [examples per op] [seed]``, runs them all
without stopping at the first escape, and prints "cases tried / handled" and
one line per class of escape: about 23,000 cases with the defaults, in 20 s.
"""

from __future__ import annotations

import functools
import inspect
import math
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from graph_state import assert_same_state, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    DOMAINS,
    TENSOR_CASES,
    Interval,
    Invertible,
    Labels,
    Mask,
    OpCase,
    PositiveDefinite,
    Spaced,
    op_cases,
)

import cgraph
from cgraph import OPERATIONS, ComputationalGraph, Operation


def _ships_with_cgraph(cls: type[Operation]) -> bool:
    """Whether ``cls`` is defined at the top level of a cgraph module (not by a test or doctest)."""
    module = sys.modules.get(cls.__module__)
    return cls.__module__.startswith("cgraph.") and getattr(module, cls.__qualname__, None) is cls


OP_CLASSES = sorted(
    {cls for cls in OPERATIONS.values() if _ships_with_cgraph(cls)}, key=lambda cls: cls.name
)

#: Hypothesis examples per op (the sweeps try every combination of theirs).
EXAMPLES = 50
#: Cases tried, calls made and escapes seen in this process (pytest: this worker's share).
TALLY: Counter[str] = Counter()
#: An escape: its class ("declare tril: builtins.OverflowError"), the case, the message.
Found = list[tuple[str, str, str]]

# --------------------------------------------------------------------------------------
# Odd parameters
# --------------------------------------------------------------------------------------

NAN, INF = math.nan, math.inf

#: Values that fit no parameter, or only by accident; tried for every parameter.
ODD_VALUES: list[Any] = [
    None,
    "",
    "abc",
    "none",
    "-1",
    b"ij",
    -1,
    -7,
    -(10**6),
    10**5,
    10**20,
    2**63,
    10**400,
    -(10**400),
    0.5,
    -2.5,
    1e300,
    NAN,
    INF,
    -INF,
    True,
    False,
    1 + 2j,
    [],
    (),
    [[1, 2], [3]],
    (1, (2, 3)),
    [0, -1],
    (0, 0),
    (None,),
    ("a",),
    (1.5,),
    {},
    {"axis": 0},
    {1, 2},
    np.int64(2),
    np.int8(-1),
    np.uint64(2**64 - 1),
    np.float64(NAN),
    np.float32(0.5),
    np.bool_(True),
    np.array(1),
    np.array(1.5),
    np.array([0, 1]),
    np.array([[0.5]]),
    np.array([], dtype=int),
    np.array(["a"]),
    np.zeros((2, 0)),
    slice(None),
    slice(1, 10**30),
    slice(0, 3, 0),
    Ellipsis,
    range(3),
    np.timedelta64(1, "D"),
    object(),
    print,
]
#: Keywords no built-in op takes (the method's own argument names are Python's to refuse).
UNKNOWN_KEYWORDS = ["axes", "Axis", "bogus", "keepdim", "dtype", "__class__", "_private"]

SMALL_INTS = st.integers(-4, 4)
AXES = st.one_of(st.none(), SMALL_INTS, st.lists(SMALL_INTS, max_size=3).map(tuple))
SHAPE = st.one_of(st.integers(-2, 8), st.lists(st.integers(-1, 6), max_size=4).map(tuple))
SIZES = st.one_of(st.integers(-1, 4), st.lists(st.integers(-1, 5), max_size=3).map(tuple))
BASIC_INDEX = st.one_of(
    st.integers(-5, 5),
    st.just(Ellipsis),
    st.none(),
    st.builds(
        slice,
        st.one_of(st.none(), SMALL_INTS),
        st.one_of(st.none(), SMALL_INTS),
        st.one_of(st.none(), st.integers(-2, 2)),
    ),
    st.lists(st.integers(-5, 5), max_size=4),
    st.lists(st.booleans(), min_size=1, max_size=4).map(np.array),
)
INDEX = st.one_of(BASIC_INDEX, st.lists(BASIC_INDEX, max_size=3).map(tuple))
FLOATS = st.sampled_from([0.0, 0.5, 1.0, -1.0, 2.0, 20.0, -0.0, 1e-300, 1e300, NAN, INF, -INF])
SUBSCRIPTS = st.sampled_from(
    [
        "ij,jk->ik",
        "ij,jk",
        "i,i",
        "i,i->",
        "ii",
        "ii->i",
        "ij->j",
        "ij->ji",
        "i->",
        "->",
        "",
        "...ij,...jk->...ik",
        "...j,...j->...",
        "ij,k->ikj",
        "bij,bjk->bik",
        "ij",
        "i",
        "ijklmn",
        "ij,jk->ikk",
        "ij->z",
        "ij->iij",
        "i,j,k,l",
        "a-b",
        "ÿ",
        "ij,,jk",
        "...",
        "i...i",
        "ij->",
        "ij->...",
        "IJ,JK->IK",
        "i j",
        "ij->ij->ij",
    ]
)

#: Plausible values by parameter name, for hypothesis: near the valid ones and just past them.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "axis": AXES,
    "axes": AXES,
    "shape": SHAPE,
    "size": SIZES,
    "index": INDEX,
    "keepdims": st.booleans(),
    "reverse": st.booleans(),
    "accumulate": st.booleans(),
    "kernel_size": SIZES,
    "stride": st.one_of(st.none(), SIZES),
    "padding": SIZES,
    "subscripts": SUBSCRIPTS,
    "reduction": st.sampled_from(["mean", "sum", "none", "Mean", "avg", ""]),
    "approximate": st.sampled_from(["none", "tanh", "exact", "erf", "TANH"]),
    "p": st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 1.0, NAN])),
    "seed": st.one_of(st.integers(-2, 3), st.integers(2**63, 2**70)),
    "n": st.integers(-2, 6),
    "ddof": st.integers(-2, 4),
    "k": st.integers(-4, 4),
    "ord": st.sampled_from([None, 1, 2, 3, 0.5, 0, -1, -2, INF, -INF, NAN, "fro", "nuc"]),
}
DEFAULT_PLAUSIBLE = st.one_of(FLOATS, SMALL_INTS)


def parameter_names(cls: type[Operation]) -> list[str]:
    """The keyword names the op's constructor takes (none without a signature to read)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


# --------------------------------------------------------------------------------------
# Odd inputs
# --------------------------------------------------------------------------------------

Inputs = list[tuple[Any, str]]  # each input's value and kind: trainable, fixed or constant
KINDS = ("trainable", "fixed", "constant")


def _quietly(make: Callable[[np.ndarray], Any]) -> Callable[[Any], Any]:
    """``make`` applied to the value as an array, casting nan to int and the like in silence
    (the value as it is where that fails: 10**30 as an int64)."""

    def odd(value: Any) -> Any:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                return make(np.asarray(value))
            except (OverflowError, TypeError, ValueError):
                return value

    return odd


def _filled(fill: Any, dtype: Any = None) -> Callable[[Any], Any]:
    return _quietly(
        lambda a: np.full(a.shape, fill, dtype or (a.dtype if a.dtype.kind == "f" else np.float64))
    )


def _mismatched(a: np.ndarray) -> np.ndarray:
    """One more element along the last axis (a 1-element vector for a scalar)."""
    return np.ones((*a.shape[:-1], a.shape[-1] + 1) if a.ndim else (2,))


#: The ways an input is made odd, each applied to a valid input of every op.
ODD_INPUTS: dict[str, Callable[[Any], Any]] = {
    "int64": _quietly(lambda a: a.astype(np.int64)),
    "bool": _quietly(lambda a: a.astype(bool)),
    "float32": _quietly(lambda a: a.astype(np.float32)),
    "float16": _quietly(lambda a: a.astype(np.float16)),
    "uint8": _quietly(lambda a: a.astype(np.uint8)),
    "nan": _filled(NAN),
    "inf": _filled(INF),
    "-inf": _filled(-INF),
    "huge": _filled(1e308),
    "float16 inf": _filled(INF, np.float16),
    "subnormal": _filled(5e-324),
    "zeros": _filled(0.0),
    "halves": _filled(1.5),
    "label -1": _filled(-1, np.int64),
    "label 7": _filled(7, np.int64),
    "label 2**62": _filled(2**62, np.int64),
    "int64 max": _filled(np.iinfo(np.int64).max, np.int64),
    "0-d": _quietly(lambda a: a.reshape(-1)[:1].reshape(()) if a.size else np.array(1.0)),
    "0-d int": lambda value: np.array(3),
    "python float": lambda value: 2.5,
    "python int": lambda value: 3,
    "python bool": lambda value: True,
    "huge python int": lambda value: 10**30,
    "empty (0,)": lambda value: np.zeros(0),
    "empty (2, 0)": lambda value: np.zeros((2, 0)),
    "empty like": _quietly(lambda a: np.zeros((0, *a.shape[1:]), a.dtype)),
    "int empty": lambda value: np.zeros((0, 3), np.int64),
    "rank + 3": _quietly(lambda a: a.reshape((1, 1, 1, *a.shape))),
    "6-d": lambda value: np.ones((1, 2, 1, 2, 1, 2)),
    "mismatched": _quietly(_mismatched),
    "transposed": _quietly(
        lambda a: (
            np.ascontiguousarray(a.T) if a.ndim > 1 else (a[1:] if a.ndim else np.ones((3, 1)))
        )
    ),
    "large array": lambda value: np.ones((64, 64)),
}


def _baseline_value(kind: Any, shape: tuple[int, ...]) -> Any:
    """A valid value of one argument of a case in tests/strategies.py, without hypothesis."""
    size = math.prod(shape)
    steps = (np.arange(size, dtype=float) % 7 + 1) / 8  # in (0, 1), varied
    if isinstance(kind, Interval):
        low, high = kind.low, kind.high
        values = low + (high - low) * steps
        values = np.where(
            abs(values) < kind.gap, kind.gap if high >= kind.gap else -kind.gap, values
        )
    elif isinstance(kind, Labels):
        values = np.arange(size) % kind.classes
        return int(values[0]) if shape == () else values.reshape(shape)
    elif isinstance(kind, Mask):
        values = np.arange(size) % 2 == 0
        return bool(values[0]) if shape == () else values.reshape(shape)
    elif isinstance(kind, Spaced):
        values = (np.arange(size)[::-1] - size / 2) * kind.gap
    elif isinstance(kind, (Invertible, PositiveDefinite)):
        n = shape[-1]
        pattern = (np.arange(size, dtype=float).reshape(shape) % 3 - 1) / 4
        pattern = (pattern + np.swapaxes(pattern, -1, -2)) / 2
        return pattern + 2 * n * np.eye(n)
    else:  # a kind of argument this file does not know yet
        values = steps
    return float(values[0]) if shape == () else values.reshape(shape)


@functools.cache
def baselines(cls: type[Operation]) -> list[tuple[dict[str, Any], Inputs]]:
    """The op's valid cases in tests/strategies.py: the parameters and inputs of each.

    An op without any (being written) gets one: no parameters, arrays of ones. Shared:
    copy before changing any (the graph copies what it is given).
    """
    cases: list[OpCase] = op_cases(cls) if cls in DOMAINS or cls in TENSOR_CASES else []
    if not cases:
        count = cls.arity if cls.arity is not None else max(cls.min_arity, 2)
        return [({}, [(np.ones((2, 3)), "trainable") for _ in range(count)])]
    found = []
    for case in cases:
        shapes = case.shapes or [((2, 3), (3,), (2, 3))[i] for i in range(len(case.arguments))]
        inputs = [
            (_baseline_value(kind, shape), "fixed" if position in case.fixed else "trainable")
            for position, (kind, shape) in enumerate(zip(case.arguments, shapes, strict=True))
        ]
        found.append((dict(case.params), inputs))
    return found


# --------------------------------------------------------------------------------------
# One case: every call succeeds or is a GraphError that changes nothing
# --------------------------------------------------------------------------------------


class EscapeError(AssertionError):
    """A call raised something other than a GraphError."""


def attempt(
    cg: ComputationalGraph, what: str, call: Callable[[], Any], case: str, escapes: Found | None
) -> tuple[bool, Any]:
    """Run ``call``: True and its result, or False after a GraphError that changed nothing.

    Any other exception is an escape: raised at once as an :class:`EscapeError`
    (``escapes`` None), or appended to ``escapes``.
    """
    TALLY["calls"] += 1
    before = snapshot(cg)
    try:
        result = call()
    except cgraph.GraphError:
        assert_same_state(before, snapshot(cg))
        return False, None
    except Exception as error:  # everything an op can raise, RecursionError included
        TALLY["escapes"] += 1
        kind = f"{type(error).__module__}.{type(error).__name__}"
        if escapes is None:
            raise EscapeError(f"{what} {case}: {kind}: {error}") from error
        escapes.append((f"{what} {case.split('(', 1)[0]}: {kind}", case, str(error)))
        return False, None
    return True, result


def crashes_the_interpreter(cls: type[Operation], params: dict[str, Any], inputs: Inputs) -> bool:
    """Whether the case is one known to crash the interpreter, which no test may run.

    ``index_put`` with ``accumulate`` hands its values to ``np.add.at``, which in numpy
    2.4 dies of a segmentation fault when they have more dimensions than the selection
    and the index has an array after a slice. IndexPut now refuses such values first
    (``test_index_put_refuses_values_that_would_crash_numpy``); the fuzz still keeps
    away from them, since a regression would end the whole test run.
    """
    if cls.name != "index_put" or len(inputs) != 2:
        return False
    try:
        op = cls(**params)
        picked = np.zeros(np.shape(inputs[0][0]))[op.key]
    except Exception:  # refused before numpy is reached
        return False
    return bool(op.accumulate) and np.ndim(inputs[1][0]) > picked.ndim


def run_case(
    cls: type[Operation],
    by_name: bool,
    params: dict[str, Any],
    inputs: Inputs,
    escapes: Found | None = None,
) -> set[str]:
    """Declare ``y = op(x0, x1, ...)``, then forward, backward, jvp and the gradient graph.

    Returns the calls that succeeded.
    """
    if crashes_the_interpreter(cls, params, inputs):
        TALLY["skipped: known to crash the interpreter"] += 1
        return set()
    case = (
        f"{cls.name}({', '.join(f'{k}={_shown(v)}' for k, v in params.items())}) of "
        f"[{', '.join(f'{_shown(value)} {kind}' for value, kind in inputs)}]"
    )
    succeeded: set[str] = set()

    def call(cg: ComputationalGraph, what: str, run: Callable[[], Any]) -> tuple[bool, Any]:
        ok, result = attempt(cg, what, run, case, escapes)
        if ok:
            succeeded.add(what)
        return ok, result

    cg = ComputationalGraph()
    names = [f"x{i}" for i in range(len(inputs))]
    for name, (value, kind) in zip(names, inputs, strict=True):
        if kind == "constant":
            ok, _ = call(cg, "add_constant", lambda n=name, v=value: cg.add_constant(n, v))
        else:
            ok, _ = call(
                cg,
                "add_input",
                lambda n=name, v=value, k=kind: cg.add_input(n, v, trainable=k == "trainable"),
            )
        if not ok:
            return succeeded
    op = cls.name if by_name else cls
    declared, _ = call(cg, "declare", lambda: cg.add_computation_node("y", op, names, **params))
    if not declared:
        assert "y" not in cg.nodes
        assert "y" not in cg.graph
        return succeeded
    call(cg, "forward", lambda: cg.forward("y"))
    call(cg, "backward", lambda: cg.backward("y"))
    call(cg, "forward, check_finite", lambda: cg.forward("y", check_finite=True))
    call(cg, "backward, check_finite", lambda: cg.backward("y", check_finite=True))
    floats = [
        name
        for name in names
        if name in cg.inputs and np.result_type(cg.inputs[name].output).kind == "f"
    ]
    call(cg, "jvp", lambda: cg.jvp("y", {name: 1.0 for name in floats}))
    wrt = [name for name in floats if cg.inputs[name].trainable]
    if wrt:
        made, gg = call(cg, "gradient_graph", lambda: cg.gradient_graph("y", wrt))
        for name in wrt if made else ():
            call(gg, "gradient graph forward", lambda n=name: gg.forward(f"grad/y/{n}"))
    return succeeded


def _shown(value: Any) -> str:
    """A value, briefly: an array's dtype and shape (and its elements, if few)."""
    if isinstance(value, np.ndarray):
        few = f" {value.tolist()}" if value.size <= 6 else ""
        return f"{value.dtype}{list(value.shape)}{few}"
    text = repr(value)
    return text if len(text) < 60 else f"{text[:25]}...{text[-10:]} ({type(value).__name__})"


@contextmanager
def memory_capped(extra: int = 2 * 2**30) -> Iterator[None]:
    """Make an allocation of more than ``extra`` bytes beyond today's a MemoryError.

    A parameter such as padding=10**5 asks for arrays of gigabytes: without a cap the
    system's out-of-memory killer would end the test run instead of numpy refusing.
    Only where the address-space limit can be set (Linux); elsewhere, nothing.
    """
    try:
        import resource

        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * resource.getpagesize()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def fuzz(
    cls: type[Operation],
    by_name: bool,
    params: dict[str, Any],
    inputs: Inputs,
    escapes: Found | None = None,
) -> set[str]:
    """:func:`run_case`, counted, with numpy's warnings silenced: nan from log(-1) is no
    error. Run it under :func:`memory_capped`."""
    TALLY["cases"] += 1
    escaped = TALLY["escapes"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        succeeded = run_case(cls, by_name, params, inputs, escapes)
    TALLY["escaping cases"] += TALLY["escapes"] > escaped
    return succeeded


# --------------------------------------------------------------------------------------
# The sweeps: every odd parameter value, every odd input, on the op's valid case
# --------------------------------------------------------------------------------------

Case = tuple[bool, dict[str, Any], Inputs]


def odd_parameters(cls: type[Operation]) -> Iterator[Case]:
    """Each parameter (and an unknown keyword) set to each odd value in the op's first valid
    case, the rest as they are; each parameter of that case left out."""
    params, inputs = baselines(cls)[0]
    names = parameter_names(cls)
    for name in [*names, UNKNOWN_KEYWORDS[len(names) % len(UNKNOWN_KEYWORDS)]]:
        for value in ODD_VALUES:
            yield True, {**params, name: value}, inputs
        if name in params:  # a required parameter left out; a default one
            yield False, {key: value for key, value in params.items() if key != name}, inputs


def odd_inputs(cls: type[Operation]) -> Iterator[Case]:
    """In the op's valid cases (up to three, with different parameters), each input made odd
    in each way, then given as each kind; one input too many, one too few."""
    distinct = {repr(params): (params, inputs) for params, inputs in baselines(cls)[::-1]}
    for params, inputs in list(distinct.values())[::-1][:3]:
        for position, (value, kind) in enumerate(inputs):
            for make in ODD_INPUTS.values():
                changed = list(inputs)
                changed[position] = (make(value), kind)
                yield True, params, changed
            for other in KINDS:
                if other != kind:
                    yield (
                        True,
                        params,
                        [*inputs[:position], (value, other), *inputs[position + 1 :]],
                    )
        yield True, params, inputs[:-1]
        yield True, params, [*inputs, inputs[-1] if inputs else (1.0, "trainable")]
        yield False, params, inputs  # the valid case itself, by class


def sweep(cls: type[Operation], cases: Iterator[Case]) -> tuple[int, Found]:
    """Run every case: how many, and the escapes."""
    escapes: Found = []
    count = 0
    with memory_capped():
        for by_name, params, inputs in cases:
            fuzz(cls, by_name, params, inputs, escapes)
            count += 1
    return count, escapes


def _report(escapes: Found) -> str:
    return "\n".join(f"{kind}: {case}: {message[:200]}" for kind, case, message in escapes[:20])


by_op = pytest.mark.parametrize("op_class", OP_CLASSES, ids=lambda cls: cls.name)


@by_op
def test_every_odd_parameter_value_is_a_graph_error_or_works(op_class):
    count, escapes = sweep(op_class, odd_parameters(op_class))
    assert count >= len(ODD_VALUES)
    assert not escapes, f"{len(escapes)} of {count} cases escaped:\n{_report(escapes)}"


@by_op
def test_every_odd_input_is_a_graph_error_or_works(op_class):
    count, escapes = sweep(op_class, odd_inputs(op_class))
    assert count >= len(ODD_INPUTS)
    assert not escapes, f"{len(escapes)} of {count} cases escaped:\n{_report(escapes)}"


# --------------------------------------------------------------------------------------
# Hypothesis: several odd things at once
# --------------------------------------------------------------------------------------

SHAPES = [
    (),
    (0,),
    (2, 0),
    (0, 3),
    (1,),
    (3,),
    (4,),
    (2, 3),
    (3, 2),
    (3, 3),
    (2, 2, 2),
    (2, 3, 4),
    (2, 2, 5),
    (1, 1, 5, 5),
    (2, 1, 3, 3),
    (2, 2, 3, 3),
    (1, 1, 1, 1, 1, 1),
    (2, 1, 2, 1, 2, 1, 2),
]
DTYPES = [np.float64, np.float64, np.float32, np.int64, np.bool_, np.int8, np.uint8, np.float16]
ELEMENTS = [
    0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    3.0,
    -0.0,
    7.0,
    100.0,
    -100.0,
    NAN,
    INF,
    -INF,
    1e308,
    -1e308,
    5e-324,
    1e30,
]
#: Factors a valid input is scaled by: to a sign change, zeros, underflow and overflow.
SCALES = [-1.0, 0.0, 1e-300, 1e3, 1e300, NAN]
#: Scalars as Python and numpy give them; the ints include labels out of any range.
SCALARS = [
    0.0,
    1.0,
    -1.0,
    0.5,
    NAN,
    INF,
    -INF,
    1e308,
    0,
    1,
    -1,
    3,
    7,
    10**30,
    True,
    False,
    np.float32(1.5),
    np.float64(-2.0),
    np.int64(2),
    np.bool_(False),
    np.float16(INF),
]


OMIT = object()  # a parameter left out
# Strategies built once: hypothesis spends more on building a strategy than on drawing.
_SHAPE, _DTYPE = st.sampled_from(SHAPES), st.sampled_from(DTYPES)
_ELEMENTS = st.lists(st.sampled_from(ELEMENTS), min_size=1, max_size=3)
_SEED = st.integers(0, 2**16)
_KIND = st.sampled_from(KINDS)
_ODD_VALUE = st.sampled_from(ODD_VALUES)
_UNKNOWN = st.sampled_from(UNKNOWN_KEYWORDS)
_MAKE_ODD = st.sampled_from(list(ODD_INPUTS.values()))
_SCALE = st.sampled_from(SCALES)
_CHANGE = st.sampled_from(["parameter", "parameter", "input", "input", "kind", "count"])
_PARAMETER = {
    name: st.one_of(st.just(OMIT), plausible, _ODD_VALUE) for name, plausible in PLAUSIBLE.items()
}
_DEFAULT_PARAMETER = st.one_of(st.just(OMIT), DEFAULT_PLAUSIBLE, _ODD_VALUE)


def _an_array(draw: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """An array of one to three of ``ELEMENTS``, placed by a drawn seed (quicker to draw
    than each element)."""
    shape = draw(_SHAPE) if shape is None else shape
    dtype = draw(_DTYPE)
    placed = np.random.default_rng(draw(_SEED)).choice(draw(_ELEMENTS), shape)
    return _quietly(lambda a: a.astype(dtype))(placed)


def _an_input(draw: Any) -> Any:
    return draw(st.sampled_from(SCALARS)) if draw(st.integers(0, 3)) == 0 else _an_array(draw)


def _parameters(draw: Any, cls: type[Operation]) -> dict[str, Any]:
    """For each parameter: left out, plausible or odd; sometimes an unknown keyword too."""
    params = {}
    for name in parameter_names(cls):
        value = draw(_PARAMETER.get(name, _DEFAULT_PARAMETER))
        if value is not OMIT:
            params[name] = value
    if draw(st.integers(0, 11)) == 0:
        params[draw(_UNKNOWN)] = draw(_ODD_VALUE)
    return params


def _inputs(draw: Any, cls: type[Operation]) -> Inputs:
    """Inputs drawn from nothing: mostly the op's arity, sometimes one more or one fewer.

    Later inputs often take the first one's shape, so that elementwise ops get past
    broadcasting.
    """
    if cls.arity is None:
        count = draw(st.integers(0, 4))
    else:
        count = max(0, cls.arity + draw(st.sampled_from([0] * 6 + [-1, 1])))
    values: Inputs = []
    for position in range(count):
        first = values[0][0] if values else None
        like_first = position > 0 and isinstance(first, np.ndarray) and draw(st.booleans())
        value = _an_array(draw, first.shape) if like_first else _an_input(draw)
        values.append((value, draw(_KIND)))
    return values


@st.composite
def fuzz_cases(draw: Any, cls: type[Operation]) -> Case:
    """One case: whether the op is given by name, its parameters and its inputs.

    Three cases in four start from one of the op's valid cases (:func:`baselines`) and
    change up to three things: a parameter (to a plausible or an odd value, or left
    out), an input's value (scaled, made odd as in ``ODD_INPUTS``, or drawn anew), an
    input's kind, the number of inputs. The rest are drawn from nothing.

    (The valid cases' values are fixed: drawing them anew with ``OpCase.draw`` costs
    ten times as much as running the case, and the changes vary them anyway.)
    """
    by_name = draw(st.integers(0, 4)) > 0
    if draw(st.integers(0, 3)) == 0:
        return by_name, _parameters(draw, cls), _inputs(draw, cls)
    params, inputs = draw(st.sampled_from(baselines(cls)))
    params, inputs = dict(params), list(inputs)
    names = parameter_names(cls)
    for _ in range(draw(st.integers(0, 3))):
        what = draw(_CHANGE)
        if what == "parameter":
            pick = draw(st.integers(0, len(names)))  # len(names): an unknown keyword
            name = names[pick] if pick < len(names) else draw(_UNKNOWN)
            value = draw(_PARAMETER.get(name, _DEFAULT_PARAMETER))
            params.pop(name, None)
            if value is not OMIT:
                params[name] = value
        elif what in ("input", "kind") and inputs:
            position = draw(st.integers(0, len(inputs) - 1))
            value, kind = inputs[position]
            if what == "kind":
                inputs[position] = (value, draw(_KIND))
                continue
            how = draw(st.integers(0, 2))
            if how == 0:
                value = draw(_MAKE_ODD)(value)
            elif how == 1:
                scale = draw(_SCALE)
                value = _quietly(lambda a, scale=scale: a * scale)(value)
            else:
                value = _an_input(draw)
            inputs[position] = (value, kind)
        elif what == "count":
            if inputs and draw(st.booleans()):
                inputs.pop(draw(st.integers(0, len(inputs) - 1)))
            else:
                inputs.append((_an_input(draw), draw(_KIND)))
    return by_name, params, inputs


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


@by_op
def test_odd_parameters_and_inputs_together_are_a_graph_error_or_work(op_class):
    tried = TALLY["cases"]

    @SETTINGS
    @given(case=fuzz_cases(op_class))
    def check(case):
        by_name, params, inputs = case
        fuzz(op_class, by_name, params, inputs)

    with memory_capped():
        check()
    assert TALLY["cases"] - tried >= EXAMPLES // 2  # the fuzz ran, not filtered away


@by_op
def test_the_sweeps_start_from_a_case_that_runs_all_the_way_through(op_class):
    if op_class.name in ("lgamma", "digamma", "polygamma"):
        pytest.importorskip("scipy", reason=f"{op_class.name} on arrays needs scipy.special")
    for params, inputs in baselines(op_class):
        with memory_capped():
            succeeded = fuzz(op_class, True, params, inputs)
        calls = {"declare", "forward", "backward", "jvp", "gradient_graph"}
        assert calls <= succeeded or (op_class not in DOMAINS and op_class not in TENSOR_CASES)


def test_index_put_refuses_values_that_would_crash_numpy():
    # In a child process: the crash would end the test run.
    code = (
        "import numpy as np, cgraph\n"
        "cg = cgraph.ComputationalGraph()\n"
        "cg.add_inputs(x=np.zeros((3, 4)), v=np.zeros((1, 1, 1, 1, 1, 1)))\n"
        "cg.add_computation_node('y', 'index_put', ('x', 'v'), index=(slice(None), [2, 0, 2]),"
        " accumulate=True)\n"
        "try:\n"
        "    cg.forward('y')\n"
        "except cgraph.ShapeError as error:\n"
        "    assert error.nodes[0] == 'y', error.nodes\n"
        "else:\n"
        "    raise AssertionError('accepted')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_scatter_refuses_values_that_would_crash_numpy():
    cg = ComputationalGraph()
    cg.add_inputs(u=np.zeros((1, 1, 1, 1, 1, 1)))
    cg.add_computation_node("y", "scatter", ("u",), index=(slice(None), [2, 0, 2]), shape=(3, 4))
    with pytest.raises(
        cgraph.ShapeError,
        match=r"values of shape \(1, 1, 1, 1, 1, 1\) do not "
        r"broadcast to the selection's shape \(3, 3\)",
    ) as info:
        cg.forward("y")
    assert info.value.nodes[0] == "y"


@pytest.mark.parametrize(
    ("op", "params", "pattern"),
    [
        (
            "step",
            {"at_zero": 10**400},
            r"Step\(at_zero=1000.*\) failed: OverflowError: int too "
            r"large to convert to float; give it the parameters its constructor takes: "
            r"Step\(at_zero: float = 0\.0\)$",
        ),
        (
            "hinge",
            {"margin": -(10**400)},
            r"Hinge\(margin=-1000.*\) failed: OverflowError: .*"
            r"Hinge\(margin: float = 1\.0, reduction: str = 'mean'\)$",
        ),
        (
            "unbroadcast",
            {"shape": INF},
            r"Unbroadcast\(shape=inf\) failed: shape must be a whole "
            r"number >= 0 or a tuple of them, such as \(2, 3\), not inf",
        ),
        ("broadcast_to", {"shape": 2.5}, r"not 2\.5; give it the parameters"),
        ("scatter", {"index": 0, "shape": (2, -1)}, r"not \(2, -1\); give it the parameters"),
    ],
)
def test_a_parameter_no_constructor_can_take_is_refused_naming_the_node(op, params, pattern):
    cg = ComputationalGraph()
    cg.add_inputs(x=np.ones(3))
    before = snapshot(cg)
    with pytest.raises(cgraph.InvalidOperationError, match=pattern) as info:
        cg.add_computation_node("y", op, ("x",), **params)
    assert str(info.value).startswith("node 'y': ")
    assert info.value.nodes == ("y",)
    assert_same_state(before, snapshot(cg))


# --------------------------------------------------------------------------------------
# The census: every op, every escape, counted
# --------------------------------------------------------------------------------------


def census(examples: int = EXAMPLES, seed: int = 0) -> tuple[dict[str, int], Found]:
    """Run every sweep and the fuzz for every op without stopping: cases tried, escapes."""
    from hypothesis import seed as hypothesis_seed

    escapes: Found = []
    tried = {}
    for name, cases in (("odd parameters", odd_parameters), ("odd inputs", odd_inputs)):
        tried[name] = 0
        for cls in OP_CLASSES:
            count, found = sweep(cls, cases(cls))
            tried[name] += count
            escapes.extend(found)
    start = TALLY["cases"]
    for cls in OP_CLASSES:

        @hypothesis_seed(seed)
        @settings(SETTINGS, max_examples=examples)
        @given(case=st.tuples(st.just(cls), fuzz_cases(cls)))
        def every(case):
            op_class, (by_name, params, inputs) = case
            fuzz(op_class, by_name, params, inputs, escapes)

        with memory_capped():
            every()
    tried["hypothesis"] = TALLY["cases"] - start
    return tried, escapes


if __name__ == "__main__":
    tried, found = census(*map(int, sys.argv[1:3]))
    escaping = TALLY["escaping cases"]
    total = sum(tried.values())
    print(
        f"cases tried: {tried}; calls: {TALLY['calls']}; escapes: {len(found)} in "
        f"{escaping} cases; handled: {total - escaping} / {total}; not run, as known to "
        f"crash the interpreter: {TALLY['skipped: known to crash the interpreter']}"
    )
    for kind, count in sorted(Counter(kind for kind, _, _ in found).items()):
        case, message = next((case, message) for other, case, message in found if other == kind)
        print(f"{count:5d}  {kind}\n       e.g. {case}\n       {message[:300]}")

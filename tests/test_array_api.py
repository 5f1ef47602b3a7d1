"""Every registered op on arrays that are not numpy's: array-api-strict, Dask and CuPy.

array-api-strict has nothing but the standard array API, and numpy code that
takes its arrays (``np.exp(x)``) quietly converts them to numpy arrays: an op
whose output or gradient comes back as anything but an array-api-strict array
has converted, and fails here. Dask arrays must stay lazy through forward,
backward and jvp, and give numpy's numbers once computed. CuPy runs the same
test wherever a GPU and cupy are present.

An op that cannot run on a library lists it in ``NUMPY_ONLY`` with the reason,
and must refuse such arrays with an :class:`~cgraph.errors.ArrayTypeError`
naming the node, never convert them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import DOMAINS, TENSOR_CASES, Interval, OpCase, op_cases, values_in
from test_ops import OP_CLASSES

from cgraph import ArrayTypeError, ComputationalGraph, InvalidValueError

array_api_strict = pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")


def _dask_array(value: np.ndarray) -> object:
    import dask.array as da

    return da.from_array(value, chunks=tuple(max(1, (n + 1) // 2) for n in value.shape))


def _cupy_array(value: np.ndarray) -> object:
    import cupy

    return cupy.asarray(value)


def _has_gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no cupy, no driver, no device: the CuPy cases skip
        return False


#: How each library's arrays are made from numpy's, read back, and recognised.
LIBRARIES = {
    "array_api_strict": (array_api_strict.asarray, np.asarray, "array_api_strict"),
    "dask": (_dask_array, lambda x: np.asarray(x.compute()), "dask"),
    "cupy": (_cupy_array, lambda x: x.get(), "cupy"),
}
_REASON = {
    "dask": "dask is not installed",
    "cupy": "needs cupy and a GPU",
}


def _available(library: str) -> bool:
    if library == "cupy":
        return _has_gpu()
    if library == "dask":
        try:
            import dask.array  # noqa: F401
        except ImportError:
            return False
    return True


#: Ops that run on numpy arrays only, by library, with the reason: they refuse other arrays.
NUMPY_ONLY: dict[str, dict[str, str]] = {
    "array_api_strict": {},
    "dask": {},
    "cupy": {},
}


def _cases() -> list:
    params = []
    for library in LIBRARIES:
        marks = [] if _available(library) else [pytest.mark.skip(reason=_REASON[library])]
        for cls in OP_CLASSES:
            if cls not in DOMAINS and cls not in TENSOR_CASES:
                continue
            for case in op_cases(cls):
                params.append(pytest.param(library, case, id=f"{library}-{case.id}", marks=marks))
    return params


def _library_of(value: object) -> str:
    return type(value).__module__.split(".")[0]


def _graphs(case: OpCase, arguments: list, make: object) -> tuple:
    """The op's graph on numpy arrays and on the library's (0-d arrays for scalars)."""
    graphs = []
    for convert in (lambda v: v, make):
        cg = ComputationalGraph()
        for index, value in enumerate(arguments):
            cg.add_input(
                f"x{index}",
                convert(np.asarray(value)) if convert is make else value,
                trainable=index not in case.fixed,
            )
        cg.add_computation_node("y", case.op(), [f"x{i}" for i in range(len(arguments))])
        graphs.append(cg)
    return tuple(graphs)


def _same(actual: object, expected: object, read: object, library: str, what: str) -> None:
    assert _library_of(actual) == library, f"{what} is a {type(actual)}, not a {library} array"
    np.testing.assert_allclose(read(actual), expected, rtol=1e-12, atol=1e-15, err_msg=what)
    assert np.shape(actual) == np.shape(expected), what


@pytest.mark.parametrize(("library", "case"), _cases())
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_op_computes_in_its_inputs_library(library, case, data):
    make, read, name = LIBRARIES[library]
    _, arguments = case.draw(data)
    reference, cg = _graphs(case, arguments, make)
    refused = NUMPY_ONLY[library].get(case.op_class.name)
    if refused:
        with pytest.raises(ArrayTypeError, match="'y'") as error:
            cg.forward("y")
        assert "y" in error.value.nodes
        return
    trainable = [f"x{i}" for i in range(len(arguments)) if i not in case.fixed]
    tangents = {
        name_: data.draw(values_in(Interval(-1.0, 1.0), np.shape(arguments[int(name_[1:])])))
        for name_ in trainable
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's warnings are numpy's; the numbers are compared
        expected = reference.forward("y")
        expected_gradients = reference.backward("y")
        expected_tangent = reference.jvp("y", tangents=tangents)[1]
        for _ in range(3):  # the third pass runs the compiled plan
            output = cg.forward("y")
            gradients = cg.backward("y")
        tangent = cg.jvp("y", tangents={k: make(np.asarray(v)) for k, v in tangents.items()})[1]
    _same(output, expected, read, name, "forward")
    for input_name, gradient in gradients.items():
        _same(gradient, expected_gradients[input_name], read, name, f"gradient of {input_name}")
    _same(tangent, expected_tangent, read, name, "jvp")


def test_numpy_only_lists_name_registered_ops():
    names = {cls.name for cls in OP_CLASSES}
    for library, refused in NUMPY_ONLY.items():
        assert set(refused) <= names, library


def test_a_foreign_array_that_is_not_real_is_refused_naming_the_input():
    cg = ComputationalGraph()
    with pytest.raises(InvalidValueError, match=r"'z'.*dtype") as error:
        cg.add_input("z", array_api_strict.asarray([1 + 2j]))
    assert error.value.nodes == ("z",)
    assert "z" not in cg


def test_a_trainable_foreign_integer_array_becomes_float64_in_its_library():
    cg = ComputationalGraph()
    cg.add_input("n", array_api_strict.asarray([1, 2]), trainable=True)
    value = cg.get_value("n")
    assert _library_of(value) == "array_api_strict"
    assert value.dtype == array_api_strict.float64

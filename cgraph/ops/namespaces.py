"""Which array library computes a value: numpy for numbers and numpy arrays, else the array's own.

Ops and derivative rules compute with the namespace of their inputs, so one
graph runs on numpy arrays, Dask arrays (lazily, a task graph per pass) or
CuPy arrays (on a GPU) unchanged. Python floats and numpy arrays never leave
this module's first test, so the numpy path pays one type check and imports
nothing; any other array is looked up with ``array-api-compat`` (the
``[dask]`` and ``[gpu]`` extras), which also gives Dask and CuPy the standard
array API.

numpy arrays mix with Dask arrays (Dask takes numpy operands: parameters in
memory, data in chunks is the normal case); array libraries that refuse each
other's arrays (CuPy and numpy) raise :class:`ArrayTypeError` instead of
failing deep inside an op.

Examples
--------
>>> import numpy as np
>>> namespace(1.0, np.ones(2)) is np
True
>>> is_foreign(np.ones(2)), is_foreign(2.0)
(False, False)
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from cgraph.errors import ArrayTypeError

__all__ = [
    "ArrayTypeError",
    "accepts_numpy",
    "computed",
    "is_foreign",
    "is_lazy",
    "library_name",
    "namespace",
]

#: Types computed by numpy (or Python): the fast path. Checked by identity first.
_NUMPY_TYPES = (float, int, bool, np.ndarray, np.generic)


def is_foreign(value: Any) -> bool:
    """Whether a value is an array of a library other than numpy (Dask, CuPy, array-api-strict).

    Examples
    --------
    >>> is_foreign(1.0), is_foreign(np.zeros(2)), is_foreign(np.float32(1))
    (False, False, False)
    """
    if type(value) is np.ndarray or type(value) is float:  # the hot path, without isinstance
        return False
    return not isinstance(value, _NUMPY_TYPES) and hasattr(value, "shape")


def namespace(*values: Any) -> ModuleType:
    """The array namespace that computes with ``values``: numpy unless one is a foreign array.

    Raises
    ------
    ArrayTypeError
        If the values' libraries cannot compute together (CuPy and numpy, two
        foreign libraries), or a foreign array's library has no array-API
        namespace (install ``array-api-compat``).

    Examples
    --------
    >>> namespace(2.0) is np, namespace(np.ones(2), 3) is np
    (True, True)
    """
    for value in values:  # every op's hot path: numpy arrays and floats, by their type alone
        if type(value) is not np.ndarray and type(value) is not float:
            break
    else:
        return np
    foreign = [value for value in values if is_foreign(value)]
    if not foreign:
        return np
    xp = _foreign_namespace(foreign)
    if not accepts_numpy(xp) and any(isinstance(value, np.ndarray) for value in values):
        library = library_name(foreign[0])
        raise ArrayTypeError(
            f"{library} arrays and numpy arrays meet here, and {library} does not compute "
            f"with numpy arrays; give every input as an array of {library} "
            f"({library}.asarray(value))"
        )
    return xp


def _foreign_namespace(foreign: list[Any]) -> ModuleType:
    try:
        import array_api_compat
    except ImportError:
        raise ArrayTypeError(
            f"{library_name(foreign[0])} arrays need array-api-compat to compute; install it "
            "with pip install 'cgraph[dask]' (or 'cgraph[gpu]' for CuPy)"
        ) from None
    try:
        return array_api_compat.array_namespace(*foreign)
    except TypeError as error:
        names = sorted({library_name(value) for value in foreign})
        raise ArrayTypeError(
            f"arrays of {' and '.join(names)} meet here, and these libraries do not compute "
            f"together ({error}); give every input in one array library"
        ) from None


def accepts_numpy(xp: ModuleType) -> bool:
    """Whether a namespace computes with numpy arrays as operands (numpy's own and Dask's do).

    Examples
    --------
    >>> accepts_numpy(np)
    True
    """
    if xp is np:
        return True
    import array_api_compat

    return bool(array_api_compat.is_numpy_namespace(xp) or array_api_compat.is_dask_namespace(xp))


def is_lazy(value: Any) -> bool:
    """Whether a value is lazy, a task graph not yet computed (a Dask array).

    Examples
    --------
    >>> is_lazy(np.ones(2)), is_lazy(1.0)
    (False, False)
    """
    return is_foreign(value) and type(value).__module__.split(".")[0] == "dask"


def library_name(value: Any) -> str:
    """The name of the library a value's type comes from: ``numpy``, ``dask``, ``cupy``...

    Examples
    --------
    >>> library_name(np.ones(2)), library_name(1.0)
    ('numpy', 'builtins')
    """
    return type(value).__module__.split(".")[0]


def computed(*values: Any) -> tuple[Any, ...]:
    """The values with every lazy array in them computed, all in one ``dask.compute``.

    One compute shares the work the values have in common (a loss and its
    gradients read the same chunks once); values and containers (dicts, lists)
    that hold nothing lazy come back as they are.

    Examples
    --------
    >>> computed(1.0, {"w": np.ones(2)})
    (1.0, {'w': array([1., 1.])})
    """
    if not any(_holds_lazy(value) for value in values):
        return values
    from dask.base import compute  # dask's own name for it (dask re-exports it as dask.compute)

    return tuple(compute(*values))


def _holds_lazy(value: Any) -> bool:
    if isinstance(value, dict):
        return any(is_lazy(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_lazy(item) for item in value)
    return is_lazy(value)

"""The registry of operations by name: what ``add_computation_node("y", "sigmoid", ...)`` looks up.

It imports nothing of cgraph's but the errors, so that the op contract, the
primitives' namespace (any registered op is a primitive) and the engine can all
read it without importing one another.
"""

from __future__ import annotations

from cgraph.errors import InvalidOperationError

__all__ = ["OPERATIONS", "register", "primitive_op"]

#: Every registered operation class, by name and alias: the table tests and docs iterate.
OPERATIONS: dict[str, type] = {}


def register(key: str, cls: type) -> None:
    """Register ``cls`` under ``key``; the Operation base class calls this for every subclass.

    Examples
    --------
    >>> OPERATIONS["sigmoid"].__name__
    'Sigmoid'
    """
    existing = OPERATIONS.get(key)
    # Re-running a definition (a notebook cell) replaces it; a different class may not.
    if existing is not None and (existing.__module__, existing.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise InvalidOperationError(
            f"operation name {key!r} is already registered to "
            f"{existing.__module__}.{existing.__qualname__}; choose another name"
        )
    OPERATIONS[key] = cls


def primitive_op(name: str) -> type:
    """The op a primitive namespace offers as ``p.<name>``: any registered op but a private name.

    Both interpretations of the primitives (numbers and terms) look ops up here.

    Raises
    ------
    AttributeError
        If no op is registered as ``name``, or it starts with an underscore: a
        namespace's ``__getattr__`` passes it on, so ``hasattr`` answers False.

    Examples
    --------
    >>> primitive_op("softmax").__name__
    'Softmax'
    """
    cls = OPERATIONS.get(name)
    if cls is None or name.startswith("_"):
        raise AttributeError(f"{name!r} is neither a primitive nor a registered operation")
    return cls

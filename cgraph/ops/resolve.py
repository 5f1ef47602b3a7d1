"""An op as the user gives it (a class, an instance, a registered name), made a node's own."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from cgraph.errors import InvalidOperationError
from cgraph.messages import did_you_mean, shown
from cgraph.ops.operation import Operation
from cgraph.ops.registry import OPERATIONS

__all__ = ["resolve_operation"]


def resolve_operation(op: Any, node: str, params: dict[str, Any] | None = None) -> Operation:
    """Turn an op given as a class, an instance or a registered name into a fresh instance.

    Parameters
    ----------
    op : type[Operation] or Operation or str
        The operation as the user gave it.
    node : str
        The name of the node being declared, for error messages.
    params : dict, optional
        Keyword arguments for the op's constructor (with a class or a name only).

    Returns
    -------
    Operation
        An instance owned by that node alone.

    Raises
    ------
    InvalidOperationError
        If ``op`` is none of these, a name that is not registered, or a class
        that does not accept ``params`` (or refuses their values).

    Examples
    --------
    >>> resolve_operation("sigmoid", "s")
    Sigmoid()
    """
    if isinstance(op, str):
        cls = OPERATIONS.get(op)
        if cls is None:
            known = ", ".join(sorted(OPERATIONS))
            hint = did_you_mean(op, OPERATIONS, fallback="")
            raise InvalidOperationError(
                f"node {node!r}: no operation is registered as {op!r}{hint}; known names: {known}",
                nodes=[node],
            )
        shown = op
        op = cls
    else:
        shown = str(getattr(op, "name", None) or getattr(op, "__name__", ""))
    if isinstance(op, type) and issubclass(op, Operation):
        _check_parameters(op, shown, node, params or {})
        try:
            return op(**params) if params else op()
        # ValueError: the op refused a parameter; anything else a value it could not take,
        # such as OverflowError from float(10**400) or int(inf): all are the user's to fix.
        except Exception as err:
            raise InvalidOperationError(
                f"node {node!r}: {op.__name__}({_given(params)}) failed: {_said(err)}; "
                f"give it the parameters its constructor takes{_signature(op)}",
                nodes=[node],
            ) from err
    if isinstance(op, Operation):
        if params:
            raise InvalidOperationError(
                f"node {node!r}: parameters {sorted(params)} were given with an op instance; "
                "give them to the op's constructor, or pass its class or name instead",
                nodes=[node],
            )
        return op.copy()
    raise InvalidOperationError(
        f"node {node!r}: {op!r} is not an operation; pass an Operation subclass, "
        "an instance of one, or a registered name such as 'add'",
        nodes=[node],
    )


def _given(params: dict[str, Any] | None) -> str:
    """The parameters as given, briefly: ``beta=1000...``."""
    return ", ".join(f"{key}={shown(value, limit=40)}" for key, value in (params or {}).items())


def _said(error: Exception) -> str:
    """An error's message, with its type where that says more than the text alone."""
    try:
        text = str(error)
    except Exception:  # an exception whose own message cannot be built
        text = "<unprintable message>"
    if isinstance(error, (TypeError, ValueError)):  # GraphErrors, and the usual refusals
        return text
    return f"{type(error).__name__}: {text}"


def _signature(cls: type[Operation]) -> str:
    """``: Softplus(beta: float = 1.0, ...)``, what the constructor takes; empty if unreadable."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return ""
    parts = []
    for parameter in parameters:
        stars = (
            "*"
            if parameter.kind is parameter.VAR_POSITIONAL
            else "**"
            if parameter.kind is parameter.VAR_KEYWORD
            else ""
        )
        text = f"{stars}{parameter.name}"
        if parameter.annotation is not parameter.empty:  # a string under PEP 563
            annotation = parameter.annotation
            text += f": {getattr(annotation, '__name__', annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {shown(parameter.default, limit=20)}"
        parts.append(text)
    return f": {cls.__name__}({', '.join(parts)})"


def _check_parameters(cls: type[Operation], shown: str, node: str, params: dict[str, Any]) -> None:
    """Refuse, by name, parameters the constructor does not take and required ones not given."""
    # mypy takes no type[X] for Hashable (python/mypy#11470); a class is hashable.
    constructor = _constructor(cls)  # type: ignore[arg-type]
    if constructor is None:  # no signature to read: the constructor itself judges
        return
    names, open_keywords, required, positional_only = constructor
    listed = f"takes parameters {', '.join(names)}" if names else "takes no parameters"
    if not open_keywords:
        unknown = [key for key in params if key not in names]
        if unknown:
            raise InvalidOperationError(
                f"node {node!r}: {shown} {listed}; got {', '.join(map(str, unknown))}"
                f"{did_you_mean(str(unknown[0]), names, fallback='')}",
                nodes=[node],
            )
    missing = [name for name in required if name in positional_only or name not in params]
    if missing:
        one = len(missing) == 1
        example = ", ".join(f"{name}=..." for name in missing)
        raise InvalidOperationError(
            f"node {node!r}: {shown} needs the parameter{'' if one else 's'} "
            f"{', '.join(missing)}, which {'was' if one else 'were'} not given ({shown} {listed}); "
            f"give {'it as a keyword' if one else 'them as keywords'}, e.g. {example}",
            nodes=[node],
        )


@functools.lru_cache(maxsize=1024)
def _constructor(
    cls: type[Operation],
) -> tuple[tuple[str, ...], bool, tuple[str, ...], frozenset[str]] | None:
    """What a class's constructor takes: keyword names, whether it takes ``**kwargs``, the
    required parameters and the positional-only ones; None when it has no signature to read.

    Read once per class: ``inspect.signature`` costs tens of microseconds, and declaring a
    node from a class would otherwise pay it every time.
    """
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    kinds = inspect.Parameter
    parameters = signature.parameters.values()
    names = tuple(
        p.name for p in parameters if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
    )
    required = tuple(
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
    )
    positional_only = frozenset(p.name for p in parameters if p.kind is kinds.POSITIONAL_ONLY)
    return names, any(p.kind is kinds.VAR_KEYWORD for p in parameters), required, positional_only

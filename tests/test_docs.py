"""Every public name documents itself with a runnable example (run by --doctest-modules)."""

from __future__ import annotations

import inspect
import sys

import pytest

import cgraph
from cgraph import ops


def public_names() -> dict[str, object]:
    names: dict[str, object] = {}
    for name in cgraph.__all__:
        obj = getattr(cgraph, name)
        if inspect.ismodule(obj) or isinstance(obj, dict):
            continue
        names[name] = obj
        if inspect.isclass(obj):
            # Also the methods it inherits from cgraph's own classes (ComputationalGraph's
            # mixins); the class itself comes first in the MRO, so its overrides win.
            own = [cls for cls in obj.__mro__ if cls.__module__.startswith("cgraph")]
            for cls in own:
                for attribute, value in vars(cls).items():
                    if isinstance(value, (classmethod, staticmethod)):
                        value = value.__func__  # ComputationalGraph.load
                    if not attribute.startswith("_") and (
                        inspect.isfunction(value) or isinstance(value, property)
                    ):
                        names.setdefault(f"{name}.{attribute}", value)
    names.update({f"ops.{name}": getattr(ops, name) for name in ops.__all__})
    return names


@pytest.mark.parametrize("name", sorted(public_names()))
def test_public_name_has_a_docstring_with_an_example(name):
    doc = inspect.getdoc(public_names()[name]) or ""
    assert doc, f"{name} has no docstring"
    assert ">>>" in doc, f"{name}'s docstring has no runnable example"


def test_every_registered_op_is_exported_by_cgraph_ops():
    # Doctests run with a module's globals, so an example's class can carry a
    # cgraph.ops module name; only classes the module itself defines count.
    registered = cgraph.OPERATIONS.values()
    builtin = {
        cls
        for cls in registered
        if cls.__module__.startswith("cgraph.ops.")
        and getattr(sys.modules[cls.__module__], cls.__name__, None) is cls
    }
    assert builtin <= {getattr(ops, name) for name in ops.__all__}

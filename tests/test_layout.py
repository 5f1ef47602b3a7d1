"""The package's layout: the engine's state stays the engine's, and no module imports itself back.

Features (forward mode, second derivatives, drawings, files, optimisation) work
through :class:`cgraph.engine.GraphCore`'s public interface, and the modules
form layers: an import cycle, even one hidden inside a function, or a feature
reaching into a graph's private attributes, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import cgraph
from cgraph.engine import GraphCore

PACKAGE = Path(cgraph.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The cgraph modules ``name`` imports anywhere in its code, functions included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                base = ".".join(
                    [
                        *package.split(".")[: len(package.split(".")) - node.level + 1],
                        *([base] if base else []),
                    ]
                )
            # ``from cgraph import io`` imports the module cgraph.io, not cgraph's __init__.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, path in MODULES.items():
        graph.add_node(name)
        graph.add_edges_from((name, target) for target in imported_modules(name, path))
    return graph


def test_the_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    # A package's __init__ re-exporting its own modules is not a cycle of the design.
    graph.remove_edges_from([(a, b) for a, b in graph.edges if b.startswith(a + ".")])
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_engine_imports_no_feature():
    graph = import_graph()
    engine = {name for name in MODULES if name.startswith("cgraph.engine")}
    features = (
        "cgraph.graph",
        "cgraph.transforms",
        "cgraph.viz",
        "cgraph.io",
        "cgraph.expressions",
        "cgraph.optim",
        "cgraph.cli",
        "cgraph.plots",
    )
    for name in engine:
        reached = nx.descendants(graph, name)
        assert not [m for m in reached if m.startswith(features)], name


def private_attributes_of_the_graph() -> set[str]:
    graph = GraphCore()
    names = set(vars(graph)) | {name for cls in GraphCore.__mro__ for name in vars(cls)}
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("cgraph.engine")))
def test_no_module_outside_the_engine_reads_a_graphs_private_state(name):
    private = private_attributes_of_the_graph()
    tree = ast.parse(MODULES[name].read_text())
    used = {
        (node.attr, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in private
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    }
    assert not used, f"{name} uses the graph's private attributes: {sorted(used)}"


def test_the_checks_find_what_they_look_for(tmp_path):
    # The private-state check is not vacuous: the graph has private state to protect.
    assert {"_schedules", "_evaluated", "_structure_changed"} <= private_attributes_of_the_graph()
    # And the import walk sees imports inside functions.
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from cgraph.graph import ComputationalGraph\n")
    assert imported_modules("cgraph.probe", source) == {"cgraph.graph"}

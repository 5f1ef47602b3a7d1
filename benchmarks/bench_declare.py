"""Declaring a graph of 100,000 nodes: cgraph against building the bare networkx DiGraph.

The nodes are those of the random DAG of ``bench_random_dag.py`` (100 inputs,
then unary and binary operations), scaled to 100,000 nodes. Contenders:

- ``networkx`` (the floor): a fresh ``networkx.DiGraph``, one ``add_node`` per
  node and one ``add_edge`` per input of each operation; no attributes.
  cgraph keeps its structure in such a DiGraph, so this is the least it pays.
- ``cgraph``: a fresh ``ComputationalGraph``, ``add_inputs`` for the inputs,
  then one ``add_computation_node(name, op_name, input_names)`` per operation,
  which also validates each declaration and creates the node's op instance.
- ``cgraph bulk``: the same declarations in one ``add_computation_nodes`` call,
  the form for graphs a program makes: each declaration is checked the same
  way, and the DiGraph takes all the edges in one ``add_edges_from``.

Names and input-name tuples are made once, outside the timing, for both. Before
timing, both graphs must have the same nodes and edges. The table gives the
median call and its share per node.

Run ``python benchmarks/bench_declare.py [--quick] [--write]``.
"""

from __future__ import annotations

import _harness
import networkx as nx
from _random_dag import declare_cgraph, random_dag

from cgraph import ComputationalGraph


def main() -> None:
    options = _harness.parse_options(__doc__, repeats=(3, 9))
    size = 2_000 if options.quick else 100_000
    dag = random_dag(size, seed=0)
    declarations = dag.declarations()
    input_names = dag.names[: len(dag.inputs)]

    def declare_networkx():
        graph = nx.DiGraph()
        for name in input_names:
            graph.add_node(name)
        for name, _, parents in declarations:
            graph.add_node(name)
            for parent in parents:
                graph.add_edge(parent, name)
        return graph

    def declare_bulk():
        cg = ComputationalGraph()
        cg.add_inputs(**dict(zip(input_names, dag.inputs, strict=True)))
        cg.add_computation_nodes(declarations)
        return cg

    contenders = {
        "networkx": declare_networkx,
        "cgraph": lambda: declare_cgraph(dag, declarations),
        "cgraph bulk": declare_bulk,
    }
    expected = declare_networkx()
    for built in (declare_cgraph(dag, declarations).graph, declare_bulk().graph):
        if set(built.nodes) != set(expected.nodes) or set(built.edges) != set(expected.edges):
            raise AssertionError("cgraph's DiGraph differs from the networkx one")
    del expected, built

    times = _harness.time_interleaved(contenders, options.repeats)
    targets = [
        _harness.Target(
            "cgraph slower than networkx",
            _harness.speedup(times, "cgraph", "networkx"),
            2,
            at_least=False,
        ),
        _harness.Target(
            "cgraph bulk slower than networkx",
            _harness.speedup(times, "cgraph bulk", "networkx"),
            1.3,
            at_least=False,
        ),
    ]
    _harness.report(
        "bench_declare",
        f"Declaring {len(dag):,} nodes",
        f"Declaring the {len(dag):,} nodes of a random DAG ({len(dag.inputs)} inputs, "
        f"{sum(len(parents) for _, parents in dag.ops):,} edges) in a fresh graph.",
        [_harness.contender_table(times, "networkx", len(dag), "node")],
        targets,
        options,
    )


if __name__ == "__main__":
    main()

"""ComputationalGraph: the engine's graph, with a method for each feature built on it.

The engine (:class:`cgraph.engine.GraphCore`) declares, schedules, evaluates and
differentiates. Each feature is a function in its own module that works through
the engine's public interface: forward mode, Jacobians and second derivatives in
:mod:`cgraph.transforms`, drawings and explanations in :mod:`cgraph.viz`, graph
files in :mod:`cgraph.io`, expressions in :mod:`cgraph.expressions`. The methods
here only call those functions, which document them in full, so that
``cg.draw()`` in a notebook or ``cg.hessian("f", "x")`` in a script reads as a
user expects.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cgraph import expressions, io, loops, subgraphs, transforms, viz
from cgraph.engine import GraphCore

__all__ = ["ComputationalGraph", "from_expression"]


class ComputationalGraph(GraphCore):
    """A graph of named inputs and operations, differentiated by reverse-mode autodiff.

    Declare inputs, constants and operation nodes by name; ``forward(root)``
    evaluates the root's ancestors in topological order and caches every
    output on its node; ``backward(root)`` seeds the root with ones and applies
    the chain rule in reverse order, summing each node's gradients into its
    inputs. Every intermediate value and gradient can be read by name.

    The core (declaring, ``forward``, ``backward``, values and gradients by name,
    ``summary``) is :class:`cgraph.engine.GraphCore`'s. The other methods call the
    function of the same name in :mod:`cgraph.transforms`, :mod:`cgraph.viz`,
    :mod:`cgraph.io` or :mod:`cgraph.expressions`, which documents it.

    Attributes
    ----------
    graph : networkx.DiGraph
        The structure: one node per name, an edge parent -> child per dependency.
        Read it freely; declare nodes through this class, not by editing it.
    nodes, inputs, constants, operations : dict of str to Node
        Every node, and each kind of node, by name in declaration order.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.ops import Add, Multiply
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0, y=3.0)
    >>> cg.add_computation_node("xy", Multiply, ("x", "y"))
    >>> cg.add_computation_node("f", Add, ("xy", "x"))
    >>> cg.forward("f")
    8.0
    >>> cg.backward("f")
    {'x': 4.0, 'y': 2.0}
    >>> cg.get_gradient("xy")
    1.0
    """

    # ----------------------------------------------------------------------------------
    # Expressions (cgraph.expressions)
    # ----------------------------------------------------------------------------------

    def add_expression(
        self, name: str, text: str, subgraphs: Mapping[str, GraphCore] | None = None
    ) -> str:
        """Declare the nodes of a maths expression: :func:`cgraph.expressions.add_expression`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0, y=-4.0)
        >>> cg.add_expression("f", "x * sigmoid(y)")
        'f'
        >>> list(cg.operations)
        ['f/sigmoid', 'f']
        """
        return expressions.add_expression(self, name, text, subgraphs)

    # ----------------------------------------------------------------------------------
    # Forward mode, Jacobians and second derivatives (cgraph.transforms)
    # ----------------------------------------------------------------------------------

    def add_subgraph(
        self,
        name: str,
        graph: GraphCore,
        inputs: Mapping[str, str] | None = None,
        outputs: str | Iterable[str] | None = None,
    ) -> dict[str, str]:
        """Use ``graph`` here as nodes ``{name}/...``; see :func:`cgraph.subgraphs.add_subgraph`.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> double = ComputationalGraph()
        >>> double.add_inputs(a=0.0)
        >>> double.add_computation_node("twice", "add", ("a", "a"))
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_subgraph("d", double, {"a": "x"})
        {'twice': 'd/twice'}
        >>> cg.forward("d/twice")
        6.0
        """
        return subgraphs.add_subgraph(self, name, graph, inputs, outputs)

    def add_loop(
        self,
        name: str,
        body: GraphCore,
        carry: Mapping[str, str],
        updates: Mapping[str, str],
        *,
        inputs: Mapping[str, str] | None = None,
        xs: Mapping[str, str] | None = None,
        steps: int | None = None,
        output: str | None = None,
        stack: bool = False,
        until: str | None = None,
        max_steps: int | None = None,
        checkpoint: int | None = None,
        check_finite: bool = False,
    ) -> str:
        """Declare ``name``, ``body`` applied repeatedly: :func:`cgraph.loops.add_loop`.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> double = ComputationalGraph()
        >>> double.add_inputs(a=0.0)
        >>> double.add_computation_node("twice", "add", ("a", "a"))
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_loop("x8", double, carry={"a": "x"}, updates={"a": "twice"}, steps=3)
        'x8'
        >>> cg.forward("x8"), cg.backward("x8")
        (24.0, {'x': 8.0})
        """
        return loops.add_loop(
            self,
            name,
            body,
            carry,
            updates,
            inputs=inputs,
            xs=xs,
            steps=steps,
            output=output,
            stack=stack,
            until=until,
            max_steps=max_steps,
            checkpoint=checkpoint,
            check_finite=check_finite,
        )

    def jvp(
        self,
        root: str | None = None,
        tangents: Mapping[str, Any] | None = None,
        feed: Mapping[str, Any] | None = None,
    ) -> tuple[Any, Any]:
        """The root's value and tangent in one forward sweep: :func:`cgraph.transforms.jvp`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.jvp("y", {"x": 0.5})
        (9.0, 3.0)
        """
        return transforms.jvp(self, root, tangents, feed)

    def jacobian(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        mode: str = "auto",
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Jacobian of ``root`` by forward or reverse mode: :func:`cgraph.transforms.jacobian`.

        Examples
        --------
        >>> import numpy as np
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=np.array([1.0, 2.0]))
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.jacobian("y", "x", mode="forward")
        array([[2., 0.],
               [0., 4.]])
        """
        return transforms.jacobian(self, root, wrt, mode, feed)

    def gradient_graph(self, root: str | None, wrt: str | Sequence[str]) -> ComputationalGraph:
        """The backward pass as a new graph: :func:`cgraph.transforms.gradient_graph`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.gradient_graph("y", "x").forward("grad/y/x")
        6.0
        """
        return transforms.gradient_graph(self, root, wrt)

    def tangent_graph(
        self,
        root: str | None,
        tangents: Mapping[str, Any],
        feed: Mapping[str, Any] | None = None,
    ) -> ComputationalGraph:
        """The forward-mode pass as a new graph: :func:`cgraph.transforms.tangent_graph`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> cg.tangent_graph("y", {"x": 1.0}).forward("tangent/y/y")
        6.0
        """
        return transforms.tangent_graph(self, root, tangents, feed)

    def hessian(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Hessian of a scalar root: :func:`cgraph.transforms.hessian`.

        Examples
        --------
        >>> import numpy as np
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=np.array([1.0, 2.0]))
        >>> cg.add_computation_node("c", "mul", ("x", "x"))
        >>> cg.add_computation_node("f", "sum", ("c",))    # sum of x_i^2: H = 2 I
        >>> cg.hessian("f", "x")
        array([[2., 0.],
               [0., 2.]])
        """
        return transforms.hessian(self, root, wrt, feed)

    def hvp(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        v: Any,
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Hessian-vector product H v: :func:`cgraph.transforms.hvp`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "mul", ("x", "x"))
        >>> cg.add_computation_node("f", "mul", ("y", "x"))   # x^3: f'' = 6 x
        >>> cg.hvp("f", "x", 2.0)
        36.0
        """
        return transforms.hvp(self, root, wrt, v, feed)

    # ----------------------------------------------------------------------------------
    # Seeing the graph (cgraph.viz)
    # ----------------------------------------------------------------------------------

    def draw(
        self,
        root: str | None = None,
        *,
        depth: int | None = None,
        collapse: bool | str | Iterable[str] | None = None,
        expand: bool | str | Iterable[str] | None = None,
        ax: Any = None,
        path: str | None = None,
        max_nodes: int = 200,
    ) -> Any:
        """Draw the graph with matplotlib: :func:`cgraph.viz.draw`.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> fig, ax = plt.subplots()
        >>> cg.draw(ax=ax) is fig
        True
        >>> plt.close(fig)
        """
        return viz.draw(
            self,
            root,
            depth=depth,
            collapse=collapse,
            expand=expand,
            ax=ax,
            path=path,
            max_nodes=max_nodes,
        )

    def to_dot(
        self,
        root: str | None = None,
        *,
        depth: int | None = None,
        collapse: bool | str | Iterable[str] | None = None,
        expand: bool | str | Iterable[str] | None = None,
        max_nodes: int = 1000,
    ) -> str:
        """The graph as Graphviz DOT text: :func:`cgraph.viz.to_dot`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> print(cg.to_dot())
        digraph cgraph {
            rankdir=LR;
            node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];
            "x" [label=<<b>x</b><br/>input<br/><font color="#1a7f37">value 1</font>>, fillcolor="#dbeafe"];
        }
        """  # noqa: E501
        return viz.to_dot(
            self, root, depth=depth, collapse=collapse, expand=expand, max_nodes=max_nodes
        )

    def explain(self, wrt: str, root: str | None = None, max_paths: int = 1000) -> viz.Explanation:
        """The chain rule for d root / d ``wrt`` written out: :func:`cgraph.viz.explain`.

        Examples
        --------
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("s", "square", ("x",))
        >>> cg.add_computation_node("f", "add", ("s", "x"))
        >>> _ = cg.forward("f"); _ = cg.backward("f")
        >>> result = cg.explain("x")
        >>> [path.product for path in result.paths], result.total, result.gradient
        ([4.0, 1.0], 5.0, 5.0)
        """
        return viz.explain(self, wrt, root, max_paths=max_paths)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a graph as its drawing (None, so the text repr, when it cannot)."""
        return viz.repr_svg(self)

    # ----------------------------------------------------------------------------------
    # Graph files (cgraph.io)
    # ----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, array_threshold: int | None = None) -> None:
        """Write the graph to a JSON file, large arrays to an npz: :func:`cgraph.io.save`.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cg.save(pathlib.Path(tmp) / "graph.json")
        ...     print((pathlib.Path(tmp) / "graph.json").read_text(), end="")
        {"format": "cgraph", "version": 1, "nodes": [
          {"name": "x", "kind": "input", "trainable": true, "value": 2.0}
        ]}
        """
        io.save(
            self,
            path,
            array_threshold=io.ARRAY_THRESHOLD if array_threshold is None else array_threshold,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ComputationalGraph:
        """Read a graph written by :meth:`save` as a new graph: :func:`cgraph.io.load`.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cg.save(pathlib.Path(tmp) / "graph.json")
        ...     loaded = ComputationalGraph.load(pathlib.Path(tmp) / "graph.json")
        >>> loaded.forward("y"), loaded.backward("y")
        (9.0, {'x': 6.0})
        """
        return io.load(path, cls)

    def save_weights(
        self,
        path: str | os.PathLike[str],
        params: str | Iterable[str] | None = None,
        *,
        array_threshold: int | None = None,
    ) -> tuple[str, ...]:
        """Write inputs' values only, e.g. a group ``"layer1/"``: :func:`cgraph.io.save_weights`.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(**{"layer1/w": 1.0, "layer2/w": 2.0})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     cg.save_weights(pathlib.Path(tmp) / "layer1.json", "layer1/")
        ...     cg.load_weights(pathlib.Path(tmp) / "layer1.json")
        ('layer1/w',)
        ('layer1/w',)
        """
        return io.save_weights(
            self,
            path,
            params,
            array_threshold=io.ARRAY_THRESHOLD if array_threshold is None else array_threshold,
        )

    def load_weights(
        self,
        path: str | os.PathLike[str],
        params: str | Iterable[str] | None = None,
        *,
        strict: bool = True,
    ) -> tuple[str, ...]:
        """Set inputs to a weights file's values, all or nothing: :func:`cgraph.io.load_weights`.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(w=1.0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = cg.save_weights(pathlib.Path(tmp) / "weights.json")
        ...     cg.inputs["w"].output = 5.0
        ...     _ = cg.load_weights(pathlib.Path(tmp) / "weights.json")
        >>> cg.inputs["w"].output
        1.0
        """
        return io.load_weights(self, path, params, strict=strict)


def from_expression(
    text: str,
    *,
    name: str = "f",
    constants: Mapping[str, Any] | None = None,
    **inputs: Any,
) -> ComputationalGraph:
    """Build a whole graph from a formula and its input values, in one call.

    Parameters
    ----------
    text : str
        The formula, as for :func:`cgraph.expressions.add_expression`.
    name : str, default "f"
        The name of the formula's node (its intermediates are ``name/...``).
    constants : mapping of str to value, optional
        Named constants the formula may use, declared after the inputs.
    **inputs : float or array_like
        The trainable inputs, declared in keyword order (as ``add_inputs``).
        An input named ``text``, ``name`` or ``constants`` needs the long form:
        ``ComputationalGraph``, ``add_inputs`` and ``add_expression``.

    Returns
    -------
    ComputationalGraph
        The inputs, the constants and the expression's nodes.

    Raises
    ------
    GraphError
        Any error of ``add_inputs``, ``add_constant`` or ``add_expression``.

    Examples
    --------
    >>> import cgraph
    >>> cg = cgraph.from_expression("x * y + sin(x)", x=0.0, y=3.0)
    >>> cg.forward("f"), cg.backward("f")
    (0.0, {'x': 4.0, 'y': 0.0})
    """
    cg = ComputationalGraph()
    cg.add_inputs(**inputs)
    for constant, value in (constants or {}).items():
        cg.add_constant(constant, value)
    cg.add_expression(name, text)
    return cg

"""ComputationalGraph's methods for seeing the graph: drawings, DOT text, the chain rule.

The work itself is in :mod:`cgraph.viz` and :mod:`cgraph.explain`, imported only
when a method is called (so ``import cgraph`` needs no matplotlib). The methods
live apart so that ``graph.py`` stays the core: declare, schedule, forward, backward.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class GraphViews:
    """Mixin of ComputationalGraph: draw, to_dot, explain and the Jupyter drawing."""

    def draw(
        self,
        root: str | None = None,
        *,
        depth: int | None = None,
        collapse: bool | str | Iterable[str] | None = None,
        ax: Any = None,
        path: str | None = None,
        max_nodes: int = 200,
    ) -> Any:
        """Draw the graph with matplotlib, left to right, with values and gradients once known.

        Each box shows a node's name and op, its value (green) after ``forward``
        and its gradient (red) after ``backward``; inputs are blue, constants and
        fixed inputs grey. Needs matplotlib (``pip install "cgraph[viz]"``).

        Parameters
        ----------
        root : str, optional
            Draw only this node and its ancestors.
        depth : int, optional
            With ``root``: only nodes at most this many steps above it.
        collapse : bool, str or iterable of str, optional
            Draw the nodes named ``prefix/...`` as one box per prefix: ``True`` for
            every prefix before the first ``/``, or the prefixes to collapse.
        ax : matplotlib.axes.Axes, optional
            Draw on these axes; by default on a new pyplot figure sized to the graph.
        path : str, optional
            Also save the drawing to this file, in the format its extension names
            (``.png``, ``.svg``, ``.pdf``); a new figure is then closed after saving.
        max_nodes : int, default 200
            Refuse to draw more boxes than this.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        UnknownNodeError
            If ``root`` is not a node, or no node is named with a prefix in ``collapse``.
        GraphError
            If there would be more than ``max_nodes`` boxes, or ``path`` has an extension
            matplotlib cannot write.
        ImportError
            If matplotlib is not installed.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "square", ("x",))
        >>> _ = cg.forward("y"); _ = cg.backward("y")
        >>> fig = cg.draw()
        >>> sorted(text.get_text() for text in fig.axes[0].texts if text.get_text())
        ['grad 1', 'grad 6', 'input', 'square', 'value 3', 'value 9', 'x', 'y']
        """
        from cgraph.viz import draw

        return draw(self, root, depth=depth, collapse=collapse, ax=ax, path=path,
                    max_nodes=max_nodes)

    def to_dot(
        self,
        root: str | None = None,
        *,
        depth: int | None = None,
        collapse: bool | str | Iterable[str] | None = None,
        max_nodes: int = 1000,
    ) -> str:
        """The graph as Graphviz DOT text, laid out left to right, for ``dot -Tsvg``.

        Parameters
        ----------
        root, depth, collapse
            As for :meth:`draw`.
        max_nodes : int, default 1000
            Refuse graphs with more boxes than this.

        Returns
        -------
        str

        Raises
        ------
        UnknownNodeError, GraphError
            As for :meth:`draw`.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=3.0)
        >>> cg.add_computation_node("y", "mul", ("x", "x"))
        >>> print(cg.to_dot())  # doctest: +ELLIPSIS
        digraph cgraph {
            rankdir=LR;
        ...
            "x" -> "y";
            "x" -> "y";
        }
        """
        from cgraph.viz import to_dot

        return to_dot(self, root, depth=depth, collapse=collapse, max_nodes=max_nodes)

    def explain(self, wrt: str, root: str | None = None, max_paths: int = 1000) -> Any:
        """The chain rule for d root / d ``wrt`` written out: every path, step and product.

        The gradient is the sum over the paths from ``root`` down to ``wrt`` of the
        product of the local derivatives along each path. Each local derivative
        comes from the op's own ``backward``; the sum equals what ``backward`` gave.
        Explains scalar graphs only.

        Parameters
        ----------
        wrt : str
            The input (or intermediate node) whose gradient to explain.
        root : str, optional
            The node differentiated; by default the root of the last ``backward``.
        max_paths : int, default 1000
            Refuse when more paths than this lead from ``root`` to ``wrt``.

        Returns
        -------
        cgraph.explain.Explanation
            Printable; ``.paths`` (each with ``.nodes``, ``.factors``, ``.product``),
            ``.total`` and ``.gradient`` hold the numbers.

        Raises
        ------
        UnknownNodeError
            If ``wrt`` or ``root`` is not a node.
        NotComputedError
            If no ``backward`` of ``root`` has run since the last ``forward``.
        NoGradientError
            If ``root`` does not depend on ``wrt``.
        ShapeError
            If a node on a path holds an array.
        GraphError
            If there are more than ``max_paths`` paths.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("s", "square", ("x",))
        >>> cg.add_computation_node("f", "add", ("s", "x"))
        >>> _ = cg.forward("f"); _ = cg.backward("f")
        >>> result = cg.explain("x")
        >>> [path.factors for path in result.paths], result.total, result.gradient
        ([(1.0, 4.0), (1.0,)], 5.0, 5.0)
        """
        from cgraph.explain import explain

        return explain(self, wrt, root, max_paths=max_paths)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a graph as its drawing (None, so the text repr, when it cannot)."""
        from cgraph.viz import repr_svg

        return repr_svg(self)

"""ComputationalGraph's methods for forward mode, Jacobians and second derivatives.

The work itself is in :mod:`cgraph.modes`, :mod:`cgraph.symbolic` and
:mod:`cgraph.higher`, imported when a method is called. The methods live apart so
that ``graph.py`` stays the core: declare, schedule, forward, backward.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cgraph.graph import ComputationalGraph


class GraphDerivatives:
    """Mixin of ComputationalGraph: jvp, jacobian, gradient_graph, hessian and hvp."""

    # ----------------------------------------------------------------------------------
    # Forward mode and Jacobians (cgraph.modes)
    # ----------------------------------------------------------------------------------

    def jvp(
        self,
        root: str | None = None,
        tangents: Mapping[str, Any] | None = None,
        feed: Mapping[str, Any] | None = None,
    ) -> tuple[Any, Any]:
        """The root's value and its directional derivative in one forward sweep (forward mode).

        Every input x_i gets a tangent t_i (a direction), and each node carries its
        value and its tangent forward together, as dual numbers do: an op's ``jvp``
        turns its inputs' tangents into its output's. The root's tangent is the
        Jacobian-vector product ``sum_i (d root / d x_i) t_i``: with ``{"x": 1.0}``,
        d root / dx. Inputs without a tangent have tangent zero.

        Like ``forward``, it caches every node's value and clears the gradients, so
        ``backward(root)`` may follow.

        Parameters
        ----------
        root : str, optional
            The node to evaluate; by default the graph's only sink.
        tangents : mapping of str to float or array_like
            A tangent per input, by name: a float, or an array shaped like the
            input's value or broadcastable to it (``1.0`` for an array input is the
            all-ones direction). Trainable or not, as long as the input holds floats.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        value, tangent : float or numpy.ndarray
            The root's value and its tangent, shaped like the value.

        Raises
        ------
        UnknownNodeError
            If ``root``, a fed name or a name in ``tangents`` is not a node.
        InvalidValueError
            If a tangent names a constant, an operation or an integer input, or is
            not numeric.
        ShapeError
            If a tangent does not broadcast to its input's shape.
        InvalidOperationError
            If an op on the way has no tangent rule (``jvp``), naming the node and op.
        OperationError
            If an op's ``forward`` or ``jvp`` raised; the original error is chained.

        A call that raises changes no cached value or gradient.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0, y=3.0)
        >>> cg.add_computation_node("xy", "mul", ("x", "y"))
        >>> cg.add_computation_node("f", "sin", ("xy",))
        >>> value, dfdx = cg.jvp("f", tangents={"x": 1.0})   # df/dx = y cos(xy)
        >>> round(value, 6), round(dfdx, 6)
        (-0.279415, 2.880511)
        >>> round(cg.backward("f")["x"], 6)                      # reverse mode agrees
        2.880511
        """
        from cgraph.modes import jvp

        return jvp(self, root, tangents, feed)

    def jacobian(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        mode: str = "auto",
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Jacobian of ``root`` with respect to one input or several, like torch's.

        ``J[i..., j...] = d root[i...] / d x[j...]``, shaped ``root.shape + x.shape``
        as ``torch.autograd.functional.jacobian`` gives it: for a scalar root it is
        the gradient, for a scalar input the derivative of every output element.

        Forward mode (``mode="forward"``) computes it a column at a time, one
        ``jvp`` sweep per input element; reverse mode (``"reverse"``) a row at a
        time, one ``backward`` per output element, seeded with that element's
        one-hot vector. Each sweep costs about one forward pass, so ``"auto"`` picks
        forward mode when the inputs have fewer elements in total than the root,
        and reverse mode otherwise (a gradient of a scalar is a single backward),
        and forward mode whenever an input in ``wrt`` is not trainable (backward
        computes no gradient for it).

        Afterwards the graph is as after ``forward(root, feed)``: every value of this
        point cached, no gradient (the per-row gradients are not kept).

        Parameters
        ----------
        root : str or None
            The node to differentiate; None for the graph's only sink.
        wrt : str or sequence of str
            An input's name, or several.
        mode : {"auto", "forward", "reverse"}, default "auto"
            How to compute it; all give the same numbers.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        numpy.ndarray, float, or tuple of them
            For a name, an array shaped ``root.shape + input.shape`` (a float when
            both are scalars); for a sequence of names, a tuple of such blocks. An
            input the root does not depend on gets zeros.

        Raises
        ------
        UnknownNodeError
            If ``root``, a fed name or a name in ``wrt`` is not a node.
        InvalidValueError
            If ``wrt`` names a constant, an operation or an integer input.
        NoGradientError
            With ``mode="reverse"``, if an input in ``wrt`` is not trainable.
        GraphError
            If ``mode`` is none of the three.
        InvalidOperationError
            In forward mode, if an op on the way has no tangent rule.
        OperationError, ShapeError
            As for ``forward`` and ``backward``.

        A call that raises changes no cached value or gradient.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> import numpy as np
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=np.array([1.0, 2.0, 3.0]), w=2.0)
        >>> cg.add_computation_node("wx", "mul", ("w", "x"))
        >>> cg.add_computation_node("y", "square", ("wx",))     # y_i = (w x_i)^2
        >>> cg.jacobian("y", "x")                                # 2 w^2 x_i on the diagonal
        array([[ 8.,  0.,  0.],
               [ 0., 16.,  0.],
               [ 0.,  0., 24.]])
        >>> dydx, dydw = cg.jacobian("y", ["x", "w"], mode="reverse")
        >>> dydw                                                 # 2 w x_i^2
        array([ 4., 16., 36.])
        """
        from cgraph.modes import jacobian

        return jacobian(self, root, wrt, mode, feed)

    # ----------------------------------------------------------------------------------
    # Gradient graphs and second derivatives (cgraph.symbolic, cgraph.higher)
    # ----------------------------------------------------------------------------------

    def gradient_graph(
        self, root: str | None, wrt: str | Sequence[str]
    ) -> ComputationalGraph:
        """The backward pass as a new graph of named nodes, to draw, read or differentiate again.

        The new graph holds the forward nodes ``root`` needs (same names, inputs and
        values) and, for every node ``n`` on a path from the root to an input in
        ``wrt``, a node ``grad/{root}/{n}`` computing d root / d n: ``grad/f/x`` for
        input ``x``. Each op's pullback rule, run on terms, declares its pieces,
        named ``grad/{root}/{child}/{op}``; a node used by several
        children sums their contributions (``grad/{root}/{n}/from_{child}``) in the
        order ``backward`` does, and broadcasting is undone by ``unbroadcast`` nodes.
        The root is seeded with ones (``grad/{root}/{root}``), as by ``backward``.

        Every value is computed at the inputs' current values; the new graph's
        ``forward`` recomputes them, and its ``backward`` or its own gradient graph
        differentiates the gradient again. This graph is not changed.

        Parameters
        ----------
        root : str or None
            The node to differentiate; None for the graph's only sink.
        wrt : str or sequence of str
            The trainable inputs whose gradients ``grad/{root}/{name}`` are wanted.

        Returns
        -------
        ComputationalGraph
            A new graph; ``grad/{root}/{name}`` for each name in ``wrt`` is its
            gradient (a zero constant if the root does not depend on the input).

        Raises
        ------
        UnknownNodeError
            If ``root`` or a name in ``wrt`` is not a node.
        InvalidValueError
            If ``wrt`` names a constant, an operation or an integer input.
        NoGradientError
            If an input in ``wrt`` is not trainable.
        InvalidOperationError
            If an op on the way has no symbolic rule (a classic op without
            ``backward_graph``).
        OperationError, ShapeError
            As for ``forward``.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("s", "sin", ("x",))
        >>> cg.add_computation_node("f", "mul", ("s", "x"))      # f = x sin x
        >>> gg = cg.gradient_graph("f", "x")
        >>> [name for name in gg if name.startswith("grad/")]
        ['grad/f/f', 'grad/f/s', 'grad/f/x/from_f', 'grad/f/s/cos', 'grad/f/x/from_s', 'grad/f/x']
        >>> round(gg.forward("grad/f/x"), 6)                      # sin x + x cos x
        0.077004
        >>> round(gg.backward("grad/f/x")["x"], 6)                # f'' = 2 cos x - x sin x
        -2.650889
        """
        from cgraph.symbolic import gradient_graph

        return gradient_graph(self, root, wrt)

    def tangent_graph(
        self, root: str | None, tangents: Mapping[str, Any],
        feed: Mapping[str, Any] | None = None,
    ) -> ComputationalGraph:
        """The forward-mode pass as a new graph of named nodes, to draw, read or differentiate.

        The new graph holds the forward nodes ``root`` needs (same names, inputs
        and values), an input ``tangent/{root}/{x}`` holding the tangent of each
        input ``x`` in ``tangents``, and for every node ``n`` a tangent reaches a
        node ``tangent/{root}/{n}`` computing its directional derivative: the
        root's is ``J t``, as ``jvp`` gives. Each op's pushforward rule, run on
        terms, declares its pieces, named ``tangent/{root}/{n}/{op}``.

        The result differentiates again in either mode: its own tangent graph is
        forward-over-forward, and ``backward`` of ``tangent/{root}/{root}`` is
        reverse-over-forward (``H t`` for a scalar root). Feed the tangent inputs
        to move the direction without rebuilding. This graph is not changed.

        Parameters
        ----------
        root : str or None
            The node whose tangent is wanted; None for the graph's only sink.
        tangents : mapping of str to float or array_like
            A tangent for each input to move, shaped like it (or broadcastable).
        feed : mapping of str to value, optional
            Input values to use instead of the inputs' own.

        Returns
        -------
        ComputationalGraph
            A new graph; ``tangent/{root}/{root}`` is the root's tangent (a zero
            constant if no tangent reaches it).

        Raises
        ------
        UnknownNodeError, InvalidValueError, ShapeError
            For tangents of nodes that are not float inputs, or of the wrong shape.
        InvalidOperationError
            If an op on the way has no pushforward rule that runs on terms.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=2.0)
        >>> cg.add_computation_node("sq", "square", ("x",))
        >>> cg.add_computation_node("f", "mul", ("sq", "x"))       # f = x^3
        >>> tg = cg.tangent_graph("f", {"x": 1.0})
        >>> tg.forward("tangent/f/f")                              # 3 x^2
        12.0
        >>> tg.backward("tangent/f/f")["x"]                        # reverse over forward: 6x
        12.0
        >>> tg2 = tg.tangent_graph("tangent/f/f", {"x": 1.0})       # forward over forward
        >>> tg2.forward("tangent/tangent/f/f/tangent/f/f")
        12.0
        """
        from cgraph.tangent_graph import tangent_graph

        return tangent_graph(self, root, tangents, feed)

    def hessian(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Hessian of a scalar root, shaped like torch.autograd.functional.hessian's.

        ``H[i..., j...] = d^2 root / dx[i...] dx[j...]``, shaped ``x.shape + x.shape``.
        For a list of inputs, a tuple of tuples of blocks: ``H[i][j]`` is shaped
        ``x_i.shape + x_j.shape``. Computed forward over reverse: the gradient graph
        (built once and kept until the graph's structure changes) is evaluated once,
        then one ``jvp`` sweep per input element gives a column. The graph's values
        and gradients are not changed.

        Parameters
        ----------
        root : str or None
            A node holding a single number; None for the graph's only sink.
        wrt : str or sequence of str
            A trainable input's name, or several.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        numpy.ndarray, float, or tuple of tuples of them
            A float when the input is a single number.

        Raises
        ------
        ShapeError
            If the root is not a single number (shape ``()``).
        UnknownNodeError, InvalidValueError, NoGradientError, InvalidOperationError
            As for :meth:`gradient_graph`.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0, y=2.0)
        >>> cg.add_computation_node("xy", "mul", ("x", "y"))
        >>> cg.add_computation_node("f", "mul", ("xy", "y"))     # f = x y^2
        >>> cg.hessian("f", "y")                                  # 2 x
        2.0
        >>> H = cg.hessian("f", ["x", "y"])
        >>> H[0][1], H[1][0]                                      # 2 y, both ways
        (4.0, 4.0)
        """
        from cgraph.higher import hessian

        return hessian(self, root, wrt, feed)

    def hvp(
        self,
        root: str | None,
        wrt: str | Sequence[str],
        v: Any,
        feed: Mapping[str, Any] | None = None,
    ) -> Any:
        """The Hessian-vector product H v of a scalar root, without forming the Hessian.

        One forward-mode (``jvp``) sweep of the gradient graph with tangent ``v``:
        about the cost of two forward passes, whatever the number of inputs. The
        gradient graph is built on the first call and kept until the graph's
        structure (or an input's shape) changes, so repeated calls (Newton-CG,
        power iteration) cost only their sweep. The graph's values and gradients
        are not changed.

        Parameters
        ----------
        root : str or None
            A node holding a single number; None for the graph's only sink.
        wrt : str or sequence of str
            A trainable input's name, or several.
        v : float, array_like, dict or sequence
            The direction: shaped like the input for a name; for a list of names, a
            dict by name (names left out have direction zero) or one part per name.
        feed : mapping of str to value, optional
            Input values for this call only, as for ``forward``.

        Returns
        -------
        float, numpy.ndarray, or tuple of them
            H v, shaped like the input; for a list of names a tuple, one part per
            name: ``(H v)_i = sum_j H[i][j] v_j``.

        Raises
        ------
        ShapeError
            If the root is not a single number, or ``v`` does not fit the inputs.
        InvalidValueError
            If ``v`` names an input not in ``wrt``, or is not numeric.
        UnknownNodeError, NoGradientError, InvalidOperationError
            As for :meth:`gradient_graph`.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> import numpy as np
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=np.array([1.0, 2.0]))
        >>> cg.add_computation_node("c", "mul", ("x", "x"))
        >>> cg.add_computation_node("q", "mul", ("c", "x"))
        >>> cg.add_computation_node("f", "sum", ("q",))          # sum of x_i^3: H = diag(6 x)
        >>> cg.hvp("f", "x", np.array([1.0, 1.0]))
        array([ 6., 12.])
        """
        from cgraph.higher import hvp

        return hvp(self, root, wrt, v, feed)

"""The chain rule written out, path by path, as the seeds work a gradient by hand.

For a root ``f`` and a node ``x`` it depends on, df/dx is the sum over every
path from ``f`` down to ``x`` of the product of the local derivatives along the
path, d child / d parent, one per step. :func:`explain` lists those paths, the
local derivative of each step, each path's product and their sum, next to the
gradient ``backward`` gave, which it must equal.

Each local derivative comes from the operation's own ``backward``: a copy of the
node's op is run forward on the node's inputs (the values of the last forward
pass) and pulled back from an upstream gradient of 1. The graph's own ops and
cached values are never touched.

Only scalar graphs are explained: along a path of arrays each step is a Jacobian
matrix, not a number, and the sum over paths of products of matrices is no
longer something to read off a page. For arrays, read ``get_gradient``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cgraph.engine.diagnostics import as_gradient_tuple, backward_failure
from cgraph.engine.nodes import Node, OperationNode
from cgraph.engine.passes import ones_like
from cgraph.engine.summary import describe_value
from cgraph.errors import GraphError, InvalidValueError, NotComputedError, ShapeError
from cgraph.messages import shown
from cgraph.ops import numeric
from cgraph.ops.operation import unbroadcast
from cgraph.viz.loops import loop_details, loop_of

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["Explanation", "ChainPath", "Step", "explain"]

#: The most paths an explanation lists unless told otherwise (the count can grow
#: exponentially with depth: a chain of n diamonds has 2^n paths).
MAX_PATHS = 1000
_SHOWN_PATHS = 20  # paths written out by str(); the rest are summed and counted


class Step(NamedTuple):
    """One step of a path: the local derivative d child / d parent.

    Attributes
    ----------
    child, parent : str
        The node the step goes from (nearer the root) and the input it goes to.
    argument : int
        Which of the child's inputs the parent is (0 for the first), which tells
        apart the two steps from ``mul(x, x)`` to ``x``.
    op : str
        The child's operation, e.g. ``'div'``.
    inputs : tuple of str
        The child's inputs, in order.
    factor : float
        d child / d parent at the values of the last forward pass.
    about : str
        For a loop, what it is: its count and carries
        (:func:`cgraph.viz.loops.loop_details`); empty for any other op.
    """

    child: str
    parent: str
    argument: int
    op: str
    inputs: tuple[str, ...]
    factor: float
    about: str = ""


@dataclass(frozen=True)
class ChainPath:
    """One path from the root down to the node explained, with its local derivatives.

    Attributes
    ----------
    steps : tuple of Step
        The steps from the root downwards.
    product : float
        The product of the steps' factors: this path's share of the gradient.
    """

    steps: tuple[Step, ...]
    product: float

    @property
    def nodes(self) -> tuple[str, ...]:
        """The names along the path, from the root down to the node explained.

        Examples
        --------
        >>> ChainPath((Step("f", "x", 0, "square", ("x",), 4.0),), 4.0).nodes
        ('f', 'x')
        """
        return (self.steps[0].child, *(step.parent for step in self.steps)) if self.steps else ()

    @property
    def factors(self) -> tuple[float, ...]:
        """The local derivative of each step, from the root downwards.

        Examples
        --------
        >>> ChainPath((Step("f", "x", 0, "square", ("x",), 4.0),), 4.0).factors
        (4.0,)
        """
        return tuple(step.factor for step in self.steps)


@dataclass(frozen=True)
class Explanation:
    """The chain rule for d root / d wrt: every path, its factors and product, and the sum.

    ``str()`` writes it out; the attributes hold the same numbers.

    Attributes
    ----------
    root, wrt : str
        The node differentiated and the node it is differentiated with respect to.
    paths : tuple of ChainPath
        Every path from ``root`` down to ``wrt``, in the order of the nodes' inputs.
    total : float
        The sum of the paths' products: the chain rule's answer.
    gradient : float
        The gradient the last ``backward`` gave ``wrt``, which ``total`` equals up
        to rounding.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("y", "mul", ("x", "x"))
    >>> _ = cg.forward("y"); _ = cg.backward("y")
    >>> print(cg.explain("x"))
    dy/dx by the chain rule: the sum over the 2 paths from 'y' down to 'x'
    path 1: y -> x
      d y / d x = 3   y = mul(x, x), argument 1
      product   = 3
    path 2: y -> x
      d y / d x = 3   y = mul(x, x), argument 2
      product   = 3
    sum over the 2 paths = 3 + 3 = 6
    backward gave dy/dx  = 6
    """

    root: str
    wrt: str
    paths: tuple[ChainPath, ...]
    total: float
    gradient: float

    def __str__(self) -> str:
        count = len(self.paths)
        plural = f"{count} path" if count == 1 else f"{count} paths"
        lines = [
            f"d{self.root}/d{self.wrt} by the chain rule: the sum over the {plural} "
            f"from {self.root!r} down to {self.wrt!r}"
        ]
        shown = self.paths[:_SHOWN_PATHS]
        steps = [step for path in shown for step in path.steps]
        width = max([len("product"), *(len(_derivative(step)) for step in steps)])
        factor_width = max([0, *(len(describe_value(step.factor)) for step in steps)])
        for number, path in enumerate(shown, start=1):
            lines.append(f"path {number}: {' -> '.join(path.nodes) or self.root}")
            for step in path.steps:
                factor = describe_value(step.factor).ljust(factor_width)
                lines.append(f"  {_derivative(step).ljust(width)} = {factor}   {_step_text(step)}")
            factors = " * ".join(describe_value(factor) for factor in path.factors)
            shown_factors = f"{factors} = " if len(path.steps) > 1 else ""
            lines.append(
                f"  {'product'.ljust(width)} = {shown_factors}{describe_value(path.product)}"
            )
        if count > len(shown):
            lines.append(f"... {count - len(shown)} more paths, in .paths ...")
        total_label = f"sum over the {plural}"
        backward_label = f"backward gave d{self.root}/d{self.wrt}"
        label_width = max(len(total_label), len(backward_label))
        terms = _sum_text([path.product for path in shown]) if count == len(shown) else ""
        lines.append(f"{total_label.ljust(label_width)} = {terms}{describe_value(self.total)}")
        lines.append(f"{backward_label.ljust(label_width)} = {describe_value(self.gradient)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<Explanation of d{self.root}/d{self.wrt}: {len(self.paths)} paths, "
            f"total {describe_value(self.total)}, backward {describe_value(self.gradient)}>"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython and Jupyter show the whole explanation, not the one-line repr."""
        printer.text(str(self))


def _sum_text(products: list[float]) -> str:
    """'a + b - c = ' for several products, '' for one (nothing to add up)."""
    if len(products) < 2:
        return ""
    text = describe_value(products[0])
    for product in products[1:]:
        sign = "-" if product < 0 else "+"
        text += f" {sign} {describe_value(abs(product))}"
    return text + " = "


def _derivative(step: Step) -> str:
    return f"d {step.child} / d {step.parent}"


def _step_text(step: Step) -> str:
    """How the child is computed; which argument, when the parent is several (mul(x, x))."""
    text = f"{step.child} = {step.op}({', '.join(step.inputs)})"
    if step.inputs.count(step.parent) > 1:
        text += f", argument {step.argument + 1}"
    if step.about:  # a loop: the count and the carries say what the op does
        text += f": {step.about}"
    return text


def explain(
    cg: GraphCore, wrt: str, root: str | None = None, max_paths: int = MAX_PATHS
) -> Explanation:
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
    cgraph.viz.explain.Explanation
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
    if isinstance(max_paths, bool) or not isinstance(max_paths, (int, np.integer)):
        raise InvalidValueError(
            f"explain: max_paths must be a whole number (an int), not {shown(max_paths)} "
            f"({type(max_paths).__name__}); e.g. explain('x', max_paths=1000)",
            nodes=[],
        )
    target = cg.get_node(wrt, "wrt")
    root_node = _differentiated_root(cg, root)
    why = cg.stale(root_node.name)  # an input assigned since: the factors would mix two states
    if why is not None:
        raise NotComputedError(
            f"explain of {root_node.name!r}: its value is stale: {why}", nodes=[root_node.name]
        )
    gradient = cg.get_gradient(wrt)  # NoGradientError when root does not depend on wrt
    ancestors = cg.schedule(root_node.name).nodes
    counts = _path_counts(ancestors, target)
    count = counts.get(root_node.index, 0)
    if count > max_paths:
        raise GraphError(
            f"explain: there are {count} paths from {root_node.name!r} down to {wrt!r}, more "
            f"than max_paths={max_paths}; explain a node nearer the root, or pass a larger "
            "max_paths",
            nodes=[wrt, root_node.name],
        )
    values = _evaluated_values(cg)
    for node in ancestors:
        if node.index in counts:
            _check_scalar(node, values, wrt)
    factors: dict[int, tuple[float, ...]] = {}
    paths = []
    for steps in _enumerate_paths(root_node, target, counts):
        path_steps = []
        product = 1.0
        for child, argument in steps:
            if child.index not in factors:
                factors[child.index] = _local_derivatives(child, values)
            factor = factors[child.index][argument]
            product *= factor
            path_steps.append(
                Step(
                    child.name,
                    child.parents[argument].name,
                    argument,
                    _op_name(child),
                    child.input_names,
                    factor,
                    loop_details(child) if loop_of(child) is not None else "",
                )
            )
        paths.append(ChainPath(tuple(path_steps), product))
    total = sum(path.product for path in paths)
    return Explanation(root_node.name, wrt, tuple(paths), total, float(gradient))


def _differentiated_root(cg: GraphCore, root: str | None) -> Node:
    """The root of the last backward, checked against the one asked for."""
    asked = cg.get_node(root, "root") if root is not None else None
    last = cg.last_backward
    if last is None:
        name = root or "root"
        raise NotComputedError(
            f"explain needs the gradients of a backward pass: call forward({name!r}) and "
            f"backward({name!r}) first (every forward clears the gradients)",
            nodes=[root] if root else [],
        )
    if root is not None and asked is not last.root:
        raise NotComputedError(
            f"explain of {root!r}: the last backward was of {last.root.name!r}; call "
            f"forward({root!r}) and backward({root!r}) first",
            nodes=[root, last.root.name],
        )
    return last.root


def _path_counts(ancestors: list[Node], target: Node) -> dict[int, int]:
    """How many paths lead from each node down to ``target``, by index; only nodes with some.

    ``ancestors`` is in topological order, so each node's parents are counted
    before it: one loop, no recursion, however deep the graph.
    """
    counts = {target.index: 1}
    for node in ancestors:
        if node.index > target.index:
            paths = sum(counts.get(parent.index, 0) for parent in node.parents)
            if paths:
                counts[node.index] = paths
    return counts


def _enumerate_paths(root: Node, target: Node, counts: dict[int, int]) -> list[list[tuple]]:
    """Every path from root to target as (child, argument) steps, depth first, without recursion."""
    paths = []
    stack: list[tuple[Node, list[tuple[Node, int]]]] = [(root, [])]
    while stack:
        node, steps = stack.pop()
        if node is target:
            paths.append(steps)
            continue
        # Pushed in reverse, so the first argument's paths come out first.
        for argument in reversed(range(len(node.parents))):
            parent = node.parents[argument]
            if parent.index in counts:
                stack.append((parent, [*steps, (node, argument)]))
    return paths


def _evaluated_values(cg: GraphCore) -> dict[str, Any]:
    """The inputs fed to the last forward pass, which backward's gradients belong to."""
    return dict(cg.last_pass.feed) if cg.last_pass is not None else {}


def _value(node: Node, fed: dict[str, Any]) -> Any:
    return fed.get(node.name, node.output)


def _check_scalar(node: Node, fed: dict[str, Any], wrt: str) -> None:
    shape = np.shape(_value(node, fed))
    if shape != ():
        raise ShapeError(
            f"explain writes out the chain rule for scalar nodes, but {node.name!r}, on a path "
            f"to {wrt!r}, has shape {shape} (each step would be a Jacobian matrix); read the "
            f"gradient with get_gradient({wrt!r})",
            nodes=[node.name, wrt],
        )


def _local_derivatives(node: OperationNode, fed: dict[str, Any]) -> tuple[float, ...]:
    """d node / d input for each input, from the op's own rule (its pullback of 1).

    A classic op reads what its forward saved, so the rule runs on a copy of the
    op, run forward on the node's inputs first: the node's own op is left as it was.
    """
    op = node.op.copy()
    try:
        inputs = [_value(parent, fed) for parent in node.parents]
        output = op.forward(*inputs)
        local = as_gradient_tuple(node, op.pullback(numeric, ones_like(output), output, *inputs))
    except GraphError:
        raise
    except Exception as error:
        raise backward_failure(node, error) from error
    return tuple(0.0 if grad is None else float(unbroadcast(grad, (), node.name)) for grad in local)


def _op_name(node: OperationNode) -> str:
    return type(node.op).name or type(node.op).__name__

"""The problem minimize() solves: a graph's loss and gradient over its parameters, and the result.

:func:`cgraph.minimize` drives it with an optimiser (:mod:`cgraph.optim.minimize`)
or with scipy (:mod:`cgraph.optim.scipy_minimize`); both report an
:class:`OptimizeResult`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.errors import GraphError, NonFiniteError
from cgraph.ops.namespaces import computed, is_lazy, namespace
from cgraph.optim.optimizers import Adam, Optimizer, trainable_params

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["OptimizeResult", "Problem", "StopRequestedError", "callback_stops"]


@dataclass
class OptimizeResult:
    """What :func:`minimize` returns, in scipy.optimize.OptimizeResult's shape.

    Attributes
    ----------
    x : dict of str to float or numpy.ndarray
        The final value of each parameter, by name (copies).
    fun : float
        The loss at ``x`` (the sum of the root's elements for an array root).
    nit : int
        The number of steps (iterations) taken.
    success : bool
        Whether a tolerance was met (``tol`` or ``ftol``, or scipy's own test).
    message : str
        Why the run stopped.
    jac : dict of str to float or numpy.ndarray
        The gradient at ``x``, by name.
    nfev : int
        The number of loss evaluations.
    history : dict
        ``history["loss"]``, the loss after each step (index 0 is the start), and
        ``history["x"][name]``, that parameter's value after each step, stacked
        along a first axis of length ``nit + 1``.
    method : str
        The optimiser or scipy method used.

    Items can also be read as ``result["fun"]``, as with scipy's result.

    Examples
    --------
    >>> from cgraph import OptimizeResult
    >>> result = OptimizeResult(x={"x": 1.0}, fun=0.0, nit=3, success=True, message="done")
    >>> result.fun, result["nit"]
    (0.0, 3)
    """

    x: dict[str, Any]
    fun: float
    nit: int
    success: bool
    message: str
    jac: dict[str, Any] = field(default_factory=dict)
    nfev: int = 0
    history: dict[str, Any] = field(default_factory=dict)
    method: str = ""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __repr__(self) -> str:
        # As scipy prints its result: one aligned line per field; the history summarised.
        shown = {
            key: repr(value) if isinstance(value, str) else str(value)
            for key, value in vars(self).items()
            if key != "history"
        }
        if self.history:
            shown["history"] = f"<loss and x for {len(self.history['loss'])} points>"
        width = max(map(len, shown))
        return "\n".join(f"{key:>{width}}: {value}" for key, value in shown.items())


class StopRequestedError(Exception):
    """The user's callback asked to stop (raised through scipy, caught outside it)."""


def callback_stops(
    callback: Callable[..., Any],
    problem: Problem,
    x: dict[str, Any],
    loss: float,
    grads: dict[str, Any],
    nit: int,
) -> bool:
    """Whether the user's callback asks to stop (returns True or raises StopIteration)."""
    current = OptimizeResult(
        x=x,
        fun=loss,
        nit=nit,
        success=False,
        message="running",
        jac={name: grads[name] for name in problem.names},
    )
    try:
        asked = callback(current)
    except StopIteration:
        return True
    # Only True stops (numpy's too), so a callback that returns something by accident does not.
    return isinstance(asked, (bool, np.bool_)) and bool(asked)


class Problem:
    """The loss and its gradient over the parameters, evaluated through the graph."""

    def __init__(
        self, cg: GraphCore, root: str, params: Any, optimizer: Optimizer | None, feed: Any
    ) -> None:
        self.cg, self.root, self.feed, self.nfev = cg, root, feed, 0
        if optimizer is not None and optimizer.graph is not None:
            if optimizer.graph is not cg:
                raise GraphError(
                    f"the optimiser {optimizer!r} is bound to another graph; "
                    "pass an unbound one, or bind it to this graph"
                )
            if params is not None and trainable_params(cg, params) != optimizer.params:
                raise GraphError(
                    f"params {params!r} differ from those the optimiser is bound to, "
                    f"{optimizer.params}; pass one or the other",
                    nodes=optimizer.params,
                )
            params = optimizer.params
        if params is None:
            _check_no_data_is_trained(cg, root, feed)
        try:
            self.loss, self.grads = self.evaluate(feed)
        except NonFiniteError as error:
            raise self.diverged(error, 0, None, None) from error
        if params is None:
            self.names = tuple(name for name in cg.inputs if name in self.grads)
            if not self.names:
                raise GraphError(
                    f"{root!r} depends on no trainable input: nothing to optimise", nodes=[root]
                )
        else:
            self.names = trainable_params(cg, params)
            for name in self.names:
                if name not in self.grads:
                    raise GraphError(
                        f"{root!r} does not depend on parameter {name!r}; leave it out of params",
                        nodes=[name, root],
                    )
        self.nodes = [cg.inputs[name] for name in self.names]
        self.optimizer = optimizer or Adam()
        if self.optimizer.graph is None:
            self.optimizer.bind(cg, self.names)

    def evaluate(self, feed: Any) -> tuple[float, dict[str, Any]]:
        """The loss and gradients at the parameters' current values; diagnoses a NaN or inf."""
        cg, root = self.cg, self.root
        self.nfev += 1
        loss = cg.forward(root, feed)
        grads = None
        if is_lazy(loss):  # Dask: the loss and every gradient in one compute, sharing the work
            loss, grads = computed(loss, cg.backward(root))
            grads = {name: _in_memory(grad, cg.inputs[name].output) for name, grad in grads.items()}
        if type(loss) is not float:
            loss = float(namespace(loss).sum(loss))
        if not math.isfinite(loss):
            cg.forward(root, feed, check_finite=True)  # raises, naming the first non-finite node
            raise NonFiniteError(f"the loss {root!r} is {loss}", nodes=[root])  # overflow in a sum
        if grads is None:
            grads = cg.backward(root)
        if not math.isfinite(self.grad_norm(grads)):
            cg.backward(root, check_finite=True)
            bad = [name for name, grad in grads.items() if not np.all(np.isfinite(grad))]
            raise NonFiniteError(
                f"the gradient of {root!r} with respect to {bad} is not finite", nodes=bad
            )
        self.feed = feed  # the feed of the last finite point, for restore()
        return loss, grads

    def grad_norm(self, grads: dict[str, Any]) -> float:
        """The largest absolute element of any gradient (scipy's gtol norm)."""
        return max(
            (
                float(np.max(np.abs(grad))) if np.ndim(grad) else abs(grad)
                for grad in grads.values()
            ),
            default=0.0,
        )

    def snapshot(self) -> dict[str, Any]:
        """A copy of every parameter's value, by name."""
        return {
            node.name: node.output.copy() if isinstance(node.output, np.ndarray) else node.output
            for node in self.nodes
        }

    def restore(self, values: dict[str, Any]) -> None:
        """Put the parameters back to ``values``, arrays in place, and re-evaluate there."""
        for node in self.nodes:
            if isinstance(node.output, np.ndarray):
                node.output[...] = values[node.name]
                node.mark_changed()
            else:
                node.output = values[node.name]
        self.evaluate(self.feed)

    def diverged(
        self,
        error: NonFiniteError,
        nit: int,
        last_loss: float | None,
        last_point: dict[str, Any] | None,
        hint: str = "lower the learning rate or start elsewhere",
    ) -> NonFiniteError:
        """The error for a run that went non-finite, after restoring the last finite point."""
        if last_loss is None:
            kept = (
                "at the starting point, where the loss or its gradient is not finite; "
                "start from values where both are"
            )
        else:
            if last_point is not None:
                self.restore(last_point)
            kept = (
                f"at step {nit}; the parameters keep their values of step "
                f"{nit - 1}, where the loss was "
                f"{last_loss:.6g}; {hint}"
            )
        return NonFiniteError(
            f"minimize of {self.root!r} diverged {kept}: {error}", nodes=error.nodes
        )

    def result(
        self,
        loss: float,
        grads: dict[str, Any],
        nit: int,
        success: bool,
        message: str,
        losses: list[float],
        points: list[dict[str, Any]],
        method: str,
    ) -> OptimizeResult:
        """The OptimizeResult at the current point."""
        history = {
            "loss": np.array(losses),
            "x": {name: np.array([point[name] for point in points]) for name in self.names},
        }
        jac = {
            name: grads[name] + 0.0 if np.ndim(grads[name]) else grads[name] for name in self.names
        }  # copies: backward's arrays may be shared
        return OptimizeResult(
            x=points[-1],
            fun=loss,
            nit=nit,
            success=success,
            message=message,
            jac=jac,
            nfev=self.nfev,
            history=history,
            method=method,
        )


def _in_memory(grad: Any, value: Any) -> Any:
    """A computed gradient in its parameter's form: a float for a float parameter."""
    return float(grad) if type(value) is float else grad


def _check_no_data_is_trained(cg: GraphCore, root: str, feed: Any) -> None:
    """Refuse to guess the parameters when some trainable inputs may be data.

    By default minimize trains every trainable input the root depends on. That is
    a safe guess when there is one, when they are all numbers (a function of a few
    variables), or when the data is marked as such: an array input declared with
    ``trainable=False``, an array constant, or data fed with ``feed=``. Otherwise
    several trainable arrays with nothing marked as data may hold samples and
    targets, and training them would cost the user their data: say so and ask.
    """
    schedule = cg.schedule(root)
    leaves = schedule.nodes[: schedule.leaf_count]
    trainable = [leaf for leaf in leaves if leaf.requires_grad]
    if len(trainable) < 2 or all(np.ndim(leaf.output) == 0 for leaf in trainable):
        return
    if feed or any(np.ndim(leaf.output) > 0 for leaf in leaves if not leaf.requires_grad):
        return
    listed = ", ".join(f"{leaf.name!r} {np.shape(leaf.output)}" for leaf in trainable)
    example = ", ".join(repr(leaf.name) for leaf in trainable[-2:])
    raise GraphError(
        f"minimize({root!r}) would train every trainable input it depends on: {listed}; "
        "nothing is marked as data, so some of these may be samples or targets that must "
        f"not change. Name the parameters, e.g. params=[{example}], or declare the data "
        "with add_input(name, value, trainable=False) or add_constant(name, value)",
        nodes=[leaf.name for leaf in trainable],
    )

"""minimize(): run an optimiser, or a scipy.optimize method, on a graph's loss until it stops.

The loop is the hand-written one (``forward``, ``backward``, an optimiser step)
with stopping rules, mini-batch feeds, divergence checks, a history and a
progress bar around it. The result has scipy.optimize's shape.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.errors import GraphError, InvalidValueError, NonFiniteError
from cgraph.lr_scheduler import hyperparameter
from cgraph.optim import Adam, Optimizer, trainable_params

if TYPE_CHECKING:
    from cgraph.graph import ComputationalGraph

__all__ = ["minimize", "OptimizeResult"]

#: Runs at least this long get a progress bar when ``progress=None`` and stderr is a terminal.
AUTO_PROGRESS_STEPS = 1000


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
        shown = {key: repr(value) if isinstance(value, str) else str(value)
                 for key, value in vars(self).items() if key != "history"}
        if self.history:
            shown["history"] = f"<loss and x for {len(self.history['loss'])} points>"
        width = max(map(len, shown))
        return "\n".join(f"{key:>{width}}: {value}" for key, value in shown.items())


class _StopRequestedError(Exception):
    """The user's callback asked to stop (raised through scipy, caught outside it)."""


def minimize(
    cg: ComputationalGraph,
    root: str | None = None,
    params: Iterable[str] | str | None = None,
    *,
    optimizer: Optimizer | None = None,
    method: str | None = None,
    steps: int = 1000,
    tol: float | None = 1e-8,
    ftol: float | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    progress: bool | None = None,
    feed: Any = None,
    keep_history: bool = True,
    options: Mapping[str, Any] | None = None,
) -> OptimizeResult:
    """Minimise ``root`` over trainable inputs, updating them in place; scipy's result shape.

    Each step evaluates the loss and its gradient (``forward``, ``backward``)
    and takes an optimiser step. The run stops at the first of: the gradient's
    largest absolute element at most ``tol`` (success), the loss changing by at
    most ``ftol * max(|f|, |f_prev|, 1)`` in a step (success), ``callback``
    returning True or raising StopIteration, ``steps`` steps taken, or an
    iterable ``feed`` running out. The parameters are left at ``result.x`` and
    the graph evaluated and differentiated there.

    A NaN or infinity in the loss, a gradient or an updated parameter stops the
    run with :class:`NonFiniteError` naming the first node that went non-finite
    (found with ``check_finite``); the parameters are restored to their values at
    the last step whose loss and gradient were finite.

    Parameters
    ----------
    cg : ComputationalGraph
        The graph.
    root : str, optional
        The loss node; by default the graph's only sink. An array root's loss is
        the sum of its elements, which is what ``backward`` differentiates.
    params : str or iterable of str, optional
        The trainable inputs to optimise; by default every one the root depends on.
    optimizer : Optimizer, optional
        An optimiser from :mod:`cgraph.optim`, e.g. ``GradientDescent(lr=0.1)``;
        default ``Adam()`` (torch's defaults). An unbound one is bound to ``cg``
        and ``params``; one already bound to ``cg`` continues with its state.
    method : str, optional
        Instead of an optimiser, a gradient-based scipy.optimize method
        ('L-BFGS-B', 'BFGS', 'CG', 'Newton-CG', 'TNC', 'SLSQP', 'trust-constr'),
        given the loss and gradient over the flattened parameters (float64).
        Needs the ``scipy`` extra. Derivative-free and Hessian methods are refused.
    steps : int, default 1000
        The step budget (scipy's ``maxiter``).
    tol : float or None, default 1e-8
        Stop when no gradient element exceeds this in size (passed to scipy as ``tol``).
    ftol : float, optional
        Stop when the loss changes by at most this, relative to the loss (optimisers only).
    callback : callable, optional
        Called after every step with an :class:`OptimizeResult` of the current
        ``x``, ``fun``, ``nit`` and ``jac``; returning True or raising StopIteration stops.
    progress : bool, optional
        A tqdm progress bar with the loss: True always (needs the ``progress``
        extra), False never, None when ``steps >= 1000``, stderr is a terminal and
        tqdm is installed.
    feed : mapping, iterable of mappings, or callable, optional
        Input values (e.g. data) for the loss: one mapping for every step, an
        iterable giving one per step (mini-batches; the run ends when it runs
        out and its last feed evaluates the final point), or a callable of the
        step number returning one. scipy methods take one mapping only.
    keep_history : bool, default True
        Keep every step's parameter values in ``history["x"]`` (the losses are always kept).
    options : mapping, optional
        Further options for the scipy method.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``nit``, ``success``, ``message``, ``jac``, ``nfev``, ``history``.

    Raises
    ------
    NonFiniteError
        If the run diverged; names the first non-finite node.
    UnknownNodeError, NoGradientError
        If a name in ``params`` is not a trainable input.
    GraphError
        If the root does not depend on a parameter, or an argument is invalid.
    ImportError
        If ``method`` is given without scipy, or ``progress=True`` without tqdm.

    Examples
    --------
    >>> from cgraph import ComputationalGraph, minimize
    >>> from cgraph.optim import GradientDescent
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=0.0)
    >>> cg.add_constant("three", 3.0)
    >>> cg.add_computation_node("d", "sub", ("x", "three"))
    >>> cg.add_computation_node("f", "square", ("d",))
    >>> result = minimize(cg, "f", optimizer=GradientDescent(lr=0.25), steps=100)
    >>> round(result.x["x"], 6), result.nit, result.success
    (3.0, 30, True)
    >>> print(result.message)
    largest gradient element 5.59e-09 <= tol = 1e-08 after 30 steps
    """
    _check_arguments(optimizer, method, steps, tol, ftol, callback, progress, options)
    root = cg._schedule(root).root.name  # resolves the default root, or says why it cannot
    feeds = _Feeds(feed, scipy=method is not None)
    bar = None
    try:
        # NaN and inf are reported by node name, so numpy's warnings would only repeat them.
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            problem = _Problem(cg, root, params, optimizer if method is None else None, feeds(0))
            bar = _progress_bar(progress, steps, root)
            if method is not None:
                from cgraph._scipy_minimize import minimize_scipy
                return minimize_scipy(problem, method, steps, tol, callback, bar,
                                      keep_history, options or {})
            return _run(problem, problem.optimizer, feeds, steps, tol, ftol, callback, bar,
                        keep_history)
    finally:
        if bar is not None:
            bar.close()


def _run(problem: _Problem, optimizer: Optimizer, feeds: _Feeds, steps: int,
         tol: float | None, ftol: float | None, callback: Callable[..., Any] | None,
         bar: Any, keep_history: bool) -> OptimizeResult:
    nit, loss, grads = 0, problem.loss, problem.grads
    losses, points = [loss], [problem.snapshot()]
    postfix_every = max(1, steps // 200)
    while True:
        norm = problem.grad_norm(grads)
        previous = losses[-2] if nit else math.nan
        message = success = None
        if tol is not None and norm <= tol:
            message = f"largest gradient element {norm:.3g} <= tol = {tol:g} after {nit} steps"
            success = True
        elif ftol is not None and abs(loss - previous) <= ftol * max(abs(loss), abs(previous), 1):
            message = (f"loss change {abs(loss - previous):.3g} <= ftol = {ftol:g} (relative) "
                       f"at step {nit}")
            success = True
        elif nit and callback is not None and _callback_stops(callback, problem, points[-1],
                                                              loss, grads, nit):
            message, success = f"stopped by the callback after {nit} steps", False
        elif nit >= steps:
            message, success = f"step budget of {steps} steps used", False
        elif feeds.ran_out:
            message, success = f"the feeds ran out after {nit} steps", False
        if message is not None:
            if bar is not None:
                bar.set_postfix_str(f"loss={loss:.6g}", refresh=False)
            return problem.result(loss, grads, nit, success, message, losses, points,
                                  type(optimizer).__name__)
        try:
            optimizer.step(grads)
        except NonFiniteError as error:  # the step was refused whole: the values are unchanged
            raise problem.diverged(error, nit + 1, loss, None) from error
        nit += 1
        try:
            loss, grads = problem.evaluate(feeds(nit))
        except NonFiniteError as error:
            raise problem.diverged(error, nit, losses[-1], points[-1]) from error
        losses.append(loss)
        if not keep_history:
            points.clear()
        points.append(problem.snapshot())
        if bar is not None:
            bar.update(1)
            if nit % postfix_every == 0:
                bar.set_postfix_str(f"loss={loss:.6g}", refresh=False)


def _callback_stops(callback: Callable[..., Any], problem: _Problem, x: dict[str, Any],
                    loss: float, grads: dict[str, Any], nit: int) -> bool:
    """Whether the user's callback asks to stop (returns True or raises StopIteration)."""
    current = OptimizeResult(x=x, fun=loss, nit=nit, success=False, message="running",
                             jac={name: grads[name] for name in problem.names})
    try:
        asked = callback(current)
    except StopIteration:
        return True
    # Only True stops (numpy's too), so a callback that returns something by accident does not.
    return isinstance(asked, (bool, np.bool_)) and bool(asked)


class _Problem:
    """The loss and its gradient over the parameters, evaluated through the graph."""

    def __init__(self, cg: ComputationalGraph, root: str, params: Any,
                 optimizer: Optimizer | None, feed: Any) -> None:
        self.cg, self.root, self.feed, self.nfev = cg, root, feed, 0
        if optimizer is not None and optimizer.graph is not None:
            if optimizer.graph is not cg:
                raise GraphError(f"the optimiser {optimizer!r} is bound to another graph; "
                                 "pass an unbound one, or bind it to this graph")
            if params is not None and trainable_params(cg, params) != optimizer.params:
                raise GraphError(f"params {params!r} differ from those the optimiser is bound to, "
                                 f"{optimizer.params}; pass one or the other",
                                 nodes=optimizer.params)
            params = optimizer.params
        try:
            self.loss, self.grads = self.evaluate(feed)
        except NonFiniteError as error:
            raise self.diverged(error, 0, None, None) from error
        if params is None:
            self.names = tuple(name for name in cg.inputs if name in self.grads)
            if not self.names:
                raise GraphError(f"{root!r} depends on no trainable input: nothing to optimise",
                                 nodes=[root])
        else:
            self.names = trainable_params(cg, params)
            for name in self.names:
                if name not in self.grads:
                    raise GraphError(f"{root!r} does not depend on parameter {name!r}; leave it "
                                     "out of params", nodes=[name, root])
        self.nodes = [cg.inputs[name] for name in self.names]
        self.optimizer = optimizer or Adam()
        if self.optimizer.graph is None:
            self.optimizer.bind(cg, self.names)

    def evaluate(self, feed: Any) -> tuple[float, dict[str, Any]]:
        """The loss and gradients at the parameters' current values; diagnoses a NaN or inf."""
        cg, root = self.cg, self.root
        self.nfev += 1
        loss = cg.forward(root, feed)
        if type(loss) is not float:
            loss = float(np.sum(loss))
        if not math.isfinite(loss):
            cg.forward(root, feed, check_finite=True)  # raises, naming the first non-finite node
            raise NonFiniteError(f"the loss {root!r} is {loss}", nodes=[root])  # overflow in a sum
        grads = cg.backward(root)
        if not math.isfinite(self.grad_norm(grads)):
            cg.backward(root, check_finite=True)
            bad = [name for name, grad in grads.items() if not np.all(np.isfinite(grad))]
            raise NonFiniteError(f"the gradient of {root!r} with respect to {bad} is not finite",
                                 nodes=bad)
        self.feed = feed  # the feed of the last finite point, for restore()
        return loss, grads

    def grad_norm(self, grads: dict[str, Any]) -> float:
        """The largest absolute element of any gradient (scipy's gtol norm)."""
        return max((float(np.max(np.abs(grad))) if np.ndim(grad) else abs(grad)
                    for grad in grads.values()), default=0.0)

    def snapshot(self) -> dict[str, Any]:
        """A copy of every parameter's value, by name."""
        return {node.name: node.output.copy() if isinstance(node.output, np.ndarray)
                else node.output for node in self.nodes}

    def restore(self, values: dict[str, Any]) -> None:
        """Put the parameters back to ``values``, arrays in place, and re-evaluate there."""
        for node in self.nodes:
            if isinstance(node.output, np.ndarray):
                node.output[...] = values[node.name]
            else:
                node.output = values[node.name]
        self.evaluate(self.feed)

    def diverged(self, error: NonFiniteError, nit: int, last_loss: float | None,
                 last_point: dict[str, Any] | None,
                 hint: str = "lower the learning rate or start elsewhere") -> NonFiniteError:
        """The error for a run that went non-finite, after restoring the last finite point."""
        if last_loss is None:
            kept = ("at the starting point, where the loss or its gradient is not finite; "
                    "start from values where both are")
        else:
            if last_point is not None:
                self.restore(last_point)
            kept = (f"at step {nit}; the parameters keep their values of step "
                    f"{nit - 1}, where the loss was "
                    f"{last_loss:.6g}; {hint}")
        return NonFiniteError(f"minimize of {self.root!r} diverged {kept}: {error}",
                              nodes=error.nodes)

    def result(self, loss: float, grads: dict[str, Any], nit: int, success: bool, message: str,
               losses: list[float], points: list[dict[str, Any]], method: str) -> OptimizeResult:
        """The OptimizeResult at the current point."""
        history = {"loss": np.array(losses),
                   "x": {name: np.array([point[name] for point in points])
                         for name in self.names}}
        jac = {name: grads[name] + 0.0 if np.ndim(grads[name]) else grads[name]
               for name in self.names}  # copies: backward's arrays may be shared
        return OptimizeResult(x=points[-1], fun=loss, nit=nit, success=success, message=message,
                              jac=jac, nfev=self.nfev, history=history, method=method)


class _Feeds:
    """Each step's feed, whatever form ``feed`` takes: ``feeds(step)``; ``ran_out`` once spent."""

    def __init__(self, feed: Any, scipy: bool) -> None:
        self.feed, self.ran_out, self.last = feed, False, None
        self.iterator = None
        if feed is None or isinstance(feed, Mapping) or (callable(feed) and not scipy):
            return
        if scipy:
            raise GraphError("scipy methods need one loss function: give feed as one mapping, "
                             "not an iterable or a callable (mini-batches are for optimisers)")
        if isinstance(feed, (str, bytes)) or not isinstance(feed, Iterable):
            raise InvalidValueError(f"feed must be a mapping of input names to values, an "
                                    f"iterable of them, or a callable of the step number, "
                                    f"not {feed!r}")
        self.iterator = iter(feed)

    def __call__(self, step: int) -> Any:
        if self.iterator is None:
            if not callable(self.feed):
                return self.feed
            fed = self.feed(step)
        else:
            try:
                fed = self.last = next(self.iterator)
            except StopIteration:
                if step == 0:
                    raise GraphError("feed is an empty iterable; give at least one feed") from None
                self.ran_out = True  # the last feed evaluates the final point
                return self.last
        if fed is not None and not isinstance(fed, Mapping):
            raise InvalidValueError(f"the feed for step {step} is {fed!r}; each feed must be a "
                                    "mapping of input names to values")
        return fed


def _check_arguments(optimizer: Any, method: Any, steps: Any, tol: Any, ftol: Any,
                     callback: Any, progress: Any, options: Any) -> None:
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        hint = (f"; build one, e.g. {optimizer.__name__}(lr=0.01)"
                if isinstance(optimizer, type) and issubclass(optimizer, Optimizer) else "")
        raise InvalidValueError(f"optimizer must be a cgraph.optim optimiser such as "
                                f"GradientDescent(lr=0.1), not {optimizer!r}{hint}")
    if optimizer is not None and method is not None:
        raise GraphError("give optimizer= or method= (a scipy method), not both")
    if method is None and options is not None:
        raise GraphError("options= are for scipy methods; give method= too, or leave options out")
    if method is not None:
        from cgraph._scipy_minimize import checked_method

        checked_method(method)  # before a progress bar opens: a bad name or no scipy
    if method is not None and ftol is not None:
        raise GraphError("ftol applies to the optimisers; for a scipy method pass its own "
                         "option, e.g. options={'ftol': 1e-12} for L-BFGS-B")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise GraphError(f"steps must be an integer >= 0, not {steps!r}")
    if tol is not None:
        hyperparameter(tol, "minimize: tol")
    if ftol is not None:
        hyperparameter(ftol, "minimize: ftol")
    if callback is not None and not callable(callback):
        raise InvalidValueError(f"callback must be callable, not {callback!r}")
    if progress not in (None, True, False):
        raise InvalidValueError(f"progress must be True, False or None, not {progress!r}")


def _progress_bar(progress: bool | None, total: int, root: str) -> Any:
    """A tqdm bar on stderr, or None; tqdm is imported only when a bar may be shown."""
    if progress is False or (progress is None and (total < AUTO_PROGRESS_STEPS
                                                   or not sys.stderr.isatty())):
        return None
    try:
        from tqdm import tqdm
    except ImportError as error:
        if progress is None:
            return None
        raise ImportError('progress=True needs tqdm: pip install "cgraph[progress]"') from error
    return tqdm(total=total, desc=f"minimize {root}", unit="step", file=sys.stderr)

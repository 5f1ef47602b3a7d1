"""minimize(): run an optimiser, or a scipy.optimize method, on a graph's loss until it stops.

The loop is the hand-written one (``forward``, ``backward``, an optimiser step)
with stopping rules, mini-batch feeds, divergence checks, a history and a
progress bar around it. The result has scipy.optimize's shape.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.errors import GraphError, InvalidValueError, NonFiniteError
from cgraph.optim.lr_scheduler import hyperparameter
from cgraph.optim.optimizers import Optimizer
from cgraph.optim.problem import OptimizeResult, Problem, callback_stops
from cgraph.optim.scipy_minimize import checked_method, minimize_scipy

if TYPE_CHECKING:
    from cgraph.engine import GraphCore

__all__ = ["minimize", "OptimizeResult"]

#: Runs at least this long get a progress bar when ``progress=None`` and stderr is a terminal.
AUTO_PROGRESS_STEPS = 1000


def minimize(
    cg: GraphCore,
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
    cg : GraphCore
        The graph.
    root : str, optional
        The loss node; by default the graph's only sink. An array root's loss is
        the sum of its elements, which is what ``backward`` differentiates.
    params : str or iterable of str, optional
        The trainable inputs to optimise. By default every one the root depends
        on, when that cannot take data for parameters: when there is one, when
        they are all numbers, or when data is marked (an array input declared
        ``trainable=False``, an array constant, or ``feed=``). Several trainable
        arrays with no data marked are refused, listing them: name them here.
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
        If the root does not depend on a parameter, or an argument is invalid; or,
        with ``params`` left out, if some trainable inputs may be data (above).
    ImportError
        If ``method`` is given without scipy, or ``progress=True`` without tqdm.

    Examples
    --------
    >>> from cgraph import ComputationalGraph, minimize
    >>> from cgraph.optim.optimizers import GradientDescent
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
    root = cg.schedule(root).root.name  # resolves the default root, or says why it cannot
    feeds = _Feeds(feed, scipy=method is not None)
    bar = None
    try:
        # NaN and inf are reported by node name, so numpy's warnings would only repeat them.
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            problem = Problem(cg, root, params, optimizer if method is None else None, feeds(0))
            bar = _progress_bar(progress, steps, root)
            if method is not None:
                return minimize_scipy(
                    problem, method, steps, tol, callback, bar, keep_history, options or {}
                )
            return _run(
                problem, problem.optimizer, feeds, steps, tol, ftol, callback, bar, keep_history
            )
    finally:
        if bar is not None:
            bar.close()


def _run(
    problem: Problem,
    optimizer: Optimizer,
    feeds: _Feeds,
    steps: int,
    tol: float | None,
    ftol: float | None,
    callback: Callable[..., Any] | None,
    bar: Any,
    keep_history: bool,
) -> OptimizeResult:
    nit, loss, grads = 0, problem.loss, problem.grads
    losses, points = [loss], [problem.snapshot()]
    postfix_every = max(1, steps // 200)
    while True:
        norm = problem.grad_norm(grads)
        previous = losses[-2] if nit else math.nan
        message: str | None = None  # why it stops, set with success
        success = False
        if tol is not None and norm <= tol:
            message = f"largest gradient element {norm:.3g} <= tol = {tol:g} after {nit} steps"
            success = True
        elif ftol is not None and abs(loss - previous) <= ftol * max(abs(loss), abs(previous), 1):
            message = (
                f"loss change {abs(loss - previous):.3g} <= ftol = {ftol:g} (relative) "
                f"at step {nit}"
            )
            success = True
        elif (
            nit
            and callback is not None
            and callback_stops(callback, problem, points[-1], loss, grads, nit)
        ):
            message, success = f"stopped by the callback after {nit} steps", False
        elif nit >= steps:
            message, success = f"step budget of {steps} steps used", False
        elif feeds.ran_out:
            message, success = f"the feeds ran out after {nit} steps", False
        if message is not None:
            if bar is not None:
                bar.set_postfix_str(f"loss={loss:.6g}", refresh=False)
            return problem.result(
                loss, grads, nit, success, message, losses, points, type(optimizer).__name__
            )
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


class _Feeds:
    """Each step's feed, whatever form ``feed`` takes: ``feeds(step)``; ``ran_out`` once spent."""

    def __init__(self, feed: Any, scipy: bool) -> None:
        self.feed, self.ran_out, self.last = feed, False, None
        self.iterator = None
        if feed is None or isinstance(feed, Mapping) or (callable(feed) and not scipy):
            return
        if scipy:
            raise GraphError(
                "scipy methods need one loss function: give feed as one mapping, "
                "not an iterable or a callable (mini-batches are for optimisers)"
            )
        if isinstance(feed, (str, bytes)) or not isinstance(feed, Iterable):
            raise InvalidValueError(
                f"feed must be a mapping of input names to values, an "
                f"iterable of them, or a callable of the step number, "
                f"not {feed!r}"
            )
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
            raise InvalidValueError(
                f"the feed for step {step} is {fed!r}; each feed must be a "
                "mapping of input names to values"
            )
        return fed


def _check_arguments(
    optimizer: Any,
    method: Any,
    steps: Any,
    tol: Any,
    ftol: Any,
    callback: Any,
    progress: Any,
    options: Any,
) -> None:
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        hint = (
            f"; build one, e.g. {optimizer.__name__}(lr=0.01)"
            if isinstance(optimizer, type) and issubclass(optimizer, Optimizer)
            else ""
        )
        raise InvalidValueError(
            f"optimizer must be a cgraph.optim optimiser such as "
            f"GradientDescent(lr=0.1), not {optimizer!r}{hint}"
        )
    if optimizer is not None and method is not None:
        raise GraphError("give optimizer= or method= (a scipy method), not both")
    if method is None and options is not None:
        raise GraphError("options= are for scipy methods; give method= too, or leave options out")
    if method is not None:
        checked_method(method)  # before a progress bar opens: a bad name or no scipy
    if method is not None and ftol is not None:
        raise GraphError(
            "ftol applies to the optimisers; for a scipy method pass its own "
            "option, e.g. options={'ftol': 1e-12} for L-BFGS-B"
        )
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
    if progress is False or (
        progress is None and (total < AUTO_PROGRESS_STEPS or not sys.stderr.isatty())
    ):
        return None
    try:
        from tqdm import tqdm
    except ImportError as error:
        if progress is None:
            return None
        raise ImportError('progress=True needs tqdm: pip install "cgraph[progress]"') from error
    return tqdm(total=total, desc=f"minimize {root}", unit="step", file=sys.stderr)

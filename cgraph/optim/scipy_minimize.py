"""minimize(method=...): scipy.optimize's methods on a graph's loss and gradient.

scipy sees one float64 vector, the parameters flattened in order; each call of
its objective writes that vector back into the graph's inputs (arrays in place,
floats as floats) and returns cgraph's loss and flattened gradient.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cgraph.errors import GraphError, InvalidValueError, NonFiniteError
from cgraph.optim.problem import OptimizeResult, Problem, StopRequestedError, callback_stops

__all__ = ["GRADIENT_METHODS", "minimize_scipy"]

#: The scipy.optimize methods that use a gradient and need no Hessian.
GRADIENT_METHODS = ("L-BFGS-B", "BFGS", "CG", "Newton-CG", "TNC", "SLSQP", "trust-constr")
_HESSIAN_METHODS = ("dogleg", "trust-ncg", "trust-krylov", "trust-exact")
_DERIVATIVE_FREE = ("Nelder-Mead", "Powell", "COBYLA", "COBYQA")


def minimize_scipy(
    problem: Problem,
    method: str,
    steps: int,
    tol: float | None,
    callback: Callable[..., Any] | None,
    bar: Any,
    keep_history: bool,
    options: Mapping[str, Any],
) -> OptimizeResult:
    """Run ``scipy.optimize.minimize(method=...)`` on the problem; see :func:`cgraph.minimize`.

    ``steps`` is scipy's ``maxiter`` (``maxfun``, evaluations, for TNC, which has no
    ``maxiter``); ``tol`` is scipy's ``tol``.

    Examples
    --------
    >>> from cgraph import ComputationalGraph, minimize
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0)
    >>> cg.add_computation_node("f", "square", ("x",))
    >>> result = minimize(cg, "f", method="BFGS")
    >>> abs(result.x["x"]) < 1e-8, result.success
    (True, True)
    """
    method = checked_method(method)
    import scipy.optimize

    layout, start = [], 0
    for node in problem.nodes:
        size = int(np.size(node.output))
        layout.append((node, start, start + size, np.shape(node.output)))
        start += size
    names = problem.names
    last: dict[str, Any] = {"x": None, "loss": problem.loss, "grads": problem.grads}

    def put(flat: np.ndarray) -> None:
        for node, begin, end, shape in layout:
            if isinstance(node.output, np.ndarray):
                node.output[...] = flat[begin:end].reshape(shape)
                node.mark_changed()
            else:
                node.output = float(flat[begin])

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        put(flat)
        loss, grads = problem.evaluate(problem.feed)
        last.update(x=flat.copy(), loss=loss, grads=grads)
        return loss, np.concatenate([np.ravel(grads[name]) for name in names]).astype(np.float64)

    def at(flat: np.ndarray) -> None:
        """Leave the graph evaluated at ``flat`` (scipy may have tried other points since)."""
        if last["x"] is None or not np.array_equal(flat, last["x"]):
            objective(flat)

    losses, points = [problem.loss], [problem.snapshot()]

    def on_iteration(xk: np.ndarray, *_: Any) -> None:
        at(xk)
        recorded[-1] = xk.copy()
        losses.append(last["loss"])
        if not keep_history:
            points.clear()
        points.append(problem.snapshot())
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"loss={last['loss']:.6g}", refresh=False)
        if callback is not None and callback_stops(
            callback, problem, points[-1], last["loss"], last["grads"], len(losses) - 1
        ):
            raise StopRequestedError

    x0 = np.concatenate([np.ravel(node.output) for node in problem.nodes]).astype(np.float64)
    recorded = [x0]  # the flat parameters of the last point in the history
    try:
        found = scipy.optimize.minimize(
            objective,
            x0,
            jac=True,
            method=method,
            tol=tol,
            callback=on_iteration,
            options={"maxfun" if method == "TNC" else "maxiter": steps, **options},
        )
    except StopRequestedError:
        return problem.result(
            last["loss"],
            last["grads"],
            len(losses) - 1,
            False,
            f"stopped by the callback after {len(losses) - 1} steps",
            losses,
            points,
            method,
        )
    except NonFiniteError as error:
        raise problem.diverged(
            error,
            len(losses),
            losses[-1],
            points[-1],
            "the loss may be unbounded below; start elsewhere",
        ) from error
    at(found.x)
    if not np.array_equal(found.x, recorded[-1]):  # scipy's answer is not its last iterate
        losses.append(last["loss"])
        points.append(problem.snapshot())
    nit = int(getattr(found, "nit", len(losses) - 1))
    return problem.result(
        last["loss"],
        last["grads"],
        nit,
        bool(found.success),
        str(found.message),
        losses,
        points,
        method,
    )


def checked_method(method: Any) -> str:
    """The canonical spelling of a gradient-based scipy method, or an error saying why not.

    Also checks that scipy is installed, so that minimize() can refuse before it starts.

    Examples
    --------
    >>> checked_method("l-bfgs-b")
    'L-BFGS-B'
    """
    if not isinstance(method, str):
        raise InvalidValueError(
            f"method must be the name of a scipy.optimize method, such as "
            f"'L-BFGS-B', not {method!r}"
        )
    by_lower = {name.lower(): name for name in GRADIENT_METHODS}
    if method.lower() in by_lower:
        if importlib.util.find_spec("scipy") is None:
            raise ImportError(
                f'minimize(method={method!r}) needs scipy: pip install "cgraph[scipy]"'
            )
        return by_lower[method.lower()]
    listed = ", ".join(map(repr, GRADIENT_METHODS))
    if method.lower() in {name.lower() for name in _DERIVATIVE_FREE}:
        why = "does not use gradients, which are what cgraph computes"
    elif method.lower() in {name.lower() for name in _HESSIAN_METHODS}:
        why = "needs a Hessian, which cgraph does not compute"
    else:
        why = "is not a scipy.optimize method cgraph supports"
    raise GraphError(f"method {method!r} {why}; use one of {listed}")

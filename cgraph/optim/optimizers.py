"""Optimisers that update a graph's trainable inputs in place, and learning-rate schedules.

An optimiser is built from its hyperparameters alone, then bound to a graph and
the names of the inputs it trains::

    opt = Adam(lr=0.01).bind(cg)          # every trainable input of cg
    for _ in range(100):
        cg.forward("loss")
        cg.backward("loss")               # fresh gradients: nothing to zero
        opt.step()                        # reads them and updates the inputs in place

:func:`cgraph.minimize` binds an unbound optimiser for you. The update rules are
torch.optim's documented ones (SGD with momentum, dampening and Nesterov; Adam
with AMSGrad; weight decay as L2 added to the gradient), so a step here and a
step there agree to rounding. There is no ``zero_grad``: ``backward`` starts
from zero on every call. The adaptive-rate optimisers RMSprop, AdamW and Adagrad
are in :mod:`cgraph.optim.adaptive`. ``max_grad_norm=`` on any optimiser clips
the gradients by their total norm first, as ``torch.nn.utils.clip_grad_norm_``
before ``optimizer.step()`` would (:mod:`cgraph.optim.clipping`).

``lr`` is a number or a schedule: any callable from the number of steps taken
so far (0 for the first step) to a learning rate, such as :class:`StepLR` and
:class:`ExponentialLR`, which give the rates torch's schedulers of the same
names give when ``scheduler.step()`` follows every ``optimizer.step()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cgraph.engine.diagnostics import is_finite
from cgraph.engine.summary import describe_value
from cgraph.errors import (
    GraphError,
    InvalidValueError,
    NoGradientError,
    NonFiniteError,
    NotComputedError,
    UnknownNodeError,
)
from cgraph.messages import did_you_mean
from cgraph.optim.clipping import clip_coefficient
from cgraph.optim.lr_scheduler import ExponentialLR, StepLR, hyperparameter

if TYPE_CHECKING:
    from typing_extensions import Self

    from cgraph.engine import GraphCore
    from cgraph.engine.nodes import Input

__all__ = [
    "Optimizer",
    "GradientDescent",
    "Momentum",
    "Adam",
    "StepLR",
    "ExponentialLR",
    "trainable_params",
]

LearningRate = float | Callable[[int], float]


def trainable_params(cg: GraphCore, params: Iterable[str] | str | None) -> tuple[str, ...]:
    """Check parameter names: existing, trainable inputs (all trainable inputs by default).

    Parameters
    ----------
    cg : GraphCore
        The graph.
    params : str or iterable of str, optional
        Input names; by default every trainable input, in declaration order.

    Returns
    -------
    tuple of str

    Raises
    ------
    UnknownNodeError
        If a name is not an input of the graph.
    NoGradientError
        If an input is not trainable.
    GraphError
        If there are no parameters to train.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(w=1.0, b=0.0)
    >>> cg.add_input("data", 2.0, trainable=False)
    >>> trainable_params(cg, None), trainable_params(cg, "b")
    (('w', 'b'), ('b',))
    """
    if params is None:
        names = tuple(name for name, node in cg.inputs.items() if node.trainable)
    else:
        names = (params,) if isinstance(params, str) else tuple(params)
    if not names:
        raise GraphError(
            "there are no parameters to train: declare trainable inputs "
            "(add_inputs) or name some in params"
        )
    for name in names:
        node = cg.inputs.get(name) if isinstance(name, str) else None
        if node is None:
            kind = "an operation or constant" if name in cg.nodes else "not a node of the graph"
            hint = "" if name in cg.nodes else did_you_mean(str(name), cg.inputs)
            raise UnknownNodeError(
                f"parameter {name!r} is {kind}; parameters are trainable inputs{hint}",
                nodes=[str(name)],
            )
        if not node.trainable:
            raise NoGradientError(
                f"parameter {name!r} is not trainable (declared with trainable=False), so it "
                "has no gradient; leave it out of params",
                nodes=[name],
            )
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise GraphError(f"parameters {twice} are listed twice; list each once", nodes=twice)
    return names


class Optimizer:
    """Base class of the optimisers: binding, the learning rate, and an atomic ``step``.

    A subclass defines ``_update(value, grad, state, lr)``, returning the amount
    to subtract from the parameter and its new state, without changing either.

    Parameters
    ----------
    lr : float or callable
        The learning rate, or a schedule: a callable from the number of steps
        taken so far to the learning rate.
    weight_decay : float, default 0
        L2 penalty: ``weight_decay * value`` is added to each gradient, as torch does.
    max_grad_norm : float, optional
        Clip the gradients first: when their total 2-norm over all the parameters
        exceeds it, scale them all by ``max_grad_norm / (norm + 1e-6)``, as
        ``torch.nn.utils.clip_grad_norm_`` does (weight decay is added after).

    Attributes
    ----------
    state : dict of str to dict
        Per-parameter state (torch's names: ``momentum_buffer``, ``exp_avg``, ...).
    steps : int
        Steps taken since binding.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.optim.optimizers import GradientDescent
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=3.0)
    >>> cg.add_computation_node("f", "square", ("x",))
    >>> opt = GradientDescent(lr=0.25).bind(cg)
    >>> _ = cg.forward("f"); _ = cg.backward("f"); opt.step()
    >>> cg.inputs["x"].output
    1.5
    """

    #: Whether ``weight_decay`` shrinks the value in the update (AdamW) instead of being
    #: added to the gradient as an L2 penalty (the others, as in torch).
    decoupled_weight_decay = False

    def __init__(
        self, lr: LearningRate, weight_decay: float = 0.0, *, max_grad_norm: float | None = None
    ) -> None:
        name = type(self).__name__
        if not callable(lr):
            hyperparameter(lr, f"{name}: lr", open_low=True)
        self.lr = lr
        self.weight_decay = hyperparameter(weight_decay, f"{name}: weight_decay")
        self.max_grad_norm = (
            None
            if max_grad_norm is None
            else hyperparameter(max_grad_norm, f"{name}: max_grad_norm")
        )
        self.graph: GraphCore | None = None
        self.params: tuple[str, ...] = ()
        self._nodes: list[Input] = []
        self.state: dict[str, dict[str, Any]] = {}
        self.steps = 0

    def bind(self, cg: GraphCore, params: Iterable[str] | str | None = None) -> Self:
        """Attach the optimiser to a graph and the inputs it trains, with fresh state.

        Parameters
        ----------
        cg : GraphCore
            The graph whose inputs are updated.
        params : str or iterable of str, optional
            The names of the inputs to train; by default every trainable input.

        Returns
        -------
        Optimizer
            The optimiser itself, so that ``opt = Adam(lr=0.01).bind(cg)`` reads naturally.

        Raises
        ------
        UnknownNodeError, NoGradientError, GraphError
            As for :func:`trainable_params`.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> from cgraph.optim.optimizers import Adam
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(w=1.0, b=0.0)
        >>> Adam(lr=0.1).bind(cg, ["w"]).params
        ('w',)
        """
        self.params = trainable_params(cg, params)
        self.graph = cg
        self._nodes = [cg.inputs[name] for name in self.params]
        self.state = {name: {} for name in self.params}
        self.steps = 0
        return self

    @property
    def current_lr(self) -> float:
        """The learning rate the next step will use (a schedule evaluated at ``steps``).

        Examples
        --------
        >>> from cgraph.optim.optimizers import GradientDescent, ExponentialLR
        >>> GradientDescent(lr=ExponentialLR(0.1, gamma=0.5)).current_lr
        0.1
        """
        return float(self.lr(self.steps)) if callable(self.lr) else float(self.lr)

    def step(self, grads: Mapping[str, Any] | None = None) -> None:
        """Update every parameter in place from its gradient.

        The step is atomic: every new value is computed and checked first, and
        nothing (parameter or state) changes unless all of them are finite. With
        ``max_grad_norm``, the gradients are clipped by their total norm first.

        Parameters
        ----------
        grads : mapping of str to gradient, optional
            The gradients, e.g. the dict ``backward`` returns; by default each
            parameter's gradient from the graph's last ``backward``.

        Raises
        ------
        GraphError
            If the optimiser is not bound to a graph.
        NotComputedError
            If a parameter has no gradient (call ``forward`` then ``backward`` first).
        NonFiniteError
            If a gradient, or the value the step would give, is NaN or infinite;
            the parameters keep their values.

        Examples
        --------
        >>> from cgraph import ComputationalGraph
        >>> from cgraph.optim.optimizers import Momentum
        >>> cg = ComputationalGraph()
        >>> cg.add_inputs(x=1.0)
        >>> cg.add_computation_node("f", "square", ("x",))
        >>> opt = Momentum(lr=0.1, momentum=0.9).bind(cg)
        >>> for _ in range(2):
        ...     _ = cg.forward("f"); grads = cg.backward("f"); opt.step(grads)
        >>> round(cg.inputs["x"].output, 6)
        0.46
        """
        if self.graph is None:
            raise GraphError(
                f"{type(self).__name__} is not bound to a graph: call "
                f"opt.bind(cg, params) first, or pass it to minimize()"
            )
        lr = self.current_lr
        if not (math.isfinite(lr) and lr >= 0):
            raise GraphError(
                f"{type(self).__name__}: the schedule gave lr = {lr!r} at step "
                f"{self.steps}; it must be a finite number >= 0"
            )
        decay = 0.0 if self.decoupled_weight_decay else self.weight_decay
        found = []
        for node in self._nodes:
            grad = node.local_grad if grads is None else grads.get(node.name)
            if grad is None:
                raise NotComputedError(
                    f"{type(self).__name__}.step: parameter {node.name!r} has no gradient; call "
                    "cg.forward(root) then cg.backward(root) with a root that depends on it",
                    nodes=[node.name],
                )
            if not is_finite(grad):
                raise NonFiniteError(
                    f"{type(self).__name__}.step: the gradient of {node.name!r} is not finite "
                    f"({describe_value(grad)}); run cg.backward(root, check_finite=True) to find "
                    "the node where it appeared",
                    nodes=[node.name],
                )
            found.append(grad)
        if self.max_grad_norm is not None:
            scale = clip_coefficient(found, self.max_grad_norm)
            if scale < 1.0:
                found = [scale * grad for grad in found]
        pending = []
        for node, grad in zip(self._nodes, found, strict=True):
            value = node.output
            if decay:
                grad = grad + decay * value
            update, state = self._update(value, grad, self.state[node.name], lr)
            new = value - update
            if not is_finite(new):
                raise NonFiniteError(
                    f"{type(self).__name__}.step: the update would make {node.name!r} "
                    f"non-finite ({describe_value(new)}); lower the learning rate",
                    nodes=[node.name],
                )
            pending.append((node, new, state))
        # Only now, with every new value checked, do the parameters and state change.
        for node, new, state in pending:
            if isinstance(node.output, np.ndarray):
                node.output[...] = new  # in place: anything holding the array sees the update
                node.mark_changed()  # so values computed before the step read as stale
            else:
                node.output = float(new)  # a float parameter stays a float
            self.state[node.name] = state
        self.steps += 1

    def _update(
        self, value: Any, grad: Any, state: dict[str, Any], lr: float
    ) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        found = self._hyperparameters()
        if self.max_grad_norm is not None:
            found["max_grad_norm"] = self.max_grad_norm
        hyper = ", ".join(f"{key}={value!r}" for key, value in found.items())
        return f"{type(self).__name__}({hyper})"

    def _hyperparameters(self) -> dict[str, Any]:
        found = {"lr": self.lr}
        if self.weight_decay:
            found["weight_decay"] = self.weight_decay
        return found


class GradientDescent(Optimizer):
    """Plain gradient descent, torch.optim.SGD without momentum: ``x <- x - lr g``.

    Parameters
    ----------
    lr : float or callable
        The learning rate, or a schedule of the step number.
    weight_decay : float, default 0
        L2 penalty added to the gradient: ``g <- g + weight_decay x``.
    max_grad_norm : float, optional
        Clip the gradients by their total norm first (see :class:`Optimizer`).

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.optim.optimizers import GradientDescent
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=2.0)
    >>> cg.add_computation_node("f", "square", ("x",))
    >>> opt = GradientDescent(lr=0.1).bind(cg)
    >>> for _ in range(3):
    ...     _ = cg.forward("f"); _ = cg.backward("f"); opt.step()   # x <- 0.8 x
    >>> round(cg.inputs["x"].output, 6)
    1.024
    """

    def _update(
        self, value: Any, grad: Any, state: dict[str, Any], lr: float
    ) -> tuple[Any, dict[str, Any]]:
        return lr * grad, state


class Momentum(Optimizer):
    """Gradient descent with momentum, torch.optim.SGD's rule (heavy-ball or Nesterov).

    With buffer ``b`` (``b = g`` on the first step)::

        b <- momentum b + (1 - dampening) g
        x <- x - lr (g + momentum b)     if nesterov
        x <- x - lr b                    otherwise

    Parameters
    ----------
    lr : float or callable
        The learning rate, or a schedule of the step number.
    momentum : float, default 0.9
        The momentum factor, in [0, 1).
    dampening : float, default 0
        Dampening of the new gradient in the buffer, in [0, 1].
    nesterov : bool, default False
        Nesterov's accelerated gradient (needs ``dampening=0``, as in torch).
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    max_grad_norm : float, optional
        Clip the gradients by their total norm first (see :class:`Optimizer`).

    Raises
    ------
    GraphError
        If a hyperparameter is out of range, or Nesterov is asked with dampening.

    Examples
    --------
    >>> from cgraph.optim.optimizers import Momentum
    >>> Momentum(lr=0.01, momentum=0.9, nesterov=True)
    Momentum(lr=0.01, momentum=0.9, nesterov=True)
    """

    def __init__(
        self,
        lr: LearningRate,
        momentum: float = 0.9,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, weight_decay, max_grad_norm=max_grad_norm)
        self.momentum = hyperparameter(momentum, "Momentum: momentum", 0.0, 1.0, open_high=True)
        self.dampening = hyperparameter(dampening, "Momentum: dampening", 0.0, 1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise InvalidValueError(f"Momentum: nesterov must be True or False, not {nesterov!r}")
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise GraphError(
                "Momentum: nesterov=True needs momentum > 0 and dampening = 0 "
                "(as in torch.optim.SGD)"
            )
        self.nesterov = bool(nesterov)

    def _update(
        self, value: Any, grad: Any, state: dict[str, Any], lr: float
    ) -> tuple[Any, dict[str, Any]]:
        buffer = state.get("momentum_buffer")
        if buffer is None:
            buffer = grad + 0.0  # a copy: backward's gradient arrays may be shared
        else:
            buffer = self.momentum * buffer + (1.0 - self.dampening) * grad
        direction = grad + self.momentum * buffer if self.nesterov else buffer
        return lr * direction, {"momentum_buffer": buffer}

    def _hyperparameters(self) -> dict[str, Any]:
        found = {"lr": self.lr, "momentum": self.momentum}
        if self.dampening:
            found["dampening"] = self.dampening
        if self.nesterov:
            found["nesterov"] = True
        if self.weight_decay:
            found["weight_decay"] = self.weight_decay
        return found


class Adam(Optimizer):
    """Adam (Kingma and Ba), torch.optim.Adam's rule, with the AMSGrad option.

    At step t (from 1), with moments ``m`` and ``v`` starting at zero::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2          (AMSGrad: vmax <- max(vmax, v), used for v)
        x <- x - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Parameters
    ----------
    lr : float or callable, default 1e-3
        The learning rate, or a schedule of the step number.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moments, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator for stability.
    weight_decay : float, default 0
        L2 penalty added to the gradient (torch's Adam, not AdamW).
    amsgrad : bool, default False
        Use the largest second moment seen so far.
    max_grad_norm : float, optional
        Clip the gradients by their total norm first (see :class:`Optimizer`).

    Raises
    ------
    GraphError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.optim.optimizers import Adam
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("f", "square", ("x",))
    >>> opt = Adam(lr=0.1).bind(cg)
    >>> _ = cg.forward("f"); _ = cg.backward("f"); opt.step()
    >>> round(cg.inputs["x"].output, 6)     # Adam's first step is lr in size
    0.9
    """

    def __init__(
        self,
        lr: LearningRate = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, weight_decay, max_grad_norm=max_grad_norm)
        name = type(self).__name__  # AdamW's too
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise InvalidValueError(f"{name}: betas must be a pair (beta1, beta2), not {betas!r}")
        self.betas = (
            hyperparameter(betas[0], f"{name}: betas[0]", 0.0, 1.0, open_high=True),
            hyperparameter(betas[1], f"{name}: betas[1]", 0.0, 1.0, open_high=True),
        )
        self.eps = hyperparameter(eps, f"{name}: eps")
        if not isinstance(amsgrad, (bool, np.bool_)):
            raise InvalidValueError(f"{name}: amsgrad must be True or False, not {amsgrad!r}")
        self.amsgrad = bool(amsgrad)

    def _update(
        self, value: Any, grad: Any, state: dict[str, Any], lr: float
    ) -> tuple[Any, dict[str, Any]]:
        beta1, beta2 = self.betas
        t = state.get("step", 0) + 1
        m = beta1 * state.get("exp_avg", 0.0) + (1.0 - beta1) * grad
        v = beta2 * state.get("exp_avg_sq", 0.0) + (1.0 - beta2) * (grad * grad)
        new_state = {"step": t, "exp_avg": m, "exp_avg_sq": v}
        if self.amsgrad:
            v = new_state["max_exp_avg_sq"] = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
        denom = np.sqrt(v) / math.sqrt(1.0 - beta2**t) + self.eps
        return (lr / (1.0 - beta1**t)) * (m / denom), new_state

    def _hyperparameters(self) -> dict[str, Any]:
        found = {"lr": self.lr, "betas": self.betas, "eps": self.eps}
        if self.weight_decay:
            found["weight_decay"] = self.weight_decay
        if self.amsgrad:
            found["amsgrad"] = True
        return found

"""Adaptive-rate optimisers: RMSprop, AdamW and Adagrad, with torch.optim's rules and names.

Each scales its step per element by a running measure of the gradients' size,
as :class:`~cgraph.optim.optimizers.Adam` does; they are used as every
optimiser is (see :mod:`cgraph.optim.optimizers`)::

    opt = AdamW(lr=1e-3, weight_decay=0.01).bind(cg)
    cg.forward("loss"); cg.backward("loss"); opt.step()

The update rules, defaults, state names and hyperparameter names are those of
torch.optim.RMSprop, AdamW and Adagrad, so a step here and a step there agree
to rounding. Re-exported by :mod:`cgraph.optim`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgraph.errors import InvalidValueError
from cgraph.optim.lr_scheduler import hyperparameter
from cgraph.optim.optimizers import Adam, LearningRate, Optimizer

__all__ = ["RMSprop", "AdamW", "Adagrad"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), torch.optim.RMSprop's rule, centered and with momentum as options.

    With ``s`` (and ``a`` when centered) starting at zero::

        s <- alpha s + (1 - alpha) g^2
        a <- alpha a + (1 - alpha) g                 (centered only)
        d <- sqrt(s - a^2) + eps                     (centered; otherwise sqrt(s) + eps)
        b <- momentum b + g / d;  x <- x - lr b      (momentum > 0; b starts at zero)
        x <- x - lr g / d                            (otherwise)

    Parameters
    ----------
    lr : float or callable, default 1e-2
        The learning rate, or a schedule of the step number.
    alpha : float, default 0.99
        Decay rate of the mean square, in [0, 1].
    eps : float, default 1e-8
        Added to the denominator for stability.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    momentum : float, default 0
        Momentum factor, in [0, 1).
    centered : bool, default False
        Divide by the running variance of the gradient (mean square less the
        square of the mean) instead of the mean square.
    max_grad_norm : float, optional
        Clip the gradients by their total norm first (see :class:`Optimizer`).

    Raises
    ------
    GraphError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.optim import RMSprop
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("f", "square", ("x",))
    >>> opt = RMSprop(lr=0.01).bind(cg)
    >>> _ = cg.forward("f"); _ = cg.backward("f"); opt.step()
    >>> round(cg.inputs["x"].output, 6)      # the first step is lr / sqrt(1 - alpha)
    0.9
    """

    def __init__(
        self,
        lr: LearningRate = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, weight_decay, max_grad_norm=max_grad_norm)
        self.alpha = hyperparameter(alpha, "RMSprop: alpha", 0.0, 1.0)
        self.eps = hyperparameter(eps, "RMSprop: eps")
        self.momentum = hyperparameter(momentum, "RMSprop: momentum", 0.0, 1.0, open_high=True)
        if not isinstance(centered, (bool, np.bool_)):
            raise InvalidValueError(f"RMSprop: centered must be True or False, not {centered!r}")
        self.centered = bool(centered)

    def _update(
        self, value: Any, grad: Any, state: dict[str, Any], lr: float
    ) -> tuple[Any, dict[str, Any]]:
        alpha = self.alpha
        square_avg = alpha * state.get("square_avg", 0.0) + (1.0 - alpha) * (grad * grad)
        new_state = {"step": state.get("step", 0) + 1, "square_avg": square_avg}
        if self.centered:
            grad_avg = new_state["grad_avg"] = (
                alpha * state.get("grad_avg", 0.0) + (1.0 - alpha) * grad
            )
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + self.eps
        else:
            avg = np.sqrt(square_avg) + self.eps
        if self.momentum > 0:
            buffer = new_state["momentum_buffer"] = (
                self.momentum * state.get("momentum_buffer", 0.0) + grad / avg
            )
            return lr * buffer, new_state
        return lr * (grad / avg), new_state

    def _hyperparameters(self) -> dict[str, Any]:
        found = {"lr": self.lr, "alpha": self.alpha, "eps": self.eps}
        if self.weight_decay:
            found["weight_decay"] = self.weight_decay
        if self.momentum:
            found["momentum"] = self.momentum
        if self.centered:
            found["centered"] = True
        return found


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), torch.optim.AdamW's rule.

    Adam's step (see :class:`~cgraph.optim.optimizers.Adam`), with the decay
    applied to the value itself instead of added to the gradient, so that it is
    not rescaled by the adaptive denominator::

        x <- x (1 - lr weight_decay) - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Parameters
    ----------
    lr : float or callable, default 1e-3
        The learning rate, or a schedule of the step number (the decay follows it).
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moments, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator for stability.
    weight_decay : float, default 0.01
        The decoupled decay rate, as in torch.
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
    >>> from cgraph.optim import AdamW
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("f", "square", ("x",))
    >>> opt = AdamW(lr=0.1, weight_decay=0.5).bind(cg)
    >>> _ = cg.forward("f"); _ = cg.backward("f"); opt.step()
    >>> round(cg.inputs["x"].output, 6)     # 1 (1 - 0.1 * 0.5) - 0.1
    0.85
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        lr: LearningRate = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad, max_grad_norm=max_grad_norm)

    def _update(
        self, value: Any, grad: Any, state: dict[str, Any], lr: float
    ) -> tuple[Any, dict[str, Any]]:
        update, new_state = super()._update(value, grad, state, lr)
        # torch: x <- x (1 - lr wd), then Adam's step; here both are subtracted together.
        return update + (lr * self.weight_decay) * value, new_state

    def _hyperparameters(self) -> dict[str, Any]:
        found = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }
        if self.amsgrad:
            found["amsgrad"] = True
        return found


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan and Singer), torch.optim.Adagrad's rule.

    At step t (from 1), with the sum ``S`` starting at ``initial_accumulator_value``::

        S <- S + g^2
        x <- x - lr / (1 + (t - 1) lr_decay) * g / (sqrt(S) + eps)

    Parameters
    ----------
    lr : float or callable, default 1e-2
        The learning rate, or a schedule of the step number.
    lr_decay : float, default 0
        The learning rate's decay over the steps, as above.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    initial_accumulator_value : float, default 0
        The starting value of every element of the sum of squares.
    eps : float, default 1e-10
        Added to the denominator for stability.
    max_grad_norm : float, optional
        Clip the gradients by their total norm first (see :class:`Optimizer`).

    Raises
    ------
    GraphError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from cgraph import ComputationalGraph
    >>> from cgraph.optim import Adagrad
    >>> cg = ComputationalGraph()
    >>> cg.add_inputs(x=1.0)
    >>> cg.add_computation_node("f", "square", ("x",))
    >>> opt = Adagrad(lr=0.1).bind(cg)
    >>> _ = cg.forward("f"); _ = cg.backward("f"); opt.step()
    >>> round(cg.inputs["x"].output, 6)      # the first step is lr in size
    0.9
    """

    def __init__(
        self,
        lr: LearningRate = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, weight_decay, max_grad_norm=max_grad_norm)
        self.lr_decay = hyperparameter(lr_decay, "Adagrad: lr_decay")
        self.initial_accumulator_value = hyperparameter(
            initial_accumulator_value, "Adagrad: initial_accumulator_value"
        )
        self.eps = hyperparameter(eps, "Adagrad: eps")

    def _update(
        self, value: Any, grad: Any, state: dict[str, Any], lr: float
    ) -> tuple[Any, dict[str, Any]]:
        t = state.get("step", 0) + 1
        total = state.get("sum", self.initial_accumulator_value) + grad * grad
        rate = lr / (1.0 + (t - 1) * self.lr_decay)
        return rate * (grad / (np.sqrt(total) + self.eps)), {"step": t, "sum": total}

    def _hyperparameters(self) -> dict[str, Any]:
        found = {"lr": self.lr}
        if self.lr_decay:
            found["lr_decay"] = self.lr_decay
        if self.weight_decay:
            found["weight_decay"] = self.weight_decay
        if self.initial_accumulator_value:
            found["initial_accumulator_value"] = self.initial_accumulator_value
        found["eps"] = self.eps
        return found

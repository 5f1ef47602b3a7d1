"""Optimisation: torch.optim's optimisers and schedules, and minimize() to drive them.

- :mod:`cgraph.optim.optimizers`: :class:`GradientDescent`, :class:`Momentum` and
  :class:`Adam`, with torch.optim's update rules and hyperparameter names;
- :mod:`cgraph.optim.adaptive`: the other adaptive-rate optimisers, :class:`RMSprop`,
  :class:`AdamW` (decoupled weight decay) and :class:`Adagrad`;
- :mod:`cgraph.optim.clipping`: :func:`clip_grad_norm`, as torch's
  ``clip_grad_norm_`` (every optimiser also takes ``max_grad_norm=``);
- :mod:`cgraph.optim.lr_scheduler`: :class:`StepLR` and :class:`ExponentialLR`;
- :mod:`cgraph.optim.minimize`: :func:`minimize`, the training loop with stopping
  rules, mini-batches and a history, or scipy's methods
  (:mod:`cgraph.optim.scipy_minimize`), reporting an :class:`OptimizeResult`.
"""

from cgraph.optim.adaptive import Adagrad, AdamW, RMSprop
from cgraph.optim.clipping import clip_grad_norm
from cgraph.optim.lr_scheduler import ExponentialLR, StepLR
from cgraph.optim.minimize import minimize
from cgraph.optim.optimizers import Adam, GradientDescent, Momentum, Optimizer
from cgraph.optim.problem import OptimizeResult

__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "ExponentialLR",
    "GradientDescent",
    "Momentum",
    "OptimizeResult",
    "Optimizer",
    "RMSprop",
    "StepLR",
    "clip_grad_norm",
    "minimize",
]

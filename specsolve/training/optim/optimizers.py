"""Optimizers, registered as kind ``optimizer``; each factory returns ``params -> torch.optim.Optimizer``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch

from specsolve.registry import register

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]


@register("optimizer", "adam")
def adam(lr: float = 1.0e-3, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999)) -> OptimizerFactory:
    """Adam with L2 weight decay added to the gradient (as the FNO scripts' ``torch.optim.Adam``)."""
    return functools.partial(torch.optim.Adam, lr=lr, weight_decay=weight_decay, betas=betas)


@register("optimizer", "adamw")
def adamw(
    lr: float = 1.0e-3, weight_decay: float = 1.0e-2, betas: tuple[float, float] = (0.9, 0.999)
) -> OptimizerFactory:
    """AdamW (decoupled weight decay)."""
    return functools.partial(torch.optim.AdamW, lr=lr, weight_decay=weight_decay, betas=betas)


@register("optimizer", "sgd")
def sgd(lr: float = 1.0e-2, momentum: float = 0.9, weight_decay: float = 0.0) -> OptimizerFactory:
    """SGD with momentum."""
    return functools.partial(torch.optim.SGD, lr=lr, momentum=momentum, weight_decay=weight_decay)

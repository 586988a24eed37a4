"""Learning-rate schedulers, registered as kind ``scheduler``.

Each factory returns ``(optimizer, max_epochs, steps_per_epoch) -> Lightning lr_scheduler config dict | None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from specsolve.registry import register

SchedulerFactory = Callable[[torch.optim.Optimizer, int, int], dict[str, Any] | None]


@register("scheduler", "none")
def constant() -> SchedulerFactory:
    """A constant learning rate."""
    return lambda optimizer, max_epochs, steps_per_epoch: None


@register("scheduler", "step")
def step(step_size: int = 100, gamma: float = 0.5) -> SchedulerFactory:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (the FNO scripts: 100, 0.5)."""

    def build(optimizer: torch.optim.Optimizer, max_epochs: int, steps_per_epoch: int) -> dict[str, Any]:
        return {"scheduler": torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma), "interval": "epoch"}

    return build


@register("scheduler", "cosine")
def cosine(interval: Literal["epoch", "step"] = "step", eta_min: float = 0.0) -> SchedulerFactory:
    """Cosine annealing over the whole run (G-FNO's schedule)."""

    def build(optimizer: torch.optim.Optimizer, max_epochs: int, steps_per_epoch: int) -> dict[str, Any]:
        total = max_epochs * (steps_per_epoch if interval == "step" else 1)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total, 1), eta_min=eta_min)
        return {"scheduler": sched, "interval": interval}

    return build


@register("scheduler", "onecycle")
def onecycle(
    max_lr: float = 1.0e-3, pct_start: float = 0.3, div_factor: float = 1.0e4, final_div_factor: float = 1.0e4
) -> SchedulerFactory:
    """One-cycle schedule per optimizer step (the Galerkin Transformer's 1cycle)."""

    def build(optimizer: torch.optim.Optimizer, max_epochs: int, steps_per_epoch: int) -> dict[str, Any]:
        sched = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=max_lr,
            total_steps=max(max_epochs * steps_per_epoch, 1),
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
        )
        return {"scheduler": sched, "interval": "step"}

    return build

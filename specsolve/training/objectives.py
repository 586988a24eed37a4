"""Training objectives for time-window models: teacher forcing, full unrolling, pushforward.

``objective: {name: teacher_forcing | unrolled | pushforward, steps: K}`` in a run config. With ``unrolled`` and
``pushforward`` the data section's ``n_out`` frames are ``K`` model steps (``n_out / K`` frames each): the model
maps a window of ``n_in`` frames to one step, its prediction is appended to the window (oldest frames dropped)
and fed back, ``K`` times.

- ``teacher_forcing`` (default, today's training): the model sees true frames only; one loss on its output.
- ``unrolled``: the losses of all ``K`` steps summed, gradients through the whole rollout (the FNO paper's NS-2D
  recipe, ``fourier_2d_time.py``: 10 frames in, 1 out, fed back ``T`` times, loss over all steps).
- ``pushforward``: the first ``K - 1`` steps run without gradient, the loss is on the last step only, so the model
  learns to correct its own input distribution (Brandstetter, Worrall & Welling, ICLR 2022).

Validation under ``unrolled`` / ``pushforward`` reports the rollout error over the ``K`` steps (``val/rel_l2``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from specsolve.config.loading import to_container
from specsolve.errors import ConfigError
from specsolve.registry.signature import validate_params


@dataclass(frozen=True)
class Objective:
    """``name``: ``teacher_forcing``, ``unrolled`` or ``pushforward``; ``steps``: model steps per target window."""

    name: Literal["teacher_forcing", "unrolled", "pushforward"] = "teacher_forcing"
    steps: int = 1

    def __post_init__(self) -> None:
        if self.name not in ("teacher_forcing", "unrolled", "pushforward"):
            raise ConfigError(f"objective.name must be teacher_forcing, unrolled or pushforward, got {self.name!r}")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise ConfigError(f"objective.steps must be an integer >= 1, got {self.steps!r}")

    @property
    def recurrent(self) -> bool:
        return self.name != "teacher_forcing"


def objective_options(cfg: Any) -> Objective:
    """The run config's ``objective`` section (absent: teacher forcing), validated by signature."""
    section = cfg.get("objective") if cfg is not None else None
    if section is None:
        return Objective()
    section = to_container(section) if not isinstance(section, dict) else section
    if isinstance(section, str):
        section = {"name": section}
    if not isinstance(section, dict):
        raise ConfigError("'objective' must be a mapping such as {name: unrolled, steps: 10}")
    return Objective(**validate_params(Objective, section, where="objective"))


def feed_back(window: Tensor, pred: Tensor) -> Tensor:
    """The next input window: ``pred`` appended along axis 1 (folded channels or time), the oldest entries dropped."""
    return torch.cat([window, pred], dim=1)[:, -window.shape[1] :]


def rollout(step: Callable[[Tensor], Tensor], x: Tensor, steps: int, grad_from: int = 0) -> list[Tensor]:
    """``steps`` predictions of ``step`` fed back into the window ``x``; steps before ``grad_from`` run without
    gradient (``grad_from = steps - 1`` is pushforward)."""
    preds, window = [], x
    for k in range(steps):
        with torch.set_grad_enabled(torch.is_grad_enabled() and k >= grad_from):
            pred = step(window)
        preds.append(pred)
        if k < steps - 1:
            window = feed_back(window, pred if k >= grad_from else pred.detach())
    return preds


def split_targets(y: Tensor, steps: int) -> list[Tensor]:
    """The ``steps`` per-step targets of a target window ``y`` (split along axis 1)."""
    if y.shape[1] % steps:
        raise ConfigError(f"objective.steps={steps} does not divide the {y.shape[1]} target entries of a window")
    return list(y.chunk(steps, dim=1))


def objective_loss(
    objective: Objective,
    step: Callable[[Tensor], Tensor],
    loss: Callable[[Tensor, Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
) -> tuple[Tensor, Tensor]:
    """``(loss, prediction)`` of a batch: teacher forcing one call; ``unrolled`` the sum of the ``K`` step losses;
    ``pushforward`` the last step's loss. The prediction is the whole rollout, concatenated like ``y``."""
    if not objective.recurrent:
        pred = step(x)
        return loss(pred, y, x), pred
    targets = split_targets(y, objective.steps)
    grad_from = objective.steps - 1 if objective.name == "pushforward" else 0
    preds = rollout(step, x, objective.steps, grad_from)
    if objective.name == "pushforward":
        total = loss(preds[-1], targets[-1], x)
    else:
        total = sum(loss(p, t, x) for p, t in zip(preds, targets))
    return total, torch.cat(preds, dim=1)


def step_out_channels(objective: Objective, datamodule: Any) -> int:
    """The model's output channels: the data's for teacher forcing; one step's (``n_out / K`` folded frames) for
    the recurrent objectives, which need a window DataModule (``hdf5_windows``)."""
    if not objective.recurrent:
        return datamodule.out_channels
    n_out = getattr(datamodule, "n_out", None)
    if n_out is None:
        raise ConfigError(f"objective.name={objective.name} needs a time-window data section (hdf5_windows)")
    if n_out % objective.steps:
        raise ConfigError(f"objective.steps={objective.steps} must divide data.n_out={n_out}")
    if datamodule.inputs != datamodule.outputs:
        raise ConfigError(f"objective.name={objective.name} feeds predictions back: data.outputs must equal inputs")
    if getattr(datamodule, "layout", "channels") == "time":
        return datamodule.out_channels
    return datamodule.out_channels // objective.steps

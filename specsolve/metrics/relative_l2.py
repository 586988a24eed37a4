"""Relative L2 error as a DDP-reducible metric."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from specsolve.nn.norms import relative_lp_per_sample
from specsolve.registry import register


class SampleMeanMetric(Metric):
    """Base class: a per-sample error averaged over samples; states reduce by sum across ranks.

    Subclasses implement :meth:`per_sample` mapping ``(B, C, *space)`` tensors (or ``(B, T, C, *space)``) to ``(B,)``.
    """

    full_state_update = False
    higher_is_better = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def per_sample(self, pred: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, pred: Tensor, target: Tensor) -> None:
        self.accumulate(self.per_sample(pred, target))

    def accumulate(self, values: Tensor) -> None:
        """Add the per-sample values ``(B,)`` to the running sum and count."""
        self.total += values.double().sum()
        self.count += values.numel()

    def compute(self) -> Tensor:
        return self.total / self.count.clamp(min=1)


@register("metric", "rel_l2")
class RelativeL2(SampleMeanMetric):
    """Relative L2 error per sample, ``||pred - target||_2 / ||target||_2``, averaged over samples (computed in
    float64 when either input is float64, else in float32)."""

    def per_sample(self, pred: Tensor, target: Tensor) -> Tensor:
        dtype = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
        return relative_lp_per_sample(pred.to(dtype), target.to(dtype), 2.0)

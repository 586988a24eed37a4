"""Relative Lp loss (Li et al. 2021, ``LpLoss``): per-sample ``||pred - target||_p / ||target||_p``, averaged."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from specsolve.registry import register


def relative_lp_per_sample(pred: Tensor, target: Tensor, p: float = 2.0, eps: float = 1e-12) -> Tensor:
    """Per-sample relative Lp error over all non-batch dims: ``(B, ...) -> (B,)``.

    The grid measure cancels in the ratio, so no quadrature weight is needed on a uniform grid.
    """
    diff = (pred - target).flatten(1)
    ref = target.flatten(1)
    return torch.linalg.vector_norm(diff, ord=p, dim=1) / (torch.linalg.vector_norm(ref, ord=p, dim=1) + eps)


@register("loss", "rel_lp")
class RelativeLpLoss(nn.Module):
    """Relative Lp error, mean over the batch (FNO's ``LpLoss`` up to its sum-vs-mean reduction).

    Parameters
    ----------
    p : order of the norm (2 gives relative L2).
    """

    def __init__(self, p: float = 2.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        if target is None:
            raise ValueError("rel_lp needs a target")
        return relative_lp_per_sample(pred, target, self.p).mean()


@register("loss", "rel_l2")
class RelativeL2Loss(RelativeLpLoss):
    """Relative L2 error ``||pred - target||_2 / ||target||_2`` per sample, mean over the batch."""

    def __init__(self) -> None:
        super().__init__(p=2.0)

"""Relative Lp loss (Li et al. 2021, ``LpLoss``): per-sample ``||pred - target||_p / ||target||_p``, averaged."""

from __future__ import annotations

from torch import Tensor, nn

from specsolve.nn.norms import relative_lp_per_sample
from specsolve.registry import register

__all__ = ["RelativeL2Loss", "RelativeLpLoss", "relative_lp_per_sample"]


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

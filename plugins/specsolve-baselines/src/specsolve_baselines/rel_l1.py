"""Relative L1 loss: per-sample ``||pred - target||_1 / ||target||_1``, mean over the batch."""

from __future__ import annotations

from torch import Tensor, nn


class RelativeL1Loss(nn.Module):
    """Relative L1 error ``sum|pred - target| / sum|target|`` per sample (all non-batch axes), mean over the batch.

    On a uniform grid the quadrature weight cancels in the ratio. ``eps`` guards an all-zero target.

    Parameters
    ----------
    eps : added to the denominator.
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        if target is None:
            raise ValueError("rel_l1 needs a target")
        diff = (pred - target).flatten(1).abs().sum(dim=1)
        ref = target.flatten(1).abs().sum(dim=1)
        return (diff / (ref + self.eps)).mean()

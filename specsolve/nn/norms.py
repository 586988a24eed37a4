"""Norms shared by losses and metrics."""

from __future__ import annotations

import torch
from torch import Tensor


def relative_lp_per_sample(pred: Tensor, target: Tensor, p: float = 2.0, eps: float = 1e-12) -> Tensor:
    """Per-sample relative Lp error over all non-batch dims: ``(B, ...) -> (B,)``.

    The grid measure cancels in the ratio, so no quadrature weight is needed on a uniform grid.
    """
    diff = (pred - target).flatten(1)
    ref = target.flatten(1)
    return torch.linalg.vector_norm(diff, ord=p, dim=1) / (torch.linalg.vector_norm(ref, ord=p, dim=1) + eps)

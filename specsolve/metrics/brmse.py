"""Boundary RMSE (PDEBench bRMSE): RMSE over the grid points on the boundary of the box."""

from __future__ import annotations

import torch
from torch import Tensor

from specsolve.metrics.field_metric import FieldMetric, space_dims
from specsolve.registry import register


def boundary_mask(shape: tuple[int, ...], device: torch.device | None = None) -> Tensor:
    """Boolean mask of grid points with index ``0`` or ``n - 1`` along at least one axis."""
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    for d, n in enumerate(shape):
        idx = torch.tensor(sorted({0, n - 1}), device=device)
        mask.index_fill_(d, idx, True)
    return mask


@register("metric", "brmse")
class BRMSE(FieldMetric):
    """``sqrt(mean_{x in boundary} (pred - target)^2)`` per sample, time step and channel, where the boundary is every
    grid point with index ``0`` or ``n - 1`` along some spatial axis (1-D: the two end points; 2-D: the four edges,
    corners counted once); mean over time and channels per sample, then over samples.

    On periodic data stored without the right end point this is the error on the first and last stored columns.
    PDEBench counts a point once per face it lies on (2-D corners twice): that is ``pdebench_brmse``.
    """

    def per_field(self, pred: Tensor, target: Tensor) -> Tensor:
        dims = space_dims(pred)
        mask = boundary_mask(tuple(pred.shape[3:]), pred.device)
        sq = ((pred - target) ** 2) * mask
        return (sq.sum(dims) / mask.sum()).sqrt()

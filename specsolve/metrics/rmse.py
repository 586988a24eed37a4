"""Root-mean-square error (PDEBench RMSE)."""

from __future__ import annotations

from torch import Tensor

from specsolve.metrics.field_metric import FieldMetric, space_dims
from specsolve.registry import register


@register("metric", "rmse")
class RMSE(FieldMetric):
    """``sqrt(mean_space (pred - target)^2)`` per sample, time step and channel; mean over time and channels per
    sample, then over samples. Inputs ``(B, C, *space)`` or, with ``spatial_dims``, ``(B, T, C, *space)``."""

    def per_field(self, pred: Tensor, target: Tensor) -> Tensor:
        return ((pred - target) ** 2).mean(space_dims(pred)).sqrt()

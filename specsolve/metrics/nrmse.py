"""Normalised RMSE (PDEBench nRMSE): the relative L2 error per channel and time step."""

from __future__ import annotations

from torch import Tensor

from specsolve.metrics.field_metric import FieldMetric, space_dims
from specsolve.registry import register


@register("metric", "nrmse")
class NRMSE(FieldMetric):
    """``||pred - target||_2 / ||target||_2`` over space, per sample, time step and channel (``eps = 1e-12`` added to
    the denominator); mean over time and channels per sample, then over samples.

    Unlike ``rel_l2`` (one ratio over all channels and steps together) each channel and step counts equally, so a
    small-amplitude channel is not swamped by a large one.
    """

    eps = 1e-12

    def per_field(self, pred: Tensor, target: Tensor) -> Tensor:
        dims = space_dims(pred)
        return ((pred - target) ** 2).sum(dims).sqrt() / ((target**2).sum(dims).sqrt() + self.eps)

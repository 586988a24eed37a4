"""Conserved-quantity RMSE (PDEBench cRMSE): error of the spatial mean."""

from __future__ import annotations

from torch import Tensor

from specsolve.metrics.field_metric import FieldMetric, space_dims
from specsolve.registry import register


@register("metric", "crmse")
class CRMSE(FieldMetric):
    """``|sum_space pred - sum_space target| / N_space`` (the error of the spatially averaged, conserved quantity)
    per sample, time step and channel; mean over time and channels per sample, then over samples.

    PDEBench aggregates this quantity over the batch as a root-mean-square; here, as for every specsolve metric, the
    per-sample values are averaged (identical for one sample, and the mean never exceeds the RMS). PDEBench's reduction
    is ``pdebench_crmse``.
    """

    def per_field(self, pred: Tensor, target: Tensor) -> Tensor:
        dims = space_dims(pred)
        return (pred.mean(dims) - target.mean(dims)).abs()

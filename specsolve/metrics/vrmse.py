"""Variance-scaled RMSE (The Well's VRMSE): ``vrmse`` (population variance) and ``well_vrmse`` (The Well's own
Bessel-corrected variance, equal to ``the_well.benchmark.metrics.VRMSE``)."""

from __future__ import annotations

from torch import Tensor

from specsolve.metrics.field_metric import FieldMetric, space_dims
from specsolve.registry import register


@register("metric", "vrmse")
class VRMSE(FieldMetric):
    """``sqrt(mean_space (pred - target)^2 / (var_space(target) + eps))``, ``eps = 1e-7``, per sample, time step and
    field (channel); mean over time and channels per sample, then over samples.

    ``var_space`` is the population variance ``mean_space (u - mean_space u)^2``, so predicting the spatial mean
    scores ~1 (The Well's ``norm_mode="std"`` uses the Bessel-corrected ``torch.std``; the difference is a factor
    ``N / (N - 1)`` inside the root; ``well_vrmse`` is that variant).
    """

    eps = 1e-7
    bessel = False

    def per_field(self, pred: Tensor, target: Tensor) -> Tensor:
        dims = space_dims(pred)
        mse = ((pred - target) ** 2).mean(dims)
        sq = ((target - target.mean(dims, keepdim=True)) ** 2).sum(dims)
        n = target[0, 0, 0].numel()
        var = sq / (n - 1 if self.bessel else n)
        return (mse / (var + self.eps)).sqrt()


@register("metric", "well_vrmse")
class WellVRMSE(VRMSE):
    """The Well's VRMSE exactly: ``sqrt(mean_space (pred - target)^2 / (std_space(target)^2 + eps))`` with the
    Bessel-corrected ``std`` (``torch.std``) and ``eps = 1e-7``, per sample, time step and field; mean over time and
    fields per sample, then over samples."""

    bessel = True

"""Maximum absolute error (PDEBench Max error)."""

from __future__ import annotations

from torch import Tensor

from specsolve.metrics.field_metric import FieldMetric, as_btc
from specsolve.registry import register


@register("metric", "max_error")
class MaxError(FieldMetric):
    """``max |pred - target|`` over all channels, time steps and grid points of a sample; mean over samples.

    (PDEBench reports the maximum over the whole data set instead; the per-sample maxima here keep the metric a
    reducible sample mean. The maximum over the data set is ``max`` of :meth:`per_sample`; PDEBench's reduction, the
    maximum over the data set per channel and step averaged over them, is ``pdebench_max_error``.)
    """

    def per_sample(self, pred: Tensor, target: Tensor) -> Tensor:
        p, t = as_btc(pred, target, self.spatial_dims)
        return (p - t).abs().flatten(1).amax(1)

"""Private base for field metrics: layout handling and the reduction shared by rmse, nrmse, vrmse, ...

Inputs are ``(B, C, *space)``, or ``(B, T, C, *space)`` when ``spatial_dims`` is given and the tensors have
``spatial_dims + 3`` dims. A metric defines ``per_field(pred, target) -> (B, T, C)`` (one value per sample, time step
and channel, computed over space); the per-sample value is its mean over time steps and channels; ``compute()`` is the
mean over all samples seen (sum/count states, summed across ranks).
"""

from __future__ import annotations

import torch
from torch import Tensor

from specsolve.errors import ConfigError
from specsolve.metrics.relative_l2 import SampleMeanMetric


def as_btc(pred: Tensor, target: Tensor, spatial_dims: int | None) -> tuple[Tensor, Tensor]:
    """Both tensors as ``(B, T, C, *space)`` (``T = 1`` without a time axis): float64 if either is float64, else
    float32."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if spatial_dims is None:
        if pred.ndim < 3:
            raise ValueError(f"expected (B, C, *space), got shape {tuple(pred.shape)}")
        has_time = False
    elif pred.ndim == spatial_dims + 2:
        has_time = False
    elif pred.ndim == spatial_dims + 3:
        has_time = True
    else:
        raise ValueError(
            f"expected (B, C, *space) or (B, T, C, *space) with {spatial_dims} spatial dims, got {tuple(pred.shape)}"
        )
    dtype = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
    pred, target = pred.to(dtype), target.to(dtype)
    if not has_time:
        pred, target = pred.unsqueeze(1), target.unsqueeze(1)
    return pred, target


def check_band_edges(metric: object, low: int, high: int) -> None:
    """Fourier-band metrics: a :class:`ConfigError` naming ``metric``'s class unless ``0 < low < high``."""
    if not 0 < low < high:
        raise ConfigError(f"{type(metric).__name__}: need 0 < low < high, got low={low}, high={high}")


def space_dims(x: Tensor) -> list[int]:
    """The spatial dims of a ``(B, T, C, *space)`` tensor."""
    return list(range(3, x.ndim))


class FieldMetric(SampleMeanMetric):
    """Base: ``per_field -> (B, T, C)``, per-sample mean over time and channels, mean over samples.

    Parameters
    ----------
    spatial_dims : number of trailing spatial dims; needed only to recognise ``(B, T, C, *space)`` inputs
        (``None``: inputs are ``(B, C, *space)``).
    """

    def __init__(self, spatial_dims: int | None = None) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims

    def per_field(self, pred: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def per_sample(self, pred: Tensor, target: Tensor) -> Tensor:
        p, t = as_btc(pred, target, self.spatial_dims)
        return self.per_field(p, t).mean(dim=(1, 2))

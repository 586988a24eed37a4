"""Fourier-band RMSE (PDEBench fRMSE): the error's RMS split by radial wavenumber bands.

With ``c_k = fftn(pred - target, norm="forward")`` over the spatial axes (integer wavenumbers ``k``, FFT order), the
band value per sample, time step and channel is::

    fRMSE_band = sqrt( sum_{k : |k| in band} |c_k|^2 ),   |k| = sqrt(sum_j k_j^2)   (real radius)

i.e., by Parseval, the RMS over the grid of the band-pass-filtered error, so that
``fRMSE_low^2 + fRMSE_mid^2 + fRMSE_high^2 = RMSE^2`` and the value does not depend on the resolution for resolved
fields. Bands: low ``[0, low)``, mid ``[low, high)``, high ``[high, inf)``, defaults ``low = 4``, ``high = 12``
(PDEBench's ``iLow``, ``iHigh``); ``|k|`` in ``[a, b)`` on the real radius equals ``floor(|k|)`` in ``a..b-1``.
Wavenumbers count cycles per domain length, whatever the physical length. PDEBench's own fRMSE is different (first
quadrant only, ``L / N`` scaling, a mean over the bins of a band, batch reduction): for numbers comparable with
PDEBench's tables use ``pdebench_frmse_{low,mid,high}`` (:mod:`specsolve.metrics.pdebench`). The FFT assumes
periodic data; on non-periodic fields the jump at the ends leaks into the high band. Reduction: mean over time and
channels per sample, then over samples.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from specsolve.metrics.field_metric import FieldMetric, check_band_edges, space_dims
from specsolve.pde.operators import wavenumbers
from specsolve.registry import register


def radial_wavenumber_squared(shape: tuple[int, ...], device: torch.device | None = None) -> Tensor:
    """``|k|^2`` (exact integers, float64) on the FFT grid of ``shape`` (integer wavenumbers per axis, FFT order)."""
    k2 = torch.zeros(shape, dtype=torch.float64, device=device)
    for d, n in enumerate(shape):
        k = wavenumbers(n, device=device)
        k2 = k2 + k.reshape([-1 if i == d else 1 for i in range(len(shape))]) ** 2
    return k2


class FourierBandRMSE(FieldMetric):
    """Base of the three band metrics; ``band`` is ``"low"``, ``"mid"`` or ``"high"``."""

    band = "low"

    def __init__(self, spatial_dims: int | None = None, low: int = 4, high: int = 12) -> None:
        super().__init__(spatial_dims)
        check_band_edges(self, low, high)
        self.low, self.high = low, high

    def bounds(self) -> tuple[float, float]:
        return {"low": (0.0, self.low), "mid": (self.low, self.high), "high": (self.high, math.inf)}[self.band]

    def per_field(self, pred: Tensor, target: Tensor) -> Tensor:
        dims = space_dims(pred)
        c = torch.fft.fftn(pred - target, dim=dims, norm="forward")
        k2 = radial_wavenumber_squared(tuple(pred.shape[3:]), pred.device)
        lo, hi = self.bounds()
        mask = ((k2 >= lo**2) & (k2 < hi**2)).to(pred.dtype)  # lo <= |k| < hi, compared exactly on |k|^2
        return ((c.real**2 + c.imag**2) * mask).sum(dims).sqrt()


@register("metric", "frmse_low")
class FRMSELow(FourierBandRMSE):
    """Error RMS in the radial wavenumber band ``[0, low)`` (default ``[0, 4)``); see the module docstring."""

    band = "low"


@register("metric", "frmse_mid")
class FRMSEMid(FourierBandRMSE):
    """Error RMS in the radial wavenumber band ``[low, high)`` (default ``[4, 12)``); see the module docstring."""

    band = "mid"


@register("metric", "frmse_high")
class FRMSEHigh(FourierBandRMSE):
    """Error RMS in the radial wavenumber band ``[high, inf)`` (default ``[12, inf)``); see the module docstring."""

    band = "high"

"""PDEBench's metrics as PDEBench computes them (Takamoto et al. 2022, ``metric_func``): cRMSE, max error, bRMSE and
the three fRMSE bands, with PDEBench's batch reductions, so the values can be put next to PDEBench's tables.

Written from the definitions (PDEBench's own code is under a non-commercial licence and is not used here). With
``e = pred - target`` on a ``(B, T, C, *space)`` batch (``N = prod(n_j)`` grid points, ``B`` samples), every metric
is first a value per channel ``c`` and time step ``t``, and the reported number is its mean over ``(c, t)``:

- ``pdebench_crmse``: ``sqrt(mean_b (sum_space e)^2) / N``: the RMS over the batch of the error of the spatial sum
  (specsolve's ``crmse`` is the per-sample mean of ``|mean_space e|`` instead).
- ``pdebench_max_error``: ``max_b max_space |e|`` (specsolve's ``max_error``: mean over samples of the per-sample
  maximum over channels and steps).
- ``pdebench_brmse``: per sample ``sqrt(S / D)``, then the mean over samples, where ``S`` sums ``e^2`` over the
  faces of the box, each face's points counted once per face (edge and corner points therefore two or three times)
  and ``D`` is the number of points so counted: 1-D ``(e_0^2 + e_{n-1}^2) / 2``; 2-D ``/(2 nx + 2 ny)``; 3-D
  ``/(2 nx ny + 2 ny nz + 2 nz nx)``. (PDEBench's 3-D branch sums the channels into one value before the root; here
  each channel is kept separately, the reading that agrees with its 1-D and 2-D branches; both agree for one
  channel.)
- ``pdebench_frmse_{low,mid,high}``: with the unnormalised DFT ``E = fft(e)`` over space,

  * 1-D: ``E = rfft(e)``, one bin per wavenumber ``k = 0 .. n // 2``;
  * 2-D / 3-D: only the first quadrant / octant ``0 <= k_j < n_j // 2``; bin ``floor(sqrt(sum_j k_j^2))``, bins
    ``0 .. min_j(n_j // 2) - 1`` (wavenumbers beyond the last bin are dropped); ``|E|^2`` summed per bin.

  The value per bin is ``sqrt(mean_b binned |E|^2) * prod_j L_j / N`` (``L_j`` the domain lengths, PDEBench's
  ``Lx, Ly, Lz``, default 1), and a band is the plain mean over its bins: low ``[0, low)``, mid ``[low, high)``,
  high ``[high, last bin]`` (defaults ``low = 4``, ``high = 12``, PDEBench's ``iLow``, ``iHigh``). A band with no
  bin (a grid too coarse for it, e.g. ``high`` on a 16^2 grid) is NaN, as in PDEBench.

Batch reduction: ``compute()`` reduces over every sample seen since the last ``reset()`` as one batch (states are
sums and maxima over samples, summed / maxed across ranks). PDEBench's training scripts call ``metric_func`` on each
loader batch and average the batch values; the two agree when the test set is one batch (or for the per-sample
``pdebench_brmse``, always). :meth:`per_sample` gives each sample's value on its own (a batch of one).
Inputs as for every field metric: ``(B, C, *space)``, or ``(B, T, C, *space)`` with ``spatial_dims``; float64 stays
float64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric

from specsolve.errors import ConfigError
from specsolve.metrics.field_metric import as_btc, check_band_edges, space_dims
from specsolve.registry import register


class PDEBenchMetric(Metric):
    """Base: per-sample statistics ``(B, T, C, ...)`` reduced over the batch by ``reduce`` ("sum" or "max"), then
    :meth:`finish` maps the reduced statistic and the sample count to the reported scalar."""

    full_state_update = False
    higher_is_better = False
    batch_reduced = True  # compute() is not the mean of per_sample(): evaluate() reduces with update()/compute()
    reduce = "sum"

    def __init__(self, spatial_dims: int | None = None) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.add_state("stat", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx=self.reduce)
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    # -- to implement ---------------------------------------------------------------------------------------------
    def sample_stats(self, err: Tensor) -> Tensor:
        """``(B, T, C, *space)`` error -> per-sample statistic ``(B, T, C, ...)``."""
        raise NotImplementedError

    def finish(self, stat: Tensor, count: int, shape: tuple[int, ...]) -> Tensor:
        """Reduced statistic (``(T, C, ...)``), number of samples, spatial shape -> scalar."""
        raise NotImplementedError

    # -- torchmetrics interface -----------------------------------------------------------------------------------
    def _stats(self, pred: Tensor, target: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        p, t = as_btc(pred, target, self.spatial_dims)
        return self.sample_stats(p - t).to(torch.float64), tuple(p.shape[3:])

    def update(self, pred: Tensor, target: Tensor) -> None:
        stats, shape = self._stats(pred, target)
        if self.count.item() and getattr(self, "_shape", shape) != shape:
            raise ValueError(f"{type(self).__name__}: grid {shape} differs from the earlier batches' {self._shape}")
        self._shape = shape
        stat = self.stat.to(stats.device)
        if self.reduce == "sum":
            self.stat = stat + stats.sum(0)
        else:
            self.stat = torch.maximum(stat, stats.amax(0))
        self.count += stats.shape[0]

    def compute(self) -> Tensor:
        if not self.count.item():
            return torch.tensor(float("nan"), dtype=torch.float64)
        return self.finish(self.stat, int(self.count.item()), self._shape)

    def per_sample(self, pred: Tensor, target: Tensor) -> Tensor:
        """Each sample's value taken alone (a batch of one): ``(B,)``."""
        stats, shape = self._stats(pred, target)
        return torch.stack([self.finish(s, 1, shape) for s in stats])


@register("metric", "pdebench_crmse")
class PDEBenchCRMSE(PDEBenchMetric):
    """PDEBench cRMSE: ``sqrt(mean_b (sum_space (pred - target))^2) / N_space`` per channel and step, mean over
    them; the RMS over the whole batch (see the module docstring)."""

    def sample_stats(self, err: Tensor) -> Tensor:
        return err.sum(space_dims(err)) ** 2

    def finish(self, stat: Tensor, count: int, shape: tuple[int, ...]) -> Tensor:
        return ((stat / count).sqrt() / math.prod(shape)).mean()


@register("metric", "pdebench_max_error")
class PDEBenchMaxError(PDEBenchMetric):
    """PDEBench max error: ``max_b max_space |pred - target|`` per channel and step, mean over them."""

    reduce = "max"

    def sample_stats(self, err: Tensor) -> Tensor:
        return err.abs().flatten(3).amax(3)

    def finish(self, stat: Tensor, count: int, shape: tuple[int, ...]) -> Tensor:
        return stat.mean()


def face_sum_squares(err: Tensor) -> tuple[Tensor, int]:
    """Sum of ``err^2`` over the two faces of every spatial axis of ``(B, T, C, *space)``, each face's points counted
    once per face, and the number of points so counted."""
    shape = err.shape[3:]
    total = torch.zeros(err.shape[:3], dtype=err.dtype, device=err.device)
    points = 0
    for d in range(len(shape)):
        axis = 3 + d
        for index in (0, shape[d] - 1):
            total = total + (err.select(axis, index) ** 2).reshape(*err.shape[:3], -1).sum(3)
        points += 2 * math.prod(n for j, n in enumerate(shape) if j != d)
    return total, points


@register("metric", "pdebench_brmse")
class PDEBenchBRMSE(PDEBenchMetric):
    """PDEBench bRMSE: per sample, channel and step ``sqrt(sum over the faces of e^2 / points counted)`` (faces
    counted separately, so edges and corners count more than once), mean over samples, channels and steps."""

    def sample_stats(self, err: Tensor) -> Tensor:
        total, points = face_sum_squares(err)
        return (total / points).sqrt()

    def finish(self, stat: Tensor, count: int, shape: tuple[int, ...]) -> Tensor:
        return (stat / count).mean()


def first_quadrant_bins(shape: tuple[int, ...], device: torch.device | None = None) -> tuple[Tensor, int]:
    """For a 2-D / 3-D grid: the radial bin ``floor(|k|)`` of every first-quadrant wavenumber ``0 <= k_j < n_j // 2``
    (flattened in C order over that quadrant, ``-1`` for those past the last bin) and the number of bins
    ``min_j(n_j // 2)``."""
    half = [n // 2 for n in shape]
    k2 = torch.zeros(half, dtype=torch.long, device=device)
    for d, m in enumerate(half):
        k = torch.arange(m, device=device)
        k2 = k2 + k.reshape([-1 if i == d else 1 for i in range(len(half))]) ** 2
    radius = torch.sqrt(k2.to(torch.float64)).floor().long()  # exact for these integer sizes
    n_bins = min(half)
    radius[radius > n_bins - 1] = -1
    return radius.flatten(), n_bins


def binned_spectral_energy(err: Tensor) -> Tensor:
    """``(B, T, C, *space)`` error -> ``(B, T, C, n_bins)``: ``|E_k|^2`` of the unnormalised DFT, per wavenumber in
    1-D (``rfft``, ``n // 2 + 1`` bins), summed per radial bin over the first quadrant in 2-D / 3-D."""
    dims = space_dims(err)
    shape = tuple(err.shape[3:])
    if len(shape) == 1:
        spec = torch.fft.rfft(err, dim=3)
        return spec.real**2 + spec.imag**2
    spec = torch.fft.fftn(err, dim=dims)
    energy = spec.real**2 + spec.imag**2
    energy = energy[(..., *(slice(0, n // 2) for n in shape))].flatten(3)
    bins, n_bins = first_quadrant_bins(shape, err.device)
    keep = bins >= 0
    out = torch.zeros((*err.shape[:3], n_bins), dtype=energy.dtype, device=err.device)
    return out.index_add_(3, bins[keep], energy[..., keep])


class PDEBenchFRMSE(PDEBenchMetric):
    """Base of the three PDEBench fRMSE bands; ``band`` is ``"low"``, ``"mid"`` or ``"high"``.

    Parameters
    ----------
    spatial_dims : as for every field metric.
    low, high : band edges in bins (PDEBench's ``iLow``, ``iHigh``).
    lengths : domain length per spatial axis (PDEBench's ``Lx, Ly, Lz``); ``None``: 1 on every axis, PDEBench's
        default.
    """

    band = "low"

    def __init__(
        self, spatial_dims: int | None = None, low: int = 4, high: int = 12, lengths: list[float] | None = None
    ) -> None:
        super().__init__(spatial_dims)
        check_band_edges(self, low, high)
        self.low, self.high = low, high
        self.lengths = None if lengths is None else [float(v) for v in lengths]

    def sample_stats(self, err: Tensor) -> Tensor:
        return binned_spectral_energy(err)

    def finish(self, stat: Tensor, count: int, shape: tuple[int, ...]) -> Tensor:
        lengths = self.lengths if self.lengths is not None else [1.0] * len(shape)
        if len(lengths) != len(shape):
            raise ConfigError(
                f"{type(self).__name__}: lengths has {len(lengths)} entries for {len(shape)} spatial axes"
            )
        per_bin = (stat / count).sqrt() * (math.prod(lengths) / math.prod(shape))  # (T, C, n_bins)
        lo, hi = {"low": (0, self.low), "mid": (self.low, self.high), "high": (self.high, None)}[self.band]
        return per_bin[..., lo:hi].mean(-1).mean()  # an empty band is NaN, as in PDEBench


@register("metric", "pdebench_frmse_low")
class PDEBenchFRMSELow(PDEBenchFRMSE):
    """PDEBench fRMSE, low band: mean over bins ``[0, low)`` (default ``[0, 4)``); see the module docstring."""

    band = "low"


@register("metric", "pdebench_frmse_mid")
class PDEBenchFRMSEMid(PDEBenchFRMSE):
    """PDEBench fRMSE, mid band: mean over bins ``[low, high)`` (default ``[4, 12)``); see the module docstring."""

    band = "mid"


@register("metric", "pdebench_frmse_high")
class PDEBenchFRMSEHigh(PDEBenchFRMSE):
    """PDEBench fRMSE, high band: mean over bins ``high ..`` the last (default ``12 ..``); see the module
    docstring."""

    band = "high"

"""Scored uncertainty: CRPS, central-interval coverage and calibration error of a probabilistic prediction.

A prediction is either Gaussian, a mean ``pred`` and a standard deviation ``std`` per point (a GP's posterior mean
and ``u_std``), or an ensemble, ``samples`` of shape ``(B, M, *pred.shape[1:])`` (``M`` members per sample, e.g.
posterior draws). Every score is computed per grid point and averaged over the points (channels, time steps and
space) of a sample, then over samples (sum / count states, as for the field metrics).

- ``crps``: the continuous ranked probability score ``int (F(x) - 1{x >= y})^2 dx`` (lower is better; for a point
  prediction it is the absolute error). Gaussian closed form
  ``sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`` with ``z = (y - mu) / sigma`` (``sigma = 0``: ``|y - mu|``);
  ensemble form ``mean_i |x_i - y| - sum_ij |x_i - x_j| / (2 M^2)`` (the CRPS of the members' empirical
  distribution), or with ``fair=True`` the unbiased ``... / (2 M (M - 1))``.
- ``coverage``: the fraction of points whose truth lies in the central ``level`` interval (default 0.9):
  ``|y - mu| <= Phi^-1((1 + level) / 2) sigma``, or between the members' ``(1 -+ level) / 2`` quantiles (linear
  interpolation between order statistics). A calibrated prediction scores ``level``.
- ``calibration_error``: the mean over the levels ``0.1, 0.2, ..., 0.9`` of ``|coverage(level) - level|`` (0 for a
  calibrated prediction, at most ~0.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from specsolve.errors import ConfigError, DataError
from specsolve.metrics.relative_l2 import SampleMeanMetric
from specsolve.registry import register

CALIBRATION_LEVELS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def _check(pred: Tensor | None, target: Tensor, std: Tensor | None, samples: Tensor | None) -> None:
    if (std is None) == (samples is None):
        raise DataError("an uncertainty metric needs exactly one of a standard deviation (std) or samples")
    if std is not None:
        if pred is None or pred.shape != target.shape or std.shape != target.shape:
            shapes = [None if a is None else tuple(a.shape) for a in (pred, target, std)]
            raise DataError(f"pred, target and std must have one shape, got {shapes}")
    elif (
        samples.ndim != target.ndim + 1 or samples.shape[0] != target.shape[0] or samples.shape[2:] != target.shape[1:]
    ):
        raise DataError(
            f"samples must be (B, M, *target.shape[1:]) for a target of shape {tuple(target.shape)}, "
            f"got {tuple(samples.shape)}"
        )


def _float(*tensors: Tensor | None) -> list[Tensor | None]:
    dtype = torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32
    return [None if t is None else t.to(dtype) for t in tensors]


def gaussian_crps(mean: Tensor, std: Tensor, target: Tensor) -> Tensor:
    """Pointwise CRPS of ``N(mean, std^2)`` at ``target`` (closed form; ``std = 0`` gives ``|target - mean|``)."""
    err = target - mean
    sigma = std.abs()
    positive = sigma > 0
    safe = torch.where(positive, sigma, torch.ones_like(sigma))
    z = err / safe
    pdf = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    cdf = torch.special.ndtr(z)
    crps = safe * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))
    return torch.where(positive, crps, err.abs())


def ensemble_crps(samples: Tensor, target: Tensor, fair: bool = False) -> Tensor:
    """Pointwise CRPS of the ensemble ``samples`` (members on dim 1, ``(B, M, ...)``) at ``target`` ``(B, ...)``.

    ``sum_ij |x_i - x_j| = 2 sum_i (2 i - M + 1) x_(i)`` over the sorted members, so the cost is ``O(M log M)``.
    """
    m = samples.shape[1]
    skill = (samples - target.unsqueeze(1)).abs().mean(1)
    ordered = samples.sort(dim=1).values
    weights = (2 * torch.arange(m, dtype=samples.dtype, device=samples.device) - m + 1).reshape(
        [1, m] + [1] * (samples.ndim - 2)
    )
    pair_sum = 2 * (weights * ordered).sum(1)
    if fair:
        if m < 2:
            raise DataError("the fair ensemble CRPS needs at least 2 members")
        return skill - pair_sum / (2 * m * (m - 1))
    return skill - pair_sum / (2 * m * m)


def ensemble_quantile(ordered: Tensor, q: float) -> Tensor:
    """The ``q`` quantile over dim 1 of members sorted along it (linear interpolation, as ``torch.quantile``)."""
    m = ordered.shape[1]
    pos = q * (m - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, m - 1)
    frac = pos - lo
    return ordered[:, lo] * (1 - frac) + ordered[:, hi] * frac


def interval_hits(
    target: Tensor,
    levels: Sequence[float],
    mean: Tensor | None = None,
    std: Tensor | None = None,
    samples: Tensor | None = None,
) -> Tensor:
    """Boolean ``(L, B, ...)``: is ``target`` inside the central interval of each level?"""
    out = []
    ordered = samples.sort(dim=1).values if samples is not None else None
    for level in levels:
        if not 0 < level < 1:
            raise ConfigError(f"interval level must be in (0, 1), got {level}")
        if std is not None:
            half = float(torch.special.ndtri(torch.tensor((1 + level) / 2, dtype=torch.float64)))
            out.append((target - mean).abs() <= half * std.abs())
        else:
            lower = ensemble_quantile(ordered, (1 - level) / 2)
            upper = ensemble_quantile(ordered, (1 + level) / 2)
            out.append((target >= lower) & (target <= upper))
    return torch.stack(out)


def coverage_curve(
    target: Tensor,
    levels: Sequence[float],
    mean: Tensor | None = None,
    std: Tensor | None = None,
    samples: Tensor | None = None,
) -> Tensor:
    """Per-sample empirical coverage of each level: ``(B, L)`` (float64)."""
    hits = interval_hits(target, levels, mean, std, samples)
    return hits.flatten(2).to(torch.float64).mean(2).T


class UncertaintyMetric(SampleMeanMetric):
    """Base: a per-sample score of a probabilistic prediction, averaged over samples.

    ``update(pred, target, std=...)`` (Gaussian) or ``update(pred, target, samples=...)`` (ensemble; ``pred`` is
    then unused and may be ``None``). Inputs have any layout ``(B, ...)``; samples ``(B, M, ...)``.
    """

    needs_uncertainty = True

    def score(self, pred: Tensor | None, target: Tensor, std: Tensor | None, samples: Tensor | None) -> Tensor:
        """``(B,)`` per-sample score (inputs checked and cast)."""
        raise NotImplementedError

    def per_sample(
        self, pred: Tensor | None, target: Tensor, std: Tensor | None = None, samples: Tensor | None = None
    ) -> Tensor:
        _check(pred, target, std, samples)
        pred, target, std, samples = _float(pred, target, std, samples)
        return self.score(pred, target, std, samples)

    def update(
        self, pred: Tensor | None, target: Tensor, std: Tensor | None = None, samples: Tensor | None = None
    ) -> None:
        self.accumulate(self.per_sample(pred, target, std, samples))


@register("metric", "crps")
class CRPS(UncertaintyMetric):
    """Continuous ranked probability score: Gaussian closed form for a mean and std, ensemble form for samples
    (``fair=True``: the unbiased ensemble estimator); mean over the points of a sample, then over samples. See the
    module docstring."""

    def __init__(self, fair: bool = False) -> None:
        super().__init__()
        self.fair = fair

    def score(self, pred: Tensor | None, target: Tensor, std: Tensor | None, samples: Tensor | None) -> Tensor:
        if std is not None:
            pointwise = gaussian_crps(pred, std, target)
        else:
            pointwise = ensemble_crps(samples, target, self.fair)
        return pointwise.flatten(1).mean(1)


@register("metric", "coverage")
class IntervalCoverage(UncertaintyMetric):
    """Fraction of points inside the central ``level`` prediction interval (default 0.9; calibrated: ``level``);
    Gaussian ``mean +- z sigma`` or the members' quantiles. Neither lower nor higher is better."""

    higher_is_better = None

    def __init__(self, level: float = 0.9) -> None:
        super().__init__()
        if not 0 < level < 1:
            raise ConfigError(f"coverage: level must be in (0, 1), got {level}")
        self.level = float(level)

    def score(self, pred: Tensor | None, target: Tensor, std: Tensor | None, samples: Tensor | None) -> Tensor:
        return coverage_curve(target, [self.level], pred, std, samples)[:, 0]


@register("metric", "calibration_error")
class CalibrationError(UncertaintyMetric):
    """Mean over the central-interval levels ``0.1 .. 0.9`` of ``|coverage(level) - level|`` per sample; mean over
    samples (0: calibrated)."""

    def __init__(self, levels: list[float] | None = None) -> None:
        super().__init__()
        self.levels = [float(v) for v in (levels or CALIBRATION_LEVELS)]
        if any(not 0 < v < 1 for v in self.levels):
            raise ConfigError(f"calibration_error: levels must be in (0, 1), got {self.levels}")

    def score(self, pred: Tensor | None, target: Tensor, std: Tensor | None, samples: Tensor | None) -> Tensor:
        cover = coverage_curve(target, self.levels, pred, std, samples)
        nominal = torch.tensor(self.levels, dtype=torch.float64, device=cover.device)
        return (cover - nominal).abs().mean(1)

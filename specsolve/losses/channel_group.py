"""Poseidon's channel-group-normalised loss (Herde et al., NeurIPS 2024, scOT's training loss).

The channels (axis 1 of ``(batch, channels, *space)``) are split into groups by boundaries ``[c_0 = 0, c_1, ...,
c_G]`` (Poseidon's ``channel_slice_list_normalized_loss``, e.g. ``[0, 1, 3, 4]`` for density, velocity (2), pressure);
per group ``g`` the batch-aggregated ratio

    ``r_g = mean(|pred_g - y_g|^p) / (mean(|y_g|^p) + 1e-10)``

is formed (means over batch, the group's channels and the grid, so large and small samples are pooled, unlike a
per-sample relative error), and the loss is ``mean_g r_g``. ``p = 1`` (the default, Poseidon's) is an L1 ratio,
``p = 2`` Poseidon's MSE variant. Without ``channel_slices`` every channel is its own group.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.registry import register

EPS = 1e-10  # Poseidon's


@register("loss", "channel_group_l1")
class ChannelGroupL1Loss(nn.Module):
    """``mean_g mean|pred_g - y_g|^p / (mean|y_g|^p + 1e-10)`` over channel groups ``g`` (see the module docstring).

    Parameters
    ----------
    channel_slices : group boundaries ``[0, c_1, ..., C]``, increasing (None: one group per channel).
    p : 1 (L1, Poseidon's default) or 2 (squared error).
    """

    def __init__(self, channel_slices: Sequence[int] | None = None, p: int = 1) -> None:
        super().__init__()
        if p not in (1, 2):
            raise ConfigError(f"channel_group_l1: p must be 1 or 2, got {p!r}")
        if channel_slices is not None:
            bounds = list(channel_slices)
            if (
                len(bounds) < 2
                or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
                or bounds[0] != 0
                or any(b <= a for a, b in zip(bounds, bounds[1:]))
            ):
                raise ConfigError(
                    f"channel_group_l1: channel_slices must be increasing integers from 0, e.g. [0, 1, 3, 4], "
                    f"got {channel_slices!r}"
                )
            channel_slices = bounds
        self.channel_slices, self.p = channel_slices, p

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        if target is None:
            raise DataError("channel_group_l1 needs a target")
        if pred.shape != target.shape or pred.dim() < 2:
            raise DataError(
                f"channel_group_l1: prediction {tuple(pred.shape)} and target {tuple(target.shape)} must share "
                "a (batch, channels, ...) shape"
            )
        channels = pred.shape[1]
        bounds = self.channel_slices or list(range(channels + 1))
        if bounds[-1] != channels:
            raise DataError(f"channel_group_l1: channel_slices end at {bounds[-1]}, the fields have {channels}")
        ratios = []
        for lo, hi in zip(bounds, bounds[1:]):
            err = (pred[:, lo:hi] - target[:, lo:hi]).abs().pow(self.p).mean()
            ref = target[:, lo:hi].abs().pow(self.p).mean()
            ratios.append(err / (ref + EPS))
        return torch.stack(ratios).mean()

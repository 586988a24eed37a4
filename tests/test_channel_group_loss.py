"""Poseidon's channel-group-normalised loss (``channel_group_l1``), against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from specsolve import registry
from specsolve.errors import ConfigError, DataError


def fields() -> tuple[torch.Tensor, torch.Tensor]:
    """4 channels, groups [rho], [u, v], [p]; 2 samples on a 4x4 grid."""
    target = torch.ones(2, 4, 4, 4, dtype=torch.float64)
    target[1, 1:3] = 3.0  # the velocity group of sample 1 is 3x larger
    pred = target.clone()
    pred[:, 0] = 1.5  # rho: |e| = 0.5 everywhere, |y| = 1
    pred[0, 1:3] += 1.0  # velocity: sample 0 off by 1, sample 1 exact
    return pred, target


def test_group_ratios_are_batch_aggregated_means():
    pred, target = fields()
    loss = registry.create("loss", "channel_group_l1", channel_slices=[0, 1, 3, 4])
    # rho 0.5 / 1; velocity mean|e| = 0.5 over mean|y| = 2 (a per-sample ratio would give 0.5); p exact: 0
    torch.testing.assert_close(loss(pred, target), torch.tensor((0.5 + 0.25 + 0.0) / 3, dtype=torch.float64))
    squared = registry.create("loss", "channel_group_l1", channel_slices=[0, 1, 3, 4], p=2)
    torch.testing.assert_close(squared(pred, target), torch.tensor((0.25 + 0.5 / 5 + 0.0) / 3, dtype=torch.float64))
    per_channel = registry.create("loss", "channel_group_l1")  # every channel its own group
    torch.testing.assert_close(
        per_channel(pred, target), torch.tensor((0.5 + 0.25 + 0.25 + 0) / 4, dtype=torch.float64)
    )
    one_group = registry.create("loss", "channel_group_l1", channel_slices=[0, 4])
    expected = (pred - target).abs().mean() / target.abs().mean()
    torch.testing.assert_close(one_group(pred, target), expected)


def test_each_group_is_scale_free_and_the_loss_has_a_gradient():
    pred, target = fields()
    loss = registry.create("loss", "channel_group_l1", channel_slices=[0, 1, 3, 4])
    scaled_p, scaled_t = pred.clone(), target.clone()
    scaled_p[:, 1:3] *= 100.0  # rescaling one group (units of velocity) leaves its ratio unchanged
    scaled_t[:, 1:3] *= 100.0
    torch.testing.assert_close(loss(scaled_p, scaled_t), loss(pred, target))
    p = pred.clone().requires_grad_(True)
    loss(p, target).backward()
    assert p.grad[:, 3].abs().max() == 0 and p.grad[:, 0].abs().min() > 0


def test_bad_configs_and_shapes():
    with pytest.raises(ConfigError, match="increasing"):
        registry.create("loss", "channel_group_l1", channel_slices=[1, 3])
    with pytest.raises(ConfigError, match="increasing"):
        registry.create("loss", "channel_group_l1", channel_slices=[0, 2, 2])
    with pytest.raises(ConfigError, match="p must be"):
        registry.create("loss", "channel_group_l1", p=3)
    pred, target = fields()
    with pytest.raises(DataError, match="end at 3"):
        registry.create("loss", "channel_group_l1", channel_slices=[0, 1, 3])(pred, target)
    with pytest.raises(DataError, match="share"):
        registry.create("loss", "channel_group_l1")(pred, target[:, :3])

"""Field metrics on tiny hand-computed cases; layouts (B, C, *space) / (B, T, C, *space); sum/count state merging."""

from __future__ import annotations

import math

import pytest
import torch

from specsolve.metrics.brmse import BRMSE
from specsolve.metrics.crmse import CRMSE
from specsolve.metrics.frmse import FRMSEHigh, FRMSELow, FRMSEMid
from specsolve.metrics.max_error import MaxError
from specsolve.metrics.nrmse import NRMSE
from specsolve.metrics.rmse import RMSE
from specsolve.metrics.vrmse import VRMSE
from specsolve.registry import create

F64 = torch.float64


def t(values, shape=None) -> torch.Tensor:  # noqa: ANN001
    x = torch.tensor(values, dtype=F64)
    return x.reshape(shape) if shape is not None else x


def value(metric, pred, target) -> float:  # noqa: ANN001
    metric.update(pred, target)
    return metric.compute().item()


def test_rmse_hand_computed_and_channel_time_reduction() -> None:
    pred = t([1.0, 2.0, 3.0, 4.0], (1, 1, 4))
    assert value(RMSE(), pred, torch.zeros_like(pred)) == pytest.approx(math.sqrt(30 / 4))
    # two channels: errors 1 everywhere and 3 everywhere -> per-channel RMSE 1 and 3, mean 2
    pred = t([[1.0, 1.0], [3.0, 3.0]], (1, 2, 2))
    assert value(RMSE(), pred, torch.zeros_like(pred)) == pytest.approx(2.0)
    # (B, T, C, X) with spatial_dims=1: steps with RMSE 1, 2, 6 -> mean 3
    pred = t([[1.0, 1.0], [2.0, 2.0], [6.0, 6.0]], (1, 3, 1, 2))
    assert value(RMSE(spatial_dims=1), pred, torch.zeros_like(pred)) == pytest.approx(3.0)
    # the layout decides the reduction: (B, T, C, X) per channel vs (B, C, X, Y) pooled over the 2-D grid
    pred = t([[1.0, 1.0], [2.0, 6.0]], (1, 1, 2, 2))
    assert value(RMSE(spatial_dims=1), pred, torch.zeros_like(pred)) == pytest.approx((1 + math.sqrt(20)) / 2)
    assert value(RMSE(), pred, torch.zeros_like(pred)) == pytest.approx(math.sqrt(42 / 4))


def test_nrmse_weights_channels_equally() -> None:
    target = torch.stack([torch.ones(4, dtype=F64), 1000 * torch.ones(4, dtype=F64)])[None]  # (1, 2, 4)
    pred = target * torch.tensor([1.1, 1.01], dtype=F64)[None, :, None]
    assert value(NRMSE(), pred, target) == pytest.approx((0.1 + 0.01) / 2)


def test_crmse_conserved_quantity() -> None:
    x = torch.arange(8, dtype=F64) / 8
    target = torch.cos(2 * math.pi * x)[None, None]
    assert value(CRMSE(), target + 0.5, target) == pytest.approx(0.5)
    assert value(CRMSE(), target + torch.sin(2 * math.pi * 3 * x), target) == pytest.approx(0.0, abs=1e-15)
    pred = t([1.0, 2.0, 3.0], (1, 1, 3))
    assert value(CRMSE(), pred, torch.zeros_like(pred)) == pytest.approx(2.0)


def test_brmse_boundary_points_only() -> None:
    target = torch.zeros(1, 1, 3, 3, dtype=F64)
    centre = target.clone()
    centre[..., 1, 1] = 5.0
    assert value(BRMSE(), centre, target) == pytest.approx(0.0)
    corner = target.clone()
    corner[..., 0, 0] = 2.0  # 8 boundary points on a 3x3 grid
    assert value(BRMSE(), corner, target) == pytest.approx(math.sqrt(4 / 8))
    one_d = t([3.0, 9.0, 9.0, 4.0], (1, 1, 4))
    assert value(BRMSE(), one_d, torch.zeros_like(one_d)) == pytest.approx(math.sqrt((9 + 16) / 2))


def test_frmse_bands() -> None:
    x = torch.arange(32, dtype=F64) / 32
    zero = torch.zeros(1, 1, 32, dtype=F64)
    for k, band in ((2, FRMSELow), (5, FRMSEMid), (12, FRMSEHigh)):
        e = torch.sin(2 * math.pi * k * x)[None, None]
        for cls in (FRMSELow, FRMSEMid, FRMSEHigh):
            expected = 1 / math.sqrt(2) if cls is band else 0.0
            assert value(cls(), e, zero) == pytest.approx(expected, abs=1e-14), (k, cls.__name__)
    X, Y = torch.meshgrid(x, x, indexing="ij")
    zero2 = torch.zeros(1, 1, 32, 32, dtype=F64)
    diag = torch.cos(2 * math.pi * (3 * X + 3 * Y))[None, None]  # |k| = 4.24: mid
    assert value(FRMSEMid(), diag, zero2) == pytest.approx(1 / math.sqrt(2))
    near = torch.cos(2 * math.pi * (2 * X + 3 * Y))[None, None]  # |k| = 3.61: low
    assert value(FRMSELow(), near, zero2) == pytest.approx(1 / math.sqrt(2))
    assert value(FRMSELow(low=2, high=3), near, zero2) == pytest.approx(0.0, abs=1e-14)
    # Parseval: the three bands add up to the RMSE in quadrature
    g = torch.Generator().manual_seed(0)
    e = torch.randn(1, 1, 32, 32, dtype=F64, generator=g)
    bands = [value(cls(), e, zero2) for cls in (FRMSELow, FRMSEMid, FRMSEHigh)]
    assert sum(b**2 for b in bands) == pytest.approx(value(RMSE(), e, zero2) ** 2, rel=1e-12)


def test_max_error_and_vrmse() -> None:
    pred = t([[0.0, -7.0, 1.0], [2.0, 2.0, 2.0]], (2, 1, 3))
    assert value(MaxError(), pred, torch.zeros_like(pred)) == pytest.approx((7 + 2) / 2)
    target = t([1.0, 2.0, 3.0, 4.0], (1, 1, 4))  # population variance 1.25
    assert value(VRMSE(), torch.full_like(target, 2.5), target) == pytest.approx(math.sqrt(1.25 / (1.25 + 1e-7)))
    assert value(VRMSE(), target + 1, target) == pytest.approx(math.sqrt(1 / (1.25 + 1e-7)))
    const = torch.ones(1, 1, 4, dtype=F64)  # zero variance: eps keeps it finite
    assert value(VRMSE(), const + 1e-4, const) == pytest.approx(math.sqrt(1e-8 / 1e-7))


def test_state_merging_equals_one_pass() -> None:
    g = torch.Generator().manual_seed(1)
    a_pred, a_true = torch.randn(3, 2, 8, 8, generator=g), torch.randn(3, 2, 8, 8, generator=g)
    b_pred, b_true = torch.randn(5, 2, 8, 8, generator=g), torch.randn(5, 2, 8, 8, generator=g)
    for cls in (RMSE, NRMSE, CRMSE, BRMSE, FRMSELow, FRMSEMid, FRMSEHigh, MaxError, VRMSE):
        m1, m2, whole = cls(), cls(), cls()
        m1.update(a_pred, a_true)
        m2.update(b_pred, b_true)
        whole.update(torch.cat([a_pred, b_pred]), torch.cat([a_true, b_true]))
        m1.merge_state(m2)
        assert int(m1.count) == 8
        assert torch.allclose(m1.compute(), whole.compute(), rtol=1e-12), cls.__name__
        per = whole.per_sample(torch.cat([a_pred, b_pred]), torch.cat([a_true, b_true]))
        assert per.shape == (8,) and torch.allclose(whole.compute(), per.double().mean())  # a sample mean


def test_layout_errors_and_registry() -> None:
    with pytest.raises(ValueError, match="differ"):
        RMSE().update(torch.zeros(1, 1, 4), torch.zeros(1, 1, 5))
    with pytest.raises(ValueError, match="spatial dims"):
        RMSE(spatial_dims=2).update(torch.zeros(1, 4), torch.zeros(1, 4))
    m = create("metric", "frmse_mid", spatial_dims=2, low=2, high=6)
    assert isinstance(m, FRMSEMid) and m.bounds() == (2, 6)
    five = torch.randn(2, 3, 1, 8, 8)
    assert create("metric", "vrmse", spatial_dims=2).per_sample(five, five + 1).shape == (2,)

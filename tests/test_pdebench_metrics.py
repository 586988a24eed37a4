"""``pdebench_*`` metrics against an independent numpy oracle written from PDEBench's formulas (``metric_func``:
arrays ``(batch, *space, time, channel)``, every metric a value per (channel, step) reduced over the batch, then the
mean over channels and steps), on random float64 fields of 1-D, 2-D and 3-D shape with time and channels; The Well's
VRMSE against ``the_well``'s own metric; float64 precision of ``rel_l2``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from specsolve.registry import create

NAMES = ("crmse", "max_error", "brmse", "frmse_low", "frmse_mid", "frmse_high")


def oracle(pred: np.ndarray, target: np.ndarray, lengths=None, i_low=4, i_high=12) -> dict[str, float]:  # noqa: ANN001
    """PDEBench's definitions, computed with plain loops on ``(B, *space, T, C)`` arrays."""
    b_n = pred.shape[0]
    space = pred.shape[1:-2]
    n_t, n_c = pred.shape[-2:]
    n_pts = math.prod(space)
    lengths = lengths or [1.0] * len(space)
    err = pred - target
    crmse = np.zeros((n_t, n_c))
    max_err = np.zeros((n_t, n_c))
    brmse = np.zeros((n_t, n_c))
    bins_per_tc = []
    for t, c in itertools.product(range(n_t), range(n_c)):
        fields = [err[(b, ..., t, c)] for b in range(b_n)]
        # cRMSE: RMS over the batch of the error of the spatial sum, divided by the number of grid points
        crmse[t, c] = math.sqrt(sum(float(f.sum()) ** 2 for f in fields) / b_n) / n_pts
        # max error: the worst point of the whole batch
        max_err[t, c] = max(float(np.abs(f).max()) for f in fields)
        # bRMSE: per sample, squared errors on each face (a point on several faces counts once per face)
        per_sample = []
        for f in fields:
            total, count = 0.0, 0
            for idx in np.ndindex(*space):
                for axis, n in enumerate(space):
                    for end in (0, n - 1):
                        if idx[axis] == end:
                            total += float(f[idx]) ** 2
                            count += 1
            per_sample.append(math.sqrt(total / count))
        brmse[t, c] = sum(per_sample) / b_n
        # fRMSE: energy per radial bin, sqrt of its batch mean, times L / N; a band is the mean over its bins
        if len(space) == 1:
            n_bins = space[0] // 2 + 1
            energy = np.zeros((b_n, n_bins))
            for b, f in enumerate(fields):
                spec = np.fft.rfft(f)
                energy[b] = np.abs(spec) ** 2
        else:
            half = [n // 2 for n in space]
            n_bins = min(half)
            energy = np.zeros((b_n, n_bins))
            for b, f in enumerate(fields):
                spec = np.fft.fftn(f)
                for idx in np.ndindex(*half):
                    radius = math.floor(math.sqrt(sum(k * k for k in idx)))
                    if radius <= n_bins - 1:
                        energy[b, radius] += abs(spec[idx]) ** 2
        per_bin = [math.sqrt(energy[:, k].mean()) / n_pts * math.prod(lengths) for k in range(n_bins)]
        bins_per_tc.append(per_bin)
    bands = {"frmse_low": (0, i_low), "frmse_mid": (i_low, i_high), "frmse_high": (i_high, None)}
    out = {"crmse": crmse.mean(), "max_error": max_err.mean(), "brmse": brmse.mean()}
    for name, (lo, hi) in bands.items():
        out[name] = float(np.mean([np.mean(per_bin[lo:hi]) for per_bin in bins_per_tc]))
    return out


def ours_layout(a: np.ndarray) -> torch.Tensor:
    """PDEBench ``(B, *space, T, C)`` -> specsolve ``(B, T, C, *space)``."""
    nd = a.ndim - 3
    return torch.from_numpy(a).permute(0, nd + 1, nd + 2, *range(1, nd + 1)).contiguous()


CASES = [  # (batch, space, time, channels): 1-D, 2-D (non-square), 3-D (three sizes, odd and even)
    (5, (64,), 3, 2),
    (4, (32, 28), 2, 3),
    (3, (26, 28, 30), 2, 2),
]


@pytest.mark.parametrize("case", CASES, ids=["1d", "2d", "3d"])
def test_pdebench_metrics_equal_the_oracle(case) -> None:  # noqa: ANN001
    b_n, space, n_t, n_c = case
    rng = np.random.default_rng(len(space))
    target = rng.standard_normal((b_n, *space, n_t, n_c))
    # a smooth field plus a mean shift per sample and some noise, so every band and the conserved sum are non-zero
    pred = target + 0.3 * rng.standard_normal(target.shape) + rng.standard_normal((b_n,) + (1,) * (len(space) + 2))
    lengths = [2 * math.pi, 1.5, 3.0][: len(space)]
    expected = oracle(pred, target, lengths)
    p, t = ours_layout(pred), ours_layout(target)
    for name in NAMES:
        kwargs = {"lengths": lengths} if name.startswith("frmse") else {}
        metric = create("metric", f"pdebench_{name}", spatial_dims=len(space), **kwargs)
        metric.update(p[:2], t[:2])  # two updates = one batch: the reduction is over all samples seen
        metric.update(p[2:], t[2:])
        got = metric.compute()
        assert got.dtype == torch.float64
        assert math.isfinite(expected[name]) and expected[name] > 0
        assert got.item() == pytest.approx(expected[name], rel=1e-12, abs=0), name
        # per_sample: each sample alone is a batch of one
        single = oracle(pred[1:2], target[1:2], lengths)[name]
        assert metric.per_sample(p, t)[1].item() == pytest.approx(single, rel=1e-12), name


def test_pdebench_reductions_differ_from_the_per_sample_metrics() -> None:
    """The batch reductions matter: on samples with unequal errors the RMS / max over the batch are not the sample
    means of specsolve's crmse / max_error, and the fRMSE bands are not the quadrant-summed specsolve bands."""
    rng = np.random.default_rng(7)
    target = rng.standard_normal((4, 32, 32, 1, 1))
    pred = target + rng.standard_normal((4, 1, 1, 1, 1)) * np.array([0.1, 1.0, 3.0, 0.5]).reshape(4, 1, 1, 1, 1)
    pred = pred + 0.2 * rng.standard_normal(target.shape)
    expected = oracle(pred, target)
    p, t = ours_layout(pred), ours_layout(target)
    for ours, theirs in (("crmse", "crmse"), ("max_error", "max_error"), ("frmse_low", "frmse_low")):
        m = create("metric", ours, spatial_dims=2)
        m.update(p, t)
        assert abs(m.compute().item() - expected[theirs]) > 0.01 * expected[theirs], ours


def test_empty_band_is_nan_and_bad_lengths() -> None:
    from specsolve.errors import ConfigError

    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    m = create("metric", "pdebench_frmse_high")  # 16^2: bins 0..7, the high band [12, ..) is empty
    m.update(x, torch.zeros_like(x))
    assert math.isnan(m.compute().item())
    m = create("metric", "pdebench_frmse_low", lengths=[1.0])
    m.update(x, torch.zeros_like(x))
    with pytest.raises(ConfigError, match="lengths"):
        m.compute()


@pytest.mark.parametrize("name", ["frmse_mid", "pdebench_frmse_mid"])
def test_band_edges_need_0_lt_low_lt_high(name: str) -> None:
    from specsolve.errors import ConfigError

    for low, high in ((0, 4), (4, 4), (12, 4)):
        with pytest.raises(ConfigError, match=rf"FRMSEMid: need 0 < low < high, got low={low}, high={high}"):
            create("metric", name, low=low, high=high)
    assert (create("metric", name, low=2, high=3).low, create("metric", name, low=2, high=3).high) == (2, 3)


def test_well_vrmse_equals_the_wells_metric() -> None:
    spatial = pytest.importorskip("the_well.benchmark.metrics.spatial")
    from the_well.data.datasets import WellMetadata

    meta = WellMetadata(
        dataset_name="tiny",
        n_spatial_dims=2,
        spatial_resolution=(24, 20),
        scalar_names=[],
        constant_scalar_names=[],
        field_names={0: ["a", "b", "c"]},
        constant_field_names={},
        boundary_condition_types=["periodic"],
        n_files=1,
        n_trajectories_per_file=[1],
        n_steps_per_trajectory=[4],
    )
    g = torch.Generator().manual_seed(3)
    y = torch.randn(5, 4, 24, 20, 3, generator=g, dtype=torch.float64)  # The Well: (B, T, *space, F)
    x = y + 0.1 * torch.randn(y.shape, generator=g, dtype=torch.float64) * torch.arange(1, 4, dtype=torch.float64)
    well = spatial.VRMSE()(x, y, meta)  # (B, T, F)
    assert well.shape == (5, 4, 3)
    ours = create("metric", "well_vrmse", spatial_dims=2)
    ours_x, ours_y = x.permute(0, 1, 4, 2, 3), y.permute(0, 1, 4, 2, 3)  # (B, T, F, *space)
    assert torch.allclose(ours.per_sample(ours_x, ours_y), well.mean(dim=(1, 2)), rtol=1e-12, atol=0)
    # specsolve's vrmse uses the population variance: the_well's MSE over N / (N - 1) times its std^2
    n = 24 * 20
    mse = spatial.MSE()(x, y, meta)
    population = torch.sqrt(mse / (torch.std(y, dim=(2, 3)) ** 2 * (n - 1) / n + 1e-7))
    vrmse = create("metric", "vrmse", spatial_dims=2)
    assert torch.allclose(vrmse.per_sample(ours_x, ours_y), population.mean(dim=(1, 2)), rtol=1e-12, atol=0)


def test_rel_l2_keeps_float64() -> None:
    target = torch.ones(2, 1, 64, dtype=torch.float64)
    pred = target * (1 + 1e-10)
    got = create("metric", "rel_l2").per_sample(pred, target)
    assert got.dtype == torch.float64
    assert got.tolist() == pytest.approx([1e-10, 1e-10], rel=1e-5)  # float32 would give 0 (or ~1e-8)
    assert create("metric", "rel_l2").per_sample(pred.float(), target.float()).dtype == torch.float32

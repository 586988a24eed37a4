"""Scored uncertainty: CRPS (Gaussian closed form, ensemble form), interval coverage and calibration error against
independent oracles (quadrature of the CRPS integral, explicit pair sums, counted intervals); ``evaluate`` reporting
them for prediction files with ``u_std`` or ``u_samples``; the coverage figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm

from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.errors import DataError
from specsolve.inference.evaluate import evaluate
from specsolve.registry import create

F64 = torch.float64


def crps_integral(cdf, y: float, lo: float, hi: float, n: int = 400_001) -> float:  # noqa: ANN001
    """``int (F(x) - 1{x >= y})^2 dx`` by the trapezoid rule on ``[lo, hi]`` (split at ``y``)."""
    total = 0.0
    for a, b, step in ((lo, y, 0.0), (y, hi, 1.0)):
        x = np.linspace(a, b, n)
        f = (cdf(x) - step) ** 2
        total += float(np.sum((f[1:] + f[:-1]) / 2 * np.diff(x)))
    return total


def test_gaussian_crps_equals_the_integral() -> None:
    mu = torch.tensor([[0.0, 1.5, -2.0, 0.3]], dtype=F64)
    sigma = torch.tensor([[1.0, 0.2, 3.0, 0.5]], dtype=F64)
    y = torch.tensor([[0.4, 1.0, 4.0, 0.3]], dtype=F64)
    metric = create("metric", "crps")
    got = metric.per_sample(mu[:, None], y[:, None], std=sigma[:, None]).item()
    pointwise = [
        crps_integral(lambda x, m=m, s=s: norm.cdf(x, m, s), yy, m - 12 * s, m + 12 * s)
        for m, s, yy in zip(mu[0].tolist(), sigma[0].tolist(), y[0].tolist(), strict=True)
    ]
    assert got == pytest.approx(np.mean(pointwise), rel=1e-7)
    # a zero std is a point forecast: CRPS = |error|
    zero = metric.per_sample(mu[:, None], y[:, None], std=torch.zeros_like(mu)[:, None]).item()
    assert zero == pytest.approx((y - mu).abs().mean().item(), rel=1e-14)


def test_ensemble_crps_equals_pair_sums_and_the_integral() -> None:
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(2, 7, 1, 3, generator=g, dtype=F64)  # (B, M, C, X)
    y = torch.randn(2, 1, 3, generator=g, dtype=F64)
    m = samples.shape[1]
    plain = create("metric", "crps").per_sample(None, y, samples=samples)
    fair = create("metric", "crps", fair=True).per_sample(None, y, samples=samples)
    for b in range(2):
        exp_plain, exp_fair, exp_int = [], [], []
        for j in range(3):
            xs = samples[b, :, 0, j].tolist()
            yy = y[b, 0, j].item()
            skill = sum(abs(x - yy) for x in xs) / m
            spread = sum(abs(a - c) for a in xs for c in xs)
            exp_plain.append(skill - spread / (2 * m * m))
            exp_fair.append(skill - spread / (2 * m * (m - 1)))
            cdf = lambda x, xs=xs: (np.asarray(xs)[None, :] <= np.asarray(x)[:, None]).mean(1)  # noqa: E731
            exp_int.append(crps_integral(cdf, yy, min(xs + [yy]) - 1, max(xs + [yy]) + 1, n=200_001))
        assert plain[b].item() == pytest.approx(np.mean(exp_plain), rel=1e-12)
        assert fair[b].item() == pytest.approx(np.mean(exp_fair), rel=1e-12)
        assert plain[b].item() == pytest.approx(np.mean(exp_int), rel=1e-3)  # the empirical-CDF integral


def test_large_gaussian_ensemble_approaches_the_closed_form() -> None:
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(1, 1, 50, generator=g, dtype=F64)
    sigma = 0.5 + torch.rand(1, 1, 50, generator=g, dtype=F64)
    y = mu + sigma * torch.randn(1, 1, 50, generator=g, dtype=F64)
    samples = mu[:, None] + sigma[:, None] * torch.randn(1, 4000, 1, 50, generator=g, dtype=F64)
    closed = create("metric", "crps").per_sample(mu, y, std=sigma).item()
    ens = create("metric", "crps", fair=True).per_sample(None, y, samples=samples).item()
    assert ens == pytest.approx(closed, rel=0.02)


def test_coverage_counts_points_inside_the_interval() -> None:
    mu = torch.zeros(1, 1, 10, dtype=F64)
    std = torch.full_like(mu, 2.0)
    z = torch.tensor([0.0, 0.5, 1.0, 1.6, 1.64, 1.65, 2.0, -1.0, -1.7, 3.0], dtype=F64)  # |z| <= 1.6449 inside
    y = mu + std * z
    inside = sum(abs(v) <= norm.ppf(0.95) for v in z.tolist()) / 10
    assert inside == 0.6
    assert create("metric", "coverage").per_sample(mu, y, std=std).item() == pytest.approx(inside)
    assert create("metric", "coverage", level=0.5).per_sample(mu, y, std=std).item() == pytest.approx(
        sum(abs(v) <= norm.ppf(0.75) for v in z.tolist()) / 10
    )
    # ensemble: members 0, 1, ..., 10 -> the 90 % interval is [0.5, 9.5] (linear interpolation)
    samples = torch.arange(11, dtype=F64).reshape(1, 11, 1, 1)
    y = torch.tensor([0.4, 0.5, 0.52, 5.0, 9.5, 9.6, -3.0], dtype=F64).reshape(1, 1, 7)
    assert create("metric", "coverage").per_sample(None, y, samples=samples.expand(1, 11, 1, 7)).item() == (
        pytest.approx(4 / 7)
    )
    # random ensembles against numpy's (linear) quantiles
    rng = np.random.default_rng(4)
    members = rng.standard_normal((3, 9, 1, 40))
    truth = 1.3 * rng.standard_normal((3, 1, 40))
    lo, hi = np.quantile(members, 0.05, axis=1), np.quantile(members, 0.95, axis=1)
    expected = ((truth >= lo) & (truth <= hi)).reshape(3, -1).mean(1)
    got = create("metric", "coverage").per_sample(None, torch.from_numpy(truth), samples=torch.from_numpy(members))
    assert got.tolist() == pytest.approx(expected.tolist(), abs=1e-15)


def test_calibration_error_small_when_calibrated_large_when_overconfident() -> None:
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(4, 1, 5000, generator=g, dtype=F64)
    std = 0.1 + torch.rand(4, 1, 5000, generator=g, dtype=F64)
    y = mu + std * torch.randn(4, 1, 5000, generator=g, dtype=F64)
    cal = create("metric", "calibration_error")
    assert cal.per_sample(mu, y, std=std).max().item() < 0.02
    over = cal.per_sample(mu, y, std=std / 4).mean().item()
    # coverage of level a with std/4: 2 Phi(z_a / 4) - 1; the error is the mean of |that - a| over 0.1 .. 0.9
    levels = np.arange(1, 10) / 10
    expected = np.mean(np.abs(2 * norm.cdf(norm.ppf((1 + levels) / 2) / 4) - 1 - levels))
    assert over == pytest.approx(expected, abs=0.01)
    assert over > 0.3
    # a peaked, heavy-tailed error (half the points at 0.4 sigma, half at 2 sigma): coverage is too high at low
    # levels and too low at high ones; the oracle counts the points inside each interval
    z = np.concatenate([0.4 * rng_normal(6000, 8), 2.0 * rng_normal(6000, 9)])
    y = torch.from_numpy(z).reshape(1, 1, -1)
    zero, one = torch.zeros_like(y), torch.ones_like(y)
    gaps = [np.mean(np.abs(z) <= norm.ppf((1 + a) / 2)) - a for a in levels]
    assert min(gaps) < -0.05 and max(gaps) > 0.05
    assert cal.per_sample(zero, y, std=one).item() == pytest.approx(np.mean(np.abs(gaps)), rel=1e-12)


def rng_normal(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def test_uncertainty_metric_input_errors() -> None:
    y = torch.zeros(2, 1, 4, dtype=F64)
    with pytest.raises(DataError, match="exactly one"):
        create("metric", "crps").per_sample(y, y)
    with pytest.raises(DataError, match="samples must be"):
        create("metric", "crps").per_sample(None, y, samples=torch.zeros(2, 3, 4))
    from specsolve.errors import ConfigError

    with pytest.raises(ConfigError, match="level"):
        create("metric", "coverage", level=1.5)


def write_files(tmp_path: Path, kind: str | None) -> tuple[Path, Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    n, nx, m = 5, 32, 40
    x = np.linspace(0, 1, nx)
    truth = rng.standard_normal((n, nx))
    mean = truth + 0.3 * rng.standard_normal((n, nx))
    std = np.full((n, nx), 0.3)
    samples = mean[:, None] + 0.3 * rng.standard_normal((n, m, nx))
    coords = {"sample": np.arange(n), "x": x, "member": np.arange(m)}
    variables = {
        "u": VariableSpec(("sample", "x"), dtype="float64"),
        "v": VariableSpec(("sample", "x"), dtype="float64"),
    }
    if kind == "std":
        variables["u_std"] = VariableSpec(("sample", "x"), dtype="float64", attrs={"role": "posterior_std"})
    if kind == "samples":
        variables["u_samples"] = VariableSpec(("sample", "member", "x"), dtype="float64", attrs={"role": "samples"})
    pred, ref = tmp_path / f"pred_{kind}.h5", tmp_path / f"ref_{kind}.h5"
    with NativeWriter(pred, coords, variables) as w:
        w.write("u", 0, mean)
        w.write("v", 0, mean)
        if kind == "std":
            w.write("u_std", 0, std)
        if kind == "samples":
            w.write("u_samples", 0, samples)
    refvars = {k: VariableSpec(("sample", "x"), dtype="float64") for k in ("u", "v")}
    with NativeWriter(ref, {"sample": np.arange(n), "x": x}, refvars) as w:
        w.write("u", 0, truth)
        w.write("v", 0, truth)
    return pred, ref, {"truth": truth, "mean": mean, "std": std, "samples": samples}


@pytest.mark.parametrize("kind", ["std", "samples"])
def test_evaluate_reports_uncertainty_metrics(tmp_path: Path, kind: str) -> None:
    pred, ref, arrays = write_files(tmp_path, kind)
    result = evaluate(pred, ref, ["rmse", "pdebench_crmse"], block=2)
    assert result["metrics"] == ["rmse", "pdebench_crmse", "crps", "coverage", "calibration_error"]
    u, v = result["variables"]["u"], result["variables"]["v"]
    assert u["uncertainty"] == kind and "uncertainty" not in v
    truth = torch.from_numpy(arrays["truth"])[:, None]
    mean = torch.from_numpy(arrays["mean"])[:, None]
    extra = (
        {"std": torch.from_numpy(arrays["std"])[:, None]}
        if kind == "std"
        else {"samples": torch.from_numpy(arrays["samples"])[:, :, None]}
    )
    for name in ("crps", "coverage", "calibration_error"):
        direct = create("metric", name).per_sample(mean, truth, **extra)
        assert u["per_sample"][name] == pytest.approx(direct.tolist(), rel=1e-12)
        assert u["mean"][name] == pytest.approx(direct.mean().item(), rel=1e-12)
        assert math.isnan(v["mean"][name]) and all(math.isnan(x) for x in v["per_sample"][name])
    if kind == "std":  # a calibrated Gaussian prediction: 90 % intervals cover about 90 %
        assert 0.8 < u["mean"]["coverage"] < 1.0
    # the batch-reduced metric is reduced over all samples across blocks, not averaged per block or per sample
    crmse = create("metric", "pdebench_crmse")
    crmse.update(mean, truth)
    assert u["mean"]["pdebench_crmse"] == pytest.approx(crmse.compute().item(), rel=1e-12)
    assert u["mean"]["pdebench_crmse"] != pytest.approx(np.mean(u["per_sample"]["pdebench_crmse"]), rel=1e-3)


def test_evaluate_without_uncertainty(tmp_path: Path) -> None:
    pred, ref, _ = write_files(tmp_path, None)
    result = evaluate(pred, ref, ["rmse"])
    assert result["metrics"] == ["rmse"] and list(result["variables"]["u"]["mean"]) == ["rmse"]
    with pytest.raises(DataError, match="needs a posterior std"):
        evaluate(pred, ref, ["rmse", "crps"])


def test_coverage_figure(tmp_path: Path) -> None:
    from specsolve.inference.plots import plot_coverage

    for kind in ("std", "samples"):
        pred, ref, _ = write_files(tmp_path, kind)
        out = plot_coverage(pred, ref, tmp_path / f"cov_{kind}.png")
        assert out.exists() and out.stat().st_size > 1000
    pred, ref, _ = write_files(tmp_path, None)
    with pytest.raises(DataError, match="no variable carries"):
        plot_coverage(pred, ref, tmp_path / "none.png")


def test_api_evaluate_plot_draws_the_coverage_figure_only_with_uncertainty(tmp_path: Path) -> None:
    """``specsolve.evaluate(..., plot=)`` (= ``specsolve evaluate --plot``) adds ``<stem>_coverage.png`` when a
    variable carries a std or samples, and not otherwise."""
    import specsolve

    pred, ref, _ = write_files(tmp_path, "std")
    result = specsolve.evaluate(pred, ref, "rmse", plot=tmp_path / "fig.png")
    names = [Path(f).name for f in result["figures"]]
    assert "fig_coverage.png" in names and (tmp_path / "fig_coverage.png").stat().st_size > 1000
    plain = tmp_path / "plain"
    plain.mkdir()
    pred, ref, _ = write_files(plain, None)
    result = specsolve.evaluate(pred, ref, "rmse", plot=plain / "fig.png")
    assert not any(Path(f).name.endswith("_coverage.png") for f in result["figures"])

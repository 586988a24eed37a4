"""Figures (samples with GP std, time strips, energy spectra, resolution and rollout curves, training curves), the
error-against-resolution table of ``evaluate -c``, and the TensorBoard logging option."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from specsolve.cli.main import main
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.errors import ConfigError
from specsolve.inference import plots


def _write(path: Path, values: dict[str, np.ndarray], dims: tuple[str, ...], std: np.ndarray | None = None) -> Path:
    shape = next(iter(values.values())).shape
    coords = {"sample": np.arange(shape[0])}
    for d, n in zip(dims[1:], shape[1:]):
        coords[d] = np.linspace(0, 1, n) if d != "time" else np.arange(n) * 0.1
    variables = {k: VariableSpec(dims) for k in values}
    if std is not None:
        variables["u_std"] = VariableSpec(dims, attrs={"role": "posterior_std"})
    with NativeWriter(path, coords, variables) as w:
        for k, v in values.items():
            w.write(k, 0, v)
        if std is not None:
            w.write("u_std", 0, std)
    return path


def test_energy_spectrum_of_sine_modes() -> None:
    n = 32
    x = np.arange(n) / n
    # 1D: sin(2 pi 3 x) has |u_hat|^2 = 1/4 at k = +-3, so E(3) = (1/4 + 1/4) / 2
    k, e = plots.energy_spectrum(np.sin(2 * np.pi * 3 * x)[None], 1)
    assert e[3] == pytest.approx(0.25) and np.delete(e, 3).max() < 1e-25 and k[-1] == n // 2
    # 2D: sin(2 pi 3 x) sin(2 pi 4 y): four modes of 1/16 on the |k| = 5 shell; sum E = mean(u^2) / 2 (Parseval)
    u = np.sin(2 * np.pi * 3 * x)[:, None] * np.sin(2 * np.pi * 4 * x)[None, :]
    _, e = plots.energy_spectrum(np.stack([u, 2 * u]), 2)
    assert e[5] == pytest.approx(0.125 * (1 + 4) / 2) and np.delete(e, 5).max() < 1e-25


def test_sample_time_strip_and_spectrum_figures(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((3, 5, 16, 16)).astype(np.float32)
    ref = _write(tmp_path / "ref.h5", {"u": truth}, ("sample", "time", "x", "y"))
    pred = _write(tmp_path / "pred.h5", {"u": truth + 0.1}, ("sample", "time", "x", "y"))
    assert plots.has_time_axis(pred)
    figure = tmp_path / "fig" / "s.png"
    assert main(["evaluate", "-p", str(pred), "-d", str(ref), "--plot", str(figure), "--samples", "1,2"]) == 0
    for name in ("s.png", "s_spectrum.png", "s_time.png"):
        assert (tmp_path / "fig" / name).stat().st_size > 10_000
    # 1D space-time strip
    ref1 = _write(tmp_path / "ref1.h5", {"u": truth[:, :, :, 0]}, ("sample", "time", "x"))
    out = plots.plot_time_strip(ref1, ref1, tmp_path / "strip1d.png")
    assert out.stat().st_size > 10_000


def test_gp_output_figure_shows_posterior_std(tmp_path: Path) -> None:
    x = np.linspace(0, 1, 24)
    u = np.sin(2 * np.pi * x)[None, :, None] * np.cos(np.pi * x)[None, None, :]
    ref = _write(tmp_path / "exact.h5", {"u": u}, ("sample", "x", "y"))
    pred = _write(tmp_path / "gp.h5", {"u": u + 1e-3}, ("sample", "x", "y"), std=np.full_like(u, 1e-3))
    import h5py

    with h5py.File(pred) as f:
        assert plots._std_variable(f, "u") == "u_std"
        assert plots.prediction_variables(f) == ["u"]  # the std is not evaluated as a prediction
    assert plots.plot_samples(pred, ref, tmp_path / "gp.png", [0]).stat().st_size > 10_000
    ref1 = _write(tmp_path / "exact1.h5", {"u": u[:, :, 0]}, ("sample", "x"))
    pred1 = _write(tmp_path / "gp1.h5", {"u": u[:, :, 0]}, ("sample", "x"), std=np.full_like(u[:, :, 0], 1e-2))
    assert plots.plot_samples(pred1, ref1, tmp_path / "gp1.png", [0]).stat().st_size > 10_000


def test_rollout_and_resolution_curves(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rollout = {
        "per_sample": rng.random((4, 6)).tolist(),
        "time": [0.1 * i for i in range(6)],
        "n_samples": 4,
        "n_in": 10,
    }
    assert plots.plot_rollout(rollout, tmp_path / "r.png").stat().st_size > 10_000
    rows = [{"grid": [n, n], "mean": {"rel_l2": 1.0 / n}} for n in (16, 32, 64)]
    assert plots.plot_resolution({"rows": rows, "train_grid": [32, 32]}, tmp_path / "res.png").stat().st_size > 10_000


def test_error_against_resolution_training_curves_and_tensorboard(tmp_path: Path, darcy_tiny: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
run_dir: {run_dir}
data: {{name: hdf5, train: {darcy_tiny}/train.h5, test: {darcy_tiny}/test.h5, inputs: [a], outputs: [u], batch_size: 8}}
model: {{name: fno, modes: [3, 3], width: 6, layers: 1, padding: 0}}
trainer: {{max_epochs: 2}}
logging: {{tensorboard: true}}
"""
    )
    assert main(["train", str(config)]) == 0
    assert (run_dir / "figures" / "training_curves.png").stat().st_size > 10_000
    assert any((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    series = plots.read_metrics_csv(run_dir / "logs" / "metrics.csv")
    assert len(series["val/rel_l2"]) == 2 and all(math.isfinite(v) for _, v in series["val/rel_l2"])

    best = run_dir / "checkpoints" / "best.ckpt"
    out = tmp_path / "res.json"
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "-c",
                str(best),
                "-d",
                str(darcy_tiny / "test.h5"),
                "--strides",
                "2,1",
                "--metrics",
                "rel_l2,rmse",
                "--json",
                str(out),
                "--plot",
                str(tmp_path / "res.png"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "error against resolution (trained on 17x17)" in text and "17x17 *" in text
    result = json.loads(out.read_text())
    assert [r["grid"] for r in result["rows"]] == [[9, 9], [17, 17]]
    # the stride-1 row equals the metric of a prediction file at the training grid
    pred = tmp_path / "pred.h5"
    assert main(["predict", "-c", str(best), "-d", str(darcy_tiny / "test.h5"), "-o", str(pred)]) == 0
    from specsolve.inference.evaluate import evaluate

    from_file = evaluate(pred, darcy_tiny / "test.h5", ["rel_l2"])["variables"]["u"]["mean"]["rel_l2"]
    assert result["rows"][1]["mean"]["rel_l2"] == pytest.approx(from_file, rel=1e-5)
    assert (tmp_path / "res.png").stat().st_size > 10_000

    # bad input: one-line errors, exit code 2
    assert main(["evaluate", "-c", str(best), "-d", str(darcy_tiny / "test.h5"), "--strides", "x"]) == 2
    assert main(["evaluate", "-p", str(pred), "-d", str(darcy_tiny / "test.h5"), "--strides", "2"]) == 2
    assert main(["evaluate", "-p", str(pred), "-d", str(pred), "-d", str(pred)]) == 2


def test_logging_section_is_validated() -> None:
    from omegaconf import OmegaConf

    from specsolve.training.loggers import logging_options

    assert logging_options(OmegaConf.create({})).tensorboard is False
    with pytest.raises(ConfigError, match="did you mean 'tensorboard'"):
        logging_options(OmegaConf.create({"logging": {"tensorbord": True}}))

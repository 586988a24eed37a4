"""Time windows (``hdf5_windows``), time-layout normalisation and autoregressive rollout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from periodic_fields import heat_trajectories
from torch import nn

from specsolve.data.modules.hdf5_windows import WindowDataModule
from specsolve.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ns_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """datasets/ns_tiny.yaml: 16x16 vorticity, frames t = 0..10, 12 train / 4 test trajectories."""
    from specsolve.data.generation import run_recipe

    out = tmp_path_factory.mktemp("ns_tiny")
    run_recipe(ROOT / "datasets" / "ns_tiny.yaml", [f"out_dir={out}"])
    return out


@pytest.fixture(scope="module")
def heat_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2-D heat flow (κ = 0.01), 16x16, frames every 0.1 from t = 0 to 1: 3 trajectories."""
    return heat_trajectories(tmp_path_factory.mktemp("heat") / "heat.h5", 3, "float64")


def test_windows_are_the_stored_frames(ns_tiny: Path) -> None:
    train = str(ns_tiny / "train.h5")
    with h5py.File(train) as f:
        u = f["u"][()]  # (12, 11, 16, 16)
    dm = WindowDataModule(train, n_in=3, n_out=2, window_stride=2, time_stride=1, time_start=1)
    # frames 1..10 (10 of them), windows of 5 starting every 2 frames: starts 0, 2, 4 -> 3 per trajectory
    assert dm.windows_per_trajectory == 3 and len(dm.datasets["train"]) == 36
    assert (dm.in_channels, dm.out_channels, dm.spatial_shape, dm.channel_axis) == (3, 2, (16, 16), 1)
    x, y = dm.datasets["train"][3 * 5 + 2]  # trajectory 5, window 2: frames 1 + 4 .. 1 + 8
    assert np.array_equal(x.numpy(), u[5, 5:8]) and np.array_equal(y.numpy(), u[5, 8:10])

    dt = WindowDataModule(train, n_in=2, n_out=3, layout="time", time_stride=2, stride=2)
    # frames 0, 2, ..., 10 (6): windows of 5 -> 2 per trajectory; space subsampled 16 -> 8
    assert dt.windows_per_trajectory == 2 and (dt.in_channels, dt.out_channels, dt.channel_axis) == (1, 1, 2)
    x, y = dt.datasets["train"][2 * 7 + 1]
    assert x.shape == (2, 1, 8, 8) and y.shape == (3, 1, 8, 8)
    assert np.array_equal(x[:, 0].numpy(), u[7, 2:5:2, ::2, ::2]) and np.array_equal(
        y[:, 0].numpy(), u[7, 6:11:2, ::2, ::2]
    )


def test_normalisation_statistics_equal_those_of_all_windows(ns_tiny: Path) -> None:
    train = str(ns_tiny / "train.h5")
    dm = WindowDataModule(train, n_in=4, n_out=2, n_train=5, cache=True)
    xs, ys = zip(*(dm.datasets["train"][i] for i in range(5 * dm.windows_per_trajectory)))
    xs, ys = torch.stack(xs).double(), torch.stack(ys).double()
    stats = dm.normalization_statistics()
    assert stats["x_mean"].shape == (4,) and stats["y_std"].shape == (2,)  # per channel of the folded layout
    assert torch.allclose(stats["x_mean"].double(), xs.mean().expand(4), atol=1e-6)
    assert torch.allclose(stats["x_std"].double(), xs.std(unbiased=False).expand(4), rtol=1e-5)
    assert torch.allclose(stats["y_std"].double(), ys.std(unbiased=False).expand(2), rtol=1e-5)
    time_stats = WindowDataModule(train, n_in=4, n_out=2, n_train=5, layout="time").normalization_statistics()
    assert time_stats["x_mean"].shape == (1,) and torch.allclose(time_stats["x_std"], stats["x_std"][:1])


def test_window_errors(ns_tiny: Path, tmp_path: Path) -> None:
    train = str(ns_tiny / "train.h5")
    with pytest.raises(DataError, match="needs 12 frames"):
        WindowDataModule(train, n_in=10, n_out=2)
    with pytest.raises(ConfigError):
        WindowDataModule(train, layout="folded")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"\(sample, time"):
        WindowDataModule(train, inputs=["a"])
    with pytest.raises(ConfigError, match="n_train"):
        WindowDataModule(train, n_in=2, n_train=13)


def test_time_layout_normalisation_broadcasts_over_the_channel_axis() -> None:
    """(B, T, C, X, Y) inputs: statistics of size C apply along axis 2; the hdf5 layout keeps axis 1."""
    from specsolve.training.module import OperatorModule

    config = {
        "data": {"name": "hdf5_windows", "layout": "time"},
        "model": {"name": "fno", "in_channels": 2, "out_channels": 2, "modes": [2, 2], "width": 4, "layers": 1},
        "loss": [{"name": "rel_l2"}],
    }
    stats = {
        "x_mean": torch.tensor([1.0, -2.0]),
        "x_std": torch.tensor([2.0, 4.0]),
        "y_mean": torch.tensor([0.5, 0.0]),
        "y_std": torch.tensor([3.0, 1.0]),
    }
    module = OperatorModule(config, 2, 2, stats)
    module.model = nn.Identity()
    x = torch.randn(3, 5, 2, 4, 4)
    mean, std = torch.tensor([1.0, -2.0]).view(1, 1, 2, 1, 1), torch.tensor([2.0, 4.0]).view(1, 1, 2, 1, 1)
    expected = (x - mean) / std * torch.tensor([3.0, 1.0]).view(1, 1, 2, 1, 1) + torch.tensor([0.5, 0.0]).view(
        1, 1, 2, 1, 1
    )
    assert module.channel_axis == 2 and torch.allclose(module(x), expected)
    channels = OperatorModule({**config, "data": {"name": "hdf5"}}, 2, 2, stats)
    channels.model = nn.Identity()
    x2 = torch.randn(3, 2, 4, 4)
    assert channels.channel_axis == 1
    assert torch.allclose(
        channels(x2),
        (x2 - mean[0]) / std[0] * torch.tensor([3.0, 1.0]).view(1, 2, 1, 1) + torch.tensor([0.5, 0.0]).view(1, 2, 1, 1),
    )


class HeatPropagator(nn.Module):
    """Exact heat flow over ``lead`` frame spacings of the last input frame, emitted ``n_out`` times ahead."""

    def __init__(self, n_out: int, layout: str, kappa: float = 0.01, spacing: float = 0.1, lead: int = 1) -> None:
        super().__init__()
        self.n_out, self.layout, self.kappa, self.spacing, self.lead = n_out, layout, kappa, spacing, lead
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1, 0] if self.layout == "time" else x[:, -1]  # (B, X, Y)
        n = last.shape[-1]
        k = torch.fft.fftfreq(n, 1.0 / n, dtype=torch.float64)
        k2 = k[:, None] ** 2 + k[None, :] ** 2
        coef = torch.fft.fft2(last.double())
        frames = [
            torch.fft.ifft2(
                coef * torch.exp(-self.kappa * 4 * torch.pi**2 * k2 * self.spacing * self.lead * (j + 1))
            ).real
            for j in range(self.n_out)
        ]
        out = torch.stack(frames, dim=1).to(x.dtype)  # (B, n_out, X, Y)
        return out.unsqueeze(2) if self.layout == "time" else out


@pytest.mark.parametrize("n_in,n_out,layout", [(2, 1, "channels"), (3, 2, "time"), (1, 3, "channels")])
def test_rollout_with_the_exact_propagator_is_exact(heat_2d: Path, n_in: int, n_out: int, layout: str) -> None:
    """An exact one-step model gives round-off errors at every rolled-out frame; the context frames are excluded and
    predictions are fed back (a model that skips one spacing gives large, growing errors)."""
    from specsolve.inference.rollout import rollout
    from specsolve.training.module import OperatorModule

    config = {
        "data": {
            "name": "hdf5_windows",
            "train": str(heat_2d),
            "inputs": ["u"],
            "n_in": n_in,
            "n_out": n_out,
            "layout": layout,
        },
        "model": {"name": "fno", "in_channels": 1, "out_channels": 1, "modes": [2, 2], "width": 4, "layers": 1},
        "loss": [{"name": "rel_l2"}],
    }
    module = OperatorModule(config, 1, 1).double()
    module.model = HeatPropagator(n_out, layout)
    result = rollout(module, heat_2d, batch_size=2)
    assert result["steps"] == 11 - n_in and len(result["per_step"]) == 11 - n_in and result["n_samples"] == 3
    assert np.allclose(result["time"], np.arange(n_in, 11) * 0.1)
    assert max(result["per_step"]) < 1e-6, result["per_step"]  # frames are read as float32
    module.model = HeatPropagator(n_out, layout, lead=2)
    wrong = rollout(module, heat_2d, steps=4)
    assert wrong["steps"] == 4 and wrong["per_step"][0] > 1e-3 and wrong["per_step"][-1] > wrong["per_step"][0]


def test_train_fno2d_on_windows_then_roll_out(ns_tiny: Path, tmp_path: Path) -> None:
    """FNO-2D "4 -> 1" on tiny NS windows through the trainer, then an autoregressive rollout of the test set."""
    from omegaconf import OmegaConf

    from specsolve.inference.rollout import rollout
    from specsolve.training.checkpoint import load_module
    from specsolve.training.run import train

    cfg = OmegaConf.create(
        {
            "seed": 0,
            "run_dir": str(tmp_path / "run"),
            "data": {
                "name": "hdf5_windows",
                "train": str(ns_tiny / "train.h5"),
                "test": str(ns_tiny / "test.h5"),
                "n_in": 4,
                "n_out": 1,
                "window_stride": 2,
                "batch_size": 8,
            },
            "model": {"name": "fno", "modes": [4, 4], "width": 8, "layers": 2},
            "loss": [{"name": "rel_l2"}],
            "optimizer": {"name": "adam", "lr": 1.0e-2},
            "scheduler": {"name": "step", "step_size": 10, "gamma": 0.5},
            "trainer": {"max_epochs": 3, "deterministic": True, "accelerator": "cpu"},
        }
    )
    result = train(cfg, progress=False)
    assert result["metrics"]["val/rel_l2"] < 0.5  # far below the zero predictor's 1 (persistence: ~0.12)
    module, hp = load_module(result["best"])
    assert hp["in_channels"] == 4 and hp["out_channels"] == 1
    assert module.x_mean.shape == (4,) and torch.allclose(module.x_mean, module.x_mean[:1].expand(4))
    out = rollout(module, ns_tiny / "test.h5")
    assert out["steps"] == 7 and out["n_samples"] == 4 and np.allclose(out["time"], np.arange(4, 11))
    errors = np.array(out["per_sample"])
    assert errors.shape == (4, 7) and np.all(np.isfinite(errors)) and np.all(errors > 0)
    # the first predicted frame is an ordinary one-step prediction: compare with the module on the first window
    from specsolve.data.modules.hdf5_windows import WindowDataset

    ds = WindowDataset(ns_tiny / "test.h5", ["u"], ["u"], 4, 1)
    x, y = ds[0]
    with torch.no_grad():
        first = float((module(x[None])[0] - y).norm() / y.norm())
    assert abs(first - errors[0, 0]) < 1e-5
    # the same rollout through the CLI
    import json
    import tempfile

    from specsolve.cli.main import main

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rollout.json"
        assert main(["rollout", "-c", str(result["best"]), "-d", str(ns_tiny / "test.h5"), "--json", str(report)]) == 0
        assert np.allclose(json.loads(report.read_text())["per_step"], out["per_step"])

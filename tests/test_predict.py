"""Continuous-in-time prediction: ``specsolve predict --lead-times`` / ``specsolve.predict(lead_times=...)``.

A tiny scOT trained for two steps on all2all pairs (``time_scale`` 2, so the model sees ``t = 2 tau``); the
prediction file must hold every sample at every requested lead time, equal to calling the model directly on the
input frame with ``t = time_scale * tau``, also for lead times that no training pair had.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tiny_models import TINY_SCOT

import specsolve
from specsolve.cli.main import main
from specsolve.config.loading import load_config
from specsolve.data.native import NativeWriter, VariableSpec, coordinate, variable_dims
from specsolve.errors import ConfigError
from specsolve.training.checkpoint import load_module
from specsolve.training.run import train

TINY = TINY_SCOT
TIMES = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
TIME_SCALE = 2.0


def write_trajectories(path: Path, n_samples: int, seed: int) -> Path:
    """``u(sample, time, x, y)`` on 32^2: travelling waves with random phases."""
    rng = np.random.default_rng(seed)
    x = np.arange(32) / 32
    X, Y = np.meshgrid(x, x, indexing="ij")
    phase = rng.uniform(0, 2 * np.pi, size=(n_samples, 1, 1, 1))
    u = np.sin(2 * np.pi * (X - TIMES[None, :, None, None]) + phase) + 0.5 * np.cos(2 * np.pi * Y + phase)
    coords = {"sample": np.arange(n_samples), "time": TIMES, "x": x, "y": x}
    with NativeWriter(
        path, coords, {"u": VariableSpec(("sample", "time", "x", "y"))}, coord_attrs={"time": {"units": "s"}}
    ) as w:
        w.write("u", 0, u.astype(np.float32))
    return path


def train_tiny(root: Path, conditioning: bool) -> str:
    cfg = OmegaConf.merge(
        load_config(None, []),
        {
            "run_dir": str(root / f"run_{conditioning}"),
            "data": {
                "name": "hdf5_all2all",
                "train": str(root / "train.h5"),
                "test": str(root / "test.h5"),
                "inputs": ["u"],
                "time_stride": 2,
                "time_scale": TIME_SCALE,
                "batch_size": 4,
            },
            "model": {"name": "scot", **TINY, "time_conditioning": conditioning},
            "optimizer": {"name": "adamw", "lr": 1e-3},
            "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "accelerator": "cpu"},
        },
    )
    return train(cfg, progress=False)["last"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lead_times")
    write_trajectories(root / "train.h5", 4, seed=0)
    write_trajectories(root / "test.h5", 3, seed=1)
    return root, train_tiny(root, True), train_tiny(root, False)


def direct(checkpoint: str, x: np.ndarray, t: float) -> np.ndarray:
    module, _ = load_module(checkpoint)
    with torch.no_grad():
        xt = torch.from_numpy(x)[None, None]
        return module(xt, torch.full((1,), t)).numpy()[0, 0]


def test_lead_times_file_layout_and_values(setup, tmp_path):
    root, ckpt, _ = setup
    leads = [0.2, 0.4, 0.33]  # 0.33 (t = 0.66) is no training lead: those are 0, 0.4 and 0.8
    out = specsolve.predict(ckpt, root / "test.h5", tmp_path / "pred.h5", lead_times=leads)
    with h5py.File(out) as f:
        assert variable_dims(f, "u") == ("sample", "lead_time", "x", "y")
        assert f["u"].shape == (3, 3, 32, 32)
        np.testing.assert_allclose(coordinate(f, "lead_time"), leads)
        assert f["lead_time"].attrs["units"] == "s"
        assert f.attrs["input_time_index"] == 0 and f.attrs["input_time"] == 0.0
        np.testing.assert_allclose(coordinate(f, "x"), np.arange(32) / 32)
        pred = f["u"][...]
        with h5py.File(root / "test.h5") as d:
            x0 = d["u"][2, 0]
    # each lead time is the model on the t = 0 frame with t = time_scale * tau
    for k, tau in enumerate(leads):
        np.testing.assert_allclose(pred[2, k], direct(ckpt, x0, TIME_SCALE * tau), atol=1e-5)
    # lead time matters: the three predictions of a sample differ pairwise
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert np.abs(pred[:, a] - pred[:, b]).max() > 1e-4 * np.abs(pred).max()


def test_input_frame_and_field_inputs(setup, tmp_path):
    root, ckpt, _ = setup
    out = specsolve.predict(ckpt, root / "test.h5", tmp_path / "p2.h5", lead_times=[0.1], input_time_index=2)
    with h5py.File(out) as f, h5py.File(root / "test.h5") as d:
        assert f.attrs["input_time_index"] == 2 and f.attrs["input_time"] == pytest.approx(0.2)
        np.testing.assert_allclose(f["u"][1, 0], direct(ckpt, d["u"][1, 2], TIME_SCALE * 0.1), atol=1e-5)
        frames = d["u"][:, 3]
    # inputs stored without a time axis, u(sample, x, y), are taken as they are
    fields = tmp_path / "fields.h5"
    x = np.arange(32) / 32
    with NativeWriter(fields, {"sample": np.arange(3), "x": x, "y": x}, {"u": VariableSpec(("sample", "x", "y"))}) as w:
        w.write("u", 0, frames)
    out = specsolve.predict(ckpt, fields, tmp_path / "p3.h5", lead_times="0.05,1.5")
    with h5py.File(out) as f:
        assert f["u"].shape == (3, 2, 32, 32) and "input_time_index" not in f.attrs
        np.testing.assert_allclose(f["u"][0, 1], direct(ckpt, frames[0], TIME_SCALE * 1.5), atol=1e-5)


def test_cli_and_errors(setup, tmp_path, capsys):
    root, ckpt, plain = setup
    args = ["predict", "-c", ckpt, "-d", str(root / "test.h5"), "-o", str(tmp_path / "cli.h5")]
    assert main([*args, "--lead-times", "0.25,0.5,1.3"]) == 0
    with h5py.File(tmp_path / "cli.h5") as f:
        np.testing.assert_allclose(coordinate(f, "lead_time"), [0.25, 0.5, 1.3])
    capsys.readouterr()
    # a checkpoint that ignores t: one-line ConfigError, exit code 2
    bad = ["predict", "-c", plain, "-d", str(root / "test.h5"), "-o", str(tmp_path / "bad.h5"), "--lead-times", "0.5"]
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("specsolve: error: lead times need a time-conditioned model") and "\n" not in err
    assert not (tmp_path / "bad.h5").exists()
    with pytest.raises(ConfigError, match="not"):
        specsolve.predict(plain, root / "test.h5", tmp_path / "bad.h5", lead_times=[0.5])
    with pytest.raises(ConfigError, match="time-conditioned: give lead times"):
        specsolve.predict(ckpt, root / "test.h5", tmp_path / "bad.h5")
    with pytest.raises(ConfigError, match="comma-separated"):
        specsolve.predict(ckpt, root / "test.h5", tmp_path / "bad.h5", lead_times="0.5,abc")
    with pytest.raises(ConfigError, match=">= 0"):
        specsolve.predict(ckpt, root / "test.h5", tmp_path / "bad.h5", lead_times=[-0.1])
    assert main([*args[:-1], str(tmp_path / "bad.h5"), "--lead-times", "0.5", "--input-time-index", "9"]) == 2
    assert "input_time_index 9" in capsys.readouterr().err


def test_overlapped_writing_gives_the_same_file_as_writing_in_turn(setup, tmp_path):
    """write_predictions with read-ahead and a writer thread (the default) and without them: the same values."""
    from specsolve.inference.predict import lead_time_plan, write_predictions

    root, conditioned, _ = setup
    module, hp = load_module(conditioned)
    plan = lead_time_plan(module, hp, conditioned, root / "test.h5", [0.2, 0.4], 0, None, 2)
    files = {}
    for overlap in (True, False):
        files[overlap] = write_predictions(plan, tmp_path / f"pred_{overlap}.h5", overlap=overlap)
    with h5py.File(files[True], "r") as a, h5py.File(files[False], "r") as b:
        assert sorted(a) == sorted(b)
        for name in a:
            assert np.array_equal(a[name][()], b[name][()]), name

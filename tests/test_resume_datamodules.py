"""Exact resume beyond the ``hdf5`` DataModule: a window run, an all2all run and a run on a foreign format (PDEBench
files read in place) stopped by SIGTERM in the middle of an epoch and resumed end with the weights of an
uninterrupted run (same batches in the same order), and their training loaders are the epoch-seeded, resumable kind
(``hdf5_all2all`` used a plain ``shuffle=True`` loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf
from periodic_fields import heat_trajectories
from sigterm import SendSigterm

from specsolve.config.loading import load_config
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.data.sampling import EpochSeededSampler
from specsolve.training.checkpointing import Preempted
from specsolve.training.run import build_datamodule, train

EPOCHS = 2


@pytest.fixture(scope="module")
def heat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2-D heat flow, 16x16, 10 frames: 4 trajectories."""
    return heat_trajectories(tmp_path_factory.mktemp("heat_resume") / "heat.h5", 4, "float32")


@pytest.fixture(scope="module")
def waves(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Travelling waves on 16^2, 4 times: 4 trajectories -> 40 all2all pairs."""
    path = tmp_path_factory.mktemp("waves_resume") / "waves.h5"
    rng = np.random.default_rng(0)
    n, times = 16, 0.05 * np.arange(4)
    x = np.arange(n) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    ph = rng.uniform(0, 2 * np.pi, size=(4, 1, 1, 1))
    u = np.sin(2 * np.pi * (X - times[None, :, None, None]) + ph) + 0.5 * np.cos(2 * np.pi * Y + ph)
    dims = ("sample", "time", "x", "y")
    coords = {"sample": np.arange(4), "time": times, "x": x, "y": x}
    with NativeWriter(path, coords=coords, variables={"u": VariableSpec(dims)}) as w:
        w.write("u", 0, u.astype(np.float32))
    return path


@pytest.fixture(scope="module")
def pdebench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PDEBench-layout 2D Darcy file (``nu`` -> ``tensor``), 24 samples on 8x8."""
    from _format_builders import pdebench_darcy

    path = tmp_path_factory.mktemp("pdebench_resume") / "darcy.h5"
    pdebench_darcy(path, n=24, nx=8, ny=8)
    return path


def run_config(run_dir: Path, data: dict, model: dict, optimizer: str = "adam") -> dict:
    """An ``EPOCHS``-epoch deterministic CPU run (seed 2, lr 3e-3, no figures) of ``model`` on ``data``."""
    return {
        "seed": 2,
        "run_dir": str(run_dir),
        "data": data,
        "model": model,
        "optimizer": {"name": optimizer, "lr": 3e-3},
        "trainer": {"max_epochs": EPOCHS, "deterministic": True, "accelerator": "cpu"},
        "logging": {"figures": False},
    }


def pdebench_config(data: Path, run_dir: Path) -> dict:
    return run_config(
        run_dir,
        {"name": "pdebench", "train": str(data), "test": str(data), "inputs": ["nu"], "outputs": ["tensor"],
         "train_range": [0, 20], "test_range": [20, 24], "batch_size": 4, "seed": 11},
        {"name": "fno", "modes": [3, 3], "width": 8, "layers": 1},
    )  # fmt: skip


def window_config(data: Path, run_dir: Path) -> dict:
    return run_config(
        run_dir,
        {"name": "hdf5_windows", "train": str(data), "test": str(data), "n_in": 2, "n_out": 1, "batch_size": 4,
         "seed": 11},
        {"name": "fno", "modes": [4, 4], "width": 8, "layers": 1},
    )  # fmt: skip


def all2all_config(data: Path, run_dir: Path) -> dict:
    scot = dict(embed_dim=8, depths=[1, 1], num_heads=[1, 2], skip_connections=[1, 0], patch_size=4, window_size=2)
    return run_config(
        run_dir,
        {"name": "hdf5_all2all", "train": str(data), "test": str(data), "inputs": ["u"], "batch_size": 8, "seed": 11},
        {"name": "scot", **scot, "mlp_ratio": 2.0},
        optimizer="adamw",
    )


class Batches(Callback):
    """Records a fingerprint of every training batch (order-sensitive: the fields are near zero-mean)."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        x = batch[0].double().flatten()
        self.seen.append((trainer.global_step, round(float((x * torch.arange(x.numel())).sum()), 4)))


@pytest.mark.parametrize(
    "make_config, data_fixture", [(window_config, "heat"), (all2all_config, "waves"), (pdebench_config, "pdebench")]
)
def test_sigterm_mid_epoch_resume_matches_uninterrupted(tmp_path: Path, request, make_config, data_fixture) -> None:
    data = request.getfixturevalue(data_fixture)
    cfg = lambda run: OmegaConf.merge(load_config(None, []), make_config(data, tmp_path / run))  # noqa: E731
    loader = build_datamodule(cfg("probe"))
    loader.setup("fit")
    train_loader = loader.train_dataloader()
    assert isinstance(train_loader.sampler, EpochSeededSampler)
    steps = len(train_loader)
    assert steps >= 3, steps
    stop_at = steps + steps // 2  # in the middle of epoch 1

    reference, interrupted = [], []
    train(cfg("reference"), progress=False, callbacks=[Batches(reference)])
    with pytest.raises(Preempted):
        train(cfg("interrupted"), progress=False, callbacks=[Batches(interrupted), SendSigterm(stop_at)])
    last = tmp_path / "interrupted" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == stop_at
    train(cfg("interrupted"), resume=True, progress=False, callbacks=[Batches(interrupted)])

    assert interrupted == reference  # the same batches, in the same order, after the resume too
    ref = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", weights_only=True)
    got = torch.load(last, weights_only=True)
    assert got["global_step"] == ref["global_step"] == EPOCHS * steps
    for key, value in ref["state_dict"].items():
        torch.testing.assert_close(got["state_dict"][key], value, rtol=1e-5, atol=1e-7, msg=key)

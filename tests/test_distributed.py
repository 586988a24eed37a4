"""DDP on CPU (gloo, 2 processes) through ``specsolve train``: same result as one process for the same global batch.

The chain (one DDP launch keeps the test short):

1. one process, 1 epoch, batch 8 (in-process ``train``) -> checkpoint S;
2. S resumed under DDP for 2 more epochs, 2 processes x batch 4 (``specsolve train --resume`` in a subprocess:
   Lightning's launcher re-runs that command line for rank 1) -> checkpoint D;
3. S resumed in one process for the same 2 epochs, batch 8 -> checkpoint R.

D and R must agree to float tolerance (weights, optimizer and scheduler state, logged ``val/rel_l2``), so
gradients are averaged over ranks, the single-process checkpoint resumes under DDP and the DDP checkpoint loads
in one process (``load_module``). Every epoch is one step over the 8 training samples, so the result does not
depend on the sampler's order (1-process ``RandomSampler`` and DDP's ``DistributedSampler`` draw different
permutations). The validation metric is checked against a direct evaluation on all 8 test samples, which
differs from the value on rank 0's half: the torchmetrics state is reduced across ranks.

FSDP is not trained here: Lightning 2.6 refuses ``strategy='fsdp'`` without a CUDA accelerator, and specsolve says so
in one line before reading any data (tested below).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import torch
from omegaconf import OmegaConf

from specsolve.config import load_config
from specsolve.losses.relative_lp import relative_lp_per_sample
from specsolve.training.checkpoint import load_module, read_checkpoint
from specsolve.training.run import train

pytestmark = pytest.mark.distributed


def write_config(path: Path, data: Path, run_dir: Path, batch_size: int, epochs: int, devices: int = 1) -> Path:
    strategy = "ddp" if devices > 1 else "auto"
    path.write_text(
        f"""
seed: 3
run_dir: {run_dir}
data: {{name: hdf5, train: {data}/train.h5, test: {data}/test.h5, inputs: [a], outputs: [u], batch_size: {batch_size},
        n_train: 8}}
model: {{name: fno, modes: [4, 4], width: 8, layers: 2, padding: 2}}
optimizer: {{name: adam, lr: 1.0e-2, weight_decay: 1.0e-4}}
scheduler: {{name: step, step_size: 1, gamma: 0.5}}
trainer: {{max_epochs: {epochs}, deterministic: true, accelerator: cpu, devices: {devices}, strategy: {strategy}}}
"""
    )
    return path


def val_rel_l2(run_dir: Path, epoch: int) -> float:
    with open(run_dir / "logs" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/rel_l2") and int(r["epoch"]) == epoch]
    assert len(rows) == 1, rows
    return float(rows[0]["val/rel_l2"])


def test_ddp_matches_single_process_and_checkpoints_cross(tmp_path: Path, darcy_tiny: Path) -> None:
    start = tmp_path / "start"
    train(load_config(write_config(tmp_path / "start.yaml", darcy_tiny, start, 8, 1)), progress=False)

    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    shutil.copytree(start, ddp_dir)
    shutil.copytree(start, single_dir)

    ddp_cfg = write_config(tmp_path / "ddp.yaml", darcy_tiny, ddp_dir, 4, 3, devices=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "specsolve.cli", "train", str(ddp_cfg), "--resume"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 1, proc.stdout  # rank 1 (same stdout) prints no summary
    single_cfg = write_config(tmp_path / "single.yaml", darcy_tiny, single_dir, 8, 3)
    train(load_config(single_cfg), resume=True, progress=False)

    ddp_ckpt, single_ckpt = ddp_dir / "checkpoints" / "last.ckpt", single_dir / "checkpoints" / "last.ckpt"
    assert read_checkpoint(ddp_ckpt)["epoch"] == read_checkpoint(single_ckpt)["epoch"] == 2
    ddp_module, hp = load_module(ddp_ckpt)  # a DDP checkpoint loads in one process
    single_module, _ = load_module(single_ckpt)
    assert hp["config"]["trainer"]["strategy"] == "ddp"
    ddp_state, single_state = ddp_module.state_dict(), single_module.state_dict()
    start_state = load_module(start / "checkpoints" / "last.ckpt")[0].state_dict()
    for key, value in single_state.items():
        torch.testing.assert_close(ddp_state[key], value, rtol=1e-4, atol=1e-6, msg=key)
    assert (ddp_state["model.lift.weight"] - start_state["model.lift.weight"]).abs().max() > 1e-3  # it trained

    # optimizer (Adam moments, step count) and scheduler states agree too
    ddp_raw, single_raw = read_checkpoint(ddp_ckpt), read_checkpoint(single_ckpt)
    ddp_adam, single_adam = ddp_raw["optimizer_states"][0]["state"], single_raw["optimizer_states"][0]["state"]
    assert ddp_adam.keys() == single_adam.keys()
    for index, state in single_adam.items():
        for key in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(ddp_adam[index][key], state[key], rtol=1e-4, atol=1e-8)
    assert ddp_raw["lr_schedulers"][0]["last_epoch"] == single_raw["lr_schedulers"][0]["last_epoch"] == 3

    # val/rel_l2 is reduced over both ranks: equal to one process's value and to a direct evaluation on all
    # 8 test samples, and not to the mean over rank 0's shard (samples 0, 2, 4, 6)
    ddp_val, single_val = val_rel_l2(ddp_dir, 2), val_rel_l2(single_dir, 2)
    assert ddp_val == pytest.approx(single_val, rel=1e-4)
    with h5py.File(darcy_tiny / "test.h5") as f:
        a = torch.as_tensor(f["a"][:], dtype=torch.float32).unsqueeze(1)
        u = torch.as_tensor(f["u"][:], dtype=torch.float32).unsqueeze(1)
    with torch.no_grad():
        per_sample = relative_lp_per_sample(ddp_module(a), u, 2.0)
    assert per_sample.numel() == 8
    assert ddp_val == pytest.approx(per_sample.mean().item(), rel=1e-4)
    assert abs(per_sample[0::2].mean().item() - ddp_val) > 1e-4 * ddp_val
    assert OmegaConf.load(ddp_dir / "config.yaml").data.batch_size == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_fsdp_without_cuda_is_one_line(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    from specsolve.cli.main import main

    config = write_config(tmp_path / "fsdp.yaml", darcy_tiny, tmp_path / "run", 8, 1)
    assert main(["train", str(config), "trainer.strategy=fsdp", "trainer.accelerator=auto"]) == 2
    err = capsys.readouterr().err
    assert "trainer.strategy=fsdp needs CUDA GPUs" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_fsdp_on_cpu_accelerator_is_one_line(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    from specsolve.cli.main import main

    config = write_config(tmp_path / "fsdp.yaml", darcy_tiny, tmp_path / "run", 8, 1)
    assert main(["train", str(config), "trainer.strategy=fsdp", "trainer.accelerator=cpu"]) == 2
    err = capsys.readouterr().err
    assert "needs CUDA GPUs (accelerator=cpu" in err and len(err.splitlines()) == 1, err


DDP_CHILD = """
import os, signal, sys
import torch
from lightning.pytorch.callbacks import Callback
import specsolve.training.run as run

STOP_AT = int(os.environ.get("STOP_AT", "-1"))

class StopRank0(Callback):  # SIGTERM to rank 0 only, as when the signal reaches one task of a job
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_rank == 0 and trainer.global_step == STOP_AT:
            os.kill(os.getpid(), signal.SIGTERM)

plain = run.train
run.train = lambda cfg, callbacks=None, **kw: plain(cfg, callbacks=[StopRank0(), *(callbacks or [])], **kw)
from specsolve.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_ddp_sigterm_mid_epoch_resumes_like_uninterrupted(tmp_path: Path, darcy_tiny: Path) -> None:
    """2 processes x batch 2 over 8 samples: 2 steps per epoch, 3 epochs; SIGTERM to rank 0 after step 3 (inside
    epoch 1): both ranks stop there, and the resumed run ends with the weights of an uninterrupted DDP run."""
    child = tmp_path / "child.py"
    child.write_text(DDP_CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

    def launch(run_dir: Path, resume: bool, stop_at: int = -1) -> subprocess.CompletedProcess:
        cfg = write_config(tmp_path / f"{run_dir.name}.yaml", darcy_tiny, run_dir, 2, 3, devices=2)
        cmd = [sys.executable, str(child), "train", str(cfg)] + (["--resume"] if resume else [])
        return subprocess.run(cmd, capture_output=True, text=True, env={**env, "STOP_AT": str(stop_at)},
                              timeout=400, cwd=tmp_path)  # fmt: skip

    ref = launch(tmp_path / "ref", resume=False)
    assert ref.returncode == 0, ref.stderr[-3000:]
    stopped = launch(tmp_path / "run", resume=False, stop_at=3)
    assert stopped.returncode != 0 and "training stopped by SIGTERM" in stopped.stderr, stopped.stderr[-3000:]
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last)["global_step"] == 3
    resumed = launch(tmp_path / "run", resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got, want = read_checkpoint(last), read_checkpoint(tmp_path / "ref" / "checkpoints" / "last.ckpt")
    assert got["global_step"] == want["global_step"] == 6
    for key, value in want["state_dict"].items():
        torch.testing.assert_close(got["state_dict"][key], value, rtol=1e-5, atol=1e-7, msg=key)

"""A run killed with SIGKILL resumes with --resume and ends with the same weights as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from specsolve.cli.main import main

EPOCHS = 7


def write_config(tmp_path: Path, data: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        f"""
data: {{name: hdf5, train: {data}/train.h5, test: {data}/test.h5, inputs: [a], outputs: [u], batch_size: 4, seed: 3}}
model: {{name: fno, modes: [6, 6], width: 16, layers: 2}}
optimizer: {{name: adam, lr: 3.0e-3}}
scheduler: {{name: step, step_size: 3, gamma: 0.5}}
trainer: {{max_epochs: {EPOCHS}, deterministic: true}}
"""
    )
    return path


def start(config: Path, run_dir: Path, resume: bool) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SPECSOLVE_TEST_THREADS": "1"}
    cmd = [
        sys.executable,
        "-c",
        "import torch, sys; torch.set_num_threads(1); from specsolve.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))",
        "train",
        str(config),
        f"run_dir={run_dir}",
    ]
    return subprocess.Popen(
        cmd + (["--resume"] if resume else []), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_for(predicate, process: subprocess.Popen, timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    raise TimeoutError("training subprocess made no progress")


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.integration
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path, darcy_tiny: Path) -> None:
    config = write_config(tmp_path, darcy_tiny)
    reference = tmp_path / "reference"
    assert main(["train", str(config), f"run_dir={reference}"]) == 0

    run = tmp_path / "interrupted"
    last = run / "checkpoints" / "last.ckpt"
    killed_at = []
    # kill 1: as soon as the first checkpoint exists (inside the second epoch)
    proc = start(config, run, resume=False)
    wait_for(last.exists, proc)
    kill(proc)
    killed_at.append(torch.load(last, weights_only=True)["epoch"])
    # kill 2 and 3: after the resumed run has written a newer checkpoint, then after a short delay mid-epoch
    for delay in (0.0, 0.15):
        before = torch.load(last, weights_only=True)["epoch"]
        proc = start(config, run, resume=True)
        wait_for(lambda: last.exists() and torch.load(last, weights_only=True)["epoch"] > before, proc)
        time.sleep(delay)
        kill(proc)
        killed_at.append(torch.load(last, weights_only=True)["epoch"])
    assert killed_at[-1] < EPOCHS - 1, f"the run finished before it was killed: {killed_at}"
    assert main(["train", str(config), f"run_dir={run}", "--resume"]) == 0

    ref_ckpt = torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True)
    got_ckpt = torch.load(last, weights_only=True)
    assert got_ckpt["epoch"] == ref_ckpt["epoch"] == EPOCHS - 1
    for key, value in ref_ckpt["state_dict"].items():
        assert torch.allclose(got_ckpt["state_dict"][key], value, rtol=1e-5, atol=1e-7), key

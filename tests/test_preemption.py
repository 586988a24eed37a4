"""SIGTERM / SIGINT at a random moment: the run writes a checkpoint at the next safe point, exits non-zero with one
line, and ``--resume`` reaches the same final weights as an uninterrupted run (mid-epoch stops included)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from specsolve.config import load_config
from specsolve.training.run import train

EPOCHS = 3
STEPS_PER_EPOCH = 6  # 12 samples / batch 2
STEP_SECONDS = 0.05  # the child sleeps this long per batch, so a random delay lands inside training

# the child: `specsolve train` through the CLI, with a callback that slows every batch down and marks the start
CHILD = f"""
import sys, time, torch
torch.set_num_threads(1)
from pathlib import Path
from lightning.pytorch.callbacks import Callback
import specsolve.training.run as run

class Slow(Callback):
    def on_train_start(self, trainer, module):
        (Path(trainer.default_root_dir) / "started").touch()
    def on_train_batch_end(self, *args):
        time.sleep({STEP_SECONDS})

plain = run.train
run.train = lambda cfg, callbacks=None, **kw: plain(cfg, callbacks=[Slow(), *(callbacks or [])], **kw)
from specsolve.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def write_config(tmp_path: Path, data: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        f"""
seed: 5
data: {{name: hdf5, train: {data}/train.h5, test: {data}/test.h5, inputs: [a], outputs: [u], batch_size: 2,
        n_train: 12, seed: 7}}
model: {{name: fno, modes: [4, 4], width: 8, layers: 2}}
optimizer: {{name: adam, lr: 3.0e-3}}
scheduler: {{name: step, step_size: 1, gamma: 0.7}}
trainer: {{max_epochs: {EPOCHS}, deterministic: true, accelerator: cpu}}
logging: {{figures: false}}
"""
    )
    return path


def run_child(config: Path, run_dir: Path, resume: bool, signum: int, delay: float) -> subprocess.CompletedProcess:
    """Start the child, send ``signum`` ``delay`` seconds after training started, wait for it to exit."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-c", CHILD, "train", str(config), f"run_dir={run_dir}"] + (["--resume"] if resume else [])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = run_dir / "started"
    deadline = time.monotonic() + 180
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    started.unlink(missing_ok=True)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=180)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, darcy_tiny: Path) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("preempt_ref")
    config = write_config(tmp, darcy_tiny)
    train(load_config(config, [f"run_dir={tmp / 'run'}"]), progress=False)
    return config, torch.load(tmp / "run" / "checkpoints" / "last.ckpt", weights_only=True)


def interrupt_and_resume(config: Path, run_dir: Path, delays: list[float], signum: int) -> list[tuple[int, int]]:
    """Interrupt the run once per delay (the first start fresh, later ones resumed), then finish it in-process.

    Returns (epoch, global_step) of ``last.ckpt`` after each interruption.
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    stops = []
    for i, delay in enumerate(delays):
        done = run_child(config, run_dir, resume=i > 0, signum=signum, delay=delay)
        ckpt = torch.load(last, weights_only=True)
        if ckpt["global_step"] == EPOCHS * STEPS_PER_EPOCH:  # it finished before the signal
            assert done.returncode == 0, done.stderr
            break
        name = signal.Signals(signum).name
        assert done.returncode == 2, (done.returncode, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"training stopped by {name}" in lines[0] and "resume" in lines[0], lines
        stops.append((ckpt["epoch"], ckpt["global_step"]))
    train(load_config(config, [f"run_dir={run_dir}"]), resume=True, progress=False)
    return stops


def assert_same_weights(run_dir: Path, ref: dict) -> None:
    got = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert got["epoch"] == ref["epoch"] == EPOCHS - 1
    assert got["global_step"] == ref["global_step"] == EPOCHS * STEPS_PER_EPOCH
    for key, value in ref["state_dict"].items():
        torch.testing.assert_close(got["state_dict"][key], value, rtol=1e-5, atol=1e-7, msg=key)


def training_seconds() -> float:
    return EPOCHS * STEPS_PER_EPOCH * STEP_SECONDS


@pytest.mark.parametrize("stop_after", [2, 6, 9])  # inside epoch 0, at its end (deferred to after validation), epoch 1
def test_sigterm_in_process_resumes_exactly(tmp_path: Path, reference, stop_after: int) -> None:
    """The signal is sent from inside the run after a given step: deterministic stop points, no subprocess."""
    from sigterm import SendSigterm

    from specsolve.training.checkpointing import Preempted

    config, ref = reference
    cfg = load_config(config, [f"run_dir={tmp_path / 'run'}"])
    with pytest.raises(Preempted, match="training stopped by SIGTERM"):
        train(cfg, progress=False, callbacks=[SendSigterm(stop_after)])
    stopped = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert stopped["global_step"] == stop_after and stopped["epoch"] == stop_after // (STEPS_PER_EPOCH + 1)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored after the run
    train(cfg, resume=True, progress=False)
    assert_same_weights(tmp_path / "run", ref)


def test_sigterm_during_the_sanity_check_is_one_line(tmp_path: Path, reference) -> None:
    """Before training starts Lightning's own SIGTERM handler is active (it raises SystemExit, status 0)."""
    from lightning.pytorch.callbacks import Callback

    from specsolve.training.checkpointing import Preempted

    class SigtermInSanityCheck(Callback):
        def on_validation_batch_end(self, trainer, *args) -> None:
            if trainer.sanity_checking:
                os.kill(os.getpid(), signal.SIGTERM)

    config, _ = reference
    with pytest.raises(Preempted, match="before its first training step"):
        train(load_config(config, [f"run_dir={tmp_path / 'run'}"]), progress=False, callbacks=[SigtermInSanityCheck()])
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_mid_epoch_then_resume_matches(tmp_path: Path, reference) -> None:
    """Two fixed stops: inside epoch 0 (after ~2 steps) and, resumed, inside epoch 1."""
    config, ref = reference
    stops = interrupt_and_resume(config, tmp_path / "run", [2.5 * STEP_SECONDS, 5 * STEP_SECONDS], signal.SIGTERM)
    assert len(stops) == 2 and any(step % STEPS_PER_EPOCH for _, step in stops), stops  # mid-epoch stops
    assert_same_weights(tmp_path / "run", ref)


def test_sigint_then_resume_matches(tmp_path: Path, reference) -> None:
    config, ref = reference
    stops = interrupt_and_resume(config, tmp_path / "run", [8 * STEP_SECONDS], signal.SIGINT)
    assert len(stops) == 1, stops
    assert_same_weights(tmp_path / "run", ref)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(6))
def test_sigterm_at_random_points_resumes_to_the_same_weights(tmp_path: Path, reference, trial: int) -> None:
    config, ref = reference
    rng = random.Random(1000 + trial)
    delays = [rng.uniform(0, 0.8 * training_seconds()) for _ in range(rng.choice([1, 2]))]
    stops = interrupt_and_resume(config, tmp_path / "run", delays, signal.SIGTERM)
    print(f"trial {trial}: delays {[round(d, 3) for d in delays]} -> stops (epoch, step) {stops}")
    assert_same_weights(tmp_path / "run", ref)

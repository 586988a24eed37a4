"""``last.ckpt`` holds the last epoch whatever the monitored metric does; writes that fail leave old files intact."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
import torch

from specsolve.cli.main import main
from specsolve.config import load_config
from specsolve.errors import DataError
from specsolve.io import atomic_path, write_text_atomic
from specsolve.training.run import train

EPOCHS = 3


def write_config(tmp_path: Path, data: Path, lr: float, epochs: int = EPOCHS, extra: str = "") -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        f"""
seed: 1
data: {{name: hdf5, train: {data}/train.h5, test: {data}/test.h5, inputs: [a], outputs: [u], batch_size: 8,
        n_train: 16}}
model: {{name: fno, modes: [4, 4], width: 8, layers: 1}}
optimizer: {{name: adam, lr: {lr}}}
trainer: {{max_epochs: {epochs}, deterministic: true, accelerator: cpu}}
{extra}
"""
    )
    return path


def test_flat_validation_last_ckpt_is_the_final_epoch(tmp_path: Path, darcy_tiny: Path) -> None:
    """lr 0: val/rel_l2 never improves after epoch 0, so Lightning's save_last would stay at epoch 0."""
    run = tmp_path / "run"
    cfg = load_config(write_config(tmp_path, darcy_tiny, lr=0.0), [f"run_dir={run}"])
    train(cfg, progress=False)
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert best["epoch"] == 0  # no later epoch is strictly better
    assert last["epoch"] == EPOCHS - 1
    assert last["global_step"] == EPOCHS * 2  # 16 samples / batch 8


def test_every_n_train_steps_writes_last_inside_the_epoch(tmp_path: Path, darcy_tiny: Path) -> None:
    """With checkpoint_every_n_train_steps: 1 a run stopped after the first step of epoch 1 would find that step."""
    from lightning.pytorch.callbacks import Callback

    seen: list[int] = []

    class Spy(Callback):
        def on_train_batch_start(self, trainer, *args) -> None:
            last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
            if last.exists():
                seen.append(torch.load(last, weights_only=True)["global_step"])

    run = tmp_path / "run"
    extra = "logging: {checkpoint_every_n_train_steps: 1, figures: false}"
    cfg = load_config(write_config(tmp_path, darcy_tiny, lr=1e-3, epochs=2, extra=extra), [f"run_dir={run}"])
    train(cfg, progress=False, callbacks=[Spy()])
    # before steps 1, 2 (epoch end), 3: the checkpoint written after the previous step
    assert seen == [1, 2, 3], seen


def test_bad_checkpoint_interval_is_one_line(tmp_path: Path, darcy_tiny: Path, capsys) -> None:
    config = write_config(tmp_path, darcy_tiny, 1e-3, extra="logging: {checkpoint_every_n_train_steps: 0}")
    assert main(["train", str(config), f"run_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint_every_n_train_steps must be a positive integer" in err and len(err.splitlines()) == 1


# -- failed writes ------------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fail_write(code: int):
    def write(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return write


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_failed_text_write_keeps_previous_file(tmp_path: Path, monkeypatch, code: int) -> None:
    target = tmp_path / "metrics.json"
    write_text_atomic(target, '{"rel_l2": 0.1}')
    before = sha256(target)

    def torn_write_text(self, data, *args, **kwargs) -> None:  # half the text reaches the disk, then it fails
        with open(self, "w") as f:
            f.write(data[: len(data) // 2])
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "write_text", torn_write_text)
    with pytest.raises(DataError) as info:
        write_text_atomic(target, '{"rel_l2": 0.2}')
    message = str(info.value)
    assert str(target) in message and os.strerror(code) in message and len(message.splitlines()) == 1
    assert sha256(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no .partial left behind


def test_unwritable_folder_is_one_line(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", fail_write(errno.EACCES))
    with pytest.raises(DataError, match="cannot write .*out.h5: Permission denied"):
        with atomic_path(tmp_path / "out.h5"):
            pass


def test_other_errors_pass_through(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("half")
            raise ValueError("not a write error")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_failed_checkpoint_write_keeps_previous_checkpoint(
    tmp_path: Path, darcy_tiny: Path, monkeypatch, capsys, code: int
) -> None:
    """A disk that fills up in the last epoch: the CLI prints one line naming last.ckpt, which keeps epoch 0."""
    run = tmp_path / "run"
    config = write_config(tmp_path, darcy_tiny, 1e-3, epochs=2)
    assert main(["train", str(config), f"run_dir={run}", "trainer.max_epochs=1"]) == 0
    last = run / "checkpoints" / "last.ckpt"
    before = {p.name: sha256(p) for p in sorted((run / "checkpoints").iterdir())}
    import lightning.fabric.plugins.io.torch_io as torch_io

    def torn_write(checkpoint, path) -> None:  # half the bytes reach the disk, then it is full / forbidden
        with open(path, "wb") as f:
            f.write(b"\x80" * 1000)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(torch_io, "_atomic_save", torn_write)
    assert main(["train", str(config), f"run_dir={run}", "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {run / 'checkpoints'}/" in err and os.strerror(code) in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    after = {p.name: sha256(p) for p in sorted((run / "checkpoints").iterdir())}
    assert after == before  # same files (no .partial), same bytes
    assert torch.load(last, weights_only=True)["epoch"] == 0


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_failed_native_write_keeps_previous_file(tmp_path: Path, monkeypatch, code: int) -> None:
    """A generated / predicted file (NativeWriter) that hits a full disk while writing data: one line naming the
    file, the previous version unchanged, no partial file left."""
    import h5py
    import numpy as np

    from specsolve.data.native import NativeWriter, VariableSpec

    target = tmp_path / "pred.h5"
    coords = {"sample": np.arange(2), "x": np.linspace(0, 1, 4)}
    variables = {"u": VariableSpec(("sample", "x"))}
    with NativeWriter(target, coords=coords, variables=variables) as w:
        w.write("u", 0, np.ones((2, 4), dtype=np.float32))
    before = sha256(target)

    def full_disk(self, key, value) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(h5py.Dataset, "__setitem__", full_disk)
    with pytest.raises(DataError) as info:
        with NativeWriter(target, coords=coords, variables=variables, overwrite=True) as w:
            w.write("u", 0, np.zeros((2, 4), dtype=np.float32))
    message = str(info.value)
    assert f"cannot write {target}: {os.strerror(code)}" in message and len(message.splitlines()) == 1
    assert sha256(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["pred.h5"]

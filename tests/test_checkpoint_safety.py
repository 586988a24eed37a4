"""Safety: checkpoints load with weights_only=True only; divergence stops with a clear message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from specsolve.cli.main import main
from specsolve.errors import SpecsolveError
from specsolve.training.checkpoint import read_checkpoint


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": Exploit(marker)}}, evil)
    with pytest.raises(SpecsolveError, match="refusing to load"):
        read_checkpoint(evil)
    assert main(["predict", "-c", str(evil), "-d", str(darcy_tiny / "test.h5"), "-o", str(tmp_path / "p.h5")]) == 2
    assert "refusing to load" in capsys.readouterr().err
    assert not marker.exists(), "the pickle payload must never run"
    assert not (tmp_path / "p.h5").exists()


def test_divergence_stops_with_message(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "diverge.yaml"
    config.write_text(
        f"""
run_dir: {tmp_path / "run"}
data: {{name: hdf5, train: {darcy_tiny}/train.h5, test: {darcy_tiny}/test.h5, inputs: [a], outputs: [u], batch_size: 8}}
model: {{name: fno, modes: [4, 4], width: 8, layers: 2}}
optimizer: {{name: sgd, lr: 1.0e+30, momentum: 0.0}}
trainer: {{max_epochs: 3}}
"""
    )
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "training diverged" in err and "step" in err and len(err.splitlines()) == 1
    assert not list((tmp_path / "run").rglob("*.partial"))

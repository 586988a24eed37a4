"""Pretrained models by name (specsolve/training/hub.py): a specsolve checkpoint pushed to the hub directory layout,
placed in a huggingface_hub cache built in the test (``models--ORG--NAME/{blobs,snapshots/<commit>,refs/main}``,
the layout ``hf download`` writes), and read back by ``hf://`` name with ``HF_HUB_OFFLINE=1``: outputs bit for bit,
fine-tuning from it, the one-line error for a name that is not cached. Nothing is downloaded."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import specsolve
from specsolve.cli.main import main
from specsolve.errors import ConfigError, DataError
from specsolve.training.checkpoint import load_module
from specsolve.training.finetune import apply_finetune
from specsolve.training.module import OperatorModule, build_model

pytest.importorskip("huggingface_hub", reason="the hub extra (huggingface_hub)")

ROOT = Path(__file__).resolve().parents[1]
FNO = {"name": "fno", "modes": [4, 4], "width": 8, "layers": 2, "padding": 2}
REPO = "specsolve-test/fno-darcy-tiny"


def write_checkpoint(path: Path, model: dict, darcy: Path, seed: int) -> Path:
    """A checkpoint with the keys training writes: seeded random weights, non-trivial normalisation statistics."""
    config = {
        "data": {"name": "hdf5", "train": str(darcy / "train.h5"), "inputs": ["a"], "outputs": ["u"], "stride": 1},
        "model": {**model, "in_channels": 1, "out_channels": 1},
        "loss": [{"name": "rel_l2", "weight": 1.0}],
    }
    stats = {k: torch.tensor([v]) for k, v in {"x_mean": 3.0, "x_std": 2.5, "y_mean": 20.0, "y_std": 3.0}.items()}
    torch.manual_seed(seed)
    module = OperatorModule(config, 1, 1, stats)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "epoch": 1}, path)
    return path


def cache_snapshot(cache: Path, repo_id: str, directory: Path, commit: str | None = None) -> str:
    """Put the files of ``directory`` into a huggingface_hub cache as ``hf download`` would: content-addressed
    blobs, a snapshot folder of relative symlinks named by the commit, ``refs/main`` holding the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = commit or hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for f in sorted(directory.iterdir()):
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return commit


@pytest.fixture(autouse=True)
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def pushed(tmp_path: Path, darcy_tiny: Path, offline_cache: Path) -> dict:
    ckpt = write_checkpoint(tmp_path / "fno.ckpt", FNO, darcy_tiny, seed=4)
    metrics = tmp_path / "metrics_test.json"
    metrics.write_text(json.dumps({"variables": {"u": {"mean": {"rel_l2": 0.0123, "nrmse": 0.0456}}}, "n_samples": 8}))
    result = specsolve.push_pretrained(ckpt, tmp_path / "hub" / "fno-darcy-tiny", metrics=metrics)
    commit = cache_snapshot(offline_cache, REPO, Path(result["directory"]))
    return {"ckpt": ckpt, "dir": Path(result["directory"]), "result": result, "commit": commit}


def raw_input() -> torch.Tensor:
    return 1.0 + 2.0 * torch.rand(2, 1, 17, 17, generator=torch.Generator().manual_seed(7))


def test_load_pretrained_by_hf_name_is_bitwise_the_checkpoint(pushed: dict) -> None:
    original, _ = load_module(pushed["ckpt"])
    x = raw_input()
    with torch.no_grad():
        expected = original(x)
        for name in (f"hf://{REPO}", f"hf://{REPO}@{pushed['commit']}", str(pushed["dir"])):
            model = specsolve.load_pretrained(name)
            assert isinstance(model, OperatorModule) and not model.training
            assert torch.equal(model(x), expected), name
            state = model.state_dict()
            assert state.keys() == original.state_dict().keys()
            assert all(torch.equal(state[k], v) for k, v in original.state_dict().items())
            assert state["y_mean"].item() == 20.0  # the normalisation travels with the weights
    assert specsolve.load_pretrained(f"hf://{REPO}", dtype="float64")(x.double()).dtype == torch.float64


def test_hub_directory_layout_and_model_card(pushed: dict) -> None:
    d = pushed["dir"]
    assert pushed["result"]["files"] == [
        "README.md",
        "config.yaml",
        "metrics.json",
        "model.safetensors",
        "specsolve.json",
    ]
    manifest = json.loads((d / "specsolve.json").read_text())
    assert manifest["model"] == "fno" and manifest["in_channels"] == 1 and manifest["format_version"] == 1
    assert manifest["sha256"]["model.safetensors"] == hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()
    _, hp = load_module(pushed["ckpt"])
    assert OmegaConf.to_container(OmegaConf.load(d / "config.yaml")) == hp["config"] == manifest["config"]
    card = (d / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: specsolve\n")
    assert "| u | rel_l2 | 0.0123 |" in card and "| u | nrmse | 0.0456 |" in card and "(8 samples)" in card
    assert json.loads((d / "metrics.json").read_text())["n_samples"] == 8


def test_missing_name_is_one_line_error_saying_how_to_download(offline_cache: Path) -> None:
    with pytest.raises(DataError) as err:
        specsolve.load_pretrained("hf://nobody/absent-model")
    message = str(err.value)
    assert "\n" not in message
    assert "`hf download nobody/absent-model`" in message and "HF_HUB_OFFLINE" in message
    assert str(offline_cache) in message


def test_missing_name_through_finetune_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = build_model({**FNO, "in_channels": 1, "out_channels": 1})
    with pytest.raises(DataError, match="hf download nobody/absent"):
        apply_finetune(model, {"checkpoint": "hf://nobody/absent"})
    config = tmp_path / "ft.yaml"
    config.write_text(
        "data: {name: hdf5, train: none.h5}\nmodel: {name: fno, modes: [4, 4], width: 8}\n"
        "finetune: {checkpoint: 'hf://nobody/absent'}\n"
    )
    assert main(["train", str(config), f"run_dir={tmp_path / 'run'}"]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith("specsolve: error:")


def test_bad_names_and_damaged_files(pushed: dict, tmp_path: Path) -> None:
    for name in ("hf://no-org", "hf://a/b/c", "hf://a/b@"):
        with pytest.raises(ConfigError, match="expected hf://ORG/NAME"):
            specsolve.load_pretrained(name)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for f in pushed["dir"].iterdir():
        (damaged / f.name).write_bytes(f.read_bytes())
    weights = bytearray((damaged / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (damaged / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(DataError, match="does not match the SHA-256"):
        specsolve.load_pretrained(damaged)
    with pytest.raises(DataError, match="already exists"):
        specsolve.push_pretrained(pushed["ckpt"], pushed["dir"])


def test_finetune_checkpoint_hf_name_starts_from_those_weights(pushed: dict, darcy_tiny: Path, tmp_path: Path) -> None:
    """A training run with ``finetune.checkpoint: hf://...``: the frozen tensors end bit-identical to the pushed
    model's (a fresh initialisation differs from them), the unfrozen output projection moves."""
    pretrained = {
        k[len("model.") :]: v for k, v in load_module(pushed["ckpt"])[0].state_dict().items() if "model." in k
    }
    cfg = {
        "run_dir": str(tmp_path / "ft"),
        "data": {"name": "hdf5", "train": str(darcy_tiny / "train.h5"), "inputs": ["a"], "outputs": ["u"]},
        "model": FNO,
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "accelerator": "cpu"},
        "finetune": {"checkpoint": f"hf://{REPO}", "freeze": ["*"], "unfreeze": ["project_out.*"]},
    }
    result = specsolve.train(cfg, progress=False)
    tuned = load_module(result["last"])[0].model.state_dict()
    fresh = build_model({**FNO, "in_channels": 1, "out_channels": 1}).state_dict()
    frozen = [k for k in tuned if not k.startswith("project_out.")]
    assert frozen and all(torch.equal(tuned[k], pretrained[k]) for k in frozen)
    assert any(not torch.equal(fresh[k], pretrained[k]) for k in frozen)
    moved = [k for k in tuned if k.startswith("project_out.") and not torch.equal(tuned[k], pretrained[k])]
    assert moved


def test_poseidon_layout_by_hf_name(offline_cache: Path, tmp_path: Path) -> None:
    """A Poseidon checkpoint (config.json + model.safetensors, the tiny reference case) cached as
    ``camlab-ethz/Poseidon-T``: ``hf://`` gives the same scOT as the directory, and Poseidon's own output."""
    from safetensors.torch import save_file

    case = torch.load(ROOT / "tests" / "data" / "poseidon_reference_tiny.pt", weights_only=True)["plain2"]
    d = tmp_path / "poseidon"
    d.mkdir()
    (d / "config.json").write_text(case["config_json"])
    save_file({k: v.contiguous() for k, v in case["weights"].items()}, str(d / "model.safetensors"))
    cache_snapshot(offline_cache, "camlab-ethz/Poseidon-T", d)
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    from make_poseidon_fixture import deterministic_input

    spec = case["inputs"]["n16"]
    x, t = deterministic_input(tuple(spec["shape"])), spec["t"]
    with torch.no_grad():
        by_name = specsolve.load_pretrained("hf://camlab-ethz/Poseidon-T", dtype="float64")(x, t)
        by_path = specsolve.load_pretrained(d, dtype="float64")(x, t)
    assert torch.equal(by_name, by_path)
    ref = case["outputs64"]["n16"]
    assert ((by_name - ref).abs().max() / ref.abs().max()).item() <= 1e-10


def test_cli_export_format_hub(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = write_checkpoint(tmp_path / "fno.ckpt", FNO, darcy_tiny, seed=5)
    out = tmp_path / "hub-cli"
    assert main(["export", "-c", str(ckpt), "-o", str(out), "--format", "hub"]) == 0
    assert f"fno written as a hub directory to {out}" in capsys.readouterr().out
    x = raw_input()
    with torch.no_grad():
        assert torch.equal(specsolve.load_pretrained(out)(x), load_module(ckpt)[0](x))
    assert not (out / "metrics.json").exists() and "## Metrics" not in (out / "README.md").read_text()

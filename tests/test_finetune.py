"""Fine-tuning from a local checkpoint (``finetune`` config section, specsolve/training/finetune.py).

A tiny scOT pretrained for two steps on one-channel trajectories is fine-tuned on two-channel trajectories with
everything frozen except the patch embedding / recovery and the (time-conditioned) norms: after training, the frozen
tensors must be bit-identical to the pretrained ones, the unfrozen ones must have moved, and the embedding and
recovery must have the new channel counts.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tiny_models import TINY_SCOT

from specsolve.config.loading import TOP_LEVEL_KEYS, load_config
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.errors import ConfigError, DataError
from specsolve.models.scot import ScOT
from specsolve.training.finetune import apply_finetune, read_state_dict
from specsolve.training.run import train

TINY = TINY_SCOT
UNFREEZE = ["embedding.*", "recovery.*", "*norm*"]


def write_trajectories(path: Path, names: list[str], n_samples: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x, times = np.arange(32) / 32, np.array([0.0, 0.1, 0.2])
    X, Y = np.meshgrid(x, x, indexing="ij")
    coords = {"sample": np.arange(n_samples), "time": times, "x": x, "y": x}
    dims = ("sample", "time", "x", "y")
    with NativeWriter(path, coords, {n: VariableSpec(dims) for n in names}) as w:
        for k, name in enumerate(names):
            ph = rng.uniform(0, 2 * np.pi, size=(n_samples, 1, 1, 1))
            u = np.sin(2 * np.pi * (X - (k + 1) * times[None, :, None, None]) + ph) + 0.3 * np.cos(2 * np.pi * Y)
            w.write(name, 0, u.astype(np.float32))
    return path


def run_config(root: Path, name: str, data: Path, inputs: list[str], finetune: dict | None = None):
    cfg = {
        "run_dir": str(root / name),
        "data": {"name": "hdf5_all2all", "train": str(data), "inputs": inputs, "batch_size": 4},
        "model": {"name": "scot", **TINY},
        "optimizer": {"name": "adamw", "lr": 1e-2, "weight_decay": 0.1},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "accelerator": "cpu"},
    }
    if finetune is not None:
        cfg["finetune"] = finetune
    return OmegaConf.merge(load_config(None, []), cfg)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    one = write_trajectories(root / "one.h5", ["u"])
    two = write_trajectories(root / "two.h5", ["u", "v"], seed=1)
    ckpt = train(run_config(root, "pre", one, ["u"]), progress=False)["last"]
    return root, Path(ckpt), two


def test_finetune_trains_only_unfrozen_groups(pretrained):
    root, ckpt, two = pretrained
    before, name = read_state_dict(ckpt)
    assert name == "scot" and before["embedding.projection.weight"].shape[1] == 1
    section = {"checkpoint": str(ckpt), "freeze": ["*"], "unfreeze": UNFREEZE}
    result = train(run_config(root, "ft", two, ["u", "v"], section), progress=False)
    after, _ = read_state_dict(result["last"])
    assert after["embedding.projection.weight"].shape[1] == 2 and after["recovery.mixup.weight"].shape[:2] == (2, 2)
    model = ScOT(2, 2, **TINY)
    trainable = {n for n, _ in model.named_parameters() if any(fnmatch.fnmatchcase(n, p) for p in UNFREEZE)}
    frozen = [n for n, _ in model.named_parameters() if n not in trainable]
    assert len(frozen) > 20 and len(trainable) > 10
    for n in frozen:  # untouched by the optimizer, weight decay included
        assert torch.equal(after[n], before[n]), n
    moved = [
        n
        for n in trainable
        if n in before and before[n].shape == after[n].shape and not torch.equal(after[n], before[n])
    ]
    assert len(moved) > 0.5 * len([n for n in trainable if before[n].shape == after[n].shape])


def test_apply_finetune_loads_and_reports(pretrained):
    _, ckpt, _ = pretrained
    torch.manual_seed(5)
    model = ScOT(3, 1, **TINY)
    fresh_embedding = model.embedding.projection.weight.detach().clone()
    report = apply_finetune(model, {"checkpoint": str(ckpt), "freeze": ["encoder.*", "decoder.*"]})
    state, _ = read_state_dict(ckpt)
    assert sorted(report["mismatched"]) == ["embedding.projection.weight"]  # 3 input channels instead of 1
    assert torch.equal(model.embedding.projection.weight, fresh_embedding)
    for n in ("encoder.0.0.attention.qkv.weight", "recovery.mixup.weight", "skip_blocks.0.0.dwconv.weight"):
        if n in state:
            assert torch.equal(model.state_dict()[n], state[n]), n
    params = dict(model.named_parameters())
    assert all(not params[n].requires_grad for n in params if n.startswith(("encoder.", "decoder.")))
    assert all(params[n].requires_grad for n in report["trainable"])
    assert set(report["trainable"]) == {n for n in params if not n.startswith(("encoder.", "decoder."))}
    assert 0 < report["n_trainable"] < report["n_total"]
    # resuming: only the flags, nothing read
    model2 = ScOT(3, 1, **TINY)
    apply_finetune(
        model2, {"checkpoint": "does/not/exist.ckpt", "freeze": ["*"], "unfreeze": ["recovery.*"]}, load=False
    )
    assert {n for n, p in model2.named_parameters() if p.requires_grad} == {
        n for n, _ in model2.named_parameters() if n.startswith("recovery.")
    }


def test_finetune_errors(pretrained, tmp_path):
    _, ckpt, _ = pretrained
    ok = {"checkpoint": str(ckpt)}
    with pytest.raises(ConfigError, match="do not fit"):  # a wider model: the body does not fit
        apply_finetune(ScOT(1, 1, **{**TINY, "embed_dim": 16}), ok)
    with pytest.raises(ConfigError, match="do not fit"):  # recovery may differ only if allowed
        apply_finetune(ScOT(1, 3, **TINY), {**ok, "allow_mismatch": ["embedding.projection.*"]})
    with pytest.raises(ConfigError, match="matches no parameter"):
        apply_finetune(ScOT(1, 1, **TINY), {**ok, "freeze": ["encoderr.*"]})
    with pytest.raises(ConfigError, match="cannot be frozen"):
        apply_finetune(ScOT(2, 1, **TINY), {**ok, "freeze": ["embedding.*"]})
    with pytest.raises(ConfigError, match="every parameter is frozen"):
        apply_finetune(ScOT(1, 1, **TINY), {**ok, "freeze": ["*"]})
    with pytest.raises(ConfigError, match="unknown key 'frezee'"):
        apply_finetune(ScOT(1, 1, **TINY), {**ok, "frezee": ["*"]})
    with pytest.raises(ConfigError, match="holds a 'scot' model"):
        apply_finetune(ScOT(1, 1, **TINY), ok, model_name="scot_t")
    with pytest.raises(ConfigError, match="missing from"):  # extra level: names the file does not have
        apply_finetune(ScOT(1, 1, **{**TINY, "depths": [2, 1, 1]}), ok)
    report = apply_finetune(ScOT(1, 1, **{**TINY, "depths": [2, 1, 1]}), {**ok, "strict": False})
    assert any(n.startswith("encoder.0.1.") for n in report["missing"])
    with pytest.raises(DataError, match="not found"):
        apply_finetune(ScOT(1, 1, **TINY), {"checkpoint": str(tmp_path / "nope.ckpt")})
    with pytest.raises(ConfigError, match="checkpoint"):
        apply_finetune(ScOT(1, 1, **TINY), {"freeze": ["*"]})


def test_finetune_is_a_top_level_config_key():
    if "finetune" not in TOP_LEVEL_KEYS:
        pytest.skip("the config loader does not list 'finetune' yet (specsolve/config/loading.py TOP_LEVEL_KEYS)")
    cfg = load_config(None, ["finetune.checkpoint=x.ckpt", "finetune.freeze=[encoder.*]"])
    assert cfg.finetune.freeze == ["encoder.*"]

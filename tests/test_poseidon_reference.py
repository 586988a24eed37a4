"""scOT against Poseidon's own model code, through Poseidon-layout checkpoint directories.

The references are stored by ``tests/fixtures/make_poseidon_fixture.py`` (run on a local Poseidon checkout; its
docstring says how to regenerate): Poseidon's outputs for fixed weights and inputs, float64 and float32, for two tiny
configurations and the Poseidon-T preset. Each test writes the weights as a checkpoint directory in the Hugging Face
layout Poseidon publishes (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``), loads it with
:func:`specsolve.models.poseidon_checkpoint.load_poseidon_checkpoint` and compares ``forward(x, t)``.
"""

from __future__ import annotations

import fnmatch
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from make_poseidon_fixture import deterministic_input, deterministic_tensor  # noqa: E402

from specsolve.errors import ConfigError, DataError  # noqa: E402
from specsolve.models.poseidon_checkpoint import (  # noqa: E402
    is_poseidon_checkpoint,
    load_poseidon_checkpoint,
    poseidon_state_dict,
    scot_kwargs,
)
from specsolve.models.scot import ScOT  # noqa: E402

DATA = Path(__file__).parent / "data"
TINY = torch.load(DATA / "poseidon_reference_tiny.pt", weights_only=True)


def write_checkpoint(directory: Path, config_json: str, state: dict[str, torch.Tensor], fmt: str = "safetensors"):
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(config_json)
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
    else:
        torch.save(state, directory / "pytorch_model.bin")
    return directory


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours.double() - ref.double()).abs().max() / ref.double().abs().max()).item()


def inputs(case: dict, key: str) -> tuple[torch.Tensor, torch.Tensor]:
    spec = case["inputs"][key]
    x = deterministic_input(tuple(spec["shape"]))
    torch.testing.assert_close(
        torch.stack([x.sum(), x.square().sum()]), spec["checksum"], rtol=1e-10, atol=0
    )  # ulps of sin/cos differ by SIMD ISA
    return x, spec["t"]


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_tiny_configs_equal_poseidon(tmp_path, name, fmt):
    case = TINY[name]
    path = write_checkpoint(tmp_path / name, case["config_json"], case["weights"], fmt)
    assert is_poseidon_checkpoint(path)
    model = load_poseidon_checkpoint(path)
    assert next(model.parameters()).dtype == torch.float32 and not model.training
    assert sum(p.numel() for p in model.parameters()) == sum(v.numel() for v in case["weights"].values())
    for key in case["outputs64"]:  # the config's resolution and Fourier-resampled ones
        x, t = inputs(case, key)
        with torch.no_grad():
            out32 = model(x.float(), t.float())
            out64 = model.double()(x, t)
            model.float()
        assert out64.shape == case["outputs64"][key].shape
        assert relative_error(out64, case["outputs64"][key]) <= 1e-10, (name, key)
        assert relative_error(out32, case["outputs32"][key]) <= 1e-5, (name, key)


def test_poseidon_t_preset_checkpoint_loads_every_tensor_and_equals_poseidon(tmp_path):
    case = torch.load(DATA / "poseidon_reference_t.pt", weights_only=True)
    state = {n: deterministic_tensor(n, tuple(s)) for n, s in zip(case["names"], case["shapes"])}
    path = write_checkpoint(tmp_path / "poseidon-t", case["config_json"], state)
    model = load_poseidon_checkpoint(path, dtype=torch.float64)
    kwargs = scot_kwargs(json.loads(case["config_json"]))
    assert kwargs["embed_dim"] == 48 and kwargs["depths"] == (4, 4, 4, 4) and kwargs["image_size"] == 128
    # every Poseidon tensor has exactly one place in scot, and scot has no other tensor
    assert len(poseidon_state_dict(path)) == len(state) == len(model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == sum(math.prod(s) for s in case["shapes"]) == 20_774_444
    x, t = inputs(case, "n128")
    with torch.no_grad():
        out = model(x, t)
        ref = case["outputs64"]["n128"]
        assert relative_error(out, ref) <= 1e-10
        assert relative_error(model.float()(x.float(), t.float()), ref) <= 1e-5


def test_checkpoint_errors_name_what_does_not_fit(tmp_path):
    case = TINY["cond3"]
    weights = dict(case["weights"])
    extra = {**weights, "encoder.layers.0.blocks.0.attention.self.extra.weight": torch.zeros(2)}
    with pytest.raises(ConfigError, match=r"no place for: encoder\.layers\.0\.blocks\.0\.attention\.self\.extra"):
        load_poseidon_checkpoint(write_checkpoint(tmp_path / "extra", case["config_json"], extra))
    dropped = {k: v for k, v in weights.items() if k != "decoder.layers.1.upsample.mixup.weight"}
    with pytest.raises(ConfigError, match=r"missing unmerges\.0\.mixup\.weight$"):
        load_poseidon_checkpoint(write_checkpoint(tmp_path / "missing", case["config_json"], dropped))
    config = json.loads(case["config_json"])
    wider = json.dumps({**config, "embed_dim": 16, "num_heads": [1, 2, 4]})
    with pytest.raises(
        ConfigError,
        match=r"shape \(file vs model\) embedding\.projection\.weight \(8, 3, 4, 4\) vs \(16, 3, 4, 4\), .* and \d+ more$",
    ):
        load_poseidon_checkpoint(write_checkpoint(tmp_path / "wider", wider, weights))
    with pytest.raises(ConfigError, match="use_absolute_embeddings"):
        scot_kwargs({**config, "use_absolute_embeddings": True})
    with pytest.raises(ConfigError, match="not square"):
        scot_kwargs({**config, "image_size": [32, 16]})
    with pytest.raises(DataError, match="not a Poseidon checkpoint"):
        load_poseidon_checkpoint(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"xx")
    with pytest.raises(DataError, match="cannot read"):
        load_poseidon_checkpoint(tmp_path / "broken")


def test_scot_from_scratch_has_poseidons_structure_and_init():
    """A fresh scot of a Poseidon config has Poseidon's tensor names and shapes and its init statistics."""
    case = TINY["cond3"]
    torch.manual_seed(0)
    model = ScOT(**scot_kwargs(json.loads(case["config_json"])))
    from specsolve.models.poseidon_checkpoint import convert_state_dict

    mapped = convert_state_dict(case["weights"], levels=3)
    own = model.state_dict()
    assert {n: tuple(v.shape) for n, v in mapped.items()} == {n: tuple(v.shape) for n, v in own.items()}
    cln = torch.cat([own[n].flatten() for n in own if "norm" in n and n.endswith("weight.weight")])
    assert abs(cln.std().item() - 0.02) < 0.004  # Linear(1, dim) ~ N(0, 0.02), as in Poseidon
    assert all(own[n].abs().max() == 0 for n in own if "norm" in n and n.endswith(".bias") and "weight." in n)
    recovery = own["recovery.projection.weight"]  # ConvTranspose2d keeps PyTorch's default (not N(0, 0.02))
    bound = 1 / math.sqrt(recovery.shape[1] * recovery.shape[2] * recovery.shape[3])
    assert recovery.abs().max() <= bound and recovery.std() > 0.5 * bound / math.sqrt(3)


def test_load_pretrained_api_returns_poseidons_function(tmp_path):
    import specsolve

    case = TINY["cond3"]
    path = write_checkpoint(tmp_path / "ckpt", case["config_json"], case["weights"])
    model = specsolve.load_pretrained(path, dtype="float64")
    x, t = inputs(case, "n32")
    with torch.no_grad():
        assert relative_error(model(x, t), case["outputs64"]["n32"]) <= 1e-10
    with pytest.raises(ConfigError, match="dtype"):
        specsolve.load_pretrained(path, dtype="half")


def test_finetune_checkpoint_accepts_a_poseidon_directory(tmp_path):
    """``finetune.checkpoint: DIR`` of a training run: Poseidon's tensors land in scot (new input channels get a
    fresh embedding), the frozen ones stay Poseidon's exactly, the unfrozen ones train."""
    from omegaconf import OmegaConf
    from test_finetune import write_trajectories

    from specsolve.config.loading import load_config
    from specsolve.models.poseidon_checkpoint import convert_state_dict
    from specsolve.training.finetune import read_state_dict
    from specsolve.training.run import train

    case = TINY["cond3"]
    path = write_checkpoint(tmp_path / "poseidon", case["config_json"], case["weights"])
    poseidon = convert_state_dict(case["weights"], levels=3)
    model = {k: list(v) if isinstance(v, tuple) else v for k, v in scot_kwargs(json.loads(case["config_json"])).items()}
    for key in ("in_channels", "out_channels"):  # set from the data (2 channels in, 2 out)
        model.pop(key)
    data = write_trajectories(tmp_path / "two.h5", ["u", "v"])
    unfreeze = ["embedding.*", "recovery.*", "*norm*"]
    cfg = {
        "run_dir": str(tmp_path / "ft"),
        "data": {"name": "hdf5_all2all", "train": str(data), "inputs": ["u", "v"], "batch_size": 4},
        "model": {"name": "scot", **model},
        "optimizer": {"name": "adamw", "lr": 1e-2},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "accelerator": "cpu"},
        "finetune": {"checkpoint": str(path), "freeze": ["*"], "unfreeze": unfreeze},
    }
    result = train(OmegaConf.merge(load_config(None, []), cfg), progress=False)
    after, _ = read_state_dict(result["last"])
    assert after["embedding.projection.weight"].shape[1] == 2 and poseidon["embedding.projection.weight"].shape[1] == 3
    frozen = [n for n in poseidon if not any(fnmatch.fnmatchcase(n, p) for p in unfreeze)]
    assert len(frozen) > 50
    for name in frozen:
        assert torch.equal(after[name], poseidon[name]), name
    assert not torch.equal(after["recovery.mixup.weight"], poseidon["recovery.mixup.weight"])

    import specsolve  # a specsolve checkpoint: load_pretrained gives its module (model + normalisation)

    module = specsolve.load_pretrained(result["last"], dtype="float64")
    assert not module.training and module.model.embedding.projection.weight.dtype == torch.float64
    torch.testing.assert_close(module.model.recovery.mixup.weight, after["recovery.mixup.weight"].double())
    with torch.no_grad():
        out = module(torch.zeros(1, 2, 32, 32, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    assert out.shape == (1, 2, 32, 32) and torch.isfinite(out).all()

"""Per-parameter-group optimizer settings (``optimizer.param_groups``), e.g. Poseidon's fine-tuning rates."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from tiny_models import TINY_SCOT

from specsolve.config.loading import load_config
from specsolve.errors import ConfigError
from specsolve.models.scot import EMBEDDING_RECOVERY, POSEIDON_PARAM_GROUPS, TIME_CONDITIONING, ScOT
from specsolve.registry import get
from specsolve.training.optim.param_groups import build_param_groups, check_param_groups

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
TINY = TINY_SCOT
POSEIDON_GROUPS = [{"params": EMBEDDING_RECOVERY + TIME_CONDITIONING, "lr": 5e-4}]


def test_groups_split_every_parameter_once_first_match_wins():
    model = ScOT(2, 2, **TINY)
    groups = build_param_groups(
        model.named_parameters(), check_param_groups(POSEIDON_GROUPS, get("optimizer", "adamw"))
    )
    assert [set(g) - {"params"} for g in groups] == [set(), {"lr"}] and groups[1]["lr"] == 5e-4
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # a partition
    fast = {id(p) for p in groups[1]["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in fast}
    assert "embedding.projection.weight" in names and "recovery.mixup.weight" in names
    assert "encoder.0.0.norm_mlp.weight.weight" in names and "skip_blocks.0.0.norm.bias.bias" in names
    assert "encoder.0.0.attention.query.weight" not in names and "encoder.0.0.mlp.0.weight" not in names
    groups = build_param_groups(
        model.named_parameters(), check_param_groups(POSEIDON_PARAM_GROUPS, adamw := get("optimizer", "adamw"))
    )
    by_name = {
        n: i for i, g in enumerate(groups) for n, p in model.named_parameters() if any(p is q for q in g["params"])
    }
    assert by_name["embedding.norm.weight.weight"] == by_name["recovery.mixup.weight"] == 1  # lr 5e-4, decayed
    assert by_name["encoder.0.0.norm_mlp.bias.bias"] == 2 and groups[2]["weight_decay"] == 0.0  # time conditioning
    assert by_name["encoder.0.0.mlp.0.bias"] == 3 and by_name["encoder.0.0.mlp.0.weight"] == 0  # no decay / body
    assert by_name["encoder.0.0.attention.logit_scale"] == 0 and "lr" not in groups[3]
    two = [{"params": ["embedding.*"], "lr": 1.0}, {"params": ["embedding.*", "recovery.*"], "lr": 2.0}]
    groups = build_param_groups(model.named_parameters(), check_param_groups(two, adamw))
    assert [len(g["params"]) for g in groups[1:]] == [6, 3]  # embedding (conv + norm) in the first group only


def test_bad_param_groups():
    adamw = get("optimizer", "adamw")
    with pytest.raises(ConfigError, match="unknown key 'momentum'"):
        check_param_groups([{"params": ["a*"], "momentum": 0.9}], adamw)
    with pytest.raises(ConfigError, match="'params' list"):
        check_param_groups([{"lr": 1.0}], adamw)
    with pytest.raises(ConfigError, match="must be a list"):
        check_param_groups({"params": ["a"]}, adamw)
    with pytest.raises(ConfigError, match="must be a number"):
        check_param_groups([{"params": ["a*"], "lr": "fast"}], adamw)
    model = ScOT(2, 2, **TINY)
    with pytest.raises(ConfigError, match="pattern 'embeding.\\*' matches no parameter"):
        build_param_groups(model.named_parameters(), check_param_groups([{"params": ["embeding.*"]}], adamw))
    with pytest.raises(ConfigError, match="param_groups"):  # found when the run config is validated
        from specsolve.training.run import validate_components

        cfg = OmegaConf.merge(
            load_config(None, []),
            {"data": {"name": "hdf5_all2all", "train": "x.h5", "inputs": ["u"]}, "model": {"name": "scot"}},
        )
        cfg.optimizer = {"name": "adamw", "param_groups": [{"params": ["a*"], "betas": True}]}
        validate_components(cfg)


def test_finetuning_a_poseidon_checkpoint_with_poseidons_group_rates(tmp_path):
    """Fine-tune a Poseidon-layout checkpoint from a config with per-group rates: after two Adam steps every body
    tensor moved by at most 2 x its rate (1e-5) and the embedding / recovery / conditional norms by ~100x more."""
    from test_finetune import write_trajectories
    from test_poseidon_reference import TINY as REFERENCE
    from test_poseidon_reference import write_checkpoint

    from specsolve.models.poseidon_checkpoint import convert_state_dict, scot_kwargs
    from specsolve.training.finetune import read_state_dict
    from specsolve.training.run import train

    case = REFERENCE["cond3"]
    path = write_checkpoint(tmp_path / "poseidon", case["config_json"], case["weights"])
    start = convert_state_dict(case["weights"], levels=3)
    model = {k: list(v) if isinstance(v, tuple) else v for k, v in scot_kwargs(json.loads(case["config_json"])).items()}
    model.pop("in_channels"), model.pop("out_channels")
    data = write_trajectories(tmp_path / "three.h5", ["u", "v", "w"])  # 3 in, 3 out: a fresh recovery
    cfg = {
        "run_dir": str(tmp_path / "ft"),
        "data": {"name": "hdf5_all2all", "train": str(data), "inputs": ["u", "v", "w"], "batch_size": 4},
        "model": {"name": "scot", **model},
        "optimizer": {"name": "adam", "lr": 1e-5, "param_groups": [{**POSEIDON_GROUPS[0], "lr": 1e-3}]},
        "scheduler": {"name": "none"},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "accelerator": "cpu"},
        "finetune": {"checkpoint": str(path)},
    }
    result = train(OmegaConf.merge(load_config(None, []), cfg), progress=False)
    after, _ = read_state_dict(result["last"])
    fast = [n for n in start if any(fnmatch.fnmatchcase(n, p) for p in POSEIDON_GROUPS[0]["params"])]
    body = [n for n in start if n not in fast]
    assert len(fast) > 30 and len(body) > 50
    step = {n: (after[n] - start[n]).abs().max().item() for n in start if after[n].shape == start[n].shape}
    assert max(step[n] for n in body) <= 2e-5 * 1.01 and max(step[n] for n in body) > 0.5e-5
    assert max(step[n] for n in fast if n in step) > 0.5e-3

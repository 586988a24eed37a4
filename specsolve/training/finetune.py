"""Fine-tuning from a pretrained checkpoint: the run config's ``finetune`` section.

::

    finetune:
      checkpoint: runs/pretrain/checkpoints/last.ckpt   # a specsolve checkpoint or a plain state dict (local file),
                                                         # or a Poseidon checkpoint directory (config.json + weights),
                                                         # a specsolve hub directory, or hf://ORG/NAME[@REVISION]
      freeze: ["*"]                                      # fnmatch patterns over parameter names
      unfreeze: ["embedding.*", "recovery.*", "*norm*"]  # applied after freeze: these stay trainable
      allow_mismatch: ["embedding.projection.*", "recovery.*"]   # the default

The model is built as usual from the ``model`` section with the new data's channel counts; the pretrained tensors
are then copied by name. Tensors whose shape differs (the patch embedding and recovery of a model fine-tuned on a
different number of channels, Poseidon's ``--replace_embedding_recovery``) keep their fresh initialisation, but only
where a pattern of ``allow_mismatch`` names them: any other mismatch, and any missing or unexpected name (unless
``strict: false``), is a :class:`ConfigError`, never a silent re-initialisation. Then every parameter matching a
``freeze`` pattern gets ``requires_grad = False`` unless it matches an ``unfreeze`` pattern; patterns that match no
parameter are errors (typos), and so is freezing a freshly initialised tensor. The optimizer skips frozen parameters
(they never receive gradients). Checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from specsolve.errors import ConfigError
from specsolve.nn.state_dict import match_state_dict, model_tensors

FINETUNE_KEYS = ("checkpoint", "freeze", "unfreeze", "allow_mismatch", "strict")
DEFAULT_ALLOW_MISMATCH = ["embedding.projection.*", "recovery.*"]


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _patterns(section: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = section.get(key, default)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError(f"finetune.{key} must be a list of name patterns, got {value!r}")
    return list(value)


def finetune_options(section: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a ``finetune`` section; returns ``{checkpoint, freeze, unfreeze, allow_mismatch, strict}``."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"finetune must be a mapping, got {type(section).__name__}")
    unknown = [k for k in section if k not in FINETUNE_KEYS]
    if unknown:
        raise ConfigError(f"finetune: unknown key '{unknown[0]}'; valid keys: {', '.join(FINETUNE_KEYS)}")
    checkpoint = section.get("checkpoint")
    if not isinstance(checkpoint, str) or not checkpoint:
        raise ConfigError(
            "finetune.checkpoint must be a checkpoint file, a Poseidon or hub directory, or hf://ORG/NAME"
        )
    strict = section.get("strict", True)
    if not isinstance(strict, bool):
        raise ConfigError(f"finetune.strict must be true or false, got {strict!r}")
    return {
        "checkpoint": checkpoint,
        "freeze": _patterns(section, "freeze", []),
        "unfreeze": _patterns(section, "unfreeze", []),
        "allow_mismatch": _patterns(section, "allow_mismatch", DEFAULT_ALLOW_MISMATCH),
        "strict": strict,
    }


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str | None]:
    """The model tensors of a checkpoint (``model.`` prefix removed) and its model name, if recorded.

    ``hf://ORG/NAME`` is resolved in the huggingface_hub cache first (:mod:`specsolve.training.hub`). A Poseidon
    checkpoint directory gives its tensors under scot's names
    (:func:`specsolve.models.poseidon_checkpoint.poseidon_state_dict`), a specsolve hub directory its model's."""
    from specsolve.models.poseidon_checkpoint import is_poseidon_checkpoint, poseidon_state_dict
    from specsolve.training.hub import hub_model_tensors, is_hub_dir, resolve_pretrained

    p = resolve_pretrained(path)
    if is_poseidon_checkpoint(p):
        return poseidon_state_dict(p), None
    if is_hub_dir(p):
        return hub_model_tensors(p)
    state, raw = model_tensors(p, "finetune.checkpoint")
    name = None
    if isinstance(raw.get("hyper_parameters"), dict):
        name = ((raw["hyper_parameters"].get("config") or {}).get("model") or {}).get("name")
    return state, name


def load_pretrained(
    model: nn.Module, path: str | Path, allow_mismatch: list[str], strict: bool = True, model_name: str | None = None
) -> dict[str, list[str]]:
    """Copy the tensors of ``path`` into ``model`` by name; returns ``{loaded, mismatched, missing, unexpected}``.

    ``mismatched`` (shape differs: kept as initialised) must all match ``allow_mismatch``; with ``strict``,
    ``missing`` (in the model, not in the file) and ``unexpected`` (in the file, not in the model) must be empty.
    """
    state, saved_name = read_state_dict(path)
    if model_name is not None and saved_name is not None and saved_name != model_name:
        raise ConfigError(f"finetune: {path} holds a '{saved_name}' model, the config builds '{model_name}'")
    own = model.state_dict()
    usable, report = match_state_dict(model, state)
    bad = [n for n in report["mismatched"] if not _matches(n, allow_mismatch)]
    if bad:
        raise ConfigError(
            f"finetune: {len(bad)} tensor(s) of {path} do not fit the model's shapes, e.g. '{bad[0]}' "
            f"{tuple(state[bad[0]].shape)} vs {tuple(own[bad[0]].shape)} (allow_mismatch: {allow_mismatch})"
        )
    if strict and (report["missing"] or report["unexpected"]):
        missing = bool(report["missing"])
        kind, names = ("missing from", report["missing"]) if missing else ("unexpected in", report["unexpected"])
        raise ConfigError(
            f"finetune: {len(names)} tensor name(s) {kind} {path}, e.g. '{names[0]}' (a different architecture? "
            "set finetune.strict=false to load the matching part)"
        )
    if not usable:
        raise ConfigError(f"finetune: no tensor of {path} matches the model")
    model.load_state_dict(usable, strict=False)
    return report


def set_trainable(
    model: nn.Module, freeze: list[str], unfreeze: list[str], fresh: list[str] | None = None
) -> list[str]:
    """``requires_grad = not (matches freeze and not matches unfreeze)`` per parameter; returns trainable names.

    Every pattern must match at least one parameter; a parameter in ``fresh`` (just initialised) cannot be frozen.
    """
    names = [n for n, _ in model.named_parameters()]
    for key, patterns in (("freeze", freeze), ("unfreeze", unfreeze)):
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise ConfigError(f"finetune.{key}: pattern '{pattern}' matches no parameter (e.g. '{names[0]}')")
    trainable = []
    for name, param in model.named_parameters():
        frozen = _matches(name, freeze) and not _matches(name, unfreeze)
        if frozen and name in (fresh or []):
            raise ConfigError(f"finetune: '{name}' was re-initialised for the new channel counts and cannot be frozen")
        param.requires_grad_(not frozen)
        if not frozen:
            trainable.append(name)
    if not trainable:
        raise ConfigError("finetune: every parameter is frozen; unfreeze some (finetune.unfreeze)")
    return trainable


def apply_finetune(
    model: nn.Module, section: Mapping[str, Any], load: bool = True, model_name: str | None = None
) -> dict[str, Any]:
    """Apply a ``finetune`` config section to ``model`` in place (see the module docstring).

    ``load=False`` only sets the frozen groups (resuming a fine-tuning run: its own checkpoint holds the weights).
    Returns the load report plus ``trainable`` (parameter names) and ``n_trainable`` / ``n_total`` (counts).
    """
    opts = finetune_options(section)
    report: dict[str, Any] = {}
    if load:
        report = load_pretrained(model, opts["checkpoint"], opts["allow_mismatch"], opts["strict"], model_name)
    fresh = [n for n in report.get("mismatched", []) + report.get("missing", [])]
    report["trainable"] = set_trainable(model, opts["freeze"], opts["unfreeze"], fresh)
    params = dict(model.named_parameters())
    report["n_trainable"] = sum(params[n].numel() for n in report["trainable"])
    report["n_total"] = sum(p.numel() for p in params.values())
    return report

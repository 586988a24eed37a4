"""Poseidon checkpoints (Hugging Face layout) as :class:`~specsolve.models.scot.ScOT` models.

A Poseidon checkpoint directory (as published for Poseidon-T/B/L, or written by Poseidon's ``save_pretrained``)
holds ``config.json`` (a ``ScOTConfig``) and the weights in ``model.safetensors``, a sharded
``model.safetensors.index.json``, or ``pytorch_model.bin``. :func:`load_poseidon_checkpoint` builds the scOT that
the config describes (any depths, widths, heads, channels, window, patch and image sizes) and copies every tensor
by name and shape; anything that does not fit is one :class:`~specsolve.errors.ConfigError` line naming it.

Name map (Poseidon -> specsolve), ``L`` levels::

    embeddings.patch_embeddings.projection.*        embedding.projection.*
    embeddings.norm.*                               embedding.norm.*
    encoder.layers.i.blocks.b.<block>               encoder.i.b.<block>
    encoder.layers.i.downsample.{reduction,norm}.*  merges.i.{reduction,norm}.*
    decoder.layers.k.blocks.b.<block>               decoder.(L-1-k).b.<block>      (Poseidon lists levels deepest first)
    decoder.layers.k.upsample.{upsample,norm,mixup} unmerges.(L-2-k).{expansion,norm,mixup}
    residual_blocks.i.j.{dwconv,norm,pwconv1,pwconv2}.*, .weight   skip_blocks.i.j.<same>, .layer_scale
    patch_recovery.{projection,mixup}.*             recovery.{projection,mixup}.*
    <block>: attention.self.{logit_scale,query,key,value,continuous_position_bias_mlp} -> attention.{logit_scale,
             query,key,value,cpb_mlp}; attention.output.dense -> attention.proj; layernorm_before -> norm_attention;
             intermediate.dense -> mlp.0; output.dense -> mlp.2; layernorm_after -> norm_mlp

The tensors need no reordering: :class:`~specsolve.nn.swin.PatchUnmerging` uses Poseidon's pixel-shuffle order and
the decoder Poseidon's block order. The derived attention buffers (``relative_coords_table``,
``relative_position_index``), if a file holds them, are recomputed and not read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from specsolve.errors import ConfigError, DataError
from specsolve.io import read_json_object
from specsolve.models.scot import ScOT

CONFIG = "config.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
DERIVED_BUFFERS = ("relative_coords_table", "relative_position_index")

_BLOCK = {
    "attention.self.logit_scale": "attention.logit_scale",
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.self.continuous_position_bias_mlp": "attention.cpb_mlp",
    "attention.output.dense": "attention.proj",
    "layernorm_before": "norm_attention",
    "intermediate.dense": "mlp.0",
    "output.dense": "mlp.2",
    "layernorm_after": "norm_mlp",
}


def is_poseidon_checkpoint(path: str | Path) -> bool:
    """True for a directory with ``config.json`` and one of the weight files."""
    p = Path(path)
    return p.is_dir() and (p / CONFIG).is_file() and any((p / f).is_file() for f in WEIGHT_FILES)


def _square(value: Any, key: str) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ConfigError(f"Poseidon config: {key} {value} is not square; scot needs square sizes")
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"Poseidon config: {key} must be an integer, got {value!r}")
    return value


def scot_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """:class:`ScOT` keyword arguments for a Poseidon ``ScOTConfig`` (the mapping of its ``config.json``).

    Missing keys take ``ScOTConfig``'s defaults; options scot cannot reproduce are a :class:`ConfigError`.
    """
    c = dict(config)

    def get(key: str, default: Any) -> Any:
        return c.get(key, default)

    unsupported = []
    if get("use_absolute_embeddings", False):
        unsupported.append("use_absolute_embeddings=true")
    if get("residual_model", "convnext") != "convnext":
        unsupported.append(f"residual_model={get('residual_model', None)!r}")
    if get("hidden_act", "gelu") != "gelu":
        unsupported.append(f"hidden_act={get('hidden_act', None)!r}")
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if get(key, 0.0):
            unsupported.append(f"{key}={get(key, 0.0)}")
    if unsupported:
        raise ConfigError(f"Poseidon config: scot does not implement {', '.join(unsupported)}")
    depths = [int(d) for d in get("depths", [2, 2, 6, 2])]
    conditioning = bool(get("use_conditioning", False))
    return dict(
        in_channels=int(get("num_channels", 3)),
        out_channels=int(get("num_out_channels", 1)),
        embed_dim=int(get("embed_dim", 96)),
        depths=tuple(depths),
        num_heads=tuple(int(h) for h in get("num_heads", [3, 6, 12, 24])),
        skip_connections=tuple(int(s) for s in get("skip_connections", [True, True, True])),
        patch_size=_square(get("patch_size", 4), "patch_size"),
        window_size=_square(get("window_size", 7), "window_size"),
        mlp_ratio=float(get("mlp_ratio", 4.0)),
        time_conditioning=conditioning,
        learn_residual=bool(get("learn_residual", False)) and conditioning,  # ScOTConfig drops it otherwise
        drop_path=float(get("drop_path_rate", 0.1)),
        qkv_bias=bool(get("qkv_bias", True)),
        image_size=_square(get("image_size", 224), "image_size"),
        layer_norm_eps=float(get("layer_norm_eps", 1e-5)),
    )


def specsolve_name(name: str, levels: int) -> str | None:
    """The specsolve parameter name of Poseidon's ``name`` (None if it is not a scot tensor)."""
    m = re.fullmatch(r"(encoder|decoder)\.layers\.(\d+)\.blocks\.(\d+)\.(.+)", name)
    if m:
        part, k, b, rest = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        level = k if part == "encoder" else levels - 1 - k
        for old, new in _BLOCK.items():
            if rest == old or rest.startswith(old + "."):
                return f"{part}.{level}.{b}.{new}{rest[len(old) :]}"
        return None
    m = re.fullmatch(r"encoder\.layers\.(\d+)\.downsample\.((?:reduction|norm)\..+)", name)
    if m:
        return f"merges.{m.group(1)}.{m.group(2)}"
    m = re.fullmatch(r"decoder\.layers\.(\d+)\.upsample\.(upsample|norm|mixup)\.(.+)", name)
    if m:
        sub = {"upsample": "expansion"}.get(m.group(2), m.group(2))
        return f"unmerges.{levels - 2 - int(m.group(1))}.{sub}.{m.group(3)}"
    m = re.fullmatch(r"residual_blocks\.(\d+)\.(\d+)\.(.+)", name)
    if m:
        rest = "layer_scale" if m.group(3) == "weight" else m.group(3)
        return f"skip_blocks.{m.group(1)}.{m.group(2)}.{rest}"
    for old, new in (
        ("embeddings.patch_embeddings.projection.", "embedding.projection."),
        ("embeddings.norm.", "embedding.norm."),
        ("patch_recovery.", "recovery."),
    ):
        if name.startswith(old):
            return new + name[len(old) :]
    return None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError("reading model.safetensors needs the 'safetensors' package (pip install safetensors)") from exc
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc


def read_poseidon_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a Poseidon checkpoint directory, under Poseidon's names."""
    p = Path(path)
    if (p / "model.safetensors").is_file():
        return _read_safetensors(p / "model.safetensors")
    if (p / "model.safetensors.index.json").is_file():
        index = read_json_object(p / "model.safetensors.index.json").get("weight_map")
        if not isinstance(index, dict):
            raise DataError(f"{p / 'model.safetensors.index.json'} has no weight_map")
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(index.values())):
            state.update(_read_safetensors(p / shard))
        return state
    if (p / "pytorch_model.bin").is_file():
        try:
            state = torch.load(p / "pytorch_model.bin", map_location="cpu", weights_only=True)
        except Exception as exc:
            raise DataError(f"cannot read {p / 'pytorch_model.bin'}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise DataError(f"{p / 'pytorch_model.bin'} holds no state dict of tensors")
        return state
    raise DataError(f"{p} is not a Poseidon checkpoint directory (config.json and one of {', '.join(WEIGHT_FILES)})")


def convert_state_dict(state: Mapping[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """Poseidon-named tensors -> specsolve names; a name that maps to nothing is a :class:`ConfigError`."""
    out, unknown = {}, []
    for name, tensor in state.items():
        if name.rsplit(".", 1)[-1] in DERIVED_BUFFERS:
            continue
        new = specsolve_name(name, levels)
        if new is None:
            unknown.append(name)
        else:
            out[new] = tensor
    if unknown:
        raise ConfigError(f"Poseidon checkpoint: {len(unknown)} tensor(s) scot has no place for: {_listing(unknown)}")
    return out


def load_state_into(model: ScOT, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy specsolve-named ``state`` into ``model``: every tensor, every name, every shape, or a ConfigError."""
    own = model.state_dict()
    missing = [n for n in own if n not in state]
    unexpected = [n for n in state if n not in own]
    mismatched = [
        f"{n} {tuple(state[n].shape)} vs {tuple(own[n].shape)}"
        for n in own
        if n in state and state[n].shape != own[n].shape
    ]
    problems = [
        f"{what} {_listing(names)}"
        for what, names in (("missing", missing), ("unexpected", unexpected), ("shape (file vs model)", mismatched))
        if names
    ]
    if problems:
        raise ConfigError(f"Poseidon {source} does not fit the scot its config describes: {'; '.join(problems)}")
    model.load_state_dict({n: t.to(own[n].dtype) for n, t in state.items()})


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def poseidon_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A Poseidon checkpoint directory's tensors under specsolve's names (for ``finetune.checkpoint``)."""
    p = Path(path)
    config = read_json_object(p / CONFIG)
    levels = len(config.get("depths", [2, 2, 6, 2]))
    return convert_state_dict(read_poseidon_weights(p), levels)


def load_poseidon_checkpoint(path: str | Path, dtype: torch.dtype | None = None) -> ScOT:
    """Build the :class:`ScOT` that ``path/config.json`` describes and load all of its tensors (eval mode).

    ``dtype``: of the returned model (default: that of the stored weights). ``forward(x, t)`` then computes
    Poseidon's ``ScOT(pixel_values=x, time=t).output``.
    """
    p = Path(path)
    if not is_poseidon_checkpoint(p):
        raise DataError(
            f"{p} is not a Poseidon checkpoint directory (config.json and one of {', '.join(WEIGHT_FILES)})"
        )
    kwargs = scot_kwargs(read_json_object(p / CONFIG))
    with torch.device("meta"):  # shapes only: every tensor comes from the file
        model = ScOT(**kwargs)
    state = poseidon_state_dict(p)
    floats = [t.dtype for t in state.values() if t.is_floating_point()]
    model = model.to_empty(device="cpu").to(dtype or (floats[0] if floats else torch.float32))
    load_state_into(model, state, str(p))
    return model.eval()

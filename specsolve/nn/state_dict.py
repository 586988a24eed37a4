"""Reading checkpoint files safely and matching a saved state dict to a model by tensor name and shape (shared by
scOT's loader, fine-tuning and the checkpoint loader)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from specsolve.errors import DataError, SpecsolveError
from specsolve.io import existing_file


def match_state_dict(model: nn.Module, state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, list[str]]]:
    """The tensors of ``state`` that fit ``model`` (same name and shape), and the name lists ``{"loaded",
    "mismatched" (shape differs), "missing" (in the model only), "unexpected" (in ``state`` only)}``."""
    own = model.state_dict()
    report: dict[str, list[str]] = {"loaded": [], "mismatched": [], "missing": [], "unexpected": []}
    usable = {}
    for name, value in state.items():
        if name not in own:
            report["unexpected"].append(name)
        elif own[name].shape != value.shape:
            report["mismatched"].append(name)
        else:
            usable[name] = value
            report["loaded"].append(name)
    report["missing"] = [k for k in own if k not in state]
    return usable, report


def load_weights_only(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU with one-line errors: ``what`` names the file in them; a
    pickle that carries code is refused (:class:`SpecsolveError`), a missing / unreadable file is a
    :class:`DataError`."""
    p = existing_file(path, what, f"{what} path")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SpecsolveError(
            f"refusing to load {p}: it is not a plain-weights checkpoint ({str(exc).splitlines()[0]})"
        ) from exc
    except Exception as exc:
        raise DataError(f"cannot read checkpoint {p}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc


def model_tensors(path: str | Path, what: str = "checkpoint") -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The model tensors of a checkpoint file and its top-level dict (empty for a bare state dict).

    A specsolve/Lightning checkpoint (``state_dict`` with ``model.`` prefixes) gives its model tensors with the
    prefix removed (normalisation buffers and losses dropped); a plain state dict is returned as it is.
    """
    raw = load_weights_only(path, what)
    nested = isinstance(raw, dict) and "state_dict" in raw
    state = raw["state_dict"] if nested else raw
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise DataError(f"{path} holds no state dict of tensors")
    if any(k.startswith("model.") for k in state):
        state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    return state, (raw if nested else {})

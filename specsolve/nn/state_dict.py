"""Matching a saved state dict to a model by tensor name and shape (shared by scOT's loader and fine-tuning)."""

from __future__ import annotations

from torch import Tensor, nn


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

"""Safe checkpoint loading: ``torch.load(weights_only=True)`` only; the model is rebuilt from the saved config."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from specsolve.errors import DataError, SpecsolveError


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file with ``weights_only=True`` (a pickle carrying code is refused)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"checkpoint not found: {p}")
    if p.is_dir():
        raise DataError(f"checkpoint path is a directory, not a file: {p}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SpecsolveError(
            f"refusing to load {p}: it is not a plain-weights checkpoint ({str(exc).splitlines()[0]})"
        ) from exc
    except Exception as exc:
        raise DataError(f"cannot read checkpoint {p}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise DataError(f"{p} is not a specsolve checkpoint (no state_dict / hyper_parameters)")
    return ckpt


def load_module(path: str | Path):
    """Rebuild the :class:`OperatorModule` of a checkpoint in eval mode; returns ``(module, hyper_parameters)``."""
    from specsolve.training.module import OperatorModule

    ckpt = read_checkpoint(path)
    hp = ckpt["hyper_parameters"]
    module = OperatorModule(hp["config"], hp["in_channels"], hp["out_channels"], layout=hp.get("layout"))
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise DataError(f"checkpoint {path} does not match its model config: {first}") from exc
    module.eval()
    return module, hp

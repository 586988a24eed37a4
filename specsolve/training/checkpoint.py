"""Safe checkpoint loading: ``torch.load(weights_only=True)`` only; the model is rebuilt from the saved config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specsolve.errors import DataError
from specsolve.nn.state_dict import load_weights_only


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file with ``weights_only=True`` (a pickle carrying code is refused)."""
    p = Path(path)
    ckpt = load_weights_only(p)
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

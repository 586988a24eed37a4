"""Activation checkpointing of a model's blocks (``activation_checkpointing=True`` of scOT, ST-FNO and FNO).

A checkpointed block keeps only its inputs for the backward pass and runs its forward a second time there
(``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``, which restores the RNG state, so stochastic depth
draws the same mask): the activations saved inside the block are traded for one more forward of it. Outputs and
gradients are those of the plain call; no parameter or buffer is added, so state dicts do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint


def checkpointed(enabled: bool, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, checkpointed when ``enabled`` and autograd is recording (no-grad calls run it plainly)."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)

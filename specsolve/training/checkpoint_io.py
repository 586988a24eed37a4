"""Checkpoint I/O that writes through :func:`specsolve.io.atomic_path`, so a kill never leaves a torn checkpoint."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from specsolve.io import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with an atomic save: write a ``.partial`` file beside the target, then ``os.replace``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        with atomic_path(path) as partial:
            super().save_checkpoint(checkpoint, partial, storage_options)

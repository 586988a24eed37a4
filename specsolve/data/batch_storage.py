"""The storage a batch is built in: what a DataLoader worker hands to the main process as it is, and what a loader
thread (:class:`specsolve.data.modules.loaders.ThreadedDataLoader`) hands to the training loop as it is."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import get_worker_info

_thread = threading.local()  # in a loader thread: ``fresh``, the data pointers of the batch storages it made


def shared_buffer(numel: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """A 1-D tensor of ``numel`` elements in a new storage for one batch: shared memory in a DataLoader worker
    (what it hands over to the main process as it is); elsewhere an ordinary one, which a loader thread marks as
    its batch storage (:func:`is_fresh_batch_storage`)."""
    if get_worker_info() is None:
        buffer = torch.empty(numel, dtype=dtype)
        fresh = getattr(_thread, "fresh", None)
        if fresh is not None:
            fresh.add(buffer.untyped_storage().data_ptr())
        return buffer
    empty = torch.empty(0, dtype=dtype)
    return empty.new(empty._typed_storage()._new_shared(numel))


def in_loader_thread() -> bool:
    """Whether this thread builds batches for a :class:`~specsolve.data.modules.loaders.ThreadedDataLoader`."""
    return getattr(_thread, "fresh", None) is not None


def is_fresh_batch_storage(storage: torch.UntypedStorage) -> bool:
    """Whether ``storage`` was made by :func:`shared_buffer` for the batch this loader thread is building (so that
    its views may be handed over uncopied: nothing else holds it)."""
    fresh = getattr(_thread, "fresh", None)
    return fresh is not None and storage.data_ptr() in fresh


def build_batch(fetch: Callable[[list[int]], Any], indices: list[int]) -> Any:
    """``fetch(indices)`` in a loader thread: the batch storages it makes are marked fresh for its collate only."""
    _thread.fresh = set()
    try:
        return fetch(indices)
    finally:
        _thread.fresh = None

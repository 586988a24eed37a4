"""The storage a DataLoader worker builds a batch in: what it hands to the main process as it is."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import get_worker_info


def shared_buffer(numel: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """A 1-D tensor of ``numel`` elements in a new shared-memory storage (what a DataLoader worker hands over to the
    main process as it is); outside a worker, an ordinary one."""
    if get_worker_info() is None:
        return torch.empty(numel, dtype=dtype)
    empty = torch.empty(0, dtype=dtype)
    return empty.new(empty._typed_storage()._new_shared(numel))

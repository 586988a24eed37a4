"""Samplers whose order depends only on (seed, epoch), so a resumed run sees the same batches as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler[int]):
    """A random permutation of ``range(n)`` drawn from ``torch.Generator().manual_seed(seed + epoch)``.

    Lightning calls :meth:`set_epoch` at the start of every epoch (as for ``DistributedSampler``, which replaces
    this sampler under DDP and is seeded the same way), so the order never depends on the global RNG state.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n

"""Parts shared by the DataModules: DataLoaders per split (epoch-seeded shuffling for training) and the handling of
splits stored as several trajectory files (shards)."""

from __future__ import annotations

import bisect
import collections
import glob
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, default_collate, get_worker_info

from specsolve.data.augmentation import AugmentedDataset, BoundAugmentation, EpochTaggedSampler
from specsolve.data.batch_storage import build_batch, in_loader_thread, is_fresh_batch_storage, shared_buffer
from specsolve.data.sampling import EpochSeededSampler
from specsolve.errors import ConfigError, DataError


def shard_paths(pattern: str) -> list[str]:
    """The files of one split: ``pattern`` itself, or every file matching it when it is a glob (shards)."""
    if not any(ch in pattern for ch in "*?["):
        return [pattern]
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise DataError(f"no data files match {pattern}")
    return paths


class ConcatBatches(ConcatDataset):
    """A ``ConcatDataset`` whose batched fetch (``__getitems__``) hands each part its own indices at once, so that
    a part's batched read (e.g. :class:`specsolve.data.fields.AdvisedBatches`) is used; items keep their order."""

    def __getitems__(self, indices: list[int]) -> list[Any]:
        groups: dict[int, list[tuple[int, int]]] = {}
        for position, index in enumerate(indices):
            if index < 0:
                index += len(self)
            part = bisect.bisect_right(self.cumulative_sizes, index)
            local = index - (self.cumulative_sizes[part - 1] if part else 0)
            groups.setdefault(part, []).append((position, local))
        items: list[Any] = [None] * len(indices)
        for part, members in groups.items():
            dataset = self.datasets[part]
            local = [i for _, i in members]
            fetch = getattr(dataset, "__getitems__", None)
            for (position, _), item in zip(members, fetch(local) if callable(fetch) else [dataset[i] for i in local]):
                items[position] = item
        return items


def merge_shards(parts: list[Any]) -> Dataset:
    """One dataset over the shards of a split (each with ``info`` and ``spatial_shape``), describing itself like
    its first part."""
    if len(parts) == 1:
        return parts[0]
    merged = ConcatBatches(parts)
    merged.info = parts[0].info  # type: ignore[attr-defined]  # shared description (dims, channels, coords)
    merged.spatial_shape = parts[0].spatial_shape  # type: ignore[attr-defined]
    return merged


class _SkipFirst:
    """Stands in for a batch sampler's sampler for one iteration, dropping its first ``n`` indices, then puts the
    sampler back. The sampler itself (an :class:`EpochSeededSampler`, or the ``DistributedSampler`` Lightning
    puts in its place under DDP: ``n`` then counts this rank's indices) keeps receiving ``set_epoch``."""

    def __init__(self, batch_sampler: Any, n: int) -> None:
        self.batch_sampler, self.sampler, self.n = batch_sampler, batch_sampler.sampler, n

    def __iter__(self) -> Iterator[int]:
        self.batch_sampler.sampler = self.sampler  # one iteration only
        return itertools.islice(iter(self.sampler), self.n, None)

    def __len__(self) -> int:
        return len(self.sampler)


class ThreadedDataLoader(DataLoader):
    """A ``DataLoader`` that can build its batches in ``threads`` threads of this process instead of worker
    processes (``num_workers`` must then be 0): no shared-memory transfer, which on a machine short of cores costs
    more than the reads (a fresh shared-memory page costs several times a private one). Each batch is
    ``collate_fn(dataset.__getitems__(indices))`` (or the items one by one), ``2 * threads`` batches in flight,
    delivered in the batch sampler's order; an error in a batch is raised when that batch is due. The readers' file
    reads (``preadv``) and numpy / torch work release the GIL. ``threads=0``: the ``DataLoader`` itself."""

    def __init__(self, dataset: Dataset, *args: Any, threads: int = 0, **kwargs: Any) -> None:
        super().__init__(dataset, *args, **kwargs)
        if threads < 0 or (threads and self.num_workers):
            raise ConfigError(f"threads={threads} needs num_workers=0 and threads >= 0 (got {self.num_workers})")
        self.threads = threads

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        if not self.threads or self.batch_sampler is None:
            return super().__iter__()
        return self._threaded_batches()

    def _threaded_batches(self) -> Iterator[Any]:
        dataset, collate = self.dataset, self.collate_fn
        fetch_items = getattr(dataset, "__getitems__", None) or (lambda indices: [dataset[i] for i in indices])

        def fetch(indices: list[int]) -> Any:
            return collate(fetch_items(indices))

        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="specsolve-loader")
        pending: collections.deque[Future] = collections.deque()
        try:
            for indices in self.batch_sampler:  # type: ignore[union-attr]
                pending.append(pool.submit(build_batch, fetch, list(indices)))
                if len(pending) >= 2 * self.threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class ResumableDataLoader(ThreadedDataLoader):
    """A ``DataLoader`` whose place in the epoch travels in checkpoints (Lightning's stateful-loader protocol:
    ``state_dict`` is saved with the fit loop, ``load_state_dict`` is called on resume before the first batch).

    ``batches_done`` is the number of batches of the current epoch the training loop has finished; the trainer
    side keeps it up to date (``specsolve.training.checkpointing.LastCheckpoint``), because only the loop knows
    which of the prefetched batches were used. On resume the sampler is put at that epoch and the batches already
    trained on are skipped, so the resumed run sees the same batches as an uninterrupted one.
    """

    batches_done: int = 0
    restored: bool = False  # load_state_dict was called (once per loader)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches_done": int(self.batches_done)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.restored = True
        epoch, done = int(state.get("epoch", 0)), int(state.get("batches_done", 0))
        if done >= len(self):  # saved at the end of an epoch: the next one starts from its first batch
            epoch, done = epoch + 1, 0
        self.batches_done = done
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        batch_sampler = self.batch_sampler
        if done and batch_sampler is not None and hasattr(batch_sampler, "sampler"):
            batch_sampler.sampler = _SkipFirst(batch_sampler, done * int(batch_sampler.batch_size))


def _consecutive_views(batch: list[tuple[Tensor, ...]]) -> list[Tensor] | None:
    """The fields of ``batch`` as they are when its items are already laid out as :func:`one_storage_collate` lays
    them out (field ``k`` of item ``i`` the ``i``-th consecutive block of field ``k``'s run, the runs one after the
    other in one storage that holds the batch and nothing else: shared memory in a worker, the batch storage made by
    :func:`~specsolve.data.batch_storage.shared_buffer` in a loader thread): views of that storage, without a copy;
    None otherwise (views into a larger shared tensor, e.g. a dataset's own, are copied as ``default_collate``
    would)."""
    first = batch[0]
    storage = first[0].untyped_storage()
    ours = storage.is_shared() if get_worker_info() is not None else is_fresh_batch_storage(storage)
    if not ours or first[0].storage_offset() != 0:
        return None
    if storage.nbytes() != len(batch) * sum(value.numel() * value.element_size() for value in first):
        return None
    address, start, fields = storage.data_ptr(), 0, []
    for k, value in enumerate(first):
        size = value.numel()
        for i, item in enumerate(batch):
            other = item[k]
            if (
                other.untyped_storage().data_ptr() != address
                or other.storage_offset() != start + i * size
                or not other.is_contiguous()
            ):
                return None
        fields.append(value.new_empty(0).set_(storage, start, (len(batch), *value.shape)))
        start += len(batch) * size
    return fields


def _uniform_tensors(batch: list[Any]) -> bool:
    """Every item a tuple of as many strided CPU tensors as the first, of one dtype, shaped as the first's."""
    first = batch[0]
    size, dtype = len(first), first[0].dtype if type(first[0]) is torch.Tensor else None
    for item in batch:
        if type(item) is not tuple or len(item) != size:
            return False
        for value, model in zip(item, first):
            if (
                type(value) is not torch.Tensor
                or value.dtype != dtype
                or value.shape != model.shape
                or value.layout != torch.strided
                or value.device.type != "cpu"
                or value.is_nested
            ):
                return False
    return True


def one_storage_collate(batch: list[Any]) -> Any:
    """``default_collate(batch)``, the same tensors, with a batch of tuples of CPU tensors of one dtype stacked, in
    a DataLoader worker, into one shared-memory storage (each field a contiguous view of it) instead of one per
    field.

    A worker hands each storage of a batch to the main process as its own shared-memory file, opened, passed over
    a socket and mapped one by one: for small items (the 2 x 16 KiB frames of an ``hdf5_all2all`` pair, 2 MiB
    batches) that costs about as much per batch as reading it (1-2 ms per storage), so ``(x, y, t)`` in one storage
    instead of three delivers batches about half as fast again. Anything else, and the main process
    (``num_workers=0``: no shared memory), goes through ``default_collate``. Items that are already laid out so in
    one shared storage (``hdf5_all2all`` and ``FieldDataset`` read a batch into one) are handed over as they are,
    uncopied; so are those of a batch storage a loader thread made (:class:`ThreadedDataLoader`).
    """
    first = batch[0] if batch else None
    worker = get_worker_info() is not None
    if not (worker or in_loader_thread()) or type(first) is not tuple or not first or not _uniform_tensors(batch):
        return default_collate(batch)
    in_place = _consecutive_views(batch)
    if in_place is not None:
        return in_place
    if not worker:  # a loader thread: no shared memory to save
        return default_collate(batch)
    counts = [len(batch) * value.numel() for value in first]
    flat = shared_buffer(sum(counts), first[0].dtype)
    fields, start = [], 0
    for k, (value, count) in enumerate(zip(first, counts)):
        out = flat[start : start + count].view(len(batch), *value.shape)
        torch.stack([item[k] for item in batch], 0, out=out)
        fields.append(out)
        start += count
    return fields


Workers = Literal["processes", "threads"]


def check_workers(workers: str) -> Workers:
    """The ``data.workers`` option: ``num_workers`` worker ``processes`` (torch's DataLoader) or ``threads`` of the
    training process (:class:`ThreadedDataLoader`)."""
    if workers not in ("processes", "threads"):
        raise ConfigError(f"data.workers must be 'processes' or 'threads', got {workers!r}")
    return workers  # type: ignore[return-value]


class SplitLoaders:
    """Mixin for a ``LightningDataModule`` with ``datasets`` (split -> Dataset), ``_train_subset()``,
    ``batch_size``, ``num_workers``, ``workers`` (:func:`check_workers`) and ``seed``: builds the train / val /
    test DataLoaders. With ``augmentation``
    set (:func:`specsolve.data.augmentation.build_augmentation`), training samples only are transformed, by the
    element drawn for ``(seed, epoch, sample index)``. ``collate_fn`` (a ``staticmethod``; None: torch's
    ``default_collate``) builds the batches of every split."""

    datasets: dict[str, Dataset]
    batch_size: int
    num_workers: int
    seed: int
    augmentation: BoundAugmentation | None = None
    collate_fn: Callable[[list[Any]], Any] | None = None
    workers: Workers = "processes"

    def _train_subset(self) -> Dataset:
        return self.datasets["train"]

    def _loader(self, split: str, shuffle: bool) -> DataLoader | None:
        dataset = self._train_subset() if split == "train" else self.datasets.get(split)
        if dataset is None:
            return None
        loader = ResumableDataLoader if shuffle else ThreadedDataLoader
        threads = self.num_workers if self.workers == "threads" else 0
        sampler = EpochSeededSampler(len(dataset), self.seed) if shuffle else None
        if split == "train" and self.augmentation is not None:
            dataset = AugmentedDataset(dataset, self.augmentation, self.seed)
            sampler = EpochTaggedSampler(len(dataset), self.seed)
        return loader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers - threads,
            persistent_workers=self.num_workers - threads > 0,
            collate_fn=self.collate_fn,
            threads=threads,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", shuffle=False) or []

    def test_dataloader(self) -> DataLoader | list:
        return self._loader("test", shuffle=False) or []


class TrajectoryShards:
    """Mixin for a DataModule whose splits are lists of per-file trajectory datasets (``self._parts``: split -> list,
    each with ``n_trajectories``, ``info`` and ``spatial_shape``) and an optional ``n_train`` trajectory budget."""

    _parts: dict[str, list[Any]]
    datasets: dict[str, Dataset]
    paths: dict[str, str | None]
    n_train: int | None

    def _open_splits(self, open_part: Callable[[str], Any], key: Callable[[Any], Any]) -> None:
        """``self._parts`` and ``self.datasets`` for every split in ``self.paths``: ``open_part(file)`` per shard;
        the shards of a split must agree in ``key(part)`` (grid, channels, times); ``n_train`` is checked."""
        self.datasets, self._parts = {}, {}
        for split, pattern in self.paths.items():
            if pattern is None:
                continue
            parts = [open_part(p) for p in shard_paths(pattern)]
            for part in parts[1:]:
                if key(part) != key(parts[0]):
                    raise DataError(
                        f"shard {part.info.path} differs from {parts[0].info.path} in grid, channels or times"
                    )
            self._parts[split], self.datasets[split] = parts, merge_shards(parts)
        n_traj = sum(p.n_trajectories for p in self._parts["train"])
        if self.n_train is not None and not 1 <= self.n_train <= n_traj:
            raise ConfigError(f"data.n_train={self.n_train} but the training files hold {n_traj} trajectories")

    def _train_subset(self) -> Dataset:
        """The training split, cut to the first ``n_train`` trajectories (all their items) when set."""
        if self.n_train is None:
            return self.datasets["train"]
        return ConcatBatches([Subset(p, range(n * (len(p) // p.n_trajectories))) for p, n in self._train_counts()])

    def _train_counts(self) -> list[tuple[Any, int]]:
        """(part, number of its trajectories used) for the training split, honouring ``n_train``."""
        left = self.n_train if self.n_train is not None else float("inf")
        counts = []
        for part in self._parts["train"]:
            n = int(min(part.n_trajectories, left))
            if n > 0:
                counts.append((part, n))
            left -= n
        return counts


def channel_stats(acc: dict[str, list]) -> dict[str, Tensor]:
    """``{key: [sum, sum of squares, count]}`` (per channel, float64) -> ``{key_mean, key_std}`` (float32).

    ``std = sqrt(E[v^2] - E[v]^2)``, the population standard deviation, clamped at 0 against rounding.
    """
    stats = {}
    for key, (total, squares, count) in acc.items():
        mean = total / count
        stats[f"{key}_mean"] = mean.float()
        stats[f"{key}_std"] = (squares / count - mean**2).clamp(min=0.0).sqrt().float()
    return stats

"""The ``hdf5_all2all`` dataset: every time pair of stored trajectories, for lead-time-conditioned operators.

Poseidon's all2all training (Herde et al., NeurIPS 2024) uses the semigroup property of time-dependent PDEs:
a trajectory with snapshots ``u(t_0), ..., u(t_K)`` gives the ``(K+1)(K+2)/2`` samples
``(u(t_i), t_j - t_i, u(t_j))``, ``i <= j`` (identity pairs included).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from specsolve.data.augmentation import build_augmentation, channel_keys
from specsolve.data.batch_storage import shared_buffer
from specsolve.data.fields import AdvisedBatches, FileLayout
from specsolve.data.modules.loaders import (
    SplitLoaders,
    TrajectoryShards,
    Workers,
    channel_stats,
    check_workers,
    one_storage_collate,
)
from specsolve.data.readers import NativeReader
from specsolve.errors import ConfigError, DataError
from specsolve.registry import register


def snapshot_pairs(
    n_snapshots: int, allowed_transitions: list[int] | None = None, max_lead: int | None = None
) -> list[tuple[int, int]]:
    """All pairs ``(i, j)``, ``0 <= i <= j < n_snapshots`` (row-major), optionally restricted to
    ``j - i in allowed_transitions`` and ``j - i <= max_lead`` (in snapshot steps)."""
    pairs = []
    for i in range(n_snapshots):
        for j in range(i, n_snapshots):
            lead = j - i
            if allowed_transitions is not None and lead not in allowed_transitions:
                continue
            if max_lead is not None and lead > max_lead:
                continue
            pairs.append((i, j))
    return pairs


class All2AllDataset(AdvisedBatches, Dataset):
    """Samples ``(x, y, t)``: ``x = inputs(sample, t_i)`` ``(C_in, *S)``, ``y = outputs(sample, t_j)``
    ``(C_out, *S)``, ``t = time_scale * (t_j - t_i)`` (0-dim float32), for every trajectory and every pair of
    :func:`snapshot_pairs` over the time indices ``time_start + k * time_stride``, ``k < n_snapshots``.
    Item ``index = sample * n_pairs + pair``. Read lazily through a :class:`~specsolve.data.readers.NativeReader`
    (one handle per process); ``stride`` subsamples space.
    """

    def __init__(
        self,
        path: str | Path,
        inputs: list[str],
        outputs: list[str],
        time_indices: list[int] | None = None,
        time_stride: int = 1,
        n_snapshots: int | None = None,
        time_start: int = 0,
        allowed_transitions: list[int] | None = None,
        max_lead: int | None = None,
        time_scale: float = 1.0,
        stride: int = 1,
        cache: bool = False,
    ) -> None:
        self.reader = NativeReader(path)
        self.info = FileLayout(self.reader, inputs, outputs, trajectories="hdf5_all2all")
        nt = self.info.n_times
        if time_indices is not None:
            bad = [k for k in time_indices if not 0 <= k < nt]
            if bad or len(set(time_indices)) != len(time_indices) or list(time_indices) != sorted(time_indices):
                raise DataError(
                    f"{path}: time_indices {time_indices} must be distinct, increasing and within 0..{nt - 1}"
                )
            self.snapshots = list(time_indices)
        else:
            if time_start >= nt:
                raise DataError(f"{path}: time_start={time_start} but the file has {nt} time steps")
            available = (nt - 1 - time_start) // time_stride + 1
            count = available if n_snapshots is None else n_snapshots
            if count > available:
                raise DataError(
                    f"{path}: {count} snapshots every {time_stride} steps from {time_start} need "
                    f"{time_start + (count - 1) * time_stride + 1} time steps, the file has {nt}"
                )
            self.snapshots = [time_start + k * time_stride for k in range(count)]
        self.pairs = snapshot_pairs(len(self.snapshots), allowed_transitions, max_lead)
        if not self.pairs:
            raise DataError(f"{path}: no snapshot pair satisfies allowed_transitions / max_lead")
        times = self.info.time[self.snapshots]
        self.lead_times = [float(time_scale * (times[j] - times[i])) for i, j in self.pairs]
        self.stride, self.cache = stride, cache
        self._cache: dict[tuple[str, int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return self.info.n_samples * len(self.pairs)

    @property
    def n_trajectories(self) -> int:
        return self.info.n_samples

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(range(0, n, self.stride)) for n in self.info.spatial_shape)

    def _frame(self, values: np.ndarray) -> np.ndarray:
        """One frame as the reader returns it -> ``(C, *S)`` float32."""
        values = values.astype(np.float32, copy=False)
        nspace = len(self.info.spatial_dims)
        return values.reshape((-1,) + values.shape[values.ndim - nspace :])

    def _slice(self, name: str, sample: int, time_index: int) -> np.ndarray:
        key = (name, sample, time_index)
        if key in self._cache:
            return self._cache[key]
        values = self._frame(self.reader.read(name, sample, time=time_index, stride=self.stride))
        if self.cache:
            self._cache[key] = values
        return values

    def _channels(self, parts: list[np.ndarray]) -> torch.Tensor:
        """The frames of a snapshot's variables as one ``(C, *S)`` tensor."""
        if len(parts) == 1 and not self.cache:  # a fresh array of its own: no copy needed
            return torch.from_numpy(parts[0])
        return torch.from_numpy(np.concatenate(parts, axis=0))

    def snapshot(self, names: list[str], sample: int, time_index: int) -> torch.Tensor:
        """Channels of ``names`` at one stored time index: ``(C, *S)``."""
        return self._channels([self._slice(n, sample, time_index) for n in names])

    def advise(self, index: int) -> None:
        """Announce the reads of pair ``index`` (:meth:`specsolve.data.readers.base.Reader.advise`)."""
        if not 0 <= index < len(self):
            return
        sample, p = divmod(index, len(self.pairs))
        for names, k in ((self.info.inputs, self.pairs[p][0]), (self.info.outputs, self.pairs[p][1])):
            for name in names:
                if (name, sample, self.snapshots[k]) not in self._cache:
                    self.reader.advise(name, sample, time=self.snapshots[k], stride=self.stride)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        sample, p = divmod(index, len(self.pairs))
        i, j = self.pairs[p]
        x = self.snapshot(self.info.inputs, sample, self.snapshots[i])
        y = self.snapshot(self.info.outputs, sample, self.snapshots[j])
        return x, y, torch.tensor(self.lead_times[p], dtype=torch.float32)

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The DataLoader's batched fetch: ``[self[i] for i in indices]`` (the same items, values and errors), with
        the batch's frames read together (:meth:`specsolve.data.readers.NativeReader.read_frames`: every read
        announced before the first, one finite check) straight into one storage laid out as the batch
        (``x`` of every item, then ``y``, then ``t``; shared memory in a DataLoader worker), so that
        :func:`~specsolve.data.modules.loaders.one_storage_collate` hands it over without a copy."""
        n, n_pairs = len(self), len(self.pairs)
        if not all(type(i) is int and 0 <= i < n for i in indices):
            return [self[i] for i in indices]  # raises IndexError as the per-item path does
        if self.cache:
            return self._cached_items(indices)
        inputs, outputs, snapshots, b = self.info.inputs, self.info.outputs, self.snapshots, len(indices)
        points = math.prod(self.spatial_shape)
        x_size, y_size = self.info.n_channels(inputs) * points, self.info.n_channels(outputs) * points
        requests: list[tuple[str, int, int]] = []  # the x frames of every item, then the y frames
        for names, end in ((inputs, 0), (outputs, 1)):
            for index in indices:
                sample, p = divmod(index, n_pairs)
                requests.extend((name, sample, snapshots[self.pairs[p][end]]) for name in names)
        flat = shared_buffer(b * (x_size + y_size + 1))
        values = flat.numpy()
        frames_region = values[: b * (x_size + y_size)]
        try:
            frames = self.reader.read_frames(requests, stride=self.stride, out=frames_region)
        except DataError:
            return [self[i] for i in indices]  # the per-item path raises the same error for the same frame
        position, address = 0, frames_region.ctypes.data
        for frame in frames:
            frame = self._frame(frame)
            if position + frame.size > frames_region.size:
                return [self[i] for i in indices]
            if frame.ctypes.data != address + position * 4 or not frame.flags.c_contiguous:  # not read in place
                frames_region[position : position + frame.size] = frame.reshape(-1)
            position += frame.size
        if position != frames_region.size:
            return [self[i] for i in indices]
        values[frames_region.size :] = [self.lead_times[index % n_pairs] for index in indices]
        x = flat[: b * x_size].view(b, -1, *self.spatial_shape)
        y = flat[b * x_size : b * (x_size + y_size)].view(b, -1, *self.spatial_shape)
        return list(zip(x.unbind(0), y.unbind(0), flat[b * (x_size + y_size) :].unbind(0)))

    def _cached_items(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``[self[i] for i in indices]`` with the frames not cached yet read together, each once."""
        n_pairs, snapshots = len(self.pairs), self.snapshots
        requests: list[tuple[str, int, int]] = []
        for index in indices:
            sample, p = divmod(index, n_pairs)
            i, j = self.pairs[p]
            requests.extend((name, sample, snapshots[i]) for name in self.info.inputs)
            requests.extend((name, sample, snapshots[j]) for name in self.info.outputs)
        requests = [key for key in dict.fromkeys(requests) if key not in self._cache]
        try:
            frames = self.reader.read_frames(requests, stride=self.stride)
        except DataError:
            return [self[i] for i in indices]
        for key, frame in zip(requests, frames):
            self._cache[key] = self._frame(frame)
        return [self[i] for i in indices]


def pair_statistics(parts: list[tuple[All2AllDataset, int]]) -> dict[str, torch.Tensor]:
    """Per-channel mean and std of ``x`` and ``y`` over all pairs of the first ``n`` trajectories of each part.

    Each snapshot is read once and weighted by how many pairs use it as input (for ``x``) or target (for ``y``),
    which gives exactly the statistics over the pair dataset (float64 sums).
    """
    acc: dict[str, list] = {"x": [0.0, 0.0, 0.0], "y": [0.0, 0.0, 0.0]}  # weighted sum, sum of squares, count
    for dataset, n in parts:
        w_in = np.bincount([i for i, _ in dataset.pairs], minlength=len(dataset.snapshots))
        w_out = np.bincount([j for _, j in dataset.pairs], minlength=len(dataset.snapshots))
        points = int(np.prod(dataset.spatial_shape))
        for sample in range(n):
            for k, time_index in enumerate(dataset.snapshots):
                for key, names, weight in (("x", dataset.info.inputs, w_in[k]), ("y", dataset.info.outputs, w_out[k])):
                    if weight == 0:
                        continue
                    values = dataset.snapshot(names, sample, time_index).double().flatten(1)
                    acc[key][0] = acc[key][0] + weight * values.sum(1)
                    acc[key][1] = acc[key][1] + weight * (values**2).sum(1)
                    acc[key][2] += weight * points
    return channel_stats(acc)


@register("dataset", "hdf5_all2all")
class All2AllDataModule(TrajectoryShards, SplitLoaders, L.LightningDataModule):
    """Time pairs of trajectories from HDF5 files: batches ``(x (B, C_in, *S), y (B, C_out, *S), t (B,))``.

    Variables are stored as ``name(sample, time, ..., space)`` with a ``time`` coordinate. From the time indices
    ``time_start + k * time_stride``, ``k = 0..n_snapshots-1`` (None: as many as fit), or an explicit list
    ``time_indices``, every pair ``i <= j`` becomes a sample with input ``inputs(t_i)``, target ``outputs(t_j)``
    and lead time ``t = time_scale * (t_j - t_i)`` in the units of the ``time`` coordinate: ``(K+1)(K+2)/2`` pairs
    per trajectory (Poseidon: 8 snapshots every 2 steps of 21, ``time_scale`` 1 on times in [0, 1]).
    ``allowed_transitions`` keeps only leads ``j - i`` in the list, ``max_lead`` only ``j - i <= max_lead``
    (both in snapshot steps; [1] = next snapshot only). ``outputs`` defaults to ``inputs``.
    ``n_train`` takes the first ``n_train`` training trajectories (all their pairs). Other parameters as ``hdf5``
    (``seed``: the shuffling order of epoch ``e`` is a permutation seeded by ``seed + e``; ``augmentation``
    transforms ``x`` and ``y`` of a training pair alike, ``t`` unchanged).
    The trainer calls the model as ``model(x, t)`` for these three-element batches. In DataLoader workers a batch is
    stacked into one shared storage (:func:`~specsolve.data.modules.loaders.one_storage_collate`).
    """

    collate_fn = staticmethod(one_storage_collate)

    def __init__(
        self,
        train: str,
        inputs: list[str],
        outputs: list[str] | None = None,
        test: str | None = None,
        val: str | None = None,
        time_stride: int = 1,
        n_snapshots: int | None = None,
        time_start: int = 0,
        time_indices: list[int] | None = None,
        allowed_transitions: list[int] | None = None,
        max_lead: int | None = None,
        time_scale: float = 1.0,
        batch_size: int = 20,
        num_workers: int = 0,
        workers: Workers = "processes",
        stride: int = 1,
        eval_strides: list[int] | None = None,
        n_train: int | None = None,
        cache: bool = False,
        seed: int = 0,
        augmentation: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if stride < 1 or time_stride < 1:
            raise ConfigError(f"data.stride and data.time_stride must be >= 1, got {stride} and {time_stride}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        if n_snapshots is not None and n_snapshots < 1:
            raise ConfigError(f"data.n_snapshots must be >= 1, got {n_snapshots}")
        if time_start < 0:
            raise ConfigError(f"data.time_start must be >= 0, got {time_start}")
        if time_indices is not None and (n_snapshots is not None or time_stride != 1 or time_start != 0):
            raise ConfigError(
                "data.time_indices replaces time_start / time_stride / n_snapshots; give one or the other"
            )
        if allowed_transitions is not None and (not allowed_transitions or any(k < 0 for k in allowed_transitions)):
            raise ConfigError(f"data.allowed_transitions must list leads >= 0, got {allowed_transitions}")
        if max_lead is not None and max_lead < 0:
            raise ConfigError(f"data.max_lead must be >= 0, got {max_lead}")
        if not inputs:
            raise ConfigError("data.inputs must name at least one variable")
        self.paths = {"train": train, "val": val or test, "test": test}
        self.inputs = list(inputs)
        self.outputs = list(outputs) if outputs else list(inputs)
        self.batch_size, self.num_workers, self.workers = batch_size, num_workers, check_workers(workers)
        self.stride, self.eval_strides = stride, list(eval_strides or [])
        self.n_train, self.cache, self.seed = n_train, cache, seed
        self.time_scale = time_scale
        options = dict(
            time_indices=time_indices,
            time_stride=time_stride,
            n_snapshots=n_snapshots,
            time_start=time_start,
            allowed_transitions=allowed_transitions,
            max_lead=max_lead,
            time_scale=time_scale,
        )
        self._open_splits(
            lambda path: All2AllDataset(path, self.inputs, self.outputs, **options, stride=stride, cache=cache),
            lambda part: (part.spatial_shape, part.info.channels, part.lead_times),
        )
        train_set = self.datasets["train"]
        self.in_channels = train_set.info.n_channels(self.inputs)
        self.out_channels = train_set.info.n_channels(self.outputs)
        self.spatial_shape = train_set.spatial_shape
        self.pairs_per_trajectory = len(self._parts["train"][0].pairs)
        x_keys, y_keys = channel_keys(train_set.info, self.inputs), channel_keys(train_set.info, self.outputs)
        self.augmentation = build_augmentation(augmentation, train_set.info, self.spatial_shape, x_keys, y_keys)

    def normalization_statistics(self) -> dict:
        return pair_statistics(self._train_counts())

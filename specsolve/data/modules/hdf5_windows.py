"""The ``hdf5_windows`` dataset: sliding time windows of stored trajectories, for autoregressive operators.

A trajectory ``u(sample, time, *extra, *space)`` with frames ``f_0, f_1, ...`` (after ``time_start`` and
``time_stride``) gives the windows ``x = (f_s, ..., f_{s+n_in-1})`` -> ``y = (f_{s+n_in}, ..., f_{s+n_in+n_out-1})``
for ``s = 0, window_stride, 2 window_stride, ...`` while the window fits. Two layouts:

- ``channels``: time folded into channels, ``x: (n_in C, *S)``, ``y: (n_out C, *S)`` (time-major: channel
  ``t C + c``), as FNO-2D / G-FNO "10 -> 1" use;
- ``time``: ``x: (n_in, C, *S)``, ``y: (n_out, C, *S)``, the project's time contract (``st_fno``).

``C`` counts the physical channels: each variable contributes ``prod(extra)`` (1 for a scalar field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from specsolve.data.augmentation import build_augmentation, channel_keys
from specsolve.data.fields import AdvisedBatches, FileLayout
from specsolve.data.modules.loaders import SplitLoaders, TrajectoryShards, Workers, channel_stats, check_workers
from specsolve.data.readers import NativeReader
from specsolve.errors import ConfigError, DataError
from specsolve.registry import register

Layout = Literal["channels", "time"]


class WindowDataset(AdvisedBatches, Dataset):
    """Windows of one file: item ``sample * windows_per_trajectory + w`` is window ``w`` of trajectory ``sample``.

    Read lazily through a :class:`~specsolve.data.readers.NativeReader` (one handle per process); ``stride``
    subsamples space; ``cache`` keeps whole (subsampled) trajectories in RAM after the first read.
    """

    def __init__(
        self,
        path: str | Path,
        inputs: list[str],
        outputs: list[str],
        n_in: int,
        n_out: int,
        layout: Layout = "channels",
        window_stride: int = 1,
        time_stride: int = 1,
        time_start: int = 0,
        stride: int = 1,
        cache: bool = False,
    ) -> None:
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.names = list(dict.fromkeys(self.inputs + self.outputs))
        self.reader = NativeReader(path)
        self.info = FileLayout(self.reader, self.inputs, self.outputs, trajectories="hdf5_windows")
        self.n_in, self.n_out, self.layout = n_in, n_out, layout
        self.window_stride, self.time_stride, self.time_start, self.stride = (
            window_stride,
            time_stride,
            time_start,
            stride,
        )
        self.frames = list(range(time_start, self.info.n_times, time_stride))  # stored time indices used
        span = n_in + n_out
        if len(self.frames) < span:
            raise DataError(
                f"{path}: a window needs {span} frames but the trajectories have {len(self.frames)} "
                f"(n_times={self.info.n_times}, time_start={time_start}, time_stride={time_stride})"
            )
        self.starts = list(range(0, len(self.frames) - span + 1, window_stride))
        # the targets' time after the last input frame: the lead_time coordinate of predictions (FileLayout.layout)
        self.info.lead_times = self.info.time[self.frames[n_in : n_in + n_out]] - self.info.time[self.frames[n_in - 1]]
        self.cache = cache
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.info.n_samples * len(self.starts)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(range(0, n, self.stride)) for n in self.info.spatial_shape)

    @property
    def windows_per_trajectory(self) -> int:
        return len(self.starts)

    @property
    def n_trajectories(self) -> int:
        return self.info.n_samples

    def _read(self, name: str, sample: int, first: int, count: int) -> np.ndarray:
        """Frames ``first .. first+count-1`` (indices into ``self.frames``) of ``name``: ``(count, C, *S)``."""
        if self.cache:
            if sample not in self._cache:
                self._cache[sample] = {}
            if name not in self._cache[sample]:
                self._cache[sample][name] = self._read_range(name, sample, 0, len(self.frames))
            return self._cache[sample][name][first : first + count]
        return self._read_range(name, sample, first, count)

    def _times(self, first: int, count: int) -> slice:
        """The stored time indices of frames ``first .. first+count-1``."""
        t0 = self.frames[first]
        return slice(t0, t0 + (count - 1) * self.time_stride + 1, self.time_stride)

    def _read_range(self, name: str, sample: int, first: int, count: int) -> np.ndarray:
        times = self._times(first, count)
        values = self.reader.read(name, sample, time=times, stride=self.stride).astype(np.float32, copy=False)
        nspace = len(self.info.spatial_dims)
        return values.reshape((count, -1) + values.shape[values.ndim - nspace :])

    def frames_of(self, names: list[str], sample: int, first: int = 0, count: int | None = None) -> torch.Tensor:
        """Frames ``(count, C, *S)`` of ``names`` (channels concatenated), from frame index ``first``."""
        count = len(self.frames) - first if count is None else count
        return torch.from_numpy(np.concatenate([self._read(n, sample, first, count) for n in names], axis=1))

    def fold(self, frames: torch.Tensor) -> torch.Tensor:
        """``(T, C, *S)`` -> the layout's ``(T C, *S)`` or ``(T, C, *S)`` (also with a leading batch axis)."""
        if self.layout == "time":
            return frames
        lead = frames.dim() - 2 - len(self.info.spatial_dims)
        return frames.flatten(lead, lead + 1)

    def advise(self, index: int) -> None:
        """Announce the reads of window ``index`` (:meth:`specsolve.data.readers.base.Reader.advise`)."""
        if not 0 <= index < len(self):
            return
        sample, w = divmod(index, len(self.starts))
        if self.cache and sample in self._cache:
            return
        start = self.starts[w]
        both = set(self.inputs) & set(self.outputs)
        for name in both:
            self.reader.advise(name, sample, time=self._times(start, self.n_in + self.n_out), stride=self.stride)
        for names, first, count in ((self.inputs, start, self.n_in), (self.outputs, start + self.n_in, self.n_out)):
            for name in names:
                if name not in both:
                    self.reader.advise(name, sample, time=self._times(first, count), stride=self.stride)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        sample, w = divmod(index, len(self.starts))
        start = self.starts[w]
        # a variable that is both input and target (the usual [a, u] -> [a, u]): its window read once
        both = {n: self._read(n, sample, start, self.n_in + self.n_out) for n in self.inputs if n in self.outputs}

        def frames(names: list[str], offset: int, count: int) -> torch.Tensor:
            parts = [
                both[n][offset : offset + count] if n in both else self._read(n, sample, start + offset, count)
                for n in names
            ]
            return torch.from_numpy(np.concatenate(parts, axis=1))

        return self.fold(frames(self.inputs, 0, self.n_in)), self.fold(frames(self.outputs, self.n_in, self.n_out))

    def frame_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """How many windows use each frame as input and as target."""
        w_in = np.zeros(len(self.frames))
        w_out = np.zeros(len(self.frames))
        for s in self.starts:
            w_in[s : s + self.n_in] += 1
            w_out[s + self.n_in : s + self.n_in + self.n_out] += 1
        return w_in, w_out


def window_statistics(parts: list[tuple[WindowDataset, int]]) -> dict[str, torch.Tensor]:
    """Mean and std per physical channel of the window inputs (``x``) and targets (``y``), over the first ``n``
    trajectories of each part. Each frame is read once and weighted by the number of windows that use it, which
    gives exactly the statistics over all windows (pooled over their time positions; float64 sums)."""
    acc: dict[str, list] = {"x": [0.0, 0.0, 0.0], "y": [0.0, 0.0, 0.0]}
    for dataset, n in parts:
        w_in, w_out = dataset.frame_weights()
        points = int(np.prod(dataset.spatial_shape))
        for sample in range(n):
            for key, names, weights in (("x", dataset.inputs, w_in), ("y", dataset.outputs, w_out)):
                frames = dataset.frames_of(names, sample).double()  # (F, C, *S)
                w = torch.from_numpy(weights).view(-1, *([1] * (frames.dim() - 1)))
                acc[key][0] = acc[key][0] + (w * frames).transpose(0, 1).flatten(1).sum(1)
                acc[key][1] = acc[key][1] + (w * frames**2).transpose(0, 1).flatten(1).sum(1)
                acc[key][2] += float(weights.sum()) * points
    return channel_stats(acc)


@register("dataset", "hdf5_windows")
class WindowDataModule(TrajectoryShards, SplitLoaders, L.LightningDataModule):
    """Sliding windows ``n_in`` frames -> ``n_out`` frames of stored trajectories ``name(sample, time, ..., space)``.

    Parameters
    ----------
    train, val, test : file paths or glob patterns over shards; ``val`` defaults to ``test``.
    inputs : variables stacked as the physical channels of the input frames (default ``[u]``).
    outputs : variables of the target frames (default: ``inputs``; autoregressive rollout needs them equal).
    n_in, n_out : frames per input and per target (FNO-2D on NS: 10 -> 1).
    layout : ``channels`` (``x: (B, n_in C, *S)``, FNO-2D / G-FNO) or ``time`` (``x: (B, n_in, C, *S)``, ``st_fno``).
    window_stride : step between the first frames of consecutive windows (1 = every window).
    time_stride, time_start : frames used are the stored time indices ``time_start + k time_stride``.
    batch_size, num_workers, workers, stride, n_train (first trajectories, all their windows), cache, seed, augmentation :
        as ``hdf5`` (augmentation transforms every frame of a window alike).

    ``in_channels``/``out_channels`` are what the model sees (``n_in C`` / ``n_out C`` for ``channels``, ``C`` for
    ``time``); ``channel_axis`` (1 or 2) is where the physical channels sit in a batch; normalisation statistics
    are per physical channel, repeated over the folded time steps for ``channels``.
    """

    def __init__(
        self,
        train: str,
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        n_in: int = 10,
        n_out: int = 1,
        layout: Layout = "channels",
        test: str | None = None,
        val: str | None = None,
        window_stride: int = 1,
        time_stride: int = 1,
        time_start: int = 0,
        batch_size: int = 20,
        num_workers: int = 0,
        workers: Workers = "processes",
        stride: int = 1,
        n_train: int | None = None,
        cache: bool = False,
        seed: int = 0,
        augmentation: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if n_in < 1 or n_out < 1:
            raise ConfigError(f"data.n_in and data.n_out must be >= 1, got {n_in} and {n_out}")
        if layout not in ("channels", "time"):
            raise ConfigError(f"data.layout must be 'channels' or 'time', got '{layout}'")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if min(stride, window_stride, time_stride) < 1:
            raise ConfigError("data.stride, data.window_stride and data.time_stride must be >= 1")
        if time_start < 0 or num_workers < 0:
            raise ConfigError("data.time_start and data.num_workers must be >= 0")
        inputs = list(inputs) if inputs else ["u"]
        self.inputs, self.outputs = inputs, list(outputs) if outputs else list(inputs)
        self.n_in, self.n_out, self.layout = n_in, n_out, layout
        self.channel_axis = 2 if layout == "time" else 1
        self.paths = {"train": train, "val": val or test, "test": test}
        self.batch_size, self.num_workers, self.stride = batch_size, num_workers, stride
        self.workers = check_workers(workers)
        self.n_train, self.cache, self.seed = n_train, cache, seed
        options = dict(
            n_in=n_in,
            n_out=n_out,
            layout=layout,
            window_stride=window_stride,
            time_stride=time_stride,
            time_start=time_start,
            stride=stride,
            cache=cache,
        )
        self._open_splits(
            lambda path: WindowDataset(path, self.inputs, self.outputs, **options),
            lambda part: (part.spatial_shape, part.info.channels, len(part.frames)),
        )
        info = self._parts["train"][0].info
        self.physical_in_channels = info.n_channels(self.inputs)
        self.physical_out_channels = info.n_channels(self.outputs)
        folded = layout == "channels"
        self.in_channels = self.physical_in_channels * (n_in if folded else 1)
        self.out_channels = self.physical_out_channels * (n_out if folded else 1)
        self.spatial_shape = self._parts["train"][0].spatial_shape
        self.windows_per_trajectory = self._parts["train"][0].windows_per_trajectory
        repeat = (n_in, n_out) if folded else (1, 1)
        x_keys, y_keys = channel_keys(info, self.inputs, repeat[0]), channel_keys(info, self.outputs, repeat[1])
        self.augmentation = build_augmentation(augmentation, info, self.spatial_shape, x_keys, y_keys)

    def normalization_statistics(self) -> dict[str, torch.Tensor]:
        """Per physical channel (``C``); for ``channels`` repeated ``n_in`` / ``n_out`` times (time-major order)."""
        stats = window_statistics(self._train_counts())
        if self.layout == "channels":
            for key, repeat in (("x", self.n_in), ("y", self.n_out)):
                for part in ("mean", "std"):
                    stats[f"{key}_{part}"] = stats[f"{key}_{part}"].repeat(repeat)
        return stats

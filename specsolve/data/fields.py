"""What the DataModules and ``predict`` read from a file, on top of a :mod:`specsolve.data.readers` reader.

:class:`FileLayout` is the one description of a file for the training code: which variables become which
channels, the spatial dims and grid, the coordinates, and (for :meth:`FileLayout.layout`) how to rebuild
variables from predicted channels. Every DataModule builds one (``dataset.info``), whatever the file format.

:class:`FieldDataset` gives samples ``(x: (C_in, *S), y: (C_out, *S))`` through a reader: the ``hdf5`` dataset
(native files), the ``pdebench`` / ``well`` / ``fno_mat`` datasets and ``predict``. Per-sample non-spatial axes
(time steps, components) fold into channels; per-sample scalars (dims ``()``, e.g. a viscosity) become constant
channels. Files are read lazily: each DataLoader worker opens its own handle, only the requested samples are read,
and every block read is checked finite (:meth:`specsolve.data.readers.base.Reader.read_block`).

A variable is chosen by a *selector*: ``name`` or ``name[t]`` / ``name[start:stop(:step)]``, the bracket indexing
the time axis (``tensor[0]`` = PDEBench Burgers' initial frame, ``tensor[1:]`` the rest, ``u[-1]`` the last).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from specsolve.data.batch_storage import shared_buffer
from specsolve.data.readers import NativeReader, Reader
from specsolve.data.readers.base import TIME
from specsolve.errors import ConfigError, DataError

SELECTOR = re.compile(r"^\s*(?P<name>[^\[\]]+?)\s*(?:\[(?P<sel>[^\]]*)\])?\s*$")


def parse_selector(text: str) -> tuple[str, int | slice | None]:
    """``"u"`` -> ``("u", None)``; ``"u[3]"`` -> ``("u", 3)``; ``"u[1:]"`` -> ``("u", slice(1, None))``."""
    match = SELECTOR.match(text)
    if not match:
        raise ConfigError(f"bad variable selector '{text}' (use name, name[t] or name[start:stop])")
    name, sel = match["name"], match["sel"]
    if sel is None:
        return name, None
    try:
        parts = [p.strip() for p in sel.split(":")]
        if len(parts) == 1:
            return name, int(parts[0])
        if len(parts) > 3:
            raise ValueError
        return name, slice(*(int(p) if p else None for p in parts))
    except ValueError:
        raise ConfigError(f"bad time selection in '{text}' (use integers: name[t] or name[start:stop:step])") from None


class FileLayout:
    """How the variables of one file (read through ``reader``) map to channels.

    Fields (``trajectories=None``): each selector gives ``prod(non-spatial axes)`` channels, time steps included.
    Trajectories (``trajectories`` = the dataset's name, for messages): every variable must have dims
    ``(time, *extra, *space)`` per sample and gives ``prod(extra)`` channels per frame; ``n_times`` and ``time``
    describe the time axis, and ``lead_times`` (set by a window dataset) the time after the last input frame of
    each target frame.

    Attributes: ``reader``, ``path``, ``inputs``, ``outputs``, ``n_samples``, ``spatial_dims``, ``spatial_shape``
    (stored grid), ``coords`` (spatial), ``channels`` / ``dims`` / ``selection`` / ``on_grid`` per selector.
    """

    def __init__(self, reader: Reader, inputs: list[str], outputs: list[str], trajectories: str | None = None) -> None:
        self.reader, self.path = reader, reader.path
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.trajectories = trajectories
        space = self.spatial_dims = reader.spatial_dims
        if not space:
            raise DataError(f"{reader.path}: variables have no spatial dimension (x, y or z)")
        self.spatial_shape = tuple(len(reader.coords[d]) for d in space)
        self.coords = {d: reader.coords[d] for d in space}
        self.n_samples = reader.n_samples
        self.selection: dict[str, tuple[str, int | slice | None]] = {}
        self.channels: dict[str, int] = {}
        self.dims: dict[str, tuple[str, ...]] = {}
        self.on_grid: dict[str, bool] = {}
        self.lead_times: np.ndarray | None = None
        for text in dict.fromkeys(self.inputs + self.outputs):
            name, time = (text, None) if trajectories else parse_selector(text)
            var = reader.variable(name)
            key, drop_time = reader.selection(var, time)
            sizes = [len(range(*s.indices(n))) for s, n in zip(key, var.shape, strict=True)]
            dims = var.dims[1:] if drop_time else var.dims
            sizes = sizes[1:] if drop_time else sizes
            on_grid = tuple(dims[len(dims) - len(space) :]) == space
            if trajectories and (not var.has_time or not on_grid):
                raise DataError(
                    f"{reader.path}: {trajectories} needs trajectories with dims (sample, time, ..., space); "
                    f"'{name}' has {('sample', *var.dims)}"
                )
            if not on_grid and any(d in space for d in dims):
                raise DataError(f"{reader.path}: variable '{name}' has dims {var.dims}, not on the grid {space}")
            extra = sizes[: len(sizes) - len(space)] if on_grid else sizes
            if trajectories:
                extra = extra[1:]  # one frame: the time axis is not a channel
            self.selection[text] = (name, time)
            self.channels[text] = int(np.prod(extra, dtype=int))
            self.dims[text] = tuple(dims)
            self.on_grid[text] = on_grid
        if trajectories:
            self.time = np.asarray(reader.coords[TIME], dtype=np.float64)
            self.n_times = len(self.time)
        if self.n_samples == 0 or (trajectories and self.n_times == 0):
            times = f", {self.n_times} times" if trajectories else ""
            raise DataError(f"{reader.path}: the dataset is empty ({self.n_samples} samples{times})")

    def n_channels(self, names: list[str]) -> int:
        return sum(self.channels[n] for n in names)

    def layout(self, names: list[str]) -> dict[str, dict]:
        """``{selector: {"dims": [...], "coords": {dim: values}}}``: the dims of one predicted sample and the
        coordinates of its non-spatial dims, for rebuilding variables from channels (``predict``). Trajectories:
        the dims of one frame, led by ``lead_time`` when :attr:`lead_times` is set."""
        out = {}
        for text in names:
            name, time = self.selection[text]
            dims = list(self.dims[text])
            if self.trajectories:
                dims = dims[1:]
            elif not self.on_grid[text]:  # scalars (constant channels) come back as fields on the grid
                dims = [d for d in dims if d == TIME] or list(self.spatial_dims)
            coords = {}
            for d in dims:
                if d in self.spatial_dims:
                    continue
                values = self.reader.coords[d]
                coords[d] = np.asarray(values[time] if d == TIME and isinstance(time, slice) else values).tolist()
            if self.trajectories and self.lead_times is not None:
                dims = ["lead_time", *dims]
                coords = {"lead_time": np.asarray(self.lead_times, dtype=np.float64).tolist(), **coords}
            out[text] = {"dims": dims, "coords": coords}
        return out


class AdvisedBatches:
    """Mixin for a map-style dataset with ``advise(index)`` (announce the bytes item ``index`` will read to the
    operating system): the DataLoader's batched fetch (``__getitems__``) announces every item of a batch before
    reading the first, so that the batch's reads are in flight together (shuffled reads from a cold file arrive
    about twice as fast). The items are those of ``dataset[i]``, in order."""

    def advise(self, index: int) -> None:
        raise NotImplementedError

    def __getitems__(self, indices: list[int]) -> list[Any]:
        for index in indices:
            self.advise(index)
        return [self[index] for index in indices]  # type: ignore[index]


class FieldDataset(AdvisedBatches, Dataset):
    """Samples ``(x, y)`` with ``x: (C_in, *S)`` and ``y: (C_out, *S)``, read lazily through a reader.

    ``source``: a reader, or the path of one native (dimension-labelled) HDF5 file. The file is opened on first
    access in each process (every DataLoader worker has its own handle); ``stride`` subsamples every spatial axis
    of the stored grid; ``cache`` keeps read samples in RAM.
    """

    def __init__(
        self,
        source: Reader | str | Path,
        inputs: list[str],
        outputs: list[str],
        stride: int = 1,
        cache: bool = False,
    ) -> None:
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        self.reader = source if isinstance(source, Reader) else NativeReader(source)
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.info = FileLayout(self.reader, self.inputs, self.outputs)
        self.stride = stride
        self.cache = cache
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.info.n_samples

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(range(0, n, self.stride)) for n in self.info.spatial_shape)

    def _stack(self, selectors: list[str], index: int) -> torch.Tensor:
        """Channels of ``selectors`` for one sample: ``(C, *S)``."""
        if not selectors:
            return torch.empty(0)
        parts = []
        grid = self.spatial_shape
        for text in selectors:
            name, time = self.info.selection[text]
            values = self.reader.read(name, index, time=time, stride=self.stride).astype(np.float32, copy=False)
            channels = self.info.channels[text]
            if not self.info.on_grid[text]:  # per-sample scalars (or a scalar time series): constant channels
                values = np.broadcast_to(values.reshape((channels,) + (1,) * len(grid)), (channels,) + grid)
            parts.append(values.reshape((channels,) + grid))
        stacked = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return torch.from_numpy(np.ascontiguousarray(stacked))

    def advise(self, index: int) -> None:
        """Announce the reads of item ``index`` (:meth:`specsolve.data.readers.base.Reader.advise`)."""
        if self.cache and index in self._cache:
            return
        for text in dict.fromkeys(self.inputs + self.outputs):
            name, time = self.info.selection[text]
            self.reader.advise(name, index, time=time, stride=self.stride)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache and index in self._cache:
            return self._cache[index]
        item = (self._stack(self.inputs, index), self._stack(self.outputs, index))
        if self.cache:
            self._cache[index] = item
        return item

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The DataLoader's batched fetch: ``[self[i] for i in indices]`` (the same items, values and errors, read
        in the same order), every item announced first (:class:`AdvisedBatches`), read straight into one storage
        laid out as the batch (``x`` of every item, then ``y``; shared memory in a DataLoader worker: see
        :meth:`specsolve.data.readers.base.Reader.read_block`'s ``out``), so that
        :func:`~specsolve.data.modules.loaders.one_storage_collate` hands it over without a copy. Cached datasets,
        per-sample scalars and empty channel lists go item by item."""
        n, info = len(self), self.info
        selectors = self.inputs + self.outputs
        if (
            self.cache
            or not (self.inputs and self.outputs)
            or not all(info.on_grid[text] for text in selectors)
            or not all(type(i) is int and 0 <= i < n for i in indices)
        ):
            return super().__getitems__(indices)
        for index in indices:
            self.advise(index)
        grid, points, b = self.spatial_shape, int(np.prod(self.spatial_shape)), len(indices)
        x_size, y_size = info.n_channels(self.inputs) * points, info.n_channels(self.outputs) * points
        flat = shared_buffer(b * (x_size + y_size))
        values = flat.numpy()
        items = []
        for k, index in enumerate(indices):
            fields = []
            for names, start in ((self.inputs, k * x_size), (self.outputs, b * x_size + k * y_size)):
                begin = start
                for text in names:
                    name, time = info.selection[text]
                    size = info.channels[text] * points
                    self.reader.read(name, index, time=time, stride=self.stride, out=values[start : start + size])
                    start += size
                fields.append(flat[begin:start].view(-1, *grid))
            items.append((fields[0], fields[1]))
        return items


def sample_blocks(dataset: Dataset, block: int = 64) -> Iterator[tuple[str, torch.Tensor]]:
    """Stream ``("x", inputs)`` then ``("y", targets)`` stacked over blocks of ``block`` samples, in order."""
    for start in range(0, len(dataset), block):
        xs, ys = zip(*(dataset[i] for i in range(start, min(start + block, len(dataset)))))
        yield "x", torch.stack(xs)
        yield "y", torch.stack(ys)


def channel_statistics(dataset: Dataset, block: int = 64) -> dict[str, torch.Tensor]:
    """Per-channel mean and std of inputs and outputs over a dataset, streamed in blocks (float64 sums)."""
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for key, batch in sample_blocks(dataset, block):
        values = batch.double().transpose(0, 1).flatten(1)
        sums[key] = sums.get(key, 0) + values.sum(1)
        squares[key] = squares.get(key, 0) + (values**2).sum(1)
        counts[key] = counts.get(key, 0) + batch.shape[0] * int(np.prod(batch.shape[2:]))
    stats = {}
    for key in ("x", "y"):
        mean = sums[key] / counts[key]
        var = (squares[key] / counts[key] - mean**2).clamp(min=0.0)
        stats[f"{key}_mean"] = mean.float()
        stats[f"{key}_std"] = var.sqrt().float()
    return stats


POINTWISE_EPS = 1e-5


def pointwise_statistics(dataset: Dataset, block: int = 64) -> dict[str, torch.Tensor]:
    """Per grid point mean and std over the sample axis only, ``(C, *S)`` each, as the FNO Darcy scripts'
    ``UnitGaussianNormalizer``: unbiased std (``torch.std``) plus ``eps = 1e-5``, so points that never vary (a
    Dirichlet boundary) encode to 0 and decode to the mean, as in the reference."""
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for key, batch in sample_blocks(dataset, block):
        sums[key] = sums.get(key, 0) + batch.double().sum(0)
        squares[key] = squares.get(key, 0) + (batch.double() ** 2).sum(0)
        counts[key] = counts.get(key, 0) + batch.shape[0]
    if counts.get("x", 0) < 2:
        raise DataError("data.normalization: pointwise needs at least 2 training samples")
    stats = {}
    for key in ("x", "y"):
        mean = sums[key] / counts[key]
        var = ((squares[key] - counts[key] * mean**2) / (counts[key] - 1)).clamp(min=0.0)
        stats[f"{key}_mean"] = mean.float()
        stats[f"{key}_std"] = (var.sqrt() + POINTWISE_EPS).float()
    return stats

"""Field samples from any :mod:`specsolve.data.readers` reader, for the ``pdebench`` / ``the_well`` / ``fno_mat``
DataModules (private helper: not auto-imported by the registry).

A variable is chosen by a *selector*: ``name`` or ``name[t]`` / ``name[start:stop(:step)]``, the bracket indexing
the time axis (``tensor[0]`` = PDEBench Burgers' initial frame, ``tensor[1:]`` the rest, ``u[-1]`` the last).
Samples are ``x: (C_in, *S)``, ``y: (C_out, *S)``: selected time steps fold into channels (as
:class:`specsolve.data.fields.FieldDataset` folds extra dims of native files); per-sample scalars (dims ``()``, e.g.
a viscosity) become constant channels.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from specsolve.data.modules.hdf5_fields import FieldDataModule
from specsolve.data.readers import Reader, open_reader
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


class ReaderInfo:
    """What the training code needs to know about the fields (the interface of ``FieldFile``)."""

    def __init__(self, reader: Reader, selectors: list[str]) -> None:
        self.reader = reader
        self.path = reader.path
        self.spatial_dims = reader.spatial_dims
        self.spatial_shape = tuple(len(reader.coords[d]) for d in reader.spatial_dims)
        self.coords = {d: reader.coords[d] for d in reader.spatial_dims}
        self.n_samples = reader.n_samples
        self.selection: dict[str, tuple[str, int | slice | None]] = {}
        self.channels: dict[str, int] = {}
        self.dims: dict[str, tuple[str, ...]] = {}
        self.on_grid: dict[str, bool] = {}
        space = self.spatial_dims
        for text in selectors:
            name, time = parse_selector(text)
            var = reader.variable(name)
            key, drop_time = reader.selection(var, time)
            sizes = [len(range(*s.indices(n))) for s, n in zip(key, var.shape)]
            dims = var.dims[1:] if drop_time else var.dims
            sizes = sizes[1:] if drop_time else sizes
            on_grid = bool(space) and tuple(dims[len(dims) - len(space) :]) == space
            if not on_grid and any(d in space for d in dims):
                raise DataError(f"{reader.path}: variable '{name}' has dims {var.dims}, not on the grid {space}")
            extra = sizes[: len(sizes) - len(space)] if on_grid else sizes
            self.selection[text] = (name, time)
            self.channels[text] = int(np.prod(extra, dtype=int))
            self.dims[text] = tuple(dims)
            self.on_grid[text] = on_grid

    def n_channels(self, names: list[str]) -> int:
        return sum(self.channels[n] for n in names)

    def layout(self, names: list[str]) -> dict[str, dict]:
        """``{selector: {"dims": [...], "coords": {"time": [...]}}}`` for rebuilding variables from channels."""
        out = {}
        for text in names:
            name, time = self.selection[text]
            dims = [d for d in self.dims[text] if d in self.spatial_dims or d == TIME] or list(self.spatial_dims)
            coords = {}
            if TIME in dims:
                values = self.reader.coords[TIME]
                coords[TIME] = np.asarray(values[time] if isinstance(time, slice) else values).tolist()
            out[text] = {"dims": dims, "coords": coords}
        return out


class ReaderFieldDataset(Dataset):
    """``(x, y)`` samples, ``x: (C_in, *S)``, ``y: (C_out, *S)``, read lazily through a reader."""

    def __init__(
        self, reader: Reader, inputs: list[str], outputs: list[str], stride: int = 1, cache: bool = False
    ) -> None:
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        self.reader = reader
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.info = ReaderInfo(reader, self.inputs + self.outputs)
        if self.info.n_samples == 0:
            raise DataError(f"{reader.path}: the dataset is empty (0 samples)")
        self.stride = stride
        self.cache = cache
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.info.n_samples

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(range(0, n, self.stride)) for n in self.info.spatial_shape)

    def _stack(self, selectors: list[str], index: int) -> torch.Tensor:
        parts = []
        grid = self.spatial_shape
        for text in selectors:
            name, time = self.info.selection[text]
            values = self.reader.read(name, index, time=time, stride=self.stride).astype(np.float32, copy=False)
            channels = self.info.channels[text]
            if not self.info.on_grid[text]:  # per-sample scalars (or a scalar time series): constant channels
                values = np.broadcast_to(values.reshape((channels,) + (1,) * len(grid)), (channels,) + grid)
            parts.append(values.reshape((channels,) + grid))
        if not parts:
            return torch.empty(0)
        return torch.from_numpy(np.ascontiguousarray(np.concatenate(parts, axis=0)))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache and index in self._cache:
            return self._cache[index]
        item = (self._stack(self.inputs, index), self._stack(self.outputs, index))
        if self.cache:
            self._cache[index] = item
        return item


class ReaderDataModule(FieldDataModule):
    """:class:`FieldDataModule` over a reader instead of a native file (subclasses fix the format and options).

    ``train`` / ``val`` / ``test``: a file, a directory of shards or a glob; ``*_range: [start, stop]`` takes a
    sample range of that split (FNO's Navier-Stokes scripts take train and test from one file:
    ``train_range: [0, 1000]``, ``test_range: [4800, 5000]``).
    """

    format = "auto"

    def _setup(
        self,
        train: str,
        inputs: list[str],
        outputs: list[str],
        test: str | None,
        val: str | None,
        batch_size: int,
        num_workers: int,
        stride: int,
        n_train: int | None,
        cache: bool,
        train_range: list[int] | None,
        test_range: list[int] | None,
        seed: int,
        reader_options: dict[str, Any],
    ) -> None:
        """What ``FieldDataModule.__init__`` does, with readers instead of native files (keeps its attributes,
        so its loaders and normalisation statistics work unchanged)."""
        import lightning as L

        L.LightningDataModule.__init__(self)
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if stride < 1:
            raise ConfigError(f"data.stride must be >= 1, got {stride}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        self.paths = {"train": train, "val": val or test, "test": test}
        ranges = {"train": train_range, "val": test_range if val is None else None, "test": test_range}
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.stride, self.eval_strides = stride, []
        self.n_train, self.cache, self.seed = n_train, cache, seed
        self.datasets: dict[str, Dataset] = {}
        for split, path in self.paths.items():
            if path is None:
                continue
            reader = open_reader(path, self.format, **reader_options)
            dataset = ReaderFieldDataset(reader, self.inputs, self.outputs, stride, cache)
            bounds = ranges[split]
            if bounds is not None:
                if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1] <= len(dataset):
                    raise ConfigError(
                        f"data.{split}_range {bounds} must be [start, stop] within {len(dataset)} samples"
                    )
                subset = Subset(dataset, range(bounds[0], bounds[1]))
                subset.info = dataset.info  # type: ignore[attr-defined]
                subset.spatial_shape = dataset.spatial_shape  # type: ignore[attr-defined]
                dataset = subset  # type: ignore[assignment]
            self.datasets[split] = dataset
        train_set = self.datasets["train"]
        if n_train is not None and not 1 <= n_train <= len(train_set):
            raise ConfigError(f"data.n_train={n_train} but the training data have {len(train_set)} samples")
        self.in_channels = train_set.info.n_channels(self.inputs)
        self.out_channels = train_set.info.n_channels(self.outputs)
        self.spatial_shape = train_set.spatial_shape

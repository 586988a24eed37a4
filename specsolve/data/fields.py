"""Lazy, per-worker HDF5 access to field samples: inputs and outputs stacked as channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from specsolve.data.lazy_file import LazyHDF5
from specsolve.data.native import SPATIAL_DIMS, coordinate, open_h5, variable_dims
from specsolve.errors import DataError


class FieldFile:
    """Describes the fields of one file: which variables, their spatial dims and channel counts.

    A variable with dims ``(sample, *extra, *space)`` contributes ``prod(extra)`` channels (e.g. ``time`` steps
    folded as channels for a time-stepping FNO); all variables must share the same spatial dims and sizes.
    """

    def __init__(self, path: str | Path, inputs: list[str], outputs: list[str]) -> None:
        self.path = Path(path)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        with open_h5(self.path) as f:
            self.dims: dict[str, tuple[str, ...]] = {}
            spatial_dims: tuple[str, ...] | None = None
            n_samples: int | None = None
            for name in self.inputs + self.outputs:
                dims = variable_dims(f, name)
                if not dims or dims[0] != "sample":
                    raise DataError(f"{self.path}: variable '{name}' must have 'sample' as its first dimension")
                space = tuple(d for d in dims if d in SPATIAL_DIMS)
                if dims[len(dims) - len(space):] != space:
                    raise DataError(f"{self.path}: variable '{name}' must end with its spatial dims, got {dims}")
                if spatial_dims is None:
                    spatial_dims = space
                elif space != spatial_dims:
                    raise DataError(
                        f"{self.path}: variable '{name}' has spatial dims {space}, expected {spatial_dims}"
                    )
                shape = f[name].shape
                if n_samples is None:
                    n_samples = shape[0]
                elif shape[0] != n_samples:
                    raise DataError(f"{self.path}: variable '{name}' has {shape[0]} samples, expected {n_samples}")
                self.dims[name] = dims
            if not spatial_dims:
                raise DataError(f"{self.path}: variables have no spatial dimension (x, y or z)")
            self.spatial_dims = spatial_dims
            self.n_samples = int(n_samples or 0)
            self.spatial_shape = tuple(f[self.inputs[0]].shape[-len(spatial_dims):])
            self.coords = {d: coordinate(f, d) for d in spatial_dims}
            self.channels = {
                name: int(np.prod(f[name].shape[1 : len(f[name].shape) - len(spatial_dims)], dtype=int))
                for name in self.inputs + self.outputs
            }
        if self.n_samples == 0:
            raise DataError(f"{self.path}: the dataset is empty (0 samples)")

    def n_channels(self, names: list[str]) -> int:
        return sum(self.channels[n] for n in names)

    def layout(self, names: list[str]) -> dict[str, dict]:
        """``{name: {"dims": [...], "coords": {extra_dim: values}}}`` for rebuilding variables from channels."""
        out = {}
        with open_h5(self.path) as f:
            for name in names:
                dims = self.dims[name][1:]
                extra = [d for d in dims if d not in self.spatial_dims]
                out[name] = {"dims": list(dims), "coords": {d: coordinate(f, d).tolist() for d in extra}}
        return out


class FieldDataset(LazyHDF5, Dataset):
    """Samples ``(x, y)`` with ``x: (C_in, *S)`` and ``y: (C_out, *S)`` read lazily from one HDF5 file.

    The file is opened on first access in each process (so every DataLoader worker has its own handle);
    ``stride`` subsamples every spatial axis of the stored grid; ``cache`` keeps read samples in RAM.
    """

    def __init__(
        self, path: str | Path, inputs: list[str], outputs: list[str], stride: int = 1, cache: bool = False
    ) -> None:
        self.info = FieldFile(path, inputs, outputs)
        if stride < 1:
            raise DataError(f"stride must be >= 1, got {stride}")
        self.stride = stride
        self.cache = cache
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.info.n_samples

    def _read(self, names: list[str], index: int) -> torch.Tensor:
        """Channels of ``names`` for one sample, extra (e.g. time) axes folded into channels: ``(C, *S)``."""
        if not names:
            return torch.empty(0)
        nspace = len(self.info.spatial_dims)
        parts = [self.read_block(name, (index,), f"sample {index}") for name in names]
        return torch.from_numpy(np.concatenate([v.reshape((-1,) + v.shape[v.ndim - nspace :]) for v in parts]))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache and index in self._cache:
            return self._cache[index]
        item = (self._read(self.info.inputs, index), self._read(self.info.outputs, index))
        if self.cache:
            self._cache[index] = item
        return item


def channel_statistics(dataset: "Dataset", block: int = 64) -> dict[str, torch.Tensor]:
    """Per-channel mean and std of inputs and outputs over a dataset, streamed in blocks (float64 sums)."""
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    count = 0
    for start in range(0, len(dataset), block):
        xs, ys = zip(*(dataset[i] for i in range(start, min(start + block, len(dataset)))))
        for key, batch in (("x", torch.stack(xs)), ("y", torch.stack(ys))):
            values = batch.double().transpose(0, 1).flatten(1)
            sums[key] = sums.get(key, 0) + values.sum(1)
            squares[key] = squares.get(key, 0) + (values**2).sum(1)
        count += batch.shape[0] * int(np.prod(batch.shape[2:]))
    stats = {}
    for key in ("x", "y"):
        mean = sums[key] / count
        var = (squares[key] / count - mean**2).clamp(min=0.0)
        stats[f"{key}_mean"] = mean.float()
        stats[f"{key}_std"] = var.sqrt().float()
    return stats

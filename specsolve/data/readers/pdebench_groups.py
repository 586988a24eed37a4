"""PDEBench per-sample-group HDF5 files (``*.h5``: 2D diffusion-reaction, 1D diffusion-sorption, SWE), in place.

Layout (references/data.md §5.1): root groups ``"0000"``, ``"0001"``, ... each holding ``data``
``[nt, nx(, ny), C]`` and a subgroup ``grid`` with ``x`` (``y``) and ``t``; group attribute ``config`` (YAML).

The reader presents channel ``c`` as a variable with dims ``(time, *space)``, named ``channel_names[c]`` when
given, else ``data_<c>``. The grid is read from the first group and assumed shared (PDEBench writes the same grid
in every group); every group's ``data`` shape is checked against the first one when it is read.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from specsolve.data.readers.base import SPATIAL_NAMES, TIME, Reader, VariableInfo, guard, reader_format
from specsolve.data.readers.pdebench import plain_attrs
from specsolve.errors import DataError


def sample_groups(f: h5py.File) -> list[str]:
    """Names of the root groups that hold a ``data`` dataset, in sorted order."""
    names = []
    for key, obj in f.items():
        if isinstance(obj, h5py.Group) and isinstance(obj.get("data"), h5py.Dataset):
            names.append(key)
    return sorted(names)


@reader_format("pdebench_groups")
class PDEBenchGroupsReader(Reader):
    """Lazy reader of a PDEBench per-sample-group file (see module docstring)."""

    def __init__(self, path: str | Path, channel_names: list[str] | None = None) -> None:
        super().__init__(path)
        with self._open() as f, guard(self.path, "reading the PDEBench per-sample layout"):
            self._describe(f, channel_names)
        self.check_finite_coordinates()

    def _describe(self, f: h5py.File, channel_names: list[str] | None) -> None:
        self.groups = sample_groups(f)
        if not self.groups:
            raise DataError(f"{self.path}: no sample groups ('0000', '0001', ...) holding a 'data' dataset")
        self.n_samples = len(self.groups)
        first = f[self.groups[0]]
        shape = tuple(int(n) for n in first["data"].shape)
        if len(shape) < 3:
            raise DataError(
                f"{self.path}: group '{self.groups[0]}' has data of shape {shape}; "
                "expected [nt, nx(, ny), channels] (wrong dims)"
            )
        nspace = len(shape) - 2
        if nspace > 3:
            raise DataError(f"{self.path}: data of shape {shape} has {nspace} spatial dims (at most 3 supported)")
        self.data_shape = shape
        self.spatial_dims = SPATIAL_NAMES[:nspace]
        grid = first.get("grid")
        if not isinstance(grid, h5py.Group):
            raise DataError(f"{self.path}: group '{self.groups[0]}' is missing its 'grid' subgroup")
        for axis, dim in enumerate(self.spatial_dims):
            if dim not in grid:
                raise DataError(f"{self.path}: missing variable 'grid/{dim}' in group '{self.groups[0]}'")
            values = np.asarray(grid[dim][()], dtype=np.float64)
            if values.ndim != 1 or len(values) != shape[1 + axis]:
                raise DataError(
                    f"{self.path}: 'grid/{dim}' has shape {values.shape}, data has {shape[1 + axis]} points "
                    f"along {dim} (wrong dims)"
                )
            self.coords[dim] = values
            self.coord_attrs[dim] = {"long_name": f"{dim} coordinate (PDEBench grid/{dim})"}
        nt = shape[0]
        if "t" in grid:
            t = np.asarray(grid["t"][()], dtype=np.float64).ravel()
            if len(t) not in (nt, nt + 1):
                raise DataError(f"{self.path}: 'grid/t' has {len(t)} entries for {nt} time steps")
            self.coords[TIME] = t[:nt]
            self.coord_attrs[TIME] = {"long_name": "time (PDEBench grid/t)"}
        else:
            self.coords[TIME] = np.arange(nt, dtype=np.float64)
            self.coord_attrs[TIME] = {"long_name": "time step index (the file has no grid/t)"}
        n_channels = shape[-1]
        if channel_names is None:
            names = [f"data_{c}" for c in range(n_channels)]
        else:
            names = list(channel_names)
            if len(names) != n_channels or len(set(names)) != len(names):
                raise DataError(f"{self.path}: channel_names {names} must name the {n_channels} channels once each")
        self.channel_index = {name: c for c, name in enumerate(names)}
        for name in names:
            self.variables[name] = VariableInfo(name, (TIME,) + self.spatial_dims, shape[:-1])
        self.attrs = plain_attrs(f.attrs)
        config = first.attrs.get("config")
        if config is not None:
            self.attrs["config"] = config.decode("utf-8", "replace") if isinstance(config, bytes) else str(config)

    def _read(self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        channel = self.channel_index[var.name]
        out = []
        for index in range(*samples.indices(self.n_samples)):
            name = self.groups[index]
            group = handle[name]
            if "data" not in group:
                raise DataError(f"{self.path}: group '{name}' has no 'data'")
            dset = group["data"]
            if tuple(dset.shape) != self.data_shape:
                raise DataError(
                    f"{self.path}: group '{name}' has data of shape {tuple(dset.shape)}, expected {self.data_shape} "
                    f"(inconsistent shapes across samples)"
                )
            out.append(dset[key + (channel,)])
        return np.stack(out)

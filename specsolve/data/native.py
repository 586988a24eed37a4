"""The native file format: netCDF4-compliant HDF5 with named dimensions, coordinates and provenance.

Layout (one file per split or shard)::

    / attrs: conventions="specsolve-1", generator, parameters (YAML), seed, specsolve_version, created, ...
      coordinates (HDF5 dimension scales): sample (int64), [time (f8)], x (f8)[, y (f8)[, z (f8)]]
      variables: e.g. a(sample, x, y), u(sample, x, y) or u(sample, time, x, y); float32,
                 chunked one sample per chunk, gzip + shuffle, attrs units / long_name

``xr.open_dataset(path, engine="h5netcdf")`` opens it with named dimensions and coordinates. Files are written
to a temporary name in the target folder and renamed into place only when complete, so a killed writer never
leaves a file that looks finished.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from specsolve.errors import DataError
from specsolve.io import atomic_path
from specsolve.version import __version__

CONVENTIONS = "specsolve-1"
SPATIAL_DIMS = ("x", "y", "z")


@dataclass
class VariableSpec:
    """A variable to write: its dimension names, dtype and CF-style attributes."""

    dims: tuple[str, ...]
    dtype: str = "float32"
    attrs: dict[str, Any] = field(default_factory=dict)


def hdf5_attr_value(value: Any) -> Any:
    """``value`` as HDF5 stores it as an attribute: scalars and strings as they are, numeric lists as arrays,
    anything else as its ``str``."""
    if isinstance(value, (str, int, float, bool, np.integer, np.floating)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return np.asarray(value)
    return str(value)


class NativeWriter:
    """Write a native file atomically.

    >>> with NativeWriter(path, coords={"sample": idx, "x": x}, variables={"u": VariableSpec(("sample", "x"))},
    ...                   attrs={...}) as w:
    ...     w.write("u", start=0, values=batch)
    """

    def __init__(
        self,
        path: str | Path,
        coords: Mapping[str, np.ndarray],
        variables: Mapping[str, VariableSpec],
        attrs: Mapping[str, Any] | None = None,
        coord_attrs: Mapping[str, Mapping[str, Any]] | None = None,
        compression: int | None = 1,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise DataError(f"output file already exists (pass overwrite to replace it): {self.path}")
        if self.path.exists() and self.path.is_dir():
            raise DataError(f"output path is a directory: {self.path}")
        self.coords = {k: np.asarray(v) for k, v in coords.items()}
        self.variables = dict(variables)
        self.attrs = dict(attrs or {})
        self.coord_attrs = {k: dict(v) for k, v in (coord_attrs or {}).items()}
        self.compression = compression
        self._file: h5py.File | None = None
        self._tmp: Path | None = None
        self._stack = ExitStack()

    def __enter__(self) -> NativeWriter:
        self._stack = ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        f = h5py.File(self._tmp, "w")
        self._file = f
        f.attrs["Conventions"] = "CF-1.8"
        f.attrs["conventions"] = CONVENTIONS
        f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        f.attrs["specsolve_version"] = __version__
        for key, value in self.attrs.items():
            f.attrs[key] = hdf5_attr_value(value)
        for name, values in self.coords.items():
            dset = f.create_dataset(name, data=values)
            dset.make_scale(name)
            for key, value in self.coord_attrs.get(name, {}).items():
                dset.attrs[key] = hdf5_attr_value(value)
        for name, spec in self.variables.items():
            missing = [d for d in spec.dims if d not in self.coords]
            if missing:
                raise DataError(f"variable '{name}' uses dimension(s) without coordinates: {missing}")
            shape = tuple(len(self.coords[d]) for d in spec.dims)
            chunks = (1,) + shape[1:] if spec.dims[0] == "sample" and shape[0] > 0 else None
            dset = f.create_dataset(
                name,
                shape=shape,
                dtype=spec.dtype,
                chunks=chunks,
                compression="gzip" if self.compression else None,
                compression_opts=self.compression if self.compression else None,
                shuffle=bool(self.compression),
            )
            for axis, dim in enumerate(spec.dims):
                dset.dims[axis].attach_scale(f[dim])
            for key, value in spec.attrs.items():
                dset.attrs[key] = hdf5_attr_value(value)
        return self

    def write(self, name: str, start: int, values: np.ndarray) -> None:
        """Write ``values`` (leading axis = samples) into ``name`` from sample ``start``."""
        assert self._file is not None, "use NativeWriter as a context manager"
        values = np.asarray(values)
        if not np.all(np.isfinite(values)):
            raise DataError(f"refusing to write non-finite values into '{name}' (samples {start}..)")
        self._file[name][start : start + values.shape[0]] = values

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._file is not None and self._tmp is not None
        self._file.close()
        self._stack.__exit__(exc_type, exc, tb)  # renames the finished file into place, or removes it


def variable_dims(f: h5py.File, name: str) -> tuple[str, ...]:
    """Dimension names of a variable of an open file (:func:`specsolve.data.readers.open_hdf5`), from its
    attached dimension scales. Reading goes through :class:`specsolve.data.readers.NativeReader`."""
    if name not in f or not isinstance(f[name], h5py.Dataset):
        available = [k for k, v in f.items() if isinstance(v, h5py.Dataset) and not v.is_scale]
        raise DataError(f"{f.filename}: no variable '{name}'; variables: {', '.join(available) or '(none)'}")
    dset = f[name]
    dims = []
    for axis in range(dset.ndim):
        scales = dset.dims[axis]
        if len(scales) == 0:
            raise DataError(f"{f.filename}: variable '{name}' axis {axis} has no named dimension")
        dims.append(scales[0].name.rsplit("/", 1)[-1])
    return tuple(dims)


def coordinate(f: h5py.File, dim: str) -> np.ndarray:
    """The values of coordinate (dimension scale) ``dim`` of an open file."""
    if dim not in f:
        raise DataError(f"{f.filename}: no coordinate '{dim}'")
    return np.asarray(f[dim][()])

"""Native specsolve files (specsolve/data/native.py), and any HDF5 file whose variables carry named dimensions
(dimension scales), through the common reader interface: the one read path of the ``hdf5*`` DataModules and of
``specsolve predict``.

Variables are the root datasets whose first dimension scale is ``sample``; their remaining dims are the per-sample
dims ``([time, ]*extra, *space)``: the optional ``time`` axis, then non-spatial axes (e.g. ``lead_time`` of a
prediction file, or vector components), then the spatial dims (``x``, ``y``, ``z``), which ``stride`` subsamples.
Variables with dims ``(sample,)`` only (a per-sample viscosity or seed) are presented with dims ``()``.
Coordinates are the dimension scales.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from specsolve.data.readers.base import SPATIAL_NAMES, TIME, Reader, VariableInfo, guard, reader_format
from specsolve.data.readers.pdebench import plain_attrs
from specsolve.errors import DataError


def _dims(dset: h5py.Dataset) -> tuple[str, ...] | None:
    dims = []
    for axis in range(dset.ndim):
        scales = dset.dims[axis]
        if len(scales) == 0:
            return None
        dims.append(scales[0].name.rsplit("/", 1)[-1])
    return tuple(dims)


@reader_format("native")
class NativeReader(Reader):
    """Lazy reader of a native file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.unlabelled: list[str] = []
        with self._open() as f, guard(self.path, "reading the native layout"):
            self._describe(f)
        self.check_finite_coordinates()

    def _describe(self, f: h5py.File) -> None:
        p = self.path
        self.attrs = plain_attrs(f.attrs)
        spatial: tuple[str, ...] | None = None
        n_samples: int | None = None
        for name, dset in f.items():
            if not isinstance(dset, h5py.Dataset) or dset.is_scale:
                continue
            dims = _dims(dset)
            if dims is None:
                self.unlabelled.append(name)
                continue
            if not dims or dims[0] != "sample":
                continue  # not a per-sample variable (e.g. a shared constant field): not presented
            rest = dims[1:]
            space = tuple(d for d in rest if d in SPATIAL_NAMES)
            extra = tuple(d for d in rest if d not in SPATIAL_NAMES and d != TIME)
            if rest not in ((*extra, *space), (TIME, *extra, *space)) or "sample" in rest:
                raise DataError(
                    f"{p}: variable '{name}' has dims {dims}; expected (sample[, time][, ...][, x[, y[, z]]]) "
                    "(wrong dims)"
                )
            if space:
                if spatial is None:
                    spatial = space
                elif space != spatial:
                    raise DataError(f"{p}: variable '{name}' has spatial dims {space}, others have {spatial}")
            shape = tuple(int(n) for n in dset.shape)
            if n_samples is None:
                n_samples = shape[0]
            elif shape[0] != n_samples:
                raise DataError(f"{p}: variable '{name}' has {shape[0]} samples, others have {n_samples}")
            self.variables[name] = VariableInfo(name, rest, shape[1:], plain_attrs(dset.attrs))
        if not self.variables:
            hint = f" (datasets with no named dimension: {', '.join(self.unlabelled)})" if self.unlabelled else ""
            raise DataError(f"{p}: missing variable: no variable with a 'sample' dimension{hint}")
        self.n_samples = int(n_samples or 0)
        self.spatial_dims = spatial or ()
        used = dict.fromkeys(d for var in self.variables.values() for d in var.dims)
        for dim in (*self.spatial_dims, *(d for d in used if d not in self.spatial_dims)):
            if dim not in f:
                raise DataError(f"{p}: missing coordinate '{dim}'")
            values = np.asarray(f[dim][()])
            # time and space as float64; other axes keep their stored type (integer component indices)
            self.coords[dim] = values.astype(np.float64) if dim in self.spatial_dims or dim == TIME else values
            self.coord_attrs[dim] = plain_attrs(f[dim].attrs)
        for var in self.variables.values():
            for axis, dim in enumerate(var.dims):
                if len(self.coords[dim]) != var.shape[axis]:
                    raise DataError(
                        f"{p}: variable '{var.name}' has {var.shape[axis]} points along '{dim}', the coordinate "
                        f"has {len(self.coords[dim])} (wrong dims)"
                    )
        self.sample_ids = np.asarray(f["sample"][()]) if "sample" in f else np.arange(self.n_samples)

    def variable(self, name: str) -> VariableInfo:
        if name not in self.variables and name in self.unlabelled:
            raise DataError(f"{self.path}: variable '{name}' has no named dimension (no dimension scales attached)")
        return super().variable(name)

    def _read(self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        return self.read_node(self.node(var.name), (samples,) + key)

    def _storage(self, var: VariableInfo, index: int, key: tuple[slice, ...]) -> tuple[Any, tuple[Any, ...]]:
        return self.node(var.name), (index,) + key

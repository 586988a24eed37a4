"""Native specsolve files (specsolve/data/native.py) through the common reader interface.

Variables are the root datasets whose first dimension scale is ``sample``; their remaining dims (``time``, then
the spatial dims, usually ``x``, ``y``, ``z``) are the per-sample dims. Variables with dims ``(sample,)`` only
(a per-sample viscosity or seed) are presented with dims ``()``. Coordinates are the dimension scales.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from specsolve.data.readers.base import TIME, Reader, VariableInfo, guard
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


class NativeReader(Reader):
    """Lazy reader of a native file (see module docstring)."""

    format = "native"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        with self._open() as f, guard(self.path, "reading the native layout"):
            self._describe(f)
        self.check_finite_coordinates()

    def _describe(self, f: h5py.File) -> None:
        p = self.path
        self.attrs = plain_attrs(f.attrs)
        spatial: tuple[str, ...] | None = None
        n_samples: int | None = None
        unlabelled = []
        for name, dset in f.items():
            if not isinstance(dset, h5py.Dataset) or dset.is_scale:
                continue
            dims = _dims(dset)
            if dims is None:
                unlabelled.append(name)
                continue
            if not dims or dims[0] != "sample":
                continue  # not a per-sample variable (e.g. a shared constant field): not presented
            rest = dims[1:]
            space = tuple(d for d in rest if d != TIME)
            if rest not in (space, (TIME,) + space) or "sample" in space:
                raise DataError(
                    f"{p}: variable '{name}' has dims {dims}; expected (sample[, time][, x[, y[, z]]]) (wrong dims)"
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
            hint = f" (datasets without named dimensions: {', '.join(unlabelled)})" if unlabelled else ""
            raise DataError(f"{p}: missing variable: no variable with a 'sample' dimension{hint}")
        self.n_samples = int(n_samples or 0)
        self.spatial_dims = spatial or ()
        for dim in self.spatial_dims + ((TIME,) if any(v.has_time for v in self.variables.values()) else ()):
            if dim not in f:
                raise DataError(f"{p}: missing coordinate '{dim}'")
            values = np.asarray(f[dim][()], dtype=np.float64)
            self.coords[dim] = values
            self.coord_attrs[dim] = plain_attrs(f[dim].attrs)
        for var in self.variables.values():
            for axis, dim in enumerate(var.dims):
                if len(self.coords[dim]) != var.shape[axis]:
                    raise DataError(
                        f"{p}: variable '{var.name}' has {var.shape[axis]} points along '{dim}', the coordinate "
                        f"has {len(self.coords[dim])} (wrong dims)"
                    )
        self.sample_ids = np.asarray(f["sample"][()]) if "sample" in f else np.arange(self.n_samples)

    def _read(self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        return handle[var.name][(samples,) + key]

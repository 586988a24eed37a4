"""PDEBench single-array HDF5 files (``*.hdf5``), read in place.

Layout (references/data.md §5.1): root datasets ``tensor`` ``[N, nt, nx(, ny(, nz))]`` (1D advection, Burgers,
reaction-diffusion; compressible NS uses ``density``, ``pressure``, ``Vx``... of the same shape), coordinates
``x-coordinate`` ``[nx]`` (``y-``, ``z-``) and ``t-coordinate``, parameters as root attributes (``Nu``, ``beta``,
``rho``...). 2D Darcy: ``tensor`` ``[N, 1, nx, ny]`` is the solution and ``nu`` ``[N, nx, ny]`` the coefficient.

Conventions of this reader:

- every root dataset with ``N`` leading entries is a variable, with per-sample dims ``(time, *space)`` or
  ``(*space)``; the spatial dims follow the coordinate datasets present (``x``, ``y``, ``z``);
- the released ``t-coordinate`` has **one more entry than nt** (``arange(nt + 1) * dt_save``): its first ``nt``
  entries are the frame times; a ``t-coordinate`` of length ``nt`` is used as is;
- a variable whose time axis has length 1 and no ``t-coordinate`` exists (Darcy's ``tensor``) is a steady field
  with dims ``(x, y)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from specsolve.data.readers.base import SPATIAL_NAMES, TIME, Reader, VariableInfo, guard, reader_format
from specsolve.errors import DataError

COORDINATE_NAMES = {"x-coordinate": "x", "y-coordinate": "y", "z-coordinate": "z"}
TIME_NAME = "t-coordinate"


def plain_attrs(attrs: Any) -> dict[str, Any]:
    """HDF5 attributes as plain Python values (bytes decoded, 1-element arrays unwrapped, references dropped)."""
    out: dict[str, Any] = {}
    for key in attrs.keys():
        if key in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid", "_Netcdf4Coordinates"):
            continue
        try:
            value = attrs[key]
        except (OSError, TypeError, ValueError, KeyError):
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.ndarray):
            if value.dtype.kind == "O" or value.dtype.kind == "S":
                value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value.ravel().tolist()]
                value = [v for v in value if isinstance(v, (str, int, float, bool))]
            elif value.size == 1:
                value = value.ravel()[0].item()
            else:
                value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, int, float, bool, list)):
            out[key] = value
    return out


@reader_format("pdebench")
class PDEBenchReader(Reader):
    """Lazy reader of a PDEBench single-array file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._squeeze: dict[str, bool] = {}
        with self._open() as f, guard(self.path, "reading the PDEBench layout"):
            self._describe(f)
        self.check_finite_coordinates()

    def _describe(self, f: h5py.File) -> None:
        self.attrs = plain_attrs(f.attrs)
        datasets = {k: v for k, v in f.items() if isinstance(v, h5py.Dataset)}
        space = {dim: name for name, dim in COORDINATE_NAMES.items() if name in datasets}
        if "x" not in space:
            raise DataError(
                f"{self.path}: missing variable 'x-coordinate' (not a PDEBench single-array file? "
                f"datasets: {', '.join(datasets) or '(none)'})"
            )
        self.spatial_dims = tuple(d for d in SPATIAL_NAMES if d in space)
        if self.spatial_dims != SPATIAL_NAMES[: len(self.spatial_dims)]:
            raise DataError(f"{self.path}: coordinates {sorted(space)} skip a dimension (need x, then y, then z)")
        for dim in self.spatial_dims:
            values = np.asarray(datasets[space[dim]][()], dtype=np.float64)
            if values.ndim != 1:
                raise DataError(f"{self.path}: '{space[dim]}' must be 1-D, has shape {values.shape}")
            self.coords[dim] = values
            self.coord_attrs[dim] = {"long_name": f"{dim} coordinate (PDEBench '{space[dim]}')"}
        grid = tuple(len(self.coords[d]) for d in self.spatial_dims)
        nspace = len(grid)

        candidates = {
            k: v for k, v in datasets.items() if k not in COORDINATE_NAMES and k != TIME_NAME and v.ndim >= nspace + 1
        }
        if not candidates:
            raise DataError(f"{self.path}: missing variable 'tensor' (no dataset of shape [N, (nt,) *{grid}])")
        lead = "tensor" if "tensor" in candidates else sorted(candidates)[0]
        self.n_samples = int(candidates[lead].shape[0])
        t_coord = np.asarray(datasets[TIME_NAME][()], dtype=np.float64).ravel() if TIME_NAME in datasets else None

        nt_seen: int | None = None
        for name in sorted(candidates):
            shape = tuple(int(n) for n in candidates[name].shape)
            if shape[0] != self.n_samples:
                raise DataError(f"{self.path}: variable '{name}' has {shape[0]} samples, '{lead}' has {self.n_samples}")
            rest = shape[1:]
            if rest == grid:
                self.variables[name] = VariableInfo(name, self.spatial_dims, grid)
                continue
            if len(rest) == nspace + 1 and rest[1:] == grid:
                nt = rest[0]
                if nt == 1 and t_coord is None:  # steady field stored with a time axis (Darcy 'tensor')
                    self._squeeze[name] = True
                    self.variables[name] = VariableInfo(name, self.spatial_dims, grid)
                    continue
                if nt_seen is not None and nt != nt_seen:
                    raise DataError(f"{self.path}: variable '{name}' has {nt} time steps, others have {nt_seen}")
                nt_seen = nt
                self.variables[name] = VariableInfo(name, (TIME,) + self.spatial_dims, (nt,) + grid)
                continue
            raise DataError(
                f"{self.path}: variable '{name}' has shape {shape}, which is not [N, (nt,) {', '.join(map(str, grid))}]"
                f" for the grid of the coordinates {self.spatial_dims} (wrong dims)"
            )
        if nt_seen is not None:
            if t_coord is None:
                self.coords[TIME] = np.arange(nt_seen, dtype=np.float64)
                self.coord_attrs[TIME] = {"long_name": "time step index (the file has no t-coordinate)"}
            elif len(t_coord) in (nt_seen, nt_seen + 1):
                self.coords[TIME] = t_coord[:nt_seen]
                self.coord_attrs[TIME] = {"long_name": "time (PDEBench 't-coordinate', first nt entries)"}
            else:
                raise DataError(
                    f"{self.path}: 't-coordinate' has {len(t_coord)} entries for {nt_seen} time steps "
                    f"(expected {nt_seen} or {nt_seen + 1})"
                )

    def _read(self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        lead: tuple[Any, ...] = (samples, 0) if self._squeeze.get(var.name) else (samples,)
        return self.read_node(self.node(var.name), lead + key)

    def _read_into(
        self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...], out: np.ndarray
    ) -> np.ndarray:
        lead: tuple[Any, ...] = (samples, 0) if self._squeeze.get(var.name) else (samples,)
        return self.read_node(self.node(var.name), lead + key, out)

    def _storage(self, var: VariableInfo, index: int, key: tuple[slice, ...]) -> tuple[Any, tuple[Any, ...]]:
        lead: tuple[Any, ...] = (index, 0) if self._squeeze.get(var.name) else (index,)
        return self.node(var.name), lead + key

"""The Well's HDF5 layout (``<name>/data/<split>/*.hdf5``), read in place.

Layout (references/data.md §5.2): root attrs ``dataset_name``, ``grid_type``, ``n_spatial_dims``,
``n_trajectories``; ``/dimensions`` (attr ``spatial_dims``; datasets ``time`` and one per spatial dim);
``/t0_fields``, ``/t1_fields``, ``/t2_fields`` (attr ``field_names``; each field has attrs ``sample_varying``,
``time_varying``, ``dim_varying`` and shape ``([B])([T])(varying dims)(D per tensor order)``); ``/scalars``
(attr ``field_names``); ``/boundary_conditions/<name>`` (attrs ``bc_type``, ``associated_dims``...).

Presentation in the common interface:

- scalar fields keep their names; vector components become ``<name>_<dim>`` (``velocity_x``) and rank-2
  components ``<name>_<dim><dim>`` (``stress_xy``), as The Well's own ``WellDataset`` names them;
- per-sample dims are ``(time, *spatial_dims)`` for time-varying fields and ``(*spatial_dims)`` for constant
  ones; fields that do not vary along a dim (``dim_varying`` False) or across samples are broadcast on read;
- ``/scalars`` become variables with dims ``("time",)`` or ``()``;
- a sample-varying time grid is presented by its first sample's values (``coord_attrs['time']`` says so);
  sample-varying spatial grids are not supported.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from specsolve.data.readers.base import TIME, Reader, VariableInfo, guard, reader_format
from specsolve.data.readers.pdebench import plain_attrs
from specsolve.errors import DataError

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")


def _names(attrs: Any, key: str = "field_names") -> list[str]:
    raw = attrs.get(key, [])
    if isinstance(raw, (bytes, str)):
        raw = [raw]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(raw).ravel().tolist()]


def _listed_dataset(group: h5py.Group, name: str, path: Path, where: str) -> tuple[h5py.Dataset, bool, bool]:
    """The dataset ``name`` listed in ``group``'s ``field_names`` and its ``sample_varying`` / ``time_varying``
    flags; a one-line :class:`DataError` when it is missing."""
    if name not in group or not isinstance(group[name], h5py.Dataset):
        raise DataError(f"{path}: missing variable {where} (listed in field_names)")
    dset = group[name]
    return dset, _flag(dset.attrs, "sample_varying", path, where), _flag(dset.attrs, "time_varying", path, where)


def _flag(attrs: Any, key: str, path: Path, where: str) -> bool:
    if key not in attrs:
        raise DataError(f"{path}: {where} is missing its '{key}' attribute")
    return bool(np.asarray(attrs[key]).ravel()[0])


@dataclass(frozen=True)
class _Source:
    group: str  # "t0_fields" ... or "scalars"
    field: str
    component: tuple[int, ...]  # tensor component indices (empty for t0 / scalars)
    sample_varying: bool
    time_varying: bool
    dim_varying: tuple[bool, ...]  # per spatial dim (empty for scalars)


@reader_format("well")
class WellReader(Reader):
    """Lazy reader of one Well-format file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.sources: dict[str, _Source] = {}
        with self._open() as f, guard(self.path, "reading The Well layout"):
            self._describe(f)
        self.check_finite_coordinates()

    def _describe(self, f: h5py.File) -> None:
        p = self.path
        if "dimensions" not in f or not any(g in f for g in FIELD_GROUPS):
            raise DataError(f"{p}: missing variable '/dimensions' or '/t0_fields' (not a Well-format file)")
        self.attrs = plain_attrs(f.attrs)
        for key in ("n_trajectories", "n_spatial_dims"):
            if key not in f.attrs:
                raise DataError(f"{p}: missing root attribute '{key}'")
        self.n_samples = int(np.asarray(f.attrs["n_trajectories"]).ravel()[0])
        dims_group = f["dimensions"]
        spatial = _names(dims_group.attrs, "spatial_dims")
        if len(spatial) != int(np.asarray(f.attrs["n_spatial_dims"]).ravel()[0]):
            raise DataError(f"{p}: /dimensions spatial_dims {spatial} disagree with n_spatial_dims")
        if TIME in spatial or len(set(spatial)) != len(spatial):
            raise DataError(f"{p}: invalid spatial_dims {spatial}")
        self.spatial_dims = tuple(spatial)
        for dim in spatial:
            if dim not in dims_group:
                raise DataError(f"{p}: missing variable '/dimensions/{dim}'")
            dset = dims_group[dim]
            if dset.attrs.get("sample_varying", False) and bool(np.asarray(dset.attrs["sample_varying"]).ravel()[0]):
                raise DataError(f"{p}: sample-varying grids ('/dimensions/{dim}') are not supported")
            values = np.asarray(dset[()], dtype=np.float64)
            if values.ndim != 1:
                raise DataError(f"{p}: '/dimensions/{dim}' must be 1-D, has shape {values.shape}")
            self.coords[dim] = values
            self.coord_attrs[dim] = {"long_name": f"{dim} coordinate"}
        if TIME not in dims_group:
            raise DataError(f"{p}: missing variable '/dimensions/time'")
        tset = dims_group[TIME]
        time = np.asarray(tset[()], dtype=np.float64)
        time_sample_varying = bool(np.asarray(tset.attrs.get("sample_varying", False)).ravel()[0])
        if time_sample_varying:
            if time.ndim != 2 or time.shape[0] != self.n_samples:
                raise DataError(f"{p}: sample-varying '/dimensions/time' has shape {time.shape}")
            time = time[0]
            self.coord_attrs[TIME] = {"long_name": "time of the first trajectory (time grid varies by sample)"}
        else:
            self.coord_attrs[TIME] = {"long_name": "time"}
        if time.ndim != 1:
            raise DataError(f"{p}: '/dimensions/time' has shape {time.shape}, expected (T,)")
        self.coords[TIME] = time
        nt = len(time)
        grid = tuple(len(self.coords[d]) for d in spatial)
        ndim = len(spatial)

        for order, group_name in enumerate(FIELD_GROUPS):
            if group_name not in f:
                continue
            group = f[group_name]
            for field in _names(group.attrs):
                where = f"'/{group_name}/{field}'"
                dset, sv, tv = _listed_dataset(group, field, p, where)
                if "dim_varying" not in dset.attrs:
                    raise DataError(f"{p}: {where} is missing its 'dim_varying' attribute")
                dv = tuple(bool(v) for v in np.asarray(dset.attrs["dim_varying"]).ravel())
                if len(dv) != ndim:
                    raise DataError(f"{p}: {where} has dim_varying {list(dv)} for {ndim} spatial dims")
                expected = (
                    ((self.n_samples,) if sv else ())
                    + ((nt,) if tv else ())
                    + tuple(n for n, v in zip(grid, dv) if v)
                    + (ndim,) * order
                )
                if tuple(dset.shape) != expected:
                    raise DataError(f"{p}: {where} has shape {tuple(dset.shape)}, expected {expected} (wrong dims)")
                dims = ((TIME,) if tv else ()) + self.spatial_dims
                shape = ((nt,) if tv else ()) + grid
                for component in itertools.product(range(ndim), repeat=order):
                    suffix = "".join(spatial[i] for i in component)
                    name = f"{field}_{suffix}" if suffix else field
                    if name in self.variables:
                        raise DataError(f"{p}: two fields are both presented as '{name}'")
                    self.sources[name] = _Source(group_name, field, component, sv, tv, dv)
                    self.variables[name] = VariableInfo(name, dims, shape, {"tensor_order": order, "field": field})

        if "scalars" in f:
            group = f["scalars"]
            for scalar in _names(group.attrs):
                where = f"'/scalars/{scalar}'"
                dset, sv, tv = _listed_dataset(group, scalar, p, where)
                expected = ((self.n_samples,) if sv else ()) + ((nt,) if tv else ())
                if tuple(dset.shape) != expected:
                    raise DataError(f"{p}: {where} has shape {tuple(dset.shape)}, expected {expected} (wrong dims)")
                if scalar in self.variables:
                    raise DataError(f"{p}: scalar '{scalar}' has the same name as a field")
                self.sources[scalar] = _Source("scalars", scalar, (), sv, tv, ())
                dims, shape = ((TIME,), (nt,)) if tv else ((), ())
                self.variables[scalar] = VariableInfo(scalar, dims, shape, {"scalar": True})

        bcs: dict[str, Any] = {}
        if "boundary_conditions" in f:
            for name, bc in f["boundary_conditions"].items():
                keep = ("bc_type", "associated_dims", "associated_fields")
                bcs[name] = {k: v for k, v in plain_attrs(bc.attrs).items() if k in keep}
        self.boundary_conditions = bcs
        if not self.variables:
            raise DataError(f"{p}: the file lists no fields")

    def _storage_key(self, var: VariableInfo, samples: Any, key: tuple[slice, ...]) -> tuple[Any, ...]:
        """The selection in the stored field's axes: sample, time and the varying spatial dims where the field
        varies along them, then the tensor component."""
        src = self.sources[var.name]
        storage: tuple[Any, ...] = (samples,) if src.sample_varying else ()
        offset = 0
        if src.time_varying:
            storage += (key[0],)
            offset = 1
        for axis, varying in enumerate(src.dim_varying):
            if varying:
                storage += (key[offset + axis],)
        return storage + src.component

    def _storage(self, var: VariableInfo, index: int, key: tuple[slice, ...]) -> tuple[Any, tuple[Any, ...]] | None:
        src = self.sources[var.name]
        storage = self._storage_key(var, index, key)
        return (self.node(f"{src.group}/{src.field}"), storage) if storage else None

    def _read(self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        src = self.sources[var.name]
        dset = self.node(f"{src.group}/{src.field}")
        n = len(range(*samples.indices(self.n_samples)))
        storage = self._storage_key(var, samples, key)
        offset = 1 if src.time_varying else 0
        values = np.asarray(self.read_node(dset, storage) if storage else dset[()])
        if not src.sample_varying:
            values = values[None]
        # re-insert the axes a field does not vary along, then broadcast them to the selected sizes
        for axis, varying in enumerate(src.dim_varying):
            if not varying:
                values = np.expand_dims(values, 1 + offset + axis)
        target = (n,) + tuple(len(range(*s.indices(size))) for s, size in zip(key, var.shape))
        return values if values.shape == target else np.array(np.broadcast_to(values, target))

    def _read_into(
        self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...], out: np.ndarray
    ) -> np.ndarray | None:
        src = self.sources[var.name]
        if not (src.sample_varying and all(src.dim_varying)):
            return None  # broadcast axes: read by _read
        storage = self._storage_key(var, samples, key)
        return self.read_node(self.node(f"{src.group}/{src.field}"), storage, out) if storage else None

"""Exporters from the native format to peer layouts (references/data.md §6.3), all streamed in sample blocks.

- :func:`to_the_well`: The Well's layout (data.md §5.2) as ``DST/data/<split>/<name>.hdf5`` plus
  ``DST/stats.yaml``; read by ``the_well.data.WellDataset(path=DST, well_split_name=...)`` and, thanks to
  dimension scales stored inside each field group, by ``xr.open_dataset(f, engine="h5netcdf", group="t0_fields")``
  with coordinates;
- :func:`to_fno_mat`: FNO ``.mat`` keys (``a``, ``u`` with time last, ``t``), MATLAB v5 through
  :func:`scipy.io.savemat` (whole arrays in memory: small data only) or v7.3 (HDF5, streamed);
- :func:`to_pdebench`: PDEBench's single-array layout (``tensor``, ``x-coordinate``, ``t-coordinate`` with the
  nt + 1 quirk, Darcy's ``nu``).

Any source that :func:`specsolve.data.readers.open_reader` understands works, native files being the intended one.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from specsolve.data.convert import DEFAULT_BLOCK_BYTES, block_size
from specsolve.data.readers import Reader, open_reader
from specsolve.data.readers.base import TIME
from specsolve.errors import DataError
from specsolve.io import atomic_path

BC_TYPES = ("PERIODIC", "WALL", "OPEN")


def _blocks(reader: Reader, names: list[str], block_bytes: int) -> Iterator[tuple[int, int]]:
    block = block_size(reader, names, block_bytes) if names else max(1, reader.n_samples)
    for start in range(0, reader.n_samples, block):
        yield start, min(start + block, reader.n_samples)


def _numeric_attrs(reader: Reader, exclude: set[str]) -> dict[str, float | int]:
    return {
        k: v
        for k, v in reader.attrs.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in exclude
    }


# -- The Well ------------------------------------------------------------------------------------------------
class _Stats:
    """Streaming mean / std / rms of a field (per tensor component) and of its time differences."""

    def __init__(self, components: int, time_varying: bool) -> None:
        self.time_varying = time_varying
        self.n = 0
        self.s = np.zeros(components)
        self.s2 = np.zeros(components)
        self.nd = 0
        self.d = np.zeros(components)
        self.d2 = np.zeros(components)

    def add(self, block: np.ndarray) -> None:
        """``block``: (samples, [time], *space, components); float64 sums, one sample at a time (bounded memory)."""
        for sample in block:
            values = sample.reshape(-1, sample.shape[-1]).astype(np.float64)
            self.n += values.shape[0]
            self.s += values.sum(0)
            self.s2 += np.einsum("ij,ij->j", values, values)
            if self.time_varying and sample.shape[0] > 1:
                delta = np.diff(sample.astype(np.float64), axis=0).reshape(-1, sample.shape[-1])
                self.nd += delta.shape[0]
                self.d += delta.sum(0)
                self.d2 += np.einsum("ij,ij->j", delta, delta)

    @staticmethod
    def _moments(n: int, s: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean = s / max(n, 1)
        mean_sq = s2 / max(n, 1)
        return mean, np.sqrt(np.maximum(mean_sq - mean**2, 0.0)), np.sqrt(mean_sq)

    def result(self, shape: tuple[int, ...]) -> dict[str, Any]:
        def value(a: np.ndarray) -> Any:
            return float(a[0]) if not shape else a.reshape(shape).tolist()

        mean, std, rms = self._moments(self.n, self.s, self.s2)
        out = {"mean": value(mean), "std": value(std), "rms": value(rms)}
        if self.time_varying:
            mean_d, std_d, rms_d = self._moments(self.nd, self.d, self.d2)
            out.update({"mean_delta": value(mean_d), "std_delta": value(std_d), "rms_delta": value(rms_d)})
        return out


def _auto_bc(reader: Reader, dim: str) -> str:
    stored = reader.attrs.get("boundary_conditions")
    if isinstance(stored, str):
        try:
            kind = json.loads(stored).get(dim)
        except (ValueError, AttributeError):
            kind = None
        if isinstance(kind, str) and kind.upper() in BC_TYPES:
            return kind.upper()
    grid = str(reader.coord_attrs.get(dim, {}).get("grid", "")).lower()
    text = " ".join(str(reader.attrs.get(k, "")) for k in ("bc", "equation")).lower()
    if "periodic" in grid or "periodic" in text:
        return "PERIODIC"
    if re.search(r"dirichlet|wall|= ?0 on the boundary|on the boundary", text):
        return "WALL"
    return "OPEN"


def _tensor_groups(reader: Reader, names: list[str], spatial: tuple[str, ...]) -> list[tuple[str, int, list[str]]]:
    """``[(field, order, component variables)]``: ``v_x, v_y`` -> vector ``v``; ``s_xx ... s_yy`` -> rank 2."""
    remaining = list(names)
    fields: list[tuple[str, int, list[str]]] = []
    if len(spatial) >= 2:
        for order in (2, 1):
            suffixes = ["".join(c) for c in itertools.product(spatial, repeat=order)]
            for name in list(remaining):
                if name not in remaining or not name.endswith("_" + suffixes[0]):
                    continue
                base = name[: -len(suffixes[0]) - 1]
                parts = [f"{base}_{s}" for s in suffixes]
                if base and all(p in remaining for p in parts) and len({reader.variables[p].dims for p in parts}) == 1:
                    fields.append((base, order, parts))
                    for part in parts:
                        remaining.remove(part)
    fields.extend((name, 0, [name]) for name in remaining)
    position = {name: i for i, name in enumerate(names)}
    return sorted(fields, key=lambda f: position[f[2][0]])


def to_the_well(
    src: str | Path,
    dst_dir: str | Path,
    dataset_name: str | None = None,
    split: str = "train",
    bc: Literal["auto", "periodic", "wall", "open"] = "auto",
    group_tensors: bool = True,
    variables: list[str] | None = None,
    overwrite: bool = False,
    compression: int | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Path:
    """Write ``src`` as ``dst_dir/data/<split>/<src stem>.hdf5`` in The Well's layout; returns that path.

    Variables with dims ``(time, *space)`` become time-varying fields, ``(*space)`` constant fields, ``()`` and
    ``(time,)`` per-sample scalars; components named ``<v>_x, <v>_y`` (all spatial dims) become a vector field
    ``v`` in ``t1_fields`` (``group_tensors``). Numeric root attributes become ``simulation_parameters`` (root
    attribute and constant dataset in ``/scalars``). ``/dimensions/time`` has ``time_varying=True`` (as The
    Well's checker requires); a source without time gets a single time ``0``. Boundary conditions: one entry per
    spatial dim, ``bc`` or, with ``auto``, from the source's attributes (periodic grids, Dirichlet walls, else
    OPEN). Dimension scales (``sample``, ``time``, spatial, ``i``/``j`` for tensor components) are stored in
    each field group. ``dst_dir/stats.yaml`` (mean, std, rms and their ``_delta`` versions per field) is written
    from the ``train`` split.
    """
    if bc not in ("auto", "periodic", "wall", "open"):
        raise DataError(f"bc must be auto, periodic, wall or open, got {bc!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", split):
        raise DataError(f"invalid split name {split!r}")
    dst_dir = Path(dst_dir)
    reader = open_reader(src, "auto")
    try:
        spatial = reader.spatial_dims
        if not spatial:
            raise DataError(f"{src}: no spatial dimension to export")
        names = list(reader.variables) if variables is None else list(variables)
        field_vars, scalar_vars = [], []
        for name in names:
            var = reader.variable(name)
            if var.dims in (spatial, (TIME,) + spatial):
                field_vars.append(name)
            elif var.dims in ((), (TIME,)):
                scalar_vars.append(name)
            else:
                raise DataError(f"{src}: variable '{name}' has dims {var.dims}, not exportable to The Well")
        fields = _tensor_groups(reader, field_vars, spatial) if group_tensors else [(n, 0, [n]) for n in field_vars]
        reserved = {"sample", TIME, *spatial, "i", "j"}
        for field, _, _ in fields:
            if field in reserved:
                raise DataError(f"{src}: field name '{field}' collides with a dimension name")
        has_time = any(reader.variables[n].has_time for n in names)
        time = reader.coords[TIME] if has_time else np.zeros(1)
        grid = tuple(len(reader.coords[d]) for d in spatial)
        ndim = len(spatial)
        n = reader.n_samples
        name = dataset_name or str(
            reader.attrs.get("dataset_name")
            or reader.attrs.get("pde")
            or reader.attrs.get("generator")
            or Path(reader.path).stem
        )
        structural = {"n_spatial_dims", "n_trajectories"}
        params = _numeric_attrs(reader, set(names) | reserved | structural)
        out = dst_dir / "data" / split / f"{Path(reader.path).stem}.hdf5"
        stats: dict[str, _Stats] = {}
        with atomic_path(out, overwrite) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["dataset_name"] = name
            f.attrs["grid_type"] = "cartesian"
            f.attrs["n_spatial_dims"] = ndim
            f.attrs["n_trajectories"] = n
            f.attrs["simulation_parameters"] = np.array(list(params), dtype=h5py.string_dtype())
            for key, value in params.items():
                f.attrs[key] = value
            f.attrs["source"] = str(Path(reader.path).resolve())
            f.attrs["exported_by"] = "specsolve data export-well"

            dims = f.create_group("dimensions")
            dims.attrs["spatial_dims"] = np.array(list(spatial), dtype=h5py.string_dtype())
            t = dims.create_dataset(TIME, data=np.asarray(time, dtype=np.float64))
            t.attrs["sample_varying"], t.attrs["time_varying"] = False, True
            for dim in spatial:
                d = dims.create_dataset(dim, data=np.asarray(reader.coords[dim], dtype=np.float64))
                d.attrs["sample_varying"], d.attrs["time_varying"] = False, False

            bcs = f.create_group("boundary_conditions")
            for dim in spatial:
                kind = bc.upper() if bc != "auto" else _auto_bc(reader, dim)
                g = bcs.create_group(f"{dim}_{kind.lower()}")
                g.attrs["bc_type"] = kind
                g.attrs["associated_dims"] = np.array([dim], dtype=h5py.string_dtype())
                g.attrs["associated_fields"] = np.array([], dtype=h5py.string_dtype())
                g.attrs["sample_varying"], g.attrs["time_varying"] = False, False
                mask = np.zeros(len(reader.coords[dim]), dtype=bool)
                mask[[0, -1]] = True
                g.create_dataset("mask", data=mask)

            scalars = f.create_group("scalars")
            scalars.attrs["field_names"] = np.array(list(params) + scalar_vars, dtype=h5py.string_dtype())
            for key, value in params.items():
                s = scalars.create_dataset(key, data=np.float32(value))
                s.attrs["sample_varying"], s.attrs["time_varying"] = False, False
            for key in scalar_vars:
                var = reader.variables[key]
                s = scalars.create_dataset(key, shape=(n,) + var.shape, dtype="float32")
                s.attrs["sample_varying"], s.attrs["time_varying"] = True, var.has_time

            groups = {}
            for order in range(3):
                g = f.create_group(f"t{order}_fields")
                g.attrs["field_names"] = np.array(
                    [fld for fld, o, _ in fields if o == order], dtype=h5py.string_dtype()
                )
                groups[order] = g
                if not any(o == order for _, o, _ in fields):
                    continue
                # dimension scales inside the group, so xarray shows coordinates for open_dataset(group=...)
                g.create_dataset("sample", data=np.arange(n, dtype=np.int64)).make_scale("sample")
                if has_time:
                    g.create_dataset(TIME, data=np.asarray(time, dtype=np.float64)).make_scale(TIME)
                for dim in spatial:
                    g.create_dataset(dim, data=np.asarray(reader.coords[dim], dtype=np.float64)).make_scale(dim)
                for k in range(order):
                    label = "ij"[k]
                    g.create_dataset(label, data=np.array(list(spatial), dtype=h5py.string_dtype())).make_scale(label)

            for field, order, parts in fields:
                var = reader.variables[parts[0]]
                g = groups[order]
                shape = (n,) + var.shape + (ndim,) * order
                # chunks of one trajectory, a few steps (about 1 MiB), full space: windowed reads stay contiguous
                frame = 4 * int(np.prod(grid)) * ndim**order
                steps = max(1, min(var.shape[0], 2**20 // frame)) if var.has_time else 0
                chunks = (1,) + ((steps,) if var.has_time else ()) + grid + (ndim,) * order
                dset = g.create_dataset(
                    field,
                    shape=shape,
                    dtype="float32",
                    chunks=chunks if n else None,
                    compression="gzip" if compression else None,
                    compression_opts=compression if compression else None,
                )
                dset.attrs["sample_varying"] = True
                dset.attrs["time_varying"] = var.has_time
                dset.attrs["dim_varying"] = np.ones(ndim, dtype=bool)
                if order == 2:
                    dset.attrs["symmetric"], dset.attrs["antisymmetric"] = False, False
                for key in ("units", "long_name"):
                    if isinstance(var.attrs.get(key), str):
                        dset.attrs[key] = var.attrs[key]
                labels = ("sample",) + ((TIME,) if var.has_time else ()) + spatial + tuple("ij"[:order])
                for axis, label in enumerate(labels):
                    dset.dims[axis].attach_scale(g[label])
                stats[field] = _Stats(ndim**order, var.has_time)

            for start, stop in _blocks(reader, names, block_bytes):
                for field, order, parts in fields:
                    block = np.stack([reader.read_block(p, start, stop) for p in parts], axis=-1)
                    stats[field].add(block)
                    if order == 2:
                        block = block.reshape(block.shape[:-1] + (ndim, ndim))
                    elif order == 0:
                        block = block[..., 0]
                    groups[order][field][start:stop] = block
                for key in scalar_vars:
                    f["scalars"][key][start:stop] = reader.read_block(key, start, stop)
        if split == "train":
            import yaml

            result: dict[str, dict[str, Any]] = {}
            for field, order, _ in fields:
                for key, value in stats[field].result((ndim,) * order).items():
                    result.setdefault(key, {})[field] = value
            stats_path = dst_dir / "stats.yaml"
            with atomic_path(stats_path, overwrite=True) as tmp:
                tmp.write_text(yaml.safe_dump(result, sort_keys=False))
    finally:
        reader.close()
    return out


# -- FNO .mat ------------------------------------------------------------------------------------------------
MATLAB_HEADER = "MATLAB 7.3 MAT-file, Platform: specsolve, Created by specsolve. HDF5 schema 1.00 ."
MATLAB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")


def _mat_header() -> bytes:
    text = MATLAB_HEADER.encode("ascii")[:116].ljust(116, b" ")
    return text + b"\x00" * 8 + b"\x00\x02" + b"IM"


def to_fno_mat(
    src: str | Path,
    dst: str | Path,
    version: Literal["5", "7.3"] = "5",
    variables: list[str] | None = None,
    drop_t0: bool = True,
    overwrite: bool = False,
    max_eager_bytes: int = 2 * 1024**3,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Path:
    """Write ``src`` as an FNO-style ``.mat`` file: one key per variable, samples first, time **last**
    (``u`` ``[N, X, Y, T]``), ``t`` ``[1, T]``, numeric root attributes as 1x1 keys.

    ``drop_t0`` removes the frame at ``t = 0`` from time series (FNO's Navier-Stokes ``u`` starts at ``t = 1``;
    its ``a`` is the initial field). ``version="5"`` uses :func:`scipy.io.savemat` and holds everything in memory
    (refused above ``max_eager_bytes``); ``"7.3"`` writes HDF5 with MATLAB's reversed axis order, streamed.
    """
    if version not in ("5", "7.3"):
        raise DataError(f"version must be '5' or '7.3', got {version!r}")
    dst = Path(dst)
    reader = open_reader(src, "auto")
    try:
        names = list(reader.variables) if variables is None else list(variables)
        for name in names:
            reader.variable(name)
            if not MATLAB_NAME.fullmatch(name):
                raise DataError(f"variable name '{name}' is not a valid MATLAB name")
        time = reader.coords.get(TIME)
        t_sel: slice | None = None
        if time is not None and any(reader.variables[n].has_time for n in names):
            t_sel = slice(1, None) if drop_t0 and len(time) > 1 and abs(time[0]) < 1e-12 else slice(None)
            time = time[t_sel]
        extra = {
            k: np.array([[v]], dtype=np.float64)
            for k, v in _numeric_attrs(reader, set(names) | {"t"}).items()
            if MATLAB_NAME.fullmatch(k)
        }

        def fno_shape(name: str) -> tuple[int, ...]:
            var = reader.variables[name]
            if not var.dims:
                return (reader.n_samples, 1)
            if var.has_time:
                nt = len(range(*t_sel.indices(var.shape[0])))  # type: ignore[union-attr]
                return (reader.n_samples,) + var.shape[1:] + (nt,)
            return (reader.n_samples,) + var.shape

        def fno_block(name: str, start: int, stop: int) -> np.ndarray:
            var = reader.variables[name]
            block = reader.read_block(name, start, stop, time=t_sel if var.has_time else None)
            if not var.dims:
                return block[:, None]
            return np.moveaxis(block, 1, -1) if var.has_time else block

        if version == "5":
            total = sum(4 * int(np.prod(fno_shape(n), dtype=np.int64)) for n in names)
            if total > max_eager_bytes:
                raise DataError(
                    f"{total / 1024**3:.1f} GiB is too much for a v5 .mat file held in memory; use version='7.3'"
                )
            import scipy.io

            arrays: dict[str, np.ndarray] = {n: fno_block(n, 0, reader.n_samples) for n in names}
            if time is not None and t_sel is not None:
                arrays["t"] = np.asarray(time, dtype=np.float64)[None]
            arrays.update(extra)
            with atomic_path(dst, overwrite) as tmp:
                with open(tmp, "wb") as fh:
                    scipy.io.savemat(fh, arrays, do_compression=False)
        else:
            with atomic_path(dst, overwrite) as tmp:
                with h5py.File(tmp, "w", userblock_size=512) as f:
                    for name in names:
                        shape = fno_shape(name)
                        d = f.create_dataset(name, shape=tuple(reversed(shape)), dtype="float32")
                        d.attrs["MATLAB_class"] = np.bytes_("single")
                    if time is not None and t_sel is not None:
                        f.create_dataset("t", data=np.asarray(time, dtype=np.float64)[None].T)
                        f["t"].attrs["MATLAB_class"] = np.bytes_("double")
                    for key, value in extra.items():
                        f.create_dataset(key, data=value.T).attrs["MATLAB_class"] = np.bytes_("double")
                    for start, stop in _blocks(reader, names, block_bytes):
                        for name in names:
                            f[name][..., start:stop] = fno_block(name, start, stop).transpose()
                with open(tmp, "r+b") as fh:
                    fh.write(_mat_header())
    finally:
        reader.close()
    return dst


# -- PDEBench ------------------------------------------------------------------------------------------------
def to_pdebench(
    src: str | Path,
    dst: str | Path,
    variable: str | None = None,
    coefficient: str | None = None,
    t_quirk: bool = True,
    overwrite: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Path:
    """Write one variable of ``src`` in PDEBench's single-array layout: ``tensor`` ``[N, nt, *space]`` (a steady
    field gets ``nt = 1``, as Darcy's), ``x-coordinate`` (``y-``, ``z-``), ``t-coordinate`` with **nt + 1**
    entries when ``t_quirk`` (as the released files: one extra step appended), numeric root attributes.

    ``variable`` defaults to ``u`` (else the first time-dependent variable); for a steady ``variable``,
    ``coefficient`` (default ``a`` when present) is written as ``nu`` ``[N, *space]`` (Darcy).
    """
    dst = Path(dst)
    reader = open_reader(src, "auto")
    try:
        if variable is None:
            timed = [n for n, v in reader.variables.items() if v.has_time]
            variable = "u" if "u" in reader.variables else (timed[0] if timed else None)
            if variable is None:
                raise DataError(f"{src}: no variable 'u' to export; pass variable=")
        var = reader.variable(variable)
        if var.dims not in (reader.spatial_dims, (TIME,) + reader.spatial_dims) or not reader.spatial_dims:
            raise DataError(f"{src}: variable '{variable}' has dims {var.dims}, not [time,] space")
        if reader.spatial_dims != ("x", "y", "z")[: len(reader.spatial_dims)]:
            raise DataError(f"{src}: spatial dims {reader.spatial_dims} have no PDEBench coordinate names")
        if coefficient is None and not var.has_time and "a" in reader.variables and variable != "a":
            coefficient = "a"
        if coefficient is not None:
            coef = reader.variable(coefficient)
            if coef.dims != reader.spatial_dims:
                raise DataError(f"{src}: coefficient '{coefficient}' has dims {coef.dims}, expected the spatial dims")
        names = [variable] + ([coefficient] if coefficient else [])
        n = reader.n_samples
        with atomic_path(dst, overwrite) as tmp, h5py.File(tmp, "w") as f:
            shape = (n,) + (var.shape if var.has_time else (1,) + var.shape)
            tensor = f.create_dataset("tensor", shape=shape, dtype="float32", chunks=(1,) + shape[1:] if n else None)
            nu = f.create_dataset("nu", shape=(n,) + var.shape, dtype="float32") if coefficient else None
            for dim in reader.spatial_dims:
                f.create_dataset(f"{dim}-coordinate", data=np.asarray(reader.coords[dim], dtype=np.float32))
            if var.has_time:
                t = np.asarray(reader.coords[TIME], dtype=np.float64)
                if t_quirk:
                    step = t[-1] - t[-2] if len(t) > 1 else 1.0
                    t = np.append(t, t[-1] + step)
                f.create_dataset("t-coordinate", data=t.astype(np.float32))
            for key, value in _numeric_attrs(reader, set()).items():
                f.attrs[key] = value
            f.attrs["source"] = str(Path(reader.path).resolve())
            for start, stop in _blocks(reader, names, block_bytes):
                block = reader.read_block(variable, start, stop)
                tensor[start:stop] = block if var.has_time else block[:, None]
                if nu is not None and coefficient:
                    nu[start:stop] = reader.read_block(coefficient, start, stop)
    finally:
        reader.close()
    return dst

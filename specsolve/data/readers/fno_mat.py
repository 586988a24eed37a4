"""FNO ``.mat`` files (``piececonst_r421_N1024_smooth1.mat``, ``burgers_data_R10.mat``, ``ns_V1e-3_N5000_T50.mat``).

Two container formats:

- **MATLAB v7.3** is HDF5 (behind a 512-byte text header). MATLAB writes column-major arrays, so h5py sees every
  array with its axes **reversed**: MATLAB's ``coeff`` ``[N, 421, 421]`` is stored ``[421, 421, N]``. The reader
  reverses the axes back and reads one block of samples at a time (lazy; memory does not grow with N).
- **MATLAB v5 and older** can only be read whole with :func:`scipy.io.loadmat` (no lazy or partial reads exist for
  that format), so it is meant for small files: files above ``max_eager_bytes`` (default 2 GiB) are refused with
  a message suggesting a v7.3 re-save (MATLAB ``save(..., '-v7.3')``) or ``specsolve data convert``.

Presentation in the common interface (FNO conventions, references/data.md §1): the sample axis is first
(``N``, found as the leading size of the largest array); the spatial grid is the shape of the lowest-rank sample
array (``a``/``coeff`` ``[N, 64, 64]`` gives ``(x, y)``; override with ``spatial_ndim``); a variable with one
extra axis is a time series, with time **last** as in FNO's Navier-Stokes ``u`` ``[N, X, Y, T]`` (or first, if
only that fits), and is presented with dims ``(time, *space)``. The file stores no spatial grid: coordinates are
``linspace(0, 1, n)`` (FNO's grid features, ``grid="vertex"``) or ``arange(n) / n`` (``grid="periodic"``);
the time coordinate is the ``t`` key when its length fits, else the step index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from specsolve.data.readers.base import (
    SPATIAL_NAMES,
    TIME,
    Reader,
    VariableInfo,
    guard,
    one_line,
    open_hdf5,
    reader_format,
)
from specsolve.errors import DataError

MAT5_MAGIC = b"MATLAB 5.0 MAT-file"
DEFAULT_MAX_EAGER_BYTES = 2 * 1024**3


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "fiub"


# MAT v5 element data types (miINT8 ... miUTF32). scipy's reader indexes a C table with the type code without a
# range check, so a damaged tag can crash the interpreter (see scipy/scipy PR #25349); codes are checked first.
MAT5_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 16, 17, 18})
MI_MATRIX, MI_COMPRESSED = 14, 15


def validate_mat5(data: bytes, where: str) -> None:
    """Walk the element tags of a MATLAB v5 file (decompressing ``miCOMPRESSED`` elements) and raise a one-line
    :class:`DataError` for an unknown data type or an element running past its container, before scipy reads it."""
    import struct
    import zlib

    if len(data) < 128:
        raise DataError(f"{where}: truncated MATLAB v5 file (header incomplete)")
    endian = {b"IM": "<", b"MI": ">"}.get(bytes(data[126:128]))
    if endian is None:
        raise DataError(f"{where}: damaged MATLAB v5 header (unknown byte order)")
    tag = struct.Struct(endian + "II")

    def walk(buf: memoryview, start: int, end: int, depth: int, top: bool) -> None:
        if depth > 32:
            raise DataError(f"{where}: damaged MATLAB v5 file (elements nested too deeply)")
        pos = start
        while pos < end:
            if end - pos < 8:
                raise DataError(f"{where}: damaged or truncated MATLAB v5 file (partial element tag at byte {pos})")
            first, size = tag.unpack_from(buf, pos)
            if first >> 16:  # small data element: type in the low 16 bits, 1-4 bytes packed in the tag
                mdtype, size, step = first & 0xFFFF, first >> 16, 8
                if size > 4:
                    raise DataError(f"{where}: damaged MATLAB v5 file (bad small element at byte {pos})")
            else:
                mdtype = first
                step = 8 + size + ((-size) % 8 if mdtype != MI_COMPRESSED else 0)
            if mdtype not in MAT5_TYPES:
                raise DataError(f"{where}: damaged MATLAB v5 file (unknown data type {mdtype} at byte {pos})")
            body = pos + 8
            if first >> 16 == 0 and body + size > end:
                raise DataError(
                    f"{where}: damaged or truncated MATLAB v5 file (element at byte {pos} runs past the end)"
                )
            if mdtype == MI_COMPRESSED:
                if not top:
                    raise DataError(f"{where}: damaged MATLAB v5 file (nested compressed element at byte {pos})")
                try:
                    inner = zlib.decompress(bytes(buf[body : body + size]))
                except zlib.error as exc:
                    raise DataError(f"{where}: damaged MATLAB v5 file (bad compressed element: {exc})") from exc
                walk(memoryview(inner), 0, len(inner), depth + 1, False)
            elif mdtype == MI_MATRIX and first >> 16 == 0:
                walk(buf, body, body + size, depth + 1, False)
            pos += step

    walk(memoryview(data), 128, len(data), 0, True)


@reader_format("fno_mat")
class FnoMatReader(Reader):
    """Reader of an FNO ``.mat`` file, lazy for v7.3 (HDF5), eager for v5 (see module docstring)."""

    def __init__(
        self,
        path: str | Path,
        grid: Literal["vertex", "periodic"] = "vertex",
        spatial_ndim: int | None = None,
        max_eager_bytes: int = DEFAULT_MAX_EAGER_BYTES,
    ) -> None:
        super().__init__(path)
        if grid not in ("vertex", "periodic"):
            raise DataError(f"grid must be 'vertex' or 'periodic', got {grid!r}")
        self._arrays: dict[str, np.ndarray] | None = None  # v5: everything in memory
        self.time_last: dict[str, bool] = {}
        self.scalar_vars: set[str] = set()
        if not self.path.is_file():
            raise DataError(f"data file not found: {self.path}")
        self.hdf5 = h5py.is_hdf5(str(self.path))
        with guard(self.path, "reading the .mat file"):
            if self.hdf5:
                with self._open() as f:
                    shapes = self._v73_shapes(f)
                    small = {k: self._v73_read_all(f[k]) for k, s in shapes.items() if int(np.prod(s)) <= 4096}
                self.attrs["mat_version"] = "7.3"
            else:
                self._arrays = self._load_v5(max_eager_bytes)
                shapes = {k: v.shape for k, v in self._arrays.items()}
                small = {k: v for k, v in self._arrays.items() if v.size <= 4096}
                self.attrs["mat_version"] = "5"
            self._describe(shapes, small, grid, spatial_ndim)
        self.check_finite_coordinates()

    # -- container access ---------------------------------------------------------------------------------
    def _v73_shapes(self, f: h5py.File) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for key, obj in f.items():
            if key.startswith("#") or not isinstance(obj, h5py.Dataset):
                continue
            mat_class = obj.attrs.get("MATLAB_class", b"")
            mat_class = mat_class.decode() if isinstance(mat_class, bytes) else str(mat_class)
            if not _numeric(obj.dtype) or mat_class in ("char", "cell", "struct", "logical"):
                continue
            shapes[key] = tuple(reversed(tuple(int(n) for n in obj.shape)))
        return shapes

    @staticmethod
    def _v73_read_all(dset: h5py.Dataset) -> np.ndarray:
        return np.asarray(dset[()]).transpose()

    def _load_v5(self, max_eager_bytes: int) -> dict[str, np.ndarray]:
        with open(self.path, "rb") as fh:
            head = fh.read(128)
        size = os.path.getsize(self.path)
        if size > max_eager_bytes:
            raise DataError(
                f"{self.path}: a {size / 1024**3:.1f} GiB MATLAB v5 file cannot be read lazily (scipy.io.loadmat loads "
                f"it whole); re-save it as v7.3 (HDF5) or raise max_eager_bytes"
            )
        if not head.startswith(MAT5_MAGIC):
            raise DataError(f"{self.path}: not a MATLAB .mat file (neither HDF5/v7.3 nor a v5 header)")
        import io

        import scipy.io

        data = self.path.read_bytes()
        validate_mat5(data, str(self.path))
        try:
            raw = scipy.io.loadmat(io.BytesIO(data), squeeze_me=False, mat_dtype=False)
        except Exception as exc:  # scipy's parser on a damaged file fails in many ways (even UnboundLocalError)
            raise DataError(f"{self.path}: damaged or truncated MATLAB v5 file ({one_line(exc)})") from exc
        return {
            k: v for k, v in raw.items() if not k.startswith("__") and isinstance(v, np.ndarray) and _numeric(v.dtype)
        }

    # -- layout -------------------------------------------------------------------------------------------
    def _describe(
        self,
        shapes: dict[str, tuple[int, ...]],
        small: dict[str, np.ndarray],
        grid_kind: str,
        spatial_ndim: int | None,
    ) -> None:
        p = self.path
        arrays = {k: s for k, s in shapes.items() if len(s) >= 2}
        if not arrays:
            raise DataError(f"{p}: missing variable: no numeric array of shape [N, ...] in the .mat file")
        largest = max(arrays, key=lambda k: int(np.prod(arrays[k], dtype=np.int64)))
        self.n_samples = int(arrays[largest][0])
        sample_vars = {k: s for k, s in arrays.items() if s[0] == self.n_samples}
        fields = {k: s for k, s in sample_vars.items() if s[1:] != (1,)} or sample_vars  # [N, 1]: scalars
        if spatial_ndim is None:
            spatial_ndim = min(len(s) for s in fields.values()) - 1
        if not 1 <= spatial_ndim <= 3:
            raise DataError(f"{p}: {spatial_ndim} spatial dims (1 to 3 supported)")
        base = min((k for k, s in fields.items() if len(s) - 1 == spatial_ndim), default=None)
        if base is None:
            raise DataError(f"{p}: no array of rank {spatial_ndim + 1} to take the spatial grid from")
        space = fields[base][1:]
        self.spatial_dims = SPATIAL_NAMES[:spatial_ndim]
        nt: int | None = None
        for name in sorted(sample_vars):
            rest = sample_vars[name][1:]
            if rest == space:
                self.variables[name] = VariableInfo(name, self.spatial_dims, space)
                continue
            if rest == (1,):  # a per-sample scalar stored as an [N, 1] column
                self.scalar_vars.add(name)
                self.variables[name] = VariableInfo(name, (), ())
                continue
            if len(rest) == spatial_ndim + 1 and (rest[:-1] == space or rest[1:] == space):
                time_last = rest[:-1] == space
                steps = rest[-1] if time_last else rest[0]
                if nt is not None and steps != nt:
                    raise DataError(f"{p}: variable '{name}' has {steps} time steps, others have {nt}")
                nt = steps
                self.time_last[name] = time_last
                self.variables[name] = VariableInfo(name, (TIME,) + self.spatial_dims, (steps,) + space)
                continue
            if self.n_samples == 1:
                continue  # ambiguous file with a single sample: ignore what does not fit
            raise DataError(
                f"{p}: variable '{name}' has shape {sample_vars[name]}, which fits neither [N, *{space}] nor a "
                f"time series on that grid (wrong dims)"
            )
        for axis, dim in enumerate(self.spatial_dims):
            n = space[axis]
            if grid_kind == "vertex":
                self.coords[dim] = np.linspace(0.0, 1.0, n)
                note = "assumed linspace(0, 1, n): the .mat file stores no grid"
            else:
                self.coords[dim] = np.arange(n) / n
                note = "assumed arange(n) / n (periodic): the .mat file stores no grid"
            self.coord_attrs[dim] = {"long_name": f"{dim} coordinate", "grid": note}
        if nt is not None:
            t = small.get("t")
            if t is not None and t.size == nt:
                self.coords[TIME] = np.asarray(t, dtype=np.float64).ravel()
                self.coord_attrs[TIME] = {"long_name": "time (.mat key 't')"}
            else:
                self.coords[TIME] = np.arange(nt, dtype=np.float64)
                self.coord_attrs[TIME] = {"long_name": "time step index (no matching 't' key)"}
        for key, value in small.items():
            if key not in self.variables and value.size == 1:
                self.attrs[key] = value.ravel()[0].item()

    def _open(self) -> Any:
        if not self.hdf5:
            return None
        return open_hdf5(self.path)

    def _logical(self, var: VariableInfo, samples: Any, key: tuple[slice, ...]) -> tuple[Any, ...]:
        """The selection in the logical (sample-first, time-last for MATLAB trajectories) axis order."""
        if var.name in self.scalar_vars:
            return (samples, slice(0, 1))
        if self.time_last.get(var.name):
            return (samples,) + key[1:] + key[:1]
        return (samples,) + key

    def _storage(self, var: VariableInfo, index: int, key: tuple[slice, ...]) -> tuple[Any, tuple[Any, ...]] | None:
        if self._arrays is not None:
            return None
        return self.node(var.name), tuple(reversed(self._logical(var, index, key)))

    def _read(self, handle: Any, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        time_last = self.time_last.get(var.name)
        logical = self._logical(var, samples, key)
        if self._arrays is not None:
            values = self._arrays[var.name][logical]
        else:
            values = np.asarray(self.read_node(self.node(var.name), tuple(reversed(logical)))).transpose()
        if var.name in self.scalar_vars:
            values = values[:, 0]
        elif time_last:
            values = np.moveaxis(values, -1, 1)
        return values

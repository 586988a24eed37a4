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

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from specsolve.data.readers.base import (
    FILE_ERRORS,
    SPATIAL_NAMES,
    TIME,
    DirectRead,
    Reader,
    StorageMap,
    VariableInfo,
    guard,
    is_out_buffer,
    reader_format,
)
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


MAX_FRAME_PLANS = 1 << 16  # read_frames: direct-read plans remembered per handle (variables x time indices)


@reader_format("native")
class NativeReader(Reader):
    """Lazy reader of a native file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.unlabelled: list[str] = []
        self._frames: dict[tuple[str, int, int], _FramePlan | None] = {}  # read_frames: (name, time, stride)
        self._frames_handle: Any = None  # the handle they were made for
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

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_frames"], state["_frames_handle"] = {}, None  # storage maps of this process's handle
        return state

    def variable(self, name: str) -> VariableInfo:
        if name not in self.variables and name in self.unlabelled:
            raise DataError(f"{self.path}: variable '{name}' has no named dimension (no dimension scales attached)")
        return super().variable(name)

    def _read(self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        return self.read_node(self.node(var.name), (samples,) + key)

    def _read_into(
        self, handle: h5py.File, var: VariableInfo, samples: slice, key: tuple[slice, ...], out: np.ndarray
    ) -> np.ndarray:
        return self.read_node(self.node(var.name), (samples,) + key, out)

    def _storage(self, var: VariableInfo, index: int, key: tuple[slice, ...]) -> tuple[Any, tuple[Any, ...]]:
        return self.node(var.name), (index,) + key

    def read_frames(
        self, requests: Sequence[tuple[str, int, int]], stride: int = 1, out: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """``[self.read(name, index, time=t, stride=stride) for name, index, t in requests]``: the same arrays, and
        the same error for the first request that fails, for many single-frame reads at once (the shuffled
        snapshot pairs of ``hdf5_all2all``: two 16 KiB frames an item, where the per-read work of :meth:`read`
        costs more than the read itself).

        Each frame that is one contiguous run of float32 in the file (:meth:`StorageMap.direct_read`; located once
        per variable and time index, then per sample by its chunk's address) is announced
        (``posix_fadvise(WILLNEED)``, as :meth:`advise`) before the first is read, each is read with one ``preadv``
        into one shared buffer (the frames are disjoint views of it), and the buffer is checked finite with one
        sum. Any other request (another dtype, a negative index, a frame across chunks), a short read, and a
        buffer that is not all finite go through :meth:`read` itself, which then reports the problem as usual.

        ``out``: a 1-D C-contiguous float32 array used as that buffer when it has exactly the size of the direct
        reads (the caller's batch storage: a frame read in place needs no copy); otherwise a new one is used.
        """
        prepared = self._frame_plans(requests, stride)
        if prepared is None:
            return [self.read(name, index, time=t, stride=stride) for name, index, t in requests]
        fd, plans = prepared
        total = sum(plan.count for _, plan in filter(None, plans))
        buffer = out if is_out_buffer(out, total) else np.empty(total, dtype=np.float32)
        views: list[np.ndarray | None] = []
        start = 0
        for entry in plans:
            if entry is None:
                views.append(None)
                continue
            offset, plan = entry
            views.append(buffer[start : start + plan.count])
            start += plan.count
            try:
                os.posix_fadvise(fd, offset, plan.nbytes, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass  # best effort, as advise
        for k, (entry, view) in enumerate(zip(plans, views)):
            if entry is None:
                continue
            try:
                complete = os.preadv(fd, [view], entry[0]) == entry[1].nbytes
            except OSError:
                complete = False
            if not complete:
                plans[k] = None
        # a sum is finite only if every term is (as read_block): then every frame is; otherwise read() decides
        with np.errstate(over="ignore", invalid="ignore"):
            finite = bool(np.isfinite(buffer.sum()))
        out = []
        for (name, index, t), entry, view in zip(requests, plans, views):
            if entry is None or not finite:
                out.append(self.read(name, index, time=t, stride=stride))
            else:  # as read(): read_node's box cut by post, the time axis dropped, the sample taken
                plan = entry[1]
                out.append(view.reshape(plan.shape)[plan.post][:, 0][0])  # type: ignore[union-attr]
        return out

    def _frame_plans(
        self, requests: Sequence[tuple[str, int, int]], stride: int
    ) -> tuple[int, list[tuple[int, DirectRead] | None]] | None:
        """The file descriptor and, per request of :meth:`read_frames`, the file offset of its frame and the direct
        read of that frame (None: through :meth:`read`); None when none can be read directly or anything is amiss
        (then all go through :meth:`read`, which raises what it raises)."""
        if not requests or not hasattr(os, "posix_fadvise") or stride < 1:
            return None
        try:
            fd = self._descriptor()
            if fd is None:
                return None
            if self._frames_handle is not self._handle:  # plans belong to one open handle (one process)
                self._frames, self._frames_handle = {}, self._handle
            frames = self._frames
            plans: list[tuple[int, DirectRead] | None] = []
            for name, index, t in requests:
                entry = None
                if type(index) is int and type(t) is int and 0 <= index < self.n_samples and t >= 0:
                    frame = frames.get((name, t, stride), False)
                    if frame is False:
                        frame = self._frame_plan(name, t, stride, index)
                        if len(frames) < MAX_FRAME_PLANS:
                            frames[(name, t, stride)] = frame
                    if frame is not None:
                        entry = frame.at(index)
                plans.append(entry)
        except (DataError, *FILE_ERRORS):
            return None
        return (fd, plans) if any(p is not None for p in plans) else None

    def _frame_plan(self, name: str, t: int, stride: int, index: int) -> _FramePlan | None:
        """How frame ``t`` of ``name`` is read directly (found on sample ``index``), or None where it is not: not
        native float32 (what :meth:`read` returns as read), not one frame, or not one contiguous run."""
        var = self.variables.get(name)
        if var is None or not var.has_time or t >= var.shape[0]:
            return None
        layout = self.storage_map(self.node(name))
        if not layout.direct or layout.dtype != np.dtype(np.float32):
            return None
        key, drop_time = self.selection(var, t, stride)
        if not drop_time or (layout.chunks is not None and layout.chunks[0] != 1):
            return None
        storage_key = (slice(index, index + 1),) + key
        plan = layout.direct_read(storage_key)
        if plan is None:
            return None
        return _FramePlan(layout, plan, storage_key, index)


class _FramePlan:
    """The direct read of one frame (variable, time index, stride) for every sample, from that of one sample.

    :meth:`StorageMap.direct_read` of ``(slice(s, s + 1), *key)`` depends on the sample ``s`` only through the
    file offset (the sample axis selects one index, never the axis ``k`` of the run): in a contiguous dataset the
    offset moves by one sample's bytes per sample; with one sample per chunk it is the chunk's address plus the
    same offset within the chunk (an unallocated chunk: no direct read).
    """

    def __init__(self, layout: StorageMap, plan: DirectRead, storage_key: tuple[slice, ...], index: int) -> None:
        self.layout, self.plan = layout, plan
        if layout.chunks is None:
            self.step = int(np.prod(layout.shape[1:], dtype=np.int64)) * layout.itemsize
            self.base = plan.offset - index * self.step
        else:
            self.origin = tuple(
                k.indices(n)[0] // c * c for k, n, c in zip(storage_key[1:], layout.shape[1:], layout.chunks[1:])
            )
            chunk = layout.chunk_address((index, *self.origin))  # allocated: direct_read found it
            self.base = plan.offset - chunk[0]  # type: ignore[index]

    def at(self, index: int) -> tuple[int, DirectRead] | None:
        """The file offset of the frame of sample ``index`` and its direct read."""
        if self.layout.chunks is None:
            return self.base + index * self.step, self.plan
        chunk = self.layout.chunk_address((index, *self.origin))
        return None if chunk is None else (chunk[0] + self.base, self.plan)

"""Lazy, per-process HDF5 access shared by the sample datasets (fields, time windows, all2all pairs)."""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from specsolve.data.native import open_h5
from specsolve.errors import DataError


class LazyHDF5:
    """Mixin for a dataset reading one HDF5 file: the file opens on first access in each process (every DataLoader
    worker gets its own handle) and pickling drops the handle.

    The class sets ``self.info`` (with ``path``, ``spatial_dims``, ``spatial_shape``) and ``self.stride`` (the
    spatial subsampling of the stored grid).
    """

    info: Any
    stride: int
    _handle: h5py.File | None = None
    _pid: int | None = None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(range(0, n, self.stride)) for n in self.info.spatial_shape)

    def _file(self) -> h5py.File:
        if self._handle is None or self._pid != os.getpid():
            self._handle = open_h5(self.info.path)
            self._pid = os.getpid()
        return self._handle

    def read_block(self, name: str, lead: tuple[Any, ...], what: str) -> np.ndarray:
        """``name[lead + (:, ...) + (::stride per spatial axis)]`` as float32, checked finite; the extra axes between
        ``lead`` and space are read whole. ``what`` names the block in errors (e.g. ``"sample 3"``)."""
        dset = self._file()[name]
        nspace = len(self.info.spatial_dims)
        extra = dset.ndim - len(lead) - nspace
        key = lead + (slice(None),) * extra + (slice(None, None, self.stride),) * nspace
        try:
            values = np.asarray(dset[key], dtype=np.float32)
        except OSError as exc:  # a damaged chunk: h5py raises OSError from libhdf5
            raise DataError(f"{self.info.path}: cannot read {what} of '{name}' (damaged file: {exc})") from exc
        if not np.all(np.isfinite(values)):
            raise DataError(f"{self.info.path}: {what} of '{name}' contains NaN or inf")
        return values

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None  # h5py handles cannot cross process boundaries
        state["_pid"] = None
        return state

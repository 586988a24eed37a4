"""The common lazy reader interface shared by every foreign layout (PDEBench, The Well, FNO ``.mat``, native).

A :class:`Reader` describes one file (or, through :class:`ConcatReader`, several shards read back as one):

- ``n_samples``: number of samples (trajectories);
- ``variables``: ``{name: VariableInfo}``; each variable has per-sample dims ``(time?, *space)``, e.g.
  ``("time", "x")`` for a Burgers trajectory, ``("x", "y")`` for a Darcy coefficient, ``()`` for a per-sample
  scalar such as a viscosity;
- ``coords``: ``{dim: 1-D array}`` for ``time`` and the spatial dims (``x``, ``y``, ``z``); ``coord_attrs`` the
  CF-style attributes of each;
- ``attrs``: the file's own attributes (simulation parameters, provenance);
- ``read(name, index, time=None, stride=1)``: one sample as a NumPy array with the variable's dims (``time``
  selects an int or a slice of the time axis, ``stride`` subsamples every spatial axis);
  ``read_block(name, start, stop, ...)`` the same for a contiguous block with a leading sample axis.

A file format is a registry component of kind ``reader``: :func:`reader_format` registers a :class:`Reader`
subclass under its format name (the built-ins ``native``, ``pdebench``, ``pdebench_groups``, ``well``, ``fno_mat``);
a third-party package adds a format with an entry point in the group ``specsolve.readers``
(``[project.entry-points."specsolve.readers"] my_fmt = "my_pkg.reader:MyReader"``) and, for ``fmt="auto"``,
a :meth:`Reader.detect` classmethod.

Nothing is loaded at construction beyond metadata; the file is opened on first read in each process, so a reader
can be handed to DataLoader workers (the open handle is not pickled). Every problem with the file (unreadable,
truncated, wrong shapes, NaN or inf values) raises a one-line :class:`~specsolve.errors.DataError` naming the
file and the problem.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from specsolve.errors import DataError, SpecsolveError
from specsolve.io import existing_file
from specsolve.registry import register

TIME = "time"
SPATIAL_NAMES = ("x", "y", "z")

# What h5py / scipy / numpy raise on damaged or unexpected files. Anything else is a bug and is not hidden.
FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    RuntimeError,
    UnicodeError,
    OverflowError,
    NotImplementedError,
    MemoryError,
    AssertionError,
)


def one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextmanager
def guard(path: str | Path, what: str = "") -> Iterator[None]:
    """Turn low-level errors from h5py / scipy / numpy into a one-line :class:`DataError` naming ``path``."""
    try:
        yield
    except SpecsolveError:
        raise
    except FILE_ERRORS as exc:
        prefix = f"{what}: " if what else ""
        raise DataError(f"{path}: {prefix}{one_line(exc)}") from exc


def open_hdf5(path: str | Path) -> Any:
    """Open an HDF5 file read-only: the one opener of every reader, DataModule and inference verb.

    A missing path, a directory, a truncated download and a file that is not HDF5 at all each give their own
    one-line :class:`DataError` naming the file.
    """
    import h5py

    p = existing_file(path)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        text = str(exc)
        truncated = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", text)
        if truncated:
            raise DataError(
                f"{p}: truncated HDF5 file ({truncated[1]} of {truncated[2]} bytes present; "
                "incomplete download or copy?)"
            ) from exc
        if "signature not found" in text:
            raise DataError(f"{p}: not a valid HDF5 file (no HDF5 signature)") from exc
        detail = re.search(r"\((.*)\)", text)
        raise DataError(f"{p}: cannot open as HDF5 ({detail[1] if detail else one_line(exc)})") from exc


MAX_CHUNK_CACHE = 64 << 20  # one_chunk_cache: at most this much per open dataset


def one_chunk_cache(node: Any) -> Any:
    """An uncompressed chunked HDF5 dataset reopened with a chunk cache of one chunk (at least the file's default,
    at most ``MAX_CHUNK_CACHE``); anything else as it is.

    The readers' own reads of unfiltered data go around HDF5 (:meth:`Reader.read_node`: one ``preadv`` of the
    selected bytes), so the cache serves only what h5py reads of this dataset in this process. HDF5 shares an open
    dataset, and with it the cache of its first opening, with every other opening in the process (user code with
    h5py included): with no cache at all, a strided selection across chunks (MATLAB-ordered ``fno_mat`` data read
    64 samples at a time) is read element by element, 50x slower; with one chunk, each chunk is read once.
    Compressed chunks keep the file's default cache (they are decoded whole anyway).
    """
    import h5py

    if not isinstance(node, h5py.Dataset) or node.chunks is None or node.id.get_create_plist().get_nfilters() > 0:
        return node
    chunk_bytes = math.prod(node.chunks) * node.dtype.itemsize
    file_id, name = node.file.id, node.name.encode()
    _, slots, default_bytes, _ = file_id.get_access_plist().get_cache()
    del node  # HDF5 shares an open dataset, and with it the chunk cache of its first opening: close it first
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    access.set_chunk_cache(slots, max(default_bytes, min(chunk_bytes, MAX_CHUNK_CACHE)), 1.0)
    return h5py.Dataset(h5py.h5d.open(file_id, name, dapl=access))


def _selected_bounds(key: Any, n: int) -> range:
    return range(*key.indices(n)) if isinstance(key, slice) else range(int(key), int(key) + 1)


def _first_at_least(r: range, lo: int) -> int | None:
    """The first element of ``r`` (step > 0) that is >= ``lo``."""
    if lo <= r.start:
        return r.start if len(r) else None
    k = -(-(lo - r.start) // r.step)
    return r.start + k * r.step if k < len(r) else None


def _last_below(r: range, hi: int) -> int | None:
    """The last element of ``r`` (step > 0) that is < ``hi``."""
    if not len(r) or hi <= r.start:
        return None
    k = min(len(r) - 1, (hi - 1 - r.start) // r.step)
    return r.start + k * r.step


MAX_ADVISED_CHUNKS = 1024  # per read; a selection over more chunks is not announced


MAX_DIRECT_AMPLIFICATION = 16  # a direct read may fetch at most this many times the selected bytes (strides) ...
MIN_AMPLIFIED_BYTES = 1 << 16  # ... unless it is this small anyway


@dataclass(frozen=True)
class DirectRead:
    """``dset[key]`` as one contiguous run of the file: ``count`` items of ``dtype`` from byte ``offset``, reshaped
    to ``shape`` (the bounding box of the selection in storage order), then indexed with ``post``."""

    offset: int
    count: int
    dtype: np.dtype
    shape: tuple[int, ...]
    post: tuple[Any, ...]

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize


class StorageMap:
    """Where the elements of one HDF5 dataset lie in its file: :meth:`byte_ranges` of a selection, and
    :meth:`direct_read` where the selection is one contiguous run of plain numbers.

    The layout (shape, chunk shape, item size, whether chunks are filtered, the contiguous offset) is read once;
    chunk addresses are looked up once per chunk and remembered (up to ``MAX_REMEMBERED_CHUNKS``).
    """

    MAX_REMEMBERED_CHUNKS = 1 << 20

    def __init__(self, dset: Any) -> None:
        import h5py

        self.dset = dset
        self.shape = tuple(dset.shape)
        self.chunks = dset.chunks
        self.dtype = dset.dtype
        self.itemsize = dset.dtype.itemsize
        create = dset.id.get_create_plist()
        self.filtered = self.chunks is not None and create.get_nfilters() > 0
        self.offset = dset.id.get_offset() if self.chunks is None else None
        self._chunk_at: dict[tuple[int, ...], tuple[int, int] | None] = {}
        # raw bytes are the values for plain numbers (ints, including HDF5 enums, which h5py returns as their base
        # integers; floats; not bool / string / compound / array types) stored unfiltered in the file itself (not
        # external, virtual or compact)
        dtype = self.dtype
        self.direct = (
            create.get_layout() in (h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED)
            and create.get_external_count() == 0
            and not self.filtered
            and dtype.kind in "fiu"
            and dtype.fields is None
            and dtype.subdtype is None
            and len(self.shape) > 0
        )

    def chunk_address(self, origin: tuple[int, ...]) -> tuple[int, int] | None:
        """``(file offset, stored size)`` of the chunk that starts at ``origin`` (None: not allocated); remembered."""
        found = self._chunk_at.get(origin, False)
        if found is False:
            info = self.dset.id.get_chunk_info_by_coord(origin)
            found = None if info.byte_offset is None else (info.byte_offset, info.size)
            if len(self._chunk_at) < self.MAX_REMEMBERED_CHUNKS:
                self._chunk_at[origin] = found
        return found  # type: ignore[return-value]

    def byte_ranges(self, key: tuple[Any, ...]) -> list[tuple[int, int]]:
        """``(offset, length)`` byte ranges of the file (absolute offsets, as HDF5 reports them: a user block
        included) that hold ``dset[key]`` (``key``: an int or a slice with step > 0 per storage axis).

        Contiguous data: the span from the first to the last selected element. Chunked data: every chunk the
        selection touches, compressed ones whole, uncompressed ones from the first to the last selected element in
        the chunk's row-major order. Empty when the data are not allocated or the selection spans more than
        ``MAX_ADVISED_CHUNKS`` chunks.
        """
        axes = [_selected_bounds(k, n) for k, n in zip(key, self.shape, strict=True)]
        if any(len(r) == 0 for r in axes):
            return []
        itemsize = self.itemsize

        def span(origin: tuple[int, ...], extent: tuple[int, ...]) -> tuple[int, int] | None:
            first = last = 0
            for r, o, c in zip(axes, origin, extent, strict=True):
                lo, hi = _first_at_least(r, o), _last_below(r, o + c)
                if lo is None or hi is None or lo > hi:
                    return None
                first, last = first * c + (lo - o), last * c + (hi - o)
            return first * itemsize, (last - first + 1) * itemsize

        if self.chunks is None:
            bounds = span((0,) * len(axes), self.shape)
            return [] if self.offset is None or bounds is None else [(self.offset + bounds[0], bounds[1])]
        chunks = self.chunks
        per_axis = []
        for r, c in zip(axes, chunks, strict=True):
            per_axis.append(sorted({i // c for i in r}) if r.step >= c else range(r[0] // c, r[-1] // c + 1))
        if math.prod(len(i) for i in per_axis) > MAX_ADVISED_CHUNKS:
            return []
        ranges = []
        for index in itertools.product(*per_axis):
            origin = tuple(i * c for i, c in zip(index, chunks, strict=True))
            chunk = self.chunk_address(origin)
            if chunk is None:
                continue
            if self.filtered:
                ranges.append(chunk)
                continue
            bounds = span(origin, chunks)
            if bounds is not None:
                ranges.append((chunk[0] + bounds[0], bounds[1]))
        return ranges

    def direct_read(self, key: tuple[Any, ...]) -> DirectRead | None:
        """The one contiguous byte run that holds ``dset[key]`` (``key``: an in-range int or a slice with step > 0
        per axis), or None where there is none: filtered, unallocated or non-numeric data, a selection across
        chunks or not contiguous in storage order, or one whose bounding run is more than
        ``MAX_DIRECT_AMPLIFICATION`` times the selected bytes.

        In storage order (row-major within a chunk, or within the dataset when contiguous), with ``k`` the first
        axis that selects more than one index, the run from the selection's first element to the end of its last
        index along ``k`` (the later axes whole) holds it; the rest is cut out afterwards (``post``: offsets and
        steps; an int drops its axis as h5py does).
        """
        if not self.direct or len(key) != len(self.shape):
            return None
        extent = self.chunks or self.shape
        ndim = len(extent)
        origin = [0] * ndim
        lo = [0] * ndim
        hi = [0] * ndim
        steps = [0] * ndim  # 0: an int (the axis is dropped)
        k = -1  # the first axis that selects more than one index
        for a in range(ndim):
            n, c, sel = self.shape[a], extent[a], key[a]
            if sel.__class__ is slice:
                start, stop, step = sel.indices(n)
                if step <= 0 or start >= stop:
                    return None
                last = start + (stop - 1 - start) // step * step
            else:
                start = last = int(sel)
                step = 0
                if not 0 <= start < n:
                    return None
            base = start - start % c
            if last >= base + c:  # more than one chunk along this axis
                return None
            origin[a], lo[a], hi[a], steps[a] = base, start - base, last - base, step
            if k < 0 and last > start:
                k = a
        if k < 0:
            k = ndim - 1
        count = (hi[k] - lo[k] + 1) * math.prod(extent[k + 1 :])
        if count * self.itemsize > MIN_AMPLIFIED_BYTES:
            selected = math.prod((h - low) // s + 1 if s else 1 for low, h, s in zip(lo, hi, steps))
            if count > MAX_DIRECT_AMPLIFICATION * selected:
                return None
        if self.chunks is None:
            if self.offset is None:
                return None
            address = self.offset
        else:
            chunk = self.chunk_address(tuple(origin))
            if chunk is None:
                return None
            address = chunk[0]
        # the box: the selected index on the axes before k, lo[k] .. hi[k] on axis k, the later axes whole
        box_start = lo[: k + 1] + [0] * (ndim - k - 1)
        first = 0
        for a in range(ndim):  # row-major element index of the box's first element
            first = first * extent[a] + box_start[a]
        shape = (1,) * k + (hi[k] - lo[k] + 1,) + tuple(extent[k + 1 :])
        post = tuple(
            slice(lo[a] - box_start[a], hi[a] - box_start[a] + 1, steps[a]) if steps[a] else lo[a] - box_start[a]
            for a in range(ndim)
        )
        return DirectRead(address + first * self.itemsize, count, self.dtype, shape, post)


def storage_byte_ranges(dset: Any, key: tuple[Any, ...]) -> list[tuple[int, int]]:
    """:meth:`StorageMap.byte_ranges` of ``dset[key]``."""
    return StorageMap(dset).byte_ranges(key)


R = TypeVar("R", bound="type[Reader]")

# format name -> reader class, for every reader registered with reader_format in this process (the built-ins,
# and plugins once imported); entry-point plugins not imported yet are found through the registry
READERS: dict[str, type[Reader]] = {}


def reader_format(name: str) -> Callable[[R], R]:
    """Class decorator: register a :class:`Reader` subclass as the file format ``name`` (registry kind
    ``reader``) and set its ``format``. The class also goes into :data:`READERS`, so opening a file needs no
    registry scan."""

    def decorator(cls: R) -> R:
        register("reader", name)(cls)  # a duplicate name raises here, before anything is changed
        cls.format = name
        READERS[name] = cls
        return cls

    return decorator


@dataclass(frozen=True)
class VariableInfo:
    """A variable as the reader presents it: per-sample ``dims`` (``time?``, then spatial) and ``shape``."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def has_time(self) -> bool:
        return bool(self.dims) and self.dims[0] == TIME

    @property
    def nbytes_per_sample(self) -> int:
        return 4 * int(np.prod(self.shape, dtype=np.int64))


def is_out_buffer(out: np.ndarray | None, size: int) -> bool:
    """Whether ``out`` is a 1-D C-contiguous float32 array of ``size`` elements (what a read's ``out`` must be)."""
    return out is not None and out.dtype == np.float32 and out.ndim == 1 and out.flags.c_contiguous and out.size == size


def check_out(out: np.ndarray, size: int) -> None:
    """Raise ValueError unless :func:`is_out_buffer` (a read's ``out``)."""
    if not is_out_buffer(out, size):
        raise ValueError(
            f"out must be a 1-D C-contiguous float32 array of {size} elements, got {out.dtype} {out.shape}"
        )


_OPENING = threading.Lock()  # Reader.handle: one open per reader and process


def _selected_length(n: int, s: slice) -> int:
    return len(range(*s.indices(n)))


class Reader:
    """Base class: subclasses fill the metadata in ``__init__`` and implement :meth:`_read`."""

    format: ClassVar[str] = "?"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.n_samples = 0
        self.variables: dict[str, VariableInfo] = {}
        self.coords: dict[str, np.ndarray] = {}
        self.coord_attrs: dict[str, dict[str, Any]] = {}
        self.attrs: dict[str, Any] = {}
        self.spatial_dims: tuple[str, ...] = ()
        self._handle: Any = None
        self._pid: int | None = None
        self._nodes: dict[str, Any] = {}
        self._maps: dict[int, StorageMap] = {}  # id(dataset node) -> its storage map (advise, read_node)
        self._fd: int | None = None  # the open file's OS descriptor (-1: none; advise, read_node)

    # -- to implement -------------------------------------------------------------------------------------
    def _open(self) -> Any:
        """Open the underlying file (called once per process)."""
        return open_hdf5(self.path)

    def _read(self, handle: Any, var: VariableInfo, samples: slice, key: tuple[slice, ...]) -> np.ndarray:
        """Samples ``samples`` of ``var`` with ``key`` (one slice per per-sample dim, steps > 0) applied, as an
        array of shape ``(n_selected_samples, *selected)`` in the variable's dim order."""
        raise NotImplementedError

    def _read_into(
        self, handle: Any, var: VariableInfo, samples: slice, key: tuple[slice, ...], out: np.ndarray
    ) -> np.ndarray | None:
        """:meth:`_read` with ``out`` (1-D float32, the size of the selection) offered as the place for the values:
        the array (a view of ``out`` where they were read in place, e.g. :meth:`read_node`), or None (the default:
        :meth:`read_block` reads with :meth:`_read` and copies into ``out``)."""
        return None

    @classmethod
    def open(cls, path: Path, **options: Any) -> Reader:
        """The reader of one file; ``options`` the caller offers (e.g. ``channel_names``, ``grid``): only those
        the constructor takes and that are not None are passed."""
        accepted = inspect.signature(cls).parameters
        return cls(path, **{k: v for k, v in options.items() if v is not None and k in accepted})

    @classmethod
    def detect(cls, path: Path, handle: Any) -> bool:
        """Whether ``path`` is in this format (for ``fmt="auto"``); ``handle`` is the open HDF5 file or None for
        a non-HDF5 file. The built-in formats are detected first; a plugin format overrides this."""
        return False

    # -- public interface ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} samples={self.n_samples} variables={list(self.variables)}>"

    def variable(self, name: str) -> VariableInfo:
        if name not in self.variables:
            raise DataError(f"{self.path}: no variable '{name}'; variables: {', '.join(self.variables) or '(none)'}")
        return self.variables[name]

    def handle(self) -> Any:
        """The open file of this process, opened on first use (once, also when loader threads ask together)."""
        if self._handle is None or self._pid != os.getpid():
            with _OPENING:
                if self._handle is None or self._pid != os.getpid():
                    handle = self._open()
                    self._nodes, self._maps, self._fd = {}, {}, None
                    self._handle, self._pid = handle, os.getpid()
        return self._handle

    def node(self, name: str) -> Any:
        """``handle()[name]`` (an HDF5 dataset or group), looked up once per open handle: the name lookup costs as
        much as reading a small sample. See :func:`one_chunk_cache` for how datasets are opened."""
        found = self._nodes.get(name)
        if found is None or self._handle is None or self._pid != os.getpid():
            found = self._nodes[name] = one_chunk_cache(self.handle()[name])
        return found

    def selection(
        self, var: VariableInfo, time: int | slice | None = None, stride: int = 1
    ) -> tuple[tuple[slice, ...], bool]:
        """The per-dim slices for ``time`` and ``stride``, and whether the time axis is then dropped (int)."""
        if stride < 1:
            raise DataError(f"stride must be >= 1, got {stride}")
        key: list[slice] = []
        drop_time = False
        for axis, dim in enumerate(var.dims):
            n = var.shape[axis]
            if dim == TIME and time is not None:
                if isinstance(time, (int, np.integer)) and not isinstance(time, bool):
                    t = int(time) + (n if time < 0 else 0)
                    if not 0 <= t < n:
                        raise DataError(f"{self.path}: time index {time} out of range for '{var.name}' ({n} steps)")
                    key.append(slice(t, t + 1))
                    drop_time = True
                elif isinstance(time, slice):
                    s = slice(*time.indices(n))
                    if s.step <= 0 or _selected_length(n, s) == 0:
                        raise DataError(f"{self.path}: empty or reversed time selection {time} for '{var.name}'")
                    key.append(s)
                else:
                    raise DataError(f"time selection must be an int or a slice, got {time!r}")
            elif dim in self.spatial_dims:
                key.append(slice(0, n, stride))
            else:  # the time axis read whole, or a non-spatial extra axis (e.g. components) never subsampled
                key.append(slice(0, n, 1))
        if time is not None and not var.has_time:
            raise DataError(f"{self.path}: variable '{var.name}' has no time axis (dims {var.dims})")
        return tuple(key), drop_time

    def read_block(
        self,
        name: str,
        start: int,
        stop: int,
        time: int | slice | None = None,
        stride: int = 1,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Samples ``start:stop`` of ``name``: shape ``(stop - start, *dims)`` (float32 for float data).

        ``out``: a 1-D C-contiguous float32 array of exactly the block's size (a caller's batch storage): the
        values, converted to float32, are returned in it (read in place where the reader can, else copied)."""
        var = self.variable(name)
        if not 0 <= start <= stop <= self.n_samples:
            raise IndexError(f"samples {start}:{stop} out of range for {self.n_samples} samples")
        key, drop_time = self.selection(var, time, stride)
        expected = (stop - start,) + tuple(_selected_length(n, s) for n, s in zip(var.shape, key))
        if out is not None:
            check_out(out, math.prod(expected))
        if start == stop:
            return np.zeros(expected[:1] + expected[2:] if drop_time else expected, dtype=np.float32)
        with guard(self.path, f"reading '{name}'"):
            handle, samples = self.handle(), slice(start, stop, 1)
            values = None if out is None else self._read_into(handle, var, samples, key, out)
            values = np.asarray(self._read(handle, var, samples, key) if values is None else values)
        if values.dtype.kind not in "fiub":
            raise DataError(f"{self.path}: variable '{name}' holds non-numeric data ({values.dtype})")
        if values.shape != expected:
            raise DataError(f"{self.path}: variable '{name}' read back with shape {values.shape}, expected {expected}")
        if drop_time:
            values = values[:, 0]
        if out is not None and not np.may_share_memory(values, out):
            with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values become inf, reported below
                out.reshape(values.shape)[...] = values
            values = out.reshape(values.shape)
        elif np.issubdtype(values.dtype, np.floating) and values.dtype != np.float32:
            with np.errstate(over="ignore"):  # out-of-range values become inf and are reported below
                values = values.astype(np.float32)
        # a sum is finite only if every term is (NaN and inf propagate); the elementwise test runs only when the
        # sum is not, which also covers a finite block whose float32 sum overflows
        with np.errstate(over="ignore"):
            total = values.sum() if values.dtype.kind == "f" else 0.0
        if not np.isfinite(total) and not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1))[0])
            raise DataError(f"{self.path}: variable '{name}' sample {start + bad} contains NaN or inf")
        return values

    def _storage(self, var: VariableInfo, index: int, key: tuple[slice, ...]) -> tuple[Any, tuple[Any, ...]] | None:
        """The HDF5 dataset and the storage-order selection that :meth:`_read` of sample ``index`` with ``key``
        reads, for :meth:`advise`; None (the default) where the reader does not say."""
        return None

    def advise(self, name: str, index: int, time: int | slice | None = None, stride: int = 1) -> None:
        """Tell the operating system which bytes ``read(name, index, time, stride)`` will read
        (``posix_fadvise(WILLNEED)``), so that it fetches them in the background. A batch announced before it is
        read has all its reads in flight at once instead of one after the other (shuffled samples read from a
        cold file arrive about twice as fast). Best effort: a no-op for data it cannot locate."""
        if not hasattr(os, "posix_fadvise"):
            return
        var = self.variable(name)
        if not 0 <= index < self.n_samples:
            return
        key, _ = self.selection(var, time, stride)
        storage = self._storage(var, index, key)
        if storage is None:
            return
        dset, storage_key = storage
        try:
            fd = self._descriptor()
            if fd is None:
                return
            layout = self.storage_map(dset)
            plan = layout.direct_read(storage_key)
            ranges = [(plan.offset, plan.nbytes)] if plan is not None else layout.byte_ranges(storage_key)
            for offset, length in ranges:
                os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
        except (OSError, ValueError, TypeError, RuntimeError, AttributeError):
            return  # storage the query does not cover: reads work as before

    def _descriptor(self) -> int | None:
        """The OS file descriptor of the open HDF5 file (``sec2``, the default driver), else None."""
        handle = self.handle()  # (re)opened in a new process, which also forgets the descriptor
        if self._fd is None:
            self._fd = handle.id.get_vfd_handle() if getattr(handle, "driver", None) == "sec2" else -1
        return self._fd if isinstance(self._fd, int) and self._fd >= 0 else None

    def storage_map(self, dset: Any) -> StorageMap:
        """The :class:`StorageMap` of an HDF5 dataset of this reader's open file (one per dataset and handle)."""
        layout = self._maps.get(id(dset))
        if layout is None or layout.dset is not dset:
            layout = self._maps[id(dset)] = StorageMap(dset)
        return layout

    def read_node(self, dset: Any, key: tuple[Any, ...], out: np.ndarray | None = None) -> np.ndarray:
        """``dset[key]`` for an HDF5 dataset of this reader's open file (``key``: ints and slices with step > 0).

        Where the selection is one contiguous run of plain numbers in the file (:meth:`StorageMap.direct_read`:
        one frame or window of a trajectory stored unfiltered), it is read with one ``preadv`` on the file's
        descriptor instead of through HDF5: the shuffled one-frame reads of window and snapshot-pair datasets
        spend most of their time in HDF5's per-read overhead, about five times the cost of the read itself.
        Anything else (filtered chunks, selections across chunks, unallocated data, other drivers), and a short
        read, goes through h5py, which also reports damaged files.

        ``out`` (1-D, C-contiguous): where a direct read of exactly ``out``'s dtype and size is the whole selection,
        it is read into ``out`` and a view of it returned (no copy); otherwise ``out`` is not touched.
        """
        fd = self._descriptor()
        plan = None if fd is None else self.storage_map(dset).direct_read(key)
        if plan is not None:
            in_place = out is not None and out.dtype == plan.dtype and out.size == plan.count
            buffer = out if in_place else np.empty(plan.count, dtype=plan.dtype)
            try:
                complete = os.preadv(fd, [buffer], plan.offset) == plan.nbytes
            except OSError:
                complete = False
            if complete:
                return buffer.reshape(plan.shape)[plan.post]
        return dset[key]

    def read(
        self, name: str, index: int, time: int | slice | None = None, stride: int = 1, out: np.ndarray | None = None
    ) -> np.ndarray:
        """One sample of ``name`` with the variable's per-sample dims (``out``: as :meth:`read_block`)."""
        if not -self.n_samples <= index < self.n_samples:
            raise IndexError(f"sample {index} out of range for {self.n_samples} samples")
        index = index % self.n_samples
        return self.read_block(name, index, index + 1, time, stride, out)[0]

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            close = getattr(self._handle, "close", None)
            if close is not None:
                close()
        self._handle = None
        self._pid = None
        self._nodes, self._maps, self._fd = {}, {}, None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None  # file handles cannot cross process boundaries
        state["_pid"] = None
        state["_nodes"], state["_maps"], state["_fd"] = {}, {}, None
        return state

    # -- helpers for subclasses ---------------------------------------------------------------------------
    def check_finite_coordinates(self) -> None:
        for dim, values in self.coords.items():
            if np.issubdtype(values.dtype, np.number) and not np.all(np.isfinite(values)):
                raise DataError(f"{self.path}: coordinate '{dim}' contains NaN or inf")

    def describe(self) -> str:
        """A short text summary (format, samples, coordinates, variables)."""
        lines = [f"format: {self.format}", f"samples: {self.n_samples}", "coordinates:"]
        for dim, values in self.coords.items():
            span = f"{values.min():.6g} .. {values.max():.6g}" if values.size else "(empty)"
            lines.append(f"  {dim} ({len(values)}) {span}")
        lines.append("variables (per sample):")
        for var in self.variables.values():
            lines.append(f"  {var.name}({', '.join(var.dims)}) shape={var.shape}")
        return "\n".join(lines)


class ConcatReader(Reader):
    """Several readers (shards of one dataset) presented as one; they must agree on variables, shapes and grid."""

    def __init__(self, readers: Sequence[Reader]) -> None:
        if not readers:
            raise DataError("no files to read")
        first = readers[0]
        super().__init__(first.path)
        self.format = first.format  # type: ignore[misc]
        self.readers = list(readers)
        for other in self.readers[1:]:
            if type(other) is not type(first):
                raise DataError(f"shard {other.path} is {other.format} data but {first.path} is {first.format}")
            if set(other.variables) != set(first.variables):
                raise DataError(
                    f"inconsistent shards: {other.path} has variables {sorted(other.variables)}, "
                    f"{first.path} has {sorted(first.variables)}"
                )
            for name, var in first.variables.items():
                o = other.variables[name]
                if (o.dims, o.shape) != (var.dims, var.shape):
                    raise DataError(
                        f"inconsistent shapes across shards: '{name}' is {o.dims} {o.shape} in {other.path} "
                        f"but {var.dims} {var.shape} in {first.path}"
                    )
            for dim in first.spatial_dims:
                a, b = first.coords[dim], other.coords.get(dim)
                if b is None or a.shape != b.shape or not np.allclose(a, b):
                    raise DataError(
                        f"inconsistent shards: coordinate '{dim}' of {other.path} differs from {first.path}"
                    )
        self.variables = dict(first.variables)
        self.coords = dict(first.coords)
        self.coord_attrs = dict(first.coord_attrs)
        self.attrs = dict(first.attrs)
        self.spatial_dims = first.spatial_dims
        self.offsets = np.cumsum([0] + [r.n_samples for r in self.readers])
        self.n_samples = int(self.offsets[-1])
        self.paths = [r.path for r in self.readers]

    def read_block(
        self,
        name: str,
        start: int,
        stop: int,
        time: int | slice | None = None,
        stride: int = 1,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        if not 0 <= start <= stop <= self.n_samples:
            raise IndexError(f"samples {start}:{stop} out of range for {self.n_samples} samples")
        spans = []
        for i in range(len(self.readers)):
            lo, hi = max(start, self.offsets[i]), min(stop, self.offsets[i + 1])
            if lo < hi:
                spans.append((i, int(lo) - int(self.offsets[i]), int(hi) - int(self.offsets[i])))
        if len(spans) == 1:  # within one shard: that reader fills out as it can
            i, lo, hi = spans[0]
            return self.readers[i].read_block(name, lo, hi, time, stride, out)
        parts = [self.readers[i].read_block(name, lo, hi, time, stride) for i, lo, hi in spans]
        if not parts:
            var = self.variable(name)
            key, drop = self.selection(var, time, stride)
            shape = tuple(_selected_length(n, s) for n, s in zip(var.shape, key))
            return np.zeros((0,) + (shape[1:] if drop else shape), dtype=np.float32)
        values = np.concatenate(parts, axis=0)
        if out is not None:
            check_out(out, values.size)
            out.reshape(values.shape)[...] = values
            return out.reshape(values.shape)
        return values

    def close(self) -> None:
        for reader in self.readers:
            reader.close()

    def describe(self) -> str:
        return f"shards: {len(self.readers)}\n" + super().describe()

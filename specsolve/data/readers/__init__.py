"""Readers for the layouts users already have, without copying the data: PDEBench (single-array and per-sample
groups), The Well, FNO ``.mat`` (v7.3 lazily, v5 eagerly) and the native format, behind one interface
(:class:`~specsolve.data.readers.base.Reader`).

>>> reader = open_reader("1D_Burgers_Sols_Nu0.001.hdf5")          # format detected
>>> reader.n_samples, reader.variables["tensor"].dims              # (10000, ('time', 'x'))
>>> u = reader.read("tensor", 0, time=slice(0, 10))               # (10, 1024) float32

A directory or a glob pattern opens every ``*.h5`` / ``*.hdf5`` / ``*.mat`` file in it as shards of one dataset
(shapes must agree across shards).
"""

from __future__ import annotations

import glob
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import h5py

from specsolve.data.readers.base import (
    READERS,
    ConcatReader,
    Reader,
    VariableInfo,
    guard,
    open_hdf5,
    reader_format,
)
from specsolve.data.readers.fno_mat import MAT5_MAGIC, FnoMatReader
from specsolve.data.readers.native import NativeReader
from specsolve.data.readers.pdebench import COORDINATE_NAMES, PDEBenchReader
from specsolve.data.readers.pdebench_groups import PDEBenchGroupsReader, sample_groups
from specsolve.data.readers.well import FIELD_GROUPS, WellReader
from specsolve.errors import DataError, RegistryError
from specsolve.io import existing_file
from specsolve.registry import entry_point_group
from specsolve.registry import get as registry_get

# A format name: "auto" (detected per file) or the name of a registered reader (see formats()).
Format = str
SUFFIXES = (".h5", ".hdf5", ".mat", ".nc")

__all__ = [
    "FORMATS",
    "ConcatReader",
    "FnoMatReader",
    "Format",
    "NativeReader",
    "PDEBenchGroupsReader",
    "PDEBenchReader",
    "Reader",
    "VariableInfo",
    "WellReader",
    "detect_format",
    "expand_source",
    "formats",
    "open_hdf5",
    "open_reader",
    "reader_class",
    "reader_format",
]


def formats() -> tuple[str, ...]:
    """Every format name a user can give: ``auto``, the registered readers (built-ins and imported plugins), then
    entry-point plugins not imported yet (group ``specsolve.readers``). The one list behind ``open_reader``,
    ``convert``, ``detect_format`` and the CLI choices."""
    plugins = sorted(ep.name for ep in metadata.entry_points(group=entry_point_group("reader")))
    return ("auto", *sorted(READERS), *(name for name in plugins if name not in READERS))


def __getattr__(name: str) -> Any:
    if name == "FORMATS":  # computed on access, so a plugin installed later is listed
        return formats()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def reader_class(fmt: str) -> type[Reader]:
    """The reader registered as format ``fmt`` (a one-line :class:`DataError` listing the formats otherwise)."""
    if fmt in READERS:
        return READERS[fmt]
    if fmt in formats():
        try:
            return registry_get("reader", fmt)  # type: ignore[return-value]
        except RegistryError as exc:
            raise DataError(str(exc)) from exc
    raise DataError(f"unknown data format '{fmt}'; choose one of {', '.join(formats())}")


BUILTIN_FORMATS = ("native", "pdebench", "pdebench_groups", "well", "fno_mat")


def _plugin_readers() -> list[type[Reader]]:
    return [reader_class(name) for name in formats()[1:] if name not in BUILTIN_FORMATS]


def detect_format(path: str | Path) -> str:
    """The format name of one file: ``native``, ``pdebench``, ``pdebench_groups``, ``well``, ``fno_mat`` or a
    plugin format whose reader's :meth:`~specsolve.data.readers.base.Reader.detect` accepts the file."""
    p = existing_file(path)
    with guard(p, "detecting the format"):
        if not h5py.is_hdf5(str(p)):
            with open(p, "rb") as fh:
                head = fh.read(len(MAT5_MAGIC))
            if head == MAT5_MAGIC:
                return "fno_mat"
            for cls in _plugin_readers():
                if cls.detect(p, None):
                    return cls.format
            raise DataError(f"{p}: not a valid HDF5 file nor a MATLAB .mat file")
        with open_hdf5(p) as f:
            conventions = f.attrs.get("conventions", b"")
            conventions = conventions.decode() if isinstance(conventions, bytes) else str(conventions)
            if conventions.startswith("specsolve"):
                return "native"
            if "dimensions" in f and any(g in f for g in FIELD_GROUPS):
                return "well"
            if any(name in f for name in COORDINATE_NAMES):
                return "pdebench"
            if p.suffix.lower() == ".mat" or f.userblock_size >= 128:
                return "fno_mat"
            if sample_groups(f):
                return "pdebench_groups"
            for cls in _plugin_readers():
                if cls.detect(p, f):
                    return cls.format
            if "sample" in f:
                return "native"
    raise DataError(
        f"{p}: cannot tell the data format (not native, PDEBench, The Well or FNO .mat); pass the format explicitly"
    )


def expand_source(source: str | Path) -> list[Path]:
    """A file, a directory (its data files) or a glob pattern -> the sorted list of files."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not paths:
            raise DataError(f"no data files match {text}")
        return paths
    p = Path(source)
    if p.is_dir():
        paths = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in SUFFIXES)
        if not paths:
            raise DataError(f"{p}: directory holds no .h5/.hdf5/.mat/.nc files")
        return paths
    if not p.exists():
        raise DataError(f"data file not found: {p}")
    return [p]


def _open_one(path: Path, fmt: str, options: dict[str, Any]) -> Reader:
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind == "pdebench" and fmt != "auto":
        # the explicit "pdebench" format covers both PDEBench layouts
        with open_hdf5(path) as f, guard(path, "detecting the PDEBench layout"):
            if not any(n in f for n in COORDINATE_NAMES) and sample_groups(f):
                kind = "pdebench_groups"
    return reader_class(kind).open(path, **options)


def open_reader(
    source: str | Path,
    fmt: Format = "auto",
    channel_names: list[str] | None = None,
    grid: Literal["vertex", "periodic"] = "vertex",
    max_eager_bytes: int | None = None,
) -> Reader:
    """Open a file, a directory of shards or a glob pattern lazily.

    ``fmt``: one of :func:`formats`: ``auto`` (detected per file), ``native``, ``pdebench`` (either PDEBench
    layout), ``pdebench_groups``, ``well``, ``fno_mat`` or a plugin format; ``channel_names`` names the channels
    of PDEBench per-sample files; ``grid`` and ``max_eager_bytes`` apply to ``.mat`` files (see
    :mod:`specsolve.data.readers.fno_mat`). Each reader takes the options its constructor accepts.
    """
    if fmt not in formats():
        raise DataError(f"unknown data format '{fmt}'; choose one of {', '.join(formats())}")
    paths = expand_source(source)
    options = {"channel_names": channel_names, "grid": grid, "max_eager_bytes": max_eager_bytes}
    readers = [_open_one(p, fmt, options) for p in paths]
    return readers[0] if len(readers) == 1 else ConcatReader(readers)

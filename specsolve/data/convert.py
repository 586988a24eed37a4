"""PDEBench / The Well / FNO ``.mat`` files -> the native format, streamed (``specsolve data convert``).

The source is read through :func:`specsolve.data.readers.open_reader` (a file, a directory of shards or a glob)
and written with :class:`~specsolve.data.native.NativeWriter` in blocks of samples, so memory stays bounded by
``block_bytes`` (plus one sample) whatever the dataset size. Dims become ``sample[, time], x[, y[, z]]`` with the
source's coordinates; the source's attributes are kept, plus provenance (``source``, ``source_format``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.data.readers import ConcatReader, Format, Reader, WellReader, formats, open_reader
from specsolve.errors import DataError

RESERVED_ATTRS = ("Conventions", "conventions", "created", "specsolve_version")
DEFAULT_BLOCK_BYTES = 256 * 1024**2


def block_size(reader: Reader, names: list[str], block_bytes: int) -> int:
    """Samples per block so that one block of all ``names`` stays under ``block_bytes`` (at least 1)."""
    per_sample = sum(max(reader.variables[n].nbytes_per_sample, 4) for n in names)
    return max(1, min(reader.n_samples, block_bytes // max(per_sample, 1)))


def _source_attrs(reader: Reader) -> dict[str, Any]:
    attrs = {k: v for k, v in reader.attrs.items() if k not in RESERVED_ATTRS}
    base = reader.readers[0] if isinstance(reader, ConcatReader) else reader
    if isinstance(base, WellReader) and base.boundary_conditions:
        by_dim = {}
        for bc in base.boundary_conditions.values():
            dims = bc.get("associated_dims") or []
            for dim in [dims] if isinstance(dims, str) else dims:
                by_dim[str(dim)] = str(bc.get("bc_type", "")).upper()
        attrs["boundary_conditions"] = json.dumps(by_dim, sort_keys=True)
    return attrs


def convert(
    src: str | Path,
    dst: str | Path,
    fmt: Format = "auto",
    overwrite: bool = False,
    variables: list[str] | None = None,
    channel_names: list[str] | None = None,
    grid: Literal["vertex", "periodic"] = "vertex",
    compression: int | None = 1,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Path:
    """Convert ``src`` (``fmt``: auto / pdebench / well / fno_mat) to the native file ``dst``; returns ``dst``.

    ``variables`` selects a subset (default: all); ``channel_names`` names PDEBench per-sample channels; ``grid``
    sets the assumed grid of ``.mat`` files. ``dst`` appears only when complete (atomic rename).
    """
    if fmt not in formats():
        raise DataError(f"unknown source format '{fmt}'; choose one of {', '.join(formats())}")
    dst = Path(dst)
    reader = open_reader(src, fmt, channel_names=channel_names, grid=grid)
    try:
        sources = reader.paths if isinstance(reader, ConcatReader) else [reader.path]
        for path in sources:
            if dst.exists() and dst.resolve() == Path(path).resolve():
                raise DataError(f"refusing to overwrite the source {path} with the converted file")
        names = list(reader.variables) if variables is None else list(variables)
        for name in names:
            reader.variable(name)
        if not names:
            raise DataError(f"{src}: nothing to convert (no variables)")
        coords: dict[str, np.ndarray] = {"sample": np.arange(reader.n_samples, dtype=np.int64)}
        used = {d for n in names for d in reader.variables[n].dims}
        for dim, values in reader.coords.items():
            if dim in used:
                coords[dim] = values
        coord_attrs = {d: dict(a) for d, a in reader.coord_attrs.items() if d in coords}
        coord_attrs["sample"] = {"long_name": "sample index"}
        specs = {}
        for name in names:
            var = reader.variables[name]
            attrs = {k: v for k, v in var.attrs.items() if isinstance(v, (str, int, float))}
            specs[name] = VariableSpec(("sample",) + var.dims, "float32", attrs)
        attrs = _source_attrs(reader)
        attrs.update(
            {
                "source": ", ".join(str(Path(p).resolve()) for p in sources),
                "source_format": reader.format,
                "converted_by": "specsolve data convert",
            }
        )
        block = block_size(reader, names, block_bytes)
        with NativeWriter(dst, coords, specs, attrs, coord_attrs, compression=compression, overwrite=overwrite) as w:
            for start in range(0, reader.n_samples, block):
                stop = min(start + block, reader.n_samples)
                for name in names:
                    w.write(name, start, reader.read_block(name, start, stop).astype(np.float32, copy=False))
    finally:
        reader.close()
    return dst

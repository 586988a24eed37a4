"""``specsolve data inspect``: dims, coordinates, variables and attributes of an HDF5 file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from specsolve.data.readers import detect_format, open_hdf5, open_reader
from specsolve.errors import DataError


def _short(value: object, limit: int = 100) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


MAX_LISTED = 40  # per-sample-group files hold thousands of groups: list the first ones only


def _reader_view(path: str | Path) -> tuple[str | None, list[str]]:
    """The detected foreign format and how specsolve's readers present the file (empty for native files)."""
    try:
        fmt = detect_format(path)
    except DataError:
        return None, []
    if fmt == "native":
        return fmt, []
    try:
        with open_reader(path, "auto") as reader:
            view = reader.describe().splitlines()
    except DataError as exc:
        view = [f"error: {exc}"]
    label = "pdebench" if fmt == "pdebench_groups" else fmt
    return fmt, [f"as read by specsolve (convert with --from {label}):"] + [f"  {line}" for line in view]


def describe_file(path: str | Path) -> str:
    """A plain-text summary of a file: root attributes, coordinates (dimension scales), variables; for PDEBench,
    The Well and FNO ``.mat`` files also the reader's view (samples, variables with dims)."""
    lines = [f"file: {path}"]
    fmt, view = _reader_view(path)
    if fmt == "fno_mat" and not h5py.is_hdf5(str(path)):  # MATLAB v5: not HDF5, only the reader can show it
        return "\n".join(lines + view)
    with open_hdf5(path) as f:
        scales, variables, groups = [], [], []

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                (scales if obj.is_scale else variables).append((name, obj))
            elif isinstance(obj, h5py.Group):
                groups.append(name)

        f.visititems(visit)
        lines.append("coordinates:")
        for name, d in scales:
            values = d[()]
            span = (
                f"{values.min():.6g} .. {values.max():.6g}"
                if values.size and np.issubdtype(values.dtype, np.number)
                else ""
            )
            lines.append(f"  {name} ({d.shape[0] if d.ndim else 1}) {d.dtype} {span}")
        lines.append("variables:")
        if len(variables) > MAX_LISTED:
            lines.append(f"  ({len(variables)} datasets; the first {MAX_LISTED} are listed)")
        for name, d in variables[:MAX_LISTED]:
            dims = []
            for axis in range(d.ndim):
                labels = d.dims[axis]
                dims.append(labels[0].name.rsplit("/", 1)[-1] if len(labels) else f"phony_dim_{axis}")
            attrs = ", ".join(f"{k}={_short(v, 40)}" for k, v in d.attrs.items() if k not in ("DIMENSION_LIST",))
            lines.append(f"  {name}({', '.join(dims)}) shape={d.shape} {d.dtype} chunks={d.chunks} {attrs}")
        if groups:
            more = f", ... ({len(groups)} groups)" if len(groups) > MAX_LISTED else ""
            lines.append("groups: " + ", ".join(groups[:MAX_LISTED]) + more)
        lines.append("attributes:")
        for key, value in f.attrs.items():
            lines.append(f"  {key}: {_short(value)}")
    return "\n".join(lines + view)

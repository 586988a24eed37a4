"""``specsolve data inspect``: dims, coordinates, variables and attributes of an HDF5 file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from specsolve.data.native import open_h5


def _short(value: object, limit: int = 100) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_file(path: str | Path) -> str:
    """A plain-text summary of a file: root attributes, coordinates (dimension scales), variables."""
    lines = [f"file: {path}"]
    with open_h5(path) as f:
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
            span = f"{values.min():.6g} .. {values.max():.6g}" if values.size and np.issubdtype(values.dtype, np.number) else ""
            lines.append(f"  {name} ({d.shape[0] if d.ndim else 1}) {d.dtype} {span}")
        lines.append("variables:")
        for name, d in variables:
            dims = []
            for axis in range(d.ndim):
                labels = d.dims[axis]
                dims.append(labels[0].name.rsplit("/", 1)[-1] if len(labels) else f"phony_dim_{axis}")
            attrs = ", ".join(f"{k}={_short(v, 40)}" for k, v in d.attrs.items() if k not in ("DIMENSION_LIST",))
            lines.append(f"  {name}({', '.join(dims)}) shape={d.shape} {d.dtype} chunks={d.chunks} {attrs}")
        if groups:
            lines.append("groups: " + ", ".join(groups))
        lines.append("attributes:")
        for key, value in f.attrs.items():
            lines.append(f"  {key}: {_short(value)}")
    return "\n".join(lines)

"""``specsolve predict``: stream a stored dataset through a checkpoint into a native prediction file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader

from specsolve.data.fields import FieldDataset
from specsolve.data.native import NativeWriter, VariableSpec, coordinate, open_h5
from specsolve.errors import DataError
from specsolve.training.checkpoint import load_module


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def predict(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    stride: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write predictions for every sample of ``data`` to ``out`` (same dims and coordinates, plus provenance).

    ``stride`` subsamples the stored grid (default: the training stride); any stride works for resolution-
    invariant models. Memory stays bounded by one batch; ``out`` appears only once complete (atomic rename).
    """
    data, out = Path(data), Path(out)
    if _same_file(data, out):
        raise DataError(f"refusing to overwrite the input data {data} with predictions")
    if out.exists() and not overwrite:
        raise DataError(f"output file already exists: {out} (use --overwrite to replace it)")
    module, hp = load_module(checkpoint)
    module.to(device)
    config: dict[str, Any] = hp["config"]
    data_cfg = config["data"]
    inputs, outputs = list(data_cfg["inputs"]), list(data_cfg["outputs"])
    stride = int(stride or data_cfg.get("stride", 1))
    dataset = FieldDataset(data, inputs, [], stride=stride)
    if dataset.info.n_channels(inputs) != hp["in_channels"]:
        raise DataError(
            f"{data}: inputs {inputs} have {dataset.info.n_channels(inputs)} channels, the checkpoint expects "
            f"{hp['in_channels']}"
        )
    layout: dict[str, Any] = hp.get("layout") or {name: {"dims": None, "coords": {}} for name in outputs}
    spatial_dims = dataset.info.spatial_dims
    with open_h5(data) as f:
        coords: dict[str, np.ndarray] = {"sample": coordinate(f, "sample") if "sample" in f else np.arange(len(dataset))}
        coord_attrs = {d: dict(f[d].attrs) for d in spatial_dims if d in f}
        for d in spatial_dims:
            coords[d] = coordinate(f, d)[::stride]
    variables, channel_slices, start = {}, {}, 0
    for name in outputs:
        entry = layout.get(name) or {"dims": list(spatial_dims), "coords": {}}
        dims = entry["dims"] or list(spatial_dims)
        extra = [d for d in dims if d not in spatial_dims]
        for d in extra:
            coords[d] = np.asarray(entry["coords"][d])
        n_ch = int(np.prod([len(coords[d]) for d in extra], dtype=int))
        channel_slices[name] = (slice(start, start + n_ch), [len(coords[d]) for d in extra])
        start += n_ch
        variables[name] = VariableSpec(("sample", *dims), attrs={"long_name": f"predicted {name}"})
    if start != hp["out_channels"]:
        raise DataError(f"checkpoint layout gives {start} output channels, the model has {hp['out_channels']}")
    attrs = {
        "source_dataset": str(data.resolve()),
        "checkpoint": str(Path(checkpoint).resolve()),
        "model": config["model"]["name"],
        "stride": stride,
        "config": yaml.safe_dump(config, sort_keys=False),
        "title": f"{config['model']['name']} predictions",
    }
    loader = DataLoader(dataset, batch_size=batch_size or int(data_cfg.get("batch_size", 20)), shuffle=False)
    done = 0
    with NativeWriter(out, coords, variables, attrs, coord_attrs, overwrite=overwrite) as writer:
        with torch.inference_mode():
            for x, _ in loader:
                pred = module(x.to(device)).float().cpu().numpy()
                for name, (channels, extra_shape) in channel_slices.items():
                    block = pred[:, channels]
                    writer.write(name, done, block.reshape(block.shape[0], *extra_shape, *block.shape[2:]))
                done += x.shape[0]
                if progress is not None:
                    progress(done, len(dataset))
    return out

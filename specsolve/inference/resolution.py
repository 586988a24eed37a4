"""Error against resolution: one checkpoint evaluated on stored grids subsampled by several strides, and/or on files
stored at other resolutions (``specsolve evaluate -c CKPT -d DATA [-d DATA ...] --strides 1,2,4``).

Nothing is written to disk: predictions are compared with the reference batch by batch, so memory stays bounded by
one batch whatever the file size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from specsolve.data.fields import FieldDataset
from specsolve.errors import DataError
from specsolve.registry import create


def _field_rows(
    module: torch.nn.Module,
    hp: dict[str, Any],
    data: Path,
    strides: list[int],
    metrics: list[str],
    batch_size: int,
    device: str,
    progress: Callable[[], None] | None,
) -> list[dict[str, Any]]:
    data_cfg = hp["config"]["data"]
    inputs, outputs = list(data_cfg["inputs"]), list(data_cfg["outputs"])
    metric_objects = {m: create("metric", m) for m in metrics}
    rows = []
    for stride in strides:
        dataset = FieldDataset(data, inputs, outputs, stride=stride)
        if dataset.info.n_channels(inputs) != hp["in_channels"]:
            raise DataError(
                f"{data}: inputs {inputs} have {dataset.info.n_channels(inputs)} channels, the checkpoint expects "
                f"{hp['in_channels']}"
            )
        per_sample: dict[str, list[float]] = {m: [] for m in metrics}
        with torch.inference_mode():
            for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
                pred = module(x.to(device)).double().cpu()
                for m, obj in metric_objects.items():
                    per_sample[m].extend(obj.per_sample(pred, y.double()).tolist())
        rows.append(
            {
                "data": str(data),
                "stride": stride,
                "grid": list(dataset.spatial_shape),
                "n_samples": len(dataset),
                "mean": {m: float(np.mean(v)) for m, v in per_sample.items()},
            }
        )
        if progress is not None:
            progress()
    return rows


def _window_rows(
    module: torch.nn.Module,
    data: Path,
    strides: list[int],
    batch_size: int,
    device: str,
    progress: Callable[[], None] | None,
) -> list[dict[str, Any]]:
    from specsolve.inference.rollout import rollout

    rows = []
    for stride in strides:
        result = rollout(module, data, batch_size=batch_size, stride=stride, device=device, return_predictions=True)
        grid = list(result.pop("predictions").shape[3:])
        rows.append(
            {
                "data": str(data),
                "stride": stride,
                "grid": grid,
                "n_samples": result["n_samples"],
                "mean": {"rollout_rel_l2": result["mean"]},
            }
        )
        if progress is not None:
            progress()
    return rows


def evaluate_resolutions(
    checkpoint: str | Path,
    data: list[str | Path],
    strides: list[int] | None = None,
    metrics: list[str] | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Mean metrics of ``checkpoint`` on every file of ``data`` at every stride of ``strides`` (default: the training
    stride). Returns ``{"checkpoint", "train_grid", "rows": [{"data", "stride", "grid", "n_samples", "mean"}]}``,
    rows sorted by grid size.

    Field checkpoints (``hdf5`` data) report any registered metric; time-window checkpoints (``hdf5_windows``) report
    the autoregressive rollout relative L2 (context frames excluded).
    """
    from specsolve.training.checkpoint import load_module

    if not data:
        raise DataError("evaluate: give at least one data file")
    module, hp = load_module(checkpoint)
    module.eval().to(device)
    data_cfg = hp["config"]["data"]
    train_stride = int(data_cfg.get("stride", 1))
    strides = [int(s) for s in (strides or [train_stride])]
    if any(s < 1 for s in strides):
        raise DataError(f"strides must be positive integers, got {strides}")
    metrics = metrics or ["rel_l2"]
    windows = data_cfg.get("name") == "hdf5_windows"
    rows: list[dict[str, Any]] = []
    for path in data:
        path = Path(path)
        if windows:
            rows += _window_rows(module, path, strides, batch_size, device, progress)
        else:
            rows += _field_rows(module, hp, path, strides, metrics, batch_size, device, progress)
    rows.sort(key=lambda r: (int(np.prod(r["grid"])), r["data"]))
    train_grid = hp.get("train_grid")
    if train_grid is None and data_cfg.get("train"):
        train_grid = _stored_grid(data_cfg["train"], train_stride)
    return {"checkpoint": str(checkpoint), "train_grid": train_grid, "rows": rows}


def _stored_grid(train: str | list[str], stride: int) -> list[int] | None:
    """The training grid (stored grid subsampled by the training stride), if the training file is still there."""
    import glob

    from specsolve.data.native import SPATIAL_DIMS
    from specsolve.data.readers import open_hdf5

    pattern = train[0] if isinstance(train, (list, tuple)) else train
    matches = sorted(glob.glob(str(pattern)))
    if not matches:
        return None
    try:
        with open_hdf5(matches[0]) as f:
            sizes = [len(f[d]) for d in SPATIAL_DIMS if d in f]
    except DataError:
        return None
    return [len(range(0, n, stride)) for n in sizes] or None

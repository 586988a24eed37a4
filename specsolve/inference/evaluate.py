"""``specsolve evaluate``: per-sample and mean metrics of a prediction file against reference data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from specsolve.data.native import SPATIAL_DIMS, coordinate, open_h5, variable_dims
from specsolve.errors import DataError
from specsolve.io import write_text_atomic
from specsolve.registry import create


def grid_stride(pred: h5py.File, ref: h5py.File, dim: str) -> int:
    """The stride ``s`` with ``ref[dim][::s] == pred[dim]`` (predictions on a subsampled grid)."""
    p, r = coordinate(pred, dim), coordinate(ref, dim)
    for s in range(1, len(r) + 1):
        sub = r[::s]
        if len(sub) == len(p) and np.allclose(sub, p, rtol=1e-9, atol=1e-12):
            return s
        if len(sub) < len(p):
            break
    raise DataError(f"grid '{dim}' of the predictions ({len(p)} points) is not a stride of the reference ({len(r)})")


def prediction_variables(pred: h5py.File) -> list[str]:
    """Predicted fields (not coordinates, not uncertainty fields such as a GP's ``u_std``)."""
    return [
        k
        for k, v in pred.items()
        if isinstance(v, h5py.Dataset) and not v.is_scale and v.attrs.get("role") != "posterior_std"
    ]


def evaluate(
    pred_path: str | Path,
    data_path: str | Path,
    metrics: list[str] | None = None,
    variables: list[str] | None = None,
    block: int = 64,
) -> dict[str, Any]:
    """Compare every predicted variable with the same variable in ``data_path`` (on the prediction's grid).

    Returns ``{"variables": {name: {"per_sample": {metric: [...]}, "mean": {metric: value}}}, "n_samples": N}``.
    Reads ``block`` samples at a time, so memory does not grow with the file.
    """
    metrics = metrics or ["rel_l2"]
    metric_objects = {name: create("metric", name) for name in metrics}
    result: dict[str, Any] = {"prediction": str(pred_path), "reference": str(data_path), "variables": {}}
    with open_h5(pred_path) as pred, open_h5(data_path) as ref:
        names = variables or prediction_variables(pred)
        if not names:
            raise DataError(f"{pred_path}: no predicted variables found")
        for name in names:
            if name not in ref:
                raise DataError(f"{data_path}: no variable '{name}' to compare the predictions with")
            dims = variable_dims(pred, name)
            if variable_dims(ref, name) != dims:
                raise DataError(
                    f"variable '{name}': dims {variable_dims(ref, name)} in the reference, {dims} predicted"
                )
            key = tuple(
                slice(None, None, grid_stride(pred, ref, d)) if d in SPATIAL_DIMS else slice(None) for d in dims[1:]
            )
            n = pred[name].shape[0]
            if ref[name].shape[0] < n:
                raise DataError(f"'{name}': {n} predicted samples but only {ref[name].shape[0]} in the reference")
            per_sample: dict[str, list[float]] = {m: [] for m in metrics}
            for start in range(0, n, block):
                stop = min(start + block, n)
                p = torch.from_numpy(np.asarray(pred[name][start:stop], dtype=np.float64))
                r = torch.from_numpy(np.asarray(ref[name][(slice(start, stop), *key)], dtype=np.float64))
                if p.shape != r.shape:
                    raise DataError(f"'{name}': predicted shape {tuple(p.shape)} vs reference {tuple(r.shape)}")
                # metrics take (B, C, *space): a variable without channel axis gets one
                nspace = sum(d in SPATIAL_DIMS for d in dims)
                if p.dim() == 1 + nspace:
                    p, r = p.unsqueeze(1), r.unsqueeze(1)
                for m, obj in metric_objects.items():
                    per_sample[m].extend(obj.per_sample(p, r).tolist())
            result["variables"][name] = {
                "per_sample": per_sample,
                "mean": {m: float(np.mean(v)) for m, v in per_sample.items()},
            }
            result["n_samples"] = n
    return result


def write_json(result: dict[str, Any], path: str | Path) -> None:
    write_text_atomic(Path(path), json.dumps(result, indent=2))

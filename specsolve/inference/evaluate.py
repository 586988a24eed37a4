"""``specsolve evaluate``: per-sample and mean metrics of a prediction file against reference data.

Uncertainty: a predicted variable ``u`` may come with ``u_std`` (attribute ``role = "posterior_std"``, same dims as
``u``: a Gaussian posterior, as ``specsolve solve`` writes for GP solvers) or ``u_samples`` (``role = "samples"``,
dims ``(sample, member, *u's other dims)``: an ensemble). When any variable has one, the uncertainty metrics
(:data:`UNCERTAINTY_METRICS`: CRPS, 90 % interval coverage, calibration error) are reported besides the requested
ones, for every variable (NaN for a variable without std or samples); asking for one of them explicitly when no
variable has either is an error.

The ``"mean"`` of a metric is the mean of its per-sample values, except for metrics reduced over the whole batch
(``batch_reduced``, e.g. PDEBench's ``pdebench_crmse``): for those it is ``compute()`` over all samples, and
``per_sample`` holds each sample's value on its own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from specsolve.data.native import SPATIAL_DIMS, coordinate, variable_dims
from specsolve.data.readers import open_hdf5
from specsolve.errors import DataError
from specsolve.io import write_text_atomic
from specsolve.registry import create

UNCERTAINTY_METRICS = ("crps", "coverage", "calibration_error")
UNCERTAINTY_ROLES = {"posterior_std": "std", "samples": "samples"}


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
    """Predicted fields (not coordinates, not uncertainty fields such as a GP's ``u_std`` or ``u_samples``)."""
    return [
        k
        for k, v in pred.items()
        if isinstance(v, h5py.Dataset) and not v.is_scale and v.attrs.get("role") not in UNCERTAINTY_ROLES
    ]


def uncertainty_variable(pred: h5py.File, name: str) -> tuple[str, str] | None:
    """``("std", "u_std")`` or ``("samples", "u_samples")`` for a predicted ``u`` that carries one, else ``None``
    (std first when both are present)."""
    for suffix, kind in (("_std", "std"), ("_samples", "samples")):
        candidate = name + suffix
        if candidate in pred and UNCERTAINTY_ROLES.get(pred[candidate].attrs.get("role")) == kind:
            dims, have = variable_dims(pred, name), variable_dims(pred, candidate)
            ok = have == dims if kind == "std" else (len(have) == len(dims) + 1 and have[:1] + have[2:] == dims)
            if not ok:
                want = dims if kind == "std" else (dims[0], "member", *dims[1:])
                raise DataError(f"'{candidate}' has dims {have}; expected {want}")
            return kind, candidate
    return None


def evaluate(
    pred_path: str | Path,
    data_path: str | Path,
    metrics: list[str] | None = None,
    variables: list[str] | None = None,
    block: int = 64,
) -> dict[str, Any]:
    """Compare every predicted variable with the same variable in ``data_path`` (on the prediction's grid).

    Returns ``{"variables": {name: {"per_sample": {metric: [...]}, "mean": {metric: value}[, "uncertainty": "std" |
    "samples"]}}, "n_samples": N, "metrics": [names reported]}``; the uncertainty metrics are added when a variable
    carries a std or samples (see the module docstring). Reads ``block`` samples at a time, so memory does not grow
    with the file.
    """
    metrics = list(metrics or ["rel_l2"])
    result: dict[str, Any] = {"prediction": str(pred_path), "reference": str(data_path), "variables": {}}
    with open_hdf5(pred_path) as pred, open_hdf5(data_path) as ref:
        names = variables or prediction_variables(pred)
        if not names:
            raise DataError(f"{pred_path}: no predicted variables found")
        for name in names:
            if name not in pred:
                raise DataError(f"{pred_path}: no variable '{name}'")
        carried = {name: uncertainty_variable(pred, name) for name in names}
        asked = [m for m in metrics if getattr(create("metric", m), "needs_uncertainty", False)]
        if asked and not any(carried.values()):
            raise DataError(
                f"metric '{asked[0]}' needs a posterior std ('<var>_std', role posterior_std) or samples "
                f"('<var>_samples', role samples) in {pred_path}; it has neither"
            )
        if any(carried.values()):
            metrics += [m for m in UNCERTAINTY_METRICS if m not in metrics]
        result["metrics"] = metrics
        for name in names:
            result["variables"][name] = _evaluate_variable(pred, ref, name, metrics, carried[name], block, data_path)
            result["n_samples"] = pred[name].shape[0]
    return result


def _evaluate_variable(
    pred: h5py.File,
    ref: h5py.File,
    name: str,
    metrics: list[str],
    carried: tuple[str, str] | None,
    block: int,
    data_path: str | Path,
) -> dict[str, Any]:
    if name not in ref:
        raise DataError(f"{data_path}: no variable '{name}' to compare the predictions with")
    dims = variable_dims(pred, name)
    if variable_dims(ref, name) != dims:
        raise DataError(f"variable '{name}': dims {variable_dims(ref, name)} in the reference, {dims} predicted")
    key = tuple(slice(None, None, grid_stride(pred, ref, d)) if d in SPATIAL_DIMS else slice(None) for d in dims[1:])
    n = pred[name].shape[0]
    if ref[name].shape[0] < n:
        raise DataError(f"'{name}': {n} predicted samples but only {ref[name].shape[0]} in the reference")
    objects = {m: create("metric", m) for m in metrics}  # fresh per variable: batch-reduced metrics keep state
    usable = {m: carried is not None or not getattr(o, "needs_uncertainty", False) for m, o in objects.items()}
    per_sample: dict[str, list[float]] = {m: [] for m in metrics}
    nspace = sum(d in SPATIAL_DIMS for d in dims)
    for start in range(0, n, block):
        stop = min(start + block, n)
        p = torch.from_numpy(np.asarray(pred[name][start:stop], dtype=np.float64))
        r = torch.from_numpy(np.asarray(ref[name][(slice(start, stop), *key)], dtype=np.float64))
        if p.shape != r.shape:
            raise DataError(f"'{name}': predicted shape {tuple(p.shape)} vs reference {tuple(r.shape)}")
        extra: dict[str, torch.Tensor] = {}
        if carried is not None:
            kind, var = carried
            extra[kind] = torch.from_numpy(np.asarray(pred[var][start:stop], dtype=np.float64))
        # field metrics take (B, C, *space): a variable without channel axis gets one
        if p.dim() == 1 + nspace:
            p, r = p.unsqueeze(1), r.unsqueeze(1)
            extra = {k: v.unsqueeze(2 if k == "samples" else 1) for k, v in extra.items()}
        for m, obj in objects.items():
            if not usable[m]:
                per_sample[m].extend([math.nan] * (stop - start))
                continue
            kwargs = extra if getattr(obj, "needs_uncertainty", False) else {}
            per_sample[m].extend(obj.per_sample(p, r, **kwargs).tolist())
            if getattr(obj, "batch_reduced", False):
                obj.update(p, r)
    mean = {}
    for m, values in per_sample.items():
        if getattr(objects[m], "batch_reduced", False):
            mean[m] = float(objects[m].compute())
        else:
            mean[m] = float(np.mean(values)) if usable[m] else math.nan
    entry: dict[str, Any] = {"per_sample": per_sample, "mean": mean}
    if carried is not None:
        entry["uncertainty"] = carried[0]
    return entry


def write_json(result: dict[str, Any], path: str | Path) -> None:
    write_text_atomic(Path(path), json.dumps(result, indent=2))

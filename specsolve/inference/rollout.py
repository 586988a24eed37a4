"""Autoregressive rollout of a window-trained operator (``hdf5_windows``) over stored trajectories.

The first ``n_in`` frames of every trajectory are ground truth (the context); the model then predicts ``n_out``
frames at a time from the last ``n_in`` frames available, feeding its own predictions back, until the trajectory's
end (or ``steps`` predicted frames). Errors are per predicted frame, the context frames never enter them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from specsolve.data.modules.hdf5_windows import WindowDataset
from specsolve.errors import DataError


def rollout(
    module: torch.nn.Module,
    data: str | Path,
    steps: int | None = None,
    samples: list[int] | None = None,
    batch_size: int = 16,
    stride: int | None = None,
    device: str = "cpu",
    return_predictions: bool = False,
) -> dict[str, Any]:
    """Roll ``module`` (an :class:`~specsolve.training.module.OperatorModule` trained on ``hdf5_windows``) out over
    the trajectories of ``data``.

    Window settings (``inputs``, ``outputs``, ``n_in``, ``n_out``, ``layout``, ``time_stride``, ``time_start``,
    ``stride``) come from the module's config; ``stride`` overrides the spatial one (resolution transfer).
    Returns ``{"time": [t of each predicted frame], "per_step": [mean rel. L2 per predicted frame], "per_sample":
    [[rel. L2 per frame] per sample], "mean": mean over frames and samples, "n_samples", "n_in", "n_out", "steps"}``
    (plus ``"predictions"``, ``(N, steps, C, *S)``, when ``return_predictions``). The relative L2 of a frame is
    ``||pred - true||_2 / ||true||_2`` over its channels and grid points.
    """
    config = getattr(module, "config", None) or {}
    data_cfg = dict(config.get("data") or {})
    if data_cfg.get("name") != "hdf5_windows":
        raise DataError(f"rollout needs a model trained on 'hdf5_windows' data, this one used '{data_cfg.get('name')}'")
    inputs = list(data_cfg.get("inputs") or ["u"])
    outputs = list(data_cfg.get("outputs") or inputs)
    if outputs != inputs:
        raise DataError(f"rollout feeds predictions back as inputs: outputs {outputs} must equal inputs {inputs}")
    n_in, n_out = int(data_cfg.get("n_in", 10)), int(data_cfg.get("n_out", 1))
    objective = config.get("objective") or {}
    if isinstance(objective, dict) and objective.get("name", "teacher_forcing") != "teacher_forcing":
        n_out //= int(objective.get("steps", 1))  # unrolled / pushforward train a model of n_out / K frames a step
    layout = data_cfg.get("layout", "channels")
    dataset = WindowDataset(
        data,
        inputs,
        outputs,
        n_in,
        n_out,
        layout,
        time_stride=int(data_cfg.get("time_stride", 1)),
        time_start=int(data_cfg.get("time_start", 0)),
        stride=int(stride or data_cfg.get("stride", 1)),
    )
    n_frames = len(dataset.frames)
    available = n_frames - n_in
    steps = available if steps is None else int(steps)
    if not 1 <= steps <= available:
        raise DataError(f"{data}: can roll out 1..{available} frames after {n_in} context frames, asked for {steps}")
    indices = list(range(dataset.info.n_samples)) if samples is None else [int(s) for s in samples]
    if any(not 0 <= s < dataset.info.n_samples for s in indices):
        raise DataError(f"{data}: sample indices must lie in 0..{dataset.info.n_samples - 1}")

    module.eval()
    module.to(device)
    dtype = next(module.parameters()).dtype
    per_sample, predictions = [], []
    with torch.inference_mode():
        for start in range(0, len(indices), batch_size):
            batch = indices[start : start + batch_size]
            truth = torch.stack([dataset.frames_of(inputs, s, 0, n_in + steps) for s in batch])  # (B, F, C, *S)
            frames = truth[:, :n_in].to(device)
            predicted = []
            done = 0
            while done < steps:
                x = dataset.fold(frames[:, -n_in:])
                out = module(x.to(dtype))
                out = out.reshape(out.shape[0], n_out, -1, *out.shape[out.dim() - len(dataset.spatial_shape) :])
                predicted.append(out.float())
                frames = torch.cat([frames, out.to(frames.dtype)], dim=1)
                done += n_out
            pred = torch.cat(predicted, dim=1)[:, :steps].cpu()
            target = truth[:, n_in : n_in + steps]
            error = (pred - target).flatten(2).norm(dim=2) / target.flatten(2).norm(dim=2).clamp_min(1e-30)
            per_sample.append(error.double())
            if return_predictions:
                predictions.append(pred)
    errors = torch.cat(per_sample)  # (N, steps)
    times = dataset.info.time[dataset.frames[n_in : n_in + steps]]
    result: dict[str, Any] = {
        "data": str(data),
        "n_samples": len(indices),
        "n_in": n_in,
        "n_out": n_out,
        "steps": steps,
        "time": np.asarray(times).tolist(),
        "per_step": errors.mean(0).tolist(),
        "per_sample": errors.tolist(),
        "mean": float(errors.mean()),
    }
    if return_predictions:
        result["predictions"] = torch.cat(predictions)
    return result

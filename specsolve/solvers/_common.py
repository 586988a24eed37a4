"""Shared helpers of the GP solvers: dtype parsing, grid checks, error metrics."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from specsolve.errors import ConfigError
from specsolve.solvers._problems import Problem

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def parse_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ConfigError(f"dtype must be one of {', '.join(_DTYPES)}, got '{name}'") from None


def grid_coords(problem: Problem, grid: Mapping[str, Tensor], dtype: torch.dtype, device: torch.device) -> list[Tensor]:
    """1-D coordinate vectors in the problem's axis order from a ``{axis name: 1-D tensor}`` mapping."""
    if set(grid) != set(problem.axes):
        raise ConfigError(
            f"problem '{problem.name}' has axes {list(problem.axes)}, the prediction grid has {sorted(grid)}"
        )
    coords = []
    for name in problem.axes:
        c = torch.as_tensor(grid[name])
        if c.dim() != 1:
            raise ConfigError(f"grid axis '{name}' must be a 1-D tensor, got shape {tuple(c.shape)}")
        coords.append(c.to(device=device, dtype=dtype))
    return coords


def error_metrics(pred: Tensor, exact: Tensor) -> dict[str, float]:
    """Relative L2, RMSE and max-abs error of a prediction against the exact solution (float64)."""
    p, e = pred.detach().double().cpu(), exact.detach().double().cpu()
    diff = p - e
    return {
        "rel_l2": float(torch.linalg.vector_norm(diff) / torch.linalg.vector_norm(e)),
        "rmse": float(diff.pow(2).mean().sqrt()),
        "max_abs_err": float(diff.abs().max()),
    }

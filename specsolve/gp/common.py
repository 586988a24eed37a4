"""Shared helpers of the GP solvers: dtype parsing, grid checks, error metrics."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from specsolve.errors import ConfigError
from specsolve.pde.problems import Problem

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


def tensor_grid_points(coords: list[Tensor]) -> Tensor:
    """All points of a tensor grid, ``(prod n_j, d)``, row-major (the last axis fastest)."""
    mesh = torch.meshgrid(*coords, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], -1)


class PointPosteriorMixin:
    """Grid prediction and evaluation for solvers with ``predict_points(xs) -> (mean, std)`` at points ``(s, d)``.

    Needs ``problem``, ``dtype`` and ``device_`` on the solver.
    """

    problem: Problem
    dtype: torch.dtype
    device_: torch.device

    def predict(self, grid: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation on a tensor grid ``{axis: 1-D coords}`` (shape ``(n_1, ..., n_d)``)."""
        coords = grid_coords(self.problem, grid, self.dtype, self.device_)
        mean, std = self.predict_points(tensor_grid_points(coords))  # type: ignore[attr-defined]
        shape = [c.numel() for c in coords]
        return mean.reshape(shape), std.reshape(shape)

    def test_grid(self) -> dict[str, Tensor]:
        return self.problem.test_grid()

    def evaluate(self) -> dict:
        """Relative L2, RMSE and max error of the posterior mean on the problem's test grid, plus the mean std."""
        grid = self.problem.test_grid()
        mean, std = self.predict(grid)
        exact = self.problem.exact_on_grid([grid[a] for a in self.problem.axes])
        out = error_metrics(mean, exact)
        out["mean_std"] = float(std.mean())
        return out

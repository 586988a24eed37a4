"""Shared helpers of the GP solvers: dtype parsing, grid checks, error metrics, the Adam loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from specsolve.errors import ConfigError, SpecsolveError
from specsolve.gp.ehrenpreis import variety_shape
from specsolve.pde.problems import Problem, get_problem

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

    Needs ``problem``, ``dtype`` and ``device_`` on the solver (:meth:`place_observations` sets the last two).
    """

    problem: Problem
    dtype: torch.dtype
    device_: torch.device

    def place_variety_problem(self, problem: str, n_obs: int | None, dtype: str, device: str) -> None:
        """``self.problem`` from its name, ``self.p`` and ``self.sheets`` of its characteristic variety
        (:func:`variety_shape`: a ConfigError for a non-EPGP problem), then :meth:`place_observations`."""
        self.problem = get_problem(problem)
        self.p, self.sheets = variety_shape(self.problem)
        self.place_observations(n_obs, dtype, device)

    def place_observations(self, n_obs: int | None, dtype: str, device: str) -> None:
        """The placement (``dtype``, its complex ``cdtype``, ``device_``) and the observations of ``self.problem``
        (``n_obs`` per axis / edge) as the buffers ``x_obs`` ``(s, d)`` and ``y_obs`` ``(s,)``."""
        self.dtype = parse_dtype(dtype)
        self.cdtype = torch.complex128 if self.dtype == torch.float64 else torch.complex64
        self.device_ = torch.device(device)
        x, y = self.problem.observations(n_obs)
        self.register_buffer("x_obs", x.to(self.device_, self.dtype))  # type: ignore[attr-defined]
        self.register_buffer("y_obs", y.to(self.device_, self.dtype))  # type: ignore[attr-defined]

    def fit_summary(self, t0: float, **extra: object) -> dict:
        """The end of ``fit``: ``steps``, the final ``nlml()`` (no grad), the time since ``t0`` (``perf_counter``),
        then ``extra``."""
        with torch.no_grad():
            final = float(self.nlml())  # type: ignore[attr-defined]
        return {
            "steps": self.steps,  # type: ignore[attr-defined]
            "final_nlml": final,
            "time_s": time.perf_counter() - t0,
            **extra,
        }

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


def adam_loop(
    optimizer: torch.optim.Optimizer,
    objective: Callable[[], Tensor],
    steps: range,
    label: str,
    progress: Callable[[int, float], None] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    lr_at: Callable[[int], float] | None = None,
    after_step: Callable[[int], None] | None = None,
) -> float:
    """Minimise ``objective()`` with ``optimizer`` over the global step numbers ``steps`` (1-based); returns the last
    value. Per step: the learning rate ``lr_at(step - 1)`` (if given), one gradient step, ``scheduler.step()``, a
    finiteness check (:class:`SpecsolveError` naming ``label``, e.g. ``"gp_hm: the objective"``), then
    ``progress(step, value)`` and ``after_step(step)``."""
    value = float("nan")
    for step in steps:
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step - 1)
        optimizer.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise SpecsolveError(f"{label} became {value} at step {step}")
        if progress is not None:
            progress(step, value)
        if after_step is not None:
            after_step(step)
    return value

"""``specsolve solve``: fit a registered PDE solver (GP-HM, EPGP, S-EPGP, ...) and write its posterior on a grid.

Config::

    solver: {name: gp_hm, problem: poisson_1d_sin100, n_points: 400, ...}
    output: {path: runs/gp/poisson_1d_sin100.h5}

The output is a native file with ``u(sample, [time,] x[, y])`` (posterior mean), ``u_std`` (posterior standard
deviation where the solver has one, attribute ``role = "posterior_std"``) and, in a second file
``<path stem>.exact.h5``, the exact solution ``u`` on the same grid, so ``specsolve evaluate -p OUT -d EXACT``
and ``--plot`` work on it. The error against the exact solution is also stored as attributes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from specsolve.config.loading import component_spec, to_container
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.errors import ConfigError, DataError
from specsolve.registry import create

SOLVE_KEYS = ("config_version", "seed", "solver", "output")
AXIS_NAMES = {"t": "time"}


def _grid_layout(grid: dict[str, torch.Tensor]) -> tuple[list[str], list[int], dict[str, np.ndarray]]:
    """Dims in native order (time first, then space) and the permutation from the solver's axis order."""
    names = [AXIS_NAMES.get(a, a) for a in grid]
    order = sorted(range(len(names)), key=lambda i: (names[i] != "time", i))
    coords = {names[i]: grid[list(grid)[i]].detach().cpu().numpy().astype(np.float64) for i in order}
    return [names[i] for i in order], order, coords


def solve(
    cfg: DictConfig, progress: Callable[[int, float], None] | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Fit ``cfg.solver``, evaluate it against the exact solution, write mean / std / exact files."""
    for key in cfg:
        if key not in SOLVE_KEYS:
            raise ConfigError(f"unknown solve-config key '{key}'; valid keys: {', '.join(SOLVE_KEYS)}")
    if "solver" not in cfg:
        raise ConfigError("solve config has no 'solver' section")
    output = to_container(cfg.get("output")) or {}
    if not isinstance(output, dict) or "path" not in output:
        raise ConfigError("solve config needs output.path (the file for the posterior mean and std)")
    out = Path(output["path"])
    exact_path = out.with_name(out.stem + ".exact.h5")
    for path in (out, exact_path):
        if path.exists() and not overwrite:
            raise DataError(f"output file already exists: {path} (pass overwrite=True to replace it)")
    name, params = component_spec(cfg.solver, "solver")
    if "seed" in cfg and "seed" not in params:
        torch.manual_seed(int(cfg.seed))
    solver = create("solver", name, **params)
    start = time.perf_counter()
    stats = solver.fit(progress)
    fit_seconds = time.perf_counter() - start
    metrics = solver.evaluate()
    grid = solver.test_grid()
    mean, std = solver.predict(grid)
    problem = solver.problem
    exact = problem.exact_on_grid([grid[a] for a in problem.axes])
    dims, order, coords = _grid_layout(grid)

    def native(values: torch.Tensor) -> np.ndarray:
        return values.detach().cpu().permute(order).numpy()[None].astype(np.float32)

    attrs = {
        "solver": name,
        "problem": problem.name,
        "solver_parameters": json.dumps(params, sort_keys=True),
        "fit_seconds": round(fit_seconds, 3),
        **{f"error_{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
    }
    coords_all = {"sample": np.arange(1), **coords}
    dims_all = ("sample", *dims)
    variables = {"u": VariableSpec(dims_all, attrs={"long_name": "posterior mean of u"})}
    if std is not None:
        variables["u_std"] = VariableSpec(
            dims_all, attrs={"long_name": "posterior standard deviation of u", "role": "posterior_std"}
        )
    with NativeWriter(out, coords_all, variables, attrs, overwrite=overwrite) as writer:
        writer.write("u", 0, native(mean))
        if std is not None:
            writer.write("u_std", 0, native(std))
    reference = {"u": VariableSpec(dims_all, attrs={"long_name": "exact solution u"})}
    with NativeWriter(exact_path, coords_all, reference, {"problem": problem.name}, overwrite=overwrite) as writer:
        writer.write("u", 0, native(exact))
    return {"output": str(out), "exact": str(exact_path), "metrics": metrics, "fit": stats, "seconds": fit_seconds}

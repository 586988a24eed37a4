"""Linear advection ``u_t + c·∇u = κ Δu`` (κ = 0 by default) on the periodic unit interval or torus, solved exactly."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specsolve.data.generation import Layout
from specsolve.data.generators.periodic import evolve_linear, sobolev_grf, trajectory_layout, uniform_frames
from specsolve.data.grf import sample_rng
from specsolve.errors import ConfigError
from specsolve.registry import register


@register("generator", "advection")
class AdvectionGenerator:
    """Periodic transport of GRF initial data ``u0 ~ N(0, σ²(-Δ+τ²)^-γ)`` with constant velocity ``c``.

    Exact: ``û_k(t) = û_k(0) exp((-κ 4π²|k|² - 2πi c·k) t)``, i.e. ``u(x, t) = u0(x - ct)`` (the band-limited
    interpolant) when ``κ = 0``. ``velocity`` has ``dim`` entries (PDEBench's 1-D advection: ``[β]``). Writes
    ``a = u0`` and ``u (sample, time, x[, y])`` at ``t = k T / n_frames`` (``t = 0`` first when ``include_initial``).
    """

    def __init__(
        self,
        resolution: int = 64,
        dim: Literal[1, 2] = 1,
        velocity: list[float] | None = None,
        diffusivity: float = 0.0,
        final_time: float = 1.0,
        n_frames: int = 10,
        include_initial: bool = True,
        sigma: float = 25.0,
        tau: float = 5.0,
        gamma: float = 2.0,
        store_dtype: Literal["float32", "float64"] = "float32",
    ) -> None:
        if dim not in (1, 2):
            raise ConfigError(f"advection: dim must be 1 or 2, got {dim}")
        velocity = [1.0] * dim if velocity is None else list(velocity)
        if len(velocity) != dim:
            raise ConfigError(f"advection: velocity needs {dim} component(s), got {len(velocity)}")
        if resolution < 2 or diffusivity < 0:
            raise ConfigError("advection: need resolution >= 2 and diffusivity >= 0")
        self.times = uniform_frames("advection", final_time, n_frames, include_initial)
        self.shape = (resolution,) * dim
        self.velocity, self.diffusivity, self.include_initial = (
            tuple(float(c) for c in velocity),
            diffusivity,
            include_initial,
        )
        self.sigma, self.tau, self.gamma, self.store_dtype = sigma, tau, gamma, store_dtype

    def layout(self) -> Layout:
        return trajectory_layout(
            self.shape,
            self.times,
            self.include_initial,
            self.store_dtype,
            "advected field u(t)",
            (self.sigma, self.tau, self.gamma),
            {
                "pde": "advection",
                "equation": "u_t + c.grad(u) = kappa lap(u), periodic unit box",
                "velocity": list(self.velocity),
                "diffusivity": self.diffusivity,
                "solver": "exact Fourier multiplier exp((-kappa 4 pi^2 |k|^2 - 2 pi i c.k) t)",
            },
        )

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        u0 = np.stack([sobolev_grf(sample_rng(seed, i), self.shape, self.sigma, self.tau, self.gamma) for i in indices])
        u = evolve_linear(u0, self.times, self.diffusivity, self.velocity)
        return {"a": u0.astype(self.store_dtype), "u": u.astype(self.store_dtype)}

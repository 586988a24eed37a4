"""Heat equation ``u_t = κ Δu`` on the periodic unit interval or torus, solved exactly (Fourier multiplier)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specsolve.data.generation import Layout
from specsolve.data.generators.periodic import evolve_linear, sobolev_grf, trajectory_layout, uniform_frames
from specsolve.data.grf import sample_rng
from specsolve.errors import ConfigError
from specsolve.registry import register


@register("generator", "heat")
class HeatGenerator:
    """Periodic heat flow from GRF initial data: ``u0 ~ N(0, σ²(-Δ+τ²)^-γ)`` (zero mean) on ``[0,1)^dim``.

    Exact: ``û_k(t) = û_k(0) exp(-κ 4π²|k|² t)`` on the ``resolution^dim`` grid ``x_j = j/n``. Writes
    ``a = u0 (sample, x[, y])`` and ``u (sample, time, x[, y])`` at ``t = k T / n_frames``, ``k = 1..n_frames``,
    preceded by ``t = 0`` when ``include_initial``.
    """

    def __init__(
        self,
        resolution: int = 64,
        dim: Literal[1, 2] = 1,
        diffusivity: float = 0.01,
        final_time: float = 1.0,
        n_frames: int = 10,
        include_initial: bool = True,
        sigma: float = 25.0,
        tau: float = 5.0,
        gamma: float = 2.0,
        store_dtype: Literal["float32", "float64"] = "float32",
    ) -> None:
        if dim not in (1, 2):
            raise ConfigError(f"heat: dim must be 1 or 2, got {dim}")
        if resolution < 2 or diffusivity < 0:
            raise ConfigError("heat: need resolution >= 2 and diffusivity >= 0")
        self.times = uniform_frames("heat", final_time, n_frames, include_initial)
        self.shape = (resolution,) * dim
        self.diffusivity, self.include_initial = diffusivity, include_initial
        self.sigma, self.tau, self.gamma, self.store_dtype = sigma, tau, gamma, store_dtype

    def layout(self) -> Layout:
        return trajectory_layout(
            self.shape,
            self.times,
            self.include_initial,
            self.store_dtype,
            "temperature u(t)",
            (self.sigma, self.tau, self.gamma),
            {
                "pde": "heat",
                "equation": "u_t = kappa lap(u), periodic unit box",
                "diffusivity": self.diffusivity,
                "solver": "exact Fourier multiplier exp(-kappa 4 pi^2 |k|^2 t)",
            },
        )

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        u0 = np.stack([sobolev_grf(sample_rng(seed, i), self.shape, self.sigma, self.tau, self.gamma) for i in indices])
        u = evolve_linear(u0, self.times, diffusivity=self.diffusivity)
        return {"a": u0.astype(self.store_dtype), "u": u.astype(self.store_dtype)}

"""The base of the exact-solution generators (heat, advection): GRF initial data on the periodic unit box evolved
by the Fourier multiplier of ``u_t + c·∇u = κ Δu`` (:func:`~specsolve.data.generators.periodic.evolve_linear`)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specsolve.data.generation import Layout
from specsolve.data.generators.periodic import evolve_linear, sobolev_grf, trajectory_layout, uniform_frames
from specsolve.data.grf import sample_rng
from specsolve.errors import ConfigError


class ExactLinearGenerator:
    """Writes ``a = u0 ~ N(0, σ²(-Δ+τ²)^-γ)`` and ``u (sample, time, x[, y])`` at :func:`uniform_frames` times.

    Subclasses set ``name`` (for messages), ``u_long_name``, ``velocity`` (None: at rest) and :meth:`pde_attrs`.
    """

    name: str
    u_long_name: str
    velocity: tuple[float, ...] | None = None

    def __init__(
        self,
        resolution: int,
        dim: Literal[1, 2],
        diffusivity: float,
        final_time: float,
        n_frames: int,
        include_initial: bool,
        grf: tuple[float, float, float],
        store_dtype: Literal["float32", "float64"],
    ) -> None:
        if dim not in (1, 2):
            raise ConfigError(f"{self.name}: dim must be 1 or 2, got {dim}")
        if resolution < 2 or diffusivity < 0:
            raise ConfigError(f"{self.name}: need resolution >= 2 and diffusivity >= 0")
        self.times = uniform_frames(self.name, final_time, n_frames, include_initial)
        self.shape = (resolution,) * dim
        self.diffusivity, self.include_initial = diffusivity, include_initial
        (self.sigma, self.tau, self.gamma), self.store_dtype = grf, store_dtype

    def pde_attrs(self) -> dict:
        """File attributes naming the PDE, its equation and solver."""
        raise NotImplementedError

    def layout(self) -> Layout:
        grf = (self.sigma, self.tau, self.gamma)
        return trajectory_layout(
            self.shape, self.times, self.include_initial, self.store_dtype, self.u_long_name, grf, self.pde_attrs()
        )

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        u0 = np.stack([sobolev_grf(sample_rng(seed, i), self.shape, self.sigma, self.tau, self.gamma) for i in indices])
        u = evolve_linear(u0, self.times, self.diffusivity, self.velocity)
        return {"a": u0.astype(self.store_dtype), "u": u.astype(self.store_dtype)}

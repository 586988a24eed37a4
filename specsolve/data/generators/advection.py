"""Linear advection ``u_t + c·∇u = κ Δu`` (κ = 0 by default) on the periodic unit interval or torus, solved exactly."""

from __future__ import annotations

from typing import Literal

from specsolve.data.generators.exact_linear import ExactLinearGenerator
from specsolve.errors import ConfigError
from specsolve.registry import register


@register("generator", "advection")
class AdvectionGenerator(ExactLinearGenerator):
    """Periodic transport of GRF initial data ``u0 ~ N(0, σ²(-Δ+τ²)^-γ)`` with constant velocity ``c``.

    Exact: ``û_k(t) = û_k(0) exp((-κ 4π²|k|² - 2πi c·k) t)``, i.e. ``u(x, t) = u0(x - ct)`` (the band-limited
    interpolant) when ``κ = 0``. ``velocity`` has ``dim`` entries (PDEBench's 1-D advection: ``[β]``). Writes
    ``a = u0`` and ``u (sample, time, x[, y])`` at ``t = k T / n_frames`` (``t = 0`` first when ``include_initial``).
    """

    name, u_long_name = "advection", "advected field u(t)"

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
        super().__init__(
            resolution, dim, diffusivity, final_time, n_frames, include_initial, (sigma, tau, gamma), store_dtype
        )
        velocity = [1.0] * dim if velocity is None else list(velocity)
        if len(velocity) != dim:
            raise ConfigError(f"advection: velocity needs {dim} component(s), got {len(velocity)}")
        self.velocity = tuple(float(c) for c in velocity)

    def pde_attrs(self) -> dict:
        return {
            "pde": "advection",
            "equation": "u_t + c.grad(u) = kappa lap(u), periodic unit box",
            "velocity": list(self.velocity),
            "diffusivity": self.diffusivity,
            "solver": "exact Fourier multiplier exp((-kappa 4 pi^2 |k|^2 - 2 pi i c.k) t)",
        }

"""Heat equation ``u_t = κ Δu`` on the periodic unit interval or torus, solved exactly (Fourier multiplier)."""

from __future__ import annotations

from typing import Literal

from specsolve.data.generators.exact_linear import ExactLinearGenerator
from specsolve.registry import register


@register("generator", "heat")
class HeatGenerator(ExactLinearGenerator):
    """Periodic heat flow from GRF initial data: ``u0 ~ N(0, σ²(-Δ+τ²)^-γ)`` (zero mean) on ``[0,1)^dim``.

    Exact: ``û_k(t) = û_k(0) exp(-κ 4π²|k|² t)`` on the ``resolution^dim`` grid ``x_j = j/n``. Writes
    ``a = u0 (sample, x[, y])`` and ``u (sample, time, x[, y])`` at ``t = k T / n_frames``, ``k = 1..n_frames``,
    preceded by ``t = 0`` when ``include_initial``.
    """

    name, u_long_name = "heat", "temperature u(t)"

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
        super().__init__(
            resolution, dim, diffusivity, final_time, n_frames, include_initial, (sigma, tau, gamma), store_dtype
        )

    def pde_attrs(self) -> dict:
        return {
            "pde": "heat",
            "equation": "u_t = kappa lap(u), periodic unit box",
            "diffusivity": self.diffusivity,
            "solver": "exact Fourier multiplier exp(-kappa 4 pi^2 |k|^2 t)",
        }

"""NSM periodic Poisson ``-Δu = s`` on the unit torus with an exact spectral solve
(references/gp_and_spectral_losses.md §3.3)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specsolve.data.generation import Layout
from specsolve.data.generators.periodic import (
    fourier_interpolate,
    periodic_coords,
    periodic_kernel_grf,
    squared_wavenumber,
)
from specsolve.data.grf import sample_rng
from specsolve.data.native import VariableSpec
from specsolve.errors import ConfigError
from specsolve.registry import register


def solve_periodic_poisson(s: np.ndarray, gauge: Literal["origin", "mean"] = "origin") -> np.ndarray:
    """``-Δu = s`` on the unit torus for grid data ``s: (B, *S)`` (mean-free; band-limited): ``û_k = ŝ_k / (4π²|k|²)``,
    ``û_0 = 0``; ``gauge="origin"`` then shifts ``u`` so that ``u(0) = 0`` (NSM), ``"mean"`` keeps zero mean."""
    shape = s.shape[1:]
    axes = tuple(range(1, len(shape) + 1))
    lam = 4 * np.pi**2 * squared_wavenumber(shape)
    lam.flat[0] = 1.0
    u_hat = np.fft.fftn(s, axes=axes) / lam
    u_hat[(slice(None),) + (0,) * len(shape)] = 0.0
    u = np.fft.ifftn(u_hat, axes=axes).real
    if gauge == "origin":
        u = u - u[(slice(None),) + (0,) * len(shape)].reshape((-1,) + (1,) * len(shape))
    return u


@register("generator", "poisson_periodic")
class PeriodicPoissonGenerator:
    """NSM periodic Poisson data (Du et al., ICLR 2024): ``-Δu = s`` on ``[0, 1)²``.

    Source: a GP sample with the periodic kernel ``exp(-Σ_d sin²(π(x_d-y_d)) / (2ℓ²))`` (ℓ = 0.2) on a
    ``source_points²`` (16²) grid, grid mean removed, read as its trigonometric interpolant. Solution: exact spectral
    division by ``4π²|k|²`` with ``u(0, 0) = 0`` (NSM; ``gauge="mean"`` gives zero mean instead). Both are evaluated on
    the ``resolution²`` (NSM: 256²) grid ``x_j = j/n``. Writes ``a = s (sample, x, y)`` and ``u (sample, x, y)``.
    """

    def __init__(
        self,
        resolution: int = 256,
        source_points: int = 16,
        length_scale: float = 0.2,
        gauge: Literal["origin", "mean"] = "origin",
        store_dtype: Literal["float32", "float64"] = "float32",
    ) -> None:
        if source_points < 2 or resolution < source_points:
            raise ConfigError("poisson_periodic: need 2 <= source_points <= resolution")
        if length_scale <= 0:
            raise ConfigError("poisson_periodic: length_scale must be positive")
        if gauge not in ("origin", "mean"):
            raise ConfigError(f"poisson_periodic: gauge must be 'origin' or 'mean', got '{gauge}'")
        self.resolution, self.source_points, self.length_scale = resolution, source_points, length_scale
        self.gauge, self.store_dtype = gauge, store_dtype

    def source(self, rng: np.random.Generator) -> np.ndarray:
        """The mean-free source on the ``source_points²`` grid."""
        s = periodic_kernel_grf(rng, (self.source_points,) * 2, self.length_scale)
        return s - s.mean()

    def layout(self) -> Layout:
        coords, coord_attrs = periodic_coords((self.resolution,) * 2)
        return Layout(
            coords=coords,
            variables={
                "a": VariableSpec(("x", "y"), self.store_dtype, {"long_name": "source s(x, y)", "units": "1"}),
                "u": VariableSpec(("x", "y"), self.store_dtype, {"long_name": "solution u(x, y)", "units": "1"}),
            },
            coord_attrs=coord_attrs,
            attrs={
                "pde": "poisson_periodic",
                "equation": "-lap(u) = s on the unit torus",
                "solver": f"exact spectral division, gauge={self.gauge}",
                "source": f"periodic-kernel GP, length {self.length_scale}, {self.source_points}^2 points, mean-free",
            },
        )

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        s = np.stack([self.source(sample_rng(seed, i)) for i in indices])
        u = solve_periodic_poisson(s, self.gauge)
        shape = (self.resolution,) * 2
        return {
            "a": fourier_interpolate(s, shape).astype(self.store_dtype),
            "u": fourier_interpolate(u, shape).astype(self.store_dtype),
        }

"""NSM reaction–diffusion ``u_t - ν u_xx = ρ u (1 - u)`` on the periodic unit interval
(references/gp_and_spectral_losses.md §3.3)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from specsolve.data.generation import Layout
from specsolve.data.generators.periodic import fourier_interpolate, periodic_coords, periodic_kernel_grf, wavenumbers
from specsolve.data.grf import sample_rng
from specsolve.data.native import VariableSpec
from specsolve.errors import ConfigError
from specsolve.registry import register


def logistic_step(u: np.ndarray, rho: float, dt: float) -> np.ndarray:
    """Exact flow of ``u' = ρ u (1 - u)`` over ``dt``: ``u e^{ρdt} / (u e^{ρdt} + 1 - u)``."""
    grown = u * np.exp(rho * dt)
    return grown / (grown + 1.0 - u)


def diffusion_step(u: np.ndarray, nu: float, dt: float) -> np.ndarray:
    """Exact flow of ``u_t = ν u_xx`` over ``dt`` on the periodic grid (last axis), ``exp(-ν 4π²k² dt)``."""
    n = u.shape[-1]
    k = wavenumbers(n, half=True)
    return np.fft.irfft(np.fft.rfft(u, axis=-1) * np.exp(-nu * 4 * np.pi**2 * k**2 * dt), n=n, axis=-1)


def solve_reaction_diffusion(
    u0: np.ndarray, nu: float, rho: float, dt: float, n_frames: int, steps_per_frame: int, include_initial: bool = True
) -> np.ndarray:
    """First-order Lie splitting (exact logistic step, then exact diffusion step) of a batch ``u0: (B, N)``;
    returns ``(B, frames, N)`` every ``steps_per_frame`` steps (``u0`` first when ``include_initial``)."""
    u = np.asarray(u0, dtype=np.float64)
    frames = [u] if include_initial else []
    for _ in range(n_frames):
        for _ in range(steps_per_frame):
            u = diffusion_step(logistic_step(u, rho, dt), nu, dt)
        frames.append(u)
    return np.stack(frames, axis=1)


@register("generator", "reaction_diffusion")
class ReactionDiffusionGenerator:
    """NSM reaction–diffusion data (Du et al., ICLR 2024), x ∈ [0, 1) periodic, t ∈ [0, T].

    Initial condition: a GP sample with the periodic kernel ``exp(-sin²(π(x-y)) / (2ℓ²))`` (ℓ = 0.2) on ``ic_points``
    (64) grid points, min–max normalised to [0, 1], evaluated on the solve grid by trigonometric interpolation.
    Reference: Lie splitting with exact logistic and exact FFT-diffusion steps on ``solve_resolution`` (4096) points,
    ``steps_per_frame`` steps of ``dt = T / (n_frames · steps_per_frame)`` between frames (NSM: 4096 steps, kept
    every 8th, i.e. ``n_frames = 512``, ``steps_per_frame = 8``), stored on every ``solve_resolution / resolution``-th
    point (NSM: 512; NSM also appends the periodic copy x = 1, which is left out here).
    Writes ``a = u0 (sample, x)`` and ``u (sample, time, x)`` at ``t = k T / n_frames`` (``t = 0`` first when
    ``include_initial``). NSM's benchmarks: ρ = 5, ν ∈ {0.005, 0.01, 0.05, 0.1}.
    """

    def __init__(
        self,
        resolution: int = 512,
        solve_resolution: int = 4096,
        nu: float = 0.01,
        rho: float = 5.0,
        final_time: float = 1.0,
        n_frames: int = 512,
        steps_per_frame: int = 8,
        ic_points: int = 64,
        length_scale: float = 0.2,
        include_initial: bool = True,
        store_dtype: Literal["float32", "float64"] = "float32",
    ) -> None:
        if resolution < 2 or solve_resolution % resolution:
            raise ConfigError("reaction_diffusion: solve_resolution must be a multiple of resolution (>= 2)")
        if ic_points < 2 or ic_points > solve_resolution:
            raise ConfigError("reaction_diffusion: need 2 <= ic_points <= solve_resolution")
        if nu < 0 or final_time <= 0 or n_frames < 1 or steps_per_frame < 1 or length_scale <= 0:
            raise ConfigError(
                "reaction_diffusion: need nu >= 0, final_time > 0, n_frames >= 1, steps_per_frame >= 1, length_scale > 0"
            )
        self.resolution, self.solve_resolution = resolution, solve_resolution
        self.stride = solve_resolution // resolution
        self.nu, self.rho, self.final_time = nu, rho, final_time
        self.n_frames, self.steps_per_frame = n_frames, steps_per_frame
        self.dt = final_time / (n_frames * steps_per_frame)
        self.ic_points, self.length_scale = ic_points, length_scale
        self.include_initial, self.store_dtype = include_initial, store_dtype
        self.times = np.arange(0 if include_initial else 1, n_frames + 1) * (final_time / n_frames)

    def initial_condition(self, rng: np.random.Generator) -> np.ndarray:
        """The min–max normalised periodic-kernel GP sample, interpolated to the solve grid."""
        h = periodic_kernel_grf(rng, (self.ic_points,), self.length_scale)
        h = (h - h.min()) / (h.max() - h.min())
        return fourier_interpolate(h, (self.solve_resolution,))

    def layout(self) -> Layout:
        coords, coord_attrs = periodic_coords((self.resolution,))
        return Layout(
            coords={"time": self.times, **coords},
            variables={
                "a": VariableSpec(("x",), self.store_dtype, {"long_name": "initial condition u0(x)", "units": "1"}),
                "u": VariableSpec(("time", "x"), self.store_dtype, {"long_name": "solution u(t, x)", "units": "1"}),
            },
            coord_attrs={
                "time": {"units": "1", "long_name": "time", "includes_t0": int(self.include_initial)},
                **coord_attrs,
            },
            attrs={
                "pde": "reaction_diffusion",
                "equation": "u_t - nu u_xx = rho u (1 - u), x in [0,1) periodic",
                "nu": self.nu,
                "rho": self.rho,
                "solver": f"Lie splitting (exact logistic, exact FFT diffusion), dt={self.dt:g}",
                "solve_resolution": self.solve_resolution,
                "initial_condition": f"periodic-kernel GP, length {self.length_scale}, {self.ic_points} points, "
                "min-max normalised, trigonometric interpolation",
                "includes_t0": int(self.include_initial),
            },
        )

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        u0 = np.stack([self.initial_condition(sample_rng(seed, i)) for i in indices])
        u = solve_reaction_diffusion(
            u0, self.nu, self.rho, self.dt, self.n_frames, self.steps_per_frame, self.include_initial
        )
        s = self.stride
        return {"a": u0[:, ::s].astype(self.store_dtype), "u": u[..., ::s].astype(self.store_dtype)}

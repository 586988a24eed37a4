"""Shallow water on the rotating sphere: pairs (state at t, state at t + lead_time) from torch-harmonics' spectral
solver, written in specsolve's native format."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from specsolve.data.generation import Layout
from specsolve.data.grf import sample_rng
from specsolve.data.native import VariableSpec
from specsolve.errors import ConfigError
from specsolve_sfno.spherical_conv import grid_truncation, torch_harmonics

FIELDS = ("geopotential", "vorticity", "divergence")
LONG_NAMES = {
    "geopotential": "geopotential anomaly (Phi - g H) / (g h_amp)",
    "vorticity": "relative vorticity * R / sqrt(g H)",
    "divergence": "horizontal divergence * R / sqrt(g H)",
}


class ShallowWaterSphereGenerator:
    """Rotating shallow-water equations in vorticity-divergence form on an equiangular ``nlat x nlon`` grid.

    ``∂ζ/∂t = -∇·((ζ+f) u)``, ``∂δ/∂t = k·∇×((ζ+f) u) - Δ(Φ + |u|²/2)``, ``∂Φ/∂t = -∇·(Φ u)``, ``f = 2Ω sin φ``,
    integrated by torch-harmonics' ``ShallowWaterSolver`` (spectral transform method, truncation
    ``L = (nlat+1)//2``, third-order Adams-Bashforth steps of ``dt`` seconds, implicit hyperdiffusion of ``ζ, δ``).

    Initial state (seeded per sample, ``(seed, index)``): three independent random band-limited fields ``g_k`` of
    unit RMS with spherical-harmonic amplitudes ``∝ (1 + l)^-decay`` for ``l < ic_modes`` (``l >= 1`` for ``g_1, g_2``:
    vorticity and divergence integrate to zero over the sphere; ``g_0`` has a random mean, the mass anomaly);
    ``Φ = g (H + h_amp g_0)``, ``ζ = mach sqrt(gH)/R g_1``, ``δ = mach sqrt(gH)/R g_2``; integrated for ``spinup``
    seconds, then the input state is stored and integrated for ``lead_time`` more seconds to the target state.

    Variables ``geopotential_0, vorticity_0, divergence_0`` (input) and ``geopotential, vorticity, divergence``
    (target), dims ``(sample, x, y)`` with ``x`` = latitude (degrees north, 90 to -90, poles included) and
    ``y`` = longitude (degrees east, ``360 j / nlon``); stored dimensionless as in the SFNO paper:
    ``(Φ - gH)/(g h_amp)``, ``ζ R / sqrt(gH)``, ``δ R / sqrt(gH)``. The area mean of ``Φ`` (mass) is conserved.
    """

    def __init__(
        self,
        nlat: int = 32,
        nlon: int = 64,
        dt: float = 600.0,
        lead_time: float = 3600.0,
        spinup: float = 10800.0,
        ic_modes: int | None = None,
        decay: float = 1.0,
        mach: float = 0.1,
        havg: float = 1.0e4,
        hamp: float = 120.0,
        radius: float = 6.37122e6,
        omega: float = 7.292e-5,
        gravity: float = 9.80616,
        store_dtype: Literal["float32", "float64"] = "float32",
    ) -> None:
        if nlat < 4 or nlon < 4:
            raise ConfigError(f"shallow_water_sphere: need nlat, nlon >= 4, got {nlat} x {nlon}")
        if dt <= 0 or lead_time <= 0 or spinup < 0:
            raise ConfigError("shallow_water_sphere: need dt > 0, lead_time > 0, spinup >= 0")
        for name, value in (("lead_time", lead_time), ("spinup", spinup)):
            if abs(value / dt - round(value / dt)) > 1e-9:
                raise ConfigError(f"shallow_water_sphere: {name}={value} s is not a multiple of dt={dt} s")
        if min(havg, radius, gravity) <= 0 or mach < 0 or hamp <= 0:
            raise ConfigError("shallow_water_sphere: havg, hamp, radius, gravity must be > 0 and mach >= 0")
        lmax, _ = grid_truncation(nlat, nlon, "equiangular")
        if ic_modes is not None and not 1 <= ic_modes <= lmax:
            raise ConfigError(f"shallow_water_sphere: ic_modes must be in 1..{lmax} for nlat={nlat}, got {ic_modes}")
        if store_dtype not in ("float32", "float64"):
            raise ConfigError(f"shallow_water_sphere: store_dtype must be float32 or float64, got {store_dtype!r}")
        torch_harmonics()
        self.nlat, self.nlon, self.dt = nlat, nlon, float(dt)
        self.lead_steps, self.spinup_steps = round(lead_time / dt), round(spinup / dt)
        self.lead_time, self.spinup = float(lead_time), float(spinup)
        self.ic_modes, self.decay, self.mach = ic_modes or lmax, decay, mach
        self.havg, self.hamp, self.radius, self.omega, self.gravity = havg, hamp, radius, omega, gravity
        self.store_dtype = store_dtype
        self._solver = None

    @property
    def solver(self) -> torch.nn.Module:
        if self._solver is None:
            examples = torch_harmonics().examples
            self._solver = examples.ShallowWaterSolver(
                self.nlat,
                self.nlon,
                self.dt,
                lmax=grid_truncation(self.nlat, self.nlon, "equiangular")[0],
                grid="equiangular",
                radius=self.radius,
                omega=self.omega,
                gravity=self.gravity,
                havg=self.havg,
                hamp=self.hamp,
            ).double()
        return self._solver

    def layout(self) -> Layout:
        latitude = np.linspace(90.0, -90.0, self.nlat)
        longitude = 360.0 * np.arange(self.nlon) / self.nlon
        variables = {}
        for name in FIELDS:
            for suffix, when in (("_0", "at t"), ("", "at t + lead_time")):
                attrs = {"long_name": f"{LONG_NAMES[name]} {when}", "units": "1"}
                variables[name + suffix] = VariableSpec(("x", "y"), self.store_dtype, attrs)
        return Layout(
            coords={"x": latitude, "y": longitude},
            variables=variables,
            coord_attrs={
                "x": {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude"},
                "y": {"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude"},
            },
            attrs={
                "pde": "shallow_water_sphere",
                "equation": "rotating shallow water, vorticity-divergence form, on the sphere",
                "solver": "torch_harmonics.examples.ShallowWaterSolver (spectral transform, AB3, hyperdiffusion)",
                "grid": "equiangular (Clenshaw-Curtis, poles included)",
                "dt_seconds": self.dt,
                "lead_time_seconds": self.lead_time,
                "spinup_seconds": self.spinup,
                "havg_m": self.havg,
                "hamp_m": self.hamp,
                "radius_m": self.radius,
                "omega_per_s": self.omega,
                "gravity_m_per_s2": self.gravity,
                "mach": self.mach,
            },
        )

    def random_field(self, rng: np.random.Generator, mean: bool) -> torch.Tensor:
        """Spherical-harmonic coefficients ``(L, M)`` of a random real field with unit RMS on the grid (with a
        random mean, ``l = 0``, when ``mean``)."""
        solver = self.solver
        lmax, mmax = solver.lmax, solver.mmax
        l = np.arange(lmax)[:, None]
        m = np.arange(mmax)[None, :]
        keep = (m <= l) & (l < self.ic_modes) & ((l >= 1) | mean)
        coeffs = (rng.standard_normal((lmax, mmax)) + 1j * rng.standard_normal((lmax, mmax))) * (1.0 + l) ** -self.decay
        coeffs[:, 0] = coeffs[:, 0].real  # m = 0: real coefficients of a real field
        spec = torch.from_numpy(np.where(keep, coeffs, 0.0))
        rms = solver.spec2grid(spec).square().mean().sqrt()
        return spec / rms

    def initial_state(self, rng: np.random.Generator) -> torch.Tensor:
        """``(3, L, M)`` spectral state ``(Φ, ζ, δ)`` in SI units."""
        g0, g1, g2 = self.random_field(rng, True), self.random_field(rng, False), self.random_field(rng, False)
        mean = torch.zeros_like(g0)
        mean[0, 0] = self.gravity * self.havg * (4 * np.pi) ** 0.5  # Y_00 = 1 / sqrt(4 pi), orthonormal SHT
        wind = self.mach * (self.gravity * self.havg) ** 0.5 / self.radius
        return torch.stack([mean + self.gravity * self.hamp * g0, wind * g1, wind * g2])

    def dimensionless(self, spec: torch.Tensor) -> np.ndarray:
        """Grid ``(3, nlat, nlon)`` of ``((Φ - gH)/(g h_amp), ζ R/sqrt(gH), δ R/sqrt(gH))``."""
        grid = self.solver.spec2grid(spec)
        scale = torch.tensor(
            [1.0 / (self.gravity * self.hamp), *[self.radius / (self.gravity * self.havg) ** 0.5] * 2],
            dtype=grid.dtype,
        )
        offset = torch.tensor([self.gravity * self.havg, 0.0, 0.0], dtype=grid.dtype)
        return ((grid - offset[:, None, None]) * scale[:, None, None]).numpy()

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        inputs, targets = [], []
        with torch.no_grad():
            for index in indices:
                state = self.initial_state(sample_rng(seed, index))
                if self.spinup_steps:
                    state = self.solver.timestep(state, self.spinup_steps)
                inputs.append(self.dimensionless(state))
                targets.append(self.dimensionless(self.solver.timestep(state, self.lead_steps)))
        x, y = np.stack(inputs), np.stack(targets)
        out = {}
        for k, name in enumerate(FIELDS):
            out[name + "_0"] = x[:, k].astype(self.store_dtype)
            out[name] = y[:, k].astype(self.store_dtype)
        return out

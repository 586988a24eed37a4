"""Viscous Burgers ``u_t + (u²/2)_x = ν u_xx`` on the periodic unit interval (FNO recipe, data.md §1.1)."""

from __future__ import annotations

import numpy as np
import torch

from specsolve.data.generation import Layout
from specsolve.data.generators.periodic import wavenumbers
from specsolve.data.grf import periodic_grf_1d, sample_rng
from specsolve.data.native import VariableSpec
from specsolve.errors import ConfigError
from specsolve.pde.operators import wavenumbers as pde_wavenumbers
from specsolve.registry import register


def etdrk4_coefficients(lin: torch.Tensor, dt: float, contour_points: int = 32) -> dict[str, torch.Tensor]:
    """Kassam–Trefethen ETDRK4 coefficients for a diagonal linear operator ``lin`` (contour-integral evaluation)."""
    roots = torch.exp(1j * torch.pi * (torch.arange(1, contour_points + 1, dtype=torch.float64) - 0.5) / contour_points)
    lr = dt * lin.to(torch.complex128)[:, None] + roots[None, :]
    e = torch.exp(dt * lin)
    e2 = torch.exp(dt * lin / 2)
    q = dt * ((torch.exp(lr / 2) - 1) / lr).mean(1).real
    f1 = dt * ((-4 - lr + torch.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3).mean(1).real
    f2 = dt * ((2 + lr + torch.exp(lr) * (-2 + lr)) / lr**3).mean(1).real
    f3 = dt * ((-4 - 3 * lr - lr**2 + torch.exp(lr) * (4 - lr)) / lr**3).mean(1).real
    return {"e": e, "e2": e2, "q": q, "f1": f1, "f2": f2, "f3": f3}


def solve_burgers(
    u0: torch.Tensor, viscosity: float, times: list[float], dt: float, dealias: bool = True
) -> torch.Tensor:
    """Pseudo-spectral ETDRK4 for a batch of periodic initial conditions ``u0: (B, N)`` on ``x_j = j/N``.

    Returns ``(B, len(times), N)`` snapshots; each time must be a multiple of ``dt`` (checked).
    """
    n = u0.shape[-1]
    k = pde_wavenumbers(n, dtype=torch.float32, half=True).to(torch.float64)  # float32: exact integers, as stored
    lin = -viscosity * (2 * torch.pi * k) ** 2
    deriv = 2j * torch.pi * k
    mask = (k <= n / 3).to(torch.float64) if dealias else torch.ones_like(k)
    c = etdrk4_coefficients(lin, dt)

    def nonlinear(v_hat: torch.Tensor) -> torch.Tensor:
        v = torch.fft.irfft(v_hat, n=n)
        return -0.5 * deriv * mask * torch.fft.rfft(v * v)

    v = torch.fft.rfft(u0.to(torch.float64))
    out, t, step = [], 0.0, 0
    for target in times:
        steps = round((target - t) / dt)
        if abs(steps * dt - (target - t)) > 1e-9 * max(1.0, target):
            raise ConfigError(f"burgers: output time {target} is not a multiple of dt={dt}")
        for _ in range(steps):
            nv = nonlinear(v)
            a = c["e2"] * v + c["q"] * nv
            na = nonlinear(a)
            b = c["e2"] * v + c["q"] * na
            nb = nonlinear(b)
            cc = c["e2"] * a + c["q"] * (2 * nb - nv)
            nc = nonlinear(cc)
            v = c["e"] * v + c["f1"] * nv + 2 * c["f2"] * (na + nb) + c["f3"] * nc
            step += 1
        t = target
        out.append(torch.fft.irfft(v, n=n))
    return torch.stack(out, dim=1)


def cole_hopf_solution(u0: np.ndarray, viscosity: float, t: float) -> np.ndarray:
    """Exact solution at time ``t`` for a zero-mean periodic ``u0`` sampled on ``x_j = j/N`` (Cole–Hopf).

    ``u = -2ν ∂x log φ`` with ``φ_t = ν φ_xx`` and ``φ0 = exp(-(1/2ν) ∫₀ˣ u0)``; antiderivative and heat flow
    are spectral (exact for band-limited data).
    """
    n = u0.size
    k = wavenumbers(n, half=True)
    u_hat = np.fft.rfft(u0)
    if abs(u_hat[0]) > 1e-8 * n:
        raise ValueError("Cole–Hopf needs a zero-mean initial condition")
    with np.errstate(divide="ignore", invalid="ignore"):
        anti_hat = np.where(k > 0, u_hat / (2j * np.pi * k), 0.0)
    antiderivative = np.fft.irfft(anti_hat, n=n)
    exponent = -antiderivative / (2 * viscosity)
    phi0 = np.exp(exponent - exponent.max())
    phi_hat = np.fft.rfft(phi0) * np.exp(-viscosity * (2 * np.pi * k) ** 2 * t)
    phi = np.fft.irfft(phi_hat, n=n)
    phi_x = np.fft.irfft(2j * np.pi * k * phi_hat, n=n)
    return -2 * viscosity * phi_x / phi


@register("generator", "burgers")
class BurgersGenerator:
    """FNO Burgers data: ``u0 ~ N(0, σ²(-Δ+τ²)^-γ)`` periodic, solved to ``final_time`` with ETDRK4.

    Presets: the paper (σ=25, τ=5, γ=2, ν=0.1, the defaults) and ``fno_v1e-3`` (σ=49, τ=7, γ=2.5, ν=1e-3,
    ``n_frames=200``, needs ``solve_resolution`` >= 4096 and small ``dt``). Solved on ``solve_resolution`` points,
    stored on every ``solve_resolution / resolution``-th point. Writes ``a = u0 (sample, x)`` and
    ``u (sample, time, x)`` at ``n_frames`` equispaced times in ``(0, final_time]``.
    """

    def __init__(
        self,
        resolution: int = 1024,
        solve_resolution: int | None = None,
        viscosity: float = 0.1,
        final_time: float = 1.0,
        n_frames: int = 1,
        dt: float = 2.0e-3,
        sigma: float = 25.0,
        tau: float = 5.0,
        gamma: float = 2.0,
        dealias: bool = True,
    ) -> None:
        solve_resolution = solve_resolution or resolution
        if solve_resolution % resolution:
            raise ConfigError("burgers: solve_resolution must be a multiple of resolution")
        if viscosity <= 0 or final_time <= 0 or dt <= 0 or n_frames < 1:
            raise ConfigError("burgers: viscosity, final_time and dt must be positive and n_frames >= 1")
        self.resolution, self.solve_resolution = resolution, solve_resolution
        self.viscosity, self.final_time, self.n_frames, self.dt = viscosity, final_time, n_frames, dt
        self.sigma, self.tau, self.gamma, self.dealias = sigma, tau, gamma, dealias
        self.times = [final_time * (i + 1) / n_frames for i in range(n_frames)]
        for t in self.times:
            if abs(round(t / dt) * dt - t) > 1e-9:
                raise ConfigError(f"burgers: frame time {t} is not a multiple of dt={dt}")

    def layout(self) -> Layout:
        return Layout(
            coords={"x": np.arange(self.resolution) / self.resolution, "time": np.asarray(self.times)},
            variables={
                "a": VariableSpec(("x",), attrs={"long_name": "initial condition u0(x)", "units": "1"}),
                "u": VariableSpec(("time", "x"), attrs={"long_name": "solution u(t, x)", "units": "1"}),
            },
            coord_attrs={
                "x": {"units": "1", "long_name": "x coordinate", "grid": "periodic, endpoint excluded"},
                "time": {"units": "1", "long_name": "time"},
            },
            attrs={
                "pde": "burgers",
                "equation": "u_t + (u^2/2)_x = nu u_xx, x in [0,1) periodic",
                "viscosity": self.viscosity,
                "solver": f"pseudo-spectral ETDRK4, dt={self.dt}, dealias={self.dealias}",
                "solve_resolution": self.solve_resolution,
            },
        )

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        u0 = np.stack(
            [
                periodic_grf_1d(sample_rng(seed, i), self.solve_resolution, self.sigma, self.tau, self.gamma)
                for i in indices
            ]
        )
        u = solve_burgers(torch.from_numpy(u0), self.viscosity, self.times, self.dt, self.dealias).numpy()
        s = self.solve_resolution // self.resolution
        return {"a": u0[:, ::s].astype(np.float32), "u": u[..., ::s].astype(np.float32)}

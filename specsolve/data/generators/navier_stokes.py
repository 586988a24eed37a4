"""2-D incompressible Navier–Stokes in vorticity form on the unit torus (FNO recipe, references/data.md §1.3).

``w_t + u·∇w = ν Δw + f``, ``u = (ψ_y, -ψ_x)``, ``-Δψ = w``, ``(x, y) ∈ [0, 1)²`` periodic, grid ``x_j = j / s``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from specsolve.data.generation import Layout
from specsolve.data.generators.periodic import fno_grf_2d, fourier_restrict, frame_schedule
from specsolve.data.grf import sample_rng
from specsolve.data.native import VariableSpec
from specsolve.errors import ConfigError
from specsolve.pde import vorticity
from specsolve.registry import register

Scheme = Literal["fno_euler", "cn_ab2"]


def fno_forcing(n: int, amplitude: float = 0.1) -> np.ndarray:
    """FNO forcing ``f = 0.1 (sin 2π(x+y) + cos 2π(x+y))`` on the ``n x n`` grid ``j / n`` (``ij`` indexing)."""
    x = np.arange(n) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    return vorticity.fno_forcing(X, Y, 1.0, amplitude)


class VorticitySolver:
    """Batched pseudo-spectral solver on an ``n x n`` grid; fields ``(B, n, n)``, axis -2 = x, axis -1 = y.

    Spectral state ``ŵ = rfft2(w)``; the operator (``ψ̂ = ŵ / (4π²|k|²)``, ``u, v, w_x, w_y`` by ``2πik``
    multiplication, the advection under the 2/3 mask) is :mod:`specsolve.pde.vorticity`, shared with the
    spectral-refinement residual. Viscosity is Crank–Nicolson in both schemes:

    - ``fno_euler``: ``ŵ⁺ = [(1 - ½dtνλ)ŵ + dt(f̂ - F̂(ŵ))] / (1 + ½dtνλ)``, ``λ = 4π²|k|²`` (FNO; first order);
    - ``cn_ab2``: the same with ``-F̂`` replaced by Adams–Bashforth ``-(3/2 F̂ⁿ - 1/2 F̂ⁿ⁻¹)`` (IMEX CN–AB2, second
      order; the first step is ``fno_euler``).
    """

    def __init__(
        self,
        n: int,
        viscosity: float,
        dt: float,
        forcing: np.ndarray | Tensor | None = None,
        scheme: Scheme = "fno_euler",
        dealias: bool = True,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ) -> None:
        if scheme not in ("fno_euler", "cn_ab2"):
            raise ConfigError(f"navier_stokes: scheme must be 'fno_euler' or 'cn_ab2', got '{scheme}'")
        self.n, self.viscosity, self.dt, self.scheme = n, viscosity, dt, scheme
        self.dtype, self.device = dtype, torch.device(device)
        sym = vorticity.vorticity_symbols(n, 1.0, torch.float64, self.device, dealias)
        lam = sym.lam
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.ikx = sym.ikx.to(cdtype)
        self.iky = sym.iky.to(cdtype)
        self.inv_lap = sym.inv_lap.to(dtype)
        self.lam = lam.to(dtype)
        self.multipliers = vorticity.velocity_multipliers(self.ikx, self.iky, self.inv_lap)
        self.mask = sym.mask.to(dtype)
        half = 0.5 * dt * viscosity * lam
        self.decay = ((1 - half) / (1 + half)).to(dtype)
        self.gain = (dt / (1 + half)).to(dtype)
        if forcing is None:
            self.f_hat = torch.zeros(n, n // 2 + 1, dtype=cdtype, device=self.device)
        else:
            f = torch.as_tensor(forcing, dtype=dtype, device=self.device)
            if f.shape != (n, n):
                raise ConfigError(f"navier_stokes: forcing must be {n}x{n}, got {tuple(f.shape)}")
            self.f_hat = torch.fft.rfft2(f)

    def advection_hat(self, w_hat: Tensor) -> Tensor:
        """``F̂ = mask · rfft2(u w_x + v w_y)`` for spectral vorticity ``w_hat: (B, n, n/2+1)``."""
        return vorticity.advection_hat(w_hat, self.multipliers, self.mask)

    def tendency(self, w: Tensor) -> Tensor:
        """The right-hand side ``-u·∇w + νΔw + f`` on the grid (semi-discrete, dealiased): for tests."""
        w_hat = torch.fft.rfft2(w.to(self.dtype))
        rhs = -self.advection_hat(w_hat) - self.viscosity * self.lam * w_hat + self.f_hat
        return torch.fft.irfft2(rhs, s=(self.n, self.n))

    def run(self, w0: Tensor, n_frames: int, steps_per_frame: int, include_initial: bool, stride: int = 1) -> Tensor:
        """Integrate ``w0: (B, n, n)``; returns ``(B, frames, n/stride, n/stride)`` every ``steps_per_frame`` steps
        (the initial field first when ``include_initial``)."""
        w0 = w0.to(self.device, self.dtype)
        w_hat = torch.fft.rfft2(w0)
        frames = [w0[..., ::stride, ::stride].clone()] if include_initial else []
        previous: Tensor | None = None
        # the modes outside the 2/3 mask only decay viscously and reach subnormal values after a few hundred steps,
        # which makes CPU arithmetic ~10x slower: flush them to zero while stepping (restored afterwards)
        flush = self.device.type == "cpu" and torch.set_flush_denormal(True)
        try:
            for _ in range(n_frames):
                for _ in range(steps_per_frame):
                    adv = self.advection_hat(w_hat)
                    if self.scheme == "cn_ab2" and previous is not None:
                        explicit = 1.5 * adv - 0.5 * previous
                    else:
                        explicit = adv
                    previous = adv
                    w_hat = self.decay * w_hat + self.gain * (self.f_hat - explicit)
                frames.append(torch.fft.irfft2(w_hat, s=(self.n, self.n))[..., ::stride, ::stride])
        finally:
            if flush:
                torch.set_flush_denormal(False)
        return torch.stack(frames, dim=1)


@register("generator", "navier_stokes")
class NavierStokesGenerator:
    """FNO Navier–Stokes data: ``w0 ~ GaussianRF(α=2.5, τ=7)``, forced vorticity flow on the unit torus.

    Solved on ``solve_resolution²`` (FNO: 256) with time step ``dt`` (FNO: 1e-4, ``fno_euler``) and stored on every
    ``solve_resolution / resolution``-th point (FNO convention ``[::4]`` for 64²). Writes ``a = w0 (sample, x, y)``
    and ``u (sample, time, x, y)`` at ``t = k T / record_steps``, ``k = 1..record_steps`` (FNO's frames with
    ``record_steps = T``), preceded by ``t = 0`` when ``include_initial`` (the default, references/data.md §6.2;
    FNO's own ``u`` excludes it: slice ``u[:, 1:]`` for FNO-shaped data).

    Parameters
    ----------
    resolution, solve_resolution : output and solve grid sizes (the latter a multiple of the former).
    viscosity : ν (FNO: 1e-3, 1e-4, 1e-5). final_time, record_steps : T and the number of frames after t = 0.
    dt, scheme : time step and integrator (``fno_euler``: FNO's CN/explicit-Euler; ``cn_ab2``: IMEX CN–AB2).
    forcing : ``fno`` (``0.1(sin 2π(x+y) + cos 2π(x+y))``) or ``none``.
    alpha, tau, grf_convention : initial-vorticity GRF (``fno2020``: the released data; ``fno2022``: 1/√2 smaller).
    grf_resolution : grid the GRF is drawn on (default: the solve grid). A finer one (FNO: 256) gives ``a`` as its
        stride, exactly FNO's stored inputs, while the solve starts from its Fourier restriction to the solve grid
        (what a coarse solve of the fine field resolves); frame ``t = 0`` of ``u`` is ``a``.
    dealias : 2/3 rule on the advection term. dtype : solve precision (values are stored as ``store_dtype``);
        ``float32`` with FNO's dt = 1e-4 drifts by ~2-4e-4 (relative L2) per unit time from rounding the tiny
        increments, 50x its time-stepping error (measured at 64², ν = 1e-3), so ``float64`` is the default.
    device : torch device of the solve (``cuda`` for the 256² recipes).
    """

    def __init__(
        self,
        resolution: int = 64,
        solve_resolution: int | None = None,
        viscosity: float = 1e-3,
        final_time: float = 50.0,
        record_steps: int = 50,
        dt: float = 1e-4,
        scheme: Scheme = "fno_euler",
        forcing: Literal["fno", "none"] = "fno",
        alpha: float = 2.5,
        tau: float = 7.0,
        grf_convention: Literal["fno2020", "fno2022"] = "fno2020",
        grf_resolution: int | None = None,
        include_initial: bool = True,
        dealias: bool = True,
        dtype: Literal["float32", "float64"] = "float64",
        store_dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
    ) -> None:
        solve_resolution = solve_resolution or resolution
        if resolution < 2 or solve_resolution % resolution:
            raise ConfigError("navier_stokes: solve_resolution must be a multiple of resolution (>= 2)")
        if viscosity < 0:
            raise ConfigError("navier_stokes: viscosity must be >= 0")
        if scheme not in ("fno_euler", "cn_ab2"):
            raise ConfigError(f"navier_stokes: scheme must be 'fno_euler' or 'cn_ab2', got '{scheme}'")
        if forcing not in ("fno", "none"):
            raise ConfigError(f"navier_stokes: forcing must be 'fno' or 'none', got '{forcing}'")
        if grf_convention not in ("fno2020", "fno2022"):
            raise ConfigError(f"navier_stokes: grf_convention must be 'fno2020' or 'fno2022', got '{grf_convention}'")
        if dtype not in ("float32", "float64") or store_dtype not in ("float32", "float64"):
            raise ConfigError("navier_stokes: dtype and store_dtype must be 'float32' or 'float64'")
        grf_resolution = grf_resolution or solve_resolution
        if grf_resolution % solve_resolution or grf_resolution % resolution:
            raise ConfigError("navier_stokes: grf_resolution must be a multiple of solve_resolution and resolution")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"navier_stokes: device '{device}' requested but CUDA is not available")
        self.times, self.steps_per_frame = frame_schedule(
            "navier_stokes", final_time, record_steps, dt, include_initial
        )
        self.resolution, self.solve_resolution = resolution, solve_resolution
        self.stride = solve_resolution // resolution
        self.viscosity, self.final_time, self.record_steps, self.dt = viscosity, final_time, record_steps, dt
        self.scheme, self.forcing, self.alpha, self.tau = scheme, forcing, alpha, tau
        self.grf_convention, self.include_initial, self.dealias = grf_convention, include_initial, dealias
        self.grf_resolution = grf_resolution
        self.dtype, self.store_dtype, self.device = dtype, store_dtype, device

    def solver(self) -> VorticitySolver:
        f = fno_forcing(self.solve_resolution) if self.forcing == "fno" else None
        return VorticitySolver(
            self.solve_resolution,
            self.viscosity,
            self.dt,
            f,
            self.scheme,
            self.dealias,
            getattr(torch, self.dtype),
            self.device,
        )

    def layout(self) -> Layout:
        x = np.arange(self.resolution) / self.resolution
        grid = {"units": "1", "grid": "periodic, endpoint excluded (x_j = j/n)"}
        return Layout(
            coords={"time": self.times, "x": x, "y": x.copy()},
            variables={
                "a": VariableSpec(
                    ("x", "y"), self.store_dtype, {"long_name": "initial vorticity w0(x, y)", "units": "1"}
                ),
                "u": VariableSpec(
                    ("time", "x", "y"), self.store_dtype, {"long_name": "vorticity w(t, x, y)", "units": "1"}
                ),
            },
            coord_attrs={
                "time": {"units": "1", "long_name": "time", "includes_t0": int(self.include_initial)},
                "x": {**grid, "long_name": "x coordinate"},
                "y": {**grid, "long_name": "y coordinate"},
            },
            attrs={
                "pde": "navier_stokes",
                "equation": "w_t + u.grad(w) = nu lap(w) + f, u = (psi_y, -psi_x), -lap(psi) = w, unit torus",
                "viscosity": self.viscosity,
                "forcing": "0.1(sin 2pi(x+y) + cos 2pi(x+y))" if self.forcing == "fno" else "none",
                "solver": f"pseudo-spectral, 2/3 dealiasing={self.dealias}, scheme={self.scheme}, dt={self.dt}, "
                f"{self.dtype}",
                "solve_resolution": self.solve_resolution,
                "grf": f"GaussianRF(alpha={self.alpha}, tau={self.tau}), convention {self.grf_convention}, "
                f"drawn on {self.grf_resolution}^2",
                "includes_t0": int(self.include_initial),
            },
        )

    def initial_vorticity(self, indices: np.ndarray, seed: int) -> np.ndarray:
        """The GRF draws on the ``grf_resolution²`` grid: ``(B, g, g)``."""
        return np.stack(
            [
                fno_grf_2d(sample_rng(seed, i), self.grf_resolution, self.alpha, self.tau, None, self.grf_convention)
                for i in indices
            ]
        )

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        w0 = self.initial_vorticity(indices, seed)
        a = w0[:, :: self.grf_resolution // self.resolution, :: self.grf_resolution // self.resolution]
        start = fourier_restrict(w0, self.solve_resolution)
        u = self.solver().run(torch.from_numpy(start), self.record_steps, self.steps_per_frame, False, self.stride)
        u = u.cpu().numpy()
        if self.include_initial:
            u = np.concatenate([a[:, None], u], axis=1)
        return {"a": a.astype(self.store_dtype), "u": u.astype(self.store_dtype)}

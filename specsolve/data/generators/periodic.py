"""Shared helpers of the periodic generators (NS, heat, advection, reaction-diffusion, Poisson).

Grids are ``x_j = j / n`` on the unit torus (right endpoint excluded); Fourier wavenumbers are integers ``k`` with
modes ``exp(2πi k·x)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from specsolve.errors import ConfigError
from specsolve.pde.operators import wavenumbers as pde_wavenumbers


def wavenumbers(n: int, half: bool = False) -> np.ndarray:
    """Integer FFT wavenumbers ``0, 1, ..., n/2-1, -n/2, ..., -1`` (``fft`` order; ``half``: ``rfft``'s ``0 .. n/2``):
    :func:`specsolve.pde.operators.wavenumbers` as a numpy array."""
    return pde_wavenumbers(n, half=half).numpy()


def squared_wavenumber(shape: tuple[int, ...]) -> np.ndarray:
    """``|k|²`` on the full FFT grid of ``shape``."""
    ks = np.meshgrid(*(wavenumbers(n) for n in shape), indexing="ij")
    return sum(k**2 for k in ks)


def fno_grf_2d(
    rng: np.random.Generator,
    n: int,
    alpha: float = 2.5,
    tau: float = 7.0,
    sigma: float | None = None,
    convention: Literal["fno2020", "fno2022"] = "fno2020",
) -> np.ndarray:
    """FNO's ``GaussianRF(2, n, alpha, tau)`` on the ``n x n`` torus grid (references/data.md §1.3).

    ``w = Re(ifft2(sqrt_eig · ζ))`` with ``sqrt_eig(k) = n² √2 σ (4π²|k|² + τ²)^(-α/2)``, ``sqrt_eig(0) = 0`` and
    ``σ = τ^(α - 1)`` (= ``τ^(0.5(2α - d))`` for d = 2). ``convention="fno2020"``: real and imaginary parts of ζ
    each N(0, 1) (the released datasets, marginal std ≈ 0.27 at 64²); ``"fno2022"``: parts N(0, 1/2)
    (``torch.randn(cfloat)`` of the 2022 port, 1/√2 smaller). Shape ``(n, n)``, float64.
    """
    if convention not in ("fno2020", "fno2022"):
        raise ConfigError(f"grf convention must be 'fno2020' or 'fno2022', got '{convention}'")
    sigma = tau ** (alpha - 1.0) if sigma is None else sigma
    sqrt_eig = n**2 * np.sqrt(2.0) * sigma * (4 * np.pi**2 * squared_wavenumber((n, n)) + tau**2) ** (-alpha / 2)
    sqrt_eig[0, 0] = 0.0
    parts = rng.standard_normal((2, n, n))
    if convention == "fno2022":
        parts = parts / np.sqrt(2.0)
    return np.fft.ifft2(sqrt_eig * (parts[0] + 1j * parts[1])).real


def fno_grf_variance(n: int, alpha: float = 2.5, tau: float = 7.0, convention: str = "fno2020") -> float:
    """Exact marginal variance of :func:`fno_grf_2d` (``Σ_{k≠0} 2σ² (4π²|k|² + τ²)^-α``, halved for fno2022)."""
    sigma = tau ** (alpha - 1.0)
    lam = 2 * sigma**2 * (4 * np.pi**2 * squared_wavenumber((n, n)) + tau**2) ** (-alpha)
    lam[0, 0] = 0.0
    return float(lam.sum() * (0.5 if convention == "fno2022" else 1.0))


def sobolev_grf(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, tau: float, gamma: float) -> np.ndarray:
    """A zero-mean sample of ``N(0, σ²(-Δ + τ²)^-γ)`` on the periodic grid ``shape`` of the unit torus.

    Karhunen–Loève in the orthonormal Fourier basis: ``u = ifft(sqrt(N λ_k) · fft(ξ))``, ``ξ`` real white noise on the
    ``N = prod(shape)`` grid points, ``λ_k = σ² (4π²|k|² + τ²)^-γ``, ``λ_0 = 0``; so ``Cov(u(x), u(y)) =
    Σ_{k≠0} λ_k e^{2πik(x-y)}`` over the grid's wavenumbers (the 1-D case is FNO's ``GRF1.m``, Nyquist mode kept).
    """
    lam = sigma**2 * (4 * np.pi**2 * squared_wavenumber(shape) + tau**2) ** (-gamma)
    lam.flat[0] = 0.0
    noise = np.fft.fftn(rng.standard_normal(shape))
    return np.fft.ifftn(np.sqrt(lam * np.prod(shape)) * noise).real


def sobolev_grf_variance(shape: tuple[int, ...], sigma: float, tau: float, gamma: float) -> float:
    lam = sigma**2 * (4 * np.pi**2 * squared_wavenumber(shape) + tau**2) ** (-gamma)
    lam.flat[0] = 0.0
    return float(lam.sum())


def periodic_kernel_grf(rng: np.random.Generator, shape: tuple[int, ...], length_scale: float) -> np.ndarray:
    """A sample of the GP with NSM's periodic kernel ``exp(-Σ_d sin²(π(x_d - y_d)) / (2 ℓ²))`` on the grid ``shape``.

    The covariance matrix on a uniform periodic grid is (block-)circulant, so it is diagonalised by the FFT:
    ``u = ifft(sqrt(ĉ) · fft(ξ))`` with ``ĉ = fft(c)``, ``c`` the kernel's first column (exact sampling of the same
    finite-dimensional Gaussian that NSM draws by SVD; tiny negative eigenvalues from rounding are clipped).
    """
    axes = np.meshgrid(*(np.arange(n) / n for n in shape), indexing="ij")
    column = np.exp(-sum(np.sin(np.pi * a) ** 2 for a in axes) / (2 * length_scale**2))
    eig = np.clip(np.fft.fftn(column).real, 0.0, None)
    noise = np.fft.fftn(rng.standard_normal(shape))
    return np.fft.ifftn(np.sqrt(eig) * noise).real


def fourier_interpolate(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Evaluate the real trigonometric interpolant of periodic grid ``values`` on a finer grid ``shape``.

    Acts on the last ``len(shape)`` axes; each output size must be >= the input size. An even input size's
    Nyquist coefficient is split evenly between ``±n/2`` (the interpolant uses ``cos(π n x)`` there, as NSM's
    real Fourier basis does).
    """
    d = len(shape)
    axes = tuple(range(values.ndim - d, values.ndim))
    coef = np.fft.fftn(values, axes=axes)
    for axis, m in zip(axes, shape):
        n = values.shape[axis]
        if m < n:
            raise ValueError(f"fourier_interpolate: cannot interpolate {n} points down to {m}")
        if m == n:
            continue
        c = np.moveaxis(coef, axis, -1)
        padded = np.zeros(c.shape[:-1] + (m,), dtype=complex)
        k = wavenumbers(n).astype(int)
        keep = np.ones(n, dtype=bool)
        if n % 2 == 0:  # split the Nyquist mode between +n/2 and -n/2
            keep[n // 2] = False
            padded[..., n // 2] += 0.5 * c[..., n // 2]
            padded[..., m - n // 2] += 0.5 * c[..., n // 2]
        padded[..., k[keep] % m] = c[..., keep]
        coef = np.moveaxis(padded * (m / n), -1, axis)
    return np.fft.ifftn(coef, axes=axes).real


def frame_schedule(
    generator: str, final_time: float, n_frames: int, dt: float, include_initial: bool
) -> tuple[np.ndarray, int]:
    """Output times ``k T / n_frames`` (``k = 1..n_frames``, plus ``0`` first when ``include_initial``) and the
    number of ``dt`` steps between frames; the frame spacing must be a multiple of ``dt``."""
    if final_time <= 0 or dt <= 0 or n_frames < 1:
        raise ConfigError(f"{generator}: final_time and dt must be positive and the number of frames >= 1")
    spacing = final_time / n_frames
    steps = int(round(spacing / dt))
    if steps < 1 or abs(steps * dt - spacing) > 1e-9 * spacing:
        raise ConfigError(f"{generator}: the frame spacing {spacing:g} is not a multiple of dt={dt:g}")
    k = np.arange(0 if include_initial else 1, n_frames + 1)
    return k * spacing, steps


def evolve_linear(
    u0: np.ndarray, times: np.ndarray, diffusivity: float = 0.0, velocity: tuple[float, ...] | None = None
) -> np.ndarray:
    """Exact solution of ``u_t + c·∇u = κ Δu`` on the unit torus for grid data ``u0: (B, *S)`` (band-limited).

    Fourier multiplier ``û_k(t) = û_k(0) exp((-κ 4π²|k|² - 2πi c·k) t)`` (references/data.md §3); returns
    ``(B, len(times), *S)``.
    """
    shape = u0.shape[1:]
    d = len(shape)
    velocity = tuple(velocity) if velocity is not None else (0.0,) * d
    ks = np.meshgrid(*(wavenumbers(n) for n in shape), indexing="ij")
    k2 = sum(k**2 for k in ks)
    phase = sum(c * k for c, k in zip(velocity, ks))
    u_hat = np.fft.fftn(u0, axes=tuple(range(1, d + 1)))
    out = [
        np.fft.ifftn(
            u_hat * np.exp((-diffusivity * 4 * np.pi**2 * k2 - 2j * np.pi * phase) * t), axes=tuple(range(1, d + 1))
        ).real
        for t in times
    ]
    return np.stack(out, axis=1)


def uniform_frames(generator: str, final_time: float, n_frames: int, include_initial: bool) -> np.ndarray:
    """``k T / n_frames`` for ``k = 1..n_frames`` (``0`` first when ``include_initial``)."""
    if final_time <= 0 or n_frames < 1:
        raise ConfigError(f"{generator}: final_time must be positive and n_frames >= 1")
    return np.arange(0 if include_initial else 1, n_frames + 1) * (final_time / n_frames)


def periodic_coords(shape: tuple[int, ...]) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Coordinates ``x_j = j / n`` (and ``y``) with their attributes."""
    names = ("x", "y", "z")[: len(shape)]
    coords = {d: np.arange(n) / n for d, n in zip(names, shape)}
    attrs = {
        d: {"units": "1", "long_name": f"{d} coordinate", "grid": "periodic, endpoint excluded (x_j = j/n)"}
        for d in names
    }
    return coords, attrs


def fourier_restrict(values: np.ndarray, n: int) -> np.ndarray:
    """Spectral restriction of periodic grid data (last two axes, ``N x N``) to ``n x n``: keep the modes
    ``|k_x|, |k_y| < n/2`` (the coarse Nyquist modes are dropped) and evaluate them on the coarse grid ``j/n``."""
    big = values.shape[-1]
    if big == n:
        return values
    if big < n or values.shape[-2] != big:
        raise ValueError(f"fourier_restrict: cannot restrict {values.shape[-2:]} to {n}x{n}")
    k = wavenumbers(big).astype(int)
    keep = np.flatnonzero(np.abs(k) < n / 2)
    coef = np.fft.fft2(values)[..., keep[:, None], keep[None, :]] * (n / big) ** 2
    out = np.zeros(values.shape[:-2] + (n, n), dtype=complex)
    target = k[keep] % n
    out[..., target[:, None], target[None, :]] = coef
    return np.fft.ifft2(out).real


def trajectory_layout(
    shape: tuple[int, ...],
    times: np.ndarray,
    include_initial: bool,
    store_dtype: str,
    u_long_name: str,
    grf: tuple[float, float, float],
    attrs: dict,
):
    """Layout of an exact-solution generator on the periodic unit box: ``a`` (the initial condition) and
    ``u(time, *space)``; ``attrs`` (PDE, equation, solver, ...) plus the GRF law and ``includes_t0``."""
    from specsolve.data.generation import Layout
    from specsolve.data.native import VariableSpec

    coords, coord_attrs = periodic_coords(shape)
    space = tuple(coords)
    sigma, tau, gamma = grf
    return Layout(
        coords={"time": times, **coords},
        variables={
            "a": VariableSpec(space, store_dtype, {"long_name": "initial condition u0", "units": "1"}),
            "u": VariableSpec(("time", *space), store_dtype, {"long_name": u_long_name, "units": "1"}),
        },
        coord_attrs={"time": {"units": "1", "long_name": "time", "includes_t0": int(include_initial)}, **coord_attrs},
        attrs={
            **attrs,
            "grf": f"N(0, sigma^2(-lap+tau^2)^-gamma), sigma={sigma}, tau={tau}, gamma={gamma}",
            "includes_t0": int(include_initial),
        },
    )

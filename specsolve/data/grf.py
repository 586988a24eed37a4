"""Gaussian random fields used by the dataset generators (FNO recipes, references/data.md §1)."""

from __future__ import annotations

import numpy as np
import scipy.fft


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """Independent random stream per (dataset seed, global sample index): shards reproduce the unsharded file."""
    return np.random.default_rng([int(seed), int(index)])


def neumann_grf_2d(rng: np.random.Generator, n: int, alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """A sample of N(0, (-Δ + τ²)^-α) with zero-Neumann cosine modes on the vertex grid ``j/(n-1)`` of [0, 1]².

    ``u(x, y) = Σ_k τ^(α-1) (π²|k|² + τ²)^(-α/2) ξ_k cos(π k₁ x) cos(π k₂ y)``, ``k ∈ {0..n-1}²``, mean mode dropped
    (FNO's ``GRF.m``, evaluated on vertices by a type-I inverse DCT).
    """
    k = np.arange(n)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    coef = tau ** (alpha - 1) * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2)
    modes = coef * rng.standard_normal((n, n))
    modes[0, 0] = 0.0
    # DCT-I halves the first and last modes: double them so every cosine has unit weight
    edge = np.ones(n)
    edge[[0, -1]] = 2.0
    modes = modes * edge[:, None] * edge[None, :]
    return scipy.fft.idctn(modes, type=1) * (2 * (n - 1)) ** 2 / 4.0


def periodic_grf_1d(rng: np.random.Generator, n: int, sigma: float, tau: float, gamma: float) -> np.ndarray:
    """A sample of N(0, σ²(-Δ + τ²)^-γ) on the periodic grid ``j/n`` of [0, 1), zero mean (FNO's ``GRF1.m``).

    ``u(x) = Σ_{k≥1} √2 σ ((2πk)² + τ²)^(-γ/2) (ξ_k cos 2πkx + η_k sin 2πkx)``, truncated below the Nyquist mode.
    """
    k = np.arange(1, n // 2)
    amp = np.sqrt(2.0) * sigma * ((2 * np.pi * k) ** 2 + tau**2) ** (-gamma / 2)
    xi, eta = rng.standard_normal(k.size), rng.standard_normal(k.size)
    spectrum = np.zeros(n // 2 + 1, dtype=np.complex128)
    spectrum[1 : n // 2] = 0.5 * n * amp * (xi - 1j * eta)
    return np.fft.irfft(spectrum, n=n)

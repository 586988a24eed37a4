"""Test inputs on the periodic unit square shared by the G-FNO and operator-fidelity tests, and the heat-flow
trajectory files of the window and resume tests."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from specsolve.data.generation import generate_split
from specsolve.data.generators.heat import HeatGenerator


def band_limited(n: int, channels: int, kmax: int = 3, seed: int = 0) -> torch.Tensor:
    """A random trigonometric polynomial (|k_x|, |k_y| <= kmax) sampled on x_j = j / n: (1, C, n, n), float64."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.arange(n, dtype=torch.float64) / n
    xx, yy = torch.meshgrid(x, x, indexing="ij")
    out = torch.zeros(1, channels, n, n, dtype=torch.float64)
    for c in range(channels):
        for kx in range(-kmax, kmax + 1):
            for ky in range(-kmax, kmax + 1):
                a, b = torch.randn(2, generator=gen, dtype=torch.float64)
                phase = 2 * math.pi * (kx * xx + ky * yy)
                out[0, c] += a * torch.cos(phase) + b * torch.sin(phase)
    return out / (2 * kmax + 1)


def heat_trajectories(path: Path, n: int, store_dtype: str) -> Path:
    """``n`` trajectories of 2-D heat flow (κ = 0.01, GRF σ = 1, τ = 2), 16x16, frames every 0.1 from t = 0 to 1."""
    gen = HeatGenerator(
        resolution=16, dim=2, diffusivity=0.01, final_time=1.0, n_frames=10, sigma=1.0, tau=2.0, store_dtype=store_dtype
    )
    return generate_split(gen, path, range(n), seed=0, batch_size=n, provenance={})

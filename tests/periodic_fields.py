"""Test inputs on the periodic unit square shared by the G-FNO and operator-fidelity tests."""

from __future__ import annotations

import math

import torch


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

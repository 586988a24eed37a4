"""Spherical convolution in spherical-harmonic space (Bonev et al., ICML 2023, Sec. 3), on torch-harmonics' SHT.

``v = ISHT(K · SHT(u))`` for fields ``u: (B, I, nlat, nlon)`` on an equiangular (poles included, Clenshaw-Curtis)
or Legendre-Gauss latitude grid, longitudes ``2π j / nlon``. The coefficients ``û[b, i, l, m]`` (``l < L``,
``m < M``, complex) are mixed over channels by

- ``driscoll-healy``: a real weight per degree, ``v̂[o, l, m] = Σ_i K[i, o, l] û[i, l, m]``: the convolution
  theorem of Driscoll & Healy for a zonal (isotropic) real kernel, whose ``m = 0`` coefficients are real, so the
  layer commutes with every rotation of the sphere;
- ``linear``: a complex weight per degree and order, ``v̂[o, l, m] = Σ_i K[i, o, l, m] û[i, l, m]``: anisotropic,
  equivariant only under rotations about the polar axis (a weight per ``m`` commutes with ``û_lm -> e^{-imα} û_lm``).

``modes`` caps ``L = M``; on a grid too coarse for ``modes`` the first degrees/orders the grid resolves are used, so
a trained layer runs on any grid. The transforms are built per grid shape on first use (not parameters).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError

Grid = Literal["equiangular", "legendre-gauss"]
Operator = Literal["driscoll-healy", "linear"]
HARMONICS_HINT = "pip install --no-deps 'torch-harmonics>=0.9.3,<0.10'"


def torch_harmonics() -> Any:
    """The ``torch_harmonics`` module, or a one-line :class:`ConfigError` that says how to install it."""
    try:
        import torch_harmonics as th
    except ImportError as exc:
        raise ConfigError(f"specsolve-sfno needs torch-harmonics ({exc}); install it: {HARMONICS_HINT}") from None
    return th


def grid_truncation(nlat: int, nlon: int, grid: Grid) -> tuple[int, int]:
    """Degrees / orders a grid resolves exactly: ``L = (nlat+1)//2`` (equiangular) or ``nlat`` (Gauss),
    ``M = nlon//2 + 1``."""
    return ((nlat + 1) // 2 if grid == "equiangular" else nlat), nlon // 2 + 1


class SphericalTransforms(nn.Module):
    """Forward / inverse real SHT pairs per ``(nlat, nlon)``, truncated to ``min(modes, grid)``, built on demand."""

    def __init__(self, modes: int, grid: Grid) -> None:
        super().__init__()
        self.modes, self.grid = modes, grid
        self._pairs: dict[tuple[int, int], tuple[nn.Module, nn.Module]] = {}

    def truncation(self, nlat: int, nlon: int) -> tuple[int, int]:
        lmax, mmax = grid_truncation(nlat, nlon, self.grid)
        return min(self.modes, lmax), min(self.modes, mmax, lmax)

    def pair(self, x: Tensor) -> tuple[nn.Module, nn.Module]:
        nlat, nlon = x.shape[-2:]
        if nlat < 2 or nlon < 2:
            raise DataError(f"spherical transforms need a (nlat, nlon) grid of at least 2 x 2, got {(nlat, nlon)}")
        key = (nlat, nlon)
        if key not in self._pairs:
            th = torch_harmonics()
            lmax, mmax = self.truncation(nlat, nlon)
            forward = th.RealSHT(nlat, nlon, lmax=lmax, mmax=mmax, grid=self.grid)
            inverse = th.InverseRealSHT(nlat, nlon, lmax=lmax, mmax=mmax, grid=self.grid)
            self._pairs[key] = (forward, inverse)
        forward, inverse = self._pairs[key]
        return forward.to(x.device), inverse.to(x.device)

    def sht(self, x: Tensor) -> Tensor:
        """``(..., nlat, nlon)`` real -> ``(..., L, M)`` complex, in fp32 or fp64 (never half precision)."""
        forward, _ = self.pair(x)
        return forward(x.float() if x.dtype not in (torch.float32, torch.float64) else x)

    def isht(self, coeffs: Tensor, like: Tensor) -> Tensor:
        """``(..., L, M)`` complex -> ``(..., nlat, nlon)`` real on the grid of ``like``."""
        _, inverse = self.pair(like)
        return inverse(coeffs)


class SphericalConv(nn.Module):
    """``v = ISHT(K · SHT(u))``: ``(B, in_channels, nlat, nlon) -> (B, out_channels, nlat, nlon)``.

    ``operator`` is ``driscoll-healy`` (real ``K[i, o, l]``, rotation equivariant) or ``linear`` (complex
    ``K[i, o, l, m]``); weights ``N(0, 1/in_channels)`` (real and imaginary parts each ``1/(2 in_channels)``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int,
        operator: Operator = "driscoll-healy",
        grid: Grid = "equiangular",
    ) -> None:
        super().__init__()
        if modes < 1 or in_channels < 1 or out_channels < 1:
            raise ConfigError("spherical conv: modes, in_channels and out_channels must be >= 1")
        if operator not in ("driscoll-healy", "linear"):
            raise ConfigError(f"spherical conv: operator must be 'driscoll-healy' or 'linear', got {operator!r}")
        if grid not in ("equiangular", "legendre-gauss"):
            raise ConfigError(f"spherical conv: grid must be 'equiangular' or 'legendre-gauss', got {grid!r}")
        torch_harmonics()  # fail at construction, with the install hint, not at the first forward
        self.operator, self.modes = operator, modes
        self.transforms = SphericalTransforms(modes, grid)
        std = in_channels**-0.5
        if operator == "driscoll-healy":
            self.weight = nn.Parameter(std * torch.randn(in_channels, out_channels, modes))
        else:  # real / imaginary parts in a trailing axis of 2 (plain real parameters for optimisers and checkpoints)
            self.weight = nn.Parameter(std / 2**0.5 * torch.randn(in_channels, out_channels, modes, modes, 2))

    def forward(self, x: Tensor) -> Tensor:
        coeffs = self.transforms.sht(x)  # (B, I, L, M)
        lmax, mmax = coeffs.shape[-2:]
        if self.operator == "driscoll-healy":
            weight = self.weight[:, :, :lmax].to(coeffs.real.dtype)
            mixed = torch.einsum("bilm,iol->bolm", coeffs, weight.to(coeffs.dtype))
        else:
            weight = torch.view_as_complex(self.weight[:, :, :lmax, :mmax].to(coeffs.real.dtype).contiguous())
            mixed = torch.einsum("bilm,iolm->bolm", coeffs, weight)
        return self.transforms.isht(mixed, x).to(x.dtype)

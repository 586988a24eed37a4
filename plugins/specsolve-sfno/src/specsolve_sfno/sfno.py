"""Spherical Fourier Neural Operator (Bonev et al., "Spherical Fourier Neural Operators: Learning Stable Dynamics
on the Sphere", ICML 2023), on torch-harmonics' spherical harmonic transforms."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve_sfno.spherical_conv import Grid, Operator, SphericalConv

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


def pointwise_mlp(in_channels: int, hidden: int, out_channels: int, activation: str) -> nn.Sequential:
    """``Conv1x1(in, hidden) -> act -> Conv1x1(hidden, out)`` on ``(B, C, nlat, nlon)``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 1), ACTIVATIONS[activation](), nn.Conv2d(hidden, out_channels, 1)
    )


def latitude_features(x: Tensor, grid: Grid) -> Tensor:
    """``(sin φ, cos φ)`` of the grid latitudes ``φ`` (north to south) broadcast to ``(B, 2, nlat, nlon)``."""
    nlat, nlon = x.shape[-2:]
    if grid == "equiangular":
        latitude = torch.linspace(torch.pi / 2, -torch.pi / 2, nlat, dtype=torch.float64)
    else:  # torch-harmonics' Gauss latitudes: -arcsin of the ascending Gauss-Legendre nodes
        latitude = -torch.arcsin(torch.from_numpy(np.polynomial.legendre.leggauss(nlat)[0]))
    latitude = latitude.to(device=x.device, dtype=x.dtype)
    features = torch.stack([latitude.sin(), latitude.cos()])[:, :, None].expand(2, nlat, nlon)
    return features.unsqueeze(0).expand(x.shape[0], -1, -1, -1)


class SFNOBlock(nn.Module):
    """``v = act(K x + W x)``, ``x <- x + MLP(v)``: spherical convolution ``K``, the inner 1x1 skip ``W``, a
    pointwise MLP (``mlp_ratio`` times wider) and the outer residual skip (the paper's Fig. 2 block, no norms)."""

    def __init__(self, width: int, modes: int, operator: Operator, grid: Grid, mlp_ratio: float, activation: str):
        super().__init__()
        self.conv = SphericalConv(width, width, modes, operator, grid)
        self.skip = nn.Conv2d(width, width, 1)
        self.act = ACTIVATIONS[activation]()
        self.mlp = pointwise_mlp(width, max(1, round(mlp_ratio * width)), width, activation)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mlp(self.act(self.conv(x) + self.skip(x)))


class SphericalFNO(nn.Module):
    """Spherical FNO on lat-lon fields ``(B, in_channels, nlat, nlon) -> (B, out_channels, nlat, nlon)``.

    Lift with a pointwise MLP ``in (+2) -> width``; ``layers`` SFNO blocks (:class:`SFNOBlock`) whose spherical
    convolution ``ISHT(K · SHT(·))`` keeps degrees and orders ``< modes``; project with a pointwise MLP
    ``width -> projection_hidden -> out``; ``big_skip`` adds a 1x1 map of the input to the output (state-to-state
    steps learn the increment). ``operator``: ``driscoll-healy`` (real weights per degree ``l``: rotation
    equivariant, the paper's isotropic kernel) or ``linear`` (complex weights per ``(l, m)``); both commute with
    shifts in longitude. ``pos_embed="latitude"`` appends ``(sin φ, cos φ)`` to the input (a latitude-only
    embedding keeps the longitude equivariance; the dynamics of a rotating sphere depend on latitude through the
    Coriolis parameter). Latitudes run north to south on an ``equiangular`` grid (poles included) or a
    ``legendre-gauss`` grid; no down-sampling between blocks, so the model runs on any grid.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int = 16,
        width: int = 32,
        layers: int = 4,
        operator: Literal["driscoll-healy", "linear"] = "driscoll-healy",
        grid: Literal["equiangular", "legendre-gauss"] = "equiangular",
        pos_embed: Literal["none", "latitude"] = "latitude",
        mlp_ratio: float = 2.0,
        projection_hidden: int = 64,
        big_skip: bool = True,
        activation: Literal["gelu", "relu"] = "gelu",
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels, modes, width, layers, projection_hidden) < 1 or mlp_ratio <= 0:
            raise ConfigError("spherical_fno: channels, modes, width, layers, projection_hidden must be >= 1")
        if pos_embed not in ("none", "latitude"):
            raise ConfigError(f"spherical_fno: pos_embed must be 'none' or 'latitude', got {pos_embed!r}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"spherical_fno: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.grid, self.pos_embed = grid, pos_embed
        lift_in = in_channels + (2 if pos_embed == "latitude" else 0)
        self.lift = pointwise_mlp(lift_in, width, width, activation)
        self.blocks = nn.ModuleList(
            SFNOBlock(width, modes, operator, grid, mlp_ratio, activation) for _ in range(layers)
        )
        self.project = pointwise_mlp(width, projection_hidden, out_channels, activation)
        self.input_skip = nn.Conv2d(in_channels, out_channels, 1, bias=False) if big_skip else None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise DataError(f"spherical_fno expects (batch, channels, nlat, nlon), got shape {tuple(x.shape)}")
        h = x if self.pos_embed == "none" else torch.cat([x, latitude_features(x, self.grid)], dim=1)
        h = self.lift(h)
        for block in self.blocks:
            h = block(h)
        out = self.project(h)
        return out if self.input_skip is None else out + self.input_skip(x)

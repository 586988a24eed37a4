"""Group Equivariant Fourier Neural Operator, space-time 3D variant (Helwig et al., ICML 2023).

Fields ``(B, C, H, W, T)`` with time last: the group (``p4`` or ``p4m``) acts on the spatial plane ``(H, W)``
only and time is the rfft axis. As in FNO-3D for Navier-Stokes, the ``T_in`` input steps are given as
``in_channels`` repeated along the output time axis by the data pipeline. Conventions in
:mod:`specsolve.nn.group_conv`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.models.gfno import symmetric_grid
from specsolve.nn.group_conv import (
    GMLP,
    GROUP_ORDERS,
    GConv1x1,
    gather_centered,
    hermitian_plane_kernel,
    hermitian_plane_parameters,
    input_permutation,
    real_to_complex,
    scatter_centered,
    spectral_parameter,
    spectral_real_dtype,
    stack_group_copies,
    transform,
)
from specsolve.registry import register


class GSpectralConv3d(nn.Module):
    """Group-equivariant space-time spectral convolution ``(B, I|G|, H, W, T) -> (B, O|G|, H, W, T)``.

    Base kernel ``K[o, i, h]`` on ``ky, kx in [-(m-1), m-1]``, ``kt in [0, mt)`` (the rfft half of a kernel that
    is Hermitian over ``(ky, kx, kt)``): the ``kt = 0`` plane is a 2-D Hermitian kernel (``(2m-1)^2`` reals:
    ``weight_y0``, ``weight_dc``, ``weight_half``), ``kt > 0`` is free complex (``weight_t``); in all
    ``(2m-1)^2 (2 mt - 1)`` reals per ``(o, i, h)``. Output copy ``g`` uses ``T_g K[o, i, g^{-1} h]`` with ``T_g`` on
    ``(ky, kx)``; applied as ``irfftn(W . rfftn(x))`` over ``(H, W, T)``. Rebuilt on every call.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int, time_modes: int, group: str) -> None:
        super().__init__()
        self.modes, self.time_modes = modes, time_modes
        self.order = GROUP_ORDERS[group]
        base = (out_channels, in_channels, self.order)
        m, mt = modes, time_modes
        self.weight_y0, self.weight_dc, self.weight_half = hermitian_plane_parameters(base, m)
        self.weight_t = spectral_parameter(base, 2 * m - 1, 2 * m - 1, mt - 1)
        self.register_buffer("perm", input_permutation(group), persistent=False)

    def kernel(self, real_dtype: torch.dtype) -> Tensor:
        """Expanded kernel ``(O|G|, I|G|, 2m-1, 2m-1, mt)`` complex (``ky, kx`` centred, ``kt = 0..mt-1``)."""
        plane = hermitian_plane_kernel(self.weight_y0, self.weight_dc, self.weight_half, real_dtype)
        base = torch.cat([plane.unsqueeze(-1), real_to_complex(self.weight_t, real_dtype)], dim=-1)
        copies = [transform(base[:, :, self.perm[g]], g, (-3, -2)) for g in range(self.order)]
        return stack_group_copies(copies)  # (O|G|, I|G|, 2m-1, 2m-1, mt)

    def forward(self, x: Tensor) -> Tensor:
        height, width, steps = x.shape[-3:]
        m, mt = self.modes, self.time_modes
        if 2 * m - 1 > min(height, width) or mt > steps // 2 + 1:
            raise DataError(
                f"gfno3d with modes={m}, time_modes={mt} needs at least {2 * m - 1} points per spatial axis and "
                f"{2 * mt - 2} time steps, got {height}x{width}x{steps}"
            )
        with torch.autocast(device_type=x.device.type, enabled=False):
            real_dtype = spectral_real_dtype(x)
            x_ft = torch.fft.rfftn(x.to(real_dtype), dim=(-3, -2, -1))
            block = gather_centered(gather_centered(x_ft[..., :mt], dim=-3, m=m), dim=-2, m=m)
            mixed = torch.einsum("bixyt,oixyt->boxyt", block, self.kernel(real_dtype))
            out_ft = x_ft.new_zeros(x.shape[0], mixed.shape[1], height, width, steps // 2 + 1)
            rows = x_ft.new_zeros(x.shape[0], mixed.shape[1], 2 * m - 1, width, mt)
            scatter_centered(rows, mixed, dim=-2, m=m)
            scatter_centered(out_ft.narrow(-1, 0, mt), rows, dim=-3, m=m)
            out = torch.fft.irfftn(out_ft, s=(height, width, steps), dim=(-3, -2, -1))
        return out.to(x.dtype) if x.dtype in (torch.float16, torch.bfloat16) else out


def space_time_grid(shape: tuple[int, int, int], batch: int, like: Tensor) -> Tensor:
    """Invariant features ``(x-1/2)^2 + (y-1/2)^2`` and ``t`` on ``linspace(0, 1, n)`` axes: ``(B, 2, H, W, T)``."""
    height, width, steps = shape
    r2 = symmetric_grid((height, width), 1, like)[0, 0, :, :, None].expand(height, width, steps)
    t = torch.linspace(0.0, 1.0, steps, device=like.device, dtype=like.dtype).expand(height, width, steps)
    return torch.stack([r2, t]).expand(batch, 2, height, width, steps)


@register("model", "gfno3d")
class GFNO3d(nn.Module):
    """G-FNO space-time 3D: ``(B, in_channels, H, W, T) -> (B, out_channels, H, W, T)``, equivariant to ``group``
    acting on ``(H, W)`` (square periodic plane, ``2 * modes - 1 <= n``).

    Structure: append invariant grid features (``grid="symmetric"``: ``(x-1/2)^2 + (y-1/2)^2`` and ``t``); 1x1
    lifting group convolution to ``width`` regular channels; optional zero padding of ``time_pad`` steps at the
    end of time (cropped before projecting); ``layers`` layers ``x <- GELU(GMLP(GSpectralConv3d(x)) +
    GConv1x1(x))`` (no GELU after the last, no GNorm in 3D); GMLP projection (hidden ``4 * width``) ending in
    group pooling. Paper sizes (modes 8, time_modes 6, in 10): p4 width 11 ~ 4.80 M, p4m width 7 ~ 3.89 M.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int = 8,
        time_modes: int = 6,
        width: int = 11,
        layers: int = 4,
        group: Literal["p4", "p4m"] = "p4",
        grid: Literal["symmetric", "none"] = "symmetric",
        time_pad: int = 0,
    ) -> None:
        super().__init__()
        if group not in GROUP_ORDERS:
            raise ConfigError(f"gfno3d: group must be 'p4' or 'p4m', got {group!r}")
        if grid not in ("symmetric", "none"):
            raise ConfigError(f"gfno3d: grid must be 'symmetric' or 'none', got {grid!r}")
        if min(in_channels, out_channels, modes, time_modes, width, layers) < 1 or time_pad < 0:
            raise ConfigError("gfno3d: channels, modes, time_modes, width and layers must be positive, time_pad >= 0")
        self.grid, self.order, self.time_pad = grid, GROUP_ORDERS[group], time_pad
        lift_in = in_channels + (2 if grid == "symmetric" else 0)
        self.lift = GConv1x1(lift_in, width, group, "lift")
        self.spectral = nn.ModuleList(GSpectralConv3d(width, width, modes, time_modes, group) for _ in range(layers))
        self.mlp = nn.ModuleList(GMLP(width, width, width, group) for _ in range(layers))
        self.pointwise = nn.ModuleList(GConv1x1(width, width, group, "regular") for _ in range(layers))
        self.project = GMLP(width, out_channels, 4 * width, group, last_layer=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise DataError(f"gfno3d expects (batch, channels, H, W, T), got shape {tuple(x.shape)}")
        steps = x.shape[-1]
        if self.grid == "symmetric":
            x = torch.cat([x, space_time_grid(tuple(x.shape[-3:]), x.shape[0], x)], dim=1)
        x = self.lift(x)
        if self.time_pad:
            x = F.pad(x, [0, self.time_pad])
        for i, (spectral, mlp, pointwise) in enumerate(zip(self.spectral, self.mlp, self.pointwise)):
            x = mlp(spectral(x)) + pointwise(x)
            if i < len(self.spectral) - 1:
                x = F.gelu(x)
        if self.time_pad:
            x = x[..., :steps]
        return self.project(x)

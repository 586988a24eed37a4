"""Group Equivariant Fourier Neural Operator, 2D (Helwig et al., "Group Equivariant Fourier Neural Operators
for Partial Differential Equations", ICML 2023), written from the paper's equations.

Equivariant to 90-degree rotations (``p4``) or rotations and reflections (``p4m``) of a square periodic grid:
``model(T x) = T model(x)`` for ``T`` in the group acting on the last two axes (the output is an invariant,
i.e. scalar, field per channel). Group conventions and the regular-representation layout are in
:mod:`specsolve.nn.group_conv`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.nn.group_conv import (
    GMLP,
    GROUP_ORDERS,
    GConv1x1,
    gather_centered,
    gelu_,
    group_norm,
    hermitian_plane_kernel,
    hermitian_plane_parameters,
    inference_cached,
    input_permutation,
    scatter_centered,
    spectral_real_dtype,
    stack_group_copies,
    transform,
)
from specsolve.nn.spectral_conv import complex_mode_matmul, mode_matmul_weight, truncated_irfftn, truncated_rfftn
from specsolve.registry import register


def symmetric_grid(spatial: tuple[int, int], batch: int, like: Tensor) -> Tensor:
    """Rotation/reflection-invariant feature ``(x - 1/2)^2 + (y - 1/2)^2`` on ``linspace(0, 1, n)`` axes:
    ``(B, 1, H, W)``. Invariant under ``rot90``/``flip`` of a square array (symmetric about the array centre)."""
    y, x = (torch.linspace(0.0, 1.0, n, device=like.device, dtype=like.dtype) for n in spatial)
    r2 = (y[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2
    return r2.expand(batch, 1, *spatial)


class GSpectralConv2d(nn.Module):
    """Group-equivariant spectral convolution on regular fields ``(B, I|G|, H, W) -> (B, O|G|, H, W)``.

    Base kernel ``K[o, i, h]``: a Hermitian Fourier kernel on ``ky, kx in [-(m-1), m-1]`` (odd ``(2m-1)^2`` block,
    closed under 90-degree rotation; real inverse DFT), parameterised by its ``kx >= 0`` half: ``weight_y0``
    (``kx = 0, ky = 1..m-1``, complex), ``weight_dc`` (real) and ``weight_half`` (``kx = 1..m-1``, complex), i.e.
    ``(2m-1)^2`` reals per ``(o, i, h)``. Output copy ``g`` uses ``T_g K[o, i, g^{-1} h]`` with ``T_g`` acting on
    ``(ky, kx)``; the kernel is cropped back to ``kx in [0, m)`` and applied as ``irfft2(W . rfft2(x))``.
    On CPU the two transforms are the truncated DFTs of :mod:`specsolve.nn.spectral_conv` (the same map by
    matrix products, on the kept modes only), elsewhere FFTs. The expanded kernel is rebuilt on every call with
    autograd on and reused without it while the parameters are unchanged (:func:`inference_cached`).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int, group: str) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.modes = in_channels, out_channels, modes
        self.order = GROUP_ORDERS[group]
        base = (out_channels, in_channels, self.order)
        m = modes
        self.weight_y0, self.weight_dc, self.weight_half = hermitian_plane_parameters(base, m)
        self.register_buffer("perm", input_permutation(group), persistent=False)

    def kernel(self, real_dtype: torch.dtype) -> Tensor:
        """Expanded kernel ``(O|G|, I|G|, 2m-1, m)`` complex, rows ``ky = -(m-1)..m-1``, columns ``kx = 0..m-1``."""
        # base (O, I, h, 2m-1, 2m-1)
        base = hermitian_plane_kernel(self.weight_y0, self.weight_dc, self.weight_half, real_dtype)
        copies = [transform(base[:, :, self.perm[g]], g, (-2, -1)) for g in range(self.order)]
        return stack_group_copies(copies)[..., self.modes - 1 :]

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        m = self.modes
        if 2 * m - 1 > min(height, width):
            raise DataError(
                f"gfno with modes={m} needs grids of at least {2 * m - 1} points per axis, got {height}x{width}"
            )
        with torch.autocast(device_type=x.device.type, enabled=False):
            real_dtype = spectral_real_dtype(x)

            def build() -> tuple[Tensor, Tensor]:
                kernel = torch.view_as_real(self.kernel(real_dtype).transpose(0, 1))  # (I|G|, O|G|, 2m-1, m, 2)
                return kernel, mode_matmul_weight(kernel)

            kernel, right = inference_cached(self, (real_dtype,), build)
            if x.device.type == "cpu":
                # rows 0..m-1, -m..-1 of the truncated DFT; the block uses -(m-1)..m-1 (row -m is dropped / zero)
                spectrum = truncated_rfftn(x.to(real_dtype), [m, m])  # (B, I|G|, 2m, 2m), last axis [Re | Im]
                block = torch.cat([spectrum[..., m + 1 :, :], spectrum[..., :m, :]], dim=-2)
                mixed = complex_mode_matmul(block, kernel, right)  # (B, O|G|, 2m-1, 2m)
                zero = mixed.new_zeros(*mixed.shape[:2], 1, mixed.shape[-1])
                out = truncated_irfftn(
                    torch.cat([mixed[..., m - 1 :, :], zero, mixed[..., : m - 1, :]], dim=-2), [m, m], (height, width)
                )
                return out.to(x.dtype) if x.dtype in (torch.float16, torch.bfloat16) else out
            x_ft = torch.fft.rfft2(x.to(real_dtype))
            block = gather_centered(x_ft[..., :m], dim=-2, m=m)  # (B, I|G|, 2m-1, m)
            # mixed[b, o] = sum_i block[b, i] K[o, i] per mode, as one real bmm (CPU complex bmm loops over modes)
            mixed = complex_mode_matmul(torch.cat([block.real, block.imag], dim=-1), kernel, right)
            mixed = torch.complex(mixed[..., :m], mixed[..., m:])  # (B, O|G|, 2m-1, m)
            out_ft = x_ft.new_zeros(x.shape[0], mixed.shape[1], height, width // 2 + 1)
            scatter_centered(out_ft.narrow(-1, 0, m), mixed, dim=-2, m=m)
            out = torch.fft.irfft2(out_ft, s=(height, width))
        return out.to(x.dtype) if x.dtype in (torch.float16, torch.bfloat16) else out


@register("model", "gfno")
class GFNO(nn.Module):
    """G-FNO 2D: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``, equivariant to ``group`` on square grids.

    Structure (paper/official design): append the invariant grid feature (``grid="symmetric"``); lift with a 1x1
    group convolution to ``width`` regular channels (layout ``(c, g)``, ``g`` fastest); ``layers`` G-Fourier
    layers ``x <- GELU(GMLP(GNorm(GSpectralConv(GNorm(x)))) + GConv1x1(x))`` (no GELU after the last; GMLP hidden
    = width; GNorm = instance norm over ``(g, H, W)`` per channel); project with a GMLP (hidden ``4 * width``)
    whose last 1x1 layer pools over the group, giving invariant outputs. For NS, ``in_channels`` = T_in = 10.
    Paper sizes: p4 width 10 -> 853,121 parameters, p4m width 7 -> 835,969 (modes 12, in 10, out 1).
    Equivariance needs a square periodic grid with ``2 * modes - 1 <= n``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int = 12,
        width: int = 10,
        layers: int = 4,
        group: Literal["p4", "p4m"] = "p4",
        grid: Literal["symmetric", "none"] = "symmetric",
    ) -> None:
        super().__init__()
        if group not in GROUP_ORDERS:
            raise ConfigError(f"gfno: group must be 'p4' or 'p4m', got {group!r}")
        if grid not in ("symmetric", "none"):
            raise ConfigError(f"gfno: grid must be 'symmetric' or 'none', got {grid!r}")
        if min(in_channels, out_channels, modes, width, layers) < 1:
            raise ConfigError("gfno: in_channels, out_channels, modes, width and layers must be positive")
        self.group, self.grid, self.order = group, grid, GROUP_ORDERS[group]
        lift_in = in_channels + (1 if grid == "symmetric" else 0)
        self.lift = GConv1x1(lift_in, width, group, "lift")
        self.spectral = nn.ModuleList(GSpectralConv2d(width, width, modes, group) for _ in range(layers))
        self.mlp = nn.ModuleList(GMLP(width, width, width, group) for _ in range(layers))
        self.pointwise = nn.ModuleList(GConv1x1(width, width, group, "regular") for _ in range(layers))
        self.project = GMLP(width, out_channels, 4 * width, group, last_layer=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise DataError(f"gfno expects (batch, channels, H, W), got shape {tuple(x.shape)}")
        if self.grid == "symmetric":
            x = torch.cat([x, symmetric_grid(tuple(x.shape[-2:]), x.shape[0], x)], dim=1)
        x = self.lift(x)
        for i, (spectral, mlp, pointwise) in enumerate(zip(self.spectral, self.mlp, self.pointwise)):
            x1 = mlp(group_norm(spectral(group_norm(x, self.order)), self.order))
            x = pointwise.add_into(x1, x)  # x1 + pointwise(x), in place (x1 is the result of the MLP's last product)
            if i < len(self.spectral) - 1:
                x = gelu_(x)
        return self.project(x)

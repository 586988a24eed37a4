"""Fourier Neural Operator (Li et al., ICLR 2021), faithful to the paper's final (Aug 2021) code."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.nn.checkpointing import checkpointed
from specsolve.nn.spectral_conv import SpectralConv
from specsolve.registry import register

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


def grid_features(shape: tuple[int, ...], batch: int, like: Tensor) -> Tensor:
    """Coordinates ``linspace(0, 1, n)`` (endpoint included) per axis: ``(B, d, *shape)``."""
    axes = [torch.linspace(0.0, 1.0, n, device=like.device, dtype=like.dtype) for n in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(mesh).unsqueeze(0).expand(batch, -1, *shape)


def channel_linear(linear: nn.Linear, x: Tensor) -> Tensor:
    """``linear`` over the channel axis of a channels-first field, ``(B, I, *S) -> (B, O, *S)``.

    Computed as ``W @ x[b]`` on the contiguous ``(I, prod S)`` slabs: no channels-last copy of the field and a
    channels-first result (``Linear`` on ``x.movedim(1, -1)`` copies the input and returns a strided output that
    slows every later elementwise op).
    """
    batch, spatial = x.shape[0], x.shape[2:]
    out = torch.bmm(linear.weight.expand(batch, -1, -1), x.reshape(batch, x.shape[1], -1))
    if linear.bias is not None:
        out.add_(linear.bias.unsqueeze(-1))  # in place: keeps the (autocast) dtype of the product, as Linear does
    return out.view(batch, -1, *spatial)


class PointwiseLinear(nn.Module):
    """A 1x1 convolution on channels-first fields of any dimension: ``(B, I, *S) -> (B, O, *S)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return channel_linear(self.linear, x)

    def add_to(self, y: Tensor, x: Tensor) -> Tensor:
        """``y + self(x)`` as one ``baddbmm`` (no temporary field for the product) when ``y`` is a contiguous
        tensor of ``x``'s dtype and autocast is off; the generic sum otherwise."""
        lin = self.linear
        same_dtype = y.dtype == x.dtype == lin.weight.dtype
        if torch.is_autocast_enabled(x.device.type) or not y.is_contiguous() or not same_dtype:
            return y + self(x)
        batch = x.shape[0]
        flat_x = x.reshape(batch, x.shape[1], -1)
        out = torch.baddbmm(y.view(batch, y.shape[1], -1), lin.weight.expand(batch, -1, -1), flat_x)
        if lin.bias is not None:
            out.add_(lin.bias.unsqueeze(-1))
        return out.view_as(y)


@register("model", "fno")
class FNO(nn.Module):
    """Fourier Neural Operator for 1-, 2- and 3-D fields ``(B, in_channels, *S) -> (B, out_channels, *S)``.

    Structure (paper code): append grid coordinates (``grid_features``); lift ``P = Linear(in + d, width)``;
    ``layers`` Fourier layers ``v <- act(K v + W v)`` with ``K`` a :class:`SpectralConv` keeping ``modes[i]`` modes
    per dimension (2m x m in 2D) and ``W`` a 1x1 convolution with bias, no activation after the last; project with
    ``Linear(width, projection_hidden) -> act -> Linear(projection_hidden, out)``. ``padding`` zero-pads each
    spatial axis on the right after lifting (for non-periodic data; 9 for Darcy) and crops before projecting.

    Paper-era options, off by default: ``batch_norm`` puts a BatchNorm after each ``K v + W v`` sum, before the
    activation (the torch-1.6 ``fourier_2d_time.py`` / ``fourier_3d.py`` scripts; the paper's NS parameter counts
    414,517 and 6,558,537 include it); ``padding_axes`` lists the spatial axes (0-based) that ``padding`` applies to,
    e.g. ``[2]`` for FNO-3D on ``(x, y, t)``, which pads time only (default: every axis).

    ``activation_checkpointing``: each Fourier layer and the projection keep only their input for the backward
    pass and are recomputed there (:mod:`specsolve.nn.checkpointing`; with ``batch_norm`` only ``K v + W v``, so that the running
    statistics are updated once): same outputs, gradients and state dict, less activation memory.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: list[int],
        width: int = 32,
        layers: int = 4,
        projection_hidden: int = 128,
        padding: int = 0,
        grid: bool = True,
        activation: Literal["gelu", "relu"] = "gelu",
        batch_norm: bool = False,
        padding_axes: list[int] | None = None,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if not 1 <= len(modes) <= 3:
            raise ConfigError(f"fno: modes must list 1, 2 or 3 per-dimension mode counts, got {modes}")
        if any(m < 1 for m in modes) or width < 1 or layers < 1 or padding < 0:
            raise ConfigError("fno: modes, width and layers must be positive and padding non-negative")
        self.ndim = len(modes)
        self.modes = list(modes)
        self.padding = padding
        self.activation_checkpointing = activation_checkpointing
        axes = list(range(self.ndim)) if padding_axes is None else list(padding_axes)
        if not axes or len(set(axes)) != len(axes) or any(not 0 <= a < self.ndim for a in axes):
            raise ConfigError(
                f"fno: padding_axes must list distinct spatial axes in 0..{self.ndim - 1}, got {padding_axes}"
            )
        # F.pad's [left, right] pairs run from the last axis backwards
        self._pad = [p for a in reversed(range(self.ndim)) for p in (0, padding if a in axes else 0)]
        self.grid = grid
        lift_in = in_channels + (self.ndim if grid else 0)
        self.lift = nn.Linear(lift_in, width)
        self.spectral = nn.ModuleList(SpectralConv(width, width, modes) for _ in range(layers))
        self.pointwise = nn.ModuleList(PointwiseLinear(width, width) for _ in range(layers))
        if batch_norm:
            norm = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[self.ndim - 1]
            self.norms = nn.ModuleList(norm(width) for _ in range(layers))
        else:
            self.norms = None
        self.act = ACTIVATIONS[activation]()
        self.project_hidden = nn.Linear(width, projection_hidden)
        self.project_out = nn.Linear(projection_hidden, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != self.ndim + 2:
            raise DataError(
                f"fno with {self.ndim}-D modes expects (batch, channels, {self.ndim} spatial axes), got shape "
                f"{tuple(x.shape)}"
            )
        spatial = tuple(x.shape[2:])
        if self.grid:
            x = torch.cat([x, grid_features(spatial, x.shape[0], x)], dim=1)
        x = channel_linear(self.lift, x)
        if self.padding:
            x = F.pad(x, self._pad)
        for i in range(len(self.spectral)):
            if self.norms is None:
                x = checkpointed(self.activation_checkpointing, self.fourier_layer, i, x)
            else:  # the norm outside the recomputed part: its running statistics see each batch once
                x = checkpointed(self.activation_checkpointing, self.fourier_layer, i, x, False)
                x = self.norms[i](x)
                x = self.act(x) if i < len(self.spectral) - 1 else x
        if self.padding:
            x = x[(..., *[slice(0, n) for n in spatial])]  # a no-op on the axes left unpadded
        return checkpointed(self.activation_checkpointing, self.project_batch, x)

    def project_batch(self, x: Tensor) -> Tensor:
        """:meth:`project` of a batch; on CPU sample by sample: the ``(projection_hidden, *S)`` intermediates stay
        small enough to be reused by the allocator (a batch-sized one is a fresh mmap, page-faulted on every step)
        and to stay in cache."""
        if x.device.type != "cpu":
            return self.project(x)
        return torch.cat([self.project(sample) for sample in x.split(1)])

    def fourier_layer(self, i: int, x: Tensor, activate: bool = True) -> Tensor:
        """Fourier layer ``i``: ``K v + W v``, then the activation (not after the last layer, nor with ``activate``
        false)."""
        x = self.pointwise[i].add_to(self.spectral[i](x), x)
        return self.act(x) if activate and i < len(self.spectral) - 1 else x

    def project(self, x: Tensor) -> Tensor:
        """Projection ``Q = Linear(width, projection_hidden) -> act -> Linear(projection_hidden, out)``."""
        return channel_linear(self.project_out, self.act(channel_linear(self.project_hidden, x)))

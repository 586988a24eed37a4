"""A classic 2-D U-Net (Ronneberger et al. 2015) as a field-to-field baseline.

Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``, channels first. Any ``H, W`` works: the input is
padded on the bottom/right up to a multiple of ``2**depth`` and the output cropped back.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specsolve.errors import ConfigError

Norm = Literal["group", "batch", "none"]
PadMode = Literal["replicate", "reflect", "circular", "zeros"]


def _norm(kind: Norm, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class DoubleConv(nn.Sequential):
    """``(conv3x3 -> norm -> ReLU) x 2``, zero 'same' padding."""

    def __init__(self, in_channels: int, out_channels: int, norm: Norm) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            _norm(norm, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            _norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )


class UNet2d(nn.Module):
    """Classic 2-D U-Net: ``depth`` 2x max-pool downsamplings, transposed-conv upsampling, skip concatenation.

    Level ``l`` (0..depth) has ``base_width * 2**l`` channels; the output is a 1x1 convolution of level 0.

    Parameters
    ----------
    in_channels, out_channels : channels of the input and output fields.
    base_width : channels at full resolution.
    depth : number of downsamplings (the grid is padded to a multiple of ``2**depth``, then cropped back).
    norm : normalisation after each convolution; ``group`` (GroupNorm, gcd(8, C) groups) is per sample.
    pad_mode : how the grid is padded to a multiple of ``2**depth`` (``circular`` for periodic fields).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_width: int = 16,
        depth: int = 3,
        norm: Norm = "group",
        pad_mode: PadMode = "replicate",
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ConfigError(f"unet2d: in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}")
        if base_width < 1:
            raise ConfigError(f"unet2d: base_width must be >= 1, got {base_width}")
        if depth < 1:
            raise ConfigError(f"unet2d: depth must be >= 1, got {depth}")
        self.depth = depth
        self.pad_mode = pad_mode
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(in_channels, widths[0], norm)])
        self.down.extend(DoubleConv(widths[level - 1], widths[level], norm) for level in range(1, depth + 1))
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(widths[level], widths[level - 1], kernel_size=2, stride=2)
            for level in range(depth, 0, -1)
        )
        self.up = nn.ModuleList(
            DoubleConv(2 * widths[level - 1], widths[level - 1], norm) for level in range(depth, 0, -1)
        )
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"unet2d expects (batch, channels, H, W), got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            mode = "constant" if self.pad_mode == "zeros" else self.pad_mode
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for upsample, block in zip(self.upsample, self.up):
            x = block(torch.cat([skips.pop(), upsample(x)], dim=1))
        return self.head(x)[..., :height, :width]

"""Fourier-space convolution of FNO (Li et al. 2021) for 1, 2 and 3 spatial dims.

``K v = irfftn(R · rfftn(v))`` with ``R`` a complex weight on the kept low modes: modes ``[0, m)`` and
``[-m, 0)`` on every axis but the last, ``[0, m)`` on the last (the rfft axis); every other frequency is zeroed.
This is the paper's per-dimension ``modes=m`` (2m x m in 2D), not neuraloperator's total count.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from specsolve.errors import DataError


class SpectralConv(nn.Module):
    """Spectral convolution ``(B, I, *S) -> (B, O, *S)`` keeping ``modes[d]`` modes per dimension.

    Weights are stored as real tensors ``(I, O, 2m_1, ..., 2m_{d-1}, m_d, 2)`` (real, imaginary parts),
    initialised ``scale * U[0, 1)`` with ``scale = 1 / (I * O)`` as in the paper's code. FFTs run in fp32
    (or fp64 for double inputs) even under autocast.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: list[int]) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = list(modes)
        shape = [2 * m for m in self.modes[:-1]] + [self.modes[-1]]
        scale = 1.0 / (in_channels * out_channels)
        self.weight = nn.Parameter(scale * torch.rand(in_channels, out_channels, *shape, 2))

    @property
    def ndim(self) -> int:
        return len(self.modes)

    def check_grid(self, spatial: tuple[int, ...]) -> None:
        for axis, (n, m) in enumerate(zip(spatial[:-1], self.modes[:-1])):
            if 2 * m > n:
                raise DataError(f"FNO keeps 2*{m} modes on spatial axis {axis} but the grid has only {n} points")
        if self.modes[-1] > spatial[-1] // 2 + 1:
            raise DataError(
                f"FNO keeps {self.modes[-1]} modes on the last spatial axis but a grid of {spatial[-1]} points "
                f"has only {spatial[-1] // 2 + 1}"
            )

    def _corner_slices(self) -> list[tuple[tuple[slice, ...], tuple[slice, ...]]]:
        """(slice into the full spectrum, slice into the kept block) for each +/- corner of the kept modes."""
        corners = []
        for signs in itertools.product((0, 1), repeat=self.ndim - 1):
            full, block = [], []
            for sign, m in zip(signs, self.modes[:-1]):
                full.append(slice(0, m) if sign == 0 else slice(-m, None))
                block.append(slice(0, m) if sign == 0 else slice(m, 2 * m))
            full.append(slice(0, self.modes[-1]))
            block.append(slice(0, self.modes[-1]))
            corners.append((tuple(full), tuple(block)))
        return corners

    def forward(self, x: Tensor) -> Tensor:
        spatial = tuple(x.shape[2:])
        if len(spatial) != self.ndim:
            raise DataError(f"spectral convolution with {self.ndim}-D modes got a {len(spatial)}-D field")
        self.check_grid(spatial)
        dims = tuple(range(2, 2 + self.ndim))
        with torch.autocast(device_type=x.device.type, enabled=False):
            real_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
            x_ft = torch.fft.rfftn(x.to(real_dtype), dim=dims)
            weight = torch.view_as_complex(self.weight.to(real_dtype))
            block_shape = weight.shape[2:]
            kept = x_ft.new_zeros(x.shape[0], self.in_channels, *block_shape)
            corners = self._corner_slices()
            for full, block in corners:
                kept[(..., *block)] = x_ft[(..., *full)]
            # mode-wise complex matmul: (M, B, I) @ (M, I, O) -> (M, B, O)
            batch = x.shape[0]
            lhs = kept.reshape(batch, self.in_channels, -1).permute(2, 0, 1)
            rhs = weight.reshape(self.in_channels, self.out_channels, -1).permute(2, 0, 1)
            mixed = torch.bmm(lhs, rhs).permute(1, 2, 0).reshape(batch, self.out_channels, *block_shape)
            out_ft = x_ft.new_zeros(batch, self.out_channels, *x_ft.shape[2:])
            for full, block in corners:
                out_ft[(..., *full)] = mixed[(..., *block)]
            out = torch.fft.irfftn(out_ft, s=spatial, dim=dims)
        return out.to(x.dtype) if x.dtype in (torch.float16, torch.bfloat16) else out

"""Fourier-space convolution of FNO (Li et al. 2021) for 1, 2 and 3 spatial dims.

``K v = irfftn(R · rfftn(v))`` with ``R`` a complex weight on the kept low modes: modes ``[0, m)`` and
``[-m, 0)`` on every axis but the last, ``[0, m)`` on the last (the rfft axis); every other frequency is zeroed.
This is the paper's per-dimension ``modes=m`` (2m x m in 2D), not neuraloperator's total count.

Two exact evaluations of the same map: ``"fft"`` (full FFTs, then truncation) and ``"dft"`` (the truncated
transform as dense matrix products with the ``n x m`` Fourier matrices of the kept modes only). With few
modes the DFT path costs ``O(n m)`` per axis in GEMMs and is several times faster on CPUs, above all on
FFT-unfriendly sizes such as FNO's padded 94 = 2 x 47; ``"auto"`` picks ``dft`` on CPU and ``fft`` elsewhere.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import DataError

SpectralBackend = Literal["auto", "fft", "dft"]


def kept_frequencies(n: int, m: int, last: bool) -> Tensor:
    """Integer frequencies of the kept block: ``0..m-1`` on the rfft axis, ``0..m-1, -m..-1`` on the others."""
    if last:
        return torch.arange(m)
    return torch.cat([torch.arange(m), torch.arange(-m, 0)])


def _fourier_matrices(n: int, freqs: Tensor, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``cos`` and ``sin`` of ``2π j k / n`` for grid index ``j`` (rows) and kept frequency ``k`` (columns)."""
    angle = (2 * math.pi / n) * torch.outer(torch.arange(n, dtype=torch.float64), freqs.to(torch.float64))
    return angle.cos().to(dtype=dtype, device=device), angle.sin().to(dtype=dtype, device=device)


def _along(x: Tensor, axis: int, matrix: Tensor) -> Tensor:
    """Contract axis ``axis`` of ``x`` with the rows of ``matrix``; the result keeps the axis position."""
    return torch.matmul(x.movedim(axis, -1), matrix).movedim(-1, axis)


def truncated_rfftn(x: Tensor, modes: list[int]) -> tuple[Tensor, Tensor]:
    """Real and imaginary parts of ``rfftn(x)`` on the kept block, by matrix products (exact, no aliasing)."""
    d = len(modes)
    axes = list(range(x.dim() - d, x.dim()))
    cos, sin = _fourier_matrices(x.shape[-1], kept_frequencies(x.shape[-1], modes[-1], True), x.dtype, x.device)
    re, im = _along(x, axes[-1], cos), -_along(x, axes[-1], sin)
    for axis, m in zip(axes[:-1], modes[:-1]):
        cos, sin = _fourier_matrices(x.shape[axis], kept_frequencies(x.shape[axis], m, False), x.dtype, x.device)
        re, im = _along(re, axis, cos) + _along(im, axis, sin), _along(im, axis, cos) - _along(re, axis, sin)
    return re, im


def truncated_irfftn(re: Tensor, im: Tensor, modes: list[int], shape: tuple[int, ...]) -> Tensor:
    """``irfftn`` of a spectrum that is zero outside the kept block ``re + i im``, on a grid of ``shape``."""
    d = len(modes)
    axes = list(range(re.dim() - d, re.dim()))
    for axis, m, n in zip(axes[:-1], modes[:-1], shape[:-1]):
        cos, sin = _fourier_matrices(n, kept_frequencies(n, m, False), re.dtype, re.device)
        re, im = _along(re, axis, cos.T) - _along(im, axis, sin.T), _along(re, axis, sin.T) + _along(im, axis, cos.T)
    n = shape[-1]
    cos, sin = _fourier_matrices(n, kept_frequencies(n, modes[-1], True), re.dtype, re.device)
    # Hermitian completion of the rfft axis: every mode but 0 (and n/2) stands for itself and its conjugate
    weight = torch.full((modes[-1],), 2.0, dtype=re.dtype, device=re.device)
    weight[0] = 1.0
    if n % 2 == 0 and modes[-1] > n // 2:
        weight[n // 2] = 1.0
    out = _along(re, axes[-1], (cos * weight).T) - _along(im, axes[-1], (sin * weight).T)
    return out / math.prod(shape)


def complex_mode_matmul(lhs_re: Tensor, lhs_im: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Mode-wise complex matmul ``(M, B, I) @ (M, I, O)`` as one real matmul.

    ``(a + ib)(c + id) = (ac - bd) + i(ad + bc)`` is ``[a, b] @ [[c, d], [-d, c]]``; CPU complex ``bmm`` has no
    vectorised kernel and is ~100x slower than real ``bmm``. ``weight`` is ``(M, I, O, 2)`` (real, imag).
    """
    c, d = weight[..., 0], weight[..., 1]
    left = torch.cat([lhs_re, lhs_im], dim=-1)
    right = torch.cat([torch.cat([c, d], dim=-1), torch.cat([-d, c], dim=-1)], dim=-2)
    out = torch.bmm(left, right)
    o = weight.shape[2]
    return out[..., :o], out[..., o:]


class SpectralConv(nn.Module):
    """Spectral convolution ``(B, I, *S) -> (B, O, *S)`` keeping ``modes[d]`` modes per dimension.

    Weights are stored as real tensors ``(I, O, 2m_1, ..., 2m_{d-1}, m_d, 2)`` (real, imaginary parts),
    initialised ``scale * U[0, 1)`` with ``scale = 1 / (I * O)`` as in the paper's code. Transforms run in fp32
    (fp64 for double inputs) even under autocast.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: list[int], backend: SpectralBackend = "auto") -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = list(modes)
        self.backend = backend
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

    def _mix(self, re: Tensor, im: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        """Apply ``R`` mode by mode to the kept block ``(B, I, *K)``; returns ``(B, O, *K)`` parts."""
        batch, block = re.shape[0], re.shape[2:]
        to_modes = lambda t: t.reshape(batch, self.in_channels, -1).permute(2, 0, 1)  # noqa: E731
        w = weight.reshape(self.in_channels, self.out_channels, -1, 2).permute(2, 0, 1, 3)
        out_re, out_im = complex_mode_matmul(to_modes(re), to_modes(im), w)
        back = lambda t: t.permute(1, 2, 0).reshape(batch, self.out_channels, *block)  # noqa: E731
        return back(out_re), back(out_im)

    def forward(self, x: Tensor) -> Tensor:
        spatial = tuple(x.shape[2:])
        if len(spatial) != self.ndim:
            raise DataError(f"spectral convolution with {self.ndim}-D modes got a {len(spatial)}-D field")
        self.check_grid(spatial)
        backend = self.backend if self.backend != "auto" else ("dft" if x.device.type == "cpu" else "fft")
        with torch.autocast(device_type=x.device.type, enabled=False):
            real_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
            x = x.to(real_dtype)
            weight = self.weight.to(real_dtype)
            if backend == "dft":
                re, im = truncated_rfftn(x, self.modes)
                out_re, out_im = self._mix(re, im, weight)
                return truncated_irfftn(out_re, out_im, self.modes, spatial)
            dims = tuple(range(2, 2 + self.ndim))
            x_ft = torch.fft.rfftn(x, dim=dims)
            block_shape = weight.shape[2:-1]
            kept = x_ft.new_zeros(x.shape[0], self.in_channels, *block_shape)
            corners = self._corner_slices()
            for full, block in corners:
                kept[(..., *block)] = x_ft[(..., *full)]
            out_re, out_im = self._mix(kept.real, kept.imag, weight)
            mixed = torch.complex(out_re, out_im)
            out_ft = x_ft.new_zeros(x.shape[0], self.out_channels, *x_ft.shape[2:])
            for full, block in corners:
                out_ft[(..., *full)] = mixed[(..., *block)]
            return torch.fft.irfftn(out_ft, s=spatial, dim=dims)

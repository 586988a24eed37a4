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
from specsolve.nn.cached import cached_constant

SpectralBackend = Literal["auto", "fft", "dft"]


def kept_frequencies(n: int, m: int, last: bool) -> Tensor:
    """Integer frequencies of the kept block: ``0..m-1`` on the rfft axis, ``0..m-1, -m..-1`` on the others."""
    if last:
        return torch.arange(m)
    return torch.cat([torch.arange(m), torch.arange(-m, 0)])


def _build_dft_matrix(n: int, m: int, kind: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Real matrices of the truncated transforms along one axis of ``n`` points keeping ``m`` modes.

    With ``C = cos(2π j k / n)``, ``S = sin(2π j k / n)`` (grid index ``j``, kept frequency ``k``):

    - ``"fwd_last"`` ``(n, 2m)``: ``[C | -S]``, real input -> ``[Re | Im]`` of the rfft modes ``0..m-1``;
    - ``"fwd"`` ``(4m, n)``: ``[C^T ; S^T]`` over the ``2m`` kept frequencies ``0..m-1, -m..-1``;
    - ``"inv"`` ``(n, 4m)``: ``[C | S] / n``;
    - ``"inv_last"`` ``(2m, n)``: ``[w C^T ; -w S^T] / n`` with the Hermitian weights ``w`` (2, and 1 for the
      zero and Nyquist modes), so that ``[Re | Im] @ inv_last`` is the irfft of the kept modes.

    Built in float64 and cast. :func:`dft_matrix` is its cached form (:func:`~specsolve.nn.cached.cached_constant`).
    """
    freqs = kept_frequencies(n, m, kind.endswith("last")).to(torch.float64)
    angle = (2 * math.pi / n) * torch.outer(torch.arange(n, dtype=torch.float64), freqs)
    cos, sin = angle.cos(), angle.sin()
    if kind == "fwd_last":
        out = torch.cat([cos, -sin], dim=1)
    elif kind == "fwd":
        out = torch.cat([cos.T, sin.T], dim=0)
    elif kind == "inv":
        out = torch.cat([cos, sin], dim=1) / n
    else:
        weight = torch.full((m,), 2.0, dtype=torch.float64)
        weight[0] = 1.0
        if n % 2 == 0 and m > n // 2:
            weight[n // 2] = 1.0
        out = torch.cat([(cos * weight).T, -(sin * weight).T], dim=0) / n
    return out.to(dtype=dtype, device=device).contiguous()


dft_matrix = cached_constant(_build_dft_matrix)


def _left_matmul(matrix: Tensor, batched: Tensor) -> Tensor:
    """``matrix @ batched[p]`` for every ``p`` as one ``bmm`` (``torch.matmul`` of 2-D by 3-D may transpose-copy)."""
    return torch.bmm(matrix.expand(batched.shape[0], -1, -1), batched)


def _right_matmul(x: Tensor, matrix: Tensor) -> Tensor:
    """``x @ matrix`` over the last axis, as a ``bmm`` over ``(n_{-2}, n_{-1})`` slabs.

    One big GEMM with a small inner dimension (``K = 2m``, as in the inverse transform and in the backward of
    the forward one) runs 2-3x below MKL's batched kernel on CPU.
    """
    slabs = x.reshape(-1, x.shape[-2], x.shape[-1])
    out = torch.bmm(slabs, matrix.expand(slabs.shape[0], -1, -1))
    return out.view(*x.shape[:-1], matrix.shape[-1])


def truncated_rfftn(x: Tensor, modes: list[int]) -> Tensor:
    """``rfftn(x)`` over the last ``len(modes)`` axes, on the kept block only, by matrix products (exact).

    ``x (*lead, n_1, ..., n_d)`` -> ``(*lead, 2m_1, ..., 2m_{d-1}, 2m_d)`` where the last axis holds
    ``[Re | Im]`` of the rfft modes ``0..m_d-1`` and the others the frequencies ``0..m-1, -m..-1``.
    Every product runs on a contiguous layout (no transposes of the full field): the rfft axis is
    ``x @ [C | -S]``, every other axis a batched left product ``[C^T ; S^T] @ (P, n, Q)``, then the
    real/imaginary combination on the (small) kept block.
    """
    d = len(modes)
    z = _right_matmul(x, dft_matrix(x.shape[-1], modes[-1], "fwd_last", x.dtype, x.device))
    m_last = modes[-1]
    for axis in reversed(range(z.dim() - d, z.dim() - 1)):
        n, m = z.shape[axis], modes[axis - z.dim() + d]
        lead, trail = z.shape[:axis], z.shape[axis + 1 :]
        t = _left_matmul(dft_matrix(n, m, "fwd", z.dtype, z.device), z.reshape(-1, n, math.prod(trail)))
        # rows: C-part, S-part; last axis: Re, Im halves. (c - i s)(R + i I) = (cR + sI) + i(cI - sR)
        t = t.view(t.shape[0], 2, 2 * m, -1, 2, m_last)
        re = t[:, 0, :, :, 0] + t[:, 1, :, :, 1]
        im = t[:, 0, :, :, 1] - t[:, 1, :, :, 0]
        z = torch.stack([re, im], dim=-2).view(*lead, 2 * m, *trail)
    return z


def truncated_irfftn(z: Tensor, modes: list[int], shape: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`truncated_rfftn`: ``irfftn`` of a spectrum that is zero outside the kept block.

    ``z (*lead, 2m_1, ..., 2m_{d-1}, 2m_d)`` in the layout of :func:`truncated_rfftn` -> ``(*lead, *shape)``.
    """
    d = len(modes)
    m_last = modes[-1]
    for axis in range(z.dim() - d, z.dim() - 1):
        k = z.shape[axis]
        n = shape[axis - z.dim() + d]
        lead, trail = z.shape[:axis], z.shape[axis + 1 :]
        y = z.reshape(-1, k, math.prod(trail) // (2 * m_last), 2, m_last)
        # [[Re | Im]; [-Im | Re]] stacked along the frequency axis: [C | S] @ it = [C Re - S Im | C Im + S Re]
        swapped = torch.stack([-y[..., 1, :], y[..., 0, :]], dim=-2)
        stacked = torch.cat([y, swapped], dim=1).view(y.shape[0], 2 * k, -1)
        out = _left_matmul(dft_matrix(n, k // 2, "inv", z.dtype, z.device), stacked)
        z = out.view(*lead, n, *trail)
    return _right_matmul(z, dft_matrix(shape[-1], m_last, "inv_last", z.dtype, z.device))


def mode_matmul_weight(weight: Tensor) -> Tensor:
    """The right factor ``(modes, I, 2 O)`` of :func:`complex_mode_matmul` for ``weight (I, O, *K, m, 2)``."""
    in_ch, out_ch = weight.shape[:2]
    modes = math.prod(weight.shape[2:-1])
    return weight.reshape(in_ch, out_ch, modes, 2).permute(2, 0, 3, 1).reshape(modes, in_ch, 2 * out_ch)


def complex_mode_matmul(spectrum: Tensor, weight: Tensor, right: Tensor | None = None) -> Tensor:
    """Mode-wise complex matmul of a :func:`truncated_rfftn` block with a complex weight, as one real ``bmm``.

    ``spectrum (B, I, *K, 2m)`` (last axis ``[Re | Im]``), ``weight (I, O, *K, m, 2)`` (real, imag) ->
    ``(B, O, *K, 2m)``. With ``L = [Re ; Im]`` stacked over the batch and ``R = [c | d]`` stacked over the
    outputs, ``L @ R`` holds ``Re c, Re d, Im c, Im d`` and ``(Re + i Im)(c + i d) = (Re c - Im d) + i(Re d + Im c)``.
    CPU complex ``bmm`` has no vectorised kernel and is ~100x slower than real ``bmm``.
    ``right``: :func:`mode_matmul_weight` of ``weight``, when the caller has it already.
    """
    batch, in_ch = spectrum.shape[:2]
    out_ch, m = weight.shape[1], weight.shape[-2]
    block = spectrum.shape[2:-1]
    modes = math.prod(block) * m
    left = spectrum.reshape(batch, in_ch, -1, 2, m).permute(2, 4, 3, 0, 1).reshape(modes, 2 * batch, in_ch)
    right = mode_matmul_weight(weight) if right is None else right
    prod = torch.bmm(left, right).view(-1, m, 2, batch, 2, out_ch)
    re = prod[:, :, 0, :, 0] - prod[:, :, 1, :, 1]
    im = prod[:, :, 0, :, 1] + prod[:, :, 1, :, 0]
    out = torch.stack([re, im], dim=2)  # (K, m, 2, B, O)
    return out.permute(3, 4, 0, 2, 1).reshape(batch, out_ch, *block, 2 * m)


class SpectralConv(nn.Module):
    """Spectral convolution ``(B, I, *S) -> (B, O, *S)`` keeping ``modes[d]`` modes per dimension.

    Weights are stored as real tensors ``(I, O, 2m_1, ..., 2m_{d-1}, m_d, 2)`` (real, imaginary parts),
    initialised ``scale * U[0, 1)`` with ``scale = 1 / (I * O)`` as in the paper's code. Transforms run in fp32
    (fp64 for double inputs) even under autocast.
    """

    def __init__(
        self, in_channels: int, out_channels: int, modes: list[int], backend: SpectralBackend = "auto"
    ) -> None:
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
                mixed = complex_mode_matmul(truncated_rfftn(x, self.modes), weight)
                return truncated_irfftn(mixed, self.modes, spatial)
            dims = tuple(range(2, 2 + self.ndim))
            x_ft = torch.fft.rfftn(x, dim=dims)
            block_shape = weight.shape[2:-1]
            kept = x_ft.new_zeros(x.shape[0], self.in_channels, *block_shape)
            corners = self._corner_slices()
            for full, block in corners:
                kept[(..., *block)] = x_ft[(..., *full)]
            m = self.modes[-1]
            mixed = complex_mode_matmul(torch.cat([kept.real, kept.imag], dim=-1), weight)
            mixed = torch.complex(mixed[..., :m], mixed[..., m:])
            out_ft = x_ft.new_zeros(x.shape[0], self.out_channels, *x_ft.shape[2:])
            for full, block in corners:
                out_ft[(..., *full)] = mixed[(..., *block)]
            return torch.fft.irfftn(out_ft, s=spatial, dim=dims)

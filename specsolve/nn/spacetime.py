"""Private building blocks of the Spectral-Refiner spatiotemporal FNO (:mod:`specsolve.models.st_fno`).

All layers work on the channels-first space-time layout ``(B, C, X, Y, T)`` (time last, so the real FFT runs
along time); the model converts from the project's ``(B, T, C, X, Y)`` window layout.

Conventions (Cao, Brarda, Li, Xi, ICLR 2025, arXiv 2405.17211; reference ``scaomath/torch-cfd`` ``fno/``):

- spectral weights are real tensors ``(..., 2)`` (real, imaginary parts) viewed as complex;
- FFTs use ``norm="backward"``: ``rfftn`` unscaled, ``irfftn`` divided by the *output* grid size. In space the
  grid is unchanged, so a layer is resolution-consistent; in time the inverse transform may have another length
  (resampling), and then the amplitude scales by ``n_in / n_out`` exactly as in the reference code;
- FFTs run in float32 under autocast (float64 for float64 inputs).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from specsolve.nn.cached import cached_constant
from specsolve.nn.spectral_conv import complex_mode_matmul, kept_frequencies, mode_matmul_weight
from specsolve.pde.operators import wavenumbers


def spectral_dtype(x: Tensor) -> torch.dtype:
    """Real dtype for FFT work: float64 stays float64, everything else (incl. fp16/bf16) becomes float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def space_time_encoding(
    nx: int,
    ny: int,
    nt: int,
    channels: int,
    beta: float,
    max_steps: int,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor:
    """Fixed space-time positional encoding ``(channels, nx, ny, nt)``.

    Channels 0, 1, 2 are the coordinates ``x, y, t`` with ``x = linspace(0, 1, nx)`` (endpoint included, FNO's grid
    convention), ``y`` likewise, and ``t = linspace(0, 1, max_steps + 1)[1 : nt + 1]`` (the input steps as
    fractions of a horizon of ``max_steps`` steps). Channel ``3 + k`` (``k = 0 .. channels - 4``) is
    ``exp(beta t) * sin(pi (k + 1) t)`` for even ``k`` and ``exp(beta t) * cos(pi (k + 1) t)`` for odd ``k``;
    ``beta`` mirrors the exponential factor of the a-priori Navier-Stokes energy estimate.
    """
    if nt > max_steps:
        raise ValueError(f"the positional encoding covers at most max_steps={max_steps} input steps, got {nt}")
    gx = torch.linspace(0, 1, nx, dtype=dtype, device=device)
    gy = torch.linspace(0, 1, ny, dtype=dtype, device=device)
    gt = torch.linspace(0, 1, max_steps + 1, dtype=dtype, device=device)[1 : nt + 1]
    pe = torch.empty(channels, nx, ny, nt, dtype=dtype, device=device)
    pe[0] = gx[:, None, None]
    pe[1] = gy[None, :, None]
    pe[2] = gt[None, None, :]
    envelope = torch.exp(beta * gt)
    for k in range(channels - 3):
        basis = torch.sin if k % 2 == 0 else torch.cos
        pe[3 + k] = (envelope * basis(math.pi * (k + 1) * gt))[None, None, :]
    return pe


@cached_constant
def spatial_analysis_matrix(n: int, m: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(2, 2 m, n)``: ``[cos; -sin](2 pi f_q j / n)`` for the kept frequencies ``f = 0 .. m-1, -m .. -1``, so that
    ``M[0] @ u + i M[1] @ u`` is ``fft(u, norm="backward")`` on those rows for a real ``u (n, ...)``."""
    freqs = kept_frequencies(n, m, last=False).to(torch.float64)
    angle = 2 * math.pi * torch.outer(freqs, torch.arange(n, dtype=torch.float64)) / n
    return torch.stack([torch.cos(angle), -torch.sin(angle)]).to(dtype=dtype, device=device)


@cached_constant
def spatial_synthesis_matrix(n: int, m: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(2, n, 2 m)``: ``[cos; sin](2 pi f_q j / n) / n``, so that ``(M[0] + i M[1]) @ h`` is
    ``ifft(h, norm="backward")`` of the ``2 m`` kept frequencies (``0 .. m-1, -m .. -1``, zero elsewhere)."""
    freqs = kept_frequencies(n, m, last=False).to(torch.float64)
    angle = 2 * math.pi * torch.outer(torch.arange(n, dtype=torch.float64), freqs) / n
    return (torch.stack([torch.cos(angle), torch.sin(angle)]) / n).to(dtype=dtype, device=device)


@cached_constant
def time_analysis_matrix(n: int, kt: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(2 n, 2 kt)``: ``[Re u | Im u] @ M`` is ``[Re | Im]`` of ``fft(u, norm="backward")[..., :kt]`` for a
    complex signal ``u (..., n)`` stored as ``[Re | Im]`` blocks (``M = [[cos, -sin], [sin, cos]](2 pi t k / n)``)."""
    angle = 2 * math.pi * torch.outer(torch.arange(n, dtype=torch.float64), torch.arange(kt, dtype=torch.float64)) / n
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.cat([torch.cat([cos, -sin], 1), torch.cat([sin, cos], 1)]).to(dtype=dtype, device=device)


@cached_constant
def time_synthesis_matrix(n: int, kt: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(2 kt, 2 n)``: ``[Re h | Im h] @ S`` is ``[Re | Im]`` of ``sum_k (c_k / n) h_k exp(2 pi i k t / n)``
    (``t < n``) for ``h (..., kt)`` in ``[Re | Im]`` blocks, with ``c_k = 1`` for ``k = 0`` and the Nyquist mode of
    an even ``n`` and ``2`` otherwise: the real part of it, taken after the other axes' inverses, is ``irfft``'s
    (the modes ``>= kt`` zero). Requires ``kt <= n // 2 + 1``."""
    k = torch.arange(kt, dtype=torch.float64)
    weight = torch.where((k == 0) | (2 * k == n), 1.0, 2.0).to(torch.float64)[:, None] / n
    angle = 2 * math.pi * torch.outer(k, torch.arange(n, dtype=torch.float64)) / n
    cos, sin = weight * torch.cos(angle), weight * torch.sin(angle)
    return torch.cat([torch.cat([cos, sin], 1), torch.cat([-sin, cos], 1)]).to(dtype=dtype, device=device)


def _complex_products(p: Tensor, k: int) -> Tensor:
    """``(C + i S) h`` from ``p = [C; S] @ h`` for a complex ``h`` stored as ``[Re | Im]`` blocks of ``k`` on its last
    axis: ``p`` of ``N * 2 * M * 2 * k`` elements laid out ``(N, [C; S], M, [Re | Im], k)`` -> ``(N, M, 2, k)``,
    ``[Re | Im]`` blocks again."""
    p = p.reshape(p.shape[0], 2, -1, 2, k)
    real = p[:, 0, :, 0] - p[:, 1, :, 1]
    imag = p[:, 0, :, 1] + p[:, 1, :, 0]
    return torch.stack([real, imag], dim=-2)


def _axis_slices(n: int, m_weight: int, negative: bool) -> tuple[slice, slice]:
    """(slice into a full FFT axis of length ``n``, slice into a weight axis of ``m_weight`` modes).

    The weight axis stores frequencies ``0 .. m-1`` (positive group) or ``-m .. -1`` (negative group). On a
    grid too coarse for ``m`` modes only ``min(m, n // 2)`` are used: the same frequencies get the same weights
    on every grid, the others are dropped (no wrap-around overlap of the two groups).
    """
    mk = min(m_weight, n // 2)
    if negative:
        return slice(n - mk, n), slice(m_weight - mk, m_weight)
    return slice(0, mk), slice(0, mk)


class SpaceTimeSpectralConv(nn.Module):
    """Space-time Fourier layer ``(B, I, X, Y, T_in) -> (B, O, X, Y, T_out)``.

    ``v -> irfftn(W * rfftn(v) [+ delta * b], s=(X, Y, T_out))`` over the axes (x, y, t): full FFTs in x, y and a
    real FFT in t. ``W`` acts on the kept modes ``kx, ky in {0..m-1} U {-m..-1}`` and ``kt in [0, m_t)`` (four
    weight groups ``(I, O, m, m, m_t, 2)``, index ``ix + 2 iy`` with ``ix, iy = 0`` for the non-negative and 1
    for the negative frequencies), initialised ``gain * U[0, 1)`` with ``gain = 0.5 / (I O)``. Every other mode
    is zero (the real part taken by the inverse FFT mirrors ``-m`` to ``+m``, so outputs live on ``|k| <= m``).
    With ``bias=True`` a complex spectral bias ``(O, m, m, m_t, 2)`` per group, zero-initialised and
    scaled by ``delta``, is added on the kept modes (the paper's source term). ``bias_norm="backward"`` (the
    reference) adds it to the unnormalised spectrum, so its real-space amplitude is ``delta b / (X Y T_out)`` and
    falls with the grid size; ``bias_norm="forward"`` multiplies it by ``X Y T_out`` first, so that a given ``b``
    is the same source term (real-space amplitude ``delta b``) on every grid and for every output length.

    ``out_steps`` resamples time by the inverse FFT length (``None``: keep ``T_in``). ``temporal_padding`` left
    pads time with ``T_in`` zeros before the FFT, inverts to ``out_steps + T_in`` steps and returns the last
    ``out_steps`` (against aliasing from non-periodicity in time).

    Evaluation (the same map): :meth:`forward` prunes the transforms to the kept modes, one axis at a time, each
    a real DFT matmul over the kept frequencies only (y, then t, then x; back in x, t, y), see :meth:`_pruned`;
    with few modes per axis these GEMMs are cheaper than FFTs and their transposing copies, and the backward
    has no zero-filled full spectra. The full zero-filled spectrum is only built by :meth:`spectrum` (horizon
    resampling). Without autograd the weights' bmm layout is cached between calls.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes_x: int,
        modes_y: int,
        modes_t: int,
        bias: bool = False,
        delta: float = 0.1,
        bias_norm: str = "backward",
    ) -> None:
        super().__init__()
        if bias_norm not in ("backward", "forward"):
            raise ValueError(f"bias_norm must be 'backward' or 'forward', got {bias_norm!r}")
        self.bias_norm = bias_norm
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes_x, self.modes_y, self.modes_t = modes_x, modes_y, modes_t
        self.delta = delta
        gain = 0.5 / (in_channels * out_channels)
        shape = (in_channels, out_channels, modes_x, modes_y, modes_t, 2)
        self.weight = nn.ParameterList([nn.Parameter(gain * torch.rand(*shape)) for _ in range(4)])
        if bias:
            bshape = (out_channels, modes_x, modes_y, modes_t, 2)
            self.bias = nn.ParameterList([nn.Parameter(torch.zeros(*bshape)) for _ in range(4)])
        else:
            self.bias = None

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, modes=({self.modes_x}, {self.modes_y}, {self.modes_t}), "
            f"bias={self.bias is not None}, delta={self.delta}"
            + (f", bias_norm={self.bias_norm}" if self.bias_norm != "backward" else "")
        )

    def forward(self, v: Tensor, out_steps: int | None = None, temporal_padding: bool = False) -> Tensor:
        with torch.autocast(device_type=v.device.type, enabled=False):
            v, pad, n_out = self._prepare(v, out_steps, temporal_padding)
            nx, ny, nt = v.shape[-3:]
            modes = self._kept(nx, ny, nt, n_out)
            if min(modes) > 0:
                out = self._pruned(v, modes, n_out)
            else:
                out_hat = self._full_spectrum(v, n_out)
                out = torch.fft.irfftn(out_hat, s=(nx, ny, n_out), dim=(-3, -2, -1), norm="backward")
        return out[..., pad:] if pad else out

    def _pruned(self, v: Tensor, modes: list[int], n_out: int) -> Tensor:
        """The layer with the transforms pruned to the kept modes, each a real matmul on the last or the
        second-to-last axis (no transposing FFT passes): ``y`` of the real input
        (:func:`spatial_analysis_matrix`, rows ``(frequency, Re | Im)``), then ``t`` of that complex signal
        (:func:`time_analysis_matrix`), then ``x`` (complex, :func:`_complex_products`); the mix; and back in the
        reverse order (:func:`spatial_synthesis_matrix`, :func:`time_synthesis_matrix`), the real part taken in
        the last (``y``) product."""
        batch, _, nx, ny, nt = v.shape
        mx, my, kt = modes
        dtype, device = v.dtype, v.device
        to_y = spatial_analysis_matrix(ny, my, dtype, device).transpose(0, 1).reshape(4 * my, ny)
        h = torch.matmul(to_y, v.reshape(-1, ny, nt))  # (B I X, 2 my, [Re | Im] nt)
        h = h.view(-1, 2 * nt) @ time_analysis_matrix(nt, kt, dtype, device)  # (B I X 2 my, [Re | Im] kt)
        to_x = spatial_analysis_matrix(nx, mx, dtype, device).reshape(4 * mx, nx)
        h = torch.matmul(to_x, h.view(batch * self.in_channels, nx, 4 * my * kt))
        z = _complex_products(h, kt).view(batch, self.in_channels, 2 * mx, 2 * my, 2 * kt)
        rows = []
        for iy in range(2):
            wy = _axis_slices(ny, self.modes_y, negative=iy == 1)[1]
            quadrants = []
            for ix in range(2):
                wx = _axis_slices(nx, self.modes_x, negative=ix == 1)[1]
                kept = z[:, :, ix * mx : (ix + 1) * mx, iy * my : (iy + 1) * my]
                quadrants.append(self._mix(ix + 2 * iy, kept, wx, wy, kt, (nx, ny, n_out)))
            rows.append(torch.cat(quadrants, dim=2))
        mixed = torch.cat(rows, dim=3)  # (B, O, 2 mx, 2 my, [Re | Im] kt)
        from_x = spatial_synthesis_matrix(nx, mx, dtype, device).reshape(2 * nx, 2 * mx)
        g = torch.matmul(from_x, mixed.reshape(batch * self.out_channels, 2 * mx, 4 * my * kt))
        g = _complex_products(g, kt).view(-1, 2 * kt) @ time_synthesis_matrix(n_out, kt, dtype, device)
        cos, sin = spatial_synthesis_matrix(ny, my, dtype, device)
        from_y = torch.stack([cos, -sin], dim=-1).reshape(ny, 4 * my)  # columns (frequency, Re | Im): Re(E g)
        out = torch.matmul(from_y, g.view(-1, 4 * my, n_out))
        return out.view(batch, self.out_channels, nx, ny, n_out)

    def spectrum(
        self, v: Tensor, out_steps: int | None = None, temporal_padding: bool = False
    ) -> tuple[Tensor, int, int]:
        """``(out_hat, pad, n_out)``: the output spectrum ``(B, O, X, Y, n_out // 2 + 1)`` of :meth:`forward` before
        its inverse FFT, the temporal padding and the inverse FFT length ``n_out = out_steps + pad``."""
        with torch.autocast(device_type=v.device.type, enabled=False):
            v, pad, n_out = self._prepare(v, out_steps, temporal_padding)
            return self._full_spectrum(v, n_out), pad, n_out

    def _prepare(self, v: Tensor, out_steps: int | None, temporal_padding: bool) -> tuple[Tensor, int, int]:
        """``(v, pad, n_out)``: ``v`` in the spectral dtype, left padded in time by ``pad``; the inverse length."""
        if v.ndim != 5 or v.shape[1] != self.in_channels:
            raise ValueError(f"space-time spectral conv expects (B, {self.in_channels}, X, Y, T), got {tuple(v.shape)}")
        v = v.to(spectral_dtype(v))
        pad = v.shape[-1] if temporal_padding else 0
        if pad:
            v = nn.functional.pad(v, (pad, 0))
        n_out = (v.shape[-1] - pad if out_steps is None else out_steps) + pad
        return v, pad, n_out

    def _kept(self, nx: int, ny: int, nt: int, n_out: int) -> list[int]:
        """Modes kept on this grid: ``min(m, n // 2)`` per sign in x and y (:func:`_axis_slices`), ``kt`` in t."""
        return [min(self.modes_x, nx // 2), min(self.modes_y, ny // 2), min(self.modes_t, nt // 2 + 1, n_out // 2 + 1)]

    def _full_spectrum(self, v: Tensor, n_out: int) -> Tensor:
        """Full ``rfftn`` of the prepared input, mixed on the kept modes, zero elsewhere (length ``n_out`` in t)."""
        batch, _, nx, ny, nt = v.shape
        v_hat = torch.fft.rfftn(v, dim=(-3, -2, -1), norm="backward")
        kt = self._kept(nx, ny, nt, n_out)[2]
        out_hat = v_hat.new_zeros(batch, self.out_channels, nx, ny, n_out // 2 + 1)
        for iy in range(2):
            sy, wy = _axis_slices(ny, self.modes_y, negative=iy == 1)
            for ix in range(2):
                sx, wx = _axis_slices(nx, self.modes_x, negative=ix == 1)
                kept = v_hat[:, :, sx, sy, :kt]
                block = self._mix(ix + 2 * iy, torch.cat([kept.real, kept.imag], dim=-1), wx, wy, kt, (nx, ny, n_out))
                out_hat[:, :, sx, sy, :kt] = torch.complex(block[..., :kt], block[..., kt:])
        return out_hat

    def _right_factor(self, group: int, weight: Tensor, key: tuple) -> Tensor | None:
        """:func:`~specsolve.nn.spectral_conv.mode_matmul_weight` of ``weight`` (a slice of weight group ``group``),
        cached between calls without autograd (inference), keyed on the parameter's identity and version counter so
        that any update (optimizer step, ``load_state_dict``, in-place edit) rebuilds it; ``None`` (built per call)
        under autograd or ``torch.compile``."""
        param = self.weight[group]
        if (param.requires_grad and torch.is_grad_enabled()) or torch.compiler.is_compiling():
            return None
        full_key = (group, key, weight.dtype, weight.device)
        stamp = (id(param), param.data_ptr(), param._version)
        cache = self.__dict__.setdefault("_right_factor_cache", {})
        hit = cache.get(full_key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with torch.no_grad():
            right = mode_matmul_weight(weight)
        cache[full_key] = (stamp, right)
        return right

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_right_factor_cache", None)  # derived tensors: not pickled, not deep-copied
        return state

    def _mix(self, group: int, kept: Tensor, wx: slice, wy: slice, kt: int, grid: tuple[int, int, int]) -> Tensor:
        """Weight group ``group`` on its kept modes: ``kept (B, I, mx, my, 2 kt)`` -> ``(B, O, mx, my, 2 kt)``
        (last axis ``[Re | Im]``), ``block[b, o] = sum_i kept[b, i] w[i, o]`` per mode (+ ``delta`` times the bias).

        The complex mix is one real bmm (:func:`~specsolve.nn.spectral_conv.complex_mode_matmul`; CPU complex bmm is a
        per-mode loop of tiny GEMMs). ``grid``: ``(X, Y, n_out)``, for ``bias_norm="forward"``.
        """
        nx, ny, n_out = grid
        real = kept.dtype
        weight = self.weight[group].to(real)[:, :, wx, wy, :kt]
        block = complex_mode_matmul(
            kept, weight, self._right_factor(group, weight, (wx.start, wx.stop, wy.start, wy.stop, kt))
        )
        if self.bias is not None:
            b = self.bias[group].to(real)[:, wx, wy, :kt]
            b = torch.cat([b[..., 0], b[..., 1]], dim=-1)  # [Re | Im]
            if self.bias_norm == "forward":
                b = b * (nx * ny * n_out)
            block = block + self.delta * b
        return block


def irfftn_at_times(out_hat: Tensor, n: int, times: Tensor) -> Tensor:
    """``irfftn(out_hat, s=(X, Y, n))`` over ``(x, y, t)``, evaluated at real-valued time indices ``times`` ``(T',)``.

    The trigonometric interpolant of the period-``n`` signal: after the inverse FFT in x, y, the time part is
    ``(1/n) sum_k w_k Re(z_k exp(2 pi i k t / n))`` with ``w_0 = 1``, ``w_k = 2`` and ``w = 1`` for the Nyquist mode of
    an even ``n`` (whose imaginary part, like the zero mode's, is dropped, as ``irfft`` does). At integer ``t`` this
    is exactly ``irfftn``'s sample ``t``. ``out_hat``: ``(..., X, Y, n // 2 + 1)`` complex; returns ``(..., X, Y, T')``.
    """
    z = torch.fft.ifftn(out_hat, dim=(-3, -2), norm="backward")
    modes = out_hat.shape[-1]
    k = torch.arange(modes, dtype=times.dtype, device=times.device)
    weight = torch.full((modes,), 2.0, dtype=times.dtype, device=times.device)
    weight[0] = 1.0
    imag_weight = weight.clone()
    imag_weight[0] = 0.0
    if n % 2 == 0 and modes == n // 2 + 1:
        weight[-1] = 1.0
        imag_weight[-1] = 0.0
    angle = (2 * math.pi / n) * torch.outer(k, times)  # (K, T')
    cos = weight[:, None] * torch.cos(angle)
    sin = imag_weight[:, None] * torch.sin(angle)
    return (z.real @ cos - z.imag @ sin) / n


# columns of the (4 width, N) FFN intermediate per chunk of the fused CPU path: ~0.5 MB per float32 intermediate,
# so the hidden activation, its GELU and their gradients stay in the L2 cache
_FFN_CHUNK_ELEMENTS = 1 << 17


def _activation_kind(activation: nn.Module) -> tuple[str, str] | None:
    """``("gelu", approximate)`` / ``("relu", "none")`` for the activations of the fused FFN, else ``None``."""
    if type(activation) is nn.GELU:
        return "gelu", activation.approximate
    if type(activation) is nn.ReLU:
        return "relu", "none"
    return None


def _activate_(h: Tensor, kind: str, approximate: str) -> Tensor:
    return torch.ops.aten.gelu_(h, approximate=approximate) if kind == "gelu" else h.relu_()


class _FusedPointwiseFFN(torch.autograd.Function):
    """``W2 act(W1 x + b1) + b2`` on ``x (B, C, N)``, chunked over ``N``: the ``(E, N)`` hidden activation is never
    materialised. Only ``x`` is saved; the backward recomputes each chunk's hidden activation (one extra GEMM),
    which on CPU is cheaper than writing, keeping and re-reading four ``E``-channel tensors per layer."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, kind, approximate):  # type: ignore[override]
        batch, _, n = x.shape
        chunk = max(64, _FFN_CHUNK_ELEMENTS // w1.shape[0])
        out = x.new_empty(batch, w2.shape[0], n)
        b1c, b2c = b1[:, None], b2[:, None]
        for b in range(batch):
            for s in range(0, n, chunk):
                h = _activate_(torch.addmm(b1c, w1, x[b, :, s : s + chunk]), kind, approximate)
                torch.addmm(b2c, w2, h, out=out[b, :, s : s + chunk])
        ctx.save_for_backward(x, w1, b1, w2, b2)
        ctx.kind, ctx.approximate = kind, approximate
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, w1, b1, w2, b2 = ctx.saved_tensors
        kind, approximate = ctx.kind, ctx.approximate
        needs = ctx.needs_input_grad[:5]
        if torch.is_grad_enabled():  # double backward: the same map, recomputed differentiably
            inputs = [t for t, need in zip((x, w1, b1, w2, b2), needs) if need]
            out = _plain_pointwise_ffn(x, w1, b1, w2, b2, kind, approximate)
            grads = iter(torch.autograd.grad(out, inputs, grad_out, create_graph=True, allow_unused=True))
            return (*(next(grads) if need else None for need in needs), None, None)
        grad_out = grad_out.contiguous()
        batch, _, n = x.shape
        chunk = max(64, _FFN_CHUNK_ELEMENTS // w1.shape[0])
        need_x, need_w1, need_b1, need_w2, need_b2 = needs
        gx = torch.empty_like(x) if need_x else None
        gw1 = torch.zeros_like(w1) if need_w1 else None
        gb1 = torch.zeros_like(b1) if need_b1 else None
        gw2 = torch.zeros_like(w2) if need_w2 else None
        gb2 = grad_out.sum(dim=(0, 2)) if need_b2 else None
        b1c, w1t, w2t = b1[:, None], w1.t(), w2.t()
        for b in range(batch):
            for s in range(0, n, chunk):
                xc, go = x[b, :, s : s + chunk], grad_out[b, :, s : s + chunk]
                h = torch.addmm(b1c, w1, xc)
                if gw2 is not None:
                    g = torch.ops.aten.gelu(h, approximate=approximate) if kind == "gelu" else h.relu()
                    gw2.addmm_(go, g.t())
                gh = torch.mm(w2t, go)
                if kind == "gelu":
                    torch.ops.aten.gelu_backward.grad_input(gh, h, approximate=approximate, grad_input=gh)
                else:
                    gh.masked_fill_(h <= 0, 0)
                if gw1 is not None:
                    gw1.addmm_(gh, xc.t())
                if gb1 is not None:
                    gb1 += gh.sum(dim=1)
                if gx is not None:
                    torch.mm(w1t, gh, out=gx[b, :, s : s + chunk])
        return gx, gw1, gb1, gw2, gb2, None, None


def _plain_pointwise_ffn(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, kind: str, approximate: str):
    h = torch.matmul(w1, x) + b1[:, None]
    h = nn.functional.gelu(h, approximate=approximate) if kind == "gelu" else torch.relu(h)
    return torch.matmul(w2, h) + b2[:, None]


class PointwiseFFN(nn.Module):
    """Pointwise two-layer MLP ``Conv1x1(C -> e C) -> act -> Conv1x1(e C -> C)`` on ``(B, C, X, Y, T)``.

    On CPU (ReLU or GELU, no autocast, not under ``torch.compile``) it runs as one fused, chunked autograd function
    (:class:`_FusedPointwiseFFN`: the same map in GEMMs; forward hooks of ``linear1`` / ``linear2`` are not called
    there); elsewhere as the two ``Conv3d`` modules.
    """

    def __init__(self, channels: int, expansion: int, activation: nn.Module) -> None:
        super().__init__()
        self.linear1 = nn.Conv3d(channels, expansion * channels, kernel_size=1)
        self.activation = activation
        self.linear2 = nn.Conv3d(expansion * channels, channels, kernel_size=1)

    def forward(self, v: Tensor) -> Tensor:
        kind = _activation_kind(self.activation)
        l1, l2 = self.linear1, self.linear2
        if (
            kind is None
            or v.device.type != "cpu"
            or v.ndim != 5
            or l1.bias is None
            or l2.bias is None
            or torch.compiler.is_compiling()
            or torch.is_autocast_enabled("cpu")
            or not (v.dtype == l1.weight.dtype == l2.weight.dtype)
        ):
            return l2(self.activation(l1(v)))
        batch, channels = v.shape[:2]
        out = _FusedPointwiseFFN.apply(
            v.reshape(batch, channels, -1).contiguous(),
            l1.weight.reshape(l1.out_channels, channels),
            l1.bias,
            l2.weight.reshape(l2.out_channels, l1.out_channels),
            l2.bias,
            *kind,
        )
        return out.view(batch, l2.out_channels, *v.shape[2:])


def _derivative_wavenumbers(n: int, dtype: torch.dtype, device: torch.device, half: bool) -> Tensor:
    """Integer wavenumbers of an FFT axis (``rfft`` axis if ``half``) for first derivatives.

    The Nyquist wavenumber of an even grid is set to 0: the real trigonometric interpolant carries that mode as
    ``cos(pi n x)``, whose derivative vanishes on the grid, and its sign (+-n/2) would otherwise be ambiguous.
    """
    k = wavenumbers(n, dtype=torch.get_default_dtype(), half=half)
    if n % 2 == 0:
        k[n // 2] = 0.0
    return k.to(dtype=dtype, device=device)


def helmholtz_project(u: Tensor, channel_dim: int = 2) -> Tensor:
    """Leray (Helmholtz) projection of a periodic 2-component field onto its divergence-free part.

    ``u`` has the two components on ``channel_dim`` and the two spatial axes last. In Fourier space
    ``u_hat <- u_hat - k (k . u_hat) / |k|^2`` for ``k != 0`` (the mean flow ``k = 0`` is kept), so the spectral
    divergence ``i k . u_hat`` vanishes to round-off (Nyquist wavenumbers of even grids count as 0, the usual
    convention for odd derivatives; with +-n/2 the projection could not stay real). The projector is invariant to
    the domain size, so no period is needed. FFTs in float32 under autocast, float64 for float64 inputs.
    """
    if u.shape[channel_dim] != 2:
        raise ValueError(f"Helmholtz projection needs 2 components on dim {channel_dim}, got {tuple(u.shape)}")
    with torch.autocast(device_type=u.device.type, enabled=False):
        real = spectral_dtype(u)
        nx, ny = u.shape[-2:]
        u_hat = torch.fft.rfft2(u.to(real), dim=(-2, -1))
        kx = _derivative_wavenumbers(nx, real, u.device, half=False)[:, None]
        ky = _derivative_wavenumbers(ny, real, u.device, half=True)[None, :]
        k2 = kx**2 + ky**2
        k2 = torch.where(k2 == 0, torch.ones_like(k2), k2)  # k = 0 (mean, Nyquist corners): nothing to remove
        ux, uy = u_hat.unbind(channel_dim)
        div_over_k2 = (kx * ux + ky * uy) / k2
        projected = torch.stack((ux - kx * div_over_k2, uy - ky * div_over_k2), dim=channel_dim)
        return torch.fft.irfft2(projected, s=(nx, ny), dim=(-2, -1))

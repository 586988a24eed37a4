"""Building blocks of the Galerkin / Fourier Transformer (Cao, "Choose a Transformer: Fourier or Galerkin", 2021).

Everything here works on channels-last token tensors: ``(B, n, d)`` sequences or ``(B, *S, d)`` grids.
The public model (channels first) is :class:`specsolve.models.galerkin_transformer.GalerkinTransformer`.

- :class:`SimpleAttention`: softmax-free attention with per-head LayerNorms and coordinates concatenated to
  every head. Galerkin: ``Z = Q (LN(K)^T LN(V)) / n`` (linear in ``n``; the ``n x n`` matrix is never formed).
  Fourier: ``Z = (LN(Q) LN(K)^T) V / n`` (quadratic in ``n``).
- :class:`EncoderLayer`: the paper's "new scheme" without post-LayerNorm.
- :class:`SpectralConv`: the decoder's Fourier layer with real weights ``(I, O, *modes, 2)``, ``norm="ortho"``
  and, in 2D, two blocks (``+kx`` and ``-kx``) with an rfft in ``ky``.
- :class:`SpectralRegressor`, :class:`Downsampler2d`, :class:`Upsampler2d`: the decoder and the 2D CNN scalers.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specsolve.errors import DataError
from specsolve.nn.spectral_conv import complex_mode_matmul, dft_matrix

AttentionType = Literal["galerkin", "fourier"]


def uniform_grid(sizes: tuple[int, ...], like: Tensor) -> Tensor:
    """Node coordinates ``linspace(0, 1, n)`` per axis (endpoints included, as in the paper's code).

    Returns ``(*sizes, len(sizes))`` with ``ij`` indexing (channel ``k`` is the coordinate along axis ``k``),
    on ``like``'s device, float64 for float64 inputs and float32 otherwise (also under autocast).
    """
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    axes = [torch.linspace(0.0, 1.0, n, device=like.device, dtype=dtype) for n in sizes]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


class HeadwiseLayerNorm(nn.Module):
    """A separate ``LayerNorm(d_k)`` for each of ``h`` heads, applied to ``(B, h, n, d_k)``.

    Equivalent to ``h`` independent ``nn.LayerNorm(d_k, eps)`` (weights ``(h, d_k)``, biases ``(h, d_k)``),
    vectorised over heads.
    """

    def __init__(self, num_heads: int, d_k: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_heads, d_k))
        self.bias = nn.Parameter(torch.zeros(num_heads, d_k))

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.shape[0] == 1:  # one head: the affine map fused into the norm kernel
            return F.layer_norm(x, x.shape[-1:], self.weight[0], self.bias[0], eps=self.eps)
        x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return torch.addcmul(self.bias[:, None, :], x, self.weight[:, None, :])


class SimpleAttention(nn.Module):
    """Softmax-free multi-head attention ``(B, n, d), pos (B or 1, n, p) -> (B, n, d)``.

    ``Q, K, V = x W_{q,k,v} + b`` split into ``h`` heads of width ``d_k = d / h``; LayerNorm per head on
    ``K, V`` (galerkin) or ``Q, K`` (fourier); then ``pos`` is concatenated in front of each head's
    ``Q, K, V`` (width ``d_k + p``) **after** the norms, and

    - galerkin: ``Z = Q (K^T V / n)``, the ``(d_k + p) x (d_k + p)`` matrix ``K^T V / n`` is formed first;
    - fourier:  ``Z = (Q K^T / n) V``, an ``n x n`` matrix per head.

    Heads are concatenated to ``(B, n, h (d_k + p))`` and mapped back by ``fc: Linear(d + h p, d)``.
    ``dropout`` acts on the attention matrix (``K^T V / n`` or ``Q K^T / n``) in training mode only.
    Init (paper): ``W_{q,k,v} = xavier_uniform(gain) + diagonal_weight * I``, biases 0.

    Compatibility with the reference code (galerkin-transformer 0.2.1, behind the published numbers), both off by
    default: ``reference_attention_dropout`` replaces that dropout by the reference's ``F.dropout(p=0.5)`` on the
    attention matrix, active in training **and** evaluation mode (its ``attention``/``linear_attention`` call
    ``F.dropout`` with the defaults, ignoring ``dropout`` and ``model.eval()``; outputs are then random in eval);
    ``reference_fourier_scaling`` divides the Fourier scores by ``sqrt(d_k + p)`` as the reference code does (the
    paper's formula has no such factor; the Galerkin path has none in either).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        pos_dim: int,
        attention: AttentionType = "galerkin",
        xavier_gain: float = 1e-2,
        diagonal_weight: float = 1e-2,
        norm_eps: float = 1e-5,
        dropout: float = 0.0,
        reference_attention_dropout: bool = False,
        reference_fourier_scaling: bool = False,
    ) -> None:
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.attention = attention
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.pos_dim = pos_dim
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        # galerkin normalises K and V, fourier Q and K; the remaining projection is not normalised
        self.norm_q = HeadwiseLayerNorm(num_heads, self.d_k, norm_eps) if attention == "fourier" else None
        self.norm_k = HeadwiseLayerNorm(num_heads, self.d_k, norm_eps)
        self.norm_v = HeadwiseLayerNorm(num_heads, self.d_k, norm_eps) if attention == "galerkin" else None
        self.fc = nn.Linear(d_model + num_heads * pos_dim, d_model)
        self.dropout = nn.Dropout(dropout)
        self.reference_attention_dropout = reference_attention_dropout
        self.reference_fourier_scaling = reference_fourier_scaling
        self.reset_projections(xavier_gain, diagonal_weight)

    def attention_dropout(self, matrix: Tensor) -> Tensor:
        """``dropout`` in training mode, or the reference's always-on ``F.dropout(p=0.5)`` (see the class doc)."""
        if self.reference_attention_dropout:
            return F.dropout(matrix, p=0.5, training=True)
        return self.dropout(matrix)

    @torch.no_grad()
    def reset_projections(self, xavier_gain: float, diagonal_weight: float) -> None:
        """The paper's init of ``W_{q,k,v}``: ``xavier_uniform_(gain) + diagonal_weight * I``; biases zero."""
        for linear in (self.query, self.key, self.value):
            nn.init.xavier_uniform_(linear.weight, gain=xavier_gain)
            linear.weight += diagonal_weight * torch.eye(linear.weight.shape[0], dtype=linear.weight.dtype)
            nn.init.zeros_(linear.bias)

    def _heads(self, x: Tensor) -> Tensor:
        batch, n, _ = x.shape
        return x.reshape(batch, n, self.num_heads, self.d_k).transpose(1, 2)  # (B, h, n, d_k)

    def forward(self, x: Tensor, pos: Tensor, residual: bool = False) -> Tensor:
        """The attention output ``(B, n, d)``; with ``residual`` ``x`` plus it (folded into the products)."""
        if self.attention == "galerkin":
            return self._galerkin(x, pos, residual)
        batch, n, _ = x.shape
        q, k = self._heads(self.query(x)), self._heads(self.key(x))
        q, k, v = self.norm_q(q), self.norm_k(k), self._heads(self.value(x))
        if self.pos_dim > 0:
            p = pos.to(q.dtype).unsqueeze(1).expand(batch, self.num_heads, n, self.pos_dim)
            q, k, v = (torch.cat([p, t], dim=-1) for t in (q, k, v))
        scores = torch.einsum("bhnd,bhmd->bhnm", q, k)  # (B, h, n, n)
        if self.reference_fourier_scaling:
            scores = scores / math.sqrt(self.d_k + self.pos_dim)
        scores = self.attention_dropout(scores / n)
        z = torch.einsum("bhnm,bhme->bhne", scores, v)
        z = z.transpose(1, 2).reshape(batch, n, self.num_heads * (self.d_k + self.pos_dim))
        return x + self.fc(z) if residual else self.fc(z)

    def _galerkin(self, x: Tensor, pos: Tensor, residual: bool) -> Tensor:
        """``fc(concat_h [p, Q_h] kv_h)`` with ``kv_h = [p, K_h]^T [p, V_h] / n``, reassociated (same function).

        ``Q = x W_q^T + b_q`` and ``fc`` are linear, so ``fc(Z) = x A + p P + c`` with the small matrices
        ``M_h = kv_h W_{fc,h}^T`` (``(p + d_k) x d``, ``W_{fc,h}`` the ``fc`` columns of head ``h``),
        ``A = W_q^T [M_h]_{Q rows}``, ``P = sum_h [M_h]_{p rows}``, ``c = b_fc + b_q [M_h]_{Q rows}``: the ``n``
        tokens pass one ``d x d`` product instead of three (query, ``Q kv``, ``fc``), and ``Q`` is never formed;
        with ``residual``, ``x + fc(Z) = x (I + A) + p P + c`` (no separate sum).
        The blocks of ``[p, K]^T [p, V]`` are computed apart, so ``p`` is not concatenated to ``K`` and ``V``.
        """
        batch, n, _ = x.shape
        h, d_k, pd = self.num_heads, self.d_k, self.pos_dim
        k = self.norm_k(self._heads(self.key(x)))  # (B, h, n, d_k)
        v = self.norm_v(self._heads(self.value(x)))
        kt = k.transpose(-2, -1)  # matmul on the transposed view (no copy)
        kv = torch.matmul(kt, v)  # (B, h, d_k, d_k)
        p = pos.to(k.dtype)
        if pd > 0:
            pt = p.unsqueeze(1).transpose(-2, -1)  # (1 or B, 1, p, n)
            pp = torch.matmul(pt, p.unsqueeze(1)).expand(batch, h, pd, pd)
            pv, kp = torch.matmul(pt, v), torch.matmul(pt, k).transpose(-2, -1)  # (B, h, p, d_k), (B, h, d_k, p)
            kv = torch.cat([torch.cat([pp, pv], dim=-1), torch.cat([kp, kv], dim=-1)], dim=-2)
        kv = self.attention_dropout(kv / n)  # (B, h, p + d_k, p + d_k)
        m = torch.matmul(kv, self.fc.weight.view(-1, h, pd + d_k).permute(1, 2, 0))  # (B, h, p + d_k, d)
        m_q, m_p = m[:, :, pd:].reshape(batch, h * d_k, -1), m[:, :, :pd].sum(1)  # (B, d, d), (B, p, d)
        a = torch.matmul(self.query.weight.t(), m_q)  # (B, d, d)
        if residual:
            a = a + torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        c = (self.fc.bias + torch.matmul(self.query.bias, m_q)).unsqueeze(1)  # (B, 1, d)
        out = torch.baddbmm(c, x, a)
        # in place: baddbmm's backward keeps its factors, not its result
        return out.baddbmm_(p.expand(batch, n, pd).to(out.dtype), m_p.to(out.dtype)) if pd > 0 else out


class FeedForward(nn.Module):
    """``Linear(d, dim_ff) -> ReLU -> Dropout -> Linear(dim_ff, d)`` on the last axis."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.lr1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.lr2 = nn.Linear(dim_feedforward, d_model)

    def forward(self, x: Tensor, residual: bool = False) -> Tensor:
        """The FFN of ``x``; with ``residual`` ``x`` plus it (``x`` enters the second product as its addend)."""
        flat = x.reshape(-1, x.shape[-1])  # 2-D: the addmm result is no view (an in-place op on a view would
        # make autograd rebuild the base gradient: a zero fill and a copy of the hidden layer per backward)
        hidden = self.dropout(torch.relu_(self.lr1(flat)))  # in place: addmm's backward does not need its result
        if not residual:
            return self.lr2(hidden).view(*x.shape[:-1], -1)
        out = torch.addmm(flat, hidden, self.lr2.weight.t())
        return out.add_(self.lr2.bias).view(x.shape)


class EncoderLayer(nn.Module):
    """The paper's "new scheme" encoder layer (no post-LN; the norms live inside the attention).

    ``x <- x + Dropout(Attn(x, pos)); x <- x + Dropout(FFN(x))`` on ``(B, n, d)``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        pos_dim: int,
        dim_feedforward: int,
        attention: AttentionType = "galerkin",
        xavier_gain: float = 1e-2,
        diagonal_weight: float = 1e-2,
        norm_eps: float = 1e-5,
        dropout: float = 0.0,
        ffn_dropout: float = 0.0,
        reference_attention_dropout: bool = False,
        reference_fourier_scaling: bool = False,
    ) -> None:
        super().__init__()
        self.attn = SimpleAttention(
            d_model,
            num_heads,
            pos_dim,
            attention,
            xavier_gain,
            diagonal_weight,
            norm_eps,
            dropout,
            reference_attention_dropout,
            reference_fourier_scaling,
        )
        self.ff = FeedForward(d_model, dim_feedforward, ffn_dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        # an inactive residual dropout (eval or p = 0) lets the residual sums fold into the products
        if self.training and self.dropout1.p > 0:
            x = x + self.dropout1(self.attn(x, pos))
        else:
            x = self.attn(x, pos, residual=True)
        if self.training and self.dropout2.p > 0:
            return x + self.dropout2(self.ff(x))
        return self.ff(x, residual=True)


class SpectralConv(nn.Module):
    """Decoder Fourier layer ``(B, *S, I) -> (B, *S, O)``: ``act(irfft(R rfft(x)) + Linear(x))``, 1D or 2D.

    FFTs use ``norm="ortho"``. 1D keeps modes ``[0, m)``; 2D keeps two blocks ``kx in [0, m)`` and
    ``kx in [-m, 0)``, both with ``ky in [0, m)`` (rfft axis). Weights are real ``(I, O, m, 2)`` (1D) or
    two ``(I, O, m, m, 2)`` (2D), last axis = (real, imaginary), initialised ``xavier_normal_`` with gain
    ``1/(I O)`` (1D) or ``sqrt(I + O)/(I O)`` (2D) as in the paper's code. Dropout is applied to the input
    of the FFT branch only (not to the residual ``Linear``), in training mode.
    """

    def __init__(self, in_dim: int, out_dim: int, modes: int, ndim: Literal[1, 2], dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.modes, self.ndim = in_dim, out_dim, modes, ndim
        self.linear = nn.Linear(in_dim, out_dim)
        self.dropout = nn.Dropout(dropout)
        if ndim == 1:
            self.weight = nn.ParameterList([nn.Parameter(torch.empty(in_dim, out_dim, modes, 2))])
            gain = 1.0 / (in_dim * out_dim)
        else:
            self.weight = nn.ParameterList(
                nn.Parameter(torch.empty(in_dim, out_dim, modes, modes, 2)) for _ in range(2)
            )
            gain = math.sqrt(in_dim + out_dim) / (in_dim * out_dim)
        for w in self.weight:
            nn.init.xavier_normal_(w, gain=gain)

    def check_grid(self, spatial: tuple[int, ...]) -> None:
        m = self.modes
        if self.ndim == 2 and 2 * m > spatial[0]:
            raise DataError(f"galerkin_transformer keeps 2*{m} modes on the first axis but the grid has {spatial[0]}")
        if m > spatial[-1] // 2 + 1:
            raise DataError(
                f"galerkin_transformer keeps {m} modes on the last axis but a grid of {spatial[-1]} points has "
                f"only {spatial[-1] // 2 + 1}"
            )

    def spectral(self, x: Tensor) -> Tensor:
        """The band-limited branch ``irfft(R rfft(x))``, ``(B, *S, I) -> (B, *S, O)`` (no dropout)."""
        spatial = tuple(x.shape[1:-1])
        if len(spatial) != self.ndim:
            raise DataError(f"{self.ndim}-D spectral layer got a {len(spatial)}-D field of shape {tuple(x.shape)}")
        self.check_grid(spatial)
        m = self.modes
        with torch.autocast(device_type=x.device.type, enabled=False):
            real = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
            if self.ndim == 1 and x.device.type == "cpu":
                # the truncated DFT by products on the channels-last tokens: [Re | Im] of modes 0..m-1 is
                # x^T [C | -S] (unnormalised) and the inverse [Re | Im] @ inv_last carries the 1/n, so the pair
                # equals the "ortho" rfft / irfft pair; no transposed copies, no full spectrum
                (n,) = spatial
                batch = real.shape[0]
                fwd = dft_matrix(n, m, "fwd_last", real.dtype, real.device)  # (n, 2m)
                spectrum = torch.bmm(real.transpose(1, 2), fwd.expand(batch, -1, -1))  # (B, I, 2m)
                mixed = complex_mode_matmul(spectrum, self.weight[0].to(real.dtype))  # (B, O, 2m)
                inv = dft_matrix(n, m, "inv_last", real.dtype, real.device).t()  # (n, 2m)
                return torch.bmm(inv.expand(batch, -1, -1), mixed.transpose(1, 2))  # (B, n, O)
            real = real.movedim(-1, 1)  # (B, I, *S)
            weights = [torch.view_as_complex(w.to(real.dtype)) for w in self.weight]
            if self.ndim == 1:
                (n,) = spatial
                x_ft = torch.fft.rfft(real, dim=-1, norm="ortho")
                out_ft = x_ft.new_zeros(x.shape[0], self.out_dim, n // 2 + 1)
                kept = x_ft[..., :m]  # the complex mode mix as one real bmm (CPU complex bmm loops over modes)
                mixed = complex_mode_matmul(torch.cat([kept.real, kept.imag], dim=-1), self.weight[0].to(real.dtype))
                out_ft[..., :m] = torch.complex(mixed[..., :m], mixed[..., m:])
                out = torch.fft.irfft(out_ft, n=n, dim=-1, norm="ortho")
            else:
                h, w = spatial
                x_ft = torch.fft.rfft2(real, dim=(-2, -1), norm="ortho")
                out_ft = x_ft.new_zeros(x.shape[0], self.out_dim, h, w // 2 + 1)
                out_ft[..., :m, :m] = torch.einsum("bixy,ioxy->boxy", x_ft[..., :m, :m], weights[0])
                out_ft[..., -m:, :m] = torch.einsum("bixy,ioxy->boxy", x_ft[..., -m:, :m], weights[1])
                out = torch.fft.irfft2(out_ft, s=(h, w), dim=(-2, -1), norm="ortho")
        return out.movedim(1, -1)

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(self.spectral(self.dropout(x)) + self.linear(x))


class SpectralRegressor(nn.Module):
    """The paper's spectral decoder ``(B, *S, d) -> (B, *S, out)``.

    Optionally (2D, ``grid_fc``) ``Linear(d + ndim, freq_dim)`` on ``[x, grid]`` first; then
    ``num_layers`` :class:`SpectralConv` (``d or freq_dim -> freq_dim``); then
    ``Linear(freq_dim, hidden) -> SiLU -> Linear(hidden, out)``.
    """

    def __init__(
        self,
        in_dim: int,
        freq_dim: int,
        out_dim: int,
        modes: int,
        num_layers: int,
        hidden: int,
        ndim: Literal[1, 2],
        grid_fc: bool,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim + ndim, freq_dim) if grid_fc else None
        first = freq_dim if grid_fc else in_dim
        self.spectral_conv = nn.ModuleList(
            SpectralConv(first if i == 0 else freq_dim, freq_dim, modes, ndim, dropout) for i in range(num_layers)
        )
        self.regressor = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        if self.fc is not None:
            grid = uniform_grid(tuple(x.shape[1:-1]), x).expand(*x.shape[:-1], -1)
            x = self.fc(torch.cat([x, grid], dim=-1))
        for layer in self.spectral_conv:
            x = layer(x)
        return self.regressor(x)


class ConvBlock2d(nn.Module):
    """``act(Dropout(Conv3x3(x)))`` without bias on ``(B, C, H, W)`` (the paper's ``Conv2dResBlock`` as used)."""

    def __init__(self, in_dim: int, out_dim: int, activation: Literal["relu", "silu"], dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.act = nn.ReLU() if activation == "relu" else nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.dropout(self.conv(x)))


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def intermediate_size(fine: tuple[int, int], coarse: tuple[int, int]) -> tuple[int, int]:
    """The grid between the fine and the coarse one: the geometric mean per axis (141, 43 -> 78)."""
    return tuple(max(1, round(math.sqrt(f * c))) for f, c in zip(fine, coarse))  # type: ignore[return-value]


class Downsampler2d(nn.Module):
    """CNN downscaler ``(B, in, H, W) -> (B, d, h_c, w_c)`` (the paper's ``Interp2dEncoder``).

    ``ConvBlock(in, d)`` -> bilinear resize to the intermediate grid -> act -> three chained ConvBlocks
    ``d -> d//3 -> d//3 -> d - 2 (d//3)`` whose outputs are concatenated (``d`` channels) -> resize to the
    coarse grid -> act.
    """

    def __init__(self, in_dim: int, out_dim: int, activation: Literal["relu", "silu"], dropout: float = 0.0) -> None:
        super().__init__()
        c0 = c1 = out_dim // 3
        c2 = out_dim - c0 - c1
        self.conv0 = ConvBlock2d(in_dim, out_dim, activation, dropout)
        self.conv1 = ConvBlock2d(out_dim, c0, activation, dropout)
        self.conv2 = ConvBlock2d(c0, c1, activation, dropout)
        self.conv3 = ConvBlock2d(c1, c2, activation, dropout)
        self.act = nn.ReLU() if activation == "relu" else nn.SiLU()

    def forward(self, x: Tensor, coarse: tuple[int, int]) -> Tensor:
        mid = intermediate_size(tuple(x.shape[-2:]), coarse)  # type: ignore[arg-type]
        x = self.act(_resize(self.conv0(x), mid))
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        x3 = self.conv3(x2)
        return self.act(_resize(torch.cat([x1, x2, x3], dim=1), coarse))


class Upsampler2d(nn.Module):
    """Upscaler ``(B, d, h_c, w_c) -> (B, d, H, W)`` (the paper's ``Interp2dUpsample``).

    Bilinear resize to the intermediate grid -> ``ConvBlock(d, d)`` (SiLU) -> Dropout -> SiLU -> resize to
    the fine grid.
    """

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = ConvBlock2d(dim, dim, "silu", dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, fine: tuple[int, int]) -> Tensor:
        mid = intermediate_size(fine, tuple(x.shape[-2:]))  # type: ignore[arg-type]
        x = F.silu(self.dropout(self.conv(_resize(x, mid))))
        return _resize(x, fine)

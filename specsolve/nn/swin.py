"""Building blocks of the scOT (Poseidon's SwinV2 U-Net) model; see :mod:`specsolve.models.scot`.

All token tensors are channels-last grids ``(B, H, W, C)``; ``t`` is the lead time ``(B,)`` (ignored by the
unconditioned layer norm). Written from the SwinV2 paper (Liu et al., CVPR 2022) and the Poseidon paper
(Herde et al., NeurIPS 2024), and checked against Poseidon's published model code by the stored fixture of
``tests/fixtures/make_poseidon_fixture.py``; no reference code is copied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specsolve.errors import DataError
from specsolve.nn.cached import cached_constant, constant

LOGIT_SCALE_MAX = math.log(100.0)  # SwinV2 clamps the learnable logit scale at 1 / 0.01
CPB_HIDDEN = 512  # hidden width of the continuous position-bias MLP (SwinV2)


class ConditionalLayerNorm(nn.Module):
    """Time-conditioned layer norm ``gamma(t) * xhat + beta(t)`` over the last axis, no affine of its own.

    ``xhat = (x - mean) / sqrt(var + eps)`` (biased variance over the channel axis, like ``nn.LayerNorm``);
    ``gamma, beta = Linear(1, dim)(t)``, broadcast over all axes between batch and channels. Init of the module
    itself: weights ``N(0, 0.02)``, bias 1 (gamma) / 0 (beta), so that at ``t = 0`` it starts as a plain layer
    norm (:class:`~specsolve.models.scot.ScOT` re-initialises it as Poseidon does, unless told otherwise).
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Linear(1, dim)
        self.bias = nn.Linear(1, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight.weight, std=0.02)
        nn.init.ones_(self.weight.bias)
        nn.init.normal_(self.bias.weight, std=0.02)
        nn.init.zeros_(self.bias.bias)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        if t is None:
            raise DataError("a time-conditioned layer norm needs the lead times t (batch,)")
        xhat = F.layer_norm(x, (self.dim,), eps=self.eps)
        tt = t.reshape(-1, 1).to(x.dtype)
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (self.dim,)
        return torch.addcmul(self.bias(tt).view(shape), self.weight(tt).view(shape), xhat)  # beta + gamma xhat


class PlainLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the last axis that accepts (and ignores) ``t``, for ``time_conditioning=False``."""

    def forward(self, x: Tensor, t: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x)


def make_norm(dim: int, conditional: bool, eps: float = 1e-5) -> nn.Module:
    return ConditionalLayerNorm(dim, eps) if conditional else PlainLayerNorm(dim, eps=eps)


class DropPath(nn.Module):
    """Stochastic depth: zero a residual branch per sample with probability ``p`` (training only), rescale."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


# --- windows -------------------------------------------------------------------------------------


def window_partition(x: Tensor, window: int) -> Tensor:
    """``(B, H, W, C) -> (B * nW, window**2, C)``, windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, window**2, C) -> (B, H, W, C)``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def effective_window(resolution: int, window: int, shifted: bool) -> tuple[int, int]:
    """``(window, shift)`` at a level: the whole grid and no shift when ``resolution <= window``."""
    if resolution <= window:
        return resolution, 0
    return window, (window // 2 if shifted else 0)


def shift_region_labels(h: int, w: int, window: int, shift: int, device: torch.device | None = None) -> Tensor:
    """Region label of each token of the cyclically shifted ``(h, w)`` grid: ``(h, w)`` int.

    After rolling by ``-shift``, the last window row/column holds tokens from both ends of the original grid;
    the regions ``[0, n - window)``, ``[n - window, n - shift)``, ``[n - shift, n)`` per axis keep them apart.
    """
    labels = torch.zeros(h, w, dtype=torch.long, device=device)
    if shift == 0:
        return labels
    bounds_h = (slice(0, h - window), slice(h - window, h - shift), slice(h - shift, h))
    bounds_w = (slice(0, w - window), slice(w - window, w - shift), slice(w - shift, w))
    for i, sh in enumerate(bounds_h):
        for j, sw in enumerate(bounds_w):
            labels[sh, sw] = 3 * i + j
    return labels


def shifted_window_mask(h: int, w: int, window: int, shift: int, device: torch.device | None = None) -> Tensor | None:
    """Boolean mask ``(nW, N, N)``, True where two tokens of a shifted window lie in different regions (the
    attention between them is removed); None without shift."""
    if shift == 0:
        return None
    labels = shift_region_labels(h, w, window, shift, device)
    lw = window_partition(labels.view(1, h, w, 1), window).squeeze(-1)  # (nW, N)
    return lw.unsqueeze(1) != lw.unsqueeze(2)


def relative_coords_table(window: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """SwinV2 log-spaced relative coordinates ``((2w-1)**2, 2)``: ``sign(d) log2(1 + 8|d|/(w-1)) / log2(8)``.

    Always evaluated in float32 and then cast to ``dtype``, as the SwinV2 code that Poseidon's checkpoints were
    trained with does (a float64 model then reproduces it to rounding, not to float32 accuracy)."""
    r = torch.arange(-(window - 1), window, device=device, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(r, r, indexing="ij"), dim=-1).reshape(-1, 2)
    table = table / max(window - 1, 1) * 8.0
    table = torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8.0)
    return table.to(dtype or torch.get_default_dtype())


def relative_position_index(window: int, device: torch.device | None = None) -> Tensor:
    """Index ``(N, N)`` into the ``(2w-1)**2`` relative offsets for every token pair of a window."""
    ar = torch.arange(window, device=device)
    coords = torch.stack(torch.meshgrid(ar, ar, indexing="ij")).flatten(1)  # (2, N)
    rel = (coords[:, :, None] - coords[:, None, :]) + (window - 1)  # (2, N, N) in [0, 2w-2]
    return rel[0] * (2 * window - 1) + rel[1]


@cached_constant
def _cached_coords_table_t(window: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    return relative_coords_table(window, device, dtype).t().contiguous()


@cached_constant
def _cached_position_index(window: int, device: torch.device) -> Tensor:
    return relative_position_index(window, device).reshape(-1)


@cached_constant
def _cached_shift_mask(h: int, w: int, window: int, shift: int, device: torch.device) -> Tensor | None:
    return shifted_window_mask(h, w, window, shift, device)


def _versions(params: Iterable[Tensor]) -> tuple[tuple[int, int], ...]:
    """Identity of parameter values: storage and in-place version counter of each (an optimizer step, a
    ``load_state_dict`` or ``.to()`` changes one of them)."""
    return tuple((p.data_ptr(), p._version) for p in params)


#: log-probability floor of the training attention with a finite shift mask (see :class:`BiasedSoftmaxAttention`)
SUBNORMAL_FLOOR = 30.0


def _softmax_in_place(logits: Tensor) -> Tensor:
    if logits.device.type == "cpu" and logits.is_contiguous():
        # the CPU last-dimension kernel reads each row before it writes it, so ``out`` may alias the input
        return torch.ops.aten._softmax.out(logits, -1, False, out=logits)
    return torch.softmax(logits, dim=-1)


class BiasedSoftmaxAttention(torch.autograd.Function):
    """``softmax(q k^T + bias) v`` with a hand-written backward that reuses its buffers.

    ``q, k, v`` ``(B, H, N, D)``, ``bias`` ``(1, H, N, N)`` (broadcast over ``B``; it may need a gradient).
    Forward: the logits are biased and normalised in place, and ``P`` is kept for the backward. Backward, with
    ``dP = dO v^T`` and ``delta = rowsum(dO * O)`` (``= rowsum(dP * P)``): ``dS = P (dP - delta)`` in place,
    ``dq = dS k``, ``dk = dS^T q``, ``dv = P^T dO``, ``dbias = sum_B dS``. The same function and gradients as
    autograd through ``torch.softmax`` with two fewer ``(B, H, N, N)`` buffers per call (on CPU each fresh
    buffer is a fresh set of zeroed pages).

    ``floor`` (None: off): the logits are raised to at least ``rowmax - floor`` before the softmax, so that no
    probability falls below ``exp(-floor)`` times the row's largest. With a finite shift mask (Poseidon adds
    -100) the masked probabilities are otherwise ``~exp(-100)``: float32 subnormals, on which x86 CPUs run
    the softmax, ``P v`` and the backward products several times slower. With ``floor = 30`` a probability moves
    by at most ``exp(-30) ~ 1e-13`` of the row's largest (a row of ``N = 256`` by ``N exp(-30) ~ 2e-11``, far
    below float32 rounding of any output), and the backward's ``dS = P (dP - delta)`` stays normal unless
    ``|dP - delta|`` falls below ``~1e-25`` (with ``floor = 60`` the usual ``~1e-12`` of a training gradient
    already gave subnormal ``dS``); the backward is the softmax gradient at the floored logits.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, floor: float | None = None) -> Tensor:  # type: ignore[override]
        logits = torch.matmul(q, k.transpose(-2, -1)).add_(bias)
        if floor is not None:
            torch.maximum(logits, logits.amax(-1, keepdim=True).sub_(floor), out=logits)
        probs = _softmax_in_place(logits)
        out = torch.matmul(probs, v)
        ctx.save_for_backward(q, k, v, probs, out)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        q, k, v, probs, out = ctx.saved_tensors
        need_q, need_k, need_v, need_bias, _ = ctx.needs_input_grad
        grad_out = grad_out.contiguous()
        grad_v = torch.matmul(probs.transpose(-2, -1), grad_out) if need_v else None
        delta = (grad_out * out).sum(-1, keepdim=True)
        grad_logits = torch.matmul(grad_out, v.transpose(-2, -1)).sub_(delta).mul_(probs)
        grad_q = torch.matmul(grad_logits, k) if need_q else None
        grad_k = torch.matmul(grad_logits.transpose(-2, -1), q) if need_k else None
        grad_bias = grad_logits.sum(0, keepdim=True) if need_bias else None
        return grad_q, grad_k, grad_v, grad_bias, None


def biased_softmax_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, floor: float | None = None) -> Tensor:
    """``softmax(q k^T + bias) v`` (no scale) through :class:`BiasedSoftmaxAttention` (``floor`` there); under
    autocast, or for a ``bias`` not of shape ``(1, H, N, N)``, through plain autograd (no floor)."""
    device = q.device.type
    if torch.is_autocast_enabled(device) or bias.dim() != 4 or bias.shape[0] != 1:
        return torch.softmax(torch.matmul(q, k.transpose(-2, -1)) + bias, dim=-1) @ v
    return BiasedSoftmaxAttention.apply(q, k, v, bias, floor)


class WindowAttention(nn.Module):
    """SwinV2 window attention with scaled cosine similarity and a continuous relative-position bias.

    ``logits = cos(q, k) * exp(min(logit_scale, log 100)) + 16 sigmoid(CPB(log-spaced offsets))``; masked pairs
    get ``-inf`` (exact zeros after the softmax) with ``mask_value=None``, else ``mask_value`` is added to their
    logits (Poseidon / SwinV2 add -100). Query and value carry a bias (``qkv_bias``), the key none.
    Input ``(B', N, C)`` windows of ``N = window**2`` tokens; the window size may change from call to call.

    The forward runs ``F.scaled_dot_product_attention`` with the logit scale folded into the normalised queries
    and the position bias (plus the shift mask) as its additive mask. Without autograd (``torch.no_grad`` /
    ``inference_mode``) the position bias of each window size, and its sum with the shift mask, is computed once
    and reused until a CPB parameter changes (storage or in-place version), another mask object is passed, or
    the module's ``train()`` / ``eval()`` is called. Under autograd it runs :func:`biased_softmax_attention`
    instead, with the logit floor :data:`SUBNORMAL_FLOOR` when the shift mask is finite (``mask_value``).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, mask_value: float | None = None) -> None:
        super().__init__()
        self.num_heads, self.mask_value = num_heads, mask_value
        self.head_dim = dim // num_heads
        self.logit_scale = nn.Parameter(torch.full((num_heads, 1, 1), math.log(10.0)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, CPB_HIDDEN), nn.ReLU(), nn.Linear(CPB_HIDDEN, num_heads, bias=False))
        self.query = nn.Linear(dim, dim, bias=qkv_bias)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self._bias_cache: dict[tuple, tuple[tuple, Tensor]] = {}

    def train(self, mode: bool = True) -> WindowAttention:
        self._bias_cache.clear()
        return super().train(mode)

    def _position_bias(self, window: int, like: Tensor) -> Tensor:
        # the CPB MLP in hidden-major layout, (hidden, (2w-1)^2) -> (heads, (2w-1)^2): Linear -> ReLU -> Linear of
        # cpb_mlp, with cheaper products (and backward products) than its row-major form, no transposed copy
        first, second = self.cpb_mlp[0], self.cpb_mlp[2]
        coords = _cached_coords_table_t(window, like.device, like.dtype)  # (2, (2w-1)^2)
        hidden = torch.addmm(first.bias[:, None], first.weight, coords).relu_()
        table = 16.0 * torch.sigmoid(torch.mm(second.weight, hidden))  # elementwise, so before the gather
        index = _cached_position_index(window, like.device)
        return table.index_select(1, index).view(self.num_heads, window * window, window * window)

    def _cached(self, key: tuple, mask: Tensor | None, build: Callable[[], Tensor]) -> Tensor:
        """``build()``, reused without autograd while the CPB parameters and the ``mask`` object stay the same."""
        if torch.is_grad_enabled():
            return build()
        versions = _versions(self.cpb_mlp.parameters())
        device = key[2].type
        key += (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None,)  # computed dtype
        hit = self._bias_cache.get(key)
        if hit is None or hit[0] != versions or hit[1] is not mask:  # the entry holds ``mask``: no id reuse
            hit = (versions, mask, constant(build))
            self._bias_cache[key] = hit
        return hit[2]

    def position_bias(self, window: int, like: Tensor) -> Tensor:
        """``16 sigmoid(CPB)`` for every token pair: ``(heads, N, N)``."""
        key = ("bias", window, like.device, like.dtype)
        return self._cached(key, None, lambda: self._position_bias(window, like))

    def _scaled_qk(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Unit queries times the clamped logit scale and unit keys, ``(B', heads, N, head_dim)`` each."""
        bw, n, _ = x.shape
        q = self.query(x).view(bw, n, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.key(x).view(bw, n, self.num_heads, self.head_dim).transpose(1, 2)
        scale = torch.clamp(self.logit_scale, max=LOGIT_SCALE_MAX).exp().to(x.dtype)
        return F.normalize(q, dim=-1) * scale, F.normalize(k, dim=-1)

    def additive_mask(self, window: int, mask: Tensor | None, like: Tensor) -> Tensor:
        """Position bias plus the shift mask: ``(heads, N, N)`` without ``mask``, else ``(nW, heads, N, N)``."""
        if mask is None:
            return self.position_bias(window, like)
        key = ("masked", window, like.device, like.dtype)
        return self._cached(key, mask, lambda: self._masked_bias(window, mask, like))

    def _masked_bias(self, window: int, mask: Tensor, like: Tensor) -> Tensor:
        bias = self.position_bias(window, like)
        if self.mask_value is None:
            return bias.masked_fill(mask[:, None], float("-inf"))
        return bias + mask[:, None].to(bias.dtype) * self.mask_value

    def attention_weights(self, x: Tensor, window: int, mask: Tensor | None = None) -> Tensor:
        """Softmax weights ``(B', heads, N, N)``; ``mask`` ``(nW, N, N)`` bool, windows ordered as in ``B'``."""
        bw, n, _ = x.shape
        q, k = self._scaled_qk(x)
        logits = q @ k.transpose(-2, -1)
        mask_add = self.additive_mask(window, mask, x)
        if mask is not None:
            nw = mask.shape[0]
            logits = (logits.view(bw // nw, nw, self.num_heads, n, n) + mask_add).view(bw, self.num_heads, n, n)
        else:
            logits = logits + mask_add
        return torch.softmax(logits, dim=-1)

    def forward(self, x: Tensor, window: int, mask: Tensor | None = None) -> Tensor:
        bw, n, c = x.shape
        q, k = self._scaled_qk(x)
        v = self.value(x).view(bw, n, self.num_heads, self.head_dim).transpose(1, 2)
        mask_add = self.additive_mask(window, mask, x)
        if mask is not None:  # windows (B, nW) -> (B, nW * heads) "heads", so that the (nW, heads) mask broadcasts
            nw = mask.shape[0]
            q, k, v = (z.reshape(bw // nw, nw * self.num_heads, n, self.head_dim) for z in (q, k, v))
        mask_add = mask_add.view(1, -1, n, n)
        if torch.is_grad_enabled() and mask_add.requires_grad:
            # SDPA would take its math path here (no fused kernel has a mask gradient), which adds passes over the
            # logits for fully masked rows; there are none, so the plain softmax is the same function
            floor = SUBNORMAL_FLOOR if mask is not None and self.mask_value is not None else None
            out = biased_softmax_attention(q, k, v, mask_add, floor)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_add, scale=1.0)
        out = out.view(bw, self.num_heads, n, self.head_dim)
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class SwinV2Block(nn.Module):
    """Res-post-norm SwinV2 block on ``(B, H, W, C)``:

    ``x <- x + DropPath(LN(WindowAttn(x)))``, ``x <- x + DropPath(LN(MLP(x)))``, ``MLP = Linear(C, rC) -> GELU ->
    Linear(rC, C)``. Odd blocks (``shifted=True``) roll the grid by ``-window // 2`` before attention and mask
    cross-region pairs; at a level whose resolution is ``<= window`` the window is the whole grid, unshifted.
    ``eps``: of both layer norms; ``mask_value``: see :class:`WindowAttention`.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: int,
        shifted: bool,
        mlp_ratio: float,
        drop_path: float,
        conditional: bool,
        qkv_bias: bool = True,
        eps: float = 1e-5,
        mask_value: float | None = None,
    ) -> None:
        super().__init__()
        self.window, self.shifted = window, shifted
        self.attention = WindowAttention(dim, num_heads, qkv_bias, mask_value)
        self.norm_attention = make_norm(dim, conditional, eps)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm_mlp = make_norm(dim, conditional, eps)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        b, h, w, c = x.shape
        window, shift = effective_window(min(h, w), self.window, self.shifted)
        if h % window or w % window:
            raise DataError(f"scot: a {h}x{w} token grid cannot be tiled by {window}x{window} attention windows")
        y = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2)) if shift else x
        mask = _cached_shift_mask(h, w, window, shift, x.device)
        y = window_reverse(self.attention(window_partition(y, window), window, mask), window, h, w)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        x = x + self.drop_path(self.norm_attention(y, t))
        return x + self.drop_path(self.norm_mlp(self._mlp(x), t))

    def _mlp(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            return self.mlp(x)
        fc1, act, fc2 = self.mlp
        return fc2(torch.ops.aten.gelu_(fc1(x), approximate=act.approximate))  # in place: nothing keeps fc1(x)


class PatchMerging(nn.Module):
    """``(B, H, W, C) -> (B, H/2, W/2, 2C)``: concatenate each 2x2 neighbourhood, ``Linear(4C, 2C, no bias)``, LN."""

    def __init__(self, dim: int, conditional: bool) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = make_norm(2 * dim, conditional)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.norm(self.reduction(x), t)


class PatchUnmerging(nn.Module):
    """``(B, H, W, C) -> (B, 2H, 2W, C/2)``: ``Linear(C, 2C, no bias)``, 2x2 pixel shuffle, LN, ``Linear(no bias)``
    mixup.

    Channel order of the shuffle (Poseidon's): expanded channel ``(2 a + b) C/2 + c`` becomes channel ``c`` of
    the fine token ``(2i + a, 2j + b)`` (sub-pixel row, sub-pixel column, channel; ``F.pixel_shuffle`` would
    take ``c``-major order instead).
    """

    def __init__(self, dim: int, conditional: bool) -> None:
        super().__init__()
        self.expansion = nn.Linear(dim, 2 * dim, bias=False)
        self.norm = make_norm(dim // 2, conditional)
        self.mixup = nn.Linear(dim // 2, dim // 2, bias=False)

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        b, h, w, c = x.shape
        y = self.expansion(x).view(b, h, w, 2, 2, c // 2).transpose(2, 3).reshape(b, 2 * h, 2 * w, c // 2)
        return self.mixup(self.norm(y, t))


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block on ``(B, H, W, C)``: ``x + s * Linear(4C, C)(GELU(Linear(C, 4C)(LN(dwconv7x7(x)))))``,
    layer scale ``s`` initialised to 1e-6; ``eps`` of the layer norm (Poseidon: its ``layer_norm_eps``, 1e-5)."""

    def __init__(self, dim: int, conditional: bool, layer_scale: float = 1e-6, eps: float = 1e-5) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = make_norm(dim, conditional, eps=eps)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: Tensor, t: Tensor | None) -> Tensor:
        y = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y, t))))
        return x + self.layer_scale * y

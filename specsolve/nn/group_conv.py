"""Group-equivariant building blocks shared by G-FNO 2D and 3D (Helwig et al., ICML 2023).

Groups: ``p4`` (rotations by 90 degrees, |G| = 4) and ``p4m`` (rotations and reflections, |G| = 8) acting on
two array axes (the spatial plane). Element ``g = s * 4 + r`` (``s`` in {0, 1}, ``r`` in {0..3}) acts on an
array as ``T_g = flip^s o rot90^r`` over the plane axes ``(a, b)``; ``rot90`` is ``torch.rot90(k=1, dims=(a, b))``
and ``flip`` reverses axis ``a``. The group table is computed from these array operations, so the
conventions can never disagree with the code that applies them.

Regular-representation fields are ``(B, C * |G|, *S)`` with channel index ``c * |G| + g`` (``g`` fastest).
A rotation/reflection ``u`` acts on them as ``(u f)(c, g) = T_u f(c, u^{-1} g)``. A group convolution with
base kernel ``K[o, i, h]`` uses, for output copy ``g`` and input copy ``h``, the kernel ``T_g K[o, i, g^{-1} h]``
(equivariant for any ``K``). On a periodic grid, ``torch.rot90``/``flip`` of a field equals the same array
operation on its centred spectrum, so spectral kernels are transformed by applying ``T_g`` to the centred
Fourier block over ``(ky, kx)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GROUP_ORDERS = {"p4": 4, "p4m": 8}


def transform(t: Tensor, g: int, dims: tuple[int, int]) -> Tensor:
    """Apply ``T_g = flip^s o rot90^r`` (``g = 4 s + r``) to ``t`` over the plane axes ``dims``."""
    s, r = divmod(g, 4)
    if r:
        t = torch.rot90(t, r, dims=dims)
    if s:
        t = torch.flip(t, dims=(dims[0],))
    return t


def group_tables(group: str) -> tuple[list[list[int]], list[int]]:
    """Multiplication table ``mul[g][h] = index(T_g o T_h)`` and inverses, from the array operations."""
    order = GROUP_ORDERS[group]
    probe = torch.arange(9).reshape(3, 3)  # all 8 elements of D4 give distinct arrays
    images = [transform(probe, g, (0, 1)) for g in range(order)]

    def index(a: Tensor) -> int:
        return next(k for k, img in enumerate(images) if torch.equal(a, img))

    mul = [[index(transform(images[h], g, (0, 1))) for h in range(order)] for g in range(order)]
    inv = [mul[g].index(0) for g in range(order)]
    return mul, inv


def input_permutation(group: str) -> Tensor:
    """``perm[g, h] = index(g^{-1} h)``: the base-kernel input copy used by output copy ``g`` for input copy ``h``."""
    mul, inv = group_tables(group)
    order = len(mul)
    return torch.tensor([[mul[inv[g]][h] for h in range(order)] for g in range(order)], dtype=torch.long)


def _tracing() -> bool:
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def inference_cached(module: nn.Module, key: tuple, build):
    """``build()``, reused across calls without autograd while the module's parameters are unchanged.

    The entry is keyed on every parameter's version counter (bumped by any in-place update: optimiser steps,
    ``load_state_dict``), storage, dtype and device, plus ``key``; with autograd on (training), under tracing,
    compile or export nothing is cached and ``build()`` runs as before. One entry per module.
    """
    if torch.is_grad_enabled() or _tracing():
        module.__dict__.pop("_inference_cache", None)
        return build()
    params = tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in module.parameters(recurse=False))
    full_key = (params, *key)
    entry = module.__dict__.get("_inference_cache")
    if entry is not None and entry[0] == full_key:
        return entry[1]
    value = build()
    module.__dict__["_inference_cache"] = (full_key, value)
    return value


def gelu_(x: Tensor) -> Tensor:
    """GELU; in place on ``x`` (a fresh intermediate of the caller) when autograd is off, saving an allocation."""
    if torch.is_grad_enabled() or _tracing():
        return F.gelu(x)
    return torch._C._nn.gelu_(x)


def _conv1x1(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Pointwise channel mixing ``(B, I, *S) -> (B, O, *S)`` with ``weight (O, I)``, ``bias (O,)`` (a BLAS matmul;
    ``conv2d`` with 1x1 kernels falls back to a slow path for float64 on CPU)."""
    b, _, *spatial = x.shape
    y = torch.baddbmm(bias[None, :, None], weight.expand(b, *weight.shape), x.reshape(b, x.shape[1], -1))
    return y.reshape(b, weight.shape[0], *spatial)


class GConv1x1(nn.Module):
    """1x1 group convolution (a pointwise 1x1 kernel is unchanged by ``T_g``, so only group indices move).

    ``kind="lift"``: trivial -> regular, ``(B, I, *S) -> (B, O|G|, *S)``, weight ``(O, I)`` copied to every ``g``.
    ``kind="regular"``: regular -> regular, weight ``(O, I, |G|)``, ``W[(o, g), (i, h)] = K[o, i, g^{-1} h]``.
    ``kind="pool"``: regular -> trivial, weight ``(O, I)`` shared over ``h`` and summed (group pooling), so the
    output is invariant. Bias ``(O,)``, shared over ``g``. Init as in the reference code (kaiming-uniform, a=sqrt(5)):
    weight ``U(+-1/sqrt(I * |G|))`` for ``regular``, ``U(+-1/sqrt(I))`` otherwise; bias ``U(+-1/sqrt(O))``.
    The full weight is built on every call with autograd on; without it, it is reused while the parameters'
    version counters are unchanged (:func:`inference_cached`).
    """

    def __init__(self, in_channels: int, out_channels: int, group: str, kind: str = "regular") -> None:
        super().__init__()
        self.kind = kind
        self.order = GROUP_ORDERS[group]
        regular = kind == "regular"
        shape = (out_channels, in_channels, self.order) if regular else (out_channels, in_channels)
        bound = 1.0 / math.sqrt(in_channels * (self.order if regular else 1))
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        bias_bound = 1.0 / math.sqrt(out_channels)
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bias_bound, bias_bound))
        self.register_buffer("perm", input_permutation(group), persistent=False)

    def full_weight(self) -> tuple[Tensor, Tensor]:
        """``(weight (O_out, I_in), bias (O_out,))`` on the stacked channel axes."""
        g = self.order
        if self.kind == "lift":
            return self.weight.repeat_interleave(g, dim=0), self.bias.repeat_interleave(g)
        if self.kind == "pool":
            return self.weight.repeat_interleave(g, dim=1), self.bias
        out_c, in_c, _ = self.weight.shape
        w = self.weight[:, :, self.perm]  # (O, I, g, h)
        return w.permute(0, 2, 1, 3).reshape(out_c * g, in_c * g), self.bias.repeat_interleave(g)

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = inference_cached(self, (), self.full_weight)
        return _conv1x1(x, weight, bias)

    def add_into(self, out: Tensor, x: Tensor) -> Tensor:
        """``out + self(x)``, accumulated in place into ``out`` (a fresh intermediate of the caller, e.g. the result
        of a product whose backward does not need it): no full-size temporaries for the product or the sum."""
        weight, bias = inference_cached(self, (), self.full_weight)
        b = x.shape[0]
        flat = out.view(b, out.shape[1], -1)
        weight, x = weight.to(out.dtype), x.to(out.dtype)  # autocast: out may be of lower precision
        flat.baddbmm_(weight.expand(b, *weight.shape), x.reshape(b, x.shape[1], -1))
        flat.add_(bias[None, :, None])
        return out


class GMLP(nn.Module):
    """``GConv1x1 -> GELU -> GConv1x1`` on regular fields; ``last_layer`` ends with group pooling."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, group: str, last_layer: bool = False):
        super().__init__()
        self.mlp1 = GConv1x1(in_channels, mid_channels, group, "regular")
        self.mlp2 = GConv1x1(mid_channels, out_channels, group, "pool" if last_layer else "regular")

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() or _tracing() or x.device.type != "cpu" or torch.is_autocast_enabled("cpu"):
            return self.mlp2(gelu_(self.mlp1(x)))
        # without autograd on CPU: sample by sample, so the hidden layer (mid |G| channels) is one sample's
        # worth of memory, reused, instead of a fresh full-batch allocation; the same products per sample
        w1, b1 = inference_cached(self.mlp1, (), self.mlp1.full_weight)
        w2, b2 = inference_cached(self.mlp2, (), self.mlp2.full_weight)
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        out = flat.new_empty(x.shape[0], w2.shape[0], flat.shape[-1])
        for i in range(x.shape[0]):
            hidden = torch._C._nn.gelu_(torch.addmm(b1[:, None], w1, flat[i]))
            torch.addmm(b2[:, None], w2, hidden, out=out[i])
        return out.view(x.shape[0], -1, *x.shape[2:])


def group_norm(x: Tensor, order: int, eps: float = 1e-5) -> Tensor:
    """G-FNO's GNorm: ``InstanceNorm3d(C)`` without affine on the view ``(B, C, |G|, *S)``, i.e. per sample and
    channel ``c`` over all group copies and positions (a group-invariant statistic, hence equivariant).

    In the ``(c, g)`` layout (``g`` fastest) the copies of channel ``c`` are consecutive, so this is
    ``F.group_norm`` with one group per channel: the fused native kernel (about 10x faster on CPU than the
    ``var_mean`` expression it replaces, the same statistic: biased variance)."""
    return F.group_norm(x, x.shape[1] // order, eps=eps)


def real_to_complex(t: Tensor, real_dtype: torch.dtype) -> Tensor:
    """Real tensor ``(..., 2)`` (real, imaginary parts) -> complex tensor of the matching precision."""
    t = t.to(real_dtype)
    return torch.complex(t[..., 0], t[..., 1])


def hermitian_plane(y0: Tensor, dc: Tensor, half: Tensor) -> Tensor:
    """Complete a 2-D Fourier kernel on the centred block ``ky, kx in [-(m-1), m-1]`` with ``W(-k) = conj W(k)``.

    ``y0 (..., m-1)`` complex: ``ky = 1..m-1`` at ``kx = 0``; ``dc (...)`` real: ``k = 0``; ``half (..., 2m-1, m-1)``
    complex: all ``ky``, ``kx = 1..m-1``. Returns ``(..., 2m-1, 2m-1)`` complex, index ``[ky + m-1, kx + m-1]``;
    its inverse DFT is real. ``(2m-1)^2`` real degrees of freedom.
    """
    column = torch.cat([y0.flip(-1).conj(), dc.to(y0.dtype).unsqueeze(-1), y0], dim=-1)
    left = half.flip(-2, -1).conj()
    return torch.cat([left, column.unsqueeze(-1), half], dim=-1)


def hermitian_plane_parameters(base: tuple[int, int, int], m: int) -> tuple[nn.Parameter, nn.Parameter, nn.Parameter]:
    """The ``kx >= 0`` half of a Hermitian kernel on the centred ``(2m-1)^2`` block, for :func:`hermitian_plane`:
    ``weight_y0 (*base, m-1, 2)``, ``weight_dc (*base)`` (real) and ``weight_half (*base, 2m-1, m-1, 2)``, created
    (and initialised, see :func:`spectral_parameter`) in that order."""
    return (
        spectral_parameter(base, m - 1),
        spectral_parameter(base, complex_=False),
        spectral_parameter(base, 2 * m - 1, m - 1),
    )


def hermitian_plane_kernel(y0: Tensor, dc: Tensor, half: Tensor, real_dtype: torch.dtype) -> Tensor:
    """:func:`hermitian_plane` of the real parameters made by :func:`hermitian_plane_parameters`, computed in
    ``real_dtype``: ``(*base, 2m-1, 2m-1)`` complex."""
    return hermitian_plane(real_to_complex(y0, real_dtype), dc.to(real_dtype), real_to_complex(half, real_dtype))


def stack_group_copies(copies: list[Tensor]) -> Tensor:
    """Regular-representation kernel from its output copies ``[T_g K[o, i, g^{-1} h] for g in G]``, each
    ``(O, I, |G|, *k)``: ``(O|G|, I|G|, *k)`` in the ``(c, g)`` layout (``g`` fastest)."""
    full = torch.stack(copies, dim=1)  # (O, g, I, h, *k)
    o, g, i, h = full.shape[:4]
    return full.reshape(o * g, i * h, *full.shape[4:])


def gather_centered(x: Tensor, dim: int, m: int) -> Tensor:
    """Frequencies ``-(m-1)..m-1`` of an unshifted FFT axis, in increasing order (length 2m-1)."""
    n = x.shape[dim]
    return torch.cat([x.narrow(dim, n - (m - 1), m - 1), x.narrow(dim, 0, m)], dim=dim)


def scatter_centered(out: Tensor, block: Tensor, dim: int, m: int) -> Tensor:
    """Inverse of :func:`gather_centered`: write ``block`` (length 2m-1 on ``dim``) into ``out`` in place."""
    n = out.shape[dim]
    out.narrow(dim, 0, m).copy_(block.narrow(dim, m - 1, m))
    if m > 1:
        out.narrow(dim, n - (m - 1), m - 1).copy_(block.narrow(dim, 0, m - 1))
    return out


def spectral_real_dtype(x: Tensor) -> torch.dtype:
    """FFTs run in float64 for double inputs and in float32 otherwise (also under autocast)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def spectral_parameter(base: tuple[int, int, int], *block: int, complex_: bool = True) -> nn.Parameter:
    """A spectral weight ``(O, I, |G|, *block[, 2])`` (trailing 2 = real, imaginary parts), initialised like the
    reference code's per-tensor kaiming-uniform (a=sqrt(5)): ``U(+-1/sqrt(fan_in))``, ``fan_in = I |G| prod(block)``
    (real and imaginary parts alike)."""
    fan_in = max(1, base[1] * base[2] * math.prod(block))
    bound = 1.0 / math.sqrt(fan_in)
    shape = (*base, *block, 2) if complex_ else (*base, *block)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))

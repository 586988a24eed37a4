"""Tests of scOT (Poseidon-style SwinV2 U-Net, ``scot``) and the ``hdf5_all2all`` time-pair dataset.

Regenerate the stored output (only after a deliberate change of the architecture or its init):
``.venv/bin/python -m pytest tests/test_scot.py --regen-regression -k stored_output``. Equality with Poseidon's own
code is tested in ``tests/test_poseidon_reference.py``.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from regression import assert_matches_stored
from tiny_models import TINY_SCOT

from specsolve import registry
from specsolve.config.loading import load_config
from specsolve.data.modules.hdf5_all2all import All2AllDataModule, snapshot_pairs
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.errors import ConfigError, DataError
from specsolve.models.scot import ScOT, adapt_for_finetuning, fourier_resample, load_weights
from specsolve.nn.swin import (
    SUBNORMAL_FLOOR,
    ConditionalLayerNorm,
    SwinV2Block,
    WindowAttention,
    biased_softmax_attention,
    effective_window,
    relative_coords_table,
    relative_position_index,
    shift_region_labels,
    shifted_window_mask,
    window_partition,
)

# operators.md section 8: image 32, patch 4, window 4, embed 16, depths [1,1,1], heads [1,2,4], skip [1,1,0], mlp 2
# operators.md section 8: image 32, patch 4, window 4, embed 16, depths [1,1,1], heads [1,2,4], skip [1,1,0], mlp 2
TINY = {**TINY_SCOT, "embed_dim": 16}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny(in_channels: int = 2, out_channels: int = 2, seed: int = 0, **overrides) -> ScOT:
    torch.manual_seed(seed)
    return ScOT(in_channels, out_channels, **{**TINY, **overrides}).double()


def randomise_conditioning(model: torch.nn.Module, seed: int = 1) -> None:
    """Larger time-conditioning weights and layer scales, so that every path matters in the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ConditionalLayerNorm):
                for lin in (module.weight, module.bias):
                    lin.weight.copy_(0.5 * torch.randn(lin.weight.shape, generator=gen))
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.fill_(0.3)


# --- structure and parameter counts --------------------------------------------------------------------


def expected_count(c_in, c_out, embed, depths, heads, skips, patch, mlp_ratio, conditional=True) -> int:
    """Parameter count from the architecture description (operators.md section 5.1), term by term."""
    ln = (lambda d: 4 * d) if conditional else (lambda d: 2 * d)  # 2 x Linear(1, d) or (weight, bias)
    total = c_in * embed * patch**2 + embed + ln(embed)  # patch embedding + LN
    for i, (depth, h, s) in enumerate(zip(depths, heads, skips)):
        d = embed * 2**i
        hidden = int(d * mlp_ratio)
        attention = h + (2 * 512 + 512) + 512 * h + (d * d + d) * 2 + d * d + (d * d + d)  # scale, CPB, q k v, proj
        block = attention + ln(d) + (d * hidden + hidden + hidden * d + d) + ln(d)
        total += 2 * depth * block  # encoder and mirrored decoder
        total += s * (49 * d + d + ln(d) + d * 4 * d + 4 * d + 4 * d * d + d + d)  # ConvNeXt blocks on the skip
        if i < len(depths) - 1:
            total += 4 * d * 2 * d + ln(2 * d)  # patch merging d -> 2d
            up = 2 * d
            total += up * 2 * up + ln(up // 2) + (up // 2) ** 2  # patch unmerging 2d -> d (no biases)
    total += embed * c_out * patch**2 + c_out + c_out * c_out * 25  # recovery: transposed conv + 5x5 mixup
    return total


def test_parameter_counts_match_the_architecture_and_poseidon_sizes():
    assert n_params(tiny()) == expected_count(2, 2, 16, (1, 1, 1), (1, 2, 4), (1, 1, 0), 4, 2.0) == 142_212
    assert n_params(tiny(time_conditioning=False)) == expected_count(
        2, 2, 16, (1, 1, 1), (1, 2, 4), (1, 1, 0), 4, 2.0, conditional=False
    )
    t_size = n_params(registry.create("model", "scot_t", in_channels=4, out_channels=4))
    # 20,774,444 is also the count of Poseidon's own ScOT-T (tests/test_poseidon_reference.py)
    assert t_size == expected_count(4, 4, 48, (4,) * 4, (3, 6, 12, 24), (2, 2, 2, 0), 4, 4.0) == 20_774_444
    # Poseidon model cards: 20.8 M (T), 158 M (B), 629 M (L); B and L by the formula checked above (too big to build)
    assert round(t_size / 1e6, 1) == 20.8
    assert round(expected_count(4, 4, 96, (8,) * 4, (3, 6, 12, 24), (2, 2, 2, 0), 4, 4.0) / 1e6) == 158
    assert round(expected_count(4, 4, 192, (8,) * 4, (3, 6, 12, 24), (2, 2, 2, 0), 4, 4.0) / 1e6) == 629


def test_output_shape_equals_input_shape_and_float64():
    model = tiny(2, 3)
    x = torch.randn(2, 2, 32, 32, dtype=torch.float64)
    y = model(x, torch.tensor([0.1, 0.9]))
    assert y.shape == (2, 3, 32, 32) and y.dtype == torch.float64 and torch.isfinite(y).all()
    assert tiny(2, 2)(x, 0.5).shape == x.shape  # a scalar lead time is broadcast


def test_time_conditioning_changes_output_and_off_is_time_agnostic():
    x = torch.randn(2, 2, 32, 32, dtype=torch.float64)
    model = tiny()
    y1, y2 = model(x, torch.tensor([0.2, 0.2])), model(x, torch.tensor([0.2, 0.7]))
    torch.testing.assert_close(y1[0], y2[0], rtol=0, atol=0)  # per-sample conditioning
    assert (y1[1] - y2[1]).abs().max() > 1e-4
    off = tiny(time_conditioning=False)
    assert not any(isinstance(m, ConditionalLayerNorm) for m in off.modules())
    ref = off(x)
    torch.testing.assert_close(off(x, torch.tensor([0.2, 0.7])), ref, rtol=0, atol=0)
    torch.testing.assert_close(off(x, torch.tensor([5.0, -1.0])), ref, rtol=0, atol=0)
    with pytest.raises(DataError, match="lead times"):
        model(x)
    with pytest.raises(DataError, match="shape"):
        model(x, torch.zeros(3))


def test_every_layer_norm_is_conditional():
    model = tiny()
    norms = [n for n, m in model.named_modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms == []
    cond = [n for n, m in model.named_modules() if isinstance(m, ConditionalLayerNorm)]
    # embedding 1 + blocks 2 per block (3 enc + 3 dec) + merges 2 + unmerges 2 + ConvNeXt 2
    assert len(cond) == 1 + 12 + 2 + 2 + 2


def test_conditional_layer_norm_formula():
    torch.manual_seed(0)
    norm = ConditionalLayerNorm(6).double()
    with torch.no_grad():
        for lin in (norm.weight, norm.bias):
            lin.weight.normal_()
            lin.bias.normal_()
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    xhat = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)
    gamma = norm.weight.weight[:, 0] * t[:, None] + norm.weight.bias  # (B, dim)
    beta = norm.bias.weight[:, 0] * t[:, None] + norm.bias.bias
    expected = gamma[:, None, None, :] * xhat + beta[:, None, None, :]
    torch.testing.assert_close(norm(x, t), expected, rtol=1e-12, atol=1e-12)
    fresh = ConditionalLayerNorm(6).double()  # starts as a plain LN at t = 0
    torch.testing.assert_close(fresh(x, torch.zeros(3, dtype=torch.float64)), xhat, rtol=1e-12, atol=1e-12)


# --- windows, shifts, attention ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("masked", [False, True])
def test_biased_softmax_attention_matches_autograd_softmax(dtype, masked):
    """The hand-written backward of the training attention gives autograd's gradients of
    ``softmax(q k^T + bias) v`` for q, k, v and the (broadcast) bias, and its in-place softmax the same forward;
    with a -inf shift mask too (masked pairs get exact zeros and no gradient)."""
    gen = torch.Generator().manual_seed(3)
    b, h, n, d = 3, 4, 16, 5
    q, k, v = (torch.randn(b, h, n, d, generator=gen, dtype=dtype, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, h, n, n, generator=gen, dtype=dtype)
    if masked:
        bias = bias.masked_fill(torch.rand(1, h, n, n, generator=gen) < 0.3, float("-inf"))
        bias = bias.masked_fill(torch.eye(n, dtype=torch.bool), 0.0)
    bias.requires_grad_(True)
    grad = torch.randn(b, h, n, d, generator=gen, dtype=dtype)
    expected = torch.softmax(q @ k.transpose(-2, -1) + bias, dim=-1) @ v
    want = torch.autograd.grad(expected, (q, k, v, bias), grad)
    out = biased_softmax_attention(q, k, v, bias)
    got = torch.autograd.grad(out, (q, k, v, bias), grad)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(out, expected, **tol)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, **tol)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(
            biased_softmax_attention, (q, k, v, bias.detach().clamp(min=-50).requires_grad_())
        )


def test_floored_attention_keeps_float32_normal_and_matches_autograd_softmax():
    """With Poseidon's finite shift mask (-100 added) the masked probabilities are float32 subnormals (slow on
    CPUs); the floor of the training attention keeps every probability normal, and the output and gradients
    still equal autograd's through the plain softmax at float32 rounding."""
    gen = torch.Generator().manual_seed(5)
    b, h, n, d = 2, 3, 32, 8
    q, k, v = (torch.randn(b, h, n, d, generator=gen, requires_grad=True) for _ in range(3))
    masked = torch.rand(1, h, n, n, generator=gen) < 0.5
    bias = (torch.randn(1, h, n, n, generator=gen) - 100.0 * masked).requires_grad_(True)
    grad = torch.randn(b, h, n, d, generator=gen)
    expected = torch.softmax(q @ k.transpose(-2, -1) + bias, dim=-1) @ v
    plain_probs = torch.softmax((q @ k.transpose(-2, -1) + bias).detach(), dim=-1)
    tiny = torch.finfo(torch.float32).tiny
    assert ((plain_probs > 0) & (plain_probs < tiny)).any()  # the case the floor is for
    want = torch.autograd.grad(expected, (q, k, v, bias), grad)
    out = biased_softmax_attention(q, k, v, bias, floor=SUBNORMAL_FLOOR)
    probs = out.grad_fn.saved_tensors[3]
    assert probs.min() >= tiny
    got = torch.autograd.grad(out, (q, k, v, bias), grad)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
    # a training-sized upstream gradient: dS = P (dP - delta) of the masked pairs stays normal too (one batch
    # entry, so the bias gradient is dS itself)
    out = biased_softmax_attention(q[:1], k[:1], v[:1], bias, floor=SUBNORMAL_FLOOR)
    (grad_bias,) = torch.autograd.grad(out, (bias,), 1e-12 * grad[:1])
    assert (grad_bias[masked.expand_as(grad_bias)].abs() >= tiny).all()


def test_window_and_shift_per_level():
    assert effective_window(8, 4, True) == (4, 2) and effective_window(8, 4, False) == (4, 0)
    assert effective_window(4, 4, True) == (4, 0) and effective_window(2, 4, True) == (2, 0)
    assert effective_window(32, 16, True) == (16, 8)  # Poseidon-T at 128^2: only level 0 shifts


def test_shift_mask_separates_regions_and_zeroes_attention():
    n, w, s = 8, 4, 2
    labels = shift_region_labels(n, n, w, s)
    assert sorted(labels.unique().tolist()) == list(range(9))
    mask = shifted_window_mask(n, n, w, s)
    assert mask.shape == ((n // w) ** 2, w * w, w * w)
    lw = window_partition(labels.view(1, n, n, 1), w).squeeze(-1)
    assert torch.equal(mask, lw[:, :, None] != lw[:, None, :])
    assert not mask[0].any() and mask[-1].any()  # only windows on the wrapped border are masked
    assert shifted_window_mask(n, n, w, 0) is None

    torch.manual_seed(0)
    attn = WindowAttention(8, 2).double()
    x = window_partition(torch.randn(2, n, n, 8, dtype=torch.float64), w)
    weights = attn.attention_weights(x, w, mask)  # (B * nW, heads, N, N)
    blocked = mask.repeat(2, 1, 1)[:, None].expand_as(weights)
    assert weights[blocked].abs().max() == 0.0  # exactly zero across regions
    assert (weights[~blocked] > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


def test_scot_masks_shifted_windows_as_poseidon_with_an_additive_minus_100():
    """Poseidon (SwinV2) adds -100 to the logits of separated pairs instead of removing them: at a large logit
    scale the masked pairs keep a weight, which a pretrained checkpoint's outputs depend on."""
    n, w, s = 8, 4, 2
    mask = shifted_window_mask(n, n, w, s)
    torch.manual_seed(0)
    attn = WindowAttention(8, 2, mask_value=-100.0).double()
    x = window_partition(torch.randn(1, n, n, 8, dtype=torch.float64), w)
    with torch.no_grad():
        attn.logit_scale.fill_(math.log(100.0))
        exact = WindowAttention(8, 2).double()
        exact.load_state_dict(attn.state_dict())
        free = attn.attention_weights(x, w)  # no mask
        logits = torch.log(free) + (-100.0) * mask[:, None].double()  # softmax is shift-invariant per row
        weights = attn.attention_weights(x, w, mask)
        torch.testing.assert_close(weights, torch.softmax(logits, -1))
        assert weights[mask[:, None].expand(-1, 2, -1, -1)].min() > 0  # small, but not removed
        assert exact.attention_weights(x, w, mask)[mask[:, None].expand(-1, 2, -1, -1)].max() == 0
    model = tiny()
    blocks = [b for level in [*model.encoder, *model.decoder] for b in level]
    assert blocks and all(b.attention.mask_value == -100.0 for b in blocks)


def test_norm_init_poseidon_by_default_or_identity():
    cond = lambda m: [x for x in m.modules() if isinstance(x, ConditionalLayerNorm)]  # noqa: E731
    poseidon, identity = cond(tiny()), cond(tiny(norm_init="identity"))
    assert all(n.weight.bias.abs().max() == 0 and n.bias.bias.abs().max() == 0 for n in poseidon)  # gamma(0) = 0
    assert all(torch.equal(n.weight.bias, torch.ones_like(n.weight.bias)) for n in identity)  # plain LN at t = 0
    slopes = torch.cat([n.weight.weight.flatten() for n in poseidon])
    assert 0.015 < slopes.std().item() < 0.025
    with pytest.raises(ConfigError, match="norm_init"):
        tiny(norm_init="ones")


def test_decoder_runs_its_blocks_in_poseidons_order_and_drop_path_schedule():
    model = tiny(depths=(2, 3, 1), drop_path=0.2)
    assert [b.shifted for b in model.encoder[0]] == [False, True]
    assert [b.shifted for b in model.decoder[0]] == [True, False]  # even depth: the first decoder block shifts
    assert [b.shifted for b in model.decoder[1]] == [False, True, False]
    rates = torch.linspace(0, 0.2, 12).tolist()  # 2 * sum(depths): encoder blocks, then decoder in run order
    enc = [b.drop_path.p for level in model.encoder for b in level]
    dec = [b.drop_path.p for i in (2, 1, 0) for b in model.decoder[i]]
    assert enc == rates[:6] and dec == rates[6:]


@pytest.mark.parametrize("shifted", [False, True])
def test_block_couples_only_tokens_of_the_same_shifted_window_and_region(shifted):
    """Black box: perturbing token q changes exactly the outputs of tokens p in q's (shifted) window that are
    neighbours in the original grid (|p - q| < window per axis, i.e. not wrapped around by the cyclic shift)."""
    n, w = 8, 4
    s = w // 2 if shifted else 0
    torch.manual_seed(0)
    block = SwinV2Block(8, 2, w, shifted, 2.0, 0.0, conditional=False).double()
    x = torch.randn(1, n, n, 8, dtype=torch.float64)
    base = block(x, None)
    for qi, qj in [(0, 0), (1, 6), (3, 3), (6, 1), (7, 7), (5, 2)]:
        x2 = x.clone()
        x2[0, qi, qj] += 1.0
        changed = (block(x2, None) - base).abs().amax(-1)[0] > 1e-12
        expected = torch.zeros(n, n, dtype=torch.bool)
        for pi, pj in itertools.product(range(n), range(n)):
            same_window = ((pi - s) % n) // w == ((qi - s) % n) // w and ((pj - s) % n) // w == ((qj - s) % n) // w
            expected[pi, pj] = same_window and abs(pi - qi) < w and abs(pj - qj) < w
        assert torch.equal(changed, expected), (qi, qj)


def test_block_at_or_below_window_resolution_is_global_and_unshifted():
    torch.manual_seed(0)
    block = SwinV2Block(8, 2, 4, True, 2.0, 0.0, conditional=False).double()
    x = torch.randn(1, 4, 4, 8, dtype=torch.float64)
    x2 = x.clone()
    x2[0, 0, 0] += 1.0
    assert ((block(x2, None) - block(x, None)).abs().amax(-1) > 1e-12).all()


def test_position_bias_table_and_logit_scale_clamp():
    w = 4
    table, index = relative_coords_table(w, dtype=torch.float64), relative_position_index(w)
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij"), -1).reshape(-1, 2)
    offsets = (coords[:, None] - coords[None, :]).double()  # (N, N, 2)
    expected = torch.sign(offsets) * torch.log2(1 + 8 * offsets.abs() / (w - 1)) / 3.0
    torch.testing.assert_close(table[index], expected)
    torch.testing.assert_close(table.abs().max(), torch.tensor(math.log2(9.0) / 3.0, dtype=torch.float64))

    torch.manual_seed(0)
    attn = WindowAttention(8, 2).double()
    x = torch.randn(3, w * w, 8, dtype=torch.float64)
    with torch.no_grad():
        attn.logit_scale.fill_(math.log(100.0))
        at_clamp = attn.attention_weights(x, w)
        attn.logit_scale.fill_(10.0)  # exp(10) > 100: clamped
        torch.testing.assert_close(attn.attention_weights(x, w), at_clamp, rtol=0, atol=0)
        # scaled cosine: logits do not change when q and k are rescaled (here via the input, no q/k bias)
        attn.query.bias.zero_()
        torch.testing.assert_close(attn.attention_weights(3.0 * x, w), attn.attention_weights(x, w))


def test_cached_position_bias_follows_parameter_changes_and_matches_autograd_path():
    """Without autograd the CPB bias is cached per window size; every way of changing the CPB weights (in-place
    update as an optimizer step, load_state_dict, a dtype move) must invalidate it, and the cached path must
    compute the same outputs as the autograd path."""
    torch.manual_seed(0)
    model = tiny()
    randomise_conditioning(model)
    x, t = torch.randn(2, 2, 32, 32, dtype=torch.float64), torch.tensor([0.3, 0.8], dtype=torch.float64)
    attn = model.encoder[0][0].attention

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            cached = model(x, t)
        with torch.inference_mode():
            inferred = model(x, t)
        torch.testing.assert_close(inferred, cached, rtol=0, atol=0)
        return cached, model(x, t).detach()

    cached, fresh = both()
    torch.testing.assert_close(cached, fresh, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        attn.cpb_mlp[0].weight.mul_(3.0)  # in place, like an optimizer step
    changed, fresh = both()
    assert (changed - cached).abs().max() > 1e-6
    torch.testing.assert_close(changed, fresh, rtol=1e-12, atol=1e-12)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    model(x, t).square().mean().backward()
    opt.step()
    stepped, fresh = both()
    assert (stepped - changed).abs().max() > 1e-6
    torch.testing.assert_close(stepped, fresh, rtol=1e-12, atol=1e-12)
    reference = tiny(seed=5)
    randomise_conditioning(reference, seed=6)
    model.load_state_dict(reference.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model(x, t), reference(x, t), rtol=0, atol=0)
    model.float()
    with torch.no_grad():
        torch.testing.assert_close(model(x.float(), t.float()), reference.float()(x.float(), t.float()))


def test_cached_position_bias_is_kept_apart_per_autocast_dtype():
    model = tiny().float().eval()
    x, t = torch.randn(2, 2, 32, 32), torch.tensor([0.3, 0.8])
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):  # caches bfloat16 biases first
            low = model(x, t)
        full = model(x, t)
    expected = model(x, t).detach()  # autograd path: nothing cached
    assert low.dtype == torch.bfloat16 and full.dtype == torch.float32
    torch.testing.assert_close(full, expected, rtol=1e-5, atol=1e-6)


# --- configuration and shape errors --------------------------------------------------------------------


def test_clear_errors_for_bad_configs_and_untileable_grids():
    with pytest.raises(ConfigError, match="not divisible by patch_size"):
        ScOT(1, 1, **{**TINY, "image_size": 36})
    with pytest.raises(ConfigError, match="windows do not tile"):
        ScOT(1, 1, **{**TINY, "window_size": 3})  # 8x8 tokens at level 0
    with pytest.raises(ConfigError, match="num_heads"):
        ScOT(1, 1, **{**TINY, "num_heads": (3, 2, 4)})
    with pytest.raises(ConfigError, match="one entry per level"):
        ScOT(1, 1, **{**TINY, "skip_connections": (1, 1)})
    with pytest.raises(ConfigError, match="learn_residual"):
        ScOT(2, 3, **{**TINY, "learn_residual": True})
    with pytest.raises(ConfigError, match="expects"):
        registry.create("model", "scot", in_channels=1, out_channels=1, depths="4")
    free = tiny(image_size=None)
    with pytest.raises(DataError, match="square"):
        free(torch.zeros(1, 2, 32, 16, dtype=torch.float64), 0.0)
    with pytest.raises(DataError, match="not divisible by patch_size"):
        free(torch.zeros(1, 2, 36, 36, dtype=torch.float64), 0.0)
    with pytest.raises(DataError, match="windows do not tile"):
        tiny(image_size=None, window_size=5)(torch.zeros(1, 2, 32, 32, dtype=torch.float64), 0.0)  # 8x8 tokens
    with pytest.raises(DataError, match="input channels"):
        free(torch.zeros(1, 3, 32, 32, dtype=torch.float64), 0.0)


def test_fourier_resampling_to_image_size():
    n = 24
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    f = lambda X, Y: torch.sin(2 * math.pi * X) + 0.5 * torch.cos(2 * math.pi * (3 * Y - 2 * X))  # noqa: E731
    fine = torch.arange(32, dtype=torch.float64) / 32
    FX, FY = torch.meshgrid(fine, fine, indexing="ij")
    torch.testing.assert_close(fourier_resample(f(X, Y)[None, None], 32)[0, 0], f(FX, FY))
    model = tiny()  # image_size 32: a 24^2 input (not tileable by itself) is resampled to 32^2 and back
    assert model(torch.randn(1, 2, 24, 24, dtype=torch.float64), 0.3).shape == (1, 2, 24, 24)


def test_learn_residual_adds_the_input():
    model = tiny(learn_residual=True)
    with torch.no_grad():
        model.recovery.mixup.weight.zero_()
    x = torch.randn(2, 2, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(model(x, torch.tensor([0.0, 1.0])), x, rtol=0, atol=0)


# --- fine-tuning helpers -------------------------------------------------------------------------------


def test_load_weights_and_adapt_for_finetuning(tmp_path):
    source = tiny(4, 4, seed=3)
    path = tmp_path / "pretrained.pt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in source.state_dict().items()}}, path)
    target = tiny(2, 1, seed=4)
    report = load_weights(target, path)
    assert report["mismatched"] == [
        "embedding.projection.weight",
        "recovery.projection.weight",
        "recovery.projection.bias",
        "recovery.mixup.weight",
    ]
    torch.testing.assert_close(target.encoder[0][0].attention.query.weight, source.encoder[0][0].attention.query.weight)

    model = tiny(4, 4, seed=3)
    x = torch.randn(1, 4, 32, 32, dtype=torch.float64)
    before = model.encoder[1][0].attention.proj.weight.clone()
    names = adapt_for_finetuning(
        model, 3, 1, trainable=["embedding.*", "recovery.*", "*norm*.weight.*", "*norm*.bias.*"]
    )
    assert model(x[:, :3], 0.5).shape == (1, 1, 32, 32) and model.embedding.projection.weight.dtype == torch.float64
    assert "recovery.mixup.weight" in names and "encoder.0.0.norm_mlp.weight.weight" in names
    assert not model.encoder[1][0].attention.proj.weight.requires_grad
    torch.testing.assert_close(model.encoder[1][0].attention.proj.weight, before, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="no parameter"):
        adapt_for_finetuning(model, 3, 1, trainable=["nothing*"])


# --- all2all data --------------------------------------------------------------------------------------


def write_trajectories(
    path: Path, n_samples: int, n_times: int, n: int = 8, dt: float = 0.05, encode: bool = True, seed: int = 0
) -> Path:
    """``u, v (sample, time, x, y)``; ``encode``: u = 100 sample + time index (constant field), v = -u + x."""
    x = np.arange(n) / n
    times = dt * np.arange(n_times)
    if encode:
        u = (100.0 * np.arange(n_samples)[:, None] + np.arange(n_times)[None, :])[:, :, None, None] * np.ones((n, n))
        v = -u + x[:, None]
    else:  # smooth travelling waves with random phases
        rng = np.random.default_rng(seed)
        ph = rng.uniform(0, 2 * np.pi, size=(n_samples, 1, 1, 1))
        X, Y = np.meshgrid(x, x, indexing="ij")
        tt = times[None, :, None, None]
        u = np.sin(2 * np.pi * (X - tt) + ph) + 0.5 * np.cos(2 * np.pi * Y + ph)
        v = np.cos(2 * np.pi * (X + Y - 0.5 * tt) + ph)
    dims = ("sample", "time", "x", "y")
    with NativeWriter(
        path,
        coords={"sample": np.arange(n_samples), "time": times, "x": x, "y": x},
        variables={"u": VariableSpec(dims), "v": VariableSpec(dims)},
    ) as w:
        w.write("u", 0, u.astype(np.float32))
        w.write("v", 0, v.astype(np.float32))
    return path


def test_all2all_pairs_and_lead_times(tmp_path):
    path = write_trajectories(tmp_path / "traj.h5", n_samples=3, n_times=9)
    dm = All2AllDataModule(
        train=str(path), inputs=["u", "v"], outputs=["u"], time_stride=2, n_snapshots=4, time_scale=2.0, batch_size=5
    )
    k1 = 4  # K + 1 snapshots: time indices 0, 2, 4, 6
    assert dm.pairs_per_trajectory == k1 * (k1 + 1) // 2 == 10
    ds = dm.datasets["train"]
    assert len(ds) == 3 * 10 and ds.snapshots == [0, 2, 4, 6]
    assert (dm.in_channels, dm.out_channels, dm.spatial_shape) == (2, 1, (8, 8))
    seen = set()
    for index in range(len(ds)):
        x, y, t = ds[index]
        sample, ti = divmod(int(round(x[0, 0, 0].item())), 100)
        tj = int(round(y[0, 0, 0].item())) - 100 * sample
        assert index // 10 == sample and ti <= tj and ti in ds.snapshots and tj in ds.snapshots
        torch.testing.assert_close(t, torch.tensor(2.0 * 0.05 * (tj - ti)))
        seen.add((sample, ti, tj))
    assert seen == {(s, a, b) for s in range(3) for a in (0, 2, 4, 6) for b in (0, 2, 4, 6) if a <= b}
    x, y, t = next(iter(dm.train_dataloader()))
    assert x.shape == (5, 2, 8, 8) and y.shape == (5, 1, 8, 8) and t.shape == (5,)

    assert len(snapshot_pairs(8)) == 36  # Poseidon's default: 8 snapshots -> 36 pairs
    assert snapshot_pairs(4, allowed_transitions=[1]) == [(0, 1), (1, 2), (2, 3)]
    assert len(snapshot_pairs(4, max_lead=1)) == 4 + 3
    every = All2AllDataModule(train=str(path), inputs=["u"])  # all 9 stored times
    assert every.pairs_per_trajectory == 45
    assert All2AllDataModule(train=str(path), inputs=["u"], time_indices=[1, 5]).datasets["train"].lead_times == [
        0.0,
        pytest.approx(0.2),
        0.0,
    ]


def test_all2all_statistics_and_errors(tmp_path):
    path = write_trajectories(tmp_path / "traj.h5", n_samples=3, n_times=5, encode=False)
    dm = All2AllDataModule(train=str(path), inputs=["u", "v"], time_stride=2, n_train=2)
    stats = dm.normalization_statistics()
    items = [dm.datasets["train"][i] for i in range(2 * dm.pairs_per_trajectory)]  # the first 2 trajectories
    for key, k in (("x", 0), ("y", 1)):
        values = torch.stack([it[k] for it in items]).double().transpose(0, 1).flatten(1)
        torch.testing.assert_close(stats[f"{key}_mean"], values.mean(1).float(), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(stats[f"{key}_std"], values.std(1, unbiased=False).float(), atol=1e-6, rtol=1e-5)
    assert len(dm.train_dataloader().dataset) == 2 * 6

    with pytest.raises(DataError, match="need 7 time steps"):
        All2AllDataModule(train=str(path), inputs=["u"], time_stride=2, n_snapshots=4)
    with pytest.raises(DataError, match="no snapshot pair"):
        All2AllDataModule(train=str(path), inputs=["u"], allowed_transitions=[9])
    with pytest.raises(ConfigError, match="n_train"):
        All2AllDataModule(train=str(path), inputs=["u"], n_train=4)
    with pytest.raises(ConfigError, match="time_indices"):
        All2AllDataModule(train=str(path), inputs=["u"], time_indices=[0, 1], time_stride=2)
    flat = tmp_path / "flat.h5"
    with NativeWriter(
        flat, coords={"sample": np.arange(2), "x": np.arange(4.0)}, variables={"a": VariableSpec(("sample", "x"))}
    ) as w:
        w.write("a", 0, np.zeros((2, 4), np.float32))
    with pytest.raises(DataError, match=r"\(sample, time"):
        All2AllDataModule(train=str(flat), inputs=["a"])


def test_end_to_end_training_on_all2all(tmp_path):
    from specsolve.training.checkpoint import load_module
    from specsolve.training.run import train

    train_file = write_trajectories(tmp_path / "train.h5", n_samples=4, n_times=5, n=32, encode=False, seed=0)
    test_file = write_trajectories(tmp_path / "test.h5", n_samples=2, n_times=5, n=32, encode=False, seed=1)
    model = {"name": "scot", **TINY}
    cfg = load_config(None, [])
    cfg = OmegaConf.merge(
        cfg,
        {
            "run_dir": str(tmp_path / "run"),
            "data": {
                "name": "hdf5_all2all",
                "train": str(train_file),
                "test": str(test_file),
                "inputs": ["u", "v"],
                "time_stride": 2,
                "batch_size": 8,
            },
            "model": model,
            "optimizer": {"name": "adamw", "lr": 1e-3},
            "trainer": {"max_epochs": 2, "deterministic": True},
        },
    )
    result = train(cfg, progress=False)
    assert Path(result["last"]).exists() and Path(result["best"]).exists()
    assert math.isfinite(result["metrics"]["val/rel_l2"]) and math.isfinite(result["metrics"]["train/loss"])
    module, hp = load_module(result["best"])
    assert hp["config"]["model"]["in_channels"] == 2 and hp["config"]["data"]["name"] == "hdf5_all2all"
    x, y, t = next(
        iter(
            torch.utils.data.DataLoader(
                All2AllDataModule(train=str(test_file), inputs=["u", "v"], time_stride=2).datasets["train"],
                batch_size=6,
            )
        )
    )
    with torch.no_grad():
        pred, pred_other_t = module(x, t), module(x, t + 0.5)
    assert pred.shape == y.shape and (pred - pred_other_t).abs().max() > 0


# --- stored-output regression --------------------------------------------------------------------------


def regression_case() -> tuple[ScOT, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1234)
    model = ScOT(2, 2, **{**TINY, "depths": (2, 2, 1)}).double()  # two blocks: a shifted window at level 0
    randomise_conditioning(model)
    x = torch.randn(1, 2, 32, 32, dtype=torch.float64)
    return model, x, torch.tensor([0.75], dtype=torch.float64)


def test_stored_output_regression():
    model, x, t = regression_case()
    with torch.no_grad():
        case = {"input": x.float(), "output": model(x, t).float(), "n_params": n_params(model)}
    assert_matches_stored("scot", case, rtol=0, atol=1e-5, tolerances={"input": (0.0, 0.0)})

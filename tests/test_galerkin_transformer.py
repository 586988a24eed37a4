"""Tests of the Galerkin / Fourier Transformer (model "galerkin_transformer").

Regenerate the stored regression outputs (only after an intended change of the model):
    .venv/bin/python -m pytest tests/test_galerkin_transformer.py -k stored_output --regen-regression
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from paper_configs import GALERKIN_2D_DARCY
from regression import assert_matches_stored
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from specsolve.errors import ConfigError, DataError
from specsolve.models.galerkin_transformer import GalerkinTransformer
from specsolve.nn.galerkin import EncoderLayer, SimpleAttention, SpectralConv
from specsolve.registry import create

TINY_1D = dict(n_hidden=16, num_heads=1, num_layers=2, dim_feedforward=32, freq_dim=8, modes=4)
TINY_2D = dict(dim=2, n_hidden=16, num_heads=2, num_layers=2, freq_dim=8, modes=4, coarse_size=8)
PAPER_1D = dict(n_hidden=96, num_heads=1, num_layers=4, dim_feedforward=192, freq_dim=48, modes=16)
PAPER_2D = dict(
    **GALERKIN_2D_DARCY,
    norm_eps=1e-7,
    dropout=0.05,
    downsampler_dropout=0.05,
    coarse_size=43,
    zero_boundary=True,
)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def seeded(seed: int, **params) -> GalerkinTransformer:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return GalerkinTransformer(1, 1, **params)


class OutputShapes(TorchDispatchMode):
    """Records the shape of every tensor produced by every aten op (einsum/matmul internals included)."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[str, tuple[int, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.shapes.append((str(func), tuple(t.shape)))
        return out


def randomise(module: torch.nn.Module, std: float = 0.3, seed: int = 0) -> None:
    """Non-degenerate weights (the paper's init makes Q, K, V almost diagonal and tiny)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))


# --- parameter counts (the reference implementation's, checked) ------------------------------------------------


@pytest.mark.parametrize(
    "params, expected",
    [
        (dict(PAPER_1D, attention="galerkin"), 530_305),
        (dict(PAPER_1D, attention="fourier"), 530_305),
        (TINY_1D, 6_337),
        (PAPER_2D, 2_220_829),
        (TINY_2D, 17_048),
    ],
)
def test_parameter_counts_match_reference(params, expected):
    assert n_params(GalerkinTransformer(1, 1, **params)) == expected


def test_registered_and_defaults_are_the_burgers_config():
    model = create("model", "galerkin_transformer", in_channels=1, out_channels=1)
    assert isinstance(model, GalerkinTransformer)
    assert n_params(model) == 530_305


# --- attention: math, LayerNorm placement, coordinates, init --------------------------------------------------


def naive_attention(attn: SimpleAttention, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Independent per-head loop forming the full n x n matrix (Q K^T) for both kinds."""
    n, h, dk = x.shape[1], attn.num_heads, attn.d_k
    q, k, v = attn.query(x), attn.key(x), attn.value(x)
    heads = []
    for i in range(h):
        sl = slice(i * dk, (i + 1) * dk)
        qi, ki, vi = q[..., sl], k[..., sl], v[..., sl]

        def ln(t, norm):
            return F.layer_norm(t, (dk,), norm.weight[i], norm.bias[i], eps=norm.eps)

        if attn.attention == "galerkin":
            ki, vi = ln(ki, attn.norm_k), ln(vi, attn.norm_v)
        else:
            qi, ki = ln(qi, attn.norm_q), ln(ki, attn.norm_k)
        p = pos.expand(x.shape[0], -1, -1)
        qi, ki, vi = (torch.cat([p, t], dim=-1) for t in (qi, ki, vi))
        heads.append((qi @ ki.transpose(-1, -2)) @ vi / n)
    return attn.fc(torch.cat(heads, dim=-1))


@pytest.mark.parametrize("kind", ["galerkin", "fourier"])
@pytest.mark.parametrize("heads, pos_dim", [(1, 1), (3, 2)])
def test_attention_matches_naive_formula(kind, heads, pos_dim):
    attn = SimpleAttention(12, heads, pos_dim, attention=kind).double()
    randomise(attn)
    x = torch.randn(2, 37, 12, dtype=torch.float64)
    pos = torch.rand(1, 37, pos_dim, dtype=torch.float64)
    torch.testing.assert_close(attn(x, pos), naive_attention(attn, x, pos), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "kind, invariant, sensitive",
    [
        ("galerkin", ("key", "value"), ("query",)),
        ("fourier", ("query", "key"), ("value",)),
    ],
)
def test_layernorm_placement_by_scale_invariance(kind, invariant, sensitive):
    """LN(c t) = LN(t): scaling a normalised projection (weight and bias) by c > 0 leaves the output unchanged."""
    attn = SimpleAttention(8, 2, 1, attention=kind, norm_eps=1e-14).double()
    randomise(attn)
    x = torch.randn(2, 20, 8, dtype=torch.float64)
    pos = torch.linspace(0, 1, 20, dtype=torch.float64)[None, :, None]
    base = attn(x, pos)
    for name in invariant + sensitive:
        proj = getattr(attn, name)
        with torch.no_grad():
            proj.weight.mul_(3.0)
            proj.bias.mul_(3.0)
        out = attn(x, pos)
        with torch.no_grad():
            proj.weight.div_(3.0)
            proj.bias.div_(3.0)
        if name in invariant:
            torch.testing.assert_close(out, base, rtol=1e-9, atol=1e-11)
        else:
            assert (out - base).abs().max() > 1e-3
    norms = {n for n in ("norm_q", "norm_k", "norm_v") if getattr(attn, n) is not None}
    assert norms == {f"norm_{invariant[0][0]}", f"norm_{invariant[1][0]}"}


def test_coordinates_enter_every_head_and_fc_width():
    attn = SimpleAttention(16, 4, 2)
    assert attn.fc.in_features == 16 + 4 * 2
    randomise(attn)
    x = torch.randn(1, 10, 16)
    pos = torch.rand(1, 10, 2)
    assert (attn(x, pos) - attn(x, pos + 0.5)).abs().max() > 1e-3


@pytest.mark.parametrize("kind, gain", [("galerkin", 1e-2), ("fourier", 1e-3)])
def test_paper_initialisation(kind, gain):
    model = GalerkinTransformer(1, 1, attention=kind, **TINY_1D)
    d = TINY_1D["n_hidden"]
    bound = gain * math.sqrt(6.0 / (2 * d))  # xavier_uniform bound
    for layer in model.encoder_layers:
        for proj in (layer.attn.query, layer.attn.key, layer.attn.value):
            off = proj.weight - 1e-2 * torch.eye(d)
            assert off.abs().max() <= bound
            assert off.abs().max() > 0.5 * bound
            assert torch.all(proj.bias == 0)


# --- linear complexity: no n x n matrix anywhere in the Galerkin model -----------------------------------------


def test_galerkin_model_never_forms_an_n_by_n_tensor():
    n = 4096
    model = GalerkinTransformer(1, 1, **TINY_1D).eval()
    x = torch.randn(1, 1, n)
    rec = OutputShapes()
    with torch.no_grad(), rec:
        y = model(x)
    assert y.shape == (1, 1, n)
    largest = max(math.prod(s) for _, s in rec.shapes)
    # O(n d): the widest activation is the FFN hidden layer (1, n, dim_feedforward)
    assert largest <= n * TINY_1D["dim_feedforward"]
    assert not any(sum(dim >= n // 2 for dim in s) >= 2 for _, s in rec.shapes)
    # the attention matrix that is formed is (d_k + p) x (d_k + p) per head
    assert any(s == (1, 1, 17, 17) for _, s in rec.shapes)


def test_fourier_attention_does_form_the_n_by_n_matrix():
    """Positive control: the recorder sees the (B, h, n, n) matrix of the quadratic variant."""
    n = 512
    model = GalerkinTransformer(1, 1, attention="fourier", **TINY_1D).eval()
    rec = OutputShapes()
    with torch.no_grad(), rec:
        model(torch.randn(1, 1, n))
    assert any(s[-2:] == (n, n) for _, s in rec.shapes)


# --- symmetry --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["galerkin", "fourier"])
def test_permutation_equivariance_with_coordinates(kind):
    layer = EncoderLayer(12, 3, pos_dim=2, dim_feedforward=24, attention=kind).double()
    randomise(layer)
    n = 50
    x = torch.randn(2, n, 12, dtype=torch.float64)
    pos = torch.rand(1, n, 2, dtype=torch.float64)
    perm = torch.randperm(n)
    out = layer(x, pos)
    torch.testing.assert_close(layer(x[:, perm], pos[:, perm]), out[:, perm], rtol=1e-10, atol=1e-12)
    # the coordinates matter: permuting the tokens alone is not equivariant
    assert (layer(x[:, perm], pos) - out[:, perm]).abs().max() > 1e-4


# --- resolution ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["galerkin", "fourier"])
def test_1d_runs_at_several_resolutions_and_converges(kind):
    model = seeded(0, attention=kind, **TINY_1D).eval()
    outs = {}
    for n in (64, 256, 1024):
        x = torch.arange(n) / n
        u = (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x))[None, None].repeat(2, 1, 1)
        with torch.no_grad():
            outs[n] = model(u)
        assert outs[n].shape == (2, 1, n)
    coarse, mid, fine = outs[64][..., :], outs[256][..., ::4], outs[1024][..., ::16]
    err_coarse, err_mid = (coarse - mid).abs().max(), (mid - fine).abs().max()
    assert err_coarse < 0.05 * (coarse - coarse.mean()).abs().max()  # same function at the shared nodes
    assert err_mid < 0.5 * err_coarse  # and the discretisation error shrinks with n


def test_2d_runs_at_several_resolutions():
    model = seeded(0, **TINY_2D).eval()
    for size in ((29, 29), (43, 43), (32, 24)):
        with torch.no_grad():
            assert model(torch.randn(2, 1, *size)).shape == (2, 1, *size)


def test_spectral_layer_is_band_limited_1d():
    conv = SpectralConv(5, 3, modes=6, ndim=1)
    out = conv.spectral(torch.randn(2, 64, 5))
    spec = torch.fft.rfft(out, dim=1).abs()
    assert spec[:, :6].max() > 1e-3
    assert spec[:, 6:].max() < 1e-6 * spec.max()


def test_spectral_layer_is_band_limited_2d():
    m, (h, w) = 4, (20, 18)
    conv = SpectralConv(3, 2, modes=m, ndim=2)
    out = conv.spectral(torch.randn(2, h, w, 3))
    spec = torch.fft.rfft2(out, dim=(1, 2)).abs()
    kept = torch.zeros(h, w // 2 + 1, dtype=torch.bool)
    kept[:m, :m] = kept[-m:, :m] = True
    kept[m, 0] = True  # irfft2 makes the ky = 0 column Hermitian: kx = -m brings in its conjugate kx = +m
    assert spec[:, :m, :m].max() > 1e-3 and spec[:, -m:, :m].max() > 1e-3
    assert spec[:, ~kept].max() < 1e-6 * spec.max()


def test_too_few_grid_points_for_the_modes_is_a_data_error():
    with pytest.raises(DataError):
        GalerkinTransformer(1, 1, **TINY_1D)(torch.randn(1, 1, 5))  # 5 // 2 + 1 = 3 < 4 modes
    with pytest.raises(DataError):
        GalerkinTransformer(1, 1, **TINY_1D)(torch.randn(1, 2, 32))  # wrong channel count


# --- dropout / determinism / dtypes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, shape",
    [
        (dict(TINY_1D, attention="galerkin"), (2, 1, 32)),
        (dict(TINY_1D, attention="fourier"), (2, 1, 32)),
        (TINY_2D, (2, 1, 21, 21)),
    ],
)
def test_eval_is_deterministic_and_train_drops_out(params, shape):
    drops = dict(dropout=0.2, decoder_dropout=0.2)
    if params.get("dim") == 2:
        drops.update(downsampler_dropout=0.2, upsampler_dropout=0.2)
    model = GalerkinTransformer(1, 1, **params, **drops)
    x = torch.randn(*shape)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
    clean = GalerkinTransformer(1, 1, **params).train()
    with torch.no_grad():
        a = clean(x)
        clean.eval()
        assert torch.equal(a, clean(x))


def test_attention_matrix_dropout_only_in_training():
    attn = SimpleAttention(8, 1, 1, dropout=0.5)
    x, pos = torch.randn(1, 16, 8), torch.rand(1, 16, 1)
    attn.eval()
    assert torch.equal(attn(x, pos), attn(x, pos))
    attn.train()
    assert not torch.equal(attn(x, pos), attn(x, pos))


def test_float64_and_autocast():
    model = seeded(1, **TINY_2D).eval()
    x = torch.randn(1, 1, 17, 17)
    with torch.no_grad():
        y32 = model(x)
        y64 = model.double()(x.double())
        assert y64.dtype == torch.float64
        torch.testing.assert_close(y64.float(), y32, rtol=1e-4, atol=1e-5)
        model.float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yb = model(x)
        assert torch.isfinite(yb).all()


@pytest.mark.parametrize("params, shape", [(dict(TINY_1D, attention="fourier"), (2, 1, 32)), (TINY_2D, (2, 1, 17, 17))])
def test_every_parameter_gets_a_gradient(params, shape):
    model = seeded(2, **params)
    model(torch.randn(*shape)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 0, name


def test_zero_boundary():
    model = seeded(0, **dict(TINY_2D, zero_boundary=True)).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 1, 19, 19))
    ring = torch.ones(19, 19, dtype=torch.bool)
    ring[1:-1, 1:-1] = False
    assert torch.all(y[..., ring] == 0) and y[..., 1:-1, 1:-1].abs().min() > 0


def test_config_errors():
    with pytest.raises(ConfigError):
        GalerkinTransformer(1, 1, n_hidden=10, num_heads=3)
    with pytest.raises(ConfigError):
        GalerkinTransformer(1, 1, dropout=1.0)
    with pytest.raises(ConfigError):
        GalerkinTransformer(1, 1, zero_boundary=True)
    with pytest.raises(ConfigError):
        create("model", "galerkin_transformer", in_channels=1, out_channels=1, attention="softmax")


# --- stored-output regression ----------------------------------------------------------------------------------


def regression_cases() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    x1 = torch.randn(2, 1, 32, generator=g)
    x2 = torch.randn(2, 1, 21, 21, generator=g)
    out = {}
    with torch.no_grad():
        out["galerkin_1d"] = seeded(0, attention="galerkin", **TINY_1D).eval()(x1)
        out["fourier_1d"] = seeded(0, attention="fourier", **TINY_1D).eval()(x1)
        out["galerkin_2d"] = seeded(0, **TINY_2D).eval()(x2)
    return out


def test_stored_output_regression():
    assert_matches_stored("galerkin_transformer", regression_cases(), rtol=0, atol=1e-5)

"""The fast paths of the ST-FNO layers (:mod:`specsolve.nn.spacetime`) against plain formulations, in float64.

- :class:`~specsolve.nn.spacetime.SpaceTimeSpectralConv` against a full ``rfftn`` -> zero-filled spectrum with the
  four weight blocks -> ``irfftn`` (the textbook form of the layer and of the reference code), forward and gradients,
  on even and odd grids, grids coarser than the kept modes, with temporal padding, time resampling and both bias
  normalisations;
- :func:`~specsolve.nn.spacetime.irfftn_at_times` against ``irfftn`` at integer times and a plain trigonometric sum;
- :class:`~specsolve.nn.spacetime.PointwiseFFN`'s fused CPU path against its two ``Conv3d`` modules.
"""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from torch import nn

from specsolve.nn.spacetime import PointwiseFFN, SpaceTimeSpectralConv, irfftn_at_times


def plain_spectral_conv(
    conv: SpaceTimeSpectralConv, v: torch.Tensor, out_steps: int | None = None, temporal_padding: bool = False
) -> torch.Tensor:
    """The layer as written in the paper / reference: full FFTs, the kept blocks filled, full inverse FFT."""
    pad = v.shape[-1] if temporal_padding else 0
    if pad:
        v = nn.functional.pad(v, (pad, 0))
    batch, _, nx, ny, nt = v.shape
    n_out = (nt - pad if out_steps is None else out_steps) + pad
    v_hat = torch.fft.rfftn(v, dim=(-3, -2, -1))
    kt = min(conv.modes_t, nt // 2 + 1, n_out // 2 + 1)
    out_hat = torch.zeros(batch, conv.out_channels, nx, ny, n_out // 2 + 1, dtype=v_hat.dtype)
    for group in range(4):
        ix, iy = group % 2, group // 2
        mx, my = min(conv.modes_x, nx // 2), min(conv.modes_y, ny // 2)
        sx = slice(nx - mx, nx) if ix else slice(0, mx)
        sy = slice(ny - my, ny) if iy else slice(0, my)
        wx = slice(conv.modes_x - mx, conv.modes_x) if ix else slice(0, mx)
        wy = slice(conv.modes_y - my, conv.modes_y) if iy else slice(0, my)
        w = torch.view_as_complex(conv.weight[group])[:, :, wx, wy, :kt]
        block = torch.einsum("bixyt,ioxyt->boxyt", v_hat[:, :, sx, sy, :kt], w)
        if conv.bias is not None:
            b = torch.view_as_complex(conv.bias[group])[:, wx, wy, :kt]
            if conv.bias_norm == "forward":
                b = b * (nx * ny * n_out)
            block = block + conv.delta * b
        out_hat[:, :, sx, sy, :kt] = block
    out = torch.fft.irfftn(out_hat, s=(nx, ny, n_out), dim=(-3, -2, -1))
    return out[..., pad:] if pad else out


def random_conv(cin: int, cout: int, mx: int, my: int, mt: int, bias: bool, bias_norm: str = "backward"):
    torch.manual_seed(3)
    conv = SpaceTimeSpectralConv(cin, cout, mx, my, mt, bias=bias, bias_norm=bias_norm).double()
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.randn_like(p))
    return conv


# (in, out, modes x/y/t, grid (X, Y, T), out_steps, temporal_padding, bias, bias_norm)
CASES = {
    "even": (3, 2, (4, 3, 3), (16, 12, 8), None, False, False, "backward"),
    "odd": (2, 3, (3, 4, 2), (15, 13, 7), None, False, False, "backward"),
    "coarse": (2, 2, (6, 5, 4), (8, 7, 5), None, False, False, "backward"),
    "tiny_grid": (1, 2, (3, 3, 3), (2, 3, 1), None, False, False, "backward"),
    "upsample_time": (2, 2, (3, 3, 3), (12, 10, 6), 11, False, False, "backward"),
    "downsample_time": (2, 3, (3, 3, 5), (10, 12, 9), 4, False, False, "backward"),
    "padded_bias": (1, 1, (4, 4, 3), (16, 16, 6), 9, True, True, "backward"),
    "padded_bias_forward": (2, 2, (3, 4, 3), (11, 12, 5), 8, True, True, "forward"),
    "paper_like": (4, 4, (12, 12, 5), (64, 64, 10), None, False, False, "backward"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_spectral_conv_matches_full_fft_formulation(name: str) -> None:
    cin, cout, (mx, my, mt), (nx, ny, nt), out_steps, padding, bias, bias_norm = CASES[name]
    conv = random_conv(cin, cout, mx, my, mt, bias, bias_norm)
    torch.manual_seed(4)
    v = torch.randn(2, cin, nx, ny, nt, dtype=torch.float64, requires_grad=True)
    got = conv(v, out_steps=out_steps, temporal_padding=padding)
    expected = plain_spectral_conv(conv, v, out_steps, padding)
    assert got.dtype == torch.float64 and got.shape == expected.shape
    scale = expected.abs().max()
    assert (got - expected).abs().max() <= 1e-12 * scale
    g = torch.randn_like(expected)
    params = [v, *conv.parameters()]
    grads = torch.autograd.grad(got, params, g)
    expected_grads = torch.autograd.grad(expected, params, g, allow_unused=True)
    for a, b in zip(grads, expected_grads):
        b = torch.zeros_like(a) if b is None else b
        assert (a - b).abs().max() <= 1e-11 * (b.abs().max() + 1e-300)


def test_spectral_conv_spectrum_is_the_plain_spectrum() -> None:
    conv = random_conv(2, 2, 3, 3, 3, bias=True)
    v = torch.randn(1, 2, 10, 9, 6, dtype=torch.float64)
    out_hat, pad, n_out = conv.spectrum(v, out_steps=7, temporal_padding=True)
    assert (pad, n_out) == (6, 13) and out_hat.shape == (1, 2, 10, 9, 7)
    out = torch.fft.irfftn(out_hat, s=(10, 9, n_out), dim=(-3, -2, -1))[..., pad:]
    assert torch.allclose(out, plain_spectral_conv(conv, v, 7, True), rtol=0, atol=1e-12)


def plain_at_times(out_hat: torch.Tensor, n: int, times: torch.Tensor) -> torch.Tensor:
    z = torch.fft.ifftn(out_hat, dim=(-3, -2))
    modes = out_hat.shape[-1]
    acc = z[..., 0].real[..., None] * torch.ones_like(times)
    for k in range(1, modes):
        w = 1.0 if (n % 2 == 0 and k == n // 2) else 2.0
        phase = torch.exp(1j * (2 * math.pi * k / n) * times.to(torch.complex128))
        term = z[..., k : k + 1] * phase
        acc = acc + w * (term.real if w == 2.0 else z[..., k : k + 1].real * phase.real)
    return acc / n


@pytest.mark.parametrize("n", [9, 10, 52])
def test_irfftn_at_times(n: int) -> None:
    torch.manual_seed(5)
    out_hat = torch.randn(2, 1, 8, 7, n // 2 + 1, dtype=torch.complex128, requires_grad=True)
    ints = torch.arange(n, dtype=torch.float64)
    full = torch.fft.irfftn(out_hat, s=(8, 7, n), dim=(-3, -2, -1))
    assert torch.allclose(irfftn_at_times(out_hat, n, ints), full, rtol=0, atol=1e-12)
    times = torch.rand(6, dtype=torch.float64) * n
    got = irfftn_at_times(out_hat, n, times)
    expected = plain_at_times(out_hat, n, times)
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)
    g = torch.randn_like(got)
    (ga,) = torch.autograd.grad(got, out_hat, g)
    (gb,) = torch.autograd.grad(expected, out_hat, g)
    assert torch.allclose(ga, gb, rtol=0, atol=1e-12)


@pytest.mark.parametrize("act", [nn.GELU(), nn.GELU(approximate="tanh"), nn.ReLU()], ids=["gelu", "tanh", "relu"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7, 3), (1, 4, 64, 64, 10)], ids=["odd", "large"])
def test_fused_pointwise_ffn_matches_the_modules(act: nn.Module, shape: tuple[int, ...]) -> None:
    torch.manual_seed(6)
    ffn = PointwiseFFN(shape[1], 4, act).double()
    v = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    got = ffn(v)
    expected = ffn.linear2(ffn.activation(ffn.linear1(v)))
    assert got.shape == expected.shape and got.dtype == torch.float64
    assert torch.allclose(got, expected, rtol=0, atol=1e-12 * expected.abs().max().item())
    g = torch.randn_like(got)
    params = [v, *ffn.parameters()]
    for a, b in zip(torch.autograd.grad(got, params, g), torch.autograd.grad(expected, params, g)):
        assert torch.allclose(a, b, rtol=0, atol=1e-11 * b.abs().max().item())


def test_fused_pointwise_ffn_double_backward_and_partial_grads() -> None:
    torch.manual_seed(7)
    ffn = PointwiseFFN(3, 4, nn.GELU()).double()
    v = torch.randn(2, 3, 4, 5, 3, dtype=torch.float64, requires_grad=True)

    def grad_norm(out):
        (gv,) = torch.autograd.grad(out.square().sum(), v, create_graph=True)
        return gv.square().sum()

    fused = grad_norm(ffn(v))
    plain = grad_norm(ffn.linear2(ffn.activation(ffn.linear1(v))))
    assert torch.allclose(fused, plain, rtol=1e-12)
    (a,) = torch.autograd.grad(fused, ffn.linear1.weight)
    (b,) = torch.autograd.grad(plain, ffn.linear1.weight)
    assert torch.allclose(a, b, rtol=1e-10, atol=0)
    # frozen weights: only the input gradient
    for p in ffn.parameters():
        p.requires_grad_(False)
    (gv,) = torch.autograd.grad(ffn(v).sum(), v)
    (gp,) = torch.autograd.grad(ffn.linear2(ffn.activation(ffn.linear1(v))).sum(), v)
    assert torch.allclose(gv, gp, rtol=0, atol=1e-12)


def test_inference_weight_cache_follows_weight_updates() -> None:
    conv = random_conv(2, 2, 3, 3, 2, bias=True)
    v = torch.randn(1, 2, 8, 8, 4, dtype=torch.float64)
    with torch.no_grad():
        first = conv(v)
        assert torch.allclose(first, plain_spectral_conv(conv, v), rtol=0, atol=1e-12)
        conv.weight[1].mul_(-2.0)  # in place
        assert torch.allclose(conv(v), plain_spectral_conv(conv, v), rtol=0, atol=1e-12)
        state = {k: torch.randn_like(t) for k, t in conv.state_dict().items()}
        conv.load_state_dict(state)
        assert torch.allclose(conv(v), plain_spectral_conv(conv, v), rtol=0, atol=1e-12)
    conv.weight[2].data = torch.randn_like(conv.weight[2])  # new storage
    opt = torch.optim.SGD(conv.parameters(), lr=0.5)
    conv(v).square().sum().backward()  # under autograd: no cache, gradients flow into the weights
    assert all(p.grad is not None for p in conv.weight)
    opt.step()
    with torch.inference_mode():
        assert torch.allclose(conv(v), plain_spectral_conv(conv, v), rtol=0, atol=1e-12)


def test_inference_weight_cache_is_not_pickled() -> None:
    conv = random_conv(2, 2, 3, 3, 2, bias=False)
    v = torch.randn(1, 2, 8, 8, 4, dtype=torch.float64)
    with torch.no_grad():
        expected = conv(v)
    assert conv.__dict__.get("_right_factor_cache")
    buffer = io.BytesIO()
    torch.save(conv, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    clone = copy.deepcopy(conv)
    for other in (loaded, clone):
        assert "_right_factor_cache" not in other.__dict__
        with torch.no_grad():
            assert torch.equal(other(v), expected)


@pytest.mark.parametrize("n, kt", [(10, 5), (9, 5), (8, 5), (20, 3), (1, 1)])
def test_time_dft_matrices_are_the_truncated_fft_and_the_irfft_weights(n: int, kt: int) -> None:
    """The matmul DFT of the pruned layer in time, on ``[Re | Im]`` blocks: the complex FFT keeping ``kt`` modes;
    and back, ``sum_k c_k h_k exp(2 pi i k t / n) / n`` (``c_k = 2`` but 1 for the zero and an even ``n``'s Nyquist
    mode), whose real part is irfft of the ``kt`` modes (the rest zero) to length ``n``."""
    from specsolve.nn.spacetime import time_analysis_matrix, time_synthesis_matrix

    gen = torch.Generator().manual_seed(1)
    u = torch.randn(3, 4, n, dtype=torch.complex128, generator=gen)
    got = torch.cat([u.real, u.imag], -1) @ time_analysis_matrix(n, kt, torch.float64, u.device)
    torch.testing.assert_close(
        torch.complex(got[..., :kt], got[..., kt:]), torch.fft.fft(u)[..., :kt], rtol=0, atol=1e-12
    )
    h = torch.randn(3, 4, kt, dtype=torch.complex128, generator=gen)
    k = torch.arange(kt)
    weighted = torch.zeros(3, 4, n, dtype=torch.complex128)
    weighted[..., :kt] = torch.where((k == 0) | (2 * k == n), 1.0, 2.0) * h
    out = torch.cat([h.real, h.imag], -1) @ time_synthesis_matrix(n, kt, torch.float64, h.device)
    torch.testing.assert_close(torch.complex(out[..., :n], out[..., n:]), torch.fft.ifft(weighted), rtol=0, atol=1e-12)
    full = torch.zeros(3, 4, n // 2 + 1, dtype=torch.complex128)
    full[..., :kt] = h
    torch.testing.assert_close(out[..., :n], torch.fft.irfft(full, n=n, dim=-1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n, m", [(10, 5), (9, 4), (16, 3), (2, 1)])
def test_spatial_dft_matrices_are_the_fft_and_ifft_on_the_kept_frequencies(n: int, m: int) -> None:
    """The pruned layer's x / y transforms: ``fft`` on the rows ``0..m-1, -m..-1`` of a real signal, and ``ifft`` of
    those ``2 m`` frequencies with every other one zero."""
    from specsolve.nn.spacetime import spatial_analysis_matrix, spatial_synthesis_matrix

    gen = torch.Generator().manual_seed(2)
    kept = torch.cat([torch.arange(m), torch.arange(n - m, n)])
    u = torch.randn(n, 5, dtype=torch.float64, generator=gen)
    cos, minus_sin = spatial_analysis_matrix(n, m, torch.float64, u.device)
    torch.testing.assert_close(torch.complex(cos @ u, minus_sin @ u), torch.fft.fft(u, dim=0)[kept], rtol=0, atol=1e-12)
    h = torch.randn(2 * m, 5, dtype=torch.complex128, generator=gen)
    full = torch.zeros(n, 5, dtype=torch.complex128)
    full[kept] = h
    cos, sin = spatial_synthesis_matrix(n, m, torch.float64, h.device)
    torch.testing.assert_close(torch.complex(cos, sin) @ h, torch.fft.ifft(full, dim=0), rtol=0, atol=1e-12)


def test_cached_dft_matrices_made_in_inference_mode_still_train() -> None:
    """The DFT matrices are cached: the first call under ``torch.inference_mode`` (prediction) must not leave
    inference tensors behind that a later training step would have to save for backward."""
    conv = SpaceTimeSpectralConv(3, 4, 3, 2, 3)
    v = torch.randn(2, 3, 10, 11, 7)  # a grid no other test uses, so that inference mode makes the cache entries
    with torch.inference_mode():
        expected = conv(v)
    v.requires_grad_(True)
    out = conv(v)
    out.square().sum().backward()
    torch.testing.assert_close(out.detach(), expected)
    assert v.grad is not None and v.grad.abs().sum() > 0

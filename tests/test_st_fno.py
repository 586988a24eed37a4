"""Tests of the Spectral-Refiner spatiotemporal FNO (``st_fno``) and its fine-tuning building block.

Regenerate the stored output (only after a deliberate change of the architecture or its init):
``.venv/bin/python tests/test_st_fno.py``.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from regression import assert_matches_stored

from specsolve import registry
from specsolve.errors import ConfigError
from specsolve.models.st_fno import STFNO, enlarge_output_layer
from specsolve.nn.spacetime import (
    SpaceTimeSpectralConv,
    helmholtz_project,
    space_time_encoding,
)
from specsolve.registry.signature import validate_params

TINY = dict(modes=4, modes_t=3, width=8, latent_steps=4, out_steps=5, num_spectral_layers=2)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def smooth_window(n: int, nt: int, channels: int = 1, dtype=torch.float64) -> torch.Tensor:
    """A band-limited periodic window ``(1, nt, channels, n, n)`` (max wavenumber 3) sampled on ``x_j = j / n``."""
    x = torch.arange(n, dtype=dtype) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    t = 0.1 * torch.arange(nt, dtype=dtype)[:, None, None]
    comps = [
        torch.sin(2 * math.pi * (X + 0.3 * c) + t)
        + 0.5 * torch.cos(2 * math.pi * (2 * Y - X)) * torch.cos(t)
        + 0.3 * torch.sin(2 * math.pi * 3 * Y + 0.2 * c) * (1 + t)
        for c in range(channels)
    ]
    return torch.stack(comps, 1)[None]


def tiny_model(seed: int = 0, **overrides) -> STFNO:
    torch.manual_seed(seed)
    model = STFNO(**{"in_channels": 1, "out_channels": 1, **TINY, **overrides}).double()
    with torch.no_grad():  # a non-zero spectral bias, so that the output layer's bias path is exercised
        for b in model.output_conv.bias:
            b.normal_()
    return model


def regression_case() -> tuple[STFNO, torch.Tensor]:
    torch.manual_seed(1234)
    model = STFNO(1, 1, modes=3, modes_t=2, width=4, latent_steps=3, out_steps=3, num_spectral_layers=2).double()
    with torch.no_grad():
        for b in model.output_conv.bias:
            b.copy_(0.5 * torch.rand_like(b))
    x = torch.randn(2, 4, 1, 8, 8, dtype=torch.float64)
    return model, x


# --- structure -----------------------------------------------------------------------------------


def test_parameter_count_matches_reference_arithmetic():
    # modes 12, modes_t 5, width 20: 4 spectral convs x 2,304,000 + output layer 5,760 weights + 5,760 bias
    # + GroupNorm 40 + lift 420 + 4 FFNs x 3,300 + 3 x 420 + reduction 21 (operators.md §3.1: 9,242,461)
    assert n_params(STFNO(1, 1)) == 9_242_461


def test_registered_and_config_checks():
    # checked on the registry table directly: registry.get would import every built-in component (slow here)
    assert registry.REGISTRY._components["model"]["st_fno"].obj is STFNO
    params = validate_params(STFNO, {"in_channels": 2, "out_channels": 2, "modes": 3, "width": 4}, "model 'st_fno'")
    assert isinstance(STFNO(**params), STFNO)
    with pytest.raises(ConfigError):
        validate_params(STFNO, {"in_channels": 1, "out_channels": 1, "activation": "tanh"}, "model 'st_fno'")
    with pytest.raises(ConfigError):
        STFNO(1, 2)
    with pytest.raises(ConfigError):
        STFNO(1, 1, divergence_free=True)
    with pytest.raises(ConfigError):
        STFNO(1, 1, width=3)
    with pytest.raises(ConfigError):
        STFNO(1, 1, activation="tanh")


def test_positional_encoding_values():
    pe = space_time_encoding(5, 4, 3, channels=7, beta=0.02, max_steps=100, dtype=torch.float64, device="cpu")
    t = torch.tensor([0.01, 0.02, 0.03], dtype=torch.float64)
    torch.testing.assert_close(pe[0, :, 0, 0], torch.linspace(0, 1, 5, dtype=torch.float64))
    torch.testing.assert_close(pe[1, 0, :, 0], torch.linspace(0, 1, 4, dtype=torch.float64))
    torch.testing.assert_close(pe[2, 2, 3], t)
    env = torch.exp(0.02 * t)
    for k, basis in enumerate([torch.sin, torch.cos, torch.sin, torch.cos]):
        torch.testing.assert_close(pe[3 + k, 1, 2], env * basis(math.pi * (k + 1) * t))


# --- shapes and time ----------------------------------------------------------------------------


@pytest.mark.parametrize("t_in", [5, 8])
@pytest.mark.parametrize("out_steps", [3, 7])
def test_output_length_follows_out_steps(t_in, out_steps):
    model = tiny_model()
    x = torch.randn(2, t_in, 1, 12, 12, dtype=torch.float64)
    assert model(x, out_steps=out_steps).shape == (2, out_steps, 1, 12, 12)
    assert model(x).shape == (2, TINY["out_steps"], 1, 12, 12)
    assert STFNO(1, 1, **{**TINY, "out_steps": out_steps}).double()(x).shape[1] == out_steps


def test_default_config_runs_on_a_coarse_grid():
    # modes 12 > 16 // 2: the extra modes are dropped instead of overlapping
    model = STFNO(1, 1, width=8)
    y = model(torch.randn(1, 10, 1, 16, 16), out_steps=4)
    assert y.shape == (1, 4, 1, 16, 16) and torch.isfinite(y).all()


def test_spectral_conv_time_resampling_is_band_limited_interpolation():
    # with W = 1 on the kept modes, a signal band-limited in (x, y, t) is reproduced at T_out = T_in and
    # interpolated (with the reference's backward-norm factor T_in / T_out) at T_out = 2 T_in
    conv = SpaceTimeSpectralConv(1, 1, 3, 3, 3).double()
    with torch.no_grad():
        for w in conv.weight:
            w.zero_()
            w[..., 0] = 1.0

    def signal(nt):
        x = torch.arange(8, dtype=torch.float64) / 8
        t = torch.arange(nt, dtype=torch.float64) / nt
        return (
            torch.sin(2 * math.pi * x)[:, None, None] * torch.cos(2 * math.pi * t)
            + torch.cos(2 * math.pi * 2 * x)[None, :, None] * torch.sin(2 * math.pi * 2 * t)
            + 0.7
        )[None, None]

    torch.testing.assert_close(conv(signal(6)), signal(6))
    torch.testing.assert_close(conv(signal(6), out_steps=12), signal(12) * 6 / 12)


def test_spectral_conv_translation_equivariant_in_space():
    torch.manual_seed(0)
    conv = SpaceTimeSpectralConv(2, 3, 3, 3, 2).double()
    v = torch.randn(2, 2, 10, 10, 5, dtype=torch.float64)
    shifted = conv(torch.roll(v, shifts=(3, -2), dims=(2, 3)), out_steps=4)
    torch.testing.assert_close(shifted, torch.roll(conv(v, out_steps=4), shifts=(3, -2), dims=(2, 3)))


# --- resolution --------------------------------------------------------------------------------


def test_increment_is_band_limited_to_kept_modes():
    model = tiny_model()
    x = torch.randn(2, 6, 1, 16, 16, dtype=torch.float64)
    increment = model(x) - x[:, -1:]
    spec = torch.fft.fft2(increment).abs()
    k = torch.fft.fftfreq(16, d=1 / 16)
    m = TINY["modes"]
    # weights on {0..m-1} U {-m..-1}; taking the real part mirrors -m to +m, so the support is |k| <= m
    dropped = k.abs() > m
    outside = dropped[:, None] | dropped[None, :]
    assert spec[..., ~outside].max() > 1.0
    assert spec[..., outside].max() < 1e-10 * spec.max()


def test_resolution_invariance():
    # same weights, same band-limited field sampled on 16^2, 32^2, 64^2: the predicted increments agree on the
    # common points and converge as the grid is refined (the x, y encoding and the nonlinearities alias a little)
    model = tiny_model()
    inc = {}
    for n in (16, 32, 64):
        x = smooth_window(n, 6)
        inc[n] = model(x) - x[:, -1:]

    def rel(fine, coarse):
        s = fine.shape[-1] // coarse.shape[-1]
        return ((fine[..., ::s, ::s] - coarse).norm() / coarse.norm()).item()

    assert rel(inc[32], inc[16]) < 3e-2
    assert rel(inc[64], inc[32]) < 1e-2
    assert rel(inc[64], inc[32]) < rel(inc[32], inc[16])


# --- divergence-free output --------------------------------------------------------------------


def spectral_divergence(u: torch.Tensor) -> torch.Tensor:
    """``max |i k . u_hat|`` of ``(..., 2, n, n)`` relative to ``max |k| |u_hat|`` (integer wavenumbers; the
    Nyquist one of an even grid is 0, the usual convention for first derivatives)."""
    n = u.shape[-1]
    k = torch.fft.fftfreq(n, d=1 / n, dtype=u.dtype)
    k[n // 2] = 0.0
    u_hat = torch.fft.fft2(u)
    div = k[:, None] * u_hat[..., 0, :, :] + k[None, :] * u_hat[..., 1, :, :]
    scale = torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2) * u_hat.abs().sum(-3)
    return div.abs().max() / scale.max()


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-13), (torch.float32, 1e-5)])
def test_divergence_free_output(dtype, tol):
    torch.manual_seed(0)
    free = STFNO(2, 2, **TINY, divergence_free=True).to(dtype)
    plain = copy.deepcopy(free)
    plain.divergence_free = False
    x = torch.randn(2, 6, 2, 16, 16, dtype=dtype)
    assert spectral_divergence(plain(x)) > 1e-2
    assert spectral_divergence(free(x)) < tol


def test_helmholtz_projection_keeps_solenoidal_fields():
    n = 16
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    # u = (psi_y, -psi_x) with psi = sin(2 pi (x + 2y)) + cos(6 pi x) (divergence-free); add grad phi and a mean flow
    u = torch.stack(
        [
            2 * math.pi * 2 * torch.cos(2 * math.pi * (X + 2 * Y)),
            -2 * math.pi * torch.cos(2 * math.pi * (X + 2 * Y)) + 2 * math.pi * 3 * torch.sin(2 * math.pi * 3 * X),
        ]
    )
    dphi = 2 * math.pi * torch.cos(2 * math.pi * (2 * X - Y))  # phi = sin(2 pi (2x - y))
    grad_phi = torch.stack([2 * dphi, -dphi])
    mean = torch.tensor([0.3, -0.2], dtype=torch.float64)[:, None, None]
    projected = helmholtz_project((u + grad_phi + mean)[None], channel_dim=1)[0]
    torch.testing.assert_close(projected, u + mean)
    torch.testing.assert_close(helmholtz_project(projected[None], 1)[0], projected)  # idempotent


# --- fine-tuning block -------------------------------------------------------------------------


def test_enlarge_output_layer():
    model = tiny_model()
    x = torch.randn(2, 6, 1, 32, 32, dtype=torch.float64)
    y0 = model(x)
    increment = (y0 - x[:, -1:]).norm()

    same = enlarge_output_layer(copy.deepcopy(model), TINY["modes"], TINY["modes_t"])
    torch.testing.assert_close(same(x), y0, rtol=0, atol=1e-13)  # every old weight/bias copied in place

    big = enlarge_output_layer(copy.deepcopy(model), 16, 6)  # all 32^2 modes, 6 time modes
    assert (big.output_conv.modes_x, big.output_conv.modes_t) == (16, 6)
    assert ((big(x) - y0).norm() / increment).item() < 1e-5
    trainable = {n for n, p in big.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in big.named_parameters() if n.startswith("output_conv.")}
    assert len(trainable) == 8
    big(x).square().mean().backward()
    for name, p in big.named_parameters():
        assert (p.grad is not None) == name.startswith("output_conv."), name
    with pytest.raises(ConfigError):
        enlarge_output_layer(copy.deepcopy(model), 2, 6)


def nse_vorticity_residual(w: torch.Tensor, nu: float, dt: float) -> torch.Tensor:
    """``w_t + u . grad w - nu lap w`` (no forcing) of ``(B, T, n, n)`` on ``[0, 1)^2``: pseudo-spectral in space
    (``-lap psi = w``, ``u = (psi_y, -psi_x)``), central differences in time; returns the ``T - 2`` interior steps."""
    n = w.shape[-1]
    k = 2 * math.pi * torch.fft.fftfreq(n, d=1 / n, dtype=w.dtype)
    kx, ky = k[:, None], k[None, :]
    k2 = kx**2 + ky**2
    w_hat = torch.fft.fft2(w)
    psi_hat = w_hat / torch.where(k2 == 0, torch.ones_like(k2), k2) * (k2 != 0)

    def field(mult):
        return torch.fft.ifft2(mult * w_hat).real

    ux, uy = torch.fft.ifft2(1j * ky * psi_hat).real, torch.fft.ifft2(-1j * kx * psi_hat).real
    rhs = ux * field(1j * kx) + uy * field(1j * ky) + nu * field(k2)
    return (w[:, 2:] - w[:, :-2]) / (2 * dt) + rhs[:, 1:-1]


def test_spectral_fine_tuning_lowers_the_h_minus_1_residual():
    # exact decaying NSE solution (|k| = 1 modes: u . grad w = 0); an untrained tiny model's prediction is
    # fine-tuned in its enlarged output layer on the H^{-1} norm of the residual (Spectral-Refiner's loss)
    sobolev_norm = pytest.importorskip("specsolve.losses.sobolev").sobolev_norm
    nu, dt, n = 0.01, 0.1, 16
    x1 = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x1, x1, indexing="ij")
    t = dt * torch.arange(12, dtype=torch.float64)[:, None, None]
    traj = (torch.exp(-4 * math.pi**2 * nu * t) * (torch.cos(2 * math.pi * X) + torch.sin(2 * math.pi * Y)))[None]
    x, target = traj[:, :6, None], traj[:, 6:, None]

    def h_minus_1(w):  # L^2 over interior steps of the H^{-1}_alpha norm, alpha = 10^{-3/2}
        r = nse_vorticity_residual(w, nu, dt)
        return sobolev_norm(r, -1.0, 10**-1.5).square().mean().sqrt()

    assert h_minus_1(traj).item() < 1e-3  # the residual (with its O(dt^2) time error) vanishes on the exact solution
    torch.manual_seed(0)
    model = STFNO(1, 1, **{**TINY, "out_steps": 6}).double()
    model = enlarge_output_layer(model, n // 2, 6)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("output_conv.")}
    latent = model.encode(x).detach()  # frozen part computed once

    def loss():
        return h_minus_1(torch.cat([x[:, -1:, 0], model.decode(latent, x)[:, :, 0]], dim=1))

    conv = model.output_conv
    opt = torch.optim.Adam([{"params": list(conv.weight), "lr": 1e-2}, {"params": list(conv.bias), "lr": 0.2}])
    before = loss().item()
    error_before = ((model(x) - target).norm() / target.norm()).item()
    for _ in range(30):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < 0.3 * before  # measured: 3.22 -> 0.60
    assert ((model(x) - target).norm() / target.norm()).item() < 0.7 * error_before
    for k, v in model.state_dict().items():
        if k in frozen:
            assert torch.equal(v, frozen[k]), k


# --- precision and regression ------------------------------------------------------------------


def test_float64_and_float32_agree():
    model = tiny_model()
    x = torch.randn(2, 5, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    y64 = model(x)
    assert y64.dtype == torch.float64
    y64.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    y32 = model.float()(x.detach().float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), y64.detach(), rtol=1e-4, atol=1e-4)


def test_bf16_autocast_keeps_ffts_in_float32():
    model = tiny_model().float()
    x = torch.randn(2, 5, 1, 12, 12)
    ref = model(x)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        y = model(x)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    assert ((y - ref).norm() / ref.norm()).item() < 5e-2


def test_stored_output_regression():
    model, x = regression_case()
    with torch.no_grad():
        case = {"input": x, "output": model(x), "n_params": n_params(model)}
    assert_matches_stored("st_fno", case, rtol=0, atol=1e-5, tolerances={"input": (0.0, 1e-12)})

"""Periodic linear generators (heat, advection), NSM reaction–diffusion and periodic Poisson: exact limits."""

from __future__ import annotations

import numpy as np
import pytest

from specsolve.data.generators.advection import AdvectionGenerator
from specsolve.data.generators.heat import HeatGenerator
from specsolve.data.generators.periodic import (
    fourier_interpolate,
    periodic_kernel_grf,
    sobolev_grf,
    sobolev_grf_variance,
)
from specsolve.data.generators.poisson_periodic import PeriodicPoissonGenerator, solve_periodic_poisson
from specsolve.data.generators.reaction_diffusion import (
    ReactionDiffusionGenerator,
    logistic_step,
    solve_reaction_diffusion,
)
from specsolve.data.grf import periodic_grf_1d, sample_rng
from specsolve.errors import ConfigError


def test_heat_single_modes_decay_exactly() -> None:
    """u0 = sin 2π3x cos 2π2y ⇒ u = u0 exp(-13 · 4π² κ t); the generator's stored a/u obey the same multiplier."""
    from specsolve.data.generators.periodic import evolve_linear

    x = np.arange(32) / 32
    X, Y = np.meshgrid(x, x, indexing="ij")
    u0 = np.sin(6 * np.pi * X) * np.cos(4 * np.pi * Y)
    out = evolve_linear(u0[None], np.array([0.0, 0.1, 0.3]), diffusivity=0.02)[0]
    for u, t in zip(out, (0.0, 0.1, 0.3)):
        assert np.abs(u - u0 * np.exp(-13 * 4 * np.pi**2 * 0.02 * t)).max() < 1e-13
    gen = HeatGenerator(resolution=64, dim=1, diffusivity=0.05, final_time=0.5, n_frames=5)
    data = gen.generate(np.arange(3), seed=1)
    assert data["u"].shape == (3, 6, 64) and np.array_equal(data["u"][:, 0], data["a"])
    k = np.fft.rfftfreq(64, 1 / 64)
    a_hat = np.fft.rfft(data["a"].astype(np.float64))
    for j, t in enumerate(gen.times):
        expected = np.fft.irfft(a_hat * np.exp(-0.05 * 4 * np.pi**2 * k**2 * t), n=64)
        assert np.abs(data["u"][:, j] - expected).max() < 1e-5  # float32 storage
    energy = (data["u"].astype(np.float64) ** 2).sum(-1)
    assert np.all(np.diff(energy, axis=1) < 0)


def test_advection_is_a_shift() -> None:
    """With c·t a whole number of cells the solution is ``np.roll`` of u0 (independent of the FFT); in 2-D too."""
    gen = AdvectionGenerator(resolution=32, dim=1, velocity=[0.5], final_time=0.25, n_frames=4, store_dtype="float64")
    data = gen.generate(np.arange(2), seed=0)
    for j, t in enumerate(gen.times):  # frame j: c t = 0.5 · 0.0625 j = j / 32, i.e. j cells
        assert np.allclose(data["u"][:, j], np.roll(data["a"], j, axis=-1), atol=1e-12)
    gen2 = AdvectionGenerator(
        resolution=16, dim=2, velocity=[0.25, -0.125], final_time=0.5, n_frames=2, store_dtype="float64"
    )
    data2 = gen2.generate(np.arange(2), seed=3)
    assert np.allclose(data2["u"][:, 2], np.roll(data2["a"], (2, -1), axis=(-2, -1)), atol=1e-12)
    # a non-grid shift of a trigonometric polynomial: u0(x - ct) exactly
    gen3 = AdvectionGenerator(resolution=16, dim=1, velocity=[0.3], final_time=1.0, n_frames=1)
    from specsolve.data.generators.periodic import evolve_linear

    x = np.arange(16) / 16
    u = evolve_linear(np.sin(2 * np.pi * 3 * x)[None], gen3.times[-1:], 0.0, (0.3,))[0, 0]
    assert np.abs(u - np.sin(2 * np.pi * 3 * (x - 0.3))).max() < 1e-13


def test_grfs_match_their_covariance() -> None:
    """sobolev_grf in 1-D has FNO GRF1.m's variance; empirical variances match the Karhunen–Loève sums."""
    exact = sobolev_grf_variance((128,), 25.0, 5.0, 2.0)
    ours = np.stack([sobolev_grf(sample_rng(0, i), (128,), 25.0, 5.0, 2.0) for i in range(400)])
    fno = np.stack([periodic_grf_1d(sample_rng(1, i), 128, 25.0, 5.0, 2.0) for i in range(400)])
    assert abs(ours.var() / exact - 1) < 0.1 and abs(fno.var() / exact - 1) < 0.1
    two_d = np.stack([sobolev_grf(sample_rng(2, i), (16, 16), 1.0, 3.0, 2.0) for i in range(400)])
    assert abs(two_d.var() / sobolev_grf_variance((16, 16), 1.0, 3.0, 2.0) - 1) < 0.1
    # NSM periodic kernel: unit marginal variance and correlation exp(-sin²(π d)/(2ℓ²)) at lag d
    h = np.stack([periodic_kernel_grf(sample_rng(3, i), (64,), 0.2) for i in range(1000)])
    assert abs(h.var() - 1) < 0.06
    lag = 8 / 64
    corr = (h * np.roll(h, 8, axis=-1)).mean()
    assert abs(corr - np.exp(-(np.sin(np.pi * lag) ** 2) / (2 * 0.2**2))) < 0.06


def test_fourier_interpolation_is_exact_for_trig_polynomials() -> None:
    x, xf = np.arange(16) / 16, np.arange(48) / 48
    f = lambda s: 0.3 + np.cos(2 * np.pi * 3 * s) - 0.5 * np.sin(2 * np.pi * 7 * s) + 0.2 * np.cos(2 * np.pi * 8 * s)
    assert np.abs(fourier_interpolate(f(x), (48,)) - f(xf)).max() < 1e-13


def test_reaction_diffusion_logistic_limit() -> None:
    """ν = 0: every point follows the logistic curve u0 e^{ρt} / (u0 e^{ρt} + 1 - u0), exactly."""
    gen = ReactionDiffusionGenerator(
        resolution=64, solve_resolution=128, nu=0.0, rho=5.0, n_frames=8, steps_per_frame=4, store_dtype="float64"
    )
    data = gen.generate(np.arange(2), seed=0)
    u0 = data["a"][:, None, :]
    t = gen.times[None, :, None]
    exact = u0 * np.exp(5 * t) / (u0 * np.exp(5 * t) + 1 - u0)
    assert np.abs(data["u"] - exact).max() < 1e-12
    assert data["u"].shape == (2, 9, 64) and np.allclose(gen.times[[0, -1]], [0, 1])


def test_reaction_diffusion_diffusion_limit_and_uniform_state() -> None:
    """ρ = 0: the heat flow (a single mode decays as exp(-4π²k²νt)); a uniform state follows the logistic curve."""
    x = np.arange(64) / 64
    u0 = 0.5 + 0.3 * np.cos(2 * np.pi * 2 * x)
    u = solve_reaction_diffusion(u0[None], nu=0.01, rho=0.0, dt=0.05, n_frames=4, steps_per_frame=5)[0]
    for j in range(5):
        assert (
            np.abs(u[j] - (0.5 + 0.3 * np.cos(4 * np.pi * x) * np.exp(-16 * np.pi**2 * 0.01 * 0.25 * j))).max() < 1e-13
        )
    flat = solve_reaction_diffusion(np.full((1, 16), 0.2), nu=0.05, rho=5.0, dt=0.01, n_frames=2, steps_per_frame=50)
    assert np.allclose(flat[0, -1], logistic_step(np.full(16, 0.2), 5.0, 1.0), atol=1e-13)


def test_reaction_diffusion_lie_splitting_is_first_order() -> None:
    gen = ReactionDiffusionGenerator(resolution=64, solve_resolution=128, nu=0.01, n_frames=1, steps_per_frame=1)
    u0 = gen.initial_condition(sample_rng(0, 0))[None]
    assert np.isclose(gen.initial_condition(sample_rng(0, 0))[::2].min(), 0.0, atol=1e-12)  # min–max normalised
    ref = solve_reaction_diffusion(u0, 0.01, 5.0, 1 / 2048, 1, 2048, False)[0, -1]
    errors = [
        np.abs(solve_reaction_diffusion(u0, 0.01, 5.0, 1 / m, 1, m, False)[0, -1] - ref).max() for m in (16, 32, 64)
    ]
    rates = np.log2(np.array(errors[:-1]) / errors[1:])
    assert np.all(np.abs(rates - 1) < 0.2), (errors, rates)


def test_periodic_poisson() -> None:
    """Manufactured s = sin 2πx cos 4πy ⇒ u = s / (20π²) (then u(0) = 0); generator data satisfy -Δu = s to
    spectral accuracy (checked with an independent 4th-order finite-difference Laplacian)."""
    x = np.arange(32) / 32
    X, Y = np.meshgrid(x, x, indexing="ij")
    s = np.sin(2 * np.pi * X) * np.cos(4 * np.pi * Y) + 0.5 * np.cos(2 * np.pi * 3 * Y)
    u = solve_periodic_poisson(s[None], gauge="mean")[0]
    exact = np.sin(2 * np.pi * X) * np.cos(4 * np.pi * Y) / (20 * np.pi**2) + 0.5 * np.cos(6 * np.pi * Y) / (
        36 * np.pi**2
    )
    assert np.abs(u - exact).max() < 1e-15 * 100
    gen = PeriodicPoissonGenerator(resolution=128, source_points=16, store_dtype="float64")
    data = gen.generate(np.arange(2), seed=0)
    assert np.allclose(data["u"][:, 0, 0], 0.0) and np.abs(data["a"].mean(axis=(1, 2))).max() < 1e-12
    v, h = data["u"], 1 / 128

    def d2(f: np.ndarray, axis: int) -> np.ndarray:
        r = lambda k: np.roll(f, k, axis=axis)
        return (-r(2) + 16 * r(1) - 30 * f + 16 * r(-1) - r(-2)) / (12 * h * h)

    residual = -(d2(v, 1) + d2(v, 2)) - data["a"]
    assert np.abs(residual).max() < 1e-3 * np.abs(data["a"]).max()


def test_config_errors() -> None:
    with pytest.raises(ConfigError):
        AdvectionGenerator(dim=2, velocity=[1.0])
    with pytest.raises(ConfigError):
        HeatGenerator(dim=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ReactionDiffusionGenerator(resolution=100, solve_resolution=4096)
    with pytest.raises(ConfigError):
        PeriodicPoissonGenerator(resolution=8, source_points=16)

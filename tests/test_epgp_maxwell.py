"""EPGP for Maxwell's equations (a system): the Noetherian multipliers span the solutions on the light cone, and
every posterior mean solves all eight equations to rounding."""

from __future__ import annotations

import pytest
import torch

from specsolve.errors import ConfigError
from specsolve.gp.ehrenpreis import maxwell_features, maxwell_multipliers, maxwell_points, maxwell_residual
from specsolve.solvers.epgp_maxwell import EPGPMaxwell, plane_waves_exact

f64 = torch.float64


def _symbol(z: torch.Tensor) -> torch.Tensor:
    """``A(z)`` (8 x 6) of ``div E, div B, E_t - curl B, B_t + curl E`` with ``d -> z``, ``z = (k, z_t)``."""
    k, zt = z[:3], z[3]
    cross = torch.zeros(3, 3, dtype=z.dtype)  # cross @ v = k x v
    cross[0, 1], cross[0, 2], cross[1, 0], cross[1, 2], cross[2, 0], cross[2, 1] = -k[2], k[1], k[2], -k[0], -k[1], k[0]
    eye, zero = torch.eye(3, dtype=z.dtype), torch.zeros(3, dtype=z.dtype)
    rows = [torch.cat([k, zero])[None], torch.cat([zero, k])[None]]
    rows.append(torch.cat([zt * eye, -cross], 1))
    rows.append(torch.cat([cross, zt * eye], 1))
    return torch.cat(rows, 0)


def test_multipliers_solve_the_symbol_on_the_complex_light_cone_and_span_its_kernel() -> None:
    g = torch.Generator().manual_seed(0)
    k = torch.complex(torch.randn(5, 3, generator=g, dtype=f64), torch.randn(5, 3, generator=g, dtype=f64))
    for sign in (1, -1):
        z = torch.cat([k, sign * torch.sqrt((k * k).sum(-1, keepdim=True))], -1)
        d = maxwell_multipliers(z)
        for j in range(5):
            a = _symbol(z[j])
            assert (a @ d[j]).abs().max() < 1e-12 * d[j].abs().max()
            assert torch.linalg.matrix_rank(d[j]) == 2 == 6 - torch.linalg.matrix_rank(a)  # ker A(z) is 2-D
    off = torch.cat([k, 1.1 * torch.sqrt((k * k).sum(-1, keepdim=True))], -1)  # off the cone: not solutions
    assert (_symbol(off[0]) @ maxwell_multipliers(off)[0]).abs().max() > 1e-3


def test_features_are_exact_solutions() -> None:
    g = torch.Generator().manual_seed(1)
    z = maxwell_points(1.5 * torch.randn(4, 3, generator=g, dtype=f64))
    x = torch.rand(7, 4, generator=g, dtype=f64)
    for col in range(maxwell_features(x, z).shape[-1]):
        res = maxwell_residual(lambda p: maxwell_features(p, z)[:, :, col], x)
        assert res.abs().max() < 1e-12 * (1 + maxwell_features(x, z)[:, :, col].abs().max() * 3)


def test_posterior_mean_solves_maxwell_to_rounding_and_fits_the_data() -> None:
    s = EPGPMaxwell(n_freq=20, n_obs=30, scale=2.0, noise=1e-10)
    s.fit()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(25, 4, generator=g, dtype=f64) * 2 - 1
    res = maxwell_residual(s.mean, x)
    scale = plane_waves_exact(x).abs().max()  # derivatives are O(|k| scale) with |k| ~ 2
    assert res.abs().max() < 1e-12 * scale
    with torch.no_grad():
        fit = (s.mean(s.x_obs) - s.y_obs).abs().max() / s.y_obs.abs().max()
    assert fit < 0.3  # 30 points x 6 fields, 480 features: close to interpolation at t = 0
    assert plane_waves_exact(x).shape == (25, 6) and maxwell_residual(plane_waves_exact, x).abs().max() < 1e-13


def test_sepgp_learns_points_and_keeps_exact_solutions() -> None:
    s = EPGPMaxwell(n_freq=8, n_obs=12, points="learned", steps=3, lr=0.05, noise=1e-4)
    before = s.omega.detach().clone()
    stats = s.fit()
    assert stats["steps"] == 3 and not torch.equal(before, s.omega.detach())
    x = torch.rand(10, 4, dtype=f64)
    assert maxwell_residual(s.mean, x).abs().max() < 1e-12 * (1 + s.mean(x).abs().max() * 10)


def test_bad_maxwell_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="plane_waves_3d"):
        EPGPMaxwell(problem="wave_2d")
    with pytest.raises(ConfigError, match="points"):
        EPGPMaxwell(points="grid")
    with pytest.raises(ConfigError, match="fit"):
        EPGPMaxwell(n_freq=2, n_obs=2).mean(torch.zeros(1, 4, dtype=f64))

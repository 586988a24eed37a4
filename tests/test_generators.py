"""Dataset generators against exact solutions, manufactured solutions and their own sharding."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from specsolve.data.generation import parse_shard, run_recipe
from specsolve.data.generators.burgers import cole_hopf_solution, solve_burgers
from specsolve.data.generators.darcy import DarcyGenerator, solve_darcy
from specsolve.data.grf import periodic_grf_1d, sample_rng
from specsolve.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_burgers_matches_cole_hopf() -> None:
    """FNO-distributed initial data, ν = 0.1, T = 1: ETDRK4 agrees with the exact solution to <= 1e-6."""
    u0 = np.stack([periodic_grf_1d(sample_rng(7, i), 256, 25.0, 5.0, 2.0) for i in range(3)])
    u = solve_burgers(torch.from_numpy(u0), 0.1, [0.5, 1.0], dt=2e-3).numpy()
    for t_index, t in enumerate((0.5, 1.0)):
        for i in range(3):
            exact = cole_hopf_solution(u0[i], 0.1, t)
            error = np.linalg.norm(u[i, t_index] - exact) / np.linalg.norm(exact)
            assert error <= 1e-6, (t, i, error)


def test_burgers_cole_hopf_is_not_trivially_satisfied() -> None:
    u0 = periodic_grf_1d(sample_rng(0, 0), 256, 25.0, 5.0, 2.0)
    exact = cole_hopf_solution(u0, 0.1, 1.0)
    heat_only = np.fft.irfft(np.fft.rfft(u0) * np.exp(-0.1 * (2 * np.pi * np.arange(129)) ** 2), n=256)
    assert np.linalg.norm(exact - heat_only) / np.linalg.norm(exact) > 1e-4  # the nonlinearity matters


def manufactured(k: int) -> float:
    """Max error of the Darcy solver for u = sin πx sin πy, a = 1 + 0.5 sin 2πx cos 2πy on a k x k grid."""
    x = np.linspace(0, 1, k)
    X, Y = np.meshgrid(x, x, indexing="ij")
    pi = np.pi
    a = 1 + 0.5 * np.sin(2 * pi * X) * np.cos(2 * pi * Y)
    ax, ay = pi * np.cos(2 * pi * X) * np.cos(2 * pi * Y), -pi * np.sin(2 * pi * X) * np.sin(2 * pi * Y)
    u = np.sin(pi * X) * np.sin(pi * Y)
    ux, uy = pi * np.cos(pi * X) * np.sin(pi * Y), pi * np.sin(pi * X) * np.cos(pi * Y)
    f = -(ax * ux + ay * uy) + 2 * pi**2 * a * u
    return float(np.abs(solve_darcy(a, f) - u).max())


def test_darcy_solver_converges_at_second_order() -> None:
    errors = [manufactured(k) for k in (17, 33, 65)]
    rates = [np.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(1.9 < r < 2.1 for r in rates), (errors, rates)
    assert errors[-1] < 1e-3


def test_darcy_layered_coefficient_matches_1d_exact_solution() -> None:
    """a depending on x only, f = 1: away from the y-walls... use the 1D flux formula on a very wide strip."""
    k = 33
    x = np.linspace(0, 1, k)
    a = np.where(x >= 0.5, 12.0, 3.0)[:, None] * np.ones((1, k))
    u = solve_darcy(a, 1.0)
    assert np.all(u[1:-1, 1:-1] > 0) and np.allclose(u[:, 0], 0) and np.allclose(u[0], 0)
    assert np.allclose(u, u[:, ::-1], atol=1e-12)  # symmetric in y


def test_darcy_coefficient_statistics() -> None:
    gen = DarcyGenerator(resolution=33, solve_resolution=65)
    fractions = [np.mean(gen.coefficient(sample_rng(3, i)) == 12.0) for i in range(40)]
    assert 0.35 < np.mean(fractions) < 0.65  # the GRF is zero-mean: about half of the domain is 12
    values = np.unique(gen.coefficient(sample_rng(3, 0)))
    assert set(values) <= {3.0, 12.0}
    assert set(np.unique(DarcyGenerator(17, low=4.0).coefficient(sample_rng(0, 0)))) <= {4.0, 12.0}


def test_darcy_config_errors() -> None:
    with pytest.raises(ConfigError, match="multiple"):
        DarcyGenerator(resolution=85, solve_resolution=100)


def test_shards_reproduce_the_unsharded_dataset(tmp_path: Path) -> None:
    recipe = ROOT / "datasets" / "darcy_tiny.yaml"
    common = [f"out_dir={tmp_path}", "splits={train: {n: 6, seed: 5}}", "batch_size=4"]
    run_recipe(recipe, common)
    for i in range(3):
        run_recipe(recipe, common, shard=f"{i}/3")
    with h5py.File(tmp_path / "train.h5") as whole:
        parts = []
        for i in range(3):
            with h5py.File(tmp_path / f"train-{i:05d}-of-00003.h5") as f:
                parts.append((f["a"][()], f["u"][()], f["sample"][()]))
        assert np.array_equal(np.concatenate([p[0] for p in parts]), whole["a"][()])
        assert np.array_equal(np.concatenate([p[1] for p in parts]), whole["u"][()])
        assert np.array_equal(np.concatenate([p[2] for p in parts]), np.arange(6))


def test_parse_shard() -> None:
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "a/b", "1", "-1/2"):
        with pytest.raises(ConfigError):
            parse_shard(bad)

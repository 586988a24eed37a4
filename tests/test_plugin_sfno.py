"""The first-party plugin plugins/specsolve-sfno: the spherical FNO (``spherical_fno``) and the shallow-water-on-the-
sphere generator (``shallow_water_sphere``), on torch-harmonics.

Components are imported from the plugin's source tree; the last test pip-installs the plugin (``--target``, as
tests/test_plugin_install.py does) and generates, trains, predicts and evaluates by name in a fresh interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from plugin_source import plugin_source_fixture

th = pytest.importorskip("torch_harmonics")

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "specsolve-sfno"


plugin_source_on_path = plugin_source_fixture(PLUGIN)  # ``specsolve_sfno`` importable from its src folder


def band_limited(nlat: int, nlon: int, lmax: int, channels: int = 2, seed: int = 0) -> torch.Tensor:
    """A random real field with degrees ``l < lmax`` only, ``(1, channels, nlat, nlon)`` in float64."""
    g = torch.Generator().manual_seed(seed)
    coeffs = torch.randn(channels, lmax, lmax, 2, generator=g, dtype=torch.float64)
    coeffs = torch.view_as_complex(coeffs).tril()  # m <= l
    coeffs[:, :, 0] = coeffs[:, :, 0].real
    return th.InverseRealSHT(nlat, nlon, lmax=lmax, mmax=lmax, grid="equiangular")(coeffs).unsqueeze(0)


# -- symmetry -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("operator", ["driscoll-healy", "linear"])
def test_spherical_conv_and_model_commute_with_a_longitude_shift(operator: str) -> None:
    """A rotation about the polar axis by one grid cell (``roll`` by 1 in longitude) commutes with the spherical
    convolution (both variants) and with the whole model (the latitude embedding is longitude-free)."""
    from specsolve_sfno.sfno import SphericalFNO
    from specsolve_sfno.spherical_conv import SphericalConv

    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 32, dtype=torch.float64)
    conv = SphericalConv(3, 4, modes=8, operator=operator).double()
    model = SphericalFNO(3, 2, modes=8, width=8, layers=2, operator=operator, pos_embed="latitude").double()
    with torch.no_grad():
        for f in (conv, model):
            shifted = f(x.roll(1, dims=-1))
            assert torch.allclose(shifted, f(x).roll(1, dims=-1), atol=1e-10, rtol=0)
            assert not torch.allclose(shifted, f(x), atol=1e-2)  # the output does depend on longitude


def degree_components(nlat: int, nlon: int, lmax: int, rotation: np.ndarray, seed: int = 0) -> np.ndarray:
    """``u_l(R^T p)`` for ``l < lmax`` on the equiangular grid points ``p``: ``(lmax, nlat, nlon)``, the degree-``l``
    parts of one random real band-limited field ``u = Σ_l u_l`` rotated by ``R``, from scipy's spherical harmonics
    (independent of torch-harmonics)."""
    from scipy.special import sph_harm_y

    latitude = np.linspace(np.pi / 2, -np.pi / 2, nlat)[:, None]
    longitude = 2 * np.pi * np.arange(nlon)[None, :] / nlon
    points = np.stack(
        np.broadcast_arrays(
            *[
                np.cos(latitude) * np.cos(longitude),
                np.cos(latitude) * np.sin(longitude),
                np.sin(latitude) + 0 * longitude,
            ]
        ),
        -1,
    )
    q = points @ rotation  # rows R^T p
    theta, phi = np.arccos(np.clip(q[..., 2], -1, 1)), np.arctan2(q[..., 1], q[..., 0])
    rng = np.random.default_rng(seed)
    parts = []
    for l in range(lmax):
        c = rng.standard_normal(l + 1) + 1j * rng.standard_normal(l + 1)
        parts.append(sum((c[m] * sph_harm_y(l, m, theta, phi)).real for m in range(l + 1)))
    return np.stack(parts)


def test_driscoll_healy_conv_commutes_with_any_rotation_and_linear_does_not() -> None:
    """A per-degree weight acts on the degree-``l`` part of a field only, so for an input ``u∘R^T`` (a band-limited
    field rotated by a random ``R``, sampled on the grid) the Driscoll-Healy output is ``Σ_l K_l u_l∘R^T``: the
    rotated output. Weights per ``(l, m)`` break this for rotations that mix orders."""
    from scipy.spatial.transform import Rotation
    from specsolve_sfno.spherical_conv import SphericalConv

    rotation = Rotation.random(random_state=3).as_matrix()
    parts = torch.from_numpy(degree_components(17, 32, 8, rotation))
    x = parts.sum(0)[None, None]
    torch.manual_seed(0)
    with torch.no_grad():
        isotropic = SphericalConv(1, 1, modes=8, operator="driscoll-healy").double()
        expected = (isotropic.weight[0, 0, :, None, None] * parts).sum(0)
        assert torch.allclose(isotropic(x)[0, 0], expected, atol=1e-10, rtol=0)
        anisotropic = SphericalConv(1, 1, modes=8, operator="linear").double()
        weight = torch.view_as_complex(anisotropic.weight[0, 0]).abs().mean(-1)  # its closest isotropic scale
        assert (anisotropic(x)[0, 0] - (weight[:, None, None] * parts).sum(0)).abs().max() > 0.1 * x.abs().max()


# -- resolution -----------------------------------------------------------------------------------------
def test_sht_round_trip_of_a_band_limited_field_is_exact() -> None:
    """``ISHT(SHT(u)) = u`` for ``u`` with degrees ``l < 12`` on 33 x 64 (exact Clenshaw-Curtis quadrature)."""
    from specsolve_sfno.spherical_conv import SphericalTransforms

    u = band_limited(33, 64, lmax=12)
    transforms = SphericalTransforms(modes=12, grid="equiangular")
    assert torch.allclose(transforms.isht(transforms.sht(u), u), u, atol=1e-12, rtol=0)
    assert u.abs().max() > 1.0
    coarse = band_limited(33, 64, lmax=16)  # degrees 12..15 present: truncation to 12 removes them
    assert (transforms.isht(transforms.sht(coarse), coarse) - coarse).abs().max() > 0.1


def test_spherical_conv_gives_the_same_field_on_a_twice_finer_grid() -> None:
    """On nested grids (33 x 64 and 65 x 128, every second point shared) a band-limited input gives the same
    output at the shared points: the weights act on degrees, not on grid points."""
    from specsolve_sfno.spherical_conv import SphericalConv

    torch.manual_seed(0)
    conv = SphericalConv(2, 3, modes=12, operator="linear").double()
    fine = band_limited(65, 128, lmax=12)
    coarse = fine[..., ::2, ::2]
    with torch.no_grad():
        assert torch.allclose(conv(fine)[..., ::2, ::2], conv(coarse), atol=1e-10, rtol=0)


@pytest.mark.parametrize("grid", ["equiangular", "legendre-gauss"])
def test_latitude_embedding_is_the_latitude_of_torch_harmonics_grid_rows(grid: str) -> None:
    """Row ``i`` of a field is latitude ``-arcsin(x_i)`` for torch-harmonics' ascending quadrature nodes ``x_i``
    (north first); the embedding's ``sin φ`` must match it (a flipped embedding puts the north on the south)."""
    from specsolve_sfno.sfno import latitude_features

    nodes = {
        "equiangular": th.quadrature.clenshaw_curtiss_weights,
        "legendre-gauss": th.quadrature.legendre_gauss_weights,
    }
    x = torch.as_tensor(nodes[grid](12, -1, 1)[0], dtype=torch.float64)
    features = latitude_features(torch.zeros(1, 1, 12, 5, dtype=torch.float64), grid)
    assert torch.allclose(features[0, 0, :, 3], -x, atol=1e-12) and torch.allclose(
        features[0, 1] ** 2 + x[:, None] ** 2, torch.ones(12, 5, dtype=torch.float64)
    )
    assert features[0, 0, 0, 0] > 0.9  # first row: near the north pole


# -- generator ------------------------------------------------------------------------------------------
def test_shallow_water_generator_conserves_mass_and_moves() -> None:
    """The area mean of the geopotential (the SHT's l = 0 coefficient, sqrt(4π) x mean) is the same at t and at
    t + lead_time, while the fields themselves change; vorticity and divergence integrate to zero."""
    from specsolve_sfno.shallow_water import FIELDS, ShallowWaterSphereGenerator

    generator = ShallowWaterSphereGenerator(nlat=16, nlon=32, lead_time=7200.0, spinup=3600.0, store_dtype="float64")
    out = generator.generate(np.arange(3), seed=0)
    sht = th.RealSHT(16, 32, lmax=8, mmax=8, grid="equiangular")

    def area_mean(name: str) -> torch.Tensor:
        return sht(torch.from_numpy(out[name]))[:, 0, 0].real / (4 * np.pi) ** 0.5

    before, after = area_mean("geopotential_0"), area_mean("geopotential")
    assert before.abs().min() > 1e-2  # a random mass anomaly per sample, not zero by construction
    assert torch.allclose(after, before, atol=1e-10, rtol=0)
    for name in FIELDS:
        change = np.linalg.norm(out[name] - out[name + "_0"]) / np.linalg.norm(out[name])
        assert change > 0.05, name
    for name in ("vorticity", "divergence"):
        assert area_mean(name).abs().max() < 1e-12 and area_mean(name + "_0").abs().max() < 1e-12
    again = generator.generate(np.array([1]), seed=0)
    assert np.array_equal(again["vorticity"][0], out["vorticity"][1])  # seeded per (seed, sample index)


def test_missing_torch_harmonics_is_a_one_line_error_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from specsolve_sfno.sfno import SphericalFNO
    from specsolve_sfno.shallow_water import ShallowWaterSphereGenerator

    from specsolve.errors import ConfigError

    monkeypatch.setitem(sys.modules, "torch_harmonics", None)  # import torch_harmonics -> ImportError
    for build in (lambda: SphericalFNO(3, 3), lambda: ShallowWaterSphereGenerator()):
        with pytest.raises(ConfigError, match=r"needs torch-harmonics .*pip install --no-deps 'torch-harmonics>=0.9.3"):
            build()


def test_declared_entry_points() -> None:
    declared = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared == {
        "specsolve.models": {"spherical_fno": "specsolve_sfno.sfno:SphericalFNO"},
        "specsolve.generators": {"shallow_water_sphere": "specsolve_sfno.shallow_water:ShallowWaterSphereGenerator"},
    }


# -- pip install, then generate / train / predict / evaluate by name -------------------------------------
SCRIPT = """
import sys
from specsolve.cli.main import main

recipe, data_dir, config, checkpoint, plot = sys.argv[1:6]
assert main(["plugins", "list"]) == 0
assert main(["generate", recipe, f"out_dir={data_dir}"]) == 0
assert main(["train", config]) == 0
pred = checkpoint + ".pred.h5"
assert main(["predict", "-c", checkpoint, "-d", f"{data_dir}/test.h5", "-o", pred]) == 0
assert main(["evaluate", "-p", pred, "-d", f"{data_dir}/test.h5", "--json", pred + ".json", "--plot", plot]) == 0
"""


@pytest.mark.integration
def test_installed_plugin_generates_trains_predicts_and_evaluates(tmp_path: Path) -> None:
    import json

    import xarray as xr

    source = tmp_path / "specsolve-sfno"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet"]
    result = subprocess.run([*pip, "--target", str(site), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    recipe = tmp_path / "swe_tiny.yaml"
    recipe.write_text(
        "generator: {name: shallow_water_sphere, nlat: 16, nlon: 32, dt: 900.0, lead_time: 3600.0, spinup: 3600.0}\n"
        "splits: {train: {n: 24, seed: 0}, test: {n: 6, seed: 1}}\nout_dir: unused\nbatch_size: 12\n"
    )
    data, run_dir = tmp_path / "data", tmp_path / "run"
    config = tmp_path / "sfno_tiny.yaml"
    config.write_text(
        f"""
run_dir: {run_dir}
data: {{name: hdf5, train: {data}/train.h5, test: {data}/test.h5, batch_size: 8,
        inputs: [geopotential_0, vorticity_0, divergence_0], outputs: [geopotential, vorticity, divergence]}}
model: {{name: spherical_fno, modes: 8, width: 8, layers: 2, projection_hidden: 16}}
loss: [{{name: rel_l2}}]
optimizer: {{name: adam, lr: 1.0e-2}}
trainer: {{max_epochs: 2, accelerator: cpu, deterministic: true}}
"""
    )
    checkpoint, plot = run_dir / "checkpoints" / "best.ckpt", tmp_path / "samples.png"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "COLUMNS": "200",
        "OMP_NUM_THREADS": "1",
    }
    args = [str(recipe), str(data), str(config), str(checkpoint), str(plot)]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    listed = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    assert "specsolve-sfno" in listed["spherical_fno"] and "specsolve-sfno" in listed["shallow_water_sphere"]

    test = xr.open_dataset(data / "test.h5", engine="h5netcdf")
    assert test["geopotential"].dims == ("sample", "x", "y") and test.sizes == {"sample": 6, "x": 16, "y": 32}
    assert test["x"].attrs["units"] == "degrees_north" and float(test["x"][0]) == 90.0
    prediction = xr.open_dataset(f"{checkpoint}.pred.h5", engine="h5netcdf")
    assert prediction.attrs["model"] == "spherical_fno" and set(prediction.data_vars) >= {"geopotential", "divergence"}
    metrics = json.loads(Path(f"{checkpoint}.pred.h5.json").read_text())
    errors = [metrics["variables"][name]["mean"]["rel_l2"] for name in ("geopotential", "vorticity", "divergence")]
    assert all(np.isfinite(errors)) and plot.stat().st_size > 1000

"""`specsolve solve`: GP solvers through the config/CLI path, writing mean, std and the exact solution."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from specsolve.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def test_epgp_heat_writes_mean_std_and_exact(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "heat.h5"
    assert main(["solve", str(ROOT / "configs/gp/epgp_heat_1d.yaml"), f"output.path={out}"]) == 0
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["u"].dims == ("sample", "time", "x") and ds["u_std"].attrs["role"] == "posterior_std"
    assert float(ds.attrs["error_rel_l2"]) < 1e-3
    assert (ds["u_std"] >= 0).all()
    exact = tmp_path / "heat.exact.h5"
    json_path = tmp_path / "m.json"
    assert main(["evaluate", "-p", str(out), "-d", str(exact), "--json", str(json_path)]) == 0
    assert "u_std" not in json_path.read_text()  # uncertainty is not compared with the reference
    assert main(["solve", str(ROOT / "configs/gp/epgp_heat_1d.yaml"), f"output.path={out}"]) == 2  # no clobbering


def test_gp_hm_short_run(tmp_path: Path) -> None:
    out = tmp_path / "p.h5"
    args = [
        "solve",
        str(ROOT / "configs/gp/poisson_1d_sin100.yaml"),
        f"output.path={out}",
        "solver.problem=poisson_1d_sin10",
        "solver.n_points=64",
        "solver.steps=30",
        "solver.n_components=8",
    ]
    assert main(args) == 0
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["u"].dims == ("sample", "x") and "u_std" not in ds


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["solver.problem=allen_cahn_1d_sin100"], "allen_cahn"),
        (["solver.kernel=magic"], "key 'kernel' expects"),
        (["solver.name=gphm"], "unknown solver 'gphm'"),
        (["outptu.path=x.h5"], "did you mean 'output'"),
    ],
)
def test_bad_solve_configs(tmp_path: Path, capsys: pytest.CaptureFixture, overrides: list[str], message: str) -> None:
    code = main(["solve", str(ROOT / "configs/gp/epgp_heat_1d.yaml"), f"output.path={tmp_path / 'o.h5'}", *overrides])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1

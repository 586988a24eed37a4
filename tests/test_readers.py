"""Readers of foreign layouts (PDEBench, The Well, FNO .mat), conversion to native, exporters, DataModules.

Every test builds its tiny files with h5py / scipy (tests/_format_builders.py) and compares values exactly.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import _format_builders as build
import h5py
import numpy as np
import pytest
import scipy.io
import torch

from specsolve.cli.main import main
from specsolve.data.convert import convert
from specsolve.data.export import to_fno_mat, to_pdebench, to_the_well
from specsolve.data.readers import ConcatReader, detect_format, open_reader
from specsolve.errors import ConfigError, DataError
from specsolve.registry import create


def read_all(reader, name: str) -> np.ndarray:
    return reader.read_block(name, 0, reader.n_samples)


# -- readers -------------------------------------------------------------------------------------------------
def test_pdebench_single_array_1d(tmp_path: Path) -> None:
    path = tmp_path / "1D_Burgers_Sols_Nu0.001.hdf5"
    ref = build.pdebench_1d(path, n=4, nt=5, nx=16)
    r = open_reader(path)
    assert detect_format(path) == "pdebench" and r.format == "pdebench"
    assert r.n_samples == 4 and r.variables["tensor"].dims == ("time", "x")
    # the released t-coordinate has nt + 1 entries: the first nt are the frame times
    np.testing.assert_allclose(r.coords["time"], ref["time"])
    assert len(r.coords["time"]) == 5
    np.testing.assert_allclose(r.coords["x"], ref["x"])
    assert r.attrs["Nu"] == pytest.approx(0.001)
    np.testing.assert_array_equal(read_all(r, "tensor"), ref["tensor"])
    np.testing.assert_array_equal(r.read("tensor", 2, time=0), ref["tensor"][2, 0])
    np.testing.assert_array_equal(r.read("tensor", 1, time=slice(1, None), stride=3), ref["tensor"][1, 1:, ::3])
    np.testing.assert_array_equal(r.read("tensor", -1, time=-1), ref["tensor"][3, 4])


def test_pdebench_t_coordinate_of_length_nt(tmp_path: Path) -> None:
    path = tmp_path / "exact.hdf5"
    ref = build.pdebench_1d(path, nt=5, quirk=False)
    np.testing.assert_allclose(open_reader(path).coords["time"], ref["time"])


def test_pdebench_darcy(tmp_path: Path) -> None:
    path = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    ref = build.pdebench_darcy(path, n=3, nx=8, ny=6)
    r = open_reader(path, "pdebench")
    assert r.variables["tensor"].dims == ("x", "y") and r.variables["nu"].dims == ("x", "y")
    np.testing.assert_array_equal(read_all(r, "tensor"), ref["tensor"])
    np.testing.assert_array_equal(read_all(r, "nu"), ref["nu"])
    assert r.attrs["beta"] == 1.0 and "time" not in r.coords


def test_pdebench_per_sample_groups(tmp_path: Path) -> None:
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    ref = build.pdebench_groups(path, n=3, nt=4, nx=8, ny=6, c=2)
    assert detect_format(path) == "pdebench_groups"
    r = open_reader(path, "pdebench")
    assert r.n_samples == 3 and set(r.variables) == {"data_0", "data_1"}
    assert r.variables["data_1"].dims == ("time", "x", "y") and r.variables["data_1"].shape == (4, 8, 6)
    for name in ("data_0", "data_1"):
        np.testing.assert_array_equal(read_all(r, name), ref[name])
    np.testing.assert_allclose(r.coords["time"], np.linspace(0, 1, 4))
    assert "Du" in r.attrs["config"]
    named = open_reader(path, channel_names=["u", "v"])
    np.testing.assert_array_equal(named.read("v", 2), ref["data_1"][2])


def test_well_reader(tmp_path: Path) -> None:
    path = tmp_path / "tiny.hdf5"
    ref = build.well_file(path, n=2, nt=6, nx=8, ny=4)
    r = open_reader(path)
    assert r.format == "well" and r.n_samples == 2 and r.spatial_dims == ("x", "y")
    assert r.variables["velocity_x"].dims == ("time", "x", "y")
    assert r.variables["c"].dims == ("x", "y")  # constant field, varies in x only: broadcast along y
    assert r.variables["nu"].dims == () and r.variables["energy"].dims == ("time",)
    for name, values in ref.items():
        np.testing.assert_array_equal(read_all(r, name), values, err_msg=name)
    assert r.boundary_conditions["x_periodic"]["bc_type"] == "PERIODIC"
    np.testing.assert_array_equal(r.read("u", 1, time=slice(2, 5), stride=2), ref["u"][1, 2:5, ::2, ::2])


def test_fno_mat_v5_time_last(tmp_path: Path) -> None:
    path = tmp_path / "ns_V1e-3_N5000_T50.mat"
    ref = build.fno_mat_v5(path, n=3, s=8, nt=4)
    r = open_reader(path)
    assert r.format == "fno_mat" and r.attrs["mat_version"] == "5"
    assert r.variables["u"].dims == ("time", "x", "y")  # stored [N, X, Y, T]
    np.testing.assert_array_equal(read_all(r, "u"), ref["u"])
    np.testing.assert_array_equal(read_all(r, "a"), ref["a"])
    np.testing.assert_allclose(r.coords["time"], ref["time"])
    np.testing.assert_allclose(r.coords["x"], np.linspace(0, 1, 8))
    assert open_reader(path, grid="periodic").coords["x"][-1] == pytest.approx(7 / 8)


def test_fno_mat_v73_reversed_axes(tmp_path: Path) -> None:
    path = tmp_path / "piececonst_r421_N1024_smooth1.mat"
    ref = build.fno_mat_v73(path, n=3, s=8)
    with h5py.File(path, "r") as f:
        assert f["coeff"].shape == (8, 8, 3) and f.userblock_size == 512  # as MATLAB writes it
    r = open_reader(path)
    assert r.attrs["mat_version"] == "7.3" and r.n_samples == 3
    np.testing.assert_array_equal(read_all(r, "coeff"), ref["coeff"])
    np.testing.assert_array_equal(r.read("sol", 1, stride=2), ref["sol"][1, ::2, ::2])


def test_v5_mat_too_large_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.mat"
    build.fno_mat_v5(path)
    with pytest.raises(DataError, match="cannot be read lazily"):
        open_reader(path, max_eager_bytes=100)


def test_shards_read_as_one(tmp_path: Path) -> None:
    a = build.pdebench_1d(tmp_path / "part-0.hdf5", n=3, seed=1)
    b = build.pdebench_1d(tmp_path / "part-1.hdf5", n=2, seed=2)
    for source in (tmp_path, str(tmp_path / "part-*.hdf5")):
        r = open_reader(source)
        assert isinstance(r, ConcatReader) and r.n_samples == 5
        np.testing.assert_array_equal(r.read_block("tensor", 1, 5), np.concatenate([a["tensor"], b["tensor"]])[1:5])


def test_reader_pickles_without_its_handle(tmp_path: Path) -> None:
    path = tmp_path / "p.hdf5"
    ref = build.pdebench_1d(path)
    r = open_reader(path)
    r.read("tensor", 0)
    clone = pickle.loads(pickle.dumps(r))
    assert clone._handle is None
    np.testing.assert_array_equal(clone.read("tensor", 3), ref["tensor"][3])


# -- conversion ----------------------------------------------------------------------------------------------
BUILDERS = build.BUILDERS


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_convert_to_native_streams_exact_values(tmp_path: Path, kind: str) -> None:
    import xarray as xr

    builder, name = BUILDERS[kind]
    builder(tmp_path / name)
    src = open_reader(tmp_path / name)
    out = convert(tmp_path / name, tmp_path / "native.h5", block_bytes=1)  # one sample per block
    native = open_reader(out)
    assert native.format == "native" and native.n_samples == src.n_samples
    ds = xr.open_dataset(out, engine="h5netcdf")
    for var in src.variables.values():
        assert native.variables[var.name].dims == var.dims
        np.testing.assert_array_equal(read_all(native, var.name), read_all(src, var.name))
        assert ds[var.name].dims == ("sample",) + var.dims
    for dim in src.spatial_dims:
        np.testing.assert_allclose(ds[dim].values, src.coords[dim])
    assert ds.attrs["source_format"] == src.format
    ds.close()


def test_convert_refuses_to_clobber(tmp_path: Path) -> None:
    build.pdebench_1d(tmp_path / "p.hdf5")
    out = convert(tmp_path / "p.hdf5", tmp_path / "n.h5")
    with pytest.raises(DataError, match="already exists"):
        convert(tmp_path / "p.hdf5", out)
    with pytest.raises(DataError, match="refusing to overwrite the source"):
        convert(tmp_path / "p.hdf5", tmp_path / "p.hdf5", overwrite=True)
    with pytest.raises(DataError, match="unknown source format"):
        convert(tmp_path / "p.hdf5", tmp_path / "x.h5", fmt="netcdf")


def test_cli_functions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    build.well_file(tmp_path / "w.hdf5")
    assert main(["data", "convert", str(tmp_path / "w.hdf5"), str(tmp_path / "n.h5"), "--from", "well"]) == 0
    assert "2 samples" in capsys.readouterr().out
    assert main(["data", "export-well", str(tmp_path / "n.h5"), str(tmp_path / "well")]) == 0
    assert (tmp_path / "well" / "data" / "train" / "n.hdf5").exists() and (tmp_path / "well" / "stats.yaml").exists()


# -- exporters -----------------------------------------------------------------------------------------------
def test_well_export_round_trip_and_layout(tmp_path: Path) -> None:
    import xarray as xr

    ref = build.well_file(tmp_path / "w.hdf5", n=2, nt=6, nx=8, ny=4)
    native = convert(tmp_path / "w.hdf5", tmp_path / "n.h5")
    out = to_the_well(native, tmp_path / "tiny")
    back = open_reader(out)
    for name, values in ref.items():
        np.testing.assert_array_equal(read_all(back, name), values, err_msg=name)
    bc_types = {k: v["bc_type"] for k, v in back.boundary_conditions.items()}
    assert bc_types == {"x_periodic": "PERIODIC", "y_wall": "WALL"}
    with h5py.File(out, "r") as f:
        assert bool(f["dimensions/time"].attrs["time_varying"]) and not f["dimensions/time"].attrs["sample_varying"]
        assert all(g in f for g in ("t0_fields", "t1_fields", "t2_fields", "scalars", "boundary_conditions"))
        assert list(f["t1_fields"].attrs["field_names"]) == ["velocity"]
        assert f["t1_fields/velocity"].shape == (2, 6, 8, 4, 2)
        assert f.attrs["n_trajectories"] == 2 and f.attrs["n_spatial_dims"] == 2
    ds = xr.open_dataset(out, engine="h5netcdf", group="t1_fields")  # coordinates from the in-group scales
    assert ds["velocity"].dims == ("sample", "time", "x", "y", "i")
    assert list(ds["i"].values) == ["x", "y"]
    np.testing.assert_allclose(ds["time"].values, np.linspace(0, 1, 6))
    ds.close()


def test_the_well_reads_the_export(tmp_path: Path) -> None:
    import yaml

    well_data = pytest.importorskip("the_well.data")
    ref = build.well_file(tmp_path / "w.hdf5", n=2, nt=6, nx=8, ny=4)
    out = to_the_well(convert(tmp_path / "w.hdf5", tmp_path / "n.h5"), tmp_path / "tiny", dataset_name="tiny")
    ds = well_data.WellDataset(path=str(out.parent), n_steps_input=2, n_steps_output=1)
    assert len(ds) == 2 * (6 - 3 + 1)
    assert ds.metadata.field_names == {0: ["u"], 1: ["velocity_x", "velocity_y"], 2: []}
    sample = ds[5]  # trajectory 1, window starting at step 1
    assert sample["input_fields"].shape == (2, 8, 4, 3) and sample["output_fields"].shape == (1, 8, 4, 3)
    expected = np.stack([ref["u"][1, 1:3], ref["velocity_x"][1, 1:3], ref["velocity_y"][1, 1:3]], axis=-1)
    np.testing.assert_array_equal(sample["input_fields"].numpy(), expected)
    np.testing.assert_array_equal(sample["constant_fields"][..., 0].numpy(), ref["c"][1])
    # stats.yaml is what WellDataset's z-score normalisation reads; its values are the field moments
    stats = yaml.safe_load((tmp_path / "tiny" / "stats.yaml").read_text())
    assert stats["mean"]["u"] == pytest.approx(float(ref["u"].astype(np.float64).mean()))
    delta_y = np.diff(ref["velocity_y"].astype(np.float64), axis=1)
    assert stats["std_delta"]["velocity"][1] == pytest.approx(float(delta_y.std()))
    normalized = well_data.WellDataset(
        path=str(tmp_path / "tiny"),
        well_split_name="train",
        n_steps_input=2,
        n_steps_output=1,
        use_normalization=True,
        normalization_type=well_data.normalization.ZScoreNormalization,
    )
    u = normalized[0]["input_fields"][..., 0].numpy()
    np.testing.assert_allclose(u, (ref["u"][0, 0:2] - stats["mean"]["u"]) / stats["std"]["u"], rtol=1e-5, atol=1e-5)
    from the_well.utils.export import hdf5_to_xarray

    with h5py.File(out, "r") as f:
        assert hdf5_to_xarray(f)["velocity"].dims == ("sample", "time", "x", "y", "i")


def test_fno_mat_export(tmp_path: Path) -> None:
    ref = build.fno_mat_v5(tmp_path / "m.mat", n=3, s=8, nt=4)
    native = convert(tmp_path / "m.mat", tmp_path / "n.h5")
    v5 = to_fno_mat(native, tmp_path / "out5.mat", version="5")
    raw = scipy.io.loadmat(v5)
    assert raw["u"].shape == (3, 8, 8, 4)  # FNO order: time last
    np.testing.assert_array_equal(raw["u"], np.moveaxis(ref["u"], 1, -1))
    v73 = to_fno_mat(native, tmp_path / "out73.mat", version="7.3", block_bytes=1)
    assert v73.read_bytes().startswith(b"MATLAB 7.3 MAT-file")
    with h5py.File(v73, "r") as f:
        assert f["u"].shape == (4, 8, 8, 3)  # MATLAB's reversed axes on disk
    back = open_reader(v73)
    np.testing.assert_array_equal(read_all(back, "u"), ref["u"])
    np.testing.assert_allclose(back.coords["time"], ref["time"])


def test_fno_mat_export_drops_t0(tmp_path: Path) -> None:
    build.pdebench_1d(tmp_path / "p.hdf5", n=2, nt=5)  # time starts at 0
    out = to_fno_mat(tmp_path / "p.hdf5", tmp_path / "o.mat")
    raw = scipy.io.loadmat(out)
    assert raw["tensor"].shape == (2, 16, 4) and raw["t"].shape == (1, 4) and raw["t"][0, 0] > 0


def test_pdebench_export(tmp_path: Path) -> None:
    ref = build.pdebench_1d(tmp_path / "p.hdf5", n=3, nt=5)
    native = convert(tmp_path / "p.hdf5", tmp_path / "n.h5")
    out = to_pdebench(native, tmp_path / "o.hdf5", variable="tensor")
    with h5py.File(out, "r") as f:
        assert f["tensor"].shape == (3, 5, 16) and f["t-coordinate"].shape == (6,)  # nt + 1 quirk
        assert f.attrs["Nu"] == pytest.approx(0.001)
    np.testing.assert_array_equal(read_all(open_reader(out), "tensor"), ref["tensor"])
    darcy = build.pdebench_darcy(tmp_path / "d.hdf5")
    native = convert(tmp_path / "d.hdf5", tmp_path / "dn.h5")
    out = to_pdebench(native, tmp_path / "do.hdf5", variable="tensor", coefficient="nu")
    with h5py.File(out, "r") as f:
        assert f["tensor"].shape == (3, 1, 8, 6) and f["nu"].shape == (3, 8, 6)
        np.testing.assert_array_equal(f["nu"][()], darcy["nu"])


# -- DataModules ---------------------------------------------------------------------------------------------
def test_pdebench_datamodule_selectors(tmp_path: Path) -> None:
    ref = build.pdebench_1d(tmp_path / "p.hdf5", n=4, nt=5, nx=16)
    dm = create(
        "dataset",
        "pdebench",
        train=str(tmp_path / "p.hdf5"),
        inputs=["tensor[0]"],
        outputs=["tensor[1:]"],
        batch_size=2,
        stride=2,
    )
    assert (dm.in_channels, dm.out_channels, dm.spatial_shape) == (1, 4, (8,))
    x, y = dm.datasets["train"][3]
    torch.testing.assert_close(x, torch.from_numpy(ref["tensor"][3, :1, ::2]))
    torch.testing.assert_close(y, torch.from_numpy(ref["tensor"][3, 1:, ::2]))
    layout = dm.datasets["train"].info.layout(dm.outputs)
    assert layout["tensor[1:]"]["dims"] == ["time", "x"]
    np.testing.assert_allclose(layout["tensor[1:]"]["coords"]["time"], ref["time"][1:])
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (2, 1, 8) and yb.shape == (2, 4, 8)
    stats = dm.normalization_statistics()
    assert stats["y_mean"].shape == (4,)


def test_well_and_fno_datamodules(tmp_path: Path) -> None:
    ref = build.well_file(tmp_path / "w.hdf5", n=2, nt=6, nx=8, ny=4)
    dm = create("dataset", "well", train=str(tmp_path), inputs=["u[0:2]", "nu"], outputs=["u[2]"])
    x, y = dm.datasets["train"][1]
    assert x.shape == (3, 8, 4) and torch.all(x[2] == 0.5)  # the scalar is a constant channel
    torch.testing.assert_close(y[0], torch.from_numpy(ref["u"][1, 2]))
    mat = build.fno_mat_v5(tmp_path / "ns.mat", n=3, s=8, nt=4)
    dm = create(
        "dataset",
        "fno_mat",
        train=str(tmp_path / "ns.mat"),
        test=str(tmp_path / "ns.mat"),
        inputs=["u[0:2]"],
        outputs=["u[2:]"],
        train_range=[0, 2],
        test_range=[2, 3],
    )
    assert len(dm.datasets["train"]) == 2 and len(dm.datasets["val"]) == 1
    x, y = dm.datasets["test"][0]
    torch.testing.assert_close(y, torch.from_numpy(mat["u"][2, 2:]))
    with pytest.raises(ConfigError, match="bad time selection"):
        create("dataset", "fno_mat", train=str(tmp_path / "ns.mat"), inputs=["u[a]"], outputs=["u"])
    with pytest.raises(ConfigError, match="train_range"):
        create("dataset", "fno_mat", train=str(tmp_path / "ns.mat"), inputs=["a"], outputs=["u"], train_range=[2, 9])


def test_train_on_pdebench_in_place(tmp_path: Path) -> None:
    """An FNO trains for one epoch straight from a PDEBench file (no conversion)."""
    from omegaconf import OmegaConf

    from specsolve.training.run import train

    build.pdebench_1d(tmp_path / "p.hdf5", n=4, nt=3, nx=16)
    cfg = OmegaConf.create(
        {
            "seed": 0,
            "run_dir": str(tmp_path / "run"),
            "data": {
                "name": "pdebench",
                "train": str(tmp_path / "p.hdf5"),
                "test": str(tmp_path / "p.hdf5"),
                "inputs": ["tensor[0]"],
                "outputs": ["tensor[2]"],
                "batch_size": 2,
            },
            "model": {"name": "fno", "modes": [4], "width": 8, "layers": 1},
            "loss": [{"name": "rel_l2"}],
            "optimizer": {"name": "adam", "lr": 1e-3},
            "scheduler": {"name": "step", "step_size": 10, "gamma": 0.5},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1},
        }
    )
    result = train(cfg, progress=False)
    assert np.isfinite(result["metrics"]["val/rel_l2"])

"""Tiny files in the foreign layouts (PDEBench, The Well, FNO .mat), built with h5py / scipy for the reader tests.

Each builder returns the arrays it wrote, in the reader's presentation order, so tests compare values exactly.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def pdebench_1d(path: Path, n: int = 4, nt: int = 5, nx: int = 16, seed: int = 0, quirk: bool = True) -> dict:
    """Burgers-style single-array file: tensor [n, nt, nx], x-coordinate (cell centres), t-coordinate (nt+1)."""
    tensor = _rng(seed).standard_normal((n, nt, nx)).astype(np.float32)
    x = (np.arange(nx) + 0.5) / nx
    t = np.arange(nt + (1 if quirk else 0)) * 0.01
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor
        f["x-coordinate"] = x
        f["t-coordinate"] = t
        f.attrs["Nu"] = 0.001
    return {"tensor": tensor, "x": x, "time": t[:nt]}


def pdebench_darcy(path: Path, n: int = 3, nx: int = 8, ny: int = 6, seed: int = 0) -> dict:
    """2D Darcy: tensor [n, 1, nx, ny] (solution), nu [n, nx, ny] (coefficient), x-/y-coordinate, attr beta."""
    rng = _rng(seed)
    tensor = rng.standard_normal((n, 1, nx, ny)).astype(np.float32)
    nu = rng.uniform(0.1, 1.0, (n, nx, ny)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["tensor"] = tensor
        f["nu"] = nu
        f["x-coordinate"] = (np.arange(nx) + 0.5) / nx
        f["y-coordinate"] = (np.arange(ny) + 0.5) / ny
        f.attrs["beta"] = 1.0
    return {"tensor": tensor[:, 0], "nu": nu}


def pdebench_groups(path: Path, n: int = 3, nt: int = 4, nx: int = 8, ny: int = 6, c: int = 2, seed: int = 0) -> dict:
    """Per-sample groups '0000'...: data [nt, nx, ny, c], grid/x, grid/y, grid/t, attr config."""
    data = _rng(seed).standard_normal((n, nt, nx, ny, c)).astype(np.float32)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"{i:04d}")
            g["data"] = data[i]
            g["grid/x"] = np.linspace(-1, 1, nx)
            g["grid/y"] = np.linspace(-1, 1, ny)
            g["grid/t"] = np.linspace(0, 1, nt)
            g.attrs["config"] = "sim: {Du: 0.001}"
    return {f"data_{k}": data[..., k] for k in range(c)}


def _flags(dset: h5py.Dataset, sample: bool, time: bool, dims: list[bool] | None = None) -> None:
    dset.attrs["sample_varying"] = sample
    dset.attrs["time_varying"] = time
    if dims is not None:
        dset.attrs["dim_varying"] = np.asarray(dims)


def well_file(path: Path, n: int = 2, nt: int = 6, nx: int = 8, ny: int = 4, seed: int = 0) -> dict:
    """A Well-format file: t0 'u' (B,T,X,Y), t1 'velocity' (B,T,X,Y,2), t0 constant 'c' varying in x only,
    t2 empty; scalars 'nu' (constant) and 'energy' (B,T); periodic x, wall y."""
    rng = _rng(seed)
    u = rng.standard_normal((n, nt, nx, ny)).astype(np.float32)
    vel = rng.standard_normal((n, nt, nx, ny, 2)).astype(np.float32)
    c = rng.standard_normal((n, nx)).astype(np.float32)
    energy = rng.standard_normal((n, nt)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": "tiny", "grid_type": "cartesian", "n_spatial_dims": 2, "n_trajectories": n})
        f.attrs["simulation_parameters"] = ["nu"]
        f.attrs["nu"] = 0.5
        d = f.create_group("dimensions")
        d.attrs["spatial_dims"] = ["x", "y"]
        _flags(d.create_dataset("time", data=np.linspace(0, 1, nt)), False, True)
        _flags(d.create_dataset("x", data=np.arange(nx) / nx), False, False)
        _flags(d.create_dataset("y", data=np.linspace(0, 1, ny)), False, False)
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["u", "c"]
        _flags(t0.create_dataset("u", data=u), True, True, [True, True])
        _flags(t0.create_dataset("c", data=c), True, False, [True, False])
        t1 = f.create_group("t1_fields")
        t1.attrs["field_names"] = ["velocity"]
        _flags(t1.create_dataset("velocity", data=vel), True, True, [True, True])
        f.create_group("t2_fields").attrs["field_names"] = np.array([], dtype=h5py.string_dtype())
        s = f.create_group("scalars")
        s.attrs["field_names"] = ["nu", "energy"]
        _flags(s.create_dataset("nu", data=np.float32(0.5)), False, False)
        _flags(s.create_dataset("energy", data=energy), True, True)
        bc = f.create_group("boundary_conditions")
        for name, dim, kind in (("x_periodic", "x", "PERIODIC"), ("y_wall", "y", "WALL")):
            g = bc.create_group(name)
            g.attrs.update(
                {
                    "bc_type": kind,
                    "associated_dims": [dim],
                    "associated_fields": [],
                    "sample_varying": False,
                    "time_varying": False,
                }
            )
            size = nx if dim == "x" else ny
            mask = np.zeros(size, dtype=bool)
            mask[[0, -1]] = True
            g["mask"] = mask
    return {
        "u": u,
        "velocity_x": vel[..., 0],
        "velocity_y": vel[..., 1],
        "c": np.broadcast_to(c[:, :, None], (n, nx, ny)),
        "energy": energy,
        "nu": np.full(n, 0.5, dtype=np.float32),
    }


def fno_mat_v5(path: Path, n: int = 3, s: int = 8, nt: int = 4, seed: int = 0) -> dict:
    """FNO Navier-Stokes style v5 .mat: a [n,s,s], u [n,s,s,nt] (time last), t [1,nt]."""
    import scipy.io

    rng = _rng(seed)
    a = rng.standard_normal((n, s, s)).astype(np.float32)
    u = rng.standard_normal((n, s, s, nt)).astype(np.float32)
    scipy.io.savemat(path, {"a": a, "u": u, "t": np.arange(1, nt + 1, dtype=np.float64)[None]})
    return {"a": a, "u": np.moveaxis(u, -1, 1), "time": np.arange(1, nt + 1, dtype=np.float64)}


MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def fno_mat_v73(path: Path, n: int = 3, s: int = 8, seed: int = 0) -> dict:
    """Darcy style v7.3 .mat written as MATLAB does: HDF5 behind a 512-byte header, axes reversed on disk."""
    rng = _rng(seed)
    coeff = rng.uniform(3, 12, (n, s, s))
    sol = rng.standard_normal((n, s, s))
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in (("coeff", coeff), ("sol", sol)):
            d = f.create_dataset(key, data=value.transpose())  # MATLAB column-major order
            d.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:
        fh.write(MATLAB_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    return {"coeff": coeff.astype(np.float32), "sol": sol.astype(np.float32)}


# every builder with the file name the conversion and bad-input tests give it
BUILDERS = {
    "pdebench": (pdebench_1d, "p.hdf5"),
    "pdebench_darcy": (pdebench_darcy, "d.hdf5"),
    "pdebench_groups": (pdebench_groups, "g.h5"),
    "well": (well_file, "w.hdf5"),
    "fno_mat_v5": (fno_mat_v5, "m5.mat"),
    "fno_mat_v73": (fno_mat_v73, "m73.mat"),
}

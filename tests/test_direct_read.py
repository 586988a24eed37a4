"""Direct reads (:meth:`specsolve.data.readers.base.Reader.read_node`): a selection that is one contiguous run of an
unfiltered dataset is read from the file descriptor without HDF5, and must return exactly what h5py returns
(values, dtype, shape) for every layout, dtype, byte order and selection; anything it cannot read directly goes
through h5py. The tests count the direct reads, so a plan that silently fell back everywhere would fail too."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from specsolve.data.readers import FnoMatReader, NativeReader, PDEBenchReader
from specsolve.data.readers.base import Reader, StorageMap

SHAPE = (5, 6, 8, 7)  # sample, time, x, y (odd y: edge chunks below)


def field(dtype: str = "<f4") -> np.ndarray:
    s, t, x, y = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    return (1000 * s + 100 * t + 10 * x + y).astype(dtype)


@pytest.fixture
def preadv_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.preadv

    def counting(fd, buffers, offset):
        calls.append(offset)
        return real(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", counting)
    return calls


def keys() -> list[tuple]:
    """Selections as the readers make them: ints and slices (steps > 0), across and within chunks."""
    s = [0, 3, slice(2, 3), slice(0, 5), slice(1, 4, 2)]
    t = [slice(0, 6), slice(4, 5), 2, slice(1, 4), slice(0, 6, 2), slice(5, 6)]
    x = [slice(0, 8), slice(0, 8, 2), slice(3, 4), 7, slice(0, 5)]
    y = [slice(0, 7), slice(0, 7, 3), slice(2, 5), slice(0, 4)]
    return list(itertools.product(s, t, x, y))


LAYOUTS = [
    ("contiguous", {"chunks": None}),
    ("one sample a chunk", {"chunks": (1, 6, 8, 7)}),
    ("one frame a chunk", {"chunks": (1, 1, 8, 7)}),
    ("edge chunks", {"chunks": (2, 4, 8, 7)}),
    ("no selection contiguous", {"chunks": (2, 4, 8, 3), "direct": 0}),
    ("big-endian float64", {"chunks": (1, 6, 8, 7), "dtype": ">f8"}),
    ("int16", {"chunks": None, "dtype": "<i2"}),
    ("user block", {"chunks": (1, 6, 8, 7), "userblock": 1024}),
]


@pytest.mark.parametrize("name, layout", LAYOUTS, ids=[n for n, _ in LAYOUTS])
def test_direct_reads_equal_h5py(tmp_path: Path, preadv_calls: list[int], name: str, layout: dict) -> None:
    path = tmp_path / "u.h5"
    data = field(layout.get("dtype", "<f4"))
    extra = {"userblock_size": layout["userblock"]} if "userblock" in layout else {}
    with h5py.File(path, "w", **extra) as f:
        f.create_dataset("u", data=data, chunks=layout["chunks"])
    reader = Reader(path)
    dset = reader.node("u")
    direct = 0
    for key in keys():
        before = len(preadv_calls)
        got = reader.read_node(dset, key)
        expected = dset[key]
        assert got.dtype == expected.dtype and got.shape == expected.shape, key
        np.testing.assert_array_equal(got, expected, err_msg=str(key))
        direct += len(preadv_calls) - before
    reader.close()
    if layout.get("direct", 1) == 0:  # y spans two chunks: every selection of a whole row crosses chunks
        assert direct == 0
    else:  # whole frames and samples of one chunk are contiguous in the other layouts
        assert direct >= 40, f"only {direct} of {len(keys())} selections were read directly"


def test_direct_plan_is_refused_where_bytes_are_not_the_values(tmp_path: Path) -> None:
    path = tmp_path / "u.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("gz", data=field(), chunks=(1, 6, 8, 7), compression="gzip")
        f.create_dataset("sparse", shape=SHAPE, dtype="f4", chunks=(1, 6, 8, 7), fillvalue=3.5)
        f["sparse"][1] = field()[1]
        f.create_dataset("flag", data=np.zeros(SHAPE, dtype=bool))
        f.create_dataset("u", data=field(), chunks=(1, 6, 8, 7))
    frame = (2, 1, slice(0, 8), slice(0, 7))
    with h5py.File(path, "r") as f:
        assert StorageMap(f["gz"]).direct_read(frame) is None  # filtered
        assert StorageMap(f["flag"]).direct_read(frame) is None  # bool is an HDF5 enum
        assert StorageMap(f["sparse"]).direct_read(frame) is None  # chunk never written: HDF5's fill value
        assert StorageMap(f["sparse"]).direct_read((1, 1, slice(0, 8), slice(0, 7))) is not None
        u = StorageMap(f["u"])
        assert u.direct_read((slice(1, 3), 0, slice(0, 8), slice(0, 7))) is None  # across chunks
        box = u.direct_read((1, slice(0, 6), slice(2, 4), slice(1, 3)))  # a small box: read whole, then cut
        assert box is not None and box.shape == (1, 6, 8, 7)
    reader = Reader(path)
    for name in ("gz", "sparse", "flag"):
        dset = reader.node(name)
        np.testing.assert_array_equal(reader.read_node(dset, frame), dset[frame])
    reader.close()


def test_short_read_falls_back_to_h5py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "u.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("u", data=field(), chunks=(1, 6, 8, 7))
    monkeypatch.setattr(os, "preadv", lambda fd, buffers, offset: 0)  # e.g. a file cut short after opening
    reader = Reader(path)
    key = (3, slice(2, 3), slice(0, 8), slice(0, 7))
    np.testing.assert_array_equal(reader.read_node(reader.node("u"), key), field()[key])
    reader.close()


def test_readers_read_directly(tmp_path: Path, preadv_calls: list[int]) -> None:
    """Native, PDEBench and FNO .mat (user block, axes reversed) readers: one frame per preadv, same values."""
    from specsolve.data.native import NativeWriter, VariableSpec

    u = field()
    native = tmp_path / "n.h5"
    coords = {"sample": np.arange(5), "time": np.arange(6.0), "x": np.arange(8.0), "y": np.arange(7.0)}
    with NativeWriter(native, coords, {"u": VariableSpec(("sample", "time", "x", "y"))}, {}, compression=None) as w:
        w.write("u", 0, u)
    bench = tmp_path / "b.hdf5"
    with h5py.File(bench, "w") as f:
        f.create_dataset("density", data=u, chunks=(1, 6, 8, 7))
        f["x-coordinate"], f["y-coordinate"], f["t-coordinate"] = np.arange(8.0), np.arange(7.0), np.arange(7.0)
    mat = tmp_path / "m.mat"
    with h5py.File(mat, "w", userblock_size=512) as f:  # MATLAB v7.3: axes reversed on disk, time last
        f.create_dataset("a", data=np.ascontiguousarray(u[:, 0].transpose()), chunks=(7, 8, 1))
        f.create_dataset("u", data=np.ascontiguousarray(np.moveaxis(u, 1, -1).transpose()), chunks=(6, 7, 8, 1))
    for reader, name in ((NativeReader(native), "u"), (PDEBenchReader(bench), "density"), (FnoMatReader(mat), "u")):
        before = len(preadv_calls)
        for sample, t in [(0, 0), (3, 5), (4, 2)]:
            np.testing.assert_array_equal(reader.read(name, sample, time=t), u[sample, t], err_msg=reader.format)
        assert len(preadv_calls) - before == 3, reader.format
        np.testing.assert_array_equal(reader.read(name, 2, time=slice(1, 4)), u[2, 1:4])
        np.testing.assert_array_equal(reader.read(name, 1, stride=2), u[1, :, ::2, ::2])
        reader.close()


def test_strided_selection_of_a_large_box_goes_through_h5py(tmp_path: Path) -> None:
    """A direct read fetches the selection's whole box; 64x the selected bytes (every 8th point of 64^2 frames)
    is left to HDF5's strided read, a whole-frame or 2x-strided selection is read directly."""
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("u", shape=(2, 32, 64, 64), dtype="f4", chunks=(1, 32, 64, 64), fillvalue=1.0)
        f["u"][...] = 2.0
        u = StorageMap(f["u"])
        assert u.direct_read((1, slice(0, 32), slice(0, 64, 8), slice(0, 64, 8))) is None
        assert u.direct_read((1, slice(0, 32), slice(0, 64, 2), slice(0, 64, 2))) is not None
        assert u.direct_read((1, 3, slice(0, 64, 8), slice(0, 64, 8))) is not None  # one frame: 16 KiB

"""specsolve.data.fields: the batched fetch of FieldDataset (the ``hdf5``, ``pdebench``, ``well`` and ``fno_mat``
DataModules) and the readers' ``out`` buffer it reads into.

Tiny files written with h5py; every value distinct (variable, sample, time, x, y), so that any misplaced block shows.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

import specsolve.data.batch_storage as batch_storage
import specsolve.data.modules.loaders as loaders
from specsolve.data.fields import FieldDataset
from specsolve.data.modules.hdf5_fields import open_fields
from specsolve.data.modules.loaders import one_storage_collate
from specsolve.data.readers import NativeReader, PDEBenchReader
from specsolve.errors import DataError
from specsolve.registry import create

N, T, X, Y = 5, 4, 8, 6


def values(offset: float, shape: tuple[int, ...]) -> np.ndarray:
    return offset + np.arange(np.prod(shape), dtype=np.float64).reshape(shape)


def native(path: Path, layout: str = "sample_chunks", dtype: str = "float32", n: int = N, first: int = 0) -> Path:
    """``a(sample, x, y)``, ``u(sample, time, x, y)``, ``nu(sample)``, stored as ``layout``: ``sample_chunks`` (one
    sample a chunk), ``contiguous``, ``gzip`` or ``time_chunks`` (one frame a chunk: no sample is one run)."""
    options = {
        "sample_chunks": lambda shape: {"chunks": (1, *shape[1:])},
        "contiguous": lambda shape: {},
        "gzip": lambda shape: {"chunks": (1, *shape[1:]), "compression": "gzip"},
        "time_chunks": lambda shape: {"chunks": (1, 1, *shape[2:])} if len(shape) == 4 else {"chunks": (1, *shape[1:])},
    }[layout]
    with h5py.File(path, "w") as f:
        for name, coord in (
            ("sample", np.arange(first, first + n)),
            ("time", np.arange(T, dtype=np.float64)),
            ("x", np.arange(X) / X),
            ("y", np.arange(Y) / Y),
        ):
            f[name] = coord
            f[name].make_scale(name)
        for name, shape, offset in (("a", (n, X, Y), 1e4), ("u", (n, T, X, Y), 2e4), ("nu", (n,), 0.0)):
            data = values(offset + first * np.prod(shape[1:]), shape).astype(dtype)
            dset = f.create_dataset(name, data=data, **(options(shape) if len(shape) > 1 else {}))
            for axis, dim in enumerate(("sample", "time", "x", "y") if len(shape) == 4 else ("sample", "x", "y")):
                if axis < len(shape):
                    dset.dims[axis].attach_scale(f[dim])
    return path


def as_in_a_worker(patch: pytest.MonkeyPatch) -> None:
    """Buffers and collation behave as in a DataLoader worker (shared memory)."""
    patch.setattr(loaders, "get_worker_info", lambda: object())
    patch.setattr(batch_storage, "get_worker_info", lambda: object())


def assert_same_items(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for item, reference in zip(got, expected):
        assert len(item) == len(reference)
        for a, b in zip(item, reference):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


CASES = {
    "fields": (["a"], ["u"], 1),
    "time_selectors": (["a", "u[0]"], ["u[1:]", "u[-1]"], 1),
    "strided": (["a"], ["u[::2]"], 2),
    "shared_variable": (["u"], ["u"], 1),
}


@pytest.mark.parametrize("layout", ["sample_chunks", "contiguous", "gzip", "time_chunks"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_batched_fetch_gives_the_items_of_getitem(monkeypatch, tmp_path: Path, layout: str, case: str) -> None:
    """Direct reads in place, h5py reads copied into place, strided and time-selected reads: the batch is
    ``[dataset[i] for i in indices]``, in a worker (shared memory) and in the main process."""
    inputs, outputs, stride = CASES[case]
    dataset = FieldDataset(native(tmp_path / "f.h5", layout), inputs, outputs, stride=stride)
    indices = [3, 0, 4, 1]
    expected = [dataset[i] for i in indices]
    assert_same_items(dataset.__getitems__(indices), expected)
    with monkeypatch.context() as patch:
        as_in_a_worker(patch)
        items = dataset.__getitems__(indices)
    assert_same_items(items, expected)
    assert items[0][0].untyped_storage().is_shared()


def test_a_worker_batch_is_handed_over_as_read(monkeypatch, tmp_path: Path) -> None:
    """In a worker, direct reads land in the batch storage itself (``x`` of every item, then ``y``) and the
    collate hands that storage over uncopied; through a real worker the two fields are views of one storage."""
    dataset = FieldDataset(native(tmp_path / "f.h5"), ["a", "u[0]"], ["u[1:]"])
    with monkeypatch.context() as patch:
        as_in_a_worker(patch)
        items = dataset.__getitems__([2, 4, 0])
        batch = one_storage_collate(items)
    storage = items[0][0].untyped_storage()
    assert batch[0].untyped_storage().data_ptr() == storage.data_ptr() == batch[1].untyped_storage().data_ptr()
    assert storage.nbytes() == batch[0].nbytes + batch[1].nbytes
    for a, b in zip(batch, default_collate([dataset[i] for i in [2, 4, 0]])):
        assert torch.equal(a, b)
    loader = DataLoader(dataset, batch_size=2, num_workers=1, collate_fn=one_storage_collate)
    for k, batch in enumerate(loader):
        expected = default_collate([dataset[i] for i in range(2 * k, min(2 * k + 2, len(dataset)))])
        for a, b in zip(batch, expected):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        assert batch[0].untyped_storage().data_ptr() == batch[1].untyped_storage().data_ptr()
    module = create("dataset", "hdf5", train=str(tmp_path / "f.h5"), inputs=["a"], outputs=["u"], num_workers=1)
    x, y = next(iter(module.train_dataloader()))
    assert x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr()  # the module's batches: one storage


def test_scalars_cache_and_shards_keep_their_items(monkeypatch, tmp_path: Path) -> None:
    """Per-sample scalars (constant channels) and cached datasets go item by item; shards (one dataset over two
    files) give each file its own indices: all equal ``dataset[i]``."""
    path = native(tmp_path / "f.h5")
    indices = [4, 1, 2]
    with monkeypatch.context() as patch:
        as_in_a_worker(patch)
        for dataset in (FieldDataset(path, ["a", "nu"], ["u"]), FieldDataset(path, ["a"], ["u"], cache=True)):
            assert_same_items(dataset.__getitems__(indices), [dataset[i] for i in indices])
        native(tmp_path / "train-0-of-2.h5", n=3)
        native(tmp_path / "train-1-of-2.h5", n=2, first=3)
        shards = open_fields(str(tmp_path / "train-*-of-2.h5"), ["a"], ["u"], 1, False)
        whole = FieldDataset(native(tmp_path / "whole.h5"), ["a"], ["u"])
        assert_same_items(shards.__getitems__([4, 0, 3, 2]), [whole[i] for i in [4, 0, 3, 2]])


def test_a_bad_sample_fails_the_batch_as_it_fails_the_item(tmp_path: Path) -> None:
    """The batch reads items in order, inputs before outputs, so the first bad read is the item path's first."""
    path = native(tmp_path / "f.h5")
    with h5py.File(path, "r+") as f:
        f["u"][3, 2, 1, 1] = np.nan
        f["a"][1, 0, 0] = np.inf
    dataset = FieldDataset(path, ["a"], ["u"])
    for indices, bad in (([3, 0], 3), ([0, 3, 1], 3), ([1, 3], 1)):
        with pytest.raises(DataError) as item_error:
            dataset[bad]
        with pytest.raises(DataError) as batch_error:
            dataset.__getitems__(indices)
        assert str(batch_error.value) == str(item_error.value)


@pytest.mark.parametrize("layout", ["sample_chunks", "contiguous", "gzip"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_read_block_into_out(tmp_path: Path, layout: str, dtype: str) -> None:
    """``out`` receives the values ``read_block`` returns (float32), read in place where one direct read is the
    whole block (float32, unfiltered), copied otherwise; a wrong buffer is refused."""
    reader = NativeReader(native(tmp_path / "f.h5", layout, dtype))
    for name, start, stop, time in (("u", 1, 3, None), ("u", 2, 3, slice(1, 3)), ("u", 4, 5, 2), ("a", 0, 5, None)):
        expected = reader.read_block(name, start, stop, time)
        out = np.full(expected.size, -1.0, dtype=np.float32)
        got = reader.read_block(name, start, stop, time, out=out)
        assert got.dtype == np.float32 and got.shape == expected.shape and np.array_equal(got, expected)
        assert np.shares_memory(got, out) and np.array_equal(out, expected.reshape(-1))
    sample = reader.read("u", 3)
    out = np.empty(sample.size, dtype=np.float32)
    assert np.array_equal(reader.read("u", 3, out=out), sample)
    direct = layout != "gzip" and dtype == "float32"
    assert (
        reader.read_node(reader.node("u"), (slice(3, 4), slice(0, T), slice(0, X), slice(0, Y)), out).ctypes.data
        == out.ctypes.data
    ) is direct
    for bad in (np.empty(sample.size + 1, np.float32), np.empty(sample.size, np.float64), out.reshape(T, -1)):
        with pytest.raises(ValueError, match="out must be"):
            reader.read("u", 3, out=bad)


def test_pdebench_reads_into_out(monkeypatch, tmp_path: Path) -> None:
    """The PDEBench reader reads into ``out`` in place too (its 2D-CFD layout ``[N, T, X, Y]``)."""
    path = tmp_path / "2D_CFD.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("Vx", data=values(0, (3, T, X, Y)).astype(np.float32), chunks=(1, T, X, Y))
        f["x-coordinate"], f["y-coordinate"] = np.arange(X) / X, np.arange(Y) / Y
        f["t-coordinate"] = np.arange(T + 1, dtype=np.float64)
    reader = PDEBenchReader(path)
    expected = reader.read("Vx", 1)
    out = np.empty(expected.size, dtype=np.float32)
    monkeypatch.setattr(reader, "_read", None)  # in place: the copying read is not used
    got = reader.read("Vx", 1, out=out)
    assert np.array_equal(got, expected) and got.ctypes.data == out.ctypes.data

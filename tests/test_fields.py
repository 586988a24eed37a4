"""specsolve.data.fields: the batched fetch of FieldDataset (the ``hdf5``, ``pdebench``, ``well`` and ``fno_mat``
DataModules) and the readers' ``out`` buffer it reads into.

Tiny files written with h5py; every value distinct (variable, sample, time, x, y), so that any misplaced block shows.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
from specsolve.data.modules.loaders import ThreadedDataLoader, one_storage_collate
from specsolve.data.readers import NativeReader, PDEBenchReader, open_reader
from specsolve.errors import ConfigError, DataError
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
    for name, start, stop, frames in (("u", 1, 3, None), ("u", 2, 3, slice(1, 3)), ("u", 4, 5, 2), ("a", 0, 5, None)):
        expected = reader.read_block(name, start, stop, frames)
        out = np.full(expected.size, -1.0, dtype=np.float32)
        got = reader.read_block(name, start, stop, frames, out=out)
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


# -- loader threads (data.workers: threads) ---------------------------------------------------------------------


def batches(loader) -> list[list[torch.Tensor]]:
    return [[field.clone() for field in batch] for batch in loader]


def test_loader_threads_deliver_the_batches_of_worker_processes(tmp_path: Path) -> None:
    """``workers: threads`` gives the batches of ``workers: processes`` (and of no workers), in the sampler's order,
    epoch after epoch; each batch is the storage its thread read it into (``x`` then ``y``), handed over uncopied."""
    path = str(native(tmp_path / "f.h5", n=13))
    config = {"train": path, "test": path, "inputs": ["a", "u[0]"], "outputs": ["u[1:]"], "batch_size": 4}
    runs = {}
    for workers, n in (("threads", 2), ("processes", 2), ("processes", 0)):
        module = create("dataset", "hdf5", **config, num_workers=n, workers=workers)
        loader = module.train_dataloader()
        assert isinstance(loader, ThreadedDataLoader) and loader.threads == (n if workers == "threads" else 0)
        epochs = []
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)
            epochs.append(batches(loader))
        runs[(workers, n)] = epochs + [batches(module.val_dataloader())]
        if workers == "threads":
            x, y = next(iter(loader))
            storage = x.untyped_storage()
            assert y.untyped_storage().data_ptr() == storage.data_ptr() == x.data_ptr()
            assert storage.nbytes() == x.nbytes + y.nbytes
    reference = runs[("processes", 0)]
    assert [len(epoch) for epoch in reference] == [4, 4, 4]
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(reference[0], reference[1]))  # shuffled per epoch
    for run in runs.values():
        for epoch, expected in zip(run, reference):
            assert len(epoch) == len(expected)
            for batch, reference_batch in zip(epoch, expected):
                assert all(torch.equal(a, b) for a, b in zip(batch, reference_batch))


class OwnTensor(torch.utils.data.Dataset):
    """Items that are consecutive views of the dataset's own tensor, which holds exactly one batch."""

    def __init__(self) -> None:
        self.data = torch.arange(24.0).view(2, 4, 3)  # x of every item, then y: a batch storage's layout

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.data[0, i], self.data[1, i])


def test_loader_threads_copy_what_they_did_not_read(tmp_path: Path) -> None:
    """A batch laid out like a batch storage but not made by the loader thread (the dataset's own memory) is
    copied, so that changing a batch never changes the dataset; per-item datasets work too."""
    dataset = OwnTensor()
    loader = ThreadedDataLoader(dataset, batch_size=4, threads=2, collate_fn=one_storage_collate)
    (x, y) = next(iter(loader))
    assert x.untyped_storage().data_ptr() != dataset.data.untyped_storage().data_ptr()
    assert torch.equal(x, dataset.data[0]) and torch.equal(y, dataset.data[1])
    x.zero_()
    assert dataset.data.sum() == 276


def test_loader_threads_raise_a_batch_error_and_stop_cleanly(tmp_path: Path) -> None:
    path = native(tmp_path / "f.h5", n=12)
    with h5py.File(path, "r+") as f:
        f["u"][9, 0, 0, 0] = np.nan
    dataset = FieldDataset(path, ["a"], ["u"])
    loader = ThreadedDataLoader(dataset, batch_size=2, threads=3, collate_fn=one_storage_collate)
    with pytest.raises(DataError) as item_error:
        dataset[9]
    seen = []
    with pytest.raises(DataError) as batch_error:
        for batch in loader:
            seen.append(batch)
    assert str(batch_error.value) == str(item_error.value) and len(seen) == 4  # batches 0-3 before the bad one
    for _ in zip(range(1), ThreadedDataLoader(dataset, batch_size=2, threads=2)):  # an early break ends the pool
        pass
    with pytest.raises(ConfigError, match="num_workers=0"):
        ThreadedDataLoader(dataset, batch_size=2, threads=2, num_workers=1)
    with pytest.raises(ConfigError, match="key 'workers' expects"):
        create("dataset", "hdf5", train=str(path), inputs=["a"], outputs=["u"], workers="fibers")


def test_a_resumed_threaded_epoch_skips_the_batches_done(tmp_path: Path) -> None:
    path = str(native(tmp_path / "f.h5", n=12))
    module = create("dataset", "hdf5", train=path, inputs=["a"], outputs=["u"], batch_size=2, num_workers=2)
    threaded = create(
        "dataset", "hdf5", train=path, inputs=["a"], outputs=["u"], batch_size=2, num_workers=2, workers="threads"
    )
    full, resumed = module.train_dataloader(), threaded.train_dataloader()
    full.sampler.set_epoch(3)
    resumed.load_state_dict({"epoch": 3, "batches_done": 4})
    expected, got = batches(full)[4:], batches(resumed)
    assert len(got) == len(expected) == 2
    assert all(torch.equal(a, b) for batch, ref in zip(got, expected) for a, b in zip(batch, ref))


def test_loader_threads_open_a_file_once(monkeypatch, tmp_path: Path) -> None:
    """Threads asking for a reader's handle together open the file once (one descriptor for the direct reads)."""
    reader = NativeReader(native(tmp_path / "f.h5"))
    opened, real_open = [], reader._open

    def slow_open():
        opened.append(1)
        time.sleep(0.05)
        return real_open()

    monkeypatch.setattr(reader, "_open", slow_open)
    start = threading.Barrier(6)

    def first_read(_: int) -> np.ndarray:
        start.wait()
        return reader.read("u", 2)

    with ThreadPoolExecutor(6) as pool:
        reads = list(pool.map(first_read, range(6)))
    assert len(opened) == 1 and all(np.array_equal(r, reads[0]) for r in reads)


def test_well_reads_into_out(monkeypatch, tmp_path: Path) -> None:
    """The Well reader fills ``out`` with what it returns for every kind of field (a plain field in place; a
    component, a field broadcast along an axis, scalars and time series copied)."""
    import _format_builders as build

    build.well_file(tmp_path / "w.hdf5", n=2, nt=6, nx=8, ny=4)
    reader = open_reader(tmp_path / "w.hdf5")
    for name, frames in (
        ("u", None),
        ("u", slice(1, 4)),
        ("u", 2),
        ("velocity_y", None),
        ("c", None),
        ("energy", None),
    ):
        expected = reader.read(name, 1, time=frames)
        out = np.full(expected.size, np.nan, dtype=np.float32)
        got = reader.read(name, 1, time=frames, out=out)
        assert np.array_equal(got, expected) and np.shares_memory(got, out), name
    expected = reader.read("u", 1)
    monkeypatch.setattr(reader, "_read", None)  # in place: the copying read is not used
    out = np.empty(expected.size, dtype=np.float32)
    assert np.array_equal(reader.read("u", 1, out=out), expected)

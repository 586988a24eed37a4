"""The one data-access stack: every path (readers, the ``hdf5*`` DataModules, ``predict``'s inputs, ``data
inspect``) opens files with one opener and reads through one finite-checked strided read, so a broken file gives
one message whatever the path; file formats are registry components (kind ``reader``)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from specsolve.data.fields import FieldDataset
from specsolve.data.inspect import describe_file
from specsolve.data.modules.hdf5_all2all import All2AllDataModule
from specsolve.data.modules.hdf5_windows import WindowDataModule
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.data.readers import (
    READERS,
    NativeReader,
    Reader,
    VariableInfo,
    detect_format,
    formats,
    open_reader,
    reader_format,
)
from specsolve.errors import DataError, RegistryError
from specsolve.registry import REGISTRY, create, list_components


def trajectories(path: Path, n: int = 3, nt: int = 5, nc: int = 2, nx: int = 8) -> np.ndarray:
    """``u(sample, time, c, x)``: a non-spatial component axis ``c`` between time and space; value encodes
    (sample, time, component, x) so every read can be checked exactly."""
    s, t, c, x = np.meshgrid(np.arange(n), np.arange(nt), np.arange(nc), np.arange(nx), indexing="ij")
    u = (1000 * s + 100 * t + 10 * c + x).astype(np.float32)
    coords = {"sample": np.arange(n), "time": 0.1 * np.arange(nt), "c": np.arange(nc), "x": np.arange(nx) / nx}
    with NativeWriter(path, coords, {"u": VariableSpec(("sample", "time", "c", "x"))}) as w:
        w.write("u", 0, u)
    return u


def every_path(path: Path, reads_values: bool = True) -> dict[str, Exception]:
    """The error each read path raises on ``path`` (``data inspect`` only when the damage is not in the values)."""
    attempts = {
        "reader": lambda: open_reader(path, "native").read_block("u", 0, 3),
        "hdf5": lambda: create("dataset", "hdf5", train=str(path), inputs=["u"], outputs=["u"]).datasets["train"][1],
        # sample 1: window 2 (frames 2, 3 -> 4), pair 4 (times 0 -> 4)
        "hdf5_windows": lambda: WindowDataModule(train=str(path), n_in=2, n_out=1).datasets["train"][3 + 2],
        "hdf5_all2all": lambda: All2AllDataModule(train=str(path), inputs=["u"]).datasets["train"][15 + 4],
        "inspect": lambda: describe_file(path),
    }
    errors = {}
    for name, attempt in attempts.items():
        if name == "inspect" and not reads_values:
            continue
        with pytest.raises(DataError) as info:
            attempt()
        errors[name] = info.value
    return errors


@pytest.mark.parametrize("damage", ["not_hdf5", "truncated", "missing", "nan"])
def test_one_message_per_kind_of_bad_file_whatever_the_path(tmp_path: Path, damage: str) -> None:
    good = tmp_path / "good.h5"
    trajectories(good)
    bad = tmp_path / "bad.h5"
    if damage == "not_hdf5":
        bad.write_bytes(b"plain text, not HDF5\n" * 40)
        expected = f"{bad}: not a valid HDF5 file (no HDF5 signature)"
    elif damage == "truncated":
        data = good.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        expected = f"{bad}: truncated HDF5 file ({len(data) // 2} of {len(data)} bytes present"
    elif damage == "missing":
        expected = f"data file not found: {bad}"
    else:
        shutil.copy(good, bad)
        with h5py.File(bad, "a") as f:
            f["u"][1, 4, 0, 3] = np.nan
        expected = f"{bad}: variable 'u' sample 1 contains NaN or inf"
    messages = {p: str(e) for p, e in every_path(bad, reads_values=damage != "nan").items()}
    assert all(m.startswith(expected) and "\n" not in m for m in messages.values()), messages
    assert len(set(messages.values())) == 1, messages


def test_finite_check_is_exact_when_a_block_sum_overflows(tmp_path: Path) -> None:
    """The read's finite check sums the block first; a finite block whose float32 sum overflows must still read,
    and one inf among huge finite values must still be reported."""
    path = tmp_path / "huge.h5"
    u = np.full((2, 4, 8), 3e38, dtype=np.float32)  # finite, but any sum of two overflows float32
    coords = {"sample": np.arange(2), "time": np.arange(4.0), "x": np.arange(8) / 8}
    with NativeWriter(path, coords, {"u": VariableSpec(("sample", "time", "x"))}) as w:
        w.write("u", 0, u)
    dataset = FieldDataset(path, ["u"], ["u"])
    assert torch.equal(dataset[1][0], torch.from_numpy(u[1]))
    dataset.reader.close()
    with h5py.File(path, "a") as f:
        f["u"][1, 2, 5] = np.inf
    with pytest.raises(DataError, match="variable 'u' sample 1 contains NaN or inf"):
        FieldDataset(path, ["u"], ["u"])[1]


@pytest.mark.parametrize("compression", [None, 1])
def test_uncompressed_chunks_are_opened_with_a_cache_of_one_chunk(tmp_path: Path, compression: int | None) -> None:
    """An unfiltered chunked dataset is opened with a chunk cache of one chunk (at least the file's default: its
    frames are read directly, the cache serves other h5py reads in the process); a compressed one keeps the file's
    default. The values are the same either way."""
    path = tmp_path / "u.h5"
    u = trajectories(path)
    with h5py.File(path, "r") as f:
        copy = tmp_path / "c.h5"
        with h5py.File(copy, "w") as g:
            for name in f:
                f.copy(name, g)
            del g["u"]
            g.create_dataset("u", data=u, chunks=(1, *u.shape[1:]), compression="gzip" if compression else None)
            for axis, dim in enumerate(("sample", "time", "c", "x")):
                g["u"].dims[axis].attach_scale(g[dim])
    reader = FieldDataset(copy, ["u[3]"], ["u[4]"]).reader
    assert np.array_equal(reader.read("u", 2, time=3), u[2, 3])
    default = reader.handle().id.get_access_plist().get_cache()[2]
    cache_bytes = reader.node("u").id.get_access_plist().get_chunk_cache()[1]
    assert cache_bytes == default  # one chunk here is smaller than the file's default: the default either way
    big, points = tmp_path / "big.h5", 4 * 1024**2  # one 16 MiB chunk a sample
    with h5py.File(big, "w") as g:
        for name, values in (("sample", np.arange(2)), ("x", np.arange(points) / points)):
            g[name] = values
            g[name].make_scale(name)
        data = np.zeros((2, points), np.float32)
        g.create_dataset("v", data=data, chunks=(1, points), compression="gzip" if compression else None)
        g["v"].dims[0].attach_scale(g["sample"])
        g["v"].dims[1].attach_scale(g["x"])
    reader = NativeReader(big)
    assert reader.read("v", 1).shape == (points,)
    cache_bytes = reader.node("v").id.get_access_plist().get_chunk_cache()[1]
    assert cache_bytes == (default if compression else 4 * points)  # one chunk when unfiltered
    reader.close()


def test_extra_axes_fold_into_channels_and_are_never_strided(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    u = trajectories(path)
    reader = open_reader(path, "native")
    assert reader.spatial_dims == ("x",) and reader.variables["u"].dims == ("time", "c", "x")
    np.testing.assert_array_equal(reader.read("u", 2, time=slice(1, 4, 2), stride=2), u[2, 1:4:2, :, ::2])

    fields = FieldDataset(path, ["u"], ["u"], stride=2)  # (time, c) fold: 5 * 2 channels
    x, _ = fields[1]
    torch.testing.assert_close(x, torch.from_numpy(u[1, :, :, ::2].reshape(10, 4)))
    layout = fields.info.layout(["u"])["u"]
    assert layout["dims"] == ["time", "c", "x"] and layout["coords"]["c"] == [0, 1]

    windows = WindowDataModule(train=str(path), n_in=2, n_out=1, layout="time", stride=2)
    assert (windows.in_channels, windows.spatial_shape) == (2, (4,))  # the physical channels are the components
    x, y = windows.datasets["train"][3 + 1]  # sample 1, window 1: frames 1, 2 -> 3
    torch.testing.assert_close(x, torch.from_numpy(u[1, 1:3, :, ::2]))
    torch.testing.assert_close(y, torch.from_numpy(u[1, 3:4, :, ::2]))
    out = windows.datasets["train"].info.layout(["u"])["u"]
    assert out["dims"] == ["lead_time", "c", "x"] and out["coords"]["lead_time"] == pytest.approx([0.1])

    pairs = All2AllDataModule(train=str(path), inputs=["u"], time_indices=[0, 3], stride=2)
    x, y, t = pairs.datasets["train"][3 * 2 + 1]  # sample 2, pair (0, 3)
    torch.testing.assert_close(y, torch.from_numpy(u[2, 3, :, ::2]))
    assert float(t) == pytest.approx(0.3) and pairs.in_channels == 2


def test_datasets_stream_per_worker_and_pickle_without_handles(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    u = trajectories(path, n=6)
    dataset = FieldDataset(path, ["u"], ["u"])
    first = dataset[0][0]
    assert dataset.reader._handle is not None  # opened lazily, on the first read
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy.reader._handle is None  # a handle never crosses a process boundary
    torch.testing.assert_close(copy[0][0], first)
    batches = list(DataLoader(dataset, batch_size=2, num_workers=2))
    torch.testing.assert_close(torch.cat([x for x, _ in batches]), torch.from_numpy(u.reshape(6, 10, 8)))

    class Counting(type(dataset.reader)):  # every read goes through Reader._read: count the samples read
        samples_read = 0

        def _read(self, handle, var, samples, key):  # noqa: ANN001, ANN202
            Counting.samples_read += samples.stop - samples.start
            return super()._read(handle, var, samples, key)

    counting = Counting(path)
    FieldDataset(counting, ["u"], ["u"])[4]
    assert Counting.samples_read == 2  # one sample, once for x and once for y: never the whole file


def test_all2all_shuffles_with_the_epoch_seeded_sampler(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    trajectories(path, n=4)

    def first_batch(seed: int, epoch: int = 0) -> torch.Tensor:
        loader = All2AllDataModule(train=str(path), inputs=["u"], batch_size=8, seed=seed).train_dataloader()
        loader.sampler.set_epoch(epoch)
        return next(iter(loader))[0]

    torch.manual_seed(0)
    a = first_batch(seed=3)
    torch.manual_seed(1)  # the order does not depend on the global RNG
    torch.testing.assert_close(first_batch(seed=3), a)
    assert not torch.equal(first_batch(seed=4), a) and not torch.equal(first_batch(seed=3, epoch=1), a)


def test_formats_are_one_registry_kind(tmp_path: Path) -> None:
    assert formats() == ("auto", "fno_mat", "native", "pdebench", "pdebench_groups", "well")
    assert {c.name for c in list_components("reader")} >= set(formats()[1:])
    with pytest.raises(DataError, match="unknown data format 'hdf6'; choose one of auto, fno_mat, native"):
        open_reader(tmp_path / "x.h5", "hdf6")
    with pytest.raises(RegistryError, match="dataset 'the_well' was renamed to 'well'"):
        create("dataset", "the_well", train="x", inputs=["u"], outputs=["u"])
    assert create("dataset", "well", train=str(_tiny_well(tmp_path)), inputs=["u[0]"], outputs=["u[1]"])


def _tiny_well(folder: Path) -> Path:
    import _format_builders as build

    build.well_file(folder / "w.hdf5", n=2, nt=3, nx=4, ny=4)
    return folder / "w.hdf5"


def test_a_third_party_format_plugs_in(tmp_path: Path) -> None:
    """A plugin reader (here registered in-process; an installed package uses the ``specsolve.readers``
    entry-point group) is a format: listed, detected with ``auto``, read by the DataModules' dataset."""
    path = tmp_path / "toy.txt"
    path.write_text("TOY 3 4\n")

    @reader_format("toy_text")
    class ToyReader(Reader):
        def __init__(self, path: str | Path) -> None:
            super().__init__(path)
            _, n, nx = Path(path).read_text().split()
            self.n_samples, self.spatial_dims = int(n), ("x",)
            self.coords = {"x": np.linspace(0, 1, int(nx))}
            self.variables = {"a": VariableInfo("a", ("x",), (int(nx),))}

        @classmethod
        def detect(cls, path: Path, handle: object) -> bool:
            return handle is None and path.read_bytes().startswith(b"TOY")

        def _open(self) -> None:
            return None

        def _read(self, handle, var, samples, key):  # noqa: ANN001, ANN202
            return np.arange(samples.start, samples.stop, dtype=np.float32)[:, None] * np.ones(var.shape)[key]

    try:
        assert "toy_text" in formats() and detect_format(path) == "toy_text"
        reader = open_reader(path)
        assert isinstance(reader, ToyReader)
        x, y = FieldDataset(reader, ["a"], ["a"], stride=2)[2]
        torch.testing.assert_close(x, torch.full((1, 2), 2.0))
        with pytest.raises(RegistryError, match="duplicate reader name 'toy_text'"):
            reader_format("toy_text")(type("Other", (Reader,), {}))
    finally:
        READERS.pop("toy_text", None)
        REGISTRY._components["reader"].pop("toy_text", None)


def test_shards_of_a_split_read_as_one_and_must_agree(tmp_path: Path) -> None:
    u0 = trajectories(tmp_path / "train-0.h5", n=2)
    u1 = trajectories(tmp_path / "train-1.h5", n=3)
    windows = WindowDataModule(train=str(tmp_path / "train-*.h5"), n_in=2, n_out=1, n_train=4)
    pairs = All2AllDataModule(train=str(tmp_path / "train-*.h5"), inputs=["u"], time_indices=[0, 2])
    assert len(windows.datasets["train"]) == 5 * 3 and len(windows.train_dataloader().dataset) == 4 * 3
    torch.testing.assert_close(windows.datasets["train"][2 * 3][1], torch.from_numpy(u1[0, 2].reshape(2, 8)))
    torch.testing.assert_close(pairs.datasets["train"][2 * 3 + 1][1], torch.from_numpy(u1[0, 2]))
    assert np.array_equal(u0, u1[:2])  # the same generator: the shards differ only in their sample count
    trajectories(tmp_path / "train-2.h5", n=1, nt=6)
    for make in (
        lambda: WindowDataModule(train=str(tmp_path / "train-*.h5"), n_in=2, n_out=1),
        lambda: All2AllDataModule(train=str(tmp_path / "train-*.h5"), inputs=["u"]),
    ):
        with pytest.raises(
            DataError, match=r"shard .*train-2\.h5 differs from .*train-0\.h5 in grid, channels or times"
        ):
            make()
    with pytest.raises(DataError, match="no data files match"):
        WindowDataModule(train=str(tmp_path / "none-*.h5"))

"""Read-ahead advice (posix_fadvise WILLNEED) for a batch: the byte ranges announced for a read are the bytes that
read takes from the file (checked by decoding the announced bytes), and batched fetches return exactly the items
of one-by-one reads, for every dataset the DataModules build."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from specsolve.data.fields import FieldDataset
from specsolve.data.modules.hdf5_all2all import All2AllDataset
from specsolve.data.modules.hdf5_windows import WindowDataset
from specsolve.data.modules.loaders import ConcatBatches
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.data.readers import NativeReader
from specsolve.data.readers.base import storage_byte_ranges

N, T, X = 5, 6, 8


def values() -> np.ndarray:
    s, t, x, y = np.meshgrid(np.arange(N), np.arange(T), np.arange(X), np.arange(X), indexing="ij")
    return (1000 * s + 100 * t + 10 * x + y).astype(np.float32)


def raw_file(path: Path, chunks: tuple[int, ...] | None, userblock: int = 0) -> np.ndarray:
    u = values()
    kwargs = {"userblock_size": userblock} if userblock else {}
    with h5py.File(path, "w", **kwargs) as f:
        f.create_dataset("u", data=u, chunks=chunks)
    return u


def announced(path: Path, key: tuple) -> np.ndarray:
    """The float32 values in the byte ranges announced for ``u[key]`` (read straight from the file)."""
    with h5py.File(path, "r") as f:
        ranges = storage_byte_ranges(f["u"], key)
    data = path.read_bytes()
    return np.concatenate([np.frombuffer(data[o : o + n], dtype=np.float32) for o, n in ranges])


@pytest.mark.parametrize(
    "chunks, userblock",
    [(None, 0), (None, 512), ((1, T, X, X), 0), ((1, 1, X, X), 0), ((2, 3, X, X), 0), ((1, T, X, X), 1024)],
)
def test_announced_bytes_are_the_selected_values(tmp_path: Path, chunks, userblock) -> None:
    path = tmp_path / "u.h5"
    u = raw_file(path, chunks, userblock)
    # one sample, whole; one frame of a sample; a frame range
    for key, expected in [
        ((3, slice(0, T), slice(0, X), slice(0, X)), u[3]),
        ((2, slice(4, 5), slice(0, X), slice(0, X)), u[2, 4]),
        ((1, slice(1, 4), slice(0, X), slice(0, X)), u[1, 1:4]),
    ]:
        got = announced(path, key)
        if chunks is None or chunks[0] == 1:  # the announced spans hold exactly the selection, in order
            np.testing.assert_array_equal(got, expected.ravel())
        else:  # chunks across samples: each announced span covers the selected values of its chunk
            assert set(expected.ravel().tolist()) <= set(got.tolist())


def test_compressed_chunks_are_announced_whole(tmp_path: Path) -> None:
    path = tmp_path / "z.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("u", data=values(), chunks=(1, T, X, X), compression="gzip")
    with h5py.File(path, "r") as f:
        ranges = storage_byte_ranges(f["u"], (2, slice(4, 5), slice(0, X), slice(0, X)))
        info = f["u"].id.get_chunk_info_by_coord((2, 0, 0, 0))
    assert ranges == [(info.byte_offset, info.size)]


def native(path: Path, compression: int | None = None) -> np.ndarray:
    u = values()
    coords = {"sample": np.arange(N), "time": 0.1 * np.arange(T), "x": np.arange(X) / X, "y": np.arange(X) / X}
    spec = {"u": VariableSpec(("sample", "time", "x", "y")), "v": VariableSpec(("sample", "time", "x", "y"))}
    with NativeWriter(path, coords, spec, compression=compression) as w:
        w.write("u", 0, u)
        w.write("v", 0, -u)
    return u


def test_reader_advice_is_harmless_and_reads_stay_exact(tmp_path: Path) -> None:
    path = tmp_path / "n.h5"
    u = native(path)
    reader = NativeReader(path)
    reader.advise("u", 3, time=2)
    reader.advise("u", 99)  # out of range: ignored
    np.testing.assert_array_equal(reader.read("u", 3, time=2), u[3, 2])


@pytest.mark.parametrize("compression", [None, 1])
def test_batched_fetch_equals_item_by_item_for_every_dataset(tmp_path: Path, compression) -> None:
    path = tmp_path / "n.h5"
    native(path, compression)
    datasets = {
        "fields": FieldDataset(path, ["u[1:3]"], ["v[4]"]),
        "windows": WindowDataset(path, ["u"], ["v"], n_in=2, n_out=2, window_stride=1),
        "all2all": All2AllDataset(
            path,
            ["u"],
            ["v"],
            time_indices=None,
            time_stride=1,
            n_snapshots=None,
            time_start=0,
            allowed_transitions=[1, 2],
            max_lead=None,
            time_scale=1.0,
        ),
    }
    for name, dataset in datasets.items():
        shards = ConcatBatches([Subset(dataset, range(3)), dataset])
        indices = [7, 0, 2, 5, len(shards) - 1, 1]
        for source in (dataset, shards):
            batch = source.__getitems__([i % len(source) for i in indices])
            for i, item in zip(indices, batch):
                for a, b in zip(item, source[i % len(source)]):
                    assert torch.equal(a, b), name

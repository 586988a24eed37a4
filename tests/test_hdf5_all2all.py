"""specsolve.data.modules.hdf5_all2all end to end: on all2all pairs of travelling waves, scOT's lead-time
conditioning is what lets it learn how far to advect (slow: two 25-epoch trainings; CPU ~8 min on 2 busy cores).

Waves ``u = sin(2 pi (x - t) + phi) + cos(2 pi y + phi) / 2``, ``v = cos(2 pi (x + y - t / 2) + phi)``: 16 training
and 4 test trajectories of 5 times (dt 0.05) on 32^2; the tiny scOT of configs/scot_all2all_tiny.yaml, AdamW 3e-3,
batch 16. Measured (CPU, 25 epochs): validation relative L2 0.096 with conditioning, 0.243 without.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tiny_models import TINY_SCOT
from torch.utils.data import default_collate

import specsolve.data.batch_storage as batch_storage
import specsolve.data.modules.loaders as loaders
from specsolve.config.loading import load_config
from specsolve.data.modules.hdf5_all2all import All2AllDataModule, All2AllDataset
from specsolve.data.modules.loaders import one_storage_collate
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.data.readers import NativeReader
from specsolve.data.sampling import EpochSeededSampler
from specsolve.errors import DataError
from specsolve.training.run import train

TINY = {**TINY_SCOT, "embed_dim": 16}


def waves(path: Path, n_samples: int, seed: int, n_times: int = 5, n: int = 32, dt: float = 0.05) -> Path:
    rng = np.random.default_rng(seed)
    x, times = np.arange(n) / n, dt * np.arange(n_times)
    X, Y = np.meshgrid(x, x, indexing="ij")
    ph = rng.uniform(0, 2 * np.pi, size=(n_samples, 1, 1, 1))
    tt = times[None, :, None, None]
    u = np.sin(2 * np.pi * (X - tt) + ph) + 0.5 * np.cos(2 * np.pi * Y + ph)
    v = np.cos(2 * np.pi * (X + Y - 0.5 * tt) + ph)
    dims = ("sample", "time", "x", "y")
    coords = {"sample": np.arange(n_samples), "time": times, "x": x, "y": x}
    with NativeWriter(path, coords=coords, variables={"u": VariableSpec(dims), "v": VariableSpec(dims)}) as w:
        w.write("u", 0, u.astype(np.float32))
        w.write("v", 0, v.astype(np.float32))
    return path


@pytest.mark.slow
@pytest.mark.integration
def test_lead_time_conditioning_lowers_the_all2all_error(tmp_path: Path) -> None:
    train_file, test_file = waves(tmp_path / "train.h5", 16, seed=0), waves(tmp_path / "test.h5", 4, seed=1)
    errors = {}
    for conditioning in (True, False):
        cfg = OmegaConf.merge(
            load_config(None, []),
            {
                "run_dir": str(tmp_path / f"run_{conditioning}"),
                "data": {
                    "name": "hdf5_all2all",
                    "train": str(train_file),
                    "test": str(test_file),
                    "inputs": ["u", "v"],
                    "batch_size": 16,
                },
                "model": {"name": "scot", **TINY, "time_conditioning": conditioning},
                "optimizer": {"name": "adamw", "lr": 3e-3},
                "trainer": {"max_epochs": 25, "enable_checkpointing": True, "accelerator": "cpu"},
                "logging": {"figures": False},
            },
        )
        errors[conditioning] = train(cfg, progress=False)["metrics"]["val/rel_l2"]
    assert errors[True] < 0.6 * errors[False], errors


# -- the batched fetch: the items of __getitem__, read together ------------------------------------------------
# quick tests (not slow): tiny files written with h5py, every value distinct (variable, sample, time, x, y)

N, T, X, Y = 5, 6, 8, 6
DIMS = ("sample", "time", "x", "y")
LAYOUTS = {  # name -> create_dataset options; the first three are read directly (preadv), the others through read()
    "contiguous": {"chunks": None},
    "sample_chunks": {"chunks": (1, T, X, Y)},
    "frame_chunks": {"chunks": (1, 1, X, Y)},
    "two_sample_chunks": {"chunks": (2, T, X, Y)},
    "gzip": {"chunks": (1, T, X, Y), "compression": "gzip"},
    "float64": {"chunks": (1, T, X, Y), "dtype": np.float64},
    "big_endian": {"chunks": None, "dtype": ">f4"},
}
DIRECT = ("contiguous", "sample_chunks", "frame_chunks")


def distinct_values(offset: int) -> np.ndarray:
    s, t, x, y = np.meshgrid(np.arange(N), np.arange(T), np.arange(X), np.arange(Y), indexing="ij")
    return (10000 * offset + 1000 * s + 100 * t + 10 * x + y).astype(np.float32)


def trajectories(path: Path, layout: str = "sample_chunks", nan_at: dict | None = None) -> dict[str, np.ndarray]:
    """``u``, ``v``, ``w`` ``(sample, time, x, y)`` with dimension scales; ``nan_at``: ``{name: index}`` set NaN."""
    options = dict(LAYOUTS[layout])
    dtype = options.pop("dtype", np.float32)
    stored = {}
    with h5py.File(path, "w") as f:
        for dim, values in zip(DIMS, (np.arange(N), 0.1 * np.arange(T), np.arange(X) / X, np.arange(Y) / Y)):
            f[dim] = values
            f[dim].make_scale(dim)
        for k, name in enumerate(("u", "v", "w")):
            values = distinct_values(k + 1)
            if nan_at and name in nan_at:
                values[nan_at[name]] = np.nan
            d = f.create_dataset(name, data=values.astype(dtype), **options)
            for axis, dim in enumerate(DIMS):
                d.dims[axis].attach_scale(f[dim])
            stored[name] = values
    return stored


def counting_reads(reader: NativeReader) -> list:
    """Record the calls of ``reader.read`` (the per-frame path) in the returned list."""
    calls: list = []
    read = reader.read

    def counted(*args, **kwargs):
        calls.append(args)
        return read(*args, **kwargs)

    reader.read = counted  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_read_frames_returns_the_arrays_of_read(tmp_path: Path, layout: str, stride: int) -> None:
    trajectories(tmp_path / "t.h5", layout)
    reader, reference = NativeReader(tmp_path / "t.h5"), NativeReader(tmp_path / "t.h5")
    rng = np.random.default_rng(stride)
    requests = [(str(rng.choice(["u", "v", "w"])), int(rng.integers(N)), int(rng.integers(T))) for _ in range(40)]
    requests += [requests[3], ("u", N - 1, T - 1), ("v", 0, 0)]  # a repeated frame, the last and the first
    calls = counting_reads(reader)
    got = reader.read_frames(requests, stride=stride)
    assert len(got) == len(requests)
    for (name, index, t), array in zip(requests, got):
        expected = reference.read(name, index, time=t, stride=stride)
        assert array.dtype == expected.dtype and array.shape == expected.shape
        assert array.strides == expected.strides  # the same view of the read box
        np.testing.assert_array_equal(array, expected)
    # the direct layouts do not fall back to read(); the others do, for every request
    assert len(calls) == (0 if layout in DIRECT else len(requests))
    for a, b in zip(got, got[1:]):
        assert not np.shares_memory(a, b)
    # requests read() handles itself: a negative sample, a negative time index; none at all
    mixed = [("u", -1, 2), ("u", 2, -1), ("w", 1, 3)]
    for (name, index, t), array in zip(mixed, reader.read_frames(mixed, stride=stride)):
        np.testing.assert_array_equal(array, reference.read(name, index, time=t, stride=stride))
    assert reader.read_frames([], stride=stride) == []


def test_read_frames_raises_the_error_of_read_for_the_first_bad_frame(tmp_path: Path) -> None:
    trajectories(tmp_path / "t.h5", nan_at={"u": (3, 2, 4, 1), "v": (1, 0, 0, 0)})
    reader = NativeReader(tmp_path / "t.h5")
    requests = [("w", 0, 1), ("u", 3, 1), ("u", 3, 2), ("v", 1, 0)]
    with pytest.raises(DataError) as expected:
        reader.read("u", 3, time=2)
    with pytest.raises(DataError) as got:
        reader.read_frames(requests)
    assert str(got.value) == str(expected.value) and "sample 3 contains NaN or inf" in str(got.value)
    # NaN outside the selection (x = 1 is skipped by stride 2) but inside the read box: not an error
    frames = reader.read_frames([("u", 3, 2), ("u", 3, 1)], stride=2)
    np.testing.assert_array_equal(frames[0], NativeReader(tmp_path / "t.h5").read("u", 3, time=2, stride=2))
    with pytest.raises(IndexError):
        reader.read_frames([("u", 0, 0), ("u", N, 0)])
    with pytest.raises(DataError, match="time index 9 out of range"):
        reader.read_frames([("u", 0, 0), ("u", 1, 9)])


def pair_dataset(path: Path, **options) -> All2AllDataset:
    return All2AllDataset(path, **{"inputs": ["u"], "outputs": ["u"], **options})


CASES = {
    "one_variable_identity_pairs": {},
    "several_inputs": {"inputs": ["u", "v"], "outputs": ["w"]},
    "inputs_and_targets_overlap": {"inputs": ["v", "u"], "outputs": ["u", "w"], "stride": 2},
    "allowed_transitions": {"inputs": ["u", "v"], "outputs": ["v"], "allowed_transitions": [1, 3]},
    "time_indices_stride_3": {"outputs": ["w"], "time_indices": [0, 2, 5], "stride": 3},
    "time_stride_max_lead": {"inputs": ["w"], "outputs": ["u"], "time_stride": 2, "time_start": 1, "max_lead": 1},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("layout", ["sample_chunks", "contiguous", "gzip"])
def test_batched_fetch_returns_the_items_of_getitem(tmp_path: Path, case: str, cache: bool, layout: str) -> None:
    trajectories(tmp_path / "t.h5", layout)
    dataset = pair_dataset(tmp_path / "t.h5", cache=cache, **CASES[case])
    reference = pair_dataset(tmp_path / "t.h5", cache=cache, **CASES[case])
    calls = counting_reads(dataset.reader)
    rng = np.random.default_rng(len(case))
    indices = rng.permutation(len(dataset)).tolist() + [0, len(dataset) - 1, 0]  # every item, repeats at the end
    for start in (0, 7, 19):  # batches of different sizes, the later ones partly from the cache when on
        batch = indices[start : start + 2 * start + 5]
        items = dataset.__getitems__(batch)
        assert len(items) == len(batch)
        for index, item in zip(batch, items):
            expected = reference[index]
            assert len(item) == 3
            for a, b in zip(item, expected):
                assert a.dtype == b.dtype and a.shape == b.shape  # (a batch's items are contiguous views)
                assert torch.equal(a, b), (case, index)
    if layout != "gzip" and not cache:
        assert calls == []  # read through read_frames' direct reads, not frame by frame
    if cache:  # the same frames cached, with the same values
        assert dataset._cache.keys() == reference._cache.keys()
        for key, values in reference._cache.items():
            np.testing.assert_array_equal(dataset._cache[key], values)
    # each item owns its values: changing one in place leaves the others (the same pair included) alone
    items = dataset.__getitems__([3, 3, 4])
    items[0][0].add_(1.0)
    items[0][1].add_(1.0)
    for item, index in ((items[1], 3), (items[2], 4)):
        for a, b in zip(item, reference[index]):
            assert torch.equal(a, b)


def test_batched_fetch_raises_the_per_item_errors(tmp_path: Path) -> None:
    trajectories(tmp_path / "t.h5", nan_at={"v": (2, 3, 0, 5), "w": (0, 1, 1, 1)})
    dataset = pair_dataset(tmp_path / "t.h5", inputs=["u", "v"], outputs=["w"])
    n_pairs = len(dataset.pairs)
    batch = [2 * n_pairs + 5, 1, 2 * n_pairs + 10]  # sample 2 (pair 5: inputs at t = 0), then sample 0 (t_j = 1)
    with pytest.raises(DataError) as expected:
        for index in batch:
            dataset[index]
    with pytest.raises(DataError) as got:
        dataset.__getitems__(batch)
    assert str(got.value) == str(expected.value)
    with pytest.raises(IndexError):
        dataset.__getitems__([0, len(dataset)])
    with pytest.raises(IndexError):
        dataset.__getitems__([-1])


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("n_train", [None, 3])
def test_train_loader_delivers_the_items_in_the_seeded_order(tmp_path: Path, workers: int, n_train) -> None:
    trajectories(tmp_path / "t.h5")
    options = dict(inputs=["u", "v"], outputs=["w"], allowed_transitions=[0, 2], stride=2, batch_size=7, seed=5)
    module = All2AllDataModule(train=str(tmp_path / "t.h5"), num_workers=workers, n_train=n_train, **options)
    reference = pair_dataset(
        tmp_path / "t.h5", **{k: options[k] for k in ("inputs", "outputs", "allowed_transitions", "stride")}
    )
    loader = module.train_dataloader()
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        sampler = EpochSeededSampler(len(loader.dataset), 5)
        sampler.set_epoch(epoch)
        order = list(sampler)
        batches = list(loader)
        assert len(batches) == -(-len(order) // 7)
        for k, batch in enumerate(batches):
            expected = default_collate([reference[i] for i in order[7 * k : 7 * k + 7]])
            assert isinstance(batch, list) and len(batch) == 3
            for a, b in zip(batch, expected):
                assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
            if workers:  # stacked into one shared storage in the worker
                assert batch[0].untyped_storage().data_ptr() == batch[2].untyped_storage().data_ptr()


class Items(torch.utils.data.Dataset):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int):
        x, y = torch.full((2, 3), float(i)), torch.arange(4.0) * i
        if self.kind == "dict":
            return {"x": x, "y": y}
        if self.kind == "mixed_dtypes":
            return x, torch.tensor(i)
        if self.kind == "shapes":
            return x, torch.ones(i % 2 + 1)
        return x, y, torch.tensor(0.5 * i)


@pytest.mark.parametrize("kind", ["tuple", "dict", "mixed_dtypes"])
def test_one_storage_collate_equals_default_collate(kind: str) -> None:
    dataset = Items(kind)
    for workers in (0, 1):
        got = list(
            torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=one_storage_collate)
        )
        expected = list(torch.utils.data.DataLoader(dataset, batch_size=4))
        assert len(got) == len(expected) == 3
        for a, b in zip(got, expected):
            assert type(a) is type(b)
            for u, v in zip(a.values() if kind == "dict" else a, b.values() if kind == "dict" else b):
                assert u.dtype == v.dtype and u.shape == v.shape and torch.equal(u, v)
            if kind != "dict":  # one storage for the batch only for one dtype, in a worker
                shared = kind == "tuple" and workers == 1
                assert (a[0].untyped_storage().data_ptr() == a[1].untyped_storage().data_ptr()) is shared
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        list(torch.utils.data.DataLoader(Items("shapes"), batch_size=4, num_workers=1, collate_fn=one_storage_collate))


class SharedViews(torch.utils.data.Dataset):
    """Items ``(x, t)`` as views of one shared storage per batch, in the batch layout (``order="batch"``),
    shuffled within it (``"shuffled"``), or in the batch layout at the start of a larger storage (``"larger"``): only
    the first may be handed over uncopied."""

    def __init__(self, order: str) -> None:
        self.order = order

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        return torch.full((2, 3), float(i)), torch.tensor(0.5 * i)

    def __getitems__(self, indices: list[int]):
        b = len(indices)
        flat = torch.empty(b * 7 + (1 if self.order == "larger" else 0)).share_memory_()
        x, t = flat[: 6 * b].view(b, 2, 3), flat[6 * b :]
        slots = list(reversed(range(b))) if self.order == "shuffled" else list(range(b))
        for slot, i in zip(slots, indices):
            x[slot], t[slot] = self[i]
        return [(x[slot], t[slot]) for slot in slots]


@pytest.mark.parametrize("order", ["batch", "shuffled", "larger"])
def test_one_storage_collate_hands_over_a_batch_laid_out_in_place(monkeypatch, order: str) -> None:
    """Items already consecutive views of one shared storage go over uncopied (the storage of the batch is theirs);
    any other views are copied into a new storage, in item order: both equal default_collate."""
    monkeypatch.setattr(loaders, "get_worker_info", lambda: object())  # as in a DataLoader worker
    dataset = SharedViews(order)
    items = dataset.__getitems__([3, 1, 6, 4])
    batch = one_storage_collate(items)
    expected = default_collate([dataset[i] for i in [3, 1, 6, 4]])
    for a, b in zip(batch, expected):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    in_place = batch[0].untyped_storage().data_ptr() == items[0][0].untyped_storage().data_ptr()
    assert in_place is (order == "batch")
    assert batch[1].untyped_storage().data_ptr() == batch[0].untyped_storage().data_ptr()


@pytest.mark.parametrize("layout", ["sample_chunks", "gzip"])
def test_all2all_batches_from_workers_are_their_read_storage(monkeypatch, tmp_path: Path, layout: str) -> None:
    """In a DataLoader worker a batch's frames are read into the storage that reaches the main process: the
    collate hands the batch storage of ``__getitems__`` over uncopied (direct reads, and frames read by h5py
    and copied into place alike), and over a real worker the three fields are views of one storage."""
    trajectories(tmp_path / "t.h5", layout)
    dataset = pair_dataset(tmp_path / "t.h5", **CASES["several_inputs"])
    with monkeypatch.context() as patch:
        patch.setattr(loaders, "get_worker_info", lambda: object())  # as in a DataLoader worker
        patch.setattr(batch_storage, "get_worker_info", lambda: object())
        items = dataset.__getitems__([4, 0, 9])
        batch = one_storage_collate(items)
    assert batch[0].untyped_storage().data_ptr() == items[0][0].untyped_storage().data_ptr()
    assert items[0][0].untyped_storage().is_shared()
    for a, b in zip(batch, default_collate([dataset[i] for i in [4, 0, 9]])):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, num_workers=1, collate_fn=one_storage_collate)
    for k, batch in enumerate(loader):
        expected = default_collate([dataset[i] for i in range(5 * k, min(5 * k + 5, len(dataset)))])
        for a, b in zip(batch, expected):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        storage = batch[0].untyped_storage()
        assert batch[0].data_ptr() == storage.data_ptr()
        assert storage.nbytes() == sum(field.nbytes for field in batch)
        assert all(field.untyped_storage().data_ptr() == storage.data_ptr() for field in batch)

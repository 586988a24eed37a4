"""Distributed, resumable ``specsolve predict`` (``--devices/--strategy/--shard-size/--resume``, specsolve/inference/
sharded.py): shards written through ``lightning.Trainer.predict`` read back as the one-process file.

Multi-process runs go through the CLI in a subprocess (``python -m specsolve.cli predict --devices 2 --strategy
ddp --accelerator cpu``): Lightning's ``ddp`` launcher re-runs that command line for rank 1, which an in-process
call from pytest cannot do (it would re-run pytest). The kill tests slow the dataset down with a wrapper script
(also re-run for rank 1), SIGKILL the whole process group once the first shard file appears, and resume.
Batch size 4 divides every shard size used, so each batch is a batch of the one-process run and the values are
bitwise equal.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

import specsolve
from specsolve.cli.main import main
from specsolve.config.loading import load_config
from specsolve.data.readers import open_reader
from specsolve.errors import ConfigError, DataError
from specsolve.training.run import train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
N_SAMPLES = 24  # darcy_tiny train split


@pytest.fixture(scope="module")
def setup(tmp_path_factory, darcy_tiny):
    """A tiny FNO checkpoint and its one-process prediction of the 24 training samples (batch 4)."""
    root = tmp_path_factory.mktemp("predict_distributed")
    cfg = OmegaConf.merge(
        load_config(None, []),
        {
            "run_dir": str(root / "run"),
            "data": {
                "name": "hdf5",
                "train": str(darcy_tiny / "train.h5"),
                "test": str(darcy_tiny / "test.h5"),
                "inputs": ["a"],
                "outputs": ["u"],
                "batch_size": 4,
            },
            "model": {"name": "fno", "modes": [4, 4], "width": 8, "layers": 2, "padding": 2},
            "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "accelerator": "cpu"},
        },
    )
    ckpt = train(cfg, progress=False)["last"]
    data = darcy_tiny / "train.h5"
    ref = specsolve.predict(ckpt, data, root / "ref.h5", batch_size=4)
    return ckpt, data, ref


def read_all(source: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """``(sample coordinate, u)`` of a file or a glob of shards: ``u`` through the readers (one dataset over the
    shards), the ``sample`` coordinate of each file in the readers' (sorted) order."""
    reader = open_reader(source)
    try:
        values = reader.read_block("u", 0, reader.n_samples)
        paths = getattr(reader, "paths", [reader.path])
    finally:
        reader.close()
    samples = []
    for path in paths:
        with h5py.File(path) as f:
            samples.append(f["sample"][()])
    return np.concatenate(samples), values


def cli(*args: str, script: Path | None = None) -> list[str]:
    return [sys.executable, *([str(script)] if script else ["-m", "specsolve.cli"]), "predict", *args]


def stats(paths: list[Path]) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


@pytest.mark.distributed
def test_two_gloo_processes_write_the_one_process_values(setup, tmp_path):
    ckpt, data, ref = setup
    out = tmp_path / "pred.h5"
    args = ["-c", ckpt, "-d", str(data), "-o", str(out), "--batch-size", "4"]
    argv = cli(*args, "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu", script=child(tmp_path))
    env = {**ENV, "RANKS_FILE": str(tmp_path / "ranks.txt")}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pattern = tmp_path / "pred-*-of-00002.h5"
    assert proc.stdout.splitlines() == [f"predictions written to {pattern}"]  # rank 1 prints nothing
    assert ranks(tmp_path) == ["0", "1"]  # two processes really ran
    shards = sorted(tmp_path.glob("pred-*"))
    assert [p.name for p in shards] == ["pred-00000-of-00002.h5", "pred-00001-of-00002.h5"]  # one shard per rank

    want_samples, want = read_all(ref)
    samples, got = read_all(pattern)
    assert np.array_equal(samples, np.arange(N_SAMPLES)) and np.array_equal(samples, want_samples)
    assert got.dtype == want.dtype and np.array_equal(got, want), np.abs(got - want).max()
    with h5py.File(ref) as f, h5py.File(shards[1]) as g:
        assert np.array_equal(g["sample"][()], np.arange(12, 24))
        provenance = {k: str(v) for k, v in f.attrs.items() if k != "created"}
        assert {k: str(g.attrs[k]) for k in provenance} == provenance
        assert g.attrs["shard"] == "1/2" and g.attrs["shard_size"] == 12
        assert dict(g["u"].attrs)["long_name"] == f["u"].attrs["long_name"]

    import xarray as xr

    parts = [xr.open_dataset(p, engine="h5netcdf") for p in sorted(glob.glob(str(pattern)))]
    merged = xr.concat(parts, dim="sample")
    with xr.open_dataset(ref, engine="h5netcdf") as one:
        assert merged["u"].dims == one["u"].dims == ("sample", "x", "y")
        assert np.array_equal(merged["u"].values, one["u"].values)
        assert np.array_equal(merged["x"].values, one["x"].values)
    for part in parts:
        part.close()


CHILD = """
import os, sys, time
from specsolve.data.fields import FieldDataset

with open(os.environ["RANKS_FILE"], "a") as f:  # every process of the run (Lightning re-runs this script)
    f.write(f"{os.getpid()} {os.environ.get('LOCAL_RANK', '0')}\\n")
if os.environ.get("FAIL_AT"):  # rank 1 meets a bad sample
    from specsolve.errors import DataError
    read = FieldDataset.__getitem__
    def failing(self, index):
        if os.environ.get("LOCAL_RANK") == "1" and index == int(os.environ["FAIL_AT"]):
            raise DataError(f"sample {index} is unreadable")
        return read(self, index)
    FieldDataset.__getitem__ = failing
if os.environ.get("SLOW"):  # a slow file system: the run is still going when the first shard is renamed into place
    item = FieldDataset.__getitem__
    def slow(self, index):
        time.sleep(0.15)
        return item(self, index)
    FieldDataset.__getitem__ = slow
from specsolve.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def child(tmp_path: Path) -> Path:
    path = tmp_path / "child.py"
    path.write_text(CHILD)
    return path


def ranks(tmp_path: Path) -> list[str]:
    return sorted(line.split()[1] for line in (tmp_path / "ranks.txt").read_text().splitlines())


@pytest.mark.parametrize(
    "devices",
    [
        pytest.param(1, marks=pytest.mark.integration),
        pytest.param(2, marks=[pytest.mark.distributed, pytest.mark.slow]),
    ],
)
def test_sigkill_then_resume_equals_an_uninterrupted_run(setup, tmp_path, devices):
    """12 shards of 2 samples; SIGKILL (the whole process group) once a shard is complete; ``--resume`` computes
    only the others: the complete ones keep inode and mtime, and the result equals the one-process file."""
    ckpt, data, ref = setup
    out = tmp_path / "pred.h5"
    args = ["-c", ckpt, "-d", str(data), "-o", str(out), "--batch-size", "4"]
    args += ["--devices", str(devices), "--accelerator", "cpu"] + (["--strategy", "ddp"] if devices > 1 else [])
    env = {**ENV, "SLOW": "1", "RANKS_FILE": str(tmp_path / "ranks.txt")}
    proc = subprocess.Popen(cli(*args, "--shard-size", "2", script=child(tmp_path)), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("pred-*-of-00012.h5")):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no shard appeared"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    done = sorted(tmp_path.glob("pred-*-of-00012.h5"))
    assert 1 <= len(done) < 12, [p.name for p in done]
    assert ranks(tmp_path) == [str(r) for r in range(devices)]
    before = stats(done)

    if devices == 1:
        result = specsolve.predict(ckpt, data, out, batch_size=4, resume=True)  # the layout of the shards found
        assert result == tmp_path / "pred-*-of-00012.h5"
    else:
        rerun = subprocess.run(cli(*args, "--resume"), capture_output=True, text=True, env=ENV, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    shards = sorted(tmp_path.glob("pred-*-of-00012.h5"))
    assert len(shards) == 12
    assert {k: v for k, v in stats(shards).items() if k in before} == before  # finished shards not recomputed
    assert not list(tmp_path.glob(".pred-*.partial"))  # the killed run's temporary files are gone
    samples, got = read_all(tmp_path / "pred-*-of-00012.h5")
    assert np.array_equal(samples, np.arange(N_SAMPLES))
    assert np.array_equal(got, read_all(ref)[1])


def test_resume_keeps_complete_shards_recomputes_missing_and_broken_ones(setup, tmp_path):
    """One process (single-device Trainer, in-process): a deleted and a truncated shard are computed again."""
    ckpt, data, ref = setup
    out = tmp_path / "p.h5"
    pattern = specsolve.predict(ckpt, data, out, batch_size=4, shard_size=8)
    assert pattern == tmp_path / "p-*-of-00003.h5"
    assert np.array_equal(read_all(pattern)[1], read_all(ref)[1])
    shards = sorted(tmp_path.glob("p-*"))
    shards[0].write_bytes(shards[0].read_bytes()[:500])  # a damaged file (the first one found): computed again
    shards[2].unlink()
    kept = stats([shards[1]])
    specsolve.predict(ckpt, data, out, batch_size=4, resume=True)
    assert stats([shards[1]]) == kept
    assert np.array_equal(read_all(pattern)[1], read_all(ref)[1])
    # everything complete: nothing to run
    everything = stats(sorted(tmp_path.glob("p-*")))
    assert specsolve.predict(ckpt, data, out, batch_size=4, resume=True) == pattern
    assert stats(sorted(tmp_path.glob("p-*"))) == everything


def test_unaligned_batches_still_cover_every_sample_once(setup, tmp_path):
    """Shard size 5 and batch 3: batches cut at shard ends; every sample once, in order (equal up to the
    float round-off of other batch sizes)."""
    ckpt, data, ref = setup
    pattern = specsolve.predict(ckpt, data, tmp_path / "p.h5", batch_size=3, shard_size=5)
    samples, got = read_all(pattern)
    assert np.array_equal(samples, np.arange(N_SAMPLES))
    np.testing.assert_allclose(got, read_all(ref)[1], rtol=1e-5, atol=1e-6)
    with h5py.File(tmp_path / "p-00004-of-00005.h5") as f:
        assert np.array_equal(f["sample"][()], [20, 21, 22, 23])


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bad_input_is_one_line(setup, tmp_path, capsys):
    ckpt, data, _ = setup
    out = tmp_path / "p.h5"
    base = ["predict", "-c", ckpt, "-d", str(data), "-o", str(out), "--batch-size", "4"]
    assert main([*base, "--shard-size", "8"]) == 0
    capsys.readouterr()
    written = stats(sorted(tmp_path.glob("p-*")))

    err = one_line_error([*base, "--shard-size", "6", "--resume"], capsys)
    assert "cannot resume: p-00000-of-00003.h5 has another shard layout than 4 shards of 6" in err
    assert "pass --shard-size=8 to resume it, or pass --overwrite" in err
    with pytest.raises(ConfigError, match="another shard layout"):
        specsolve.predict(ckpt, data, out, batch_size=4, shard_size=6, resume=True)
    err = one_line_error([*base, "--shard-size", "8"], capsys)  # neither --resume nor --overwrite
    assert "prediction shards already exist" in err and "pass --resume" in err
    other = tmp_path / "other.h5"  # the same samples from another file: its shards are not these
    other.write_bytes(Path(data).read_bytes())
    with pytest.raises(ConfigError, match="attribute 'source_dataset' differs"):
        specsolve.predict(ckpt, other, out, batch_size=4, resume=True)
    with pytest.raises(ConfigError, match="devices must be an integer >= 1"):
        specsolve.predict(ckpt, data, tmp_path / "q.h5", devices=0, strategy="ddp")
    with pytest.raises(ConfigError, match="resume and overwrite exclude each other"):
        specsolve.predict(ckpt, data, out, resume=True, overwrite=True)
    with pytest.raises(DataError, match="output path is a directory"):
        specsolve.predict(ckpt, data, tmp_path, shard_size=4)
    assert stats(sorted(tmp_path.glob("p-*"))) == written  # nothing touched by the refused calls

    # --overwrite starts again, and drops the shards of the old layout so the glob reads one dataset
    assert main([*base, "--shard-size", "6", "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.glob("p-*")) == [f"p-0000{i}-of-00004.h5" for i in range(4)]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message given without CUDA")
def test_gpu_accelerator_without_cuda_is_one_line(setup, tmp_path, capsys):
    ckpt, data, _ = setup
    argv = ["predict", "-c", ckpt, "-d", str(data), "-o", str(tmp_path / "p.h5"), "--devices", "2"]
    err = one_line_error([*argv, "--strategy", "ddp", "--accelerator", "gpu"], capsys)
    assert "cannot predict with accelerator=gpu, devices=2" in err
    assert not list(tmp_path.iterdir())


def test_cli_passes_the_distributed_options_to_the_api(monkeypatch, capsys):
    from specsolve import api

    calls = []
    monkeypatch.setattr(api, "predict", lambda *a, **kw: calls.append((a, kw)))  # returns None: a rank > 0
    argv = ["predict", "-c", "m.ckpt", "-d", "t.h5", "-o", "p.h5", "--devices", "4", "--num-nodes", "2"]
    assert main([*argv, "--strategy", "ddp", "--accelerator", "gpu", "--shard-size", "64", "--resume"]) == 0
    (args, kwargs), = calls  # fmt: skip
    assert args == ("m.ckpt", "t.h5", "p.h5")
    expected = {"devices": 4, "num_nodes": 2, "strategy": "ddp", "accelerator": "gpu", "shard_size": 64, "resume": True}
    assert expected.items() <= kwargs.items()
    assert capsys.readouterr().out == ""  # only rank 0 (a path returned) reports


def test_lead_time_predictions_shard_like_the_one_process_file(tmp_path):
    """Time-conditioned models (scOT, ``lead_times``) go through the same sharded writer: the ``lead_time``
    dimension and coordinate, the input-frame attributes and the values of the one-process file."""
    from test_predict import train_tiny, write_trajectories

    write_trajectories(tmp_path / "train.h5", 4, seed=0)
    write_trajectories(tmp_path / "test.h5", 5, seed=1)
    ckpt = train_tiny(tmp_path, True)
    one = specsolve.predict(ckpt, tmp_path / "test.h5", tmp_path / "one.h5", lead_times="0.1,0.3", batch_size=2)
    pattern = specsolve.predict(
        ckpt, tmp_path / "test.h5", tmp_path / "sh.h5", lead_times="0.1,0.3", batch_size=2, shard_size=2
    )
    assert pattern == tmp_path / "sh-*-of-00003.h5"
    samples, got = read_all(pattern)
    assert np.array_equal(samples, np.arange(5)) and got.shape == (5, 2, 32, 32)
    assert np.array_equal(got, read_all(one)[1])
    with h5py.File(one) as f, h5py.File(tmp_path / "sh-00002-of-00003.h5") as g:
        assert np.array_equal(g["lead_time"][()], f["lead_time"][()])
        assert g.attrs["input_time_index"] == f.attrs["input_time_index"] == 0
        assert g.attrs["lead_times"].tolist() == [0.1, 0.3]


@pytest.mark.distributed
@pytest.mark.slow
def test_a_failing_rank_stops_the_run_in_one_line_per_rank_and_resume_completes_it(setup, tmp_path):
    ckpt, data, ref = setup
    args = ["-c", ckpt, "-d", str(data), "-o", str(tmp_path / "p.h5"), "--batch-size", "4", "--shard-size", "4"]
    args += ["--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
    env = {**ENV, "FAIL_AT": "21", "RANKS_FILE": str(tmp_path / "ranks.txt")}
    proc = subprocess.run(cli(*args, script=child(tmp_path)), capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = sorted(proc.stderr.strip().splitlines())  # rank 1's error, then rank 0's
    assert len(lines) == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "sample 21 is unreadable" in lines[1] and "prediction stopped: another rank failed" in lines[0], lines
    assert "pass --resume" in lines[0]
    # rank 0: shards 0-2; rank 1: shards 3-4, and shard 5 (samples 20..23) never renamed into place
    assert sorted(p.name[2:7] for p in tmp_path.glob("p-*-of-00006.h5")) == [f"0000{i}" for i in range(5)]
    rerun = subprocess.run(cli(*args, "--resume"), capture_output=True, text=True, env=ENV, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert np.array_equal(read_all(tmp_path / "p-*-of-00006.h5")[1], read_all(ref)[1])


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_gpu_shards_match_the_cpu_file(setup, tmp_path):
    """``accelerator=gpu``: one GPU in-process, and every GPU of the machine through the CLI (ddp, NCCL) when
    there are several; float round-off of the GPU kernels allowed."""
    import torch

    ckpt, data, ref = setup
    want = read_all(ref)[1]
    pattern = specsolve.predict(ckpt, data, tmp_path / "one.h5", batch_size=4, shard_size=8, accelerator="gpu")
    samples, got = read_all(pattern)
    assert np.array_equal(samples, np.arange(N_SAMPLES))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    n = torch.cuda.device_count()
    if n > 1:
        argv = cli("-c", ckpt, "-d", str(data), "-o", str(tmp_path / "all.h5"), "--batch-size", "4")
        argv += ["--devices", str(n), "--strategy", "ddp", "--accelerator", "gpu", "--shard-size", "4"]
        proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        np.testing.assert_allclose(read_all(tmp_path / "all-*-of-00006.h5")[1], want, rtol=1e-4, atol=1e-6)

"""Bounded-memory streaming: peak RSS and read throughput of training and prediction over files much larger than
the memory they use, against raw h5py reads of the same file.

    .venv/bin/python -m benchmarks.streaming --gb 6 --small-gb 0.75 --dir /tmp/specsolve_stream

For each file size (``--small-gb`` and ``--gb``) it writes a native file with fields ``a`` and ``u`` on a
``--frames x --n x --n`` grid (float32, uncompressed, one sample per chunk, written block by block), then runs, each in a
fresh child process so that peaks do not mix:

- ``raw``: ``h5py`` slicing of ``a`` and ``u`` in blocks of ``--batch`` samples (the reference throughput);
- ``loader``: the ``FieldDataset`` + ``DataLoader`` pipeline the trainer uses (``--workers`` workers);
- ``predict``: ``specsolve.inference.predict.predict`` of a tiny FNO over the whole file (writes the output file);
- ``train``: one epoch of ``specsolve.training.run.train`` over the whole file (including the streamed
  normalisation-statistics pass), tiny FNO.

Peak memory is the largest total of the child and its DataLoader workers, sampled every 0.1 s from /proc as the sum
of proportional set sizes (PSS: pages the workers share with the parent, torch's libraries above all, count once),
and at least the child's own peak RSS (``ru_maxrss``) (:func:`benchmarks.harness.run_child`).
Samples are ``(time, x, y)`` stacks (``--frames`` frames folded into channels), so the bytes moved per grid point are
realistic for time-stepping operators and the tiny FNO's compute does not hide the I/O. Throughput is
bytes of ``a`` and ``u`` read per second of wall time, imports excluded (for predict and train it is bound by the
model's compute on CPU, not by I/O). The file's pages are evicted from the page cache before each phase
(``posix_fadvise(DONTNEED)``), so every phase reads cold. Peak memory should be the same for both file sizes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from benchmarks.harness import evict_from_page_cache, run_child

PHASE = r"""
import json, sys, time
import h5py, torch
torch.set_num_threads(int(sys.argv[5]))
phase, path, batch, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
extra = json.loads(sys.argv[6])
if phase in ("predict", "train"):  # imports are not part of the measurement
    import specsolve.inference.predict, specsolve.training.run, specsolve.models.fno, specsolve.data.modules.hdf5_fields
t0 = time.perf_counter()
nbytes = 0
if phase == "raw":
    import h5py
    with h5py.File(path, "r") as f:
        n = f["a"].shape[0]
        for s in range(0, n, batch):
            for name in ("a", "u"):
                nbytes += f[name][s:s + batch].nbytes
elif phase == "loader":
    from torch.utils.data import DataLoader
    from specsolve.data.fields import FieldDataset
    ds = FieldDataset(path, ["a"], ["u"])
    for x, y in DataLoader(ds, batch_size=batch, num_workers=workers):
        nbytes += x.numel() * 4 + y.numel() * 4
elif phase == "predict":
    from specsolve.inference.predict import predict
    out = extra["out"]
    predict(extra["checkpoint"], path, out, batch_size=batch, overwrite=True)
    import h5py
    with h5py.File(path, "r") as f:
        nbytes = f["a"].nbytes
elif phase == "train":
    from specsolve.config import load_config
    from specsolve.training.run import train
    cfg = load_config(None, extra["overrides"])
    train(cfg, progress=False)
    import h5py
    with h5py.File(path, "r") as f:
        nbytes = 2 * (f["a"].nbytes + f["u"].nbytes)  # statistics pass + one epoch
child_report(seconds=time.perf_counter() - t0, mb=nbytes / 2**20)
"""


def write_file(path: Path, gb: float, n: int, frames: int, block: int) -> int:
    """A native file of ``a`` and ``u`` (sample, time, x, y) totalling about ``gb`` GiB; returns the sample count."""
    import numpy as np

    from specsolve.data.native import NativeWriter, VariableSpec

    per_sample = 2 * frames * n * n * 4
    samples = max(block, int(gb * 2**30 / per_sample) // block * block)
    grid = np.linspace(0.0, 1.0, n)
    coords = {"sample": np.arange(samples), "time": np.arange(frames, dtype=np.float64), "x": grid, "y": grid}
    dims = ("sample", "time", "x", "y")
    variables = {"a": VariableSpec(dims), "u": VariableSpec(dims)}
    rng = np.random.default_rng(0)
    with NativeWriter(path, coords, variables, {"title": "streaming benchmark"}, compression=None, overwrite=True) as w:
        for start in range(0, samples, block):
            a = rng.standard_normal((block, frames, n, n), dtype=np.float32)
            w.write("a", start, a)
            w.write("u", start, 0.5 * a + 0.1)
    return samples


def run_phase(phase: str, path: Path, args: argparse.Namespace, extra: dict | None = None) -> dict:
    cold = evict_from_page_cache(path)
    phase_args = [phase, str(path), str(args.batch), str(args.workers), str(args.threads), json.dumps(extra or {})]
    return {**run_child(PHASE, phase_args), "cold": cold}


def train_overrides(path: Path, run_dir: Path, args: argparse.Namespace) -> list[str]:
    return [
        f"run_dir={run_dir}",
        "data.name=hdf5",
        f"data.train={path}",
        "data.inputs=[a]",
        "data.outputs=[u]",
        f"data.batch_size={args.batch}",
        f"data.num_workers={args.workers}",
        "model.name=fno",
        "model.modes=[4,4]",
        "model.width=4",
        "model.layers=1",
        "model.padding=0",
        "model.projection_hidden=8",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "logging.figures=false",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=6.0, help="size of the large file (GiB)")
    parser.add_argument("--small-gb", type=float, default=0.75, help="size of the small file (GiB); 0 to skip")
    parser.add_argument("--n", type=int, default=64, help="grid points per axis")
    parser.add_argument("--frames", type=int, default=32, help="time frames per sample (folded into channels)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (more only on a quiet machine)")
    parser.add_argument("--phases", default="raw,loader,predict,train")
    parser.add_argument("--dir", default="/tmp/specsolve_stream")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    phases = [p for p in args.phases.split(",") if p]
    sizes = [s for s in (args.small_gb, args.gb) if s > 0]

    rows = []
    checkpoint = None
    for gb in sizes:
        path = root / f"fields_{gb:g}gb.h5"
        t = time.perf_counter()
        samples = write_file(path, gb, args.n, args.frames, args.batch)
        size_mb = path.stat().st_size / 2**20
        print(
            f"wrote {path}: {samples} samples of 2 x {args.frames}x{args.n}x{args.n} float32, {size_mb:,.0f} MiB "
            f"in {time.perf_counter() - t:.0f} s",
            flush=True,
        )
        if checkpoint is None and ("predict" in phases):
            # a tiny FNO checkpoint (one epoch on the first 4 batches) for the predict phase
            ckpt_run = root / "ckpt_run"
            subprocess.run(["rm", "-rf", str(ckpt_run)], check=True)
            overrides = train_overrides(path, ckpt_run, args) + ["trainer.limit_train_batches=4"]
            run_phase("train", path, args, {"overrides": overrides})
            checkpoint = ckpt_run / "checkpoints" / "last.ckpt"
        for phase in phases:
            extra: dict = {}
            if phase == "predict":
                extra = {"checkpoint": str(checkpoint), "out": str(root / "pred.h5")}
            if phase == "train":
                run_dir = root / f"train_{gb:g}"
                subprocess.run(["rm", "-rf", str(run_dir)], check=True)
                extra = {"overrides": train_overrides(path, run_dir, args)}
            r = run_phase(phase, path, args, extra)
            rows.append({"file_mb": size_mb, "phase": phase, **r})
            print(
                f"  {phase:8s} {r['mb'] / r['seconds']:8.0f} MiB/s  {r['seconds']:7.1f} s  peak memory "
                f"{r['peak_mb']:6.0f} MiB (main process RSS {r['self_mb']:.0f})"
                f"{'' if r['cold'] else '  [page cache not evicted]'}",
                flush=True,
            )
        (root / "pred.h5").unlink(missing_ok=True)
        if not args.keep:
            path.unlink()

    print()
    print("| file | phase | MiB/s | seconds | peak memory, PSS (MiB) | main process peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['file_mb'] / 1024:.2f} GiB | {r['phase']} | {r['mb'] / r['seconds']:.0f} | {r['seconds']:.1f} | "
            f"{r['peak_mb']:.0f} | {r['self_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()

"""Bounded-memory streaming: the read rate of every DataModule's training loader as a fraction of raw h5py reading
the same bytes, and the peak memory, on files much larger than the memory they use.

    .venv/bin/python -m benchmarks.streaming --gb 6 --small-gb 0.5 --dir /tmp/specsolve_stream

For each file size (``--small-gb`` and ``--gb``) it writes, block by block (float32, uncompressed, one sample per
chunk, ``--frames`` x ``--n`` x ``--n`` per variable and sample):

- a native file ``a(sample, time, x, y)``, ``u(sample, time, x, y)`` (and a small ``a0(sample, x, y)``), read by
  the ``hdf5`` (``a -> u``), ``hdf5_windows`` (``[a, u]``, ``n_in = n_out = frames / 4``, ``window_stride = frames /
  2``: two disjoint windows per trajectory, so every stored frame is delivered once an epoch) and ``hdf5_all2all``
  (``a(t_i) -> u(t_{i+1})``, ``allowed_transitions: [1]``) DataModules;
- a PDEBench 2D-CFD-style file (``Vx``, ``density`` ``[N, T, X, Y]``, ``x-/y-/t-coordinate``): ``pdebench``;
- an FNO v7.3 ``.mat`` file (HDF5 behind the 512-byte header, axes reversed on disk as MATLAB writes them:
  ``a`` ``[N, X, Y]``, ``u`` and ``v`` ``[N, X, Y, T]`` time last, one sample per chunk): ``fno_mat``
  (``[a, u] -> v``);
- a Well-format file (``t0_fields/a``, ``t0_fields/u`` ``[N, T, X, Y]``): ``well``.

Then, for each DataModule, in one fresh child process (so that peaks do not mix), ``--rounds`` interleaved rounds
(``raw, loader``, then ``loader, raw``, ...), the file's pages evicted from the page cache before each phase
(``posix_fadvise(DONTNEED)``) so that every phase reads cold:

- ``raw``: the plain h5py loop over the same datasets of the same file: slices of ``--batch`` samples along the
  sample axis, each dataset in turn (chunk-aligned block reads, the fastest plain loop);
- ``loader``: one epoch of the DataModule's own ``train_dataloader()`` (``--workers`` worker processes, or as
  many loader threads with ``--worker-kind threads``, i.e. ``data.workers: threads``; epoch-seeded shuffling,
  ``--batch`` samples a batch), built from the registry as ``specsolve train`` builds it; one loader for all
  rounds, its workers started before the first (they persist across epochs in training too).

Rates are MiB per second of wall time: for ``raw`` the bytes read, for ``loader`` the bytes of the ``x`` and ``y``
tensors delivered (equal to the file's bytes for every layout above except all2all, which delivers 31/32 of
them). ``ratio`` = loader rate / raw rate (median over rounds, and the median of the per-round ratios). Peak
memory is the largest sum of the proportional set sizes (PSS: pages shared by the workers and the parent count
once) of the child and its DataLoader workers, sampled every 0.5 s by a thread of the child, per phase
(:func:`benchmarks.harness.tree_memory_mib`); it should be the same for both file sizes. (Reading a process's PSS
walks its page tables under its memory-map lock: sampled every 0.1 s, three processes, it slowed the loader by about
a third; at 0.5 s the cost is within the noise. The memory of an epoch is flat, so the plateau is still sampled.)

``--phases predict,train`` adds the end-to-end phases on the native file (each in its own child):
``specsolve.inference.predict.predict`` of a tiny FNO, and one epoch of ``specsolve.training.run.train``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import command_line, evict_from_page_cache, run_child

# DataModule -> (file kind, config, raw datasets as (HDF5 path, sample axis))
MODULES: dict[str, tuple[str, dict, list[tuple[str, int]]]] = {
    "hdf5": ("native", {"inputs": ["a"], "outputs": ["u"]}, [("a", 0), ("u", 0)]),
    "hdf5_windows": ("native", {"inputs": ["a", "u"], "outputs": ["a", "u"]}, [("a", 0), ("u", 0)]),
    "hdf5_all2all": ("native", {"inputs": ["a"], "outputs": ["u"], "allowed_transitions": [1]}, [("a", 0), ("u", 0)]),
    "pdebench": ("pdebench", {"inputs": ["Vx"], "outputs": ["density"]}, [("Vx", 0), ("density", 0)]),
    "fno_mat": ("fno_mat", {"inputs": ["a", "u"], "outputs": ["v"]}, [("a", -1), ("u", -1), ("v", -1)]),
    "well": ("well", {"inputs": ["a"], "outputs": ["u"]}, [("t0_fields/a", 0), ("t0_fields/u", 0)]),
}

MODULE_PHASE = r"""
import gc, json, os, statistics, sys, threading, time
import h5py, torch
from benchmarks.harness import evict_from_page_cache, tree_memory_mib
from specsolve.registry import create
spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
path, batch = spec["path"], spec["batch"]
dm = create("dataset", spec["module"], **spec["config"])
phase, peaks = [None], {"raw": 0.0, "loader": 0.0}

def sample():
    while True:
        if phase[0] is not None:
            peaks[phase[0]] = max(peaks[phase[0]], tree_memory_mib(os.getpid()))
        time.sleep(0.5)

threading.Thread(target=sample, daemon=True).start()

def raw():
    nbytes = 0
    with h5py.File(path, "r") as f:
        for name, axis in spec["raw"]:
            d = f[name]
            axis = axis % d.ndim
            for s in range(0, d.shape[axis], batch):
                key = [slice(None)] * d.ndim
                key[axis] = slice(s, s + batch)
                nbytes += d[tuple(key)].nbytes
    return nbytes

dl = dm.train_dataloader()  # one loader for all rounds: its workers persist across epochs, as in training
next(iter(dl))  # start the workers (untimed; the pages it read are evicted before each phase)

def loader(r):
    dl.sampler.set_epoch(r)
    nbytes = 0
    for b in dl:
        nbytes += b[0].nbytes + b[1].nbytes
    return nbytes

runs = {"raw": [], "loader": []}
for r in range(spec["rounds"]):
    for name in (["raw", "loader"] if r % 2 == 0 else ["loader", "raw"]):
        evict_from_page_cache(path)
        phase[0] = name
        t0 = time.perf_counter()
        nbytes = raw() if name == "raw" else loader(r)
        runs[name].append((time.perf_counter() - t0, nbytes / 2**20))
        time.sleep(0.6)  # one more memory sample of this phase
        phase[0] = None
del dl
gc.collect()
child_report(runs=runs, peaks=peaks)
"""

PHASE = r"""
import json, sys, time
import h5py, torch
torch.set_num_threads(int(sys.argv[5]))
phase, path, batch, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
extra = json.loads(sys.argv[6])
import specsolve.inference.predict, specsolve.training.run, specsolve.models.fno  # imports are not measured
t0 = time.perf_counter()
nbytes = 0
if phase == "predict":
    from specsolve.inference.predict import predict
    predict(extra["checkpoint"], path, extra["out"], batch_size=batch, overwrite=True)
    with h5py.File(path, "r") as f:
        nbytes = f["a"].nbytes
elif phase == "train":
    from specsolve.config import load_config
    from specsolve.training.run import train
    train(load_config(None, extra["overrides"]), progress=False)
    with h5py.File(path, "r") as f:
        nbytes = 2 * (f["a"].nbytes + f["u"].nbytes)  # statistics pass + one epoch
child_report(seconds=time.perf_counter() - t0, mb=nbytes / 2**20)
"""


def _count(gb: float, per_sample: int, block: int) -> int:
    return max(block, int(gb * 2**30 / per_sample) // block * block)


def _blocks(samples: int, block: int, frames: int, n: int, seed: int = 0):
    """``(start, values (block, frames, n, n))`` over the samples: one random block, shifted per block (the
    content does not matter to an uncompressed read; generating 6 GiB of normals would dominate the setup)."""
    base = np.random.default_rng(seed).standard_normal((block, frames, n, n), dtype=np.float32)
    for k, start in enumerate(range(0, samples, block)):
        yield start, base + np.float32(k % 7)


def write_native(path: Path, gb: float, n: int, frames: int, block: int) -> int:
    """The native file (``a``, ``u`` ``(sample, time, x, y)`` and ``a0 (sample, x, y)``); returns the sample count."""
    from specsolve.data.native import NativeWriter, VariableSpec

    samples = _count(gb, 2 * frames * n * n * 4, block)
    grid = np.linspace(0.0, 1.0, n)
    coords = {"sample": np.arange(samples), "time": np.arange(frames, dtype=np.float64), "x": grid, "y": grid}
    dims = ("sample", "time", "x", "y")
    variables = {"a": VariableSpec(dims), "u": VariableSpec(dims), "a0": VariableSpec(("sample", "x", "y"))}
    with NativeWriter(path, coords, variables, {"title": "streaming benchmark"}, compression=None, overwrite=True) as w:
        for start, a in _blocks(samples, block, frames, n):
            w.write("a", start, a)
            w.write("u", start, 0.5 * a + 0.1)
            w.write("a0", start, a[:, 0])
    return samples


def write_pdebench(path: Path, gb: float, n: int, frames: int, block: int) -> int:
    """PDEBench 2D-CFD layout: ``Vx``, ``density`` ``[N, T, X, Y]`` (one sample per chunk), coordinates with the
    released ``t-coordinate`` quirk (``T + 1`` entries)."""
    import h5py

    samples = _count(gb, 2 * frames * n * n * 4, block)
    with h5py.File(path, "w") as f:
        for name in ("Vx", "density"):
            f.create_dataset(name, (samples, frames, n, n), "float32", chunks=(1, frames, n, n))
        f["x-coordinate"] = (np.arange(n) + 0.5) / n
        f["y-coordinate"] = (np.arange(n) + 0.5) / n
        f["t-coordinate"] = np.arange(frames + 1) * 0.05
        for start, a in _blocks(samples, block, frames, n):
            f["Vx"][start : start + block] = a
            f["density"][start : start + block] = 0.5 * a + 0.1
    return samples


def write_fno_mat(path: Path, gb: float, n: int, frames: int, block: int) -> int:
    """FNO v7.3 ``.mat``: ``a`` ``[N, X, Y]``, ``u``, ``v`` ``[N, X, Y, T]``, stored with MATLAB's reversed axes
    (``[T, Y, X, N]``), one sample per chunk, behind the 512-byte MATLAB header."""
    import h5py

    from specsolve.data.export import _mat_header

    samples = _count(gb, 2 * frames * n * n * 4, block)
    with h5py.File(path, "w", userblock_size=512) as f:
        shapes = {"a": (samples, n, n), "u": (samples, n, n, frames), "v": (samples, n, n, frames)}
        for name, shape in shapes.items():
            rev = tuple(reversed(shape))
            d = f.create_dataset(name, rev, "float32", chunks=rev[:-1] + (1,))
            d.attrs["MATLAB_class"] = np.bytes_("single")
        for start, a in _blocks(samples, block, frames, n):
            u = np.moveaxis(a, 1, -1)  # (B, X, Y, T)
            f["a"][..., start : start + block] = u[..., 0].transpose()
            f["u"][..., start : start + block] = u.transpose()
            f["v"][..., start : start + block] = (0.5 * u + 0.1).transpose()
    with open(path, "r+b") as fh:
        fh.write(_mat_header())
    return samples


def write_well(path: Path, gb: float, n: int, frames: int, block: int) -> int:
    """The Well's layout: ``t0_fields/a``, ``t0_fields/u`` ``[N, T, X, Y]`` (one trajectory per chunk) with their
    ``sample_varying`` / ``time_varying`` / ``dim_varying`` flags, ``/dimensions`` (time, x, y)."""
    import h5py

    samples = _count(gb, 2 * frames * n * n * 4, block)
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": "stream", "grid_type": "cartesian", "n_spatial_dims": 2})
        f.attrs["n_trajectories"] = samples
        d = f.create_group("dimensions")
        d.attrs["spatial_dims"] = ["x", "y"]
        for name, values, tv in (("time", np.arange(frames) * 0.05, True), ("x", np.arange(n) / n, False)):
            ds = d.create_dataset(name, data=values)
            ds.attrs.update({"sample_varying": False, "time_varying": tv})
        ds = d.create_dataset("y", data=np.arange(n) / n)
        ds.attrs.update({"sample_varying": False, "time_varying": False})
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["a", "u"]
        for name in ("a", "u"):
            ds = t0.create_dataset(name, (samples, frames, n, n), "float32", chunks=(1, frames, n, n))
            ds.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": np.ones(2, dtype=bool)})
        for start, a in _blocks(samples, block, frames, n):
            t0["a"][start : start + block] = a
            t0["u"][start : start + block] = 0.5 * a + 0.1
    return samples


WRITERS = {"native": write_native, "pdebench": write_pdebench, "fno_mat": write_fno_mat, "well": write_well}
SUFFIX = {"native": ".h5", "pdebench": ".hdf5", "fno_mat": ".mat", "well": ".hdf5"}


def module_config(module: str, path: Path, args: argparse.Namespace) -> dict:
    config = {"train": str(path), "batch_size": args.batch, "num_workers": args.workers, **MODULES[module][1]}
    if args.worker_kind != "processes":
        config["workers"] = args.worker_kind
    if module == "hdf5_windows":
        config.update(n_in=args.frames // 4, n_out=args.frames // 4, window_stride=args.frames // 2)
    return config


def run_module(module: str, path: Path, args: argparse.Namespace) -> dict:
    spec = {
        "module": module,
        "path": str(path),
        "config": module_config(module, path, args),
        "raw": MODULES[module][2],
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
    }
    r = run_child(MODULE_PHASE, [json.dumps(spec)])
    rates = {k: [mb / s for s, mb in v] for k, v in r["runs"].items()}
    paired = [lo / ra for lo, ra in zip(rates["loader"], rates["raw"])]
    return {
        "module": module,
        "raw": float(np.median(rates["raw"])),
        "loader": float(np.median(rates["loader"])),
        "paired": float(np.median(paired)),
        "loader_s": float(np.median([s for s, _ in r["runs"]["loader"]])),
        "loader_mb": r["runs"]["loader"][0][1],
        "peak_raw": r["peaks"]["raw"],
        "peak_loader": r["peaks"]["loader"],
    }


def run_phase(phase: str, path: Path, args: argparse.Namespace, extra: dict) -> dict:
    cold = evict_from_page_cache(path)
    phase_args = [phase, str(path), str(args.batch), str(args.workers), str(args.threads), json.dumps(extra)]
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


def end_to_end(path: Path, gb: float, phases: list[str], args: argparse.Namespace, root: Path) -> list[dict]:
    """The ``predict`` / ``train`` phases on the native file (tiny FNO; bound by its compute on CPU)."""
    rows = []
    checkpoint = root / "ckpt_run" / "checkpoints" / "last.ckpt"
    if "predict" in phases and not checkpoint.exists():
        subprocess.run(["rm", "-rf", str(root / "ckpt_run")], check=True)
        overrides = train_overrides(path, root / "ckpt_run", args) + ["trainer.limit_train_batches=4"]
        run_phase("train", path, args, {"overrides": overrides})
    for phase in phases:
        extra: dict = {"checkpoint": str(checkpoint), "out": str(root / "pred.h5")}
        if phase == "train":
            run_dir = root / f"train_{gb:g}"
            subprocess.run(["rm", "-rf", str(run_dir)], check=True)
            extra = {"overrides": train_overrides(path, run_dir, args)}
        r = run_phase(phase, path, args, extra)
        rows.append({"phase": phase, **r})
        print(
            f"  {phase:8s} {r['mb'] / r['seconds']:8.0f} MiB/s  {r['seconds']:7.1f} s  peak memory "
            f"{r['peak_mb']:6.0f} MiB (main process RSS {r['self_mb']:.0f})",
            flush=True,
        )
    (root / "pred.h5").unlink(missing_ok=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=6.0, help="size of the large files (GiB)")
    parser.add_argument("--small-gb", type=float, default=0.5, help="size of the small files (GiB); 0 to skip")
    parser.add_argument("--n", type=int, default=64, help="grid points per axis")
    parser.add_argument("--frames", type=int, default=32, help="time frames per sample")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-kind",
        choices=["processes", "threads"],
        default="processes",
        help="the DataModules' data.workers: --workers worker processes or loader threads",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (more only on a quiet machine)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved raw / loader rounds per DataModule")
    parser.add_argument("--modules", default=",".join(MODULES), help="DataModules to measure")
    parser.add_argument("--phases", default="", help="end-to-end phases on the native file: predict,train")
    parser.add_argument("--dir", default="/tmp/specsolve_stream")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    modules = [m for m in args.modules.split(",") if m]
    phases = [p for p in args.phases.split(",") if p]
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        raise SystemExit(f"unknown modules {unknown}; known: {', '.join(MODULES)}")
    print(f"$ {command_line()}")
    print(time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime()), flush=True)

    rows = []
    for gb in [s for s in (args.small_gb, args.gb) if s > 0]:
        kinds = list(dict.fromkeys(MODULES[m][0] for m in modules))
        if phases and "native" not in kinds:
            kinds.insert(0, "native")
        for kind in kinds:
            path = root / f"{kind}_{gb:g}gb{SUFFIX[kind]}"
            t = time.perf_counter()
            samples = WRITERS[kind](path, gb, args.n, args.frames, args.batch)
            size_mb = path.stat().st_size / 2**20
            print(
                f"wrote {path}: {samples} samples, {size_mb:,.0f} MiB in {time.perf_counter() - t:.0f} s "
                f"(load average {Path('/proc/loadavg').read_text().split()[0]})",
                flush=True,
            )
            for module in [m for m in modules if MODULES[m][0] == kind]:
                r = run_module(module, path, args)
                rows.append({"file_mb": size_mb, **r})
                print(
                    f"  {module:13s} raw {r['raw']:6.0f} MiB/s  loader {r['loader']:6.0f} MiB/s "
                    f"({r['loader_mb']:,.0f} MiB in {r['loader_s']:.1f} s)  ratio {r['loader'] / r['raw']:.2f} "
                    f"(per round {r['paired']:.2f})  peak PSS raw {r['peak_raw']:.0f} / loader "
                    f"{r['peak_loader']:.0f} MiB",
                    flush=True,
                )
            if kind == "native" and phases:
                end_to_end(path, gb, phases, args, root)
            if not args.keep:
                path.unlink()

    print()
    print(
        "| file | DataModule | raw h5py MiB/s | loader MiB/s | loader / raw (per-round median) | "
        "peak PSS raw (MiB) | peak PSS loader (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['file_mb'] / 1024:.2f} GiB | {r['module']} | {r['raw']:.0f} | {r['loader']:.0f} | "
            f"{r['loader'] / r['raw']:.2f} ({r['paired']:.2f}) | {r['peak_raw']:.0f} | {r['peak_loader']:.0f} |"
        )


if __name__ == "__main__":
    main()

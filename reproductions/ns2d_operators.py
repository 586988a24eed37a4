"""Navier-Stokes 2D at CPU scale: FNO, FNO + p4 augmentation, G-FNO-p4, G-FNO-p4m and STFNO, on the test set and on
its 90-degree rotation.

What it does (all through the library: recipe generation, ``specsolve.training.run.train`` on the run configs
configs/ns2d_*.yaml with overrides, checkpoints, ``specsolve.inference.rollout``):

1. data: generates ``datasets/ns_small.yaml`` (32^2, nu = 1e-3, FNO forcing, frames t = 0..20, 128 train / 32 test
   trajectories, ~25 s) into ``--data-dir`` unless its ``train.h5``/``test.h5`` exist, and writes the rotated test
   set ``test_rot90.h5`` there (every stored field rotated by ``rot90`` over (x, y), as ``torch.rot90(k=1)``);
2. trains each model from its config (10 -> 1 teacher forcing; STFNO 10 -> ``--st-fno-out`` frames, layout ``time``),
   frames t = 1..20 (``time_start: 1``); ``fno_p4aug`` is FNO trained on windows rotated by a random ``rot90(k)``
   (``data.augmentation: {group: p4}``, configs/ns2d_fno_p4aug.yaml: the G-FNO paper's augmentation baseline);
   ``--scale`` multiplies the paper widths (FNO 20, p4 10, p4m 7, STFNO 20) and
   ``--modes`` replaces the paper's 12 (STFNO: ``--modes``, ``modes_t`` 4); ``--paper`` keeps the configs' models.
   Scaled runs give STFNO a quarter of the batch and windows ``n_out`` frames apart (``window_stride``), so that
   every frame is a target once per epoch for every model;
3. evaluates the LAST checkpoint (val = test here, so no selection on it): one-step (one-window) relative L2 on
   the test windows, autoregressive rollout from the first 10 frames over the remaining 10 (context excluded), both
   on the test set and on the rotated one, plus the equivariance gap of the rollout,
   ``max_i ||P(rot x_i) - rot P(x_i)|| / ||P(x_i)||``.

Relative L2 of a rollout: ``per-frame`` = the library's mean over predicted frames and trajectories of
``||pred_t - true_t|| / ||true_t||``; ``traj.`` = the G-FNO paper's metric, ``||pred - true|| / ||true||`` over the
whole predicted trajectory per sample, averaged. ``persistence`` (predict the last context frame) is the
no-learning reference.

The rotated set is not a solution of the same PDE (the FNO forcing ``sin 2pi(x+y) + cos 2pi(x+y)`` is not
rotation-invariant), exactly as the G-FNO paper's rotated NS test: it measures how a model treats rotated inputs.
G-FNO's prediction commutes with rot90 (its grid feature is invariant and the per-channel normalisation is a
scalar), so its errors on both sets agree up to float rounding; FNO (Cartesian grid features) and STFNO (x, y
positional encoding) are not equivariant.

Usage::

    .venv/bin/python -m reproductions.ns2d_operators [--data-dir data/ns_small] [--scale 0.5] [--modes 8] [--epochs 5]
        [--models fno,fno_p4aug,gfno_p4,gfno_p4m,st_fno] [--n-train N] [--threads 1] [--work-dir runs/ns2d_operators]
    .venv/bin/python -m reproductions.ns2d_operators --paper  # the configs' models, epochs and batches (hours on CPU)
    .venv/bin/python -m reproductions.ns2d_operators --models fno,fno_p4aug,gfno_p4 --out docs/results/ns2d_augmentation.txt
    .venv/bin/python -m reproductions.ns2d_operators --write-rotated SRC.h5 DST.h5  # then: specsolve rollout -d DST.h5

The default run took 11 min (6.9 min CPU) on the shared 2-core machine under load (docs/results/ns2d_operators.txt).
Checkpoints stay in ``--work-dir/<stamp>/<model>``, so ``specsolve rollout -c .../checkpoints/last.ckpt -d
data/ns_small/test_rot90.h5`` reproduces a rotated-rollout figure from the command line.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import shutil
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from omegaconf import OmegaConf

from reproductions.report import quiet_libraries, run
from specsolve.config import load_config
from specsolve.data.generation import run_recipe
from specsolve.data.modules.hdf5_windows import WindowDataset
from specsolve.data.native import SPATIAL_DIMS, variable_dims
from specsolve.inference.rollout import rollout
from specsolve.losses.relative_lp import relative_lp_per_sample
from specsolve.training.checkpoint import load_module
from specsolve.training.run import train

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    # key: (label, config, paper width)
    "fno": ("FNO", "ns2d_fno.yaml", 20),
    "fno_p4aug": ("FNO+p4 aug", "ns2d_fno_p4aug.yaml", 20),
    # the same FNO, trained by rolling out (training/objectives.py): the FNO paper's full unrolling over the whole
    # rollout horizon (its NS-2D recipe) and the pushforward trick over 2 steps (PDEArena)
    "fno_unrolled": ("FNO unroll", "ns2d_fno.yaml", 20),
    "fno_pushforward": ("FNO pushfwd", "ns2d_fno.yaml", 20),
    "gfno_p4": ("G-FNO-p4", "ns2d_gfno_p4.yaml", 10),
    "gfno_p4m": ("G-FNO-p4m", "ns2d_gfno_p4m.yaml", 7),
    "st_fno": ("STFNO", "ns2d_st_fno.yaml", 20),
}
N_IN, TIME_START = 10, 1
OBJECTIVES = {"fno_unrolled": ("unrolled", None), "fno_pushforward": ("pushforward", 2)}  # (name, steps)


def write_rotated(src: Path, dst: Path, k: int = 1) -> Path:
    """Copy ``src`` to ``dst`` with every variable that ends in the spatial dims (x, y) rotated by ``rot90(k)``
    over them (square grids only: the coordinates stay valid)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    with h5py.File(tmp, "r+") as f:
        for name in list(f.keys()):
            try:
                dims = variable_dims(f, name)
            except Exception:  # coordinates and other non-variables
                continue
            if len(dims) >= 2 and dims[-2] in SPATIAL_DIMS and dims[-1] in SPATIAL_DIMS and name not in dims:
                if f[name].shape[-1] != f[name].shape[-2]:
                    raise SystemExit(f"{src}: '{name}' is not on a square grid, cannot rotate")
                f[name][...] = np.rot90(f[name][...], k, axes=(-2, -1))
        f.attrs["rotated"] = f"rot90 k={k} over the last two (spatial) axes of every field, from {src.name}"
    tmp.replace(dst)
    return dst


def ensure_data(data_dir: Path, recipe: Path) -> float:
    """Generate the recipe into ``data_dir`` unless its files exist; write ``test_rot90.h5``. Returns seconds."""
    start = time.perf_counter()
    if not ((data_dir / "train.h5").exists() and (data_dir / "test.h5").exists()):
        print(f"generating {recipe.relative_to(ROOT)} into {data_dir} ...", flush=True)
        run_recipe(recipe, [f"out_dir={data_dir}"])
    rotated = data_dir / "test_rot90.h5"
    if not rotated.exists() or rotated.stat().st_mtime < (data_dir / "test.h5").stat().st_mtime:
        write_rotated(data_dir / "test.h5", rotated)
    return time.perf_counter() - start


def overrides_for(key: str, args: argparse.Namespace, data_dir: Path, run_dir: Path, n_frames: int) -> list[str]:
    """Dotlist overrides of the config of ``key`` for this run."""
    _, _, width = MODELS[key]
    out = [
        f"data.train={data_dir / 'train.h5'}",
        f"data.test={data_dir / 'test.h5'}",
        f"data.time_start={TIME_START}",
        f"run_dir={run_dir}",
        f"seed={args.seed}",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
    ]
    if args.epochs is not None:
        out.append(f"trainer.max_epochs={args.epochs}")
    if args.n_train is not None:
        out.append(f"data.n_train={args.n_train}")
    if key in OBJECTIVES:
        name, steps = OBJECTIVES[key]
        steps = steps or n_frames - N_IN  # None: the whole rollout horizon
        out += [f"objective.name={name}", f"objective.steps={steps}", f"data.n_out={steps}"]
    if key == "st_fno":
        n_out = args.sfno_out if not args.paper else 40
        n_out = min(n_out, n_frames - N_IN)  # the data may be shorter than the paper's 10 + 40
        out += [f"data.n_out={n_out}", f"model.out_steps={n_out}"]
        if not args.paper:  # windows n_out frames apart: every frame is a target once per epoch, as for 10 -> 1
            out.append(f"data.window_stride={n_out}")
    if not args.paper:
        w = max(2 if key.startswith("gfno") else 4, round(width * args.scale))
        out.append(f"model.width={w}")
        if key.startswith("fno"):
            out.append(f"model.modes=[{args.modes},{args.modes}]")
        else:
            out.append(f"model.modes={args.modes}")
        if key == "st_fno":
            out.append("model.modes_t=4")
    if args.batch_size is not None or not args.paper:  # --paper alone: the configs' batches (20; STFNO 4)
        batch = 20 if args.batch_size is None else args.batch_size
        # STFNO (batch 4 in the reference) gets a quarter of the batch: windows of 10 + n_out frames are heavier
        out.append(f"data.batch_size={max(1, batch // 4) if key == 'st_fno' else batch}")
    return out


def window_errors(module: torch.nn.Module, path: Path, cfg: dict, batch: int) -> np.ndarray:
    """Relative L2 per test window (all ``n_out`` target frames together) of ``module``: ``(N,)``."""
    data = cfg["data"]
    ds = WindowDataset(
        path,
        list(data["inputs"]),
        list(data["inputs"]),
        int(data["n_in"]),
        int(data["n_out"]),
        data.get("layout", "channels"),
        time_start=int(data.get("time_start", 0)),
    )
    errors = []
    with torch.inference_mode():
        for start in range(0, len(ds), batch):
            xs, ys = zip(*(ds[i] for i in range(start, min(start + batch, len(ds)))))
            pred = module(torch.stack(xs))
            errors.append(relative_lp_per_sample(pred.double(), torch.stack(ys).double()))
    return torch.cat(errors).numpy()


def trajectory_error(pred: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    """The G-FNO metric per sample: ``||pred - truth|| / ||truth||`` over all predicted frames: ``(N,)``."""
    return relative_lp_per_sample(pred.double(), truth.double()).numpy()


def truth_frames(path: Path, steps: int) -> torch.Tensor:
    """Stored frames ``time_start + N_IN ..`` (the rollout targets) of every trajectory: ``(N, steps, 1, X, Y)``."""
    ds = WindowDataset(path, ["u"], ["u"], N_IN, 1, "time", time_start=TIME_START)
    return torch.stack([ds.frames_of(["u"], s, N_IN, steps) for s in range(ds.info.n_samples)])


def persistence(data_dir: Path) -> dict[str, float]:
    """Errors of predicting the last context frame (one step and for the whole rollout)."""
    ds = WindowDataset(data_dir / "test.h5", ["u"], ["u"], N_IN, 1, "time", time_start=TIME_START)
    x_last = torch.stack([ds[i][0][-1:] for i in range(len(ds))])
    y = torch.stack([ds[i][1] for i in range(len(ds))])
    one = relative_lp_per_sample(x_last.double(), y.double()).numpy()
    steps = len(ds.frames) - N_IN
    truth = truth_frames(data_dir / "test.h5", steps)
    context = torch.stack([ds.frames_of(["u"], s, N_IN - 1, 1) for s in range(ds.info.n_samples)])
    pred = context.expand_as(truth)
    per_frame = ((pred - truth).flatten(2).norm(dim=2) / truth.flatten(2).norm(dim=2)).mean().item()
    return {"one": float(one.mean()), "roll_frame": per_frame, "roll_traj": float(trajectory_error(pred, truth).mean())}


def evaluate(checkpoint: Path, data_dir: Path, batch: int) -> dict[str, float]:
    module, hp = load_module(checkpoint)
    cfg = hp["config"]
    if cfg.get("objective"):  # rollout-trained: its windows hold K model steps; the 1-step error is one of them
        cfg = {**cfg, "data": {**cfg["data"], "n_out": int(cfg["data"]["n_out"]) // int(cfg["objective"]["steps"])}}
    result: dict[str, float] = {"params": sum(p.numel() for p in module.model.parameters())}
    preds = {}
    for tag, name in (("", "test.h5"), ("_rot", "test_rot90.h5")):
        path = data_dir / name
        result[f"one{tag}"] = float(window_errors(module, path, cfg, batch).mean())
        roll = rollout(module, path, batch_size=batch, return_predictions=True)
        preds[tag] = roll["predictions"]
        truth = truth_frames(path, roll["steps"])
        result[f"roll_frame{tag}"] = roll["mean"]
        result[f"roll_traj{tag}"] = float(trajectory_error(roll["predictions"], truth).mean())
        result["steps"] = roll["steps"]
    rotated_back = torch.rot90(preds["_rot"], -1, dims=(-2, -1))
    gap = (rotated_back - preds[""]).flatten(1).norm(dim=1) / preds[""].flatten(1).norm(dim=1)
    result["equiv_gap"] = float(gap.max())
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=ROOT / "data" / "ns_small")
    p.add_argument("--recipe", type=Path, default=ROOT / "datasets" / "ns_small.yaml")
    p.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "ns2d_operators")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    p.add_argument("--scale", type=float, default=0.5, help="width multiplier on the paper widths (ignored by --paper)")
    p.add_argument("--modes", type=int, default=8, help="Fourier modes (paper: 12; ignored by --paper)")
    p.add_argument("--epochs", type=int, default=None, help="default 5 (--paper: the configs' 100 / 10)")
    p.add_argument("--paper", action="store_true", help="the configs' models (paper widths, modes 12) unchanged")
    p.add_argument("--st-fno-out", type=int, default=5, help="STFNO output frames per window (scaled runs)")
    p.add_argument("--n-train", type=int, default=None, help="training trajectories (default: all)")
    p.add_argument("--batch-size", type=int, default=None, help="default 20 (STFNO: a quarter); --paper: the configs'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a loaded machine)")
    p.add_argument("--write-rotated", nargs=2, type=Path, metavar=("SRC", "DST"), help="only write a rotated copy")
    args = p.parse_args()
    if args.write_rotated:
        print(f"wrote {write_rotated(*args.write_rotated)}")
        return
    if args.epochs is None and not args.paper:
        args.epochs = 5
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in MODELS]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; choose from {list(MODELS)}")
    torch.set_num_threads(args.threads)
    quiet_libraries()

    command = [".venv/bin/python", "-m", "reproductions.ns2d_operators", *sys.argv[1:]]
    print("command: " + " ".join(shlex.quote(a) for a in command))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), {_dt.datetime.now():%Y-%m-%d %H:%M}")
    data_dir = args.data_dir.resolve()
    seconds = ensure_data(data_dir, args.recipe.resolve())
    with h5py.File(data_dir / "train.h5") as f:
        n_train_traj, n_frames_all, nx = f["u"].shape[0], f["u"].shape[1], f["u"].shape[-1]
    with h5py.File(data_dir / "test.h5") as f:
        n_test_traj = f["u"].shape[0]
    n_frames = n_frames_all - TIME_START
    print(
        f"data: {data_dir} ({n_train_traj} train / {n_test_traj} test trajectories, {nx}x{nx}, frames "
        f"t = {TIME_START}..{n_frames_all - 1} used; ready in {seconds:.1f} s); rotated test set: test_rot90.h5"
    )
    print(
        f"context {N_IN} frames, rollout over the remaining {n_frames - N_IN}; "
        f"{'paper models' if args.paper else f'scale {args.scale}, modes {args.modes}'}, epochs "
        f"{args.epochs if args.epochs is not None else 'from the configs'}, batch "
        f"{args.batch_size or ('from the configs' if args.paper else 20)}, "
        f"seed {args.seed}"
    )

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rows = {}
    for key in keys:
        label, config, _ = MODELS[key]
        run_dir = args.work_dir.resolve() / stamp / key
        overrides = overrides_for(key, args, data_dir, run_dir, n_frames)
        cfg = load_config(ROOT / "configs" / config, overrides)
        model_desc = ", ".join(f"{k}={v}" for k, v in cfg.model.items() if k != "name")
        print(
            f"\n[{label}] configs/{config} + {' '.join(o for o in overrides if o.startswith(('model.', 'data.n_')))}"
            f"\n  model: {model_desc}",
            flush=True,
        )
        if cfg.data.get("augmentation") is not None:
            augmentation = OmegaConf.to_container(cfg.data.augmentation)
            print(f"  data.augmentation: {augmentation} (training windows only)", flush=True)
        t0 = time.perf_counter()
        result = train(cfg, progress=False)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        row = evaluate(Path(result["last"]), data_dir, args.batch_size or 20)
        row["train_s"], row["eval_s"] = train_s, time.perf_counter() - t0
        row["n_out"] = int(cfg.data.n_out) // int(cfg.get("objective", {}).get("steps", 1))
        rows[key] = row
        print(
            f"  trained {train_s:.0f} s ({train_s / int(cfg.trainer.max_epochs):.1f} s/epoch), final train loss "
            f"{result['metrics'].get('train/loss', float('nan')):.4f}; evaluated {row['eval_s']:.0f} s; "
            f"checkpoint {result['last']}",
            flush=True,
        )

    base = persistence(data_dir)
    print('\nrelative L2 on the test set (mean over samples) and on its rot90 ("rot"); rollout: context excluded')
    head = (
        f"{'model':<12}{'params':>10}{'train s':>9}{'1-step':>9}{'1-step':>9}{'rollout':>9}{'rollout':>9}"
        f"{'rollout':>9}{'rollout':>9}{'rot/':>7}{'equiv.':>9}"
    )
    sub = (
        f"{'':<12}{'':>10}{'':>9}{'':>9}{'rot':>9}{'frame':>9}{'fr. rot':>9}{'traj.':>9}{'tr. rot':>9}"
        f"{'plain':>7}{'gap':>9}"
    )
    print(head)
    print(sub)
    for key, r in rows.items():
        label = MODELS[key][0] + (f" ({r['n_out']})" if r["n_out"] != 1 else "")
        print(
            f"{label:<12}{r['params']:>10,}{r['train_s']:>9.0f}{r['one']:>9.4f}{r['one_rot']:>9.4f}"
            f"{r['roll_frame']:>9.4f}{r['roll_frame_rot']:>9.4f}{r['roll_traj']:>9.4f}{r['roll_traj_rot']:>9.4f}"
            f"{r['roll_traj_rot'] / r['roll_traj']:>7.2f}{r['equiv_gap']:>9.1e}"
        )
    print(
        f"{'persistence':<12}{0:>10}{0:>9}{base['one']:>9.4f}{base['one']:>9.4f}{base['roll_frame']:>9.4f}"
        f"{base['roll_frame']:>9.4f}{base['roll_traj']:>9.4f}{base['roll_traj']:>9.4f}{1:>7.2f}{0:>9.1e}"
    )
    print(
        "1-step: one test window (10 frames -> 1; STFNO (n): -> n frames); rollout frame: mean of per-frame rel. L2; "
        "traj.: rel. L2 of the whole predicted trajectory (G-FNO paper's metric); rot/plain: traj. rot / traj.; "
        "equiv. gap: max_i ||P(rot x_i) - rot P(x_i)|| / ||P(x_i)|| over the rollout predictions."
    )


if __name__ == "__main__":
    run(main, None if "--write-rotated" in sys.argv else "ns2d_operators.txt")  # a rotated copy is no result

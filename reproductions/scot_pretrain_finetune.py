"""Pretrain scOT on one PDE family, fine-tune it on another with few samples, compare with training from scratch.

1. Pretraining: the tiny scOT of configs/scot_all2all_tiny.yaml, all2all on Navier-Stokes vorticity
   (datasets/ns_scot_tiny.yaml: nu = 1e-3, FNO forcing, 32^2, 21 frames over [0, 10], time_scale 0.1), ``--pretrain-n``
   trajectories, ``--pretrain-epochs`` epochs. The NS files are read from ``--pretrain-data`` (default
   data/ns_scot_tiny_cpu, made on first use: ``specsolve generate datasets/ns_scot_tiny.yaml splits.train.n=64
   splits.test.n=16 out_dir=data/ns_scot_tiny_cpu``, ~1 min CPU).
2. Fine-tuning: linear advection-diffusion u_t + c . grad u = kappa Lap u on the unit torus, c = (0.25, 0.125),
   kappa = 0.002 (the ``advection`` generator, exact Fourier solution; datasets/advection_demo.yaml with dim 2, 32^2,
   21 frames over [0, 1], GRF initial data), only ``--finetune-n`` trajectories, from the pretrained checkpoint through
   the config's ``finetune`` section (all parameters trainable; ``--frozen`` adds a run that trains only the
   embedding, recovery and time-conditioned norms: ``freeze: ["*"]``, ``unfreeze: [embedding.*, recovery.*, *norm*]``).
3. From scratch: the same model, data, seed, optimizer, schedule and number of steps, random initialisation.

All runs are evaluated on the same held-out advection-diffusion trajectories (all 36 all2all pairs each): relative
L2 (the trainer's validation metric over the whole test set after the last epoch). The identity map
u(t + tau) = u(t) is printed as a reference. Usage::

    .venv/bin/python -m reproductions.scot_pretrain_finetune [--pretrain-n 64] [--pretrain-epochs 8] [--finetune-n 8]
        [--finetune-epochs 25] [--frozen] [--seed 0] [--pretrained CKPT] [--work DIR]

Default: ~3.5 min on the 2-core CPU when it is quiet, up to ~10 min under load (docs/results/scot_finetune.txt).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from reproductions import report
from specsolve.config.loading import load_config
from specsolve.data.generation import run_recipe
from specsolve.data.modules.hdf5_all2all import All2AllDataModule
from specsolve.training.run import train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "scot_all2all_tiny.yaml"


def generate(
    work: Path, ns: Path, n_pretrain: int, n_finetune: int, n_test: int, velocity: list[float], diffusivity: float
) -> dict[str, Path]:
    """NS: the recipe's files in ``ns`` if present (else generated there); advection: always generated (exact, fast)."""
    if not (ns / "train.h5").exists() or not (ns / "test.h5").exists():
        run_recipe(
            ROOT / "datasets" / "ns_scot_tiny.yaml",
            [f"out_dir={ns}", f"splits.train.n={n_pretrain}", f"splits.test.n={n_test}"],
        )
    adv = work / "advection"
    if (adv / "train.h5").exists() and (adv / "test.h5").exists():  # a --work folder of an earlier run
        return {"ns": ns, "advection": adv}
    run_recipe(
        ROOT / "datasets" / "advection_demo.yaml",
        [
            f"out_dir={adv}",
            "generator.dim=2",
            "generator.resolution=32",
            f"generator.velocity=[{velocity[0]},{velocity[1]}]",
            f"generator.diffusivity={diffusivity}",
            "generator.final_time=1.0",
            "generator.n_frames=20",
            f"splits.train.n={n_finetune}",
            f"splits.test.n={n_test}",
            "batch_size=64",
        ],
    )
    return {"ns": ns, "advection": adv}


def run(
    work: Path,
    name: str,
    data: Path,
    time_scale: float,
    epochs: int,
    n_train: int,
    finetune: dict | None = None,
    seed: int = 0,
) -> dict:
    overrides = [
        f"run_dir={work / name}",
        f"seed={seed}",
        f"data.train={data / 'train.h5'}",
        f"data.test={data / 'test.h5'}",
        f"data.time_scale={time_scale}",
        f"data.n_train={n_train}",
        f"trainer.max_epochs={epochs}",
        "trainer.accelerator=cpu",
    ]
    cfg = load_config(CONFIG, overrides)
    if finetune is not None:  # the ``finetune`` section (merged here, so the script does not need the CLI)
        cfg = OmegaConf.merge(cfg, {"finetune": finetune})
    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    result["seconds"] = time.perf_counter() - t0
    return result


def identity_error(data: Path) -> float:
    """Mean relative L2 of u(t + tau) ~ u(t) over all test pairs."""
    dm = All2AllDataModule(train=str(data / "test.h5"), inputs=["u"], time_stride=2, n_snapshots=8)
    errors = []
    for x, y, _ in dm.train_dataloader():
        errors.append((x - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1))
    return float(torch.cat(errors).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-n", type=int, default=64, help="NS trajectories for pretraining")
    parser.add_argument("--pretrain-epochs", type=int, default=8)
    parser.add_argument("--finetune-n", type=int, default=8, help="advection trajectories for fine-tuning")
    parser.add_argument("--finetune-epochs", type=int, default=25)
    parser.add_argument("--test-n", type=int, default=16, help="advection test trajectories (and NS, if generated)")
    parser.add_argument(
        "--pretrain-data",
        default=str(ROOT / "data" / "ns_scot_tiny_cpu"),
        help="folder of datasets/ns_scot_tiny.yaml's train.h5 / test.h5 (generated there if missing)",
    )
    parser.add_argument("--velocity", type=float, nargs=2, default=[0.25, 0.125], help="advection velocity c")
    parser.add_argument("--diffusivity", type=float, default=0.002, help="diffusivity kappa of the target family")
    parser.add_argument("--frozen", action="store_true", help="also fine-tune with the body frozen")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fine-tuning / from-scratch runs")
    parser.add_argument("--pretrained", default=None, help="reuse this pretrained checkpoint (skip pretraining)")
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one, deleted)")
    args = parser.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="scot_finetune_"))
    try:
        t0 = time.perf_counter()
        data = generate(
            work,
            Path(args.pretrain_data),
            args.pretrain_n,
            args.finetune_n,
            args.test_n,
            args.velocity,
            args.diffusivity,
        )
        print(
            f"data ready in {time.perf_counter() - t0:.0f} s: NS {args.pretrain_n} training trajectories from "
            f"{args.pretrain_data}, advection-diffusion {args.finetune_n} + {args.test_n} (36 all2all pairs each)",
            flush=True,
        )
        if args.pretrained:
            ckpt = args.pretrained
            print(f"pretrained checkpoint: {ckpt}")
        else:
            pre = run(work, "pretrain", data["ns"], 0.1, args.pretrain_epochs, args.pretrain_n)
            print(
                f"pretrain (NS, {args.pretrain_n} traj., {args.pretrain_epochs} ep., {pre['seconds']:.0f} s): "
                f"NS test rel L2 {pre['metrics']['val/rel_l2']:.4f}",
                flush=True,
            )
            ckpt = pre["last"]
        runs = {
            "from scratch": None,
            "fine-tuned (all parameters)": {"checkpoint": ckpt},
        }
        if args.frozen:
            runs["fine-tuned (body frozen)"] = {
                "checkpoint": ckpt,
                "freeze": ["*"],
                "unfreeze": ["embedding.*", "recovery.*", "*norm*"],
            }
        results = {}
        for i, (label, section) in enumerate(runs.items()):
            r = run(
                work,
                f"advection_{i}_seed{args.seed}",
                data["advection"],
                1.0,
                args.finetune_epochs,
                args.finetune_n,
                section,
                args.seed,
            )
            results[label] = r
            error = r["metrics"]["val/rel_l2"]
            print(f"{label}: advection-diffusion test rel L2 {error:.4f} ({r['seconds']:.0f} s)", flush=True)
        steps = args.finetune_epochs * -(-args.finetune_n * 36 // 32)
        print(
            f"\nadvection-diffusion, {args.finetune_n} training trajectories ({args.finetune_n * 36} pairs), "
            f"{args.finetune_epochs} epochs = {steps} steps each, test: {args.test_n} trajectories"
        )
        print(f"  identity map u(t+tau) = u(t):   rel L2 {identity_error(data['advection']):.4f}")
        for label, r in results.items():
            print(f"  {label:30s}  rel L2 {r['metrics']['val/rel_l2']:.4f}")
        scratch = results["from scratch"]["metrics"]["val/rel_l2"]
        tuned = results["fine-tuned (all parameters)"]["metrics"]["val/rel_l2"]
        print(f"  gain of pretraining: {scratch / tuned:.2f}x lower error")
        print(f"total {time.perf_counter() - t0:.0f} s")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    report.run(main, "scot_finetune.txt")

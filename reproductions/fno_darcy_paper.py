"""FNO-2D on generated Darcy s=85 with the paper's hyperparameters; prints test relative L2 per epoch.

Usage: python -m reproductions.fno_darcy_paper [--recipe datasets/darcy_s85.yaml] [--epochs 50] [--accelerator auto]
Generates the recipe's data if missing (datasets/darcy_s85.yaml solves on 421x421 like the paper, ~40 min on
one core; datasets/darcy_s85_fast.yaml solves on 169x169, ~4 min), then trains configs/fno_darcy_s85.yaml
(modes 12, width 32, 4 layers, Adam 1e-3, weight decay 1e-4, StepLR 100 / 0.5, batch 20) and prints the
test error of every epoch, the final error and the wall time. The paper reaches 0.0108 after 500 epochs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L

from reproductions.report import run
from specsolve.config import load_config
from specsolve.data.generation import run_recipe
from specsolve.training.run import train

ROOT = Path(__file__).resolve().parents[1]


class PrintEpoch(L.Callback):
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get("val/rel_l2")
        if value is not None:
            print(
                f"epoch {trainer.current_epoch + 1:4d}  test rel L2 {float(value):.5f}  "
                f"elapsed {time.perf_counter() - self.start:8.1f} s",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(ROOT / "datasets" / "darcy_s85.yaml"))
    parser.add_argument("--data-dir", default=None, help="where the recipe's files are (default: its out_dir)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()

    recipe = load_config(
        args.recipe, defaults=False, keys=("generator", "splits", "out_dir", "batch_size", "description")
    )
    data_dir = Path(args.data_dir or recipe.out_dir)
    if not (data_dir / "train.h5").exists():
        t0 = time.perf_counter()
        run_recipe(args.recipe, [f"out_dir={data_dir}"])
        print(f"generated {data_dir} in {time.perf_counter() - t0:.0f} s", flush=True)
    run_dir = args.run_dir or f"runs/fno_darcy_paper-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = load_config(
        ROOT / "configs" / "fno_darcy_s85.yaml",
        [
            f"data.train={data_dir}/train.h5",
            f"data.test={data_dir}/test.h5",
            f"trainer.max_epochs={args.epochs}",
            f"trainer.accelerator={args.accelerator}",
            f"run_dir={run_dir}",
            "data.cache=true",
        ],
    )
    t0 = time.perf_counter()
    result = train(cfg, progress=False, callbacks=[PrintEpoch()])
    wall = time.perf_counter() - t0
    print(f"final test rel L2 after {args.epochs} epochs: {result['metrics']['val/rel_l2']:.5f}")
    print(f"wall time: {wall:.0f} s ({wall / args.epochs:.1f} s/epoch); run dir {result['run_dir']}")


if __name__ == "__main__":
    run(main, "darcy50.txt")

"""Prediction bound by the model: ``specsolve predict``'s one-process path with reading, compute and writing
overlapped (read-ahead thread + writer thread, the default) against the same path in turn, and against the model
alone (its forward over the same batches, already in memory).

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.predict_overlap --rounds 3

It writes a native file ``a(sample, x, y) -> u(sample, x, y)`` (gzip level 1, the native writer's default), makes
an FNO checkpoint of the given width (one training step: the weights do not matter for timing), then times, in
interleaved rounds in one process: ``model`` (forward of every batch, inputs pre-read and normalised as predict
does), ``predict overlap`` and ``predict in turn`` (:func:`specsolve.inference.predict.write_predictions` with
``overlap`` on / off; each writes the whole output file). The figure of merit is predict time / model time
(1.00 = bound by the model alone).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks.harness import command_line, interleaved, print_ratios, set_threads


def write_data(path: Path, n: int, size: int) -> None:
    from specsolve.data.native import NativeWriter, VariableSpec

    rng = np.random.default_rng(0)
    x = np.arange(size) / size
    coords = {"sample": np.arange(n), "x": x, "y": x}
    specs = {name: VariableSpec(("sample", "x", "y")) for name in ("a", "u")}
    with NativeWriter(path, coords, specs) as w:
        for start in range(0, n, 64):
            a = rng.standard_normal((min(64, n - start), size, size)).astype(np.float32)
            w.write("a", start, a)
            w.write("u", start, np.tanh(a))


def make_checkpoint(root: Path, data: Path, width: int, modes: int) -> str:
    from specsolve.config import load_config
    from specsolve.training.run import train

    overrides = [
        f"run_dir={root / 'run'}",
        "data.name=hdf5",
        f"data.train={data}",
        "data.inputs=[a]",
        "data.outputs=[u]",
        "data.batch_size=8",
        "model.name=fno",
        f"model.modes=[{modes},{modes}]",
        f"model.width={width}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=0",
        "trainer.accelerator=cpu",
        "logging.figures=false",
    ]
    return train(load_config(None, overrides), progress=False)["last"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--size", type=int, default=64, help="grid points per axis")
    parser.add_argument("--width", type=int, default=16, help="FNO width (sets the compute per sample)")
    parser.add_argument("--modes", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    threads = set_threads(args.threads)

    from specsolve.inference.predict import field_plan, write_predictions
    from specsolve.training.checkpoint import load_module

    print(f"$ {command_line()}")
    print(f"torch {torch.__version__}, {threads} thread(s); {args.samples} samples {args.size}^2, batch {args.batch}")
    with tempfile.TemporaryDirectory(prefix="specsolve_overlap_") as tmp:
        root = Path(tmp)
        data = root / "data.h5"
        write_data(data, args.samples, args.size)
        checkpoint = make_checkpoint(root, data, args.width, args.modes)
        module, hp = load_module(checkpoint)
        module.eval()
        plan = field_plan(module, hp, checkpoint, data, None, args.batch)
        batches = list(DataLoader(plan.dataset, batch_size=plan.batch_size, shuffle=False))
        n_params = sum(p.numel() for p in module.parameters())
        print(f"FNO width {args.width}, modes {args.modes}: {n_params:,} parameters; {len(batches)} batches")

        def model_only() -> None:
            with torch.inference_mode():
                for x in batches:
                    plan.infer(x)

        def run(overlap: bool):
            return lambda: write_predictions(plan, root / "pred.h5", overwrite=True, overlap=overlap)

        timings = interleaved(
            {"model": model_only, "predict overlap": run(True), "predict in turn": run(False)},
            rounds=args.rounds,
        )
    for name, t in timings.items():
        print(f"{name:16s} median {t.median:7.2f} s (min {t.min:.2f}, max {t.max:.2f})")
    print_ratios(timings, "model", label="speed")
    for name in ("predict overlap", "predict in turn"):
        print(f"{name} time / model time: {timings[name].median / timings['model'].median:.2f}")


if __name__ == "__main__":
    main()

"""One short GPU session: smoke test + mixed precision + throughput per model, FNO Darcy benchmark, and
(optionally) the 50-epoch FNO Darcy s=85 training run.

Usage: python scripts/gpu_check.py [--darcy-dir data/darcy_s85_fast] [--epochs 50] [--budget 200]
Every part is guarded so one failure does not hide the others; each prints one line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

import specsolve

ROOT = Path(__file__).resolve().parents[1]

MODELS = {
    # name: (constructor parameters, input shape)
    "fno (Darcy s=85)": (
        "fno",
        dict(in_channels=1, out_channels=1, modes=[12, 12], width=32, padding=9),
        (20, 1, 85, 85),
    ),
    "gfno p4 (NS 10->1)": (
        "gfno",
        dict(in_channels=10, out_channels=1, modes=12, width=10, group="p4"),
        (20, 10, 64, 64),
    ),
    "gfno p4m (NS 10->1)": (
        "gfno",
        dict(in_channels=10, out_channels=1, modes=12, width=7, group="p4m"),
        (20, 10, 64, 64),
    ),
    "gfno3d p4": (
        "gfno3d",
        dict(in_channels=10, out_channels=1, modes=8, time_modes=6, width=11),
        (10, 10, 64, 64, 40),
    ),
    "st_fno (NS 10->10)": (
        "st_fno",
        dict(in_channels=1, out_channels=1, modes=12, modes_t=5, width=20),
        (4, 10, 1, 64, 64),
    ),
    "galerkin 1D (Burgers 2048)": ("galerkin_transformer", dict(in_channels=1, out_channels=1), (8, 1, 2048)),
    "galerkin 2D (Darcy 141)": (
        "galerkin_transformer",
        dict(
            in_channels=1,
            out_channels=1,
            dim=2,
            n_hidden=128,
            num_heads=4,
            num_layers=6,
            dim_feedforward=256,
            freq_dim=32,
            modes=12,
        ),
        (8, 1, 141, 141),
    ),
}


def step_time(model: torch.nn.Module, x: torch.Tensor, precision: str, steps: int = 5) -> tuple[float, float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    dtype = torch.bfloat16 if precision == "bf16" else None

    def one() -> float:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(x)
        loss = out.float().square().mean()
        loss.backward()
        opt.step()
        return float(loss)

    one()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = one()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps, loss


def smoke() -> None:
    for label, (name, params, shape) in MODELS.items():
        try:
            torch.manual_seed(0)
            model = specsolve.create("model", name, **params).cuda()
            x = torch.randn(*shape, device="cuda")
            with torch.no_grad():
                ref = model(x).float()
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    low = model(x).float()
            rel = float((low - ref).norm() / ref.norm())
            t32, loss32 = step_time(model, x, "32")
            tbf, _ = step_time(model, x, "bf16")
            n = sum(p.numel() for p in model.parameters())
            print(
                f"[model] {label}: params {n:,}, out {tuple(ref.shape)}, finite {bool(torch.isfinite(ref).all())}, "
                f"bf16-vs-fp32 rel diff {rel:.2e}, train step fp32 {t32 * 1e3:.1f} ms ({shape[0] / t32:.0f} samples/s), "
                f"bf16 {tbf * 1e3:.1f} ms, peak mem {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB",
                flush=True,
            )
        except Exception as exc:  # report and go on
            print(f"[model] {label}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
        torch.cuda.reset_peak_memory_stats()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--darcy-dir", default="data/darcy_s85_fast")
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args()
    print(f"device: {torch.cuda.get_device_name()} torch {torch.__version__}", flush=True)
    smoke()
    for precision in ("32", "bf16"):
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "benchmark_fno.py"),
                "--device",
                "cuda",
                "--steps",
                "20",
                "--precision",
                precision,
            ],
            check=False,
        )
    if (Path(args.darcy_dir) / "train.h5").exists() and args.epochs > 0:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "fno_darcy_paper.py"),
                "--recipe",
                str(ROOT / "datasets" / "darcy_s85_fast.yaml"),
                "--data-dir",
                args.darcy_dir,
                "--epochs",
                str(args.epochs),
                "--accelerator",
                "gpu",
                "--run-dir",
                "/tmp/runs/darcy_gpu",
            ],
            check=False,
        )


if __name__ == "__main__":
    main()

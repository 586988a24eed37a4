"""Forward + backward throughput of the NS-2D operators at the paper configurations (configs/ns2d_*.yaml).

Models are built from the run configs exactly as the trainer builds them (``resolve_model_config`` with the
channel counts the ``hdf5_windows`` data would give: 10 -> 1 folded into channels for FNO / G-FNO, 1 physical
channel with time on its own axis for STFNO), random init, on random 64 x 64 inputs:

- FNO (width 20, modes 12): ``(B, 10, 64, 64) -> (B, 1, 64, 64)``,
- G-FNO-p4 (width 10) and G-FNO-p4m (width 7), modes 12: same shapes,
- STFNO (width 20, modes 12, modes_t 5, 10 -> 40 frames): ``(B, 10, 1, 64, 64) -> (B, 40, 1, 64, 64)``.

One step = forward, relative L2 loss against a random target, backward (no optimizer step). Each row: median over
``--iters`` interleaved rounds (forward, step; then step, forward) after ``--warmup`` untimed calls of each
(:func:`benchmarks.harness.interleaved`); ``fwd ms`` times the forward pass alone (no grad).
``frames/s`` counts predicted frames (STFNO predicts 40 per sample). Devices: CPU, and CUDA when available;
``--bf16`` adds rows under ``torch.autocast(dtype=torch.bfloat16)`` (the spectral layers keep their FFTs in
float32). Usage::

    .venv/bin/python -m benchmarks.ns2d_throughput [--device cpu|cuda|all] [--batch 20] [--iters 3] [--warmup 1]
        [--bf16] [--threads N] [--models fno,gfno_p4,gfno_p4m,st_fno]

CPU figures on the shared 2-core machine depend on its load: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.harness import PeakMemory, command_line, interleaved, set_threads
from specsolve.config import load_config
from specsolve.losses.relative_lp import relative_lp_per_sample
from specsolve.training.module import build_model
from specsolve.training.run import resolve_model_config

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"fno": "FNO", "gfno_p4": "G-FNO-p4", "gfno_p4m": "G-FNO-p4m", "st_fno": "STFNO"}


def build(key: str, resolution: int, batch: int) -> tuple[torch.nn.Module, tuple[int, ...], int]:
    """The model of configs/ns2d_<key>.yaml, its input shape and the number of predicted frames per sample."""
    cfg = load_config(ROOT / "configs" / f"ns2d_{key}.yaml")
    n_in, n_out, layout = int(cfg.data.n_in), int(cfg.data.n_out), cfg.data.layout
    if layout == "channels":
        model_cfg, shape = resolve_model_config(cfg, n_in, n_out), (batch, n_in, resolution, resolution)
    else:
        model_cfg, shape = resolve_model_config(cfg, 1, 1), (batch, n_in, 1, resolution, resolution)
    return build_model(model_cfg), shape, n_out


def time_model(model, shape, device, bf16, warmup, iters) -> tuple[float, float, float | None]:
    """Median seconds of a forward pass and of forward + backward; peak CUDA memory (GiB) or None."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device)
    with torch.no_grad():
        y = torch.randn(model(x[:1]).shape[1:], generator=gen).to(device).expand(shape[0], *([-1] * (len(shape) - 1)))
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)

    def forward() -> None:
        with torch.no_grad(), autocast:
            model(x)

    def step() -> None:
        with autocast:
            loss = relative_lp_per_sample(model(x).float(), y).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    with PeakMemory(device) as peak:
        t = interleaved({"fwd": forward, "step": step}, rounds=iters, warmup=warmup, device=device)
    return t["fwd"].median, t["step"].median, peak.mib / 1024 if device.type == "cuda" else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--bf16", action="store_true", help="also time bf16 autocast")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (0: torch's default; 1 is steadier on the shared machine)",
    )
    p.add_argument("--models", default=",".join(MODELS))
    args = p.parse_args()
    set_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if not devices:
        raise SystemExit("no device to time (CUDA requested but not available)")

    print("command: " + command_line())
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s)"
        + (f", CUDA: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no CUDA")
    )
    print(
        f"{args.resolution}x{args.resolution}, batch {args.batch}, 10 input frames; median of {args.iters} steps "
        f"after {args.warmup} warm-up"
    )
    head = (
        f"{'model':<11}{'params':>11} {'device':<6} {'prec':<5}{'fwd ms':>10}{'fwd+bwd ms':>12}{'samples/s':>11}"
        f"{'frames/s':>10}{'peak GiB':>10}"
    )
    print(head, flush=True)
    for key in [k.strip() for k in args.models.split(",") if k.strip()]:
        torch.manual_seed(0)
        model, shape, n_out = build(key, args.resolution, args.batch)
        n_params = sum(q.numel() for q in model.parameters())
        for device in devices:
            model.to(device).train()
            for bf16 in [False, True] if args.bf16 else [False]:
                fwd, step, peak = time_model(model, shape, device, bf16, args.warmup, args.iters)
                rate = args.batch / step
                print(
                    f"{MODELS[key]:<11}{n_params:>11,} {device.type:<6} {'bf16' if bf16 else 'fp32':<5}"
                    f"{1e3 * fwd:>10.1f}{1e3 * step:>12.1f}{rate:>11.2f}{rate * n_out:>10.1f}"
                    f"{(f'{peak:.2f}' if peak is not None else '-'):>10}",
                    flush=True,
                )
        model.cpu()
    print(
        "fwd+bwd: forward + relative L2 loss + backward (no optimizer step); samples/s = batch / (fwd+bwd time); "
        "frames/s = samples/s x predicted frames per sample (1, STFNO 40)."
    )


if __name__ == "__main__":
    main()

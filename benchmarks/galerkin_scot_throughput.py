"""Training throughput of the Galerkin Transformer and scOT: forward + backward + Adam step, samples/s and ms/step.

Models, built from the run configs (random init, random inputs of the configs' shapes):

- ``galerkin_transformer`` from configs/galerkin_burgers_8192.yaml (1D, n = 8192, batch 4, the paper's batch),
- ``galerkin_transformer`` from configs/galerkin_darcy.yaml (2D, 141 x 141 fine / 43 x 43 coarse, batch 4),
- ``scot_t`` from configs/scot_all2all_t.yaml (128 x 128, 1 in / 1 out, batch 4 here; the config uses 40),
- ``scot`` tiny from configs/scot_all2all_tiny.yaml (32 x 32, batch 32).

Each row: median over ``--steps`` timed steps after ``--warmup`` untimed ones (:func:`benchmarks.harness.interleaved`,
one step per round). Devices: CPU always, CUDA too when
available (``--device``); ``--bf16`` adds rows under ``torch.autocast(dtype=torch.bfloat16)`` (spectral layers keep
their FFTs in float32). Usage::

    .venv/bin/python -m benchmarks.galerkin_scot_throughput [--device cpu|cuda|all] [--steps 3] [--bf16]
        [--threads 1] [--models darcy,tiny] [--out FILE]

(full run: docs/results/galerkin_scot_throughput.txt).

On the shared 2-core machine a CPU step of the big models takes seconds and varies with the load: read CPU
figures as orders of magnitude.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.harness import interleaved, set_threads
from specsolve.config.loading import load_config, to_container
from specsolve.registry import create

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    # label, config, input shape (batch first), time-conditioned
    ("galerkin burgers n=8192", "galerkin_burgers_8192.yaml", (4, 1, 8192), False),
    ("galerkin darcy 141^2/43^2", "galerkin_darcy.yaml", (4, 1, 141, 141), False),
    ("scot_t 128^2", "scot_all2all_t.yaml", (4, 1, 128, 128), True),
    ("scot tiny 32^2", "scot_all2all_tiny.yaml", (32, 1, 32, 32), True),
]


def build(config: str) -> torch.nn.Module:
    cfg = load_config(ROOT / "configs" / config)
    params = {k: v for k, v in to_container(cfg.model).items() if k != "name"}
    return create("model", cfg.model.name, in_channels=1, out_channels=1, **params)


def time_steps(model, shape, conditioned, device, bf16, warmup, steps) -> float:
    """Median seconds of one training step (forward, MSE to a random target, backward, Adam)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device)
    y = torch.randn(shape, generator=gen).to(device)
    t = torch.rand(shape[0], generator=gen).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x, t) if conditioned else model(x)
            loss = (out.float() - y).square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return interleaved({"step": step}, rounds=steps, warmup=warmup, device=device)["step"].median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--bf16", action="store_true", help="also time bf16 autocast")
    parser.add_argument("--models", default=None, help="comma-separated substrings of the labels to run")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads (default 1: on a shared, oversubscribed machine 2 spinning OpenMP threads "
        "made steps up to 15x slower)",
    )
    args = parser.parse_args()
    set_threads(args.threads)

    devices = []
    if args.device in ("cpu", "all"):
        devices.append(torch.device("cpu"))
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    header = f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}" + (
        f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no CUDA"
    )
    lines = [
        header,
        f"{'model':28s} {'params':>11s} {'device':6s} {'prec':5s} {'batch':>5s} {'ms/step':>10s} {'samples/s':>10s}",
    ]
    print("\n".join(lines), flush=True)
    for label, config, shape, conditioned in CASES:
        if args.models and not any(s in label for s in args.models.split(",")):
            continue
        torch.manual_seed(0)
        model = build(config)
        n_params = sum(p.numel() for p in model.parameters())
        for device in devices:
            model.to(device).train()
            for bf16 in [False, True] if args.bf16 else [False]:
                ms = 1e3 * time_steps(model, shape, conditioned, device, bf16, args.warmup, args.steps)
                row = (
                    f"{label:28s} {n_params:11,d} {device.type:6s} {'bf16' if bf16 else 'fp32':5s} "
                    f"{shape[0]:5d} {ms:10.1f} {shape[0] / (ms / 1e3):10.2f}"
                )
                print(row, flush=True)
                lines.append(row)
        model.cpu()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

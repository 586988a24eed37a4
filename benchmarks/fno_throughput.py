"""FNO-2D training and inference throughput (samples/s) on the paper's Darcy configuration.

Usage: python -m benchmarks.fno_throughput [--resolution 85] [--batch 20] [--steps 10] [--rounds 3]
       [--device cpu|cuda] [--threads N] [--precision 32|bf16]
Prints one line per phase: medians over ``--rounds`` interleaved rounds (train, inference, then the other way
round) of ``--steps`` calls each, after two warm-up calls. Random inputs of the Darcy shape; the data pipeline is
not timed.
"""

from __future__ import annotations

import argparse

import torch

import specsolve
from benchmarks.harness import PeakMemory, interleaved, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=85)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (medians reported)")
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--padding", type=int, default=9)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", choices=["32", "bf16"], default="32")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    torch.manual_seed(0)
    model = specsolve.create(
        "model",
        "fno",
        in_channels=1,
        out_channels=1,
        modes=[args.modes, args.modes],
        width=args.width,
        padding=args.padding,
    ).to(args.device)
    x = torch.randn(args.batch, 1, args.resolution, args.resolution, device=args.device)
    y = torch.randn_like(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    loss_fn = specsolve.create("loss", "rel_l2")

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast:
            out = model(x)
        loss_fn(out.float(), y).backward()
        opt.step()

    def infer() -> None:
        with torch.inference_mode(), autocast:
            model(x)

    n_params = sum(p.numel() for p in model.parameters())
    with PeakMemory(args.device) as peak:
        t = interleaved(
            {"train": train_step, "inference": infer},
            rounds=args.rounds,
            steps=args.steps,
            warmup=2,
            device=args.device,
        )
    print(
        f"fno2d s={args.resolution} batch={args.batch} modes={args.modes} width={args.width} params={n_params} "
        f"device={args.device} threads={threads} precision={args.precision}"
    )
    print(f"train: {args.batch / t['train'].median:.1f} samples/s ({t['train'].median * 1e3:.1f} ms/step)")
    print(f"inference: {args.batch / t['inference'].median:.1f} samples/s ({t['inference'].median * 1e3:.1f} ms/batch)")
    print(f"peak memory: {peak.mib:.0f} MiB ({peak.kind})")


if __name__ == "__main__":
    main()

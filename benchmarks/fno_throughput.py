"""FNO-2D training and inference throughput (samples/s) on the paper's Darcy configuration.

Usage: python scripts/benchmark_fno.py [--resolution 85] [--batch 20] [--steps 10] [--device cpu|cuda]
       [--threads N] [--precision 32|bf16]
Prints one line per phase. Random inputs of the Darcy shape; the data pipeline is not timed.
"""

from __future__ import annotations

import argparse
import time

import torch

import specsolve


def timed(fn, steps: int, device: str) -> float:
    fn()  # warm-up
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=85)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--padding", type=int, default=9)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", choices=["32", "bf16"], default="32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
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

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast:
            out = model(x)
        loss = (
            torch.linalg.vector_norm((out.float() - y).flatten(1), dim=1)
            / torch.linalg.vector_norm(y.flatten(1), dim=1)
        ).mean()
        loss.backward()
        opt.step()

    def infer() -> None:
        with torch.inference_mode(), autocast:
            model(x)

    n_params = sum(p.numel() for p in model.parameters())
    t_train = timed(train_step, args.steps, args.device)
    t_infer = timed(infer, args.steps, args.device)
    print(
        f"fno2d s={args.resolution} batch={args.batch} modes={args.modes} width={args.width} params={n_params} "
        f"device={args.device} threads={torch.get_num_threads()} precision={args.precision}"
    )
    print(f"train: {args.batch / t_train:.1f} samples/s ({t_train * 1e3:.1f} ms/step)")
    print(f"inference: {args.batch / t_infer:.1f} samples/s ({t_infer * 1e3:.1f} ms/batch)")
    if args.device == "cuda":
        print(f"peak memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()

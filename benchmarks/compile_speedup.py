"""``model.compile``: training step and inference of eager vs ``torch.compile``-d networks, same process and threads.

Models, from the run configs (random init, random inputs of the configs' shapes and batch sizes):

- ``fno darcy 85^2``: configs/fno_darcy_s85.yaml (FNO-2D, modes 12, width 32, padding 9, batch 20);
- ``galerkin burgers n=2048``: configs/galerkin_burgers_2048.yaml (the Galerkin Transformer, batch 4);
- ``gfno p4 ns 64^2``: configs/ns2d_gfno_p4.yaml (G-FNO p4, 10 input frames, batch 20).

The compiled network is a copy of the eager one compiled in place as ``OperatorModule`` does
(``nn.Module.compile(backend, mode, dynamic=False)``); each side has its own Adam. A training step is forward,
relative L2 to a random target, backward and the Adam step; inference is a forward under ``inference_mode``.
Compilation happens in the first (untimed) call, whose seconds are printed; then the timing harness runs interleaved
rounds (:func:`benchmarks.harness.interleaved`) and prints ``eager / compiled`` ratios (> 1: compile is faster).
Before timing, the compiled forward is checked against the eager one (max abs difference). Usage::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.compile_speedup [--models fno,galerkin] [--rounds 5]
        [--steps 3] [--threads 1] [--backend inductor] [--mode default] [--device cpu|cuda]

(results: docs/results/compile.txt).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.harness import command_line, interleaved, print_ratios, set_threads, sync
from specsolve.config.loading import load_config, to_container
from specsolve.registry import create

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    # label, config, in channels, out channels, input shape (batch first)
    ("fno darcy 85^2", "fno_darcy_s85.yaml", 1, 1, (20, 1, 85, 85)),
    ("galerkin burgers n=2048", "galerkin_burgers_2048.yaml", 1, 1, (4, 1, 2048)),
    ("gfno p4 ns 64^2", "ns2d_gfno_p4.yaml", 10, 1, (20, 10, 64, 64)),
]


def build(config: str, in_channels: int, out_channels: int) -> torch.nn.Module:
    params = to_container(load_config(ROOT / "configs" / config).model)
    name = params.pop("name")
    return create("model", name, in_channels=in_channels, out_channels=out_channels, **params)


def compare(label: str, config: str, cin: int, cout: int, shape: tuple[int, ...], args: argparse.Namespace) -> None:
    """Print the compilation cost, the forward difference and the timings of one model, eager vs compiled."""
    device = torch.device(args.device)
    loss_fn = create("loss", "rel_l2")
    torch.manual_seed(0)
    eager = build(config, cin, cout).to(device).train()
    compiled = copy.deepcopy(eager)
    compiled.compile(backend=args.backend, mode=args.mode, dynamic=False)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen).to(device)
    y = torch.randn((shape[0], cout, *shape[2:]), generator=gen).to(device)
    optimizers = {m: torch.optim.Adam(m.parameters(), lr=1e-4) for m in (eager, compiled)}

    def train_step(model: torch.nn.Module) -> None:
        optimizers[model].zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizers[model].step()

    def infer(model: torch.nn.Module) -> None:
        with torch.inference_mode():
            model(x)

    start = time.perf_counter()
    with torch.no_grad():
        diff = (compiled(x) - eager(x)).abs().max().item()
    sync(device)
    first_infer = time.perf_counter() - start
    start = time.perf_counter()
    train_step(compiled)
    sync(device)
    first_train = time.perf_counter() - start
    n_params = sum(p.numel() for p in eager.parameters())
    print(
        f"\n## {label}: {n_params:,} parameters, input {list(shape)}; compiled vs eager forward max |diff| "
        f"{diff:.2e}; first call (compilation) {first_infer:.1f} s forward, {first_train:.1f} s train step"
    )

    def eager_vs_compiled(step: Callable[[torch.nn.Module], None]) -> dict:
        """Interleaved timings of ``step`` on the eager and on the compiled model."""
        return interleaved(
            {"eager": lambda: step(eager), "compiled": lambda: step(compiled)},
            rounds=args.rounds,
            steps=args.steps,
            warmup=1,
            device=device,
        )

    train = eager_vs_compiled(train_step)
    inference = eager_vs_compiled(infer)
    for phase, timings in (("train step", train), ("inference", inference)):
        for name, t in timings.items():
            print(
                f"{phase:10s} {name:8s} median {1e3 * t.median:9.1f} ms (min {1e3 * t.min:.1f}, max {1e3 * t.max:.1f})"
            )
        print_ratios(timings, "eager", label=f"{phase} speed-up")
    torch._dynamo.reset()


# the dense kernels that inductor hands to the same BLAS / FFT libraries as eager (nothing to fuse)
LIBRARY_OPS = ("mm", "bmm", "addmm", "baddbmm", "_fft_r2c", "_fft_c2r", "_fft_c2c", "convolution")


def profile(label: str, config: str, cin: int, cout: int, shape: tuple[int, ...], args: argparse.Namespace) -> None:
    """Self CPU time of an eager training step by op: the share of BLAS / FFT kernels bounds what fusion can win."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.manual_seed(0)
    model = build(config, cin, cout).train()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen)
    y = torch.randn((shape[0], cout, *shape[2:]), generator=gen)
    loss_fn, optimizer = create("loss", "rel_l2"), torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    rows = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in rows)
    library = sum(t for key, t in rows if key.removeprefix("aten::") in LIBRARY_OPS)
    top = ", ".join(f"{k} {100 * t / total:.0f}%" for k, t in sorted(rows, key=lambda r: -r[1])[:6])
    print(
        f"\n## {label}: BLAS / FFT kernels {100 * library / total:.0f}% of the eager train step's self CPU time; top: {top}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated substrings of the labels to run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="calls per timed block")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--mode", default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--profile", action="store_true", help="instead: the share of GEMM / FFT kernels in the eager train step"
    )
    args = parser.parse_args()
    threads = set_threads(args.threads)
    device = torch.device(args.device)
    print(f"# {command_line()}")
    print(f"# torch {torch.__version__}, device {device}, threads {threads}, backend {args.backend}, mode {args.mode}")
    for case in CASES:
        if args.models and not any(s in case[0] for s in args.models.split(",")):
            continue
        (profile if args.profile else compare)(*case, args)


if __name__ == "__main__":
    main()

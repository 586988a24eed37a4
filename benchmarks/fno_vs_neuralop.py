"""FNO-2D training throughput, specsolve vs neuraloperator 2.0.0, on the paper's Darcy configuration.

Usage: python -m benchmarks.fno_vs_neuralop [--threads N] [--repeats 7] [--steps 4] [--batch 20]
       [--neuralop-path DIR] [--no-check] [--compile]

Configuration (references/operators.md §1.2, §1.4): s = 85 zero-padded on the right to 94, modes 12 (neuralop
``n_modes=(24, 22)``), width 32, 4 Fourier layers, linear lifting, projection 32 -> 128 -> 1, GELU, batch 20,
Adam(1e-3, wd 1e-4), relative-L2 loss; both models have 2,368,001 real parameters. neuralop's model gets the
paper's grid (endpoint included) and one-sided padding of 9, so both compute the same function; the script
checks this by copying our weights into it (with ReLU, since neuralop applies the activation twice per block
when ``use_channel_mlp=False``: gelu(gelu(.)) in the timed GELU runs, a negligible extra elementwise op).

Timing: both models in the same process with the same thread count, interleaved (A B B A ...), ``--repeats``
rounds of ``--steps`` training steps each; medians are printed. FLOPs of one step are counted with
``torch.utils.flop_counter.FlopCounterMode`` (GEMM-type ops forward + backward; FFTs are not counted, so the
figure for neuralop is a lower bound), compared with the sgemm rate of a 2048^3 ``torch.mm``.

neuraloperator is NOT a dependency of specsolve. Install it out of the way, e.g.::

    .venv/bin/pip install --no-deps --target .venv/neuralop-site neuraloperator==2.0.0 tensorly==0.10.0 \\
        tensorly-torch==0.5.0 opt_einsum==3.4.0 zencfg==1.0.0 configmypy==0.2.0 requests urllib3 certifi \\
        charset-normalizer

(``--neuralop-path`` defaults to ``.venv/neuralop-site`` when it exists). Without it only our figures print.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import specsolve
from benchmarks.harness import interleaved, print_ratios, set_threads
from specsolve.models.fno import FNO, grid_features

ROOT = Path(__file__).resolve().parents[1]
PAPER_PARAMS = 2_368_001


def import_neuralop(path: str | None):
    if path:
        sys.path.insert(0, str(Path(path).resolve()))
    try:
        from neuralop.models import FNO as NeuralopFNO
    except ImportError as exc:
        print(
            f"neuraloperator not importable ({exc}); install neuraloperator==2.0.0 (see this script's docstring) "
            "and pass --neuralop-path. Printing specsolve figures only."
        )
        return None
    return NeuralopFNO


class PaperGrid(nn.Module):
    """neuralop positional embedding replaced by the paper's grid (``linspace(0, 1, n)``, endpoint included)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, grid_features(tuple(x.shape[2:]), x.shape[0], x)], dim=1)


class RightPad(nn.Module):
    """neuralop ``domain_padding`` replaced by the paper's one-sided zero padding (85 -> 94)."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad_width = pad

    def pad(self, x: Tensor) -> Tensor:
        return F.pad(x, [0, self.pad_width] * (x.dim() - 2))

    def unpad(self, x: Tensor) -> Tensor:
        return x[(..., *[slice(0, n - self.pad_width) for n in x.shape[2:]])]


def build_neuralop(NeuralopFNO, args: argparse.Namespace, activation: Callable[[Tensor], Tensor]) -> nn.Module:
    model = NeuralopFNO(
        n_modes=(2 * args.modes, 2 * args.modes - 2),
        in_channels=1,
        out_channels=1,
        hidden_channels=args.width,
        n_layers=args.layers,
        lifting_channel_ratio=0,
        projection_channel_ratio=128 / args.width,
        use_channel_mlp=False,
        fno_skip="linear",
        positional_embedding="grid",
        non_linearity=activation,
    )
    model.positional_embedding = PaperGrid()  # same parameter count (2 coordinate channels), paper's endpoint
    model.domain_padding = RightPad(args.padding)
    return model


def real_params(model: nn.Module) -> int:
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


@torch.no_grad()
def copy_weights(ours: FNO, theirs: nn.Module, m: int) -> None:
    """Our weights into neuralop's layout (its spectral weight is fftshifted along the first mode axis)."""
    theirs.lifting.fcs[0].weight.copy_(ours.lift.weight[..., None])
    theirs.lifting.fcs[0].bias.copy_(ours.lift.bias)
    for i, (spec, point) in enumerate(zip(ours.spectral, ours.pointwise)):
        w = torch.complex(spec.weight[..., 0], spec.weight[..., 1])  # (I, O, 2m, m): freqs 0..m-1, -m..-1
        conv = theirs.fno_blocks.convs[i]
        conv.weight.tensor.copy_(torch.roll(w, m, dims=2))  # -> freqs -m..m-1
        conv.bias.copy_(point.linear.bias.view(-1, 1, 1))
        theirs.fno_blocks.fno_skips[i].conv.weight.copy_(point.linear.weight[..., None])
    theirs.projection.fcs[0].weight.copy_(ours.project_hidden.weight[..., None])
    theirs.projection.fcs[0].bias.copy_(ours.project_hidden.bias)
    theirs.projection.fcs[1].weight.copy_(ours.project_out.weight[..., None])
    theirs.projection.fcs[1].bias.copy_(ours.project_out.bias)


def check_same_function(NeuralopFNO, args: argparse.Namespace, x: Tensor) -> float:
    torch.manual_seed(1)
    ours = FNO(1, 1, [args.modes, args.modes], args.width, args.layers, 128, args.padding, activation="relu")
    theirs = build_neuralop(NeuralopFNO, args, F.relu)
    copy_weights(ours, theirs, args.modes)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    return float((a - b).abs().max() / b.abs().max())


def make_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = specsolve.create("loss", "rel_l2")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def count_flops(step: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def sgemm_rate(n: int = 2048, reps: int = 5) -> tuple[float, float]:
    """GFLOP/s of an ``n^3`` fp32 ``torch.mm``: (by wall time, by process CPU time), medians of ``reps``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    wall, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 2 * n**3 / statistics.median(wall) / 1e9, 2 * n**3 / statistics.median(cpu) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=85)
    parser.add_argument("--padding", type=int, default=9)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds (medians reported)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per round")
    default_path = ROOT / ".venv" / "neuralop-site"
    parser.add_argument("--neuralop-path", default=str(default_path) if default_path.exists() else None)
    parser.add_argument("--no-check", action="store_true", help="skip the same-function check")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(ours)")
    args = parser.parse_args()
    set_threads(args.threads)

    NeuralopFNO = import_neuralop(args.neuralop_path)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.resolution, args.resolution)
    y = torch.randn_like(x)

    models: dict[str, nn.Module] = {}
    ours = lambda: FNO(1, 1, [args.modes] * 2, args.width, args.layers, 128, args.padding)  # noqa: E731
    models["specsolve"] = ours()
    if NeuralopFNO is not None:
        models["neuralop"] = build_neuralop(NeuralopFNO, args, F.gelu)
    if args.compile:
        models["specsolve+compile"] = torch.compile(ours())

    print(
        f"FNO-2D Darcy: s={args.resolution} (+{args.padding} padding), modes {args.modes}, width {args.width}, "
        f"{args.layers} layers, batch {args.batch}; torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    for name, model in models.items():
        count = real_params(model)
        flag = "" if count == PAPER_PARAMS or args.modes != 12 or args.width != 32 else f"  (expected {PAPER_PARAMS:,})"
        print(f"  {name}: {count:,} real parameters{flag}")
    if NeuralopFNO is not None and not args.no_check:
        diff = check_same_function(NeuralopFNO, args, x[:2])
        print(f"  same function (ReLU, copied weights): max |ours - neuralop| / max |neuralop| = {diff:.2e}")

    steps = {name: make_step(model, x, y) for name, model in models.items()}
    flops = {name: count_flops(step) for name, step in steps.items()}
    names, load = list(steps), os.getloadavg()
    gemm: list[tuple[float, float]] = []
    timings = interleaved(
        steps, rounds=args.repeats, steps=args.steps, warmup=2, before_round=lambda r: gemm.append(sgemm_rate())
    )  # warm-up: allocator, oneDNN/FFT plans, compile
    sgemm = statistics.median(g[0] for g in gemm)
    sgemm_cpu = statistics.median(g[1] for g in gemm)

    print(
        f"sgemm (2048^3 torch.mm, once per round): {sgemm:.1f} GFLOP/s by wall time, {sgemm_cpu:.1f} GFLOP/s by CPU "
        f"time; load average {load[0]:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"medians of {args.repeats} interleaved rounds of {args.steps} steps; CPU = process CPU time (all threads)")
    for name in names:
        t = timings[name]
        rate, rate_cpu = flops[name] / t.median / 1e9, flops[name] / t.median_cpu / 1e9
        note = " (FFTs not counted)" if name == "neuralop" else ""
        print(
            f"{name:>18}: {args.batch / t.median:7.1f} samples/s  {t.median * 1e3:7.1f} ms/step "
            f"[min {t.min * 1e3:.1f}, max {t.max * 1e3:.1f}]  CPU {t.median_cpu * 1e3:7.1f} ms/step\n"
            f"{'':>20}{flops[name] / 1e9:.2f} GFLOP/step{note}: {rate:.1f} GFLOP/s by wall "
            f"({rate / sgemm:.0%} of sgemm), {rate_cpu:.1f} GFLOP/s by CPU time ({rate_cpu / sgemm_cpu:.0%} of sgemm)"
        )
    if "neuralop" in names:
        print_ratios(timings, "neuralop", label="throughput ratio")


if __name__ == "__main__":
    main()

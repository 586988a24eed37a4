"""Activation memory saved by ``activation_checkpointing`` (scOT-B, ST-FNO, FNO): bytes kept for backward, peak
memory of a forward + backward, and its time, off vs on.

Cases (random init and inputs, float32, training mode):

- ``scot_b 128^2``: the registered ``scot_b`` preset (Poseidon-B: embed 96, depths 8 x 4, 4 in / 4 out channels,
  Poseidon's 128 x 128 training resolution), batch 2;
- ``st_fno ns 64^2``: configs/ns2d_st_fno.yaml (width 20, modes 12 / 5, 10 -> 40 steps), 64 x 64, batch 4;
- ``fno darcy 85^2``: configs/fno_darcy_s85.yaml (width 32, modes 12, padding 9), batch 20.

Measures, per case without and with checkpointing:

- ``saved``: bytes of the distinct storages autograd keeps for the backward pass after the forward
  (:func:`benchmarks.harness.saved_activation_bytes`, parameters excluded): deterministic, on any device;
- ``peak``: on CUDA ``torch.cuda.max_memory_allocated`` of forward + backward, minus what was allocated before;
  on CPU the peak RSS of a fresh child process during forward + backward, minus its RSS before. The child runs
  with ``MALLOC_MMAP_THRESHOLD_=65536``: glibc then maps every block above 64 KiB on its own and returns it on
  free, so RSS follows the live tensors (with glibc's default, a threshold that grows after the first frees, freed
  activations stay in the heap and a run's peak RSS depends on its allocation history, not on what is alive);
- ``time``: median seconds of a forward + backward over interleaved rounds in this process (default allocator;
  the cost of checkpointing: one more forward of the blocks).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.activation_memory [--models scot,st_fno,fno] [--threads 1]
        [--device cpu|cuda]

(results: docs/results/activation_checkpointing.txt).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from benchmarks.harness import command_line, interleaved, run_child, saved_activation_bytes, set_threads
from specsolve.config.loading import load_config, to_container
from specsolve.registry import create

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    # label: (model name or config, model overrides, input shape, time-conditioned)
    "scot_b 128^2": ("scot_b", {"in_channels": 4, "out_channels": 4}, (2, 4, 128, 128), True),
    "st_fno ns 64^2": ("ns2d_st_fno.yaml", {"in_channels": 1, "out_channels": 1}, (4, 10, 1, 64, 64), False),
    "fno darcy 85^2": ("fno_darcy_s85.yaml", {"in_channels": 1, "out_channels": 1}, (20, 1, 85, 85), False),
}


def build(label: str, checkpointing: bool) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """The model of a case (seeded) and its inputs ``(x,)`` or ``(x, t)``."""
    source, overrides, shape, timed = CASES[label]
    if source.endswith(".yaml"):
        params = to_container(load_config(ROOT / "configs" / source).model)
        source = params.pop("name")
    else:
        params = {}
    torch.manual_seed(0)
    model = create("model", source, **params, **overrides, activation_checkpointing=checkpointing).train()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen)
    return model, (x, torch.rand(shape[0], generator=gen)) if timed else (x,)


def forward_backward(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
    model.zero_grad(set_to_none=True)
    model(*inputs).square().mean().backward()


def high_water_mib() -> float:
    """Peak RSS of this process's address space (``VmHWM``), MiB. Not ``ru_maxrss``: Linux carries that over
    ``fork`` + ``exec`` from the parent, so a child started by a large parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def peak_mib(label: str, checkpointing: bool, device: str) -> float:
    """Peak memory of one forward + backward of the case, MiB above the state before it, in this process."""
    model, inputs = build(label, checkpointing)
    model.to(device)
    inputs = tuple(i.to(device) for i in inputs)
    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        forward_backward(model, inputs)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = rss_mib()
    forward_backward(model, inputs)
    return high_water_mib() - before


def saved_and_seconds(label: str, device: str, rounds: int) -> tuple[dict[bool, float], dict[bool, float], int]:
    """MiB autograd keeps for backward (off, on), median seconds of forward + backward in interleaved rounds (off,
    on; one model, the flag toggled) and the parameter count."""
    model, inputs = build(label, False)
    model.to(device)
    inputs = tuple(i.to(device) for i in inputs)
    saved = {}
    for on in (False, True):
        model.activation_checkpointing = on
        saved[on] = saved_activation_bytes(lambda: model(*inputs), exclude=list(model.parameters())) / 2**20

    def run(on: bool) -> None:
        model.activation_checkpointing = on
        forward_backward(model, inputs)

    timings = interleaved({False: lambda: run(False), True: lambda: run(True)}, rounds=rounds, warmup=1, device=device)
    return saved, {on: t.median for on, t in timings.items()}, sum(p.numel() for p in model.parameters())


CHILD = (
    "import sys, torch\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from benchmarks.activation_memory import peak_mib\n"
    "torch.set_num_threads(int(sys.argv[4]))\n"
    "child_report(peak_mib=peak_mib(sys.argv[2], sys.argv[3] == 'on', 'cpu'))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated substrings of the case labels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"  # read by the children's glibc at start (see the docstring)
    print(f"# {command_line()}")
    print(f"# torch {torch.__version__}, device {args.device}, threads {threads}, float32, training mode")
    print(f"{'case':16s} {'ckpt':4s} {'params':>12s} {'saved MiB':>10s} {'peak MiB':>9s} {'fwd+bwd s':>9s}")
    for label in CASES:
        if args.models and not any(s in label for s in args.models.split(",")):
            continue
        peak = {}
        for on in (False, True):  # first, in children, while this process is still small
            if args.device == "cuda":
                peak[on] = peak_mib(label, on, "cuda")
            else:
                peak[on] = run_child(CHILD, [str(ROOT), label, "on" if on else "off", str(threads)])["peak_mib"]
        saved, seconds, n_params = saved_and_seconds(label, args.device, args.rounds)
        for on in (False, True):
            print(
                f"{label:16s} {'on' if on else 'off':4s} {n_params:12,d} {saved[on]:10.1f} {peak[on]:9.1f} "
                f"{seconds[on]:9.2f}",
                flush=True,
            )
        print(
            f"{label}: saved bytes off/on {saved[False] / saved[True]:.2f}x, peak off/on {peak[False] / peak[True]:.2f}x, "
            f"time on/off {seconds[True] / seconds[False]:.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()

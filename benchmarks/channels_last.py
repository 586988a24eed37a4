"""Does ``channels_last`` pay? Training step of FNO-2D (Darcy) and scOT-T with NCHW vs channels-last tensors.

``channels_last`` here means what a user of the peers would do: the 4-D weights (``Conv2d`` kernels; FNO has none, its
spectral weights are 5-D) in channels-last strides, as ``model.to(memory_format=torch.channels_last)`` would make them
(it refuses models with 5-D weights), and the input batch in channels-last strides.
FNO-2D has no ``Conv2d``: its channel mixing is ``bmm`` over contiguous ``(C, H W)`` slabs and its spectral
convolution DFT GEMMs / FFTs over the spatial axes, so a channels-last input is first copied back. scOT's tokens
are ``(B, H, W, C)`` already and its convolutions (patch embedding / recovery, ConvNeXt's depth-wise 7x7) see
channels-last strided views either way. Each case: interleaved rounds (:func:`benchmarks.harness.interleaved`),
forward + relative L2 + backward + Adam, ratio ``NCHW / channels_last`` (> 1: channels-last is faster). Usage::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.channels_last [--rounds 5] [--steps 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy

import torch

from benchmarks.harness import command_line, interleaved, print_ratios, set_threads
from specsolve.registry import create

CASES = {
    # label: (model name, parameters, input shape, time-conditioned)
    "fno darcy 85^2": ("fno", {"modes": [12, 12], "width": 32, "padding": 9}, (20, 1, 85, 85), False),
    "scot_t 128^2": ("scot_t", {}, (2, 4, 128, 128), True),
}


def compare(label: str, rounds: int, steps: int) -> None:
    name, params, shape, timed = CASES[label]
    torch.manual_seed(0)
    nchw = create("model", name, in_channels=shape[1], out_channels=shape[1], **params).train()
    last = copy.deepcopy(nchw)
    with torch.no_grad():  # Module.to(memory_format=...) refuses modules with 5-D weights (the spectral convs)
        for param in last.parameters():
            if param.dim() == 4:
                param.set_(param.contiguous(memory_format=torch.channels_last))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen)
    y = torch.randn(shape, generator=gen)
    extra = (torch.rand(shape[0], generator=gen),) if timed else ()
    x_last = x.contiguous(memory_format=torch.channels_last)
    loss = create("loss", "rel_l2")
    optimizers = {m: torch.optim.Adam(m.parameters(), lr=1e-4) for m in (nchw, last)}

    def step(model: torch.nn.Module, inp: torch.Tensor) -> None:
        optimizers[model].zero_grad(set_to_none=True)
        loss(model(inp, *extra), y).backward()
        optimizers[model].step()

    with torch.no_grad():
        diff = (nchw(x, *extra) - last(x_last, *extra)).abs().max().item()
    print(f"\n## {label}: input {list(shape)}, max |diff| of the outputs {diff:.2e}")
    timings = interleaved(
        {"nchw": lambda: step(nchw, x), "channels_last": lambda: step(last, x_last)}, rounds=rounds, steps=steps
    )
    for key, t in timings.items():
        print(f"train step {key:13s} median {1e3 * t.median:9.1f} ms (min {1e3 * t.min:.1f}, max {1e3 * t.max:.1f})")
    print_ratios(timings, "nchw", label="train step speed-up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default=None, help="comma-separated substrings of the case labels")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    print(f"# {command_line()}")
    print(f"# torch {torch.__version__}, CPU threads {threads}, float32")
    for label in CASES:
        if not args.models or any(s in label for s in args.models.split(",")):
            compare(label, args.rounds, args.steps)


if __name__ == "__main__":
    main()

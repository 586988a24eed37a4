"""Time the NS generator per step and extrapolate the cost of 1000 samples (ν = 1e-3, T = 50, 64² output).

Usage: ``python -m benchmarks.ns_generation_cost [--threads 1] [--batch 50] [--steps 20] [--repeats 3]``. Prints, for
each (solve grid, scheme, dtype, dt), the measured CPU ms per batched step (min over ``--repeats`` rounds of
``--steps`` steps, :func:`benchmarks.harness.interleaved`; wall time alongside), µs per sample-step, and the
extrapolated single-process time for 1000 samples (T / dt steps each). The GRF draw and HDF5 writing are negligible
next to it.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np
import torch

from benchmarks.harness import interleaved, set_threads
from specsolve.data.generators.navier_stokes import VorticitySolver, fno_forcing
from specsolve.data.generators.periodic import fno_grf_2d
from specsolve.data.grf import sample_rng

CASES = [  # (solve grid, scheme, dtype, dt): the FNO recipe, then cheaper variants
    (256, "fno_euler", torch.float32, 1e-4),
    (256, "fno_euler", torch.float64, 1e-4),
    (256, "cn_ab2", torch.float32, 1e-3),
    (128, "cn_ab2", torch.float32, 2.5e-3),
    (64, "fno_euler", torch.float32, 1e-4),
    (64, "cn_ab2", torch.float64, 1e-2),
    (64, "cn_ab2", torch.float32, 1e-2),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--final-time", type=float, default=50.0)
    args = parser.parse_args()
    set_threads(args.threads)
    print(f"threads={args.threads} batch={args.batch} timed steps={args.steps}")
    for n, scheme, dtype, dt in CASES:
        w0 = torch.from_numpy(np.stack([fno_grf_2d(sample_rng(0, i), n) for i in range(args.batch)]))
        solver = VorticitySolver(n, 1e-3, dt, fno_forcing(n), scheme, dtype=dtype)
        solver.run(w0, 1, 2, False)  # warm-up
        run = functools.partial(solver.run, w0, 1, args.steps, False)
        t = interleaved({"run": run}, rounds=args.repeats, warmup=0)["run"]
        cpu, wall = [c / args.steps for c in t.cpu], [w / args.steps for w in t.wall]
        per_step = min(cpu)  # CPU time of this process: robust to other jobs sharing the cores
        total = per_step * (args.final_time / dt) * args.samples / args.batch
        print(
            f"{n:4d}^2 {scheme:9s} {str(dtype).split('.')[-1]:7s} dt={dt:<7g} {per_step * 1e3:8.2f} ms/step (cpu; "
            f"wall {min(wall) * 1e3:.2f}) {per_step / args.batch * 1e6:8.1f} us/sample-step -> {args.samples} "
            f"samples: {total / 3600:9.2f} h",
            flush=True,
        )


if __name__ == "__main__":
    main()

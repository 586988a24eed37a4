"""Temporal error of the NS schemes on FNO-distributed data (ν = 1e-3, 64² solve, T = 10 by default).

Usage: ``python scripts/ns_time_error.py [--n 64] [--final-time 10] [--samples 2]``. The reference is ``cn_ab2`` with
``dt = 2.5e-4``; prints the relative L2 error at T of each (scheme, dt) (references/data.md §3 measured 3.1e-5,
2.0e-4, 4.0e-4, 8.1e-4 for the FNO scheme at dt = 1e-3, 5e-3, 1e-2, 2e-2).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from specsolve.data.generators.navier_stokes import VorticitySolver, fno_forcing
from specsolve.data.generators.periodic import fno_grf_2d
from specsolve.data.grf import sample_rng


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--final-time", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--viscosity", type=float, default=1e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, T = args.n, args.final_time
    w0 = torch.from_numpy(np.stack([fno_grf_2d(sample_rng(0, i), n) for i in range(args.samples)]))

    def solve(scheme: str, dt: float) -> torch.Tensor:
        steps = int(round(T / dt))
        return VorticitySolver(n, args.viscosity, dt, fno_forcing(n), scheme).run(w0, 1, steps, False)[:, -1]

    ref = solve("cn_ab2", 2.5e-4)
    for scheme in ("fno_euler", "cn_ab2"):
        for dt in (2e-2, 1e-2, 5e-3, 1e-3):
            err = ((solve(scheme, dt) - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)).mean()
            print(f"{scheme:9s} dt={dt:<6g} rel L2 at T={T:g}: {float(err):.2e}", flush=True)


if __name__ == "__main__":
    main()

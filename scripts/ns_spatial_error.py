"""Spatial error of NS data solved on a coarse grid, against a 256² solve (ν = 1e-3, T = 50 by default).

Usage: ``python scripts/ns_spatial_error.py [--samples 2] [--final-time 50] [--dt 5e-3] [--viscosity 1e-3]``.
The same initial vorticity (drawn on the 256² grid, FNO's recipe) is restricted spectrally to 64² and 128²
(Fourier truncation, so the coarse runs start from the band-limited part of the same field), each grid is solved
with ``cn_ab2`` at the same ``dt``, and the relative L2 difference on the 64² output grid (stride subsampling) is
printed for each output time in ``--report`` (references/data.md §2: "the main open question for NS fidelity").
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from specsolve.data.generators.navier_stokes import VorticitySolver, fno_forcing
from specsolve.data.generators.periodic import fno_grf_2d
from specsolve.data.grf import sample_rng


def truncate(w: np.ndarray, n: int) -> np.ndarray:
    """Keep the Fourier modes |k_x|, |k_y| < n/2 of ``w`` (B, N, N) and evaluate on the n x n grid."""
    big = w.shape[-1]
    coef = np.fft.fft2(w)
    k = np.fft.fftfreq(big, 1.0 / big)
    keep = np.abs(k) < n // 2
    small = coef[:, keep][:, :, keep] * (n / big) ** 2
    k_small = k[keep].astype(int) % n
    out = np.zeros(w.shape[:-2] + (n, n), dtype=complex)
    out[:, k_small[:, None], k_small[None, :]] = small
    return np.fft.ifft2(out).real


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--final-time", type=float, default=50.0)
    parser.add_argument("--dt", type=float, default=5e-3)
    parser.add_argument("--viscosity", type=float, default=1e-3)
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    w256 = np.stack([fno_grf_2d(sample_rng(0, i), 256) for i in range(args.samples)])
    steps = int(round(args.final_time / args.frames / args.dt))
    results = {}
    for n in (256, 128, 64):
        w0 = torch.from_numpy(truncate(w256, n) if n < 256 else w256)
        solver = VorticitySolver(n, args.viscosity, args.dt, fno_forcing(n), "cn_ab2")
        results[n] = solver.run(w0, args.frames, steps, False, stride=n // 64).numpy()  # (B, frames, 64, 64)
        print(f"solved {n}^2", flush=True)
    ref = results[256]
    times = [(k + 1) * args.final_time / args.frames for k in range(args.frames)]
    for n in (128, 64):
        err = np.linalg.norm((results[n] - ref).reshape(*ref.shape[:2], -1), axis=-1) / np.linalg.norm(
            ref.reshape(*ref.shape[:2], -1), axis=-1
        )
        print(f"{n}^2 vs 256^2 (on 64^2), rel L2 at t = {times}: " + ", ".join(f"{e:.2e}" for e in err.mean(0)))


if __name__ == "__main__":
    main()

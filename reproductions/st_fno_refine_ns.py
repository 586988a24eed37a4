"""Spectral-Refiner at CPU scale: train the spatiotemporal FNO (``st_fno``) on coarse Navier–Stokes data, then refine its
enlarged output layer on the fine grid with the H^{-1} norm of the vorticity residual, with no solution data.

    .venv/bin/python -m reproductions.st_fno_refine_ns            # ~10 min on a quiet 2-core machine
    .venv/bin/python -m reproductions.st_fno_refine_ns --quick    # ~2 min

Data: the ``navier_stokes`` generator (FNO forcing and GRF, nu = 1e-3, CN-AB2 with dt = 5e-3 on the fine grid, float64),
frames every ``--frame-dt`` time units after a ``--warmup``. Training: ``--n-train`` trajectories subsampled to the coarse
grid (stride 2), ``T_in`` frames in -> ``T_out`` frames out, relative L2, Adam + OneCycle. Refinement (Spectral-
Refiner's second stage, :func:`specsolve.training.spectral_refinement.spectral_refine`): for each test trajectory on the
fine grid, the output layer is enlarged to all fine-grid modes and trained for ``--refine-steps`` Adam steps on the
``L^2(0,T;H^{-1})`` norm of the Crank–Nicolson residual of its own prediction. Printed: relative L2 to the ground
truth and the residual norm before / after refinement, next to the residual norm of the ground truth (the floor set
by the time discretisation of the frames).
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import numpy as np
import torch

from reproductions.report import run
from specsolve.data.generators.navier_stokes import NavierStokesGenerator
from specsolve.nn.norms import relative_lp_per_sample
from specsolve.registry import create
from specsolve.training.spectral_refinement import VorticityResidual, residual_norm, spectral_refine

print = functools.partial(print, flush=True)  # noqa: A001  (progress shows up when piped)


def trajectories(n: int, count: int, seed: int, frames: int, frame_dt: float, warmup: float) -> torch.Tensor:
    """``(count, frames, n, n)`` vorticity frames ``frame_dt`` apart, starting after ``warmup``."""
    steps = int(round((warmup + (frames - 1) * frame_dt) / frame_dt))
    gen = NavierStokesGenerator(
        resolution=n,
        viscosity=1e-3,
        final_time=steps * frame_dt,
        record_steps=steps,
        dt=5e-3,
        scheme="cn_ab2",
        store_dtype="float64",
    )
    w = gen.generate(np.arange(count), seed)["u"]  # (count, steps + 1, n, n), initial frame included
    return torch.from_numpy(np.asarray(w, dtype=np.float64))[:, -frames:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="fine grid (training uses n/2)")
    parser.add_argument("--n-train", type=int, default=48)
    parser.add_argument("--n-test", type=int, default=4)
    parser.add_argument("--t-in", type=int, default=10)
    parser.add_argument("--t-out", type=int, default=10)
    parser.add_argument("--frame-dt", type=float, default=0.1)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--refine-steps", type=int, default=50)
    parser.add_argument("--lr-weight", type=float, default=3e-3)
    parser.add_argument("--quick", action="store_true", help="n=32, 24 training trajectories, 15 epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", help="load the trained model from this file if it exists, else save it there")
    args = parser.parse_args()
    if args.quick:
        args.n, args.n_train, args.epochs, args.refine_steps = 32, 24, 15, 30
    torch.set_num_threads(args.threads)
    frames = args.t_in + args.t_out

    t0 = time.perf_counter()
    train = trajectories(args.n, args.n_train, 0, frames, args.frame_dt, args.warmup)[..., ::2, ::2].float()
    test = trajectories(args.n, args.n_test, 1, frames, args.frame_dt, args.warmup)
    print(
        f"data: {args.n_train} train trajectories at {args.n // 2}^2, {args.n_test} test at {args.n}^2, "
        f"{frames} frames dt={args.frame_dt} ({time.perf_counter() - t0:.0f} s)"
    )

    torch.manual_seed(0)
    model = create(
        "model",
        "st_fno",
        in_channels=1,
        out_channels=1,
        modes=8,
        modes_t=4,
        width=10,
        latent_steps=args.t_in,
        out_steps=args.t_out,
        num_spectral_layers=4,
    )
    if args.model and Path(args.model).exists():
        model.load_state_dict(torch.load(args.model, weights_only=True))
        args.epochs = 0
        print(f"model loaded from {args.model}")
    x, y = train[:, : args.t_in, None], train[:, args.t_in :, None]
    batch = 4
    steps = max(1, args.epochs * ((len(x) + batch - 1) // batch))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            loss = relative_lp_per_sample(model(x[idx]), y[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if epoch % max(1, args.epochs // 5) == 0 or epoch == args.epochs - 1:
            print(f"  epoch {epoch:3d}  train rel L2 {total / len(x):.4f}")
    print(f"training: {time.perf_counter() - t0:.0f} s, {sum(p.numel() for p in model.parameters()):,} parameters")
    if args.model and args.epochs:
        torch.save(model.state_dict(), args.model)

    model = model.double().eval()
    residual = VorticityResidual(1e-3, args.frame_dt, forcing="fno", scheme="crank_nicolson")
    window, truth = test[:, : args.t_in, None], test[:, args.t_in :, None]
    with torch.no_grad():
        coarse_window = window[..., ::2, ::2]
        err_coarse = relative_lp_per_sample(model(coarse_window), truth[..., ::2, ::2])
        pred = model(window)  # zero-shot on the fine grid
        err_before = relative_lp_per_sample(pred, truth)
        res_truth = residual_norm(residual(test[:, args.t_in - 1 :]), args.frame_dt)
        res_before = residual_norm(residual(torch.cat([window[:, -1:, 0], pred[:, :, 0]], 1)), args.frame_dt)
    print(f"\ntest relative L2 at the training grid {args.n // 2}^2: {err_coarse.mean():.4e}")
    rows = []
    t0 = time.perf_counter()
    for i in range(args.n_test):
        refined, info = spectral_refine(
            model, window[i : i + 1], residual, steps=args.refine_steps, lr_weight=args.lr_weight
        )
        with torch.no_grad():
            err_after = relative_lp_per_sample(refined(window[i : i + 1]), truth[i : i + 1]).item()
        rows.append((i, err_before[i].item(), err_after, res_before[i].item(), info["after"], res_truth[i].item()))
    seconds = (time.perf_counter() - t0) / args.n_test
    print(f"\nrefinement on the {args.n}^2 grid ({args.refine_steps} Adam steps, {seconds:.1f} s per trajectory):")
    print("| test trajectory | rel L2 before | rel L2 after | H^-1 residual before | after | ground truth's |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]:.4e} | {row[2]:.4e} | {row[3]:.4e} | {row[4]:.4e} | {row[5]:.4e} |")
    mean = np.mean(np.array(rows)[:, 1:], axis=0)
    print(f"| mean | {mean[0]:.4e} | {mean[1]:.4e} | {mean[2]:.4e} | {mean[3]:.4e} | {mean[4]:.4e} |")


if __name__ == "__main__":
    run(main, "sfno_refine.txt")

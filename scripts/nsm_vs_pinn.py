"""Small CPU comparison of self-supervised training with the NSM spectral residual vs the PINN grid residual.

Problem: NSM's periodic Poisson ``-lap u = s`` on ``[0, 1)^2`` (``specsolve.pde.get_pde("poisson")``). Sources: a
mean-free random field with Gaussian spectrum ``exp(-|k|^2 / (2 * 3^2))`` (a stand-in for NSM's periodic-kernel GRF,
not its exact sampler); reference solutions by exact Fourier division. Model: the registered ``fno`` (same size for
both), output made mean-free (the periodic Poisson gauge; NSM subtracts ``u(0)`` instead). Both losses see only the
source, never a solution. Reported: relative L2 on held-out sources (at the training grid) and time per step.

    .venv/bin/python scripts/nsm_vs_pinn.py --steps 300
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from specsolve.losses.nsm_residual import NSMResidualLoss
from specsolve.losses.pinn_residual import PINNResidualLoss
from specsolve.registry import create


def sources(n_samples: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-free smooth periodic sources ``(N, 1, n, n)`` and the exact solutions of ``-lap u = s``."""
    g = torch.Generator().manual_seed(seed)
    k = torch.fft.fftfreq(n, 1.0 / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    s_hat = torch.fft.fft2(torch.randn(n_samples, 1, n, n, generator=g)) * torch.exp(-k2 / (2 * 3.0**2))
    s_hat[..., 0, 0] = 0
    s = torch.fft.ifft2(s_hat).real
    s = s / s.flatten(1).std(1).reshape(-1, 1, 1, 1)
    u_hat = torch.fft.fft2(s) / torch.where(k2 == 0, 1.0, 4 * math.pi**2 * k2)
    u_hat[..., 0, 0] = 0
    return s, torch.fft.ifft2(u_hat).real


def fd_floor(n: int) -> float:
    """Relative L2 error of the exact minimiser of the PINN (5-point FD) residual: the PINN discretisation floor.

    The periodic 5-point Laplacian is diagonal in Fourier space with symbol ``(4 / h^2) sum_j sin^2(pi k_j / n)``.
    (The NSM residual's minimiser is the exact solution: floor 0 for these band-limited sources.)"""
    s, u = sources(64, n, seed=2)
    k = torch.fft.fftfreq(n, 1.0 / n)
    sym = 4 * n**2 * (torch.sin(math.pi * k[:, None] / n) ** 2 + torch.sin(math.pi * k[None, :] / n) ** 2)
    u_hat = torch.fft.fft2(s) / torch.where(sym == 0, 1.0, sym)
    u_hat[..., 0, 0] = 0
    err = torch.fft.ifft2(u_hat).real - u
    return (err.flatten(1).norm(dim=1) / u.flatten(1).norm(dim=1)).mean().item()


def train(loss_name: str, steps: int, n: int, batch: int, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    model = create("model", "fno", in_channels=1, out_channels=1, modes=[8, 8], width=16, layers=4, projection_hidden=64)
    loss_fn = NSMResidualLoss(pde="poisson") if loss_name == "nsm" else PINNResidualLoss(pde="poisson", method="fd")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    s_train, _ = sources(512, n, seed=1)
    s_test, u_test = sources(64, n, seed=2)

    def predict(s: torch.Tensor) -> torch.Tensor:
        u = model(s)
        return u - u.mean(dim=(-2, -1), keepdim=True)

    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, s_train.shape[0], (batch,), generator=g)
        s = s_train[idx]
        loss = loss_fn(predict(s), inputs=s)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    per_step = (time.perf_counter() - start) / steps
    with torch.no_grad():
        err = predict(s_test) - u_test
        rel = (err.flatten(1).norm(dim=1) / u_test.flatten(1).norm(dim=1)).mean().item()
    return {"loss": loss.item(), "rel_l2": rel, "ms_per_step": 1e3 * per_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"periodic Poisson, grid {args.n}^2, FNO(modes 8, width 16, 4 layers), {args.steps} Adam steps, batch {args.batch}")
    print(f"PINN discretisation floor (exact minimiser of the FD residual): rel L2 {fd_floor(args.n):.3e}")
    print(f"{'loss':<14}{'final loss':>12}{'test rel L2':>14}{'ms/step':>10}")
    for name in ("nsm", "pinn"):
        r = train(name, args.steps, args.n, args.batch, args.seed)
        print(f"{name + '_residual':<14}{r['loss']:>12.3e}{r['rel_l2']:>14.3e}{r['ms_per_step']:>10.1f}")


if __name__ == "__main__":
    main()

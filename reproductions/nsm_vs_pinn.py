"""Small CPU comparison of self-supervised training with the NSM spectral residual vs the PINN grid residual.

Both losses train the SAME model for the SAME number of Adam steps from the PDE spec alone (the model sees the
source / initial condition, never a solution); reported: relative L2 against reference solutions on held-out inputs,
and the time per training step, measured in a separate quiet pass (single-threaded, a few warm-up steps, then the
median of timed steps) so that the two columns are comparable.

1. Periodic Poisson ``-lap u = s`` on ``[0, 1)^2`` (NSM's periodic Poisson, ``get_pde("poisson")``). Sources: a
   mean-free random field with Gaussian spectrum ``exp(-|k|^2 / (2 * 3^2))`` (a stand-in for NSM's periodic-kernel
   GRF, not its exact sampler); references by exact Fourier division. Model: the registered ``fno`` (modes 8,
   width 16, 4 layers) on a 32^2 grid, output made mean-free (the periodic gauge; NSM subtracts ``u(0)``). Also
   printed: the PINN discretisation floor (error of the exact minimiser of the 5-point FD residual).

2. NSM reaction-diffusion ``u_t - nu u_xx = rho u (1 - u)``, ``rho = 5``, ``nu = 0.01`` (``get_pde(
   "reaction_diffusion")``; NSM also runs nu = 0.005, 0.05, 0.1), x in [0, 1) periodic, t in [0, 1]. Inputs: NSM's
   initial conditions (periodic-kernel GP, length 0.2, on 64 points, min-max normalised to [0, 1]; the
   ``reaction_diffusion`` generator's sampler). Model: ``u(t, x) = u0(x) + scale * t * FNO(u0, t)(t, x)``: the
   initial condition is built in as NSM's mollifier does (NSM: scale 1e-3 on a coefficient-space FNO; here 1 on a
   grid FNO), x-periodicity by the Fourier grid, so both losses are pure residuals (``ic_weight = bc_weight = 0``).
   The FNO (2-D over (t, x), modes 8 x 16, width 16, 4 layers) takes ``u0`` broadcast in time and the physical
   ``t`` as two input channels.
   - NSM: NSM's grid, 32 Chebyshev-Lobatto times x 64 Fourier points (NSM: "modes 32 64"), residual in
     Chebyshev x Fourier coefficient space (``nsm_residual``, products de-aliased by NSM's ``n1 + n2`` padding);
     the prediction is evaluated off-grid through its Chebyshev interpolant in time.
   - PINN: the same model on a uniform 65 x 64 (t, x) grid (NSM's smallest "FNO+PINN" grid is 64), second-order
     finite differences (``pinn_residual``, ``method="fd"``).
   References: the generator's Lie splitting (exact logistic + exact FFT diffusion steps, 4096 points,
   dt = 1/4096, NSM's reference solver), compared on the 65 x 64 grid t = k/64, x = j/64. With ``--rd-floor N``
   the script also prints each loss's discretisation floor: the error of the exact minimiser of the loss over all
   grid values (Gauss-Newton, float64, N test samples), i.e. what perfect training would reach on that grid.

Usage (the defaults: ~4 minutes on one quiet CPU core, ~10 on a loaded machine; see docs/results/nsm_vs_pinn.txt)::

    .venv/bin/python -m reproductions.nsm_vs_pinn
    .venv/bin/python -m reproductions.nsm_vs_pinn --only rd --rd-steps 0 --rd-floor 2     # floors only (slow: 10-20 min)
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from reproductions.report import run
from specsolve.data.generators.reaction_diffusion import ReactionDiffusionGenerator
from specsolve.data.grf import sample_rng
from specsolve.losses.nsm_residual import NSMResidualLoss
from specsolve.losses.pinn_residual import PINNResidualLoss
from specsolve.nn.norms import relative_lp_per_sample
from specsolve.pde import get_pde
from specsolve.pde.spectral import cheb_transform
from specsolve.registry import create


def time_steps(step: Callable[[], object], warmup: int, timed: int) -> tuple[float, float]:
    """Median wall time and median CPU time (``time.thread_time``) of one training step in ms, single-threaded
    (threads restored afterwards). On a shared machine the CPU time is the robust number."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(warmup):
            step()
        wall, cpu = [], []
        for _ in range(timed):
            w0, c0 = time.perf_counter(), time.thread_time()
            step()
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
    finally:
        torch.set_num_threads(threads)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def make_step(
    model: nn.Module, loss_fn: Callable[[nn.Module], Tensor], opt: torch.optim.Optimizer
) -> Callable[[], Tensor]:
    def step() -> Tensor:
        loss = loss_fn(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step


def train_cosine(
    model: nn.Module, loss_fn: Callable[[nn.Module], Tensor], lr: float, steps: int
) -> tuple[Tensor, float]:
    """``steps`` Adam steps (learning rate ``lr``, cosine-annealed to 0); the last loss and the wall time in s."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    step = make_step(model, loss_fn, opt)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
        sched.step()
    return loss, time.perf_counter() - t0


def time_adam_steps(
    model: nn.Module, loss_fn: Callable[[nn.Module], Tensor], lr: float, timed: int
) -> tuple[float, float]:
    """:func:`time_steps` (3 warm-up steps) of plain Adam steps at learning rate ``lr``."""
    return time_steps(make_step(model, loss_fn, torch.optim.Adam(model.parameters(), lr=lr)), 3, timed)


# ============================================================================================ periodic Poisson
def sources(n_samples: int, n: int, seed: int) -> tuple[Tensor, Tensor]:
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


class MeanFree(nn.Module):
    """``u - mean(u)``: the periodic Poisson gauge."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, s: Tensor) -> Tensor:
        u = self.model(s)
        return u - u.mean(dim=(-2, -1), keepdim=True)


def poisson_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    fno = create("model", "fno", in_channels=1, out_channels=1, modes=[8, 8], width=16, layers=4, projection_hidden=64)
    return MeanFree(fno)


def poisson_run(loss_name: str, args: argparse.Namespace) -> dict[str, float]:
    n, batch, steps = args.poisson_n, args.batch, args.poisson_steps
    loss_mod = NSMResidualLoss(pde="poisson") if loss_name == "nsm" else PINNResidualLoss(pde="poisson", method="fd")
    s_train, _ = sources(512, n, seed=1)
    s_test, u_test = sources(64, n, seed=2)
    g = torch.Generator().manual_seed(args.seed)

    def batch_loss(model: nn.Module) -> Tensor:
        s = s_train[torch.randint(0, s_train.shape[0], (batch,), generator=g)]
        return loss_mod(model(s), inputs=s)

    model = poisson_model(args.seed)
    loss, train_s = train_cosine(model, batch_loss, 1e-3, steps)
    with torch.no_grad():
        rel = relative_lp_per_sample(model(s_test), u_test).mean().item()
    # quiet timing pass on a fresh copy (same shapes, no scheduler, no evaluation)
    model_t = poisson_model(args.seed)
    wall, cpu = time_adam_steps(model_t, batch_loss, 1e-3, args.timed_steps)
    grid = f"{n}x{n} uniform"
    return {"loss": loss.item(), "rel_l2": rel, "wall_ms": wall, "cpu_ms": cpu, "train_s": train_s, "grid": grid}


# ============================================================================================ reaction-diffusion
class ICModel(nn.Module):
    """``u(t, x) = u0(x) + scale * t * FNO([u0, t])(t, x)`` on a tensor grid; output ``(B, T, 1, X)``.

    The initial condition holds exactly (NSM's ``initial_condition`` mollifier); ``t`` is the physical time of the
    grid's time points (Chebyshev or uniform), given to the FNO as a second input channel.
    """

    def __init__(self, fno: nn.Module, scale: float) -> None:
        super().__init__()
        self.fno, self.scale = fno, scale

    def forward(self, u0: Tensor, t: Tensor) -> Tensor:
        b, nx = u0.shape
        nt = t.numel()
        tt = t.to(u0)[None, :, None].expand(b, nt, nx)
        inp = torch.stack([u0[:, None, :].expand(b, nt, nx), tt], dim=1)  # (B, 2, T, X)
        u = u0[:, None, :] + self.scale * tt * self.fno(inp)[:, 0]
        return u[:, :, None, :]


def rd_model(args: argparse.Namespace) -> ICModel:
    torch.manual_seed(args.seed)
    fno = create(
        "model",
        "fno",
        in_channels=2,
        out_channels=1,
        modes=[8, 16],
        width=args.rd_width,
        layers=4,
        projection_hidden=2 * args.rd_width,
    )
    return ICModel(fno, args.rd_scale)


def rd_data(args: argparse.Namespace) -> tuple[Tensor, Tensor, Tensor]:
    """Training ICs ``(N, 64)``, test ICs ``(M, 64)`` and references ``(M, 65, 64)`` at ``t = k/64, x = j/64``."""
    gen = ReactionDiffusionGenerator(
        resolution=64,
        solve_resolution=4096,
        nu=args.nu,
        rho=args.rho,
        n_frames=64,
        steps_per_frame=64,
        store_dtype="float64",
    )
    train = np.stack([gen.initial_condition(sample_rng(1, i))[:: gen.stride] for i in range(args.rd_train)])
    ref = gen.generate(np.arange(args.rd_test), seed=2)
    return torch.from_numpy(train), torch.from_numpy(ref["a"]), torch.from_numpy(ref["u"])


def chebyshev_eval_matrix(n_cheb: int, t_eval: Tensor) -> Tensor:
    """``E[i, m] = T_m(2 t_i - 1)``: maps Chebyshev coefficients on [0, 1] to values at ``t_eval``."""
    theta = torch.arccos((2 * t_eval.double() - 1).clamp(-1, 1))
    return torch.cos(theta[:, None] * torch.arange(n_cheb, dtype=torch.float64)[None, :])


def rd_run(loss_name: str, data: tuple[Tensor, Tensor, Tensor], args: argparse.Namespace) -> dict[str, float]:
    u0_train, u0_test, u_ref = (d.float() for d in data)
    batch, steps, nx = args.batch, args.rd_steps, u0_train.shape[1]
    spec = get_pde("reaction_diffusion", nu=args.nu, rho=args.rho)
    t_ref = torch.linspace(0.0, 1.0, u_ref.shape[1])
    if loss_name == "nsm":
        nt = args.rd_cheb
        loss_mod = NSMResidualLoss(pde="reaction_diffusion", nu=args.nu, rho=args.rho, ic_weight=0.0, bc_weight=0.0)
        t = spec.domain.grid([nt, nx], spectral=True)[0].float()  # ascending Chebyshev-Lobatto times
        grid = f"{nt} Cheb x {nx} Fourier"
    else:
        nt = args.rd_pinn_nt
        loss_mod = PINNResidualLoss(
            pde="reaction_diffusion", nu=args.nu, rho=args.rho, method="fd", ic_weight=0.0, bc_weight=0.0
        )
        t = spec.domain.grid([nt, nx])[0].float()  # uniform, both ends
        grid = f"{nt}x{nx} uniform"
    g = torch.Generator().manual_seed(args.seed)

    def batch_loss(model: nn.Module) -> Tensor:
        u0 = u0_train[torch.randint(0, u0_train.shape[0], (batch,), generator=g)]
        return loss_mod(model(u0, t))

    model = rd_model(args)
    loss, train_s = train_cosine(model, batch_loss, args.rd_lr, steps)
    with torch.no_grad():
        if loss_name == "nsm":
            pred = model(u0_test, t)[:, :, 0].double()  # (M, nt, X) at Chebyshev times
            coef = cheb_transform(pred, dim=1)
            pred = torch.einsum("im,bmx->bix", chebyshev_eval_matrix(nt, t_ref), coef)
        else:
            if (nt - 1) % (u_ref.shape[1] - 1):
                raise SystemExit("--rd-pinn-nt must be 64 k + 1 (the reference times are k/64)")
            pred = model(u0_test, t)[:, :: (nt - 1) // (u_ref.shape[1] - 1), 0].double()
        rel = relative_lp_per_sample(pred, u_ref.double()).mean().item()
    model_t = rd_model(args)
    wall, cpu = time_adam_steps(model_t, batch_loss, args.rd_lr, args.timed_steps)
    return {"loss": loss.item(), "rel_l2": rel, "wall_ms": wall, "cpu_ms": cpu, "train_s": train_s, "grid": grid}


def rd_floor(loss_name: str, data: tuple[Tensor, Tensor, Tensor], args: argparse.Namespace) -> float:
    """Discretisation floor of a residual loss: relative L2 error of its exact minimiser over ALL grid values
    (``u(0) = u0`` fixed, float64), found by Gauss-Newton from the pointwise logistic flow; mean over the first
    ``args.rd_floor`` test samples. What perfect training of each loss would reach on its grid."""
    _, u0_test, u_ref = data
    spec = get_pde("reaction_diffusion", nu=args.nu, rho=args.rho)
    nx = u0_test.shape[1]
    if loss_name == "nsm":
        nt = args.rd_cheb
        loss_mod = NSMResidualLoss(pde="reaction_diffusion", nu=args.nu, rho=args.rho, ic_weight=0.0, bc_weight=0.0)
        t = spec.domain.grid([nt, nx], spectral=True)[0]

        def residual(v: Tensor, a: Tensor) -> Tensor:
            u = torch.cat([a[None], v.reshape(nt - 1, nx)])[None, :, None]
            return torch.view_as_real(loss_mod.residual_coefficients(u)[0]).reshape(-1)
    else:
        nt = args.rd_pinn_nt
        loss_mod = PINNResidualLoss(pde="reaction_diffusion", nu=args.nu, rho=args.rho, ic_weight=0.0, bc_weight=0.0)
        t = spec.domain.grid([nt, nx])[0]

        def residual(v: Tensor, a: Tensor) -> Tensor:
            u = torch.cat([a[None], v.reshape(nt - 1, nx)])[None, :, None]
            return loss_mod.residual(u).reshape(-1)

    t_ref = torch.linspace(0.0, 1.0, u_ref.shape[1], dtype=torch.float64)
    errs = []
    for a, ref in zip(u0_test[: args.rd_floor], u_ref[: args.rd_floor]):
        grow = torch.exp(args.rho * t[1:, None])
        v = (a * grow / (a * grow + 1 - a)).reshape(-1)  # the logistic flow without diffusion
        for _ in range(12):
            r = residual(v, a)
            jac = torch.func.jacfwd(lambda w: residual(w, a))(v)  # noqa: B023 (called within the iteration)
            dv = torch.linalg.lstsq(jac, -r[:, None]).solution[:, 0]
            v = v + dv
            if dv.norm() < 1e-10 * v.norm():
                break
        u = torch.cat([a[None], v.reshape(nt - 1, nx)])
        if loss_name == "nsm":
            pred = chebyshev_eval_matrix(nt, t_ref) @ cheb_transform(u, dim=0)
        else:
            pred = u[:: (nt - 1) // (u_ref.shape[1] - 1)]
        errs.append(((pred - ref).norm() / ref.norm()).item())
    return sum(errs) / len(errs)


# ============================================================================================ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["poisson", "rd"], default=None)
    parser.add_argument("--poisson-steps", type=int, default=300)
    parser.add_argument("--poisson-n", type=int, default=32)
    parser.add_argument("--rd-steps", type=int, default=500)
    parser.add_argument("--rd-lr", type=float, default=3e-3)
    parser.add_argument("--rd-cheb", type=int, default=32, help="Chebyshev time points of the NSM grid")
    parser.add_argument("--rd-pinn-nt", type=int, default=65, help="uniform time points of the PINN grid (64k+1)")
    parser.add_argument("--rd-train", type=int, default=512, help="training initial conditions")
    parser.add_argument("--rd-test", type=int, default=32, help="test initial conditions (with references)")
    parser.add_argument("--rd-width", type=int, default=16, help="FNO width (projection: twice that)")
    parser.add_argument(
        "--rd-floor",
        type=int,
        default=0,
        help="also compute each loss's discretisation floor on this many test samples (slow: ~minutes)",
    )
    parser.add_argument("--rd-scale", type=float, default=1.0, help="mollifier scale of the network term")
    parser.add_argument("--nu", type=float, default=0.01)
    parser.add_argument("--rho", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--timed-steps", type=int, default=10, help="steps of the quiet timing pass")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training (timing: always 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    if args.only in (None, "poisson"):
        print(
            f"[poisson] periodic -lap u = s, FNO(modes 8, width 16, 4 layers), {args.poisson_steps} Adam steps, "
            f"batch {args.batch}; PINN FD floor at {args.poisson_n}^2: rel L2 {fd_floor(args.poisson_n):.3e}",
            flush=True,
        )
        for name in ("nsm", "pinn"):
            rows.append(("poisson (periodic)", name, args.poisson_steps, poisson_run(name, args)))
    if args.only in (None, "rd"):
        t0 = time.perf_counter()
        data = rd_data(args)
        print(
            f"[rd] u_t - {args.nu} u_xx = {args.rho} u (1 - u); {args.rd_train} train ICs, {args.rd_test} test ICs; "
            f"references in {time.perf_counter() - t0:.0f} s; FNO(modes 8x16, width {args.rd_width}, 4 layers), "
            f"{args.rd_steps} Adam steps (lr {args.rd_lr}, cosine), batch {args.batch}",
            flush=True,
        )
        if args.rd_steps > 0:
            for name in ("nsm", "pinn"):
                rows.append((f"reaction-diffusion nu={args.nu:g}", name, args.rd_steps, rd_run(name, data, args)))
        if args.rd_floor:
            grids = {"nsm": f"{args.rd_cheb} Cheb x 64 Fourier", "pinn": f"{args.rd_pinn_nt}x64 uniform"}
            for name in ("nsm", "pinn"):
                t0 = time.perf_counter()
                floor = rd_floor(name, data, args)
                secs = time.perf_counter() - t0
                print(
                    f"[rd] {name}_residual discretisation floor on {grids[name]} (exact minimiser of the loss, "
                    f"Gauss-Newton, {args.rd_floor} sample(s)): rel L2 {floor:.3e} ({secs:.0f} s)",
                    flush=True,
                )
    if not rows:
        return
    print()
    print(
        f"{'problem':<27}{'loss':<15}{'grid':<21}{'steps':>6}{'final loss':>12}{'test rel L2':>13}"
        f"{'CPU ms/step':>12}{'wall ms/step':>13}{'train s':>9}"
    )
    for problem, name, steps, r in rows:
        print(
            f"{problem:<27}{name + '_residual':<15}{r['grid']:<21}{steps:>6}{r['loss']:>12.3e}{r['rel_l2']:>13.3e}"
            f"{r['cpu_ms']:>12.1f}{r['wall_ms']:>13.1f}{r['train_s']:>9.0f}"
        )
    print(
        f"ms/step: medians over {args.timed_steps} steps of a separate single-threaded timing pass (forward + loss + "
        f"backward + Adam step, batch {args.batch}; CPU = thread time); train s: wall time of the training loop "
        f"({args.threads} thread(s))."
    )


if __name__ == "__main__":
    run(main, "nsm_vs_pinn.txt")

"""GP-HM: Gaussian-process solver for high-frequency and multi-scale PDEs (Fang et al., ICLR 2024).

Model. The solution values ``U`` on a tensor collocation grid ``X_1 x ... x X_d`` (endpoints included) are free
parameters with prior ``vec(U) ~ N(0, K_1 kron ... kron K_d)``, ``K_j = k_j(X_j, X_j) + jitter I`` with a per-axis
spectral-mixture kernel (Student-t mixture = Matern-5/2 x cos, or Gaussian mixture = SE x cos; see ``_kernels``).
Derivatives come from the GP conditional mean ``u(x) = k(x, X) K^{-1} vec(U)``; on the grid an axis derivative is
the mode product ``d^m_j U = (K_j^{(m)} K_j^{-1}) x_j U`` with closed-form kernel derivatives ``K_j^{(m)}``.

Objective (negative log joint, minimised with Adam over ``U``, kernel parameters, ``log tau_b``, ``log tau_e``)::

    1/2 logdet K + 1/2 vec(U)^T K^{-1} vec(U)
      - lambda_b [N_b/2 log tau_b - tau_b/2 ||U|_boundary - g||^2]
      - [N/2 log tau_e - tau_e/2 ||F[U] - f||^2_grid]

with Kronecker identities (``logdet K = sum_j (N/N_j) logdet K_j``; in 2-D the quadratic form is
``sum (K_1^{-1} x_1 U) * (K_2^{-1} x_2 U)``); the full covariance is never formed. Per step: one Cholesky per
axis factor and ``O(N sum_j N_j)`` mode products. Prediction: ``U* = (K*_1 ... K*_d) x K^{-1} vec(U)``.

Implementation: on the uniform grid the kernel and its derivatives are evaluated on the ``2 N_j - 1`` lags only
and laid out as Toeplitz matrices; ``K_j^{-1}`` is applied through the explicit inverse from the Cholesky factor
with a hand-written backward (``_kron.spd_solve_logdet``), several times cheaper on CPU than differentiating
through the Cholesky factorisation. Optional extra: an exponential learning-rate tail (``lr_final``).

The reported error is that of the final iterate on the test grid (the paper's code reports the minimum over
checkpoints; ``eval_every`` records checkpoints so both can be logged).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, SpecsolveError
from specsolve.registry import register
from specsolve.solvers._common import error_metrics, grid_coords, parse_dtype
from specsolve.solvers._kernels import SpectralMixture1d, UniformGridKernel
from specsolve.solvers._kron import kron_mv, kron_solve, mode_product, spd_solve_axis
from specsolve.solvers._problems import Problem, get_problem

_GPHM_PDES = ("poisson", "allen_cahn", "advection", "laplace")


def _add_jitter_cholesky(k: Tensor, jitter: float, eye: Tensor) -> tuple[Tensor, Tensor]:
    """``(K + j I, chol)`` with the lower Cholesky factor (computed without autograd); the jitter ``j`` is raised
    tenfold (up to 4 times) if the factorisation fails."""
    for attempt in range(5):
        kj = k + (jitter * 10**attempt) * eye
        chol, info = torch.linalg.cholesky_ex(kj.detach())
        if int(info) == 0:
            return kj, chol
    raise SpecsolveError("gp_hm: kernel matrix is not positive definite even with 1e4 x jitter")


@register("solver", "gp_hm")
class GPHM(nn.Module):
    """GP-HM collocation solver with per-axis spectral-mixture kernels and Kronecker algebra.

    Parameters
    ----------
    problem : name of a problem in ``specsolve.solvers._problems.PROBLEMS`` (Poisson, Allen-Cahn, advection, Laplace).
    n_points : collocation points per axis (an int, or one per axis); default: the paper's value for the problem.
    n_components : mixture components ``Q`` per axis.
    kernel : ``student_t`` (Matern-5/2 x cos, GP-HM-StM) or ``gaussian`` (SE x cos, GP-HM-GM).
    lr, steps : Adam learning rate and number of steps.
    lr_final, decay_fraction : if ``lr_final`` is set, the learning rate stays at ``lr`` and then decays
        exponentially to ``lr_final`` over the last ``decay_fraction`` of the steps, which damps Adam's late
        oscillations so that the final iterate is a converged one (the paper keeps it constant: ``None``).
    freq_scale : initial frequencies ``linspace(0, 1, Q) * freq_scale``; default: the paper's value.
    boundary_weight : ``lambda_b`` on the boundary log-likelihood; default: the paper's value (200, 500 for advection).
    jitter : added to each 1-D kernel matrix.
    logdet : include ``1/2 logdet K`` in the objective (the paper does).
    eval_every : record the test error every this many steps (0: never); the final error is always reported.
    seed : kept for a uniform solver interface; GP-HM's initialisation is deterministic.
    dtype, device : placement (the method needs float64).
    """

    def __init__(
        self,
        problem: str = "poisson_1d_sin100",
        n_points: int | list[int] | None = None,
        n_components: int = 30,
        kernel: Literal["student_t", "gaussian"] = "student_t",
        lr: float = 0.01,
        steps: int = 20000,
        lr_final: float | None = None,
        decay_fraction: float = 0.2,
        freq_scale: float | None = None,
        boundary_weight: float | None = None,
        jitter: float = 1e-6,
        logdet: bool = True,
        eval_every: int = 0,
        seed: int = 0,
        dtype: Literal["float64", "float32"] = "float64",
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.problem: Problem = get_problem(problem)
        if self.problem.pde not in _GPHM_PDES:
            raise ConfigError(
                f"gp_hm solves boundary-value problems ({', '.join(_GPHM_PDES)}); '{problem}' has PDE type "
                f"'{self.problem.pde}': use the epgp/sepgp solvers"
            )
        if kernel not in ("student_t", "gaussian"):
            raise ConfigError(f"gp_hm: kernel must be 'student_t' or 'gaussian', got '{kernel}'")
        if n_components < 1 or steps < 0 or lr <= 0 or jitter < 0:
            raise ConfigError("gp_hm: n_components >= 1, steps >= 0, lr > 0 and jitter >= 0 are required")
        d = self.problem.dim
        ns = [self.problem.n_points] * d if n_points is None else n_points
        ns = [ns] * d if isinstance(ns, int) else list(ns)
        if len(ns) != d or min(ns) < 3:
            raise ConfigError(f"gp_hm: n_points must be >= 3 per axis and give {d} axis size(s), got {n_points}")
        self.n_points = ns
        if lr_final is not None and lr_final <= 0:
            raise ConfigError("gp_hm: lr_final must be > 0")
        if not 0.0 < decay_fraction <= 1.0:
            raise ConfigError("gp_hm: decay_fraction must be in (0, 1]")
        self.decay_fraction = decay_fraction
        self.lr, self.lr_final, self.steps, self.jitter, self.logdet = lr, lr_final, steps, jitter, logdet
        self.eval_every = eval_every
        self.boundary_weight = self.problem.boundary_weight if boundary_weight is None else boundary_weight
        fs = self.problem.freq_scale if freq_scale is None else freq_scale
        self.dtype = parse_dtype(dtype)
        self.device_ = torch.device(device)
        self.seed = seed  # the initialisation is deterministic (U = 0, fixed frequency grid)

        coords = [c.to(self.device_, self.dtype) for c in self.problem.grid(ns)]
        self.coords = coords
        self.grid_kernels = [UniformGridKernel(c) for c in coords]
        self.eyes = [torch.eye(n, dtype=self.dtype, device=self.device_) for n in ns]
        orders = self.problem.derivative_orders()
        self.axis_order = [max([a[j] for a in orders] + [0]) for j in range(d)]

        self.kernels = nn.ModuleList(
            SpectralMixture1d(n_components, kernel, fs, self.dtype) for _ in range(d)
        ).to(self.device_)
        self.U = nn.Parameter(torch.zeros(ns, dtype=self.dtype, device=self.device_))
        self.log_tau_b = nn.Parameter(torch.zeros((), dtype=self.dtype, device=self.device_))
        self.log_tau_e = nn.Parameter(torch.zeros((), dtype=self.dtype, device=self.device_))

        src = self.problem.source_on_grid([c.double().cpu() for c in coords])
        self.register_buffer("source", src.to(self.device_, self.dtype))
        mask = torch.zeros(ns, dtype=torch.bool)
        for j in range(d):
            idx = [slice(None)] * d
            idx[j] = [0, ns[j] - 1]
            mask[tuple(idx)] = True
        self.register_buffer("bmask", mask.to(self.device_))
        exact = self.problem.exact_on_grid([c.double().cpu() for c in coords])
        self.register_buffer("bvals", exact[mask].to(self.device_, self.dtype))
        self.history: list[tuple[int, float]] = []

    # ---- model -----------------------------------------------------------------------------------------------
    def _factors(self) -> tuple[list[Tensor], list[Tensor], list[list[Tensor]]]:
        """Per axis: ``K_j + jitter I``, its Cholesky factor, and ``[K_j, K_j', K_j'']`` (up to the needed order)."""
        ks, chols, mats = [], [], []
        for gk, kern, order, eye in zip(self.grid_kernels, self.kernels, self.axis_order, self.eyes):
            m = gk.matrices(kern, order)
            kj, chol = _add_jitter_cholesky(m[0], self.jitter, eye)
            ks.append(kj)
            chols.append(chol)
            mats.append(m)
        return ks, chols, mats

    def loss(self) -> Tensor:
        """Negative log joint probability (up to constants)."""
        U, d = self.U, self.problem.dim
        ks, chols, mats = self._factors()
        solved = [spd_solve_axis(k, U, j, c) for j, (k, c) in enumerate(zip(ks, chols))]
        kinv = [s[0] for s in solved]  # K_j^{-1} x_j U
        derivs = {}
        for alpha in self.problem.derivative_orders():
            j = next(i for i, m in enumerate(alpha) if m > 0)
            derivs[alpha] = mode_product(mats[j][alpha[j]], kinv[j], j)
        if d == 1:
            quad = (U * kinv[0]).sum()
        elif d == 2:
            quad = (kinv[0] * kinv[1]).sum()
        else:
            a = kinv[0]
            for j in range(1, d):
                a = spd_solve_axis(ks[j], a, j, chols[j])[0]
            quad = (U * a).sum()
        prior = 0.5 * quad
        if self.logdet:  # logdet(K_1 kron ... kron K_d) = sum_j (N / N_j) logdet K_j
            n_total = U.numel()
            prior = prior + 0.5 * sum((n_total // n) * s[1] for n, s in zip(self.n_points, solved))

        resid = self.problem.operator(U, derivs) - self.source
        n_c = resid.numel()
        tau_e = torch.exp(self.log_tau_e)
        eq_nll = -0.5 * n_c * self.log_tau_e + 0.5 * tau_e * resid.pow(2).sum()

        bgap = (U[self.bmask] - self.bvals).pow(2).sum()
        n_b = self.bvals.numel()
        tau_b = torch.exp(self.log_tau_b)
        b_nll = -0.5 * n_b * self.log_tau_b + 0.5 * tau_b * bgap
        return prior + self.boundary_weight * b_nll + eq_nll

    def fit(self, progress: Callable[[int, float], None] | None = None) -> dict:
        """Run Adam for ``steps`` steps; ``progress(step, loss)`` is called after every step."""
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        sched = None
        if self.lr_final is not None and self.steps > 0:
            n_decay = max(1, round(self.decay_fraction * self.steps))
            start = self.steps - n_decay
            ratio = self.lr_final / self.lr
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda k: 1.0 if k < start else ratio ** (min(k - start, n_decay) / n_decay)
            )
        t0 = time.perf_counter()
        loss_val = float("nan")
        for step in range(1, self.steps + 1):
            opt.zero_grad(set_to_none=True)
            loss = self.loss()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_val = float(loss.detach())
            if not math.isfinite(loss_val):
                raise SpecsolveError(f"gp_hm: the objective became {loss_val} at step {step}")
            if progress is not None:
                progress(step, loss_val)
            if self.eval_every and step % self.eval_every == 0:
                self.history.append((step, self.evaluate()["rel_l2"]))
        stats = {
            "steps": self.steps,
            "final_loss": loss_val,
            "time_s": time.perf_counter() - t0,
            "log_tau_boundary": float(self.log_tau_b.detach()),
            "log_tau_equation": float(self.log_tau_e.detach()),
        }
        if self.history:
            stats["rel_l2_min_checkpoint"] = min(e for _, e in self.history)
        return stats

    # ---- prediction ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, grid: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """Posterior-mean interpolant on a tensor grid ``{axis: 1-D coords}``; returns ``(mean, None)``.

        GP-HM is a MAP estimate of the grid values, so no posterior standard deviation is returned.
        """
        coords = grid_coords(self.problem, grid, self.dtype, self.device_)
        _, chols, _ = self._factors()
        alpha = kron_solve(chols, self.U)
        cross = [kern.matrix(xs, xc, 0) for kern, xs, xc in zip(self.kernels, coords, self.coords)]
        return kron_mv(cross, alpha), None

    def test_grid(self) -> dict[str, Tensor]:
        return self.problem.test_grid()

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Relative L2 (and RMSE, max error) of the current (final) iterate on the problem's test grid."""
        grid = self.problem.test_grid()
        mean, _ = self.predict(grid)
        exact = self.problem.exact_on_grid([grid[a] for a in self.problem.axes])
        return error_metrics(mean, exact)

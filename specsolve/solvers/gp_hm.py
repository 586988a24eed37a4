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

"Extra GP" (``extra_gp``; the paper's trick for its two hardest 1-D cases, ``model_GP_solver_1d_extra.py``):
train the main GP for ``round(change_point * steps)`` steps, freeze it, then fit a second GP with grid values
``V`` and a single Matern-5/2 kernel per axis (no cosine factor; weight and inverse length scale learned, both
initialised to 1) for the remaining steps. The solution is ``U + V``; the second objective is ``V``'s own prior
plus the boundary and equation likelihoods of ``U + V`` with their own noise levels (``tau_b`` initialised from the
main GP's). The main GP's derivatives are constant after the change point and are computed once.
``extra_param="values"`` optimises ``V`` itself, as the paper's code does; ``"whitened"`` optimises ``z`` with
``V = (L_1 kron ... kron L_d) z``, ``K_j = L_j L_j^T`` (same objective, prior term ``1/2 |z|^2 + 1/2 logdet K``):
Adam on the raw values of a smooth Matern GP is badly conditioned (the prior's ``K^{-1}`` is stiff): on
``sin(500x) - 2(x - 0.5)^2`` from the same frozen main GP, the error went 0.293 -> 0.254 in 7000 extra steps with
``values`` and 0.29 -> 2.5e-3 in 2100 with ``whitened`` (the paper runs ~1e6 steps).

The reported error is that of the final iterate on the test grid (the paper's code reports the minimum over
checkpoints; ``eval_every`` records checkpoints so both can be logged).

Protocols. ``protocol="default"`` is the behaviour above (``steps`` 20000 unless given, optional learning-rate tail).
``protocol="paper"`` is the paper code's: a constant learning rate (``lr_final`` must be unset), ``steps`` defaulting
to the paper's epoch count for the problem (:attr:`Problem.paper_steps`), the extra GP with the paper's change point
where the paper uses it, and the test error logged at the paper's checkpoints, after steps ``1, 1 + s/20, 1 + 2s/20,
...`` (the code evaluates at iterations ``i % (s/20) == 0`` after the update of iteration ``i``); ``fit`` then
returns every checkpoint and their minimum (the number the paper's code reports: selected on the test set), and
``evaluate`` adds ``rel_l2_min_checkpoint`` and ``rel_l2_last_checkpoint``.

Derivatives. Any multi-index the PDE needs is formed: ``d^alpha U = prod_j (K_j^{(alpha_j)} K_j^{-1}) x_j U`` (mode
products along every axis with ``alpha_j > 0``; mixed terms such as ``u_xy`` included). The order per axis is
bounded by the kernel (``gp.kernels.MAX_ORDER``: 4 for ``student_t``, any for ``gaussian``); a higher term is a
:class:`ConfigError` naming it.

Jitter. If a factor ``K_j + jitter I`` is not numerically positive definite, the jitter is raised tenfold (up to
1e4 x); the first raise emits a ``RuntimeWarning`` and ``fit`` reports the largest jitter used (``jitter_used``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, SpecsolveError
from specsolve.gp.common import adam_loop, error_metrics, grid_coords, parse_dtype
from specsolve.gp.kernels import MAX_ORDER, SpectralMixture1d, UniformGridKernel
from specsolve.gp.kron import kron_mv, kron_solve, mode_product, spd_solve_axis
from specsolve.pde.problems import Problem, get_problem
from specsolve.registry import register

#: the registered PDEs GP-HM solves as boundary-value problems (Poisson problems are ``laplace`` with a source)
_GPHM_PDES = ("laplace", "allen_cahn", "advection")


def _add_jitter_cholesky(k: Tensor, jitter: float, eye: Tensor) -> tuple[Tensor, Tensor, float]:
    """``(K + j I, chol, j)`` with the lower Cholesky factor (computed without autograd); the jitter ``j`` is raised
    tenfold (up to 4 times) if the factorisation fails."""
    for attempt in range(5):
        used = jitter * 10**attempt
        kj = k + used * eye
        chol, info = torch.linalg.cholesky_ex(kj.detach())
        if int(info) == 0:
            return kj, chol, used
    raise SpecsolveError("gp_hm: kernel matrix is not positive definite even with 1e4 x jitter")


LAPLACE_MAX_VALUES = 4096


def outer_product(vectors: list[Tensor]) -> Tensor:
    """``v_1 o v_2 o ... o v_d``: the tensor ``T[i_1, ..., i_d] = prod_j v_j[i_j]``."""
    out = vectors[0]
    for v in vectors[1:]:
        out = out[..., None] * v
    return out


def term_name(axes: tuple[str, ...], alpha: tuple[int, ...]) -> str:
    """``u_xxy``-style name of the derivative with multi-index ``alpha`` over ``axes``."""
    return "u_" + "".join(a * m for a, m in zip(axes, alpha))


@register("solver", "gp_hm")
class GPHM(nn.Module):
    """GP-HM collocation solver with per-axis spectral-mixture kernels and Kronecker algebra.

    Parameters
    ----------
    problem : a registered problem (``specsolve plugins list --kind problem``) on a Poisson/Laplace, Allen-Cahn or
        advection PDE.
    n_points : collocation points per axis (an int, or one per axis); default: the paper's value for the problem.
    n_components : mixture components ``Q`` per axis.
    kernel : ``student_t`` (Matern-5/2 x cos, GP-HM-StM) or ``gaussian`` (SE x cos, GP-HM-GM).
    lr, steps : Adam learning rate and number of steps (default: 20000, or the paper's with ``protocol="paper"``).
    lr_final, decay_fraction : if ``lr_final`` is set, the learning rate stays at ``lr`` and then decays
        exponentially to ``lr_final`` over the last ``decay_fraction`` of the steps, which damps Adam's late
        oscillations so that the final iterate is a converged one (the paper keeps it constant: ``None``).
    freq_scale : initial frequencies ``linspace(0, 1, Q) * freq_scale``; default: the paper's value.
    boundary_weight : ``lambda_b`` on the boundary log-likelihood; default: the paper's value (200, 500 for advection).
    jitter : added to each 1-D kernel matrix.
    logdet : include ``1/2 logdet K`` in the objective (the paper does).
    eval_every : record the test error every this many steps (0: never); the final error is always reported.
    extra_gp, change_point : enable the "extra GP" (see the module docstring) after ``change_point * steps`` steps
        (``0 < change_point < 1``; the paper's code uses 0.01 for ``sin(500x) - 2(x - 0.5)^2`` and 0.5 for its
        mixed-sine case).
    extra_param : ``values`` (the paper's parametrisation of the extra GP) or ``whitened`` (see the module docstring).
    protocol : ``default`` or ``paper`` (see the module docstring: constant rate, the paper's step count and extra
        GP, the test error at the paper's checkpoints).
    posterior : ``none`` (the paper: a MAP estimate, no standard deviation) or ``laplace``: the Gaussian (Laplace)
        approximation ``vec(U) ~ N(U*, H^{-1})`` at the final iterate, ``H`` the Hessian of the objective in ``U``
        (kernel and noise parameters held at their fitted values; exact for linear PDEs, whose objective is
        quadratic in ``U``), pushed through the interpolant, plus the GP's conditional variance between the
        collocation points. Main GP only; at most ``LAPLACE_MAX_VALUES`` grid values (``H`` is dense).
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
        steps: int | None = None,
        lr_final: float | None = None,
        decay_fraction: float = 0.2,
        freq_scale: float | None = None,
        boundary_weight: float | None = None,
        jitter: float = 1e-6,
        logdet: bool = True,
        eval_every: int = 0,
        extra_gp: bool | None = None,
        change_point: float | None = None,
        extra_param: Literal["values", "whitened"] = "values",
        protocol: Literal["default", "paper"] = "default",
        posterior: Literal["none", "laplace"] = "none",
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
        if protocol not in ("default", "paper"):
            raise ConfigError(f"gp_hm: protocol must be 'default' or 'paper', got '{protocol}'")
        self.protocol = protocol
        paper = protocol == "paper"
        if paper and lr_final is not None:
            raise ConfigError("gp_hm: protocol 'paper' keeps the learning rate constant; remove lr_final")
        if paper and eval_every:
            raise ConfigError("gp_hm: protocol 'paper' fixes the checkpoints (every steps/20); remove eval_every")
        if steps is None:
            steps = self.problem.paper_steps if paper else 20000
        if extra_gp is None:
            extra_gp = paper and self.problem.paper_change_point is not None
        if change_point is None:
            change_point = self.problem.paper_change_point if paper and self.problem.paper_change_point else 0.5
        if n_components < 1 or steps < 0 or lr <= 0 or jitter < 0:
            raise ConfigError("gp_hm: n_components >= 1, steps >= 0, lr > 0 and jitter >= 0 are required")
        d = self.problem.dim
        ns = [self.problem.n_points] * d if n_points is None else n_points
        ns = [ns] * d if isinstance(ns, int) else list(ns)
        if len(ns) != d or min(ns) < 3:
            raise ConfigError(f"gp_hm: n_points must be >= 3 per axis and give {d} axis size(s), got {n_points}")
        self.n_points = ns
        if posterior not in ("none", "laplace"):
            raise ConfigError(f"gp_hm: posterior must be 'none' or 'laplace', got '{posterior}'")
        n_values = 1
        for n in ns:
            n_values *= n
        if posterior == "laplace" and (extra_gp or n_values > LAPLACE_MAX_VALUES):
            raise ConfigError(
                "gp_hm: posterior 'laplace' needs the main GP alone (no extra_gp) and at most "
                f"{LAPLACE_MAX_VALUES} grid values (its Hessian is dense), got {n_values}"
                + (" with extra_gp" if extra_gp else "")
            )
        self.posterior = posterior
        self._laplace_cache: tuple[tuple[int, ...], Tensor] | None = None
        if lr_final is not None and lr_final <= 0:
            raise ConfigError("gp_hm: lr_final must be > 0")
        if not 0.0 < decay_fraction <= 1.0:
            raise ConfigError("gp_hm: decay_fraction must be in (0, 1]")
        self.decay_fraction = decay_fraction
        if extra_gp and not 0.0 < change_point < 1.0:
            raise ConfigError(f"gp_hm: change_point must be in (0, 1) with extra_gp, got {change_point}")
        if extra_param not in ("values", "whitened"):
            raise ConfigError(f"gp_hm: extra_param must be 'values' or 'whitened', got '{extra_param}'")
        self.extra_gp, self.change_point, self.extra_param = extra_gp, change_point, extra_param
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
        kinds = [kernel] + (["student_t"] if extra_gp else [])  # the extra GP is Matern-5/2 (student_t, Q = 1)
        for kind in kinds:
            top = MAX_ORDER[kind]
            for alpha in orders:
                if top is not None and max(alpha) > top:
                    raise ConfigError(
                        f"gp_hm: the term {term_name(self.problem.axes, alpha)} of problem '{problem}' needs a "
                        f"derivative of order {max(alpha)} along one axis; the {kind} kernel gives at most {top}"
                        + (" (use kernel: gaussian)" if kind == kernel else " (the extra GP is Matern-5/2)")
                    )
        self.jitter_used = jitter
        self._jitter_warned = False

        self.kernels = nn.ModuleList(SpectralMixture1d(n_components, kernel, fs, self.dtype) for _ in range(d)).to(
            self.device_
        )
        self.U = nn.Parameter(torch.zeros(ns, dtype=self.dtype, device=self.device_))
        self.log_tau_b = nn.Parameter(torch.zeros((), dtype=self.dtype, device=self.device_))
        self.log_tau_e = nn.Parameter(torch.zeros((), dtype=self.dtype, device=self.device_))
        # the extra GP: one Matern-5/2 component per axis (frequency fixed at 0), its own noise levels, and its free
        # variables V: the grid values, or the whitened z (extra_param)
        self.extra_kernels: nn.ModuleList | None = None
        self.V: nn.Parameter | None = None
        self.extra_active = False
        self._frozen_derivs: dict[tuple[int, ...], Tensor] | None = None
        if extra_gp:
            self.extra_kernels = nn.ModuleList(SpectralMixture1d(1, "student_t", 0.0, self.dtype) for _ in range(d)).to(
                self.device_
            )
            for kern in self.extra_kernels:
                kern.freq.requires_grad_(False)
            self.V = nn.Parameter(torch.zeros(ns, dtype=self.dtype, device=self.device_))
            self.log_tau_b_extra = nn.Parameter(torch.zeros((), dtype=self.dtype, device=self.device_))
            self.log_tau_e_extra = nn.Parameter(torch.zeros((), dtype=self.dtype, device=self.device_))

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
    def _factors(self, kernels: nn.ModuleList | None = None) -> tuple[list[Tensor], list[Tensor], list[list[Tensor]]]:
        """Per axis: ``K_j + jitter I``, its Cholesky factor, and ``[K_j, K_j', K_j'']`` (up to the needed order)."""
        kernels = self.kernels if kernels is None else kernels
        ks, chols, mats = [], [], []
        for gk, kern, order, eye in zip(self.grid_kernels, kernels, self.axis_order, self.eyes):
            m = gk.matrices(kern, order)
            kj, chol, used = _add_jitter_cholesky(m[0], self.jitter, eye)
            if used > self.jitter_used:
                self.jitter_used = used
                if not self._jitter_warned:
                    self._jitter_warned = True
                    warnings.warn(
                        f"gp_hm: a kernel matrix needed jitter {used:.1e} (configured {self.jitter:.1e}) to be "
                        "positive definite; fit() reports the largest used as jitter_used",
                        RuntimeWarning,
                        stacklevel=2,
                    )
            ks.append(kj)
            chols.append(chol)
            mats.append(m)
        return ks, chols, mats

    def _gp_terms(self, kernels: nn.ModuleList, U: Tensor) -> tuple[Tensor, dict[tuple[int, ...], Tensor]]:
        """``(1/2 vec(U)^T K^{-1} vec(U) [+ 1/2 logdet K], {alpha: d^alpha U})`` for the GP with ``kernels``."""
        d = self.problem.dim
        ks, chols, mats = self._factors(kernels)
        solved = [spd_solve_axis(k, U, j, c) for j, (k, c) in enumerate(zip(ks, chols))]
        kinv = [s[0] for s in solved]  # K_j^{-1} x_j U
        derivs = {}
        for alpha in self.problem.derivative_orders():
            axes = [i for i, m in enumerate(alpha) if m > 0]
            j = axes[0]
            out = mode_product(mats[j][alpha[j]], kinv[j], j)
            for j in axes[1:]:  # mixed terms: (K_j^{(m)} K_j^{-1}) x_j along every further axis (they commute)
                out = mode_product(mats[j][alpha[j]], spd_solve_axis(ks[j], out, j, chols[j])[0], j)
            derivs[alpha] = out
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
        return prior, derivs

    def _likelihoods(
        self, U: Tensor, derivs: Mapping[tuple[int, ...], Tensor], log_tau_b: Tensor, log_tau_e: Tensor
    ) -> Tensor:
        """``lambda_b * boundary NLL + equation NLL`` of the grid values ``U`` with derivatives ``derivs``."""
        resid = self.problem.residual(U, dict(derivs), self.source)
        n_c = resid.numel()
        eq_nll = -0.5 * n_c * log_tau_e + 0.5 * torch.exp(log_tau_e) * resid.pow(2).sum()
        bgap = (U[self.bmask] - self.bvals).pow(2).sum()
        n_b = self.bvals.numel()
        b_nll = -0.5 * n_b * log_tau_b + 0.5 * torch.exp(log_tau_b) * bgap
        return self.boundary_weight * b_nll + eq_nll

    def loss(self) -> Tensor:
        """Negative log joint probability (up to constants); after the change point, that of the extra GP."""
        if not self.extra_active:
            prior, derivs = self._gp_terms(self.kernels, self.U)
            return prior + self._likelihoods(self.U, derivs, self.log_tau_b, self.log_tau_e)
        assert self._frozen_derivs is not None
        prior, values, derivs = self._extra_terms()
        total = {a: self._frozen_derivs[a] + derivs[a] for a in derivs}
        return prior + self._likelihoods(self.U.detach() + values, total, self.log_tau_b_extra, self.log_tau_e_extra)

    def _extra_terms(self) -> tuple[Tensor, Tensor, dict[tuple[int, ...], Tensor]]:
        """The extra GP's ``(prior term, grid values, {alpha: derivatives})``."""
        assert self.V is not None and self.extra_kernels is not None
        if self.extra_param == "values":
            prior, derivs = self._gp_terms(self.extra_kernels, self.V)
            return prior, self.V, derivs
        ks, _, mats = self._factors(self.extra_kernels)
        chols = [torch.linalg.cholesky(k) for k in ks]  # differentiable (K_j includes the jitter)
        values = kron_mv(chols, self.V)  # V = (L_1 kron ... kron L_d) z
        derivs = {}
        for alpha in self.problem.derivative_orders():
            out = values
            for j in (i for i, m in enumerate(alpha) if m > 0):  # every axis of a mixed term, in turn
                moved = torch.movedim(out, j, 0)
                kinv = torch.cholesky_solve(moved.reshape(moved.shape[0], -1), chols[j]).reshape(moved.shape)
                out = mode_product(mats[j][alpha[j]], torch.movedim(kinv, 0, j), j)
            derivs[alpha] = out
        prior = 0.5 * self.V.pow(2).sum()
        if self.logdet:
            n_total = self.V.numel()
            halves = [torch.log(torch.diagonal(c)).sum() for c in chols]  # 1/2 logdet K_j
            prior = prior + sum((n_total // n) * h for n, h in zip(self.n_points, halves))
        return prior, values, derivs

    def main_parameters(self) -> list[nn.Parameter]:
        """Parameters of the main GP: ``U``, the kernel parameters and the two noise levels."""
        return [self.U, self.log_tau_b, self.log_tau_e, *self.kernels.parameters()]

    def extra_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters of the extra GP (empty without ``extra_gp``)."""
        if self.V is None or self.extra_kernels is None:
            return []
        kern = [p for p in self.extra_kernels.parameters() if p.requires_grad]
        return [self.V, self.log_tau_b_extra, self.log_tau_e_extra, *kern]

    @torch.no_grad()
    def start_extra_gp(self) -> None:
        """Freeze the main GP (its derivatives are cached) and switch the objective to the extra GP."""
        if self.V is None:
            raise ConfigError("gp_hm: start_extra_gp needs extra_gp=True")
        _, derivs = self._gp_terms(self.kernels, self.U)
        self._frozen_derivs = {a: v.detach() for a, v in derivs.items()}
        for p in self.main_parameters():
            p.requires_grad_(False)
        self.log_tau_b_extra.copy_(self.log_tau_b)
        self.extra_active = True

    @torch.no_grad()
    def extra_values(self) -> Tensor | None:
        """The extra GP's grid values ``V`` (``None`` without ``extra_gp``)."""
        return None if self.V is None else self._extra_terms()[1]

    @torch.no_grad()
    def solution_on_grid(self) -> Tensor:
        """Collocation-grid values of the solution (``U``, plus ``V`` with the extra GP)."""
        return self.U + self.extra_values() if self.V is not None else self.U.clone()

    @torch.no_grad()
    def residual(self) -> Tensor:
        """Equation residual ``F[u] - f`` of the current solution on the collocation grid."""
        _, derivs = self._gp_terms(self.kernels, self.U)
        u = self.U
        if self.V is not None:
            _, values, extra = self._extra_terms()
            derivs = {a: derivs[a] + extra[a] for a in derivs}
            u = u + values
        return self.problem.residual(u, derivs, self.source)

    def fit(self, progress: Callable[[int, float], None] | None = None) -> dict:
        """Run Adam for ``steps`` steps; ``progress(step, loss)`` is called after every step.

        With ``extra_gp`` the main GP is trained for ``main_steps = round(change_point * steps)`` steps, then frozen,
        and a fresh Adam optimiser trains the extra GP for the rest; the learning-rate tail (``lr_final``) is a
        function of the global step in both phases.
        """
        n_decay = max(1, round(self.decay_fraction * self.steps))
        decay_start = self.steps - n_decay

        def lr_at(k: int) -> float:  # k: number of completed steps
            if self.lr_final is None or k < decay_start:
                return self.lr
            return self.lr * (self.lr_final / self.lr) ** (min(k - decay_start, n_decay) / n_decay)

        main_steps = max(1, round(self.change_point * self.steps)) if self.extra_gp else self.steps

        every = self.paper_interval()

        def checkpoint(step: int) -> None:
            if self.protocol == "paper":
                if (step - 1) % every == 0:  # the paper's code: iteration i % (steps/20) == 0, after its update
                    self.history.append((step, self.evaluate()["rel_l2"]))
            elif self.eval_every and step % self.eval_every == 0:
                self.history.append((step, self.evaluate()["rel_l2"]))

        t0 = time.perf_counter()
        label = "gp_hm: the objective"
        opt = torch.optim.Adam(self.main_parameters(), lr=lr_at(0))
        first = range(1, min(main_steps, self.steps) + 1)
        loss_val = adam_loop(opt, self.loss, first, label, progress, lr_at=lr_at, after_step=checkpoint)
        if self.extra_gp and main_steps < self.steps:
            self.start_extra_gp()
            opt = torch.optim.Adam(self.extra_parameters(), lr=lr_at(main_steps))
            rest = range(main_steps + 1, self.steps + 1)
            loss_val = adam_loop(opt, self.loss, rest, label, progress, lr_at=lr_at, after_step=checkpoint)
        stats = {
            "steps": self.steps,
            "final_loss": loss_val,
            "time_s": time.perf_counter() - t0,
            "log_tau_boundary": float(self.log_tau_b.detach()),
            "log_tau_equation": float(self.log_tau_e.detach()),
        }
        if self.extra_gp:
            stats["main_steps"] = min(main_steps, self.steps)
            stats["log_tau_equation_extra"] = float(self.log_tau_e_extra.detach())
        if self.history:
            stats["rel_l2_min_checkpoint"] = min(e for _, e in self.history)
        if self.protocol == "paper":
            stats["protocol"] = "paper"
            stats["checkpoints"] = [[k, e] for k, e in self.history]
            if self.history:
                stats["rel_l2_last_checkpoint"] = self.history[-1][1]
        stats["jitter_used"] = self.jitter_used
        return stats

    def paper_interval(self) -> int:
        """Steps between the paper protocol's checkpoints: ``max(1, steps // 20)``."""
        return max(1, self.steps // 20)

    # ---- prediction ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, grid: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """Posterior-mean interpolant on a tensor grid ``{axis: 1-D coords}``; returns ``(mean, std)``.

        ``std`` is None unless ``posterior="laplace"`` (GP-HM itself is a MAP estimate of the grid values).
        """
        coords = grid_coords(self.problem, grid, self.dtype, self.device_)
        mean = self._interpolate(self.kernels, self.U, coords)
        if self.V is not None:
            mean = mean + self._interpolate(self.extra_kernels, self.extra_values(), coords)
        return mean, (self.laplace_std(coords) if self.posterior == "laplace" else None)

    def laplace_hessian(self) -> Tensor:
        """``H = d^2 loss / d vec(U)^2`` at the current ``U`` (``N x N``, N the number of grid values)."""

        def objective(u: Tensor) -> Tensor:
            grid_u = u.view_as(self.U)
            prior, derivs = self._gp_terms(self.kernels, grid_u)
            return prior + self._likelihoods(grid_u, derivs, self.log_tau_b, self.log_tau_e)

        with torch.enable_grad():
            h = torch.autograd.functional.hessian(objective, self.U.detach().reshape(-1))
        return 0.5 * (h + h.T)

    def _laplace_root(self) -> Tensor:
        """``S`` with ``S S^T = H^{-1}`` (``S = L^{-T}``, ``H = L L^T``), cached while the parameters are unchanged."""
        key = tuple(p._version for p in self.main_parameters())
        if self._laplace_cache is None or self._laplace_cache[0] != key:
            h = self.laplace_hessian()
            chol, info = torch.linalg.cholesky_ex(h)
            if info:
                raise SpecsolveError(
                    "gp_hm: the Hessian of the objective in U is not positive definite at the current iterate "
                    "(not a minimum): no Laplace posterior; train longer"
                )
            eye = torch.eye(h.shape[0], dtype=h.dtype, device=h.device)
            self._laplace_cache = (key, torch.linalg.solve_triangular(chol.T, eye, upper=True))
        return self._laplace_cache[1]

    def laplace_std(self, coords: list[Tensor], chunk: int = 128) -> Tensor:
        """Predictive std at the tensor grid ``coords``: ``sqrt(diag(M H^{-1} M^T) + k(x, x) - k_*^T K^{-1} k_*)``
        with ``M = (K*_1 K_1^{-1}) kron ... kron (K*_d K_d^{-1})`` the interpolant; per-axis factors, Kronecker
        throughout (the conditional variance of a product kernel: ``prod_j k_j(x_j, x_j) - prod_j q_j(x_j)``)."""
        ks, chols, _ = self._factors(self.kernels)
        interp, prior_diag, explained = [], [], []
        for kern, xs, xc, chol in zip(self.kernels, coords, self.coords, chols):
            cross = kern.matrix(xs, xc, 0)
            m = torch.cholesky_solve(cross.T, chol).T  # K*_j K_j^{-1}
            interp.append(m)
            prior_diag.append(kern.matrix(xs, xs, 0).diagonal())
            explained.append((m * cross).sum(1))
        root = self._laplace_root()
        shape = [len(x) for x in coords]
        var = torch.zeros(shape, dtype=self.dtype, device=self.device_)
        for start in range(0, root.shape[1], chunk):
            cols = root[:, start : start + chunk].T.reshape(-1, *self.U.shape)  # (chunk, *ns)
            for axis, m in enumerate(interp):
                cols = mode_product(m, cols, axis + 1)
            var += cols.pow(2).sum(0)
        conditional = outer_product(prior_diag) - outer_product(explained)
        return (var + conditional.clamp_min(0.0)).sqrt()

    def _interpolate(self, kernels: nn.ModuleList, U: Tensor, coords: list[Tensor]) -> Tensor:
        """``(K*_1 ... K*_d) x K^{-1} vec(U)`` at the tensor grid ``coords``."""
        _, chols, _ = self._factors(kernels)
        alpha = kron_solve(chols, U)
        cross = [kern.matrix(xs, xc, 0) for kern, xs, xc in zip(kernels, coords, self.coords)]
        return kron_mv(cross, alpha)

    def test_grid(self) -> dict[str, Tensor]:
        return self.problem.test_grid()

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Relative L2 (and RMSE, max error) of the current (final) iterate on the problem's test grid."""
        grid = self.problem.test_grid()
        mean, _ = self.predict(grid)
        exact = self.problem.exact_on_grid([grid[a] for a in self.problem.axes])
        out = error_metrics(mean, exact)
        if self.protocol == "paper" and self.history:
            out["rel_l2_min_checkpoint"] = min(e for _, e in self.history)
            out["rel_l2_last_checkpoint"] = self.history[-1][1]
        return out

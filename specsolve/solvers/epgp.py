"""EPGP: Ehrenpreis-Palamodov GP priors for linear PDEs with constant coefficients (Haerkoenen et al. 2023).

Every prior sample solves the (homogeneous, linear, constant-coefficient) PDE, so the posterior given data
(initial values, snapshots, boundary values) is a solution that interpolates the data. Two kernels:

``closed_form`` (heat equation only): integrate the exponential features against a Gaussian measure in closed form,
    ``k = A (1 + 2 s^2 T)^{-n/2} exp(-s^2 |x - x'|^2 / (2 (1 + 2 s^2 T)))``, ``T = t + t'`` (see ``_epgp.heat_kernel``);
    exact GP regression with Cholesky.
``monte_carlo`` (heat, wave, Laplace): ``r`` fixed points ``z = z(i s eps)`` on the characteristic variety with
    ``eps ~ N(0, I)`` and a learned scale ``s`` (the paper's "LS" variant), i.e. a random-feature GP
    ``k = (A / m) sum_j Re(phi_j(x) conj(phi_j(x')))``; Laplace uses complex Gaussian base points.

Hyperparameters (scale ``s``, amplitude ``A``, noise) are fitted by the exact log marginal likelihood with Adam
(``steps = 0`` keeps the initial values, as in the paper's heat experiment). Predictions return the posterior mean
and standard deviation on a tensor grid. Nonlinear or inhomogeneous problems raise :class:`ConfigError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.gp.common import PointPosteriorMixin, adam_loop
from specsolve.gp.ehrenpreis import (
    feature_nlml,
    feature_posterior,
    features,
    heat_kernel,
    heat_kernel_diag,
    imaginary_variety_points,
    variety_points,
)
from specsolve.registry import register

#: noise floor added to the learned noise variance: noise-free data drive the learned noise to zero, and the
#: kernel matrices of smooth kernels on dense data are then too ill-conditioned for an accurate Cholesky solve
NOISE_FLOOR = 1e-8


@register("solver", "epgp")
class EPGP(PointPosteriorMixin, nn.Module):
    """EPGP regression with a closed-form (heat) or Monte-Carlo (heat, wave, Laplace) Ehrenpreis-Palamodov kernel.

    Parameters
    ----------
    problem : a linear homogeneous problem (``heat_1d``, ``heat_2d``, ``wave_2d``, ``laplace_2d``).
    n_obs : observation points per axis (initial data / snapshots) or per edge (boundary); default: the problem's.
    kernel : ``closed_form`` (heat only) or ``monte_carlo``.
    n_features : Monte-Carlo base points ``r`` (per sheet).
    spectral_scale : initial ``s`` (the spectral measure is ``N(0, s^2 I)``; the paper's heat kernel has ``s = 1``).
    noise : initial observation-noise variance.
    lr, steps : Adam on the log marginal likelihood of ``(log s, log A, log noise)``; ``steps = 0``: no fitting.
    seed, dtype, device : reproducibility and placement.
    """

    def __init__(
        self,
        problem: str = "heat_1d",
        n_obs: int | None = None,
        kernel: Literal["closed_form", "monte_carlo"] = "closed_form",
        n_features: int = 200,
        spectral_scale: float = 1.0,
        noise: float = 1e-6,
        lr: float = 0.05,
        steps: int = 0,
        seed: int = 0,
        dtype: Literal["float64", "float32"] = "float64",
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.place_variety_problem(problem, n_obs, dtype, device)  # raises ConfigError for non-EPGP problems
        if kernel == "closed_form" and self.problem.pde != "heat":
            raise ConfigError(
                f"epgp: the closed-form kernel exists for the heat equation only; use kernel: monte_carlo "
                f"(or the sepgp solver) for '{problem}'"
            )
        if kernel not in ("closed_form", "monte_carlo"):
            raise ConfigError(f"epgp: unknown kernel '{kernel}'")
        if n_features < 1 or steps < 0 or lr <= 0 or noise <= 0 or spectral_scale <= 0:
            raise ConfigError("epgp: n_features >= 1, steps >= 0 and lr, noise, spectral_scale > 0 are required")
        self.kernel, self.lr, self.steps = kernel, lr, steps
        gen = torch.Generator().manual_seed(seed)
        self.log_scale = nn.Parameter(torch.tensor(math.log(spectral_scale), dtype=self.dtype, device=self.device_))
        self.log_amp = nn.Parameter(torch.zeros((), dtype=self.dtype, device=self.device_))
        self.log_noise = nn.Parameter(torch.tensor(math.log(noise), dtype=self.dtype, device=self.device_))
        if kernel == "monte_carlo":
            eps = torch.randn(n_features, self.p, generator=gen, dtype=torch.float64)
            if self.problem.pde == "laplace":  # complex Gaussian base points
                eps_im = torch.randn(n_features, self.p, generator=gen, dtype=torch.float64)
                self.register_buffer("eps", torch.complex(eps, eps_im).to(self.device_, self.cdtype) / math.sqrt(2))
            else:
                self.register_buffer("eps", eps.to(self.device_, self.dtype))

    # ---- model -----------------------------------------------------------------------------------------------
    def _noise(self) -> Tensor:
        return torch.exp(self.log_noise) + NOISE_FLOOR

    def _phi(self, x: Tensor) -> Tensor:
        scale = torch.exp(self.log_scale)
        if self.problem.pde == "laplace":
            z = variety_points(self.problem, scale.to(self.cdtype) * self.eps)
        else:
            z = imaginary_variety_points(self.problem, scale * self.eps)
        return features(x, z)

    def _feature_log_var(self, m: int) -> Tensor:
        return (self.log_amp - math.log(m)).expand(m)

    def nlml(self) -> Tensor:
        """Negative log marginal likelihood of the observations."""
        x, y = self.x_obs, self.y_obs
        if self.kernel == "closed_form":
            k = heat_kernel(x, x, self.log_scale, self.log_amp)
            k = k + self._noise() * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
            chol = torch.linalg.cholesky(k)
            alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
            logdet_half = torch.log(torch.diagonal(chol)).sum()
            return 0.5 * (y * alpha).sum() + logdet_half + 0.5 * y.numel() * math.log(2 * math.pi)
        phi = self._phi(x)
        return feature_nlml(phi, y, self._feature_log_var(phi.shape[1]), torch.log(self._noise()), "real_part")

    def fit(self, progress: Callable[[int, float], None] | None = None) -> dict:
        """Fit ``(log s, log A, log noise)`` by Adam on the NLML; ``progress(step, nlml)`` after every step."""
        t0 = time.perf_counter()
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        adam_loop(opt, self.nlml, range(1, self.steps + 1), "epgp: the marginal likelihood", progress)
        return self.fit_summary(
            t0,
            spectral_scale=float(torch.exp(self.log_scale.detach())),
            noise=float(self._noise().detach()),
            n_obs=int(self.y_obs.numel()),
        )

    # ---- prediction ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_points(self, xs: Tensor, chunk: int = 8192) -> tuple[Tensor, Tensor]:
        """Posterior mean and std (noise-free) at points ``xs`` ``(s*, d)``."""
        x, y = self.x_obs, self.y_obs
        means, stds = [], []
        if self.kernel == "closed_form":
            k = heat_kernel(x, x, self.log_scale, self.log_amp)
            k = k + self._noise() * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
            chol = torch.linalg.cholesky(k)
            alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
            for part in xs.split(chunk):
                ks = heat_kernel(part, x, self.log_scale, self.log_amp)
                v = torch.linalg.solve_triangular(chol, ks.transpose(0, 1), upper=False)
                var = heat_kernel_diag(part, self.log_scale, self.log_amp) - v.pow(2).sum(0)
                means.append(ks @ alpha)
                stds.append(var.clamp_min(0.0).sqrt())
        else:
            phi = self._phi(x)
            log_var = self._feature_log_var(phi.shape[1])
            for part in xs.split(chunk):
                m, s = feature_posterior(phi, y, self._phi(part), log_var, torch.log(self._noise()), "real_part")
                means.append(m)
                stds.append(s)
        return torch.cat(means), torch.cat(stds)

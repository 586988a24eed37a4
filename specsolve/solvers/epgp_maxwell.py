"""EPGP / S-EPGP for Maxwell's equations, a system of six fields (Haerkoenen, Lange-Hegermann, Raita; ICML 2023).

Vacuum Maxwell with ``c = 1`` on ``(x, y, z, t)``: ``div E = 0``, ``div B = 0``, ``E_t = curl B``, ``B_t = -curl E``.
The Ehrenpreis-Palamodov construction for a *system*: the characteristic variety is the light cone
``k . k = z_t^2`` (two sheets ``z_t = +- sqrt(k . k)``), and the solutions at a point of it are spanned by the six
polynomial Noetherian multipliers of :func:`specsolve.gp.ehrenpreis.maxwell_multipliers`. The prior
``f(x) = sum_{j, op} w_{j, op} D_op(z_j) exp(<x, z_j>)`` (real and imaginary parts, ``w ~ N(0, 1/m)``) has only exact
solutions as samples, and so has the posterior mean ``Phi(x*) (Phi^T Phi + sigma^2 m I)^{-1} Phi^T y`` (a combination
of features).

``points="monte_carlo"`` (EPGP): frequencies ``omega_j ~ N(0, scale^2 I_3)``, fixed; ``z_j = (i omega_j, +- i |omega_j|)``.
``points="learned"`` (S-EPGP): the same initial frequencies are then optimised with Adam on the negative log marginal
likelihood, together with ``log scale`` of the weights and the noise (``steps``).

Problem (``problem="plane_waves_3d"``): a superposition of three plane waves with fixed wave vectors and
polarisations (not in the feature set), on ``[-1, 1]^3 x [0, 1]``; data: all six fields at ``n_obs`` random points at
``t = 0`` (initial data determine a Maxwell solution); error: relative L2 over all six fields on a ``9^3 x 5`` grid.
This is not a ``specsolve solve`` solver (the output has six fields); run it with
``python -m specsolve.solvers.epgp_maxwell configs/gp/maxwell/epgp_maxwell.yaml``.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.gp.common import error_metrics, parse_dtype
from specsolve.gp.ehrenpreis import MAXWELL_FIELDS, maxwell_features, maxwell_points
from specsolve.registry import register

#: (amplitude vector a, wave vector k, phase): E = a cos(k.x - |k| t + p), B = (k/|k|) x E; a is made orthogonal to k
_PLANE_WAVES = (
    ((0.0, 1.0, 0.3), (2.0, 0.0, 0.5), 0.2),
    ((0.5, -0.2, 1.0), (-0.7, 1.6, 0.4), -0.9),
    ((1.0, 0.4, -0.3), (0.3, -0.5, -1.8), 1.4),
)
_BOUNDS = ((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0), (0.0, 1.0))


def plane_waves_exact(x: Tensor) -> Tensor:
    """The exact Maxwell solution at points ``x`` ``(s, 4)``: ``(s, 6)`` fields (:data:`MAXWELL_FIELDS` order)."""
    out = torch.zeros(x.shape[0], 6, dtype=x.dtype, device=x.device)
    for a, k, p in _PLANE_WAVES:
        kv = torch.tensor(k, dtype=x.dtype, device=x.device)
        av = torch.tensor(a, dtype=x.dtype, device=x.device)
        av = av - (av @ kv) / (kv @ kv) * kv  # transverse polarisation
        kn = torch.linalg.vector_norm(kv)
        phase = torch.cos(x[:, :3] @ kv - kn * x[:, 3] + p)
        e = phase[:, None] * av
        b = phase[:, None] * torch.linalg.cross(kv / kn, av, dim=-1)[None]
        out = out + torch.cat([e, b], -1)
    return out


def _grid_points(n: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    axes = [torch.linspace(lo, hi, m, dtype=dtype) for (lo, hi), m in zip(_BOUNDS, n)]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], -1)


@register("solver", "epgp_maxwell")
class EPGPMaxwell(nn.Module):
    """EPGP (Monte-Carlo light-cone points) or S-EPGP (learned points) for Maxwell's equations from initial data.

    Parameters
    ----------
    problem : ``plane_waves_3d`` (the only Maxwell problem).
    n_freq : frequencies ``r`` (features: ``2 sheets x 6 multipliers x 2 (Re, Im) x r``).
    scale : ``omega ~ N(0, scale^2 I)``.
    noise : observation noise variance (relative to the prior's unit weight variance ``1/m`` per feature).
    n_obs : observation points at ``t = 0`` (uniform random in the box), each with all six fields.
    points : ``monte_carlo`` (EPGP) or ``learned`` (S-EPGP: Adam on the marginal likelihood for ``steps`` steps).
    steps, lr : S-EPGP optimisation (ignored for ``monte_carlo``).
    seed, dtype : reproducibility and precision.
    """

    def __init__(
        self,
        problem: str = "plane_waves_3d",
        n_freq: int = 200,
        scale: float = 2.0,
        noise: float = 1e-8,
        n_obs: int = 300,
        points: Literal["monte_carlo", "learned"] = "monte_carlo",
        steps: int = 0,
        lr: float = 0.01,
        seed: int = 0,
        dtype: Literal["float64", "float32"] = "float64",
    ) -> None:
        super().__init__()
        if problem != "plane_waves_3d":
            raise ConfigError(f"epgp_maxwell: the only Maxwell problem is 'plane_waves_3d', got '{problem}'")
        if points not in ("monte_carlo", "learned"):
            raise ConfigError(f"epgp_maxwell: points must be 'monte_carlo' or 'learned', got '{points}'")
        if n_freq < 1 or n_obs < 1 or scale <= 0 or noise <= 0 or steps < 0 or lr <= 0:
            raise ConfigError("epgp_maxwell: n_freq, n_obs >= 1, scale, noise, lr > 0 and steps >= 0 are required")
        self.dtype = parse_dtype(dtype)
        self.points, self.steps, self.lr = points, steps, lr
        g = torch.Generator().manual_seed(seed)
        self.omega = nn.Parameter(scale * torch.randn(n_freq, 3, generator=g, dtype=self.dtype))
        self.omega.requires_grad_(points == "learned")
        self.log_noise = nn.Parameter(
            torch.tensor(math.log(noise), dtype=self.dtype), requires_grad=points == "learned"
        )
        lo, hi = torch.tensor([b[0] for b in _BOUNDS[:3]]), torch.tensor([b[1] for b in _BOUNDS[:3]])
        space = lo + (hi - lo) * torch.rand(n_obs, 3, generator=g, dtype=torch.float64)
        x = torch.cat([space, torch.zeros(n_obs, 1, dtype=torch.float64)], -1).to(self.dtype)
        self.register_buffer("x_obs", x)
        self.register_buffer("y_obs", plane_waves_exact(x))
        self._weights: Tensor | None = None

    def _design(self, x: Tensor) -> Tensor:
        """``(6 s, M)`` real design matrix (rows: point-major, field-minor), scaled by ``1/sqrt(M)``."""
        f = maxwell_features(x, maxwell_points(self.omega))
        return f.reshape(-1, f.shape[-1]) / math.sqrt(f.shape[-1])

    def _solve(self) -> tuple[Tensor, Tensor]:
        """Posterior weight mean and the negative log marginal likelihood (Woodbury in feature space)."""
        phi = self._design(self.x_obs)
        y = self.y_obs.reshape(-1)
        s2 = torch.exp(self.log_noise)
        a = phi.T @ phi + s2 * torch.eye(phi.shape[1], dtype=phi.dtype)
        chol = torch.linalg.cholesky(a)
        py = phi.T @ y
        w = torch.cholesky_solve(py[:, None], chol)[:, 0]
        n, m = y.numel(), phi.shape[1]
        nlml = 0.5 * (y @ y - py @ w) / s2 + 0.5 * (n - m) * torch.log(s2) + torch.log(torch.diagonal(chol)).sum()
        return w, nlml

    def fit(self, progress=None) -> dict:  # noqa: ANN001
        t0 = time.perf_counter()
        stats: dict = {"steps": 0}
        if self.points == "learned" and self.steps:
            opt = torch.optim.Adam([self.omega, self.log_noise], lr=self.lr)
            for step in range(1, self.steps + 1):
                opt.zero_grad(set_to_none=True)
                _, nlml = self._solve()
                nlml.backward()
                opt.step()
                if progress is not None:
                    progress(step, float(nlml.detach()))
            stats["steps"] = self.steps
        with torch.no_grad():
            w, nlml = self._solve()
        self._weights = w
        stats.update({"nlml": float(nlml), "time_s": time.perf_counter() - t0})
        return stats

    def mean(self, x: Tensor) -> Tensor:
        """Posterior mean of the six fields at points ``x`` ``(s, 4)``: ``(s, 6)`` (differentiable in ``x``)."""
        if self._weights is None:
            raise ConfigError("epgp_maxwell: call fit() before predicting")
        return (self._design(x) @ self._weights).reshape(x.shape[0], 6)

    def test_grid(self) -> None:
        """Not a ``specsolve solve`` solver: its output has six fields (see the module docstring)."""
        raise ConfigError(
            "epgp_maxwell has six output fields and is not run by 'specsolve solve'; use "
            "python -m specsolve.solvers.epgp_maxwell CONFIG.yaml"
        )

    def test_points(self) -> Tensor:
        return _grid_points((9, 9, 9, 5), self.dtype)

    @torch.no_grad()
    def evaluate(self) -> dict:
        x = self.test_points()
        out = error_metrics(self.mean(x), plane_waves_exact(x))
        out.update(
            {
                f"rel_l2_{f}": error_metrics(self.mean(x)[:, i], plane_waves_exact(x)[:, i])["rel_l2"]
                for i, f in enumerate(MAXWELL_FIELDS)
            }
        )
        return out


def main(argv: list[str] | None = None) -> int:
    """``python -m specsolve.solvers.epgp_maxwell CONFIG.yaml``: fit and print the errors."""
    from omegaconf import OmegaConf

    from specsolve.registry.signature import validate_params

    args = sys.argv[1:] if argv is None else argv
    cfg = OmegaConf.to_container(OmegaConf.load(args[0]))
    params = dict(cfg["solver"])
    params.pop("name", None)
    solver = EPGPMaxwell(**validate_params(EPGPMaxwell, params, where=args[0]))
    stats = solver.fit()
    print({"fit": stats, "metrics": solver.evaluate()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Small PDE problem descriptions with exact solutions, for the GP solvers (GP-HM, EPGP, S-EPGP).

Self-contained on purpose (the general PDE layer lives in :mod:`specsolve.pde`). A problem is a box with named axes,
a PDE ``F[u] = f`` written on a dictionary of partial derivatives keyed by multi-index (``(0, 2)`` is ``u_yy``),
and an exact solution; manufactured sources are ``f = F[u_exact]`` computed by autograd.

Conventions: the last axis is time for ``heat``/``wave`` (``x[, y], t``); for ``advection`` the second axis ``y``
plays time (``beta u_x + u_y = 0``), as in the GP-HM code. Tensor grids include both endpoints.

GP-HM problems follow the paper's table (Fang et al. 2024, reference section 1.3); EPGP problems follow
Haerkoenen et al. 2023 (heat 1-D exactly; wave and Laplace with exact solutions replacing py-pde references).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from specsolve.errors import ConfigError

Derivs = dict[tuple[int, ...], Tensor]
PDEKind = Literal["poisson", "allen_cahn", "advection", "heat", "wave", "laplace"]
ObserveKind = Literal["none", "initial", "snapshots", "boundary"]


@dataclass(frozen=True)
class Problem:
    """A PDE on a box with an exact solution.

    ``exact(*coords)`` is elementwise in broadcastable coordinate tensors (one per axis). GP-HM defaults
    (``n_points``, ``freq_scale``, ``boundary_weight``) are the paper's values; ``observe`` says which data the EPGP
    solvers condition on.
    """

    name: str
    pde: PDEKind
    axes: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    exact: Callable[..., Tensor]
    formula: str
    beta: float = 0.0
    n_points: int = 400
    freq_scale: float = 20.0
    boundary_weight: float = 200.0
    test_points: tuple[int, ...] = (300,)
    observe: ObserveKind = "none"
    obs_times: tuple[float, ...] = field(default_factory=tuple)
    n_obs: int = 0

    @property
    def dim(self) -> int:
        return len(self.axes)

    @property
    def is_linear(self) -> bool:
        return self.pde != "allen_cahn"

    @property
    def is_homogeneous(self) -> bool:
        """True if the problem has no source term (``F[u] = 0``), i.e. EPGP-eligible when also linear."""
        return self.pde in ("heat", "wave", "laplace", "advection")

    @property
    def time_axis(self) -> int | None:
        return self.dim - 1 if self.pde in ("heat", "wave") else None

    def _unit(self, axis: int, order: int) -> tuple[int, ...]:
        return tuple(order if j == axis else 0 for j in range(self.dim))

    def derivative_orders(self) -> list[tuple[int, ...]]:
        """Multi-indices the operator needs (besides ``u`` itself)."""
        if self.pde in ("poisson", "allen_cahn", "laplace"):
            return [self._unit(j, 2) for j in range(self.dim)]
        if self.pde == "advection":
            return [self._unit(0, 1), self._unit(1, 1)]
        t = self.dim - 1
        return [self._unit(t, 1 if self.pde == "heat" else 2)] + [self._unit(j, 2) for j in range(t)]

    def operator(self, u: Tensor, derivs: Derivs) -> Tensor:
        """``F[u]`` from ``u`` and its partial derivatives (same shapes)."""
        if self.pde in ("poisson", "laplace"):
            return sum(derivs[self._unit(j, 2)] for j in range(self.dim))
        if self.pde == "allen_cahn":
            lap = sum(derivs[self._unit(j, 2)] for j in range(self.dim))
            return lap + u * (u * u - 1.0)
        if self.pde == "advection":
            return self.beta * derivs[self._unit(0, 1)] + derivs[self._unit(1, 1)]
        t = self.dim - 1
        lap = sum(derivs[self._unit(j, 2)] for j in range(t))
        order = 1 if self.pde == "heat" else 2
        return derivs[self._unit(t, order)] - lap

    # ---- grids and exact data -------------------------------------------------------------------------------
    def grid(self, n: int | Sequence[int]) -> list[Tensor]:
        """1-D coordinate vectors of a tensor grid with ``n`` points per axis, endpoints included (float64)."""
        ns = [n] * self.dim if isinstance(n, int) else list(n)
        if len(ns) != self.dim:
            raise ConfigError(f"problem '{self.name}' has {self.dim} axes, got {len(ns)} grid sizes")
        return [torch.linspace(lo, hi, m, dtype=torch.float64) for (lo, hi), m in zip(self.bounds, ns)]

    def test_grid(self) -> dict[str, Tensor]:
        return dict(zip(self.axes, self.grid(list(self.test_points))))

    def exact_on_grid(self, coords: Sequence[Tensor]) -> Tensor:
        mesh = torch.meshgrid(*coords, indexing="ij")
        return self.exact(*mesh)

    def source_on_grid(self, coords: Sequence[Tensor]) -> Tensor:
        """Manufactured source ``f = F[u_exact]`` on a tensor grid (autograd, float64)."""
        mesh = [m.reshape(-1).clone().requires_grad_(True) for m in torch.meshgrid(*coords, indexing="ij")]
        u = self.exact(*mesh)
        derivs = autograd_derivatives(u, mesh, self.derivative_orders())
        f = self.operator(u, derivs)
        return f.detach().reshape([c.numel() for c in coords])

    def observations(self, n: int | None = None) -> tuple[Tensor, Tensor]:
        """EPGP training data ``(X, y)``: points ``(s, d)`` and exact values ``(s,)``.

        ``initial``: ``n`` points per space axis at ``t = 0``; ``snapshots``: ``n`` per space axis at each of
        ``obs_times``; ``boundary``: ``n`` points per edge of the 2-D box (corners once). ``n`` defaults to
        ``n_obs``.
        """
        n = self.n_obs if n is None else n
        if n < 2:
            raise ConfigError(f"problem '{self.name}': need at least 2 observation points per axis/edge, got {n}")
        if self.observe == "initial":
            space = [torch.linspace(lo, hi, n, dtype=torch.float64) for lo, hi in self.bounds[:-1]]
            pts = _mesh_points(space + [torch.tensor([self.bounds[-1][0]], dtype=torch.float64)])
        elif self.observe == "snapshots":
            space = [torch.linspace(lo, hi, n, dtype=torch.float64) for lo, hi in self.bounds[:-1]]
            pts = _mesh_points(space + [torch.tensor(self.obs_times, dtype=torch.float64)])
        elif self.observe == "boundary":
            (x0, x1), (y0, y1) = self.bounds
            s = torch.linspace(0.0, 1.0, n, dtype=torch.float64)[:-1]
            edges = [
                torch.stack([x0 + (x1 - x0) * s, torch.full_like(s, y0)], -1),
                torch.stack([torch.full_like(s, x1), y0 + (y1 - y0) * s], -1),
                torch.stack([x1 - (x1 - x0) * s, torch.full_like(s, y1)], -1),
                torch.stack([torch.full_like(s, x0), y1 - (y1 - y0) * s], -1),
            ]
            pts = torch.cat(edges, 0)
        else:
            raise ConfigError(f"problem '{self.name}' defines no observations for EPGP")
        return pts, self.exact(*pts.unbind(-1))


def _mesh_points(coords: Sequence[Tensor]) -> Tensor:
    mesh = torch.meshgrid(*coords, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], -1)


def autograd_derivatives(u: Tensor, coords: Sequence[Tensor], orders: Sequence[tuple[int, ...]]) -> Derivs:
    """Partial derivatives of a pointwise function ``u(coords)`` (flat tensors with ``requires_grad``) by autograd.

    Only pure derivatives (one nonzero entry per multi-index) are needed by the operators here.
    """
    out: Derivs = {}
    for alpha in orders:
        nz = [(j, m) for j, m in enumerate(alpha) if m > 0]
        if len(nz) != 1:
            raise NotImplementedError("mixed derivatives are not needed by these problems")
        axis, m = nz[0]
        g = u
        for _ in range(m):
            (g,) = torch.autograd.grad(g.sum(), coords[axis], create_graph=True)
        out[alpha] = g
    return out


# ---- exact solutions ------------------------------------------------------------------------------------------
def _heat_1d_exact(x: Tensor, t: Tensor) -> Tensor:
    """Exact heat solution of the EPGP paper (u_t = u_xx on R)."""
    s = 5.0 + 4.0 * t
    num = 64 * t**3 + 125 * (x - 3) * (x - 1) * (x + 2) - 50 * t * (x - 2) * (13 + 4 * x) + 40 * t**2 * (16 + 5 * x)
    return math.sqrt(5.0) * num / (torch.exp(x * x / s) * s**3.5)


_HEAT2D_BUMPS = ((1.0, -0.4, 0.2, 0.3), (-0.6, 0.5, -0.3, 0.5))  # (amplitude, cx, cy, width w)


def _heat_2d_exact(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    """Two spreading Gaussians: ``a w/(w+4t) exp(-|x-c|^2/(w+4t))`` solves u_t = u_xx + u_yy."""
    out = torch.zeros_like(x + y + t)
    for a, cx, cy, w in _HEAT2D_BUMPS:
        s = w + 4.0 * t
        out = out + a * (w / s) * torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / s)
    return out


_WAVE_MODES = (  # (amplitude, kx, ky, spatial phase, temporal phase)
    (1.0, math.pi, 0.0, 0.3, 0.0),
    (0.6, 0.0, 1.5 * math.pi, -0.5, 0.7),
    (0.5, math.pi, math.pi, 1.1, -0.4),
    (0.3, 2.0 * math.pi, -math.pi, 0.0, 1.3),
)


def _wave_2d_exact(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    """Superposition of standing waves ``a cos(k.x + p) cos(|k| t + q)``: solves u_tt = u_xx + u_yy."""
    out = torch.zeros_like(x + y + t)
    for a, kx, ky, p, q in _WAVE_MODES:
        out = out + a * torch.cos(kx * x + ky * y + p) * torch.cos(math.hypot(kx, ky) * t + q)
    return out


def _laplace_2d_exact(x: Tensor, y: Tensor) -> Tensor:
    """``Re(exp z) + 0.2 Re(sin 2z)``-type harmonic function: ``e^x cos y + 0.2 sin(2x) cosh(2y)``."""
    return torch.exp(x) * torch.cos(y) + 0.2 * torch.sin(2 * x) * torch.cosh(2 * y)


_TWO_PI = 2.0 * math.pi

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "poisson_1d_sin100",
            "poisson",
            ("x",),
            ((0.0, _TWO_PI),),
            lambda x: torch.sin(100 * x),
            "u_xx = f, u = sin(100x), x in [0, 2pi]",
            n_points=400,
            freq_scale=20.0,
        ),
        Problem(
            "poisson_1d_xsin200",
            "poisson",
            ("x",),
            ((0.0, _TWO_PI),),
            lambda x: x * torch.sin(200 * x),
            "u_xx = f, u = x sin(200x), x in [0, 2pi]",
            n_points=900,
            freq_scale=50.0,
        ),
        Problem(
            "poisson_1d_sin6cos100",
            "poisson",
            ("x",),
            ((0.0, _TWO_PI),),
            lambda x: torch.sin(6 * x) * torch.cos(100 * x),
            "u_xx = f, u = sin(6x) cos(100x), x in [0, 2pi]",
            n_points=400,
            freq_scale=20.0,
        ),
        Problem(
            "poisson_1d_sin500_quad",
            "poisson",
            ("x",),
            ((0.0, 1.0),),
            lambda x: torch.sin(500 * x) - 2 * (x - 0.5) ** 2,
            "u_xx = f, u = sin(500x) - 2(x - 0.5)^2, x in [0, 1]",
            n_points=400,
            freq_scale=100.0,
        ),
        Problem(
            "poisson_1d_sin10",
            "poisson",
            ("x",),
            ((0.0, _TWO_PI),),
            lambda x: torch.sin(10 * x),
            "u_xx = f, u = sin(10x), x in [0, 2pi] (easy smoke problem)",
            n_points=64,
            freq_scale=4.0,
        ),
        Problem(
            "allen_cahn_1d_sin100",
            "allen_cahn",
            ("x",),
            ((0.0, _TWO_PI),),
            lambda x: torch.sin(100 * x),
            "u_xx + u(u^2 - 1) = f, u = sin(100x), x in [0, 2pi]",
            n_points=400,
            freq_scale=20.0,
        ),
        Problem(
            "poisson_2d_sin100",
            "poisson",
            ("x", "y"),
            ((0.0, _TWO_PI), (0.0, _TWO_PI)),
            lambda x, y: torch.sin(100 * x) * torch.sin(100 * y),
            "u_xx + u_yy = f, u = sin(100x) sin(100y), [0, 2pi]^2",
            n_points=400,
            freq_scale=20.0,
            test_points=(300, 300),
        ),
        Problem(
            "advection_2d",
            "advection",
            ("x", "y"),
            ((0.0, 1.0), (0.0, 1.0)),
            lambda x, y: torch.sin(x - 200 * y),
            "200 u_x + u_y = 0, u = sin(x - 200y), [0, 1]^2",
            beta=200.0,
            n_points=200,
            freq_scale=40.0,
            boundary_weight=500.0,
            test_points=(300, 300),
        ),
        Problem(
            "heat_1d",
            "heat",
            ("x", "t"),
            ((-5.0, 5.0), (0.0, 5.0)),
            _heat_1d_exact,
            "u_t = u_xx, EPGP paper's exact solution, x in [-5, 5], t in [0, 5]",
            test_points=(101, 51),
            observe="initial",
            n_obs=50,
        ),
        Problem(
            "heat_2d",
            "heat",
            ("x", "y", "t"),
            ((-2.0, 2.0), (-2.0, 2.0), (0.0, 1.0)),
            _heat_2d_exact,
            "u_t = u_xx + u_yy, two spreading Gaussians, [-2, 2]^2 x [0, 1]",
            test_points=(41, 41, 11),
            observe="initial",
            n_obs=21,
        ),
        Problem(
            "wave_2d",
            "wave",
            ("x", "y", "t"),
            ((-1.0, 1.0), (-1.0, 1.0), (0.0, 2.0)),
            _wave_2d_exact,
            "u_tt = u_xx + u_yy, four standing waves, [-1, 1]^2 x [0, 2]",
            test_points=(33, 33, 21),
            observe="snapshots",
            obs_times=(0.0, 0.25, 0.5),
            n_obs=16,
        ),
        Problem(
            "laplace_2d",
            "laplace",
            ("x", "y"),
            ((0.0, 1.0), (0.0, 1.0)),
            _laplace_2d_exact,
            "u_xx + u_yy = 0, u = e^x cos y + 0.2 sin 2x cosh 2y, [0, 1]^2",
            n_points=64,
            freq_scale=2.0,
            test_points=(64, 64),
            observe="boundary",
            n_obs=13,
        ),
    ]
}


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(PROBLEMS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown problem '{name}'{hint}; available: {', '.join(PROBLEMS)}") from None

"""GP benchmark problems: a registered PDE (:class:`~specsolve.pde.spec.PDESpec`) on a box with an exact solution, plus
the GP solvers' defaults (GP-HM, EPGP, S-EPGP). Registered as components of kind ``problem``.

A :class:`Problem` holds no equation of its own: the operator, the manufactured source ``f = F[u_exact]`` and the
derivatives come from its ``spec`` (:meth:`PDESpec.residual`, :func:`~specsolve.pde.autograd.autograd_derivatives`).

**Axis order.** The spec's axes follow the one convention of :mod:`specsolve.pde.domain` (time first). The GP
solvers keep the layout of the GP papers' code: :attr:`Problem.axes` lists the same axes with the time axis moved
last (``x[, y], t``); grids, observation points, predictions and the multi-indices of :meth:`Problem.residual` use
that order, and :meth:`Problem.to_spec_order` is the one place that maps it to the spec's. For ``advection_2d`` the
axis ``y`` plays time (``beta u_x + u_y = 0``, as in the GP-HM code). Tensor grids include both endpoints
(``linspace``).

GP-HM problems follow the paper's table (Fang et al. 2024, reference section 1.3); EPGP problems follow
Haerkoenen et al. 2023 (heat 1-D exactly; wave and Laplace with exact solutions replacing py-pde references).
Poisson problems ``lap u = f`` are the registered ``laplace`` operator with a manufactured source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import Tensor

from specsolve.errors import ConfigError, RegistryError
from specsolve.pde.autograd import autograd_derivatives
from specsolve.pde.domain import Axis, Domain
from specsolve.pde.keys import Derivatives
from specsolve.pde.library import get_pde
from specsolve.pde.operators import LinearOperator, MultiIndex
from specsolve.pde.spec import BoundaryCondition, PDESpec
from specsolve.registry import get, list_components, lookup, register

ObserveKind = Literal["none", "initial", "snapshots", "boundary"]


def solver_axes(domain: Domain) -> tuple[str, ...]:
    """The GP solvers' axis order of ``domain``: the spatial axes, then the time axis (if any)."""
    names = domain.names
    return tuple(names[i] for i in domain.spatial_axes) + (() if domain.time_axis is None else (names[0],))


@dataclass(frozen=True)
class Problem:
    """A benchmark problem: ``spec`` (operator, box, exact solution, manufactured source) and the solvers' defaults.

    GP-HM defaults (``n_points``, ``freq_scale``, ``boundary_weight``) are the paper's values; ``paper_steps`` is the
    paper code's epoch count and ``paper_change_point`` its extra-GP change point (``None``: no extra GP), both used by
    GP-HM's ``protocol="paper"``; ``observe`` says which data the EPGP solvers condition on. Coordinates and
    multi-indices are in :attr:`axes` order (time last).
    """

    name: str
    spec: PDESpec
    formula: str
    n_points: int = 400
    freq_scale: float = 20.0
    boundary_weight: float = 200.0
    test_points: tuple[int, ...] = (300,)
    observe: ObserveKind = "none"
    obs_times: tuple[float, ...] = field(default_factory=tuple)
    n_obs: int = 0
    paper_steps: int = 100_000
    paper_change_point: float | None = None

    def __post_init__(self) -> None:
        if self.spec.exact_solution is None:
            raise ConfigError(f"problem '{self.name}': the PDE specification has no exact solution")

    # ---- the PDE -----------------------------------------------------------------------------------------------
    @property
    def pde(self) -> str:
        """The registered PDE the problem is built on (``spec.name``)."""
        return self.spec.name

    @property
    def axes(self) -> tuple[str, ...]:
        return solver_axes(self.spec.domain)

    @property
    def dim(self) -> int:
        return self.spec.domain.ndim

    @property
    def bounds(self) -> tuple[tuple[float, float], ...]:
        dom = self.spec.domain
        return tuple(tuple(dom.axes[dom.index(a)].bounds) for a in self.axes)

    @property
    def is_linear(self) -> bool:
        return self.spec.is_linear

    @property
    def is_homogeneous(self) -> bool:
        """True if the PDE has no source term (``F[u] = 0``), i.e. EPGP-eligible when also linear."""
        return self.spec.is_homogeneous

    @property
    def time_axis(self) -> int | None:
        return None if self.spec.domain.time_axis is None else self.dim - 1

    def to_spec_order(self, items: Sequence) -> tuple:
        """Per-axis ``items`` (coordinates, orders) in :attr:`axes` order -> the spec's axis order (time first)."""
        where = {a: i for i, a in enumerate(self.axes)}
        return tuple(items[where[a]] for a in self.spec.domain.names)

    def derivative_orders(self) -> list[MultiIndex]:
        """Multi-indices (axes order) of the derivatives of ``u`` the operator needs, besides ``u`` itself."""
        where = [self.spec.domain.index(a) for a in self.axes]
        orders = [tuple(alpha[i] for i in where) for f, alpha in self.spec.required_derivatives() if f == "u"]
        return [a for a in orders if any(a)]

    def residual(self, u: Tensor, derivs: dict[MultiIndex, Tensor], source: Tensor | float = 0.0) -> Tensor:
        """``F[u] - source`` from ``u`` and its derivatives ``{alpha (axes order): tensor}`` (same shapes)."""
        d = Derivatives({("u", (0,) * self.dim): u})
        for alpha, value in derivs.items():
            d["u", self.to_spec_order(alpha)] = value
        return self.spec.residual(d, source=source if isinstance(source, Tensor) else torch.full_like(u, source))

    def operator(self, fn: Callable[[tuple[Tensor, ...]], Tensor], coords: Sequence[Tensor]) -> Tensor:
        """``F[u] = L u + sum_i N_i[u]`` (no source) of ``u = fn(coords)`` by autograd; ``coords``: equal-shape
        coordinate tensors in :attr:`axes` order, and ``fn`` takes that tuple."""
        u = in_spec_order(self.spec.domain, lambda *x: fn(x))
        spec = self.spec.with_(source=None)
        return spec.residual(autograd_derivatives(u, self.to_spec_order(coords), spec.required_derivatives()))

    # ---- grids and exact data -------------------------------------------------------------------------------
    def exact(self, *coords: Tensor) -> Tensor:
        """The exact solution at broadcastable coordinate tensors, one per axis (:attr:`axes` order)."""
        assert self.spec.exact_solution is not None
        return self.spec.exact_solution(self.to_spec_order(coords))

    def with_exact(self, exact: Callable[..., Tensor], **changes: object) -> Problem:
        """A copy with exact solution ``exact(*coords)`` (axes order); a manufactured source is recomputed."""
        return replace(self, spec=_with_exact(self.spec, exact, self.spec.source is not None), **changes)

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
        mesh = [m.reshape(-1) for m in torch.meshgrid(*coords, indexing="ij")]
        f = self.operator(lambda x: self.exact(*x), mesh)
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


def in_spec_order(domain: Domain, fn: Callable[..., Tensor]) -> Callable[[tuple[Tensor, ...]], Tensor]:
    """``fn(*coords)`` with coordinates in :func:`solver_axes` order -> a callable of the spec-order tuple."""
    axes, where = solver_axes(domain), {a: i for i, a in enumerate(domain.names)}
    return lambda x: fn(*(x[where[a]] for a in axes))


def _mesh_points(coords: Sequence[Tensor]) -> Tensor:
    mesh = torch.meshgrid(*coords, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], -1)


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


def _mix_sin_1d(x: Tensor) -> Tensor:
    """GP-HM's ``poisson_1d-mix_sin`` as its code defines it (its README writes ``0.05 cos(100x)`` instead)."""
    return torch.sin(x) + 0.1 * torch.sin(20 * x) + 0.05 * torch.sin(100 * x)


def _mix_sincos(s: Tensor) -> Tensor:
    """The 1-D factor of GP-HM's ``allencahn_2d-mix-sincos``: ``sin s + 0.1 sin 20s + cos 100s``."""
    return torch.sin(s) + 0.1 * torch.sin(20 * s) + torch.cos(100 * s)


def _with_exact(spec: PDESpec, exact: Callable[..., Tensor], manufactured: bool) -> PDESpec:
    """``spec`` with exact solution ``exact(*coords)`` (solver order); ``manufactured``: and the source ``F[exact]``."""
    fn = in_spec_order(spec.domain, exact)
    return spec.manufactured(fn) if manufactured else spec.with_(exact_solution=fn)


def _on_box(spec: PDESpec, bounds: dict[str, tuple[float, float]], bcs: tuple[BoundaryCondition, ...] | None = None):
    """``spec`` on the non-periodic box ``bounds`` (axis name -> interval; ``is_time`` kept), optionally new ``bcs``."""
    axes = tuple(Axis(a.name, bounds[a.name], False, a.is_time) for a in spec.domain.axes)
    return spec.with_(domain=Domain(axes), **({} if bcs is None else {"bcs": bcs}))


def _poisson(dim: int, bounds: dict[str, tuple[float, float]], exact: Callable[..., Tensor]) -> PDESpec:
    """``lap u = f`` (the ``laplace`` operator), Dirichlet data and source manufactured from ``exact``."""
    return _with_exact(_on_box(get_pde("laplace", dim=dim), bounds), exact, manufactured=True)


def _initial_from_exact(orders: int) -> tuple[BoundaryCondition, ...]:
    return tuple(BoundaryCondition("initial", "t", "lower", None, k) for k in range(orders))


_TWO_PI = 2.0 * math.pi
_X = {"x": (0.0, _TWO_PI)}


def _advection_2d() -> PDESpec:
    """GP-HM's ``beta u_x + u_y = 0`` on ``[0, 1]^2``: the ``advection`` PDE with ``y`` as its time axis (inflow
    data at ``y = 0`` and on both ``x`` faces; GP-HM imposes the exact solution on every face)."""
    spec = get_pde("advection", dim=1, beta=200.0)
    domain = Domain((Axis("y", (0.0, 1.0), is_time=True), Axis("x", (0.0, 1.0))))
    bcs = (BoundaryCondition("initial", "y", "lower", None), BoundaryCondition("dirichlet", "x", "both", None))
    # the same operator with the transport term first, as GP-HM's code writes it: the sum's order is the order of
    # autograd's gradient accumulation, and keeping it keeps GP-HM's optimisation path bit for bit
    linear = LinearOperator(dict(reversed(spec.linear.terms.items())), spec.linear.ndim)
    return spec.with_(domain=domain, bcs=bcs, linear=linear)


def _problems() -> list[Problem]:
    return [
        Problem(
            "poisson_1d_sin100",
            _poisson(1, _X, lambda x: torch.sin(100 * x)),
            "u_xx = f, u = sin(100x), x in [0, 2pi]",
            n_points=400,
            freq_scale=20.0,
        ),
        Problem(
            "poisson_1d_xsin200",
            _poisson(1, _X, lambda x: x * torch.sin(200 * x)),
            "u_xx = f, u = x sin(200x), x in [0, 2pi]",
            n_points=900,
            freq_scale=50.0,
        ),
        Problem(
            "poisson_1d_sin6cos100",
            _poisson(1, _X, lambda x: torch.sin(6 * x) * torch.cos(100 * x)),
            "u_xx = f, u = sin(6x) cos(100x), x in [0, 2pi]",
            n_points=400,
            freq_scale=20.0,
        ),
        Problem(
            "poisson_1d_sin500_quad",
            _poisson(1, {"x": (0.0, 1.0)}, lambda x: torch.sin(500 * x) - 2 * (x - 0.5) ** 2),
            "u_xx = f, u = sin(500x) - 2(x - 0.5)^2, x in [0, 1]",
            n_points=400,
            freq_scale=100.0,
            paper_steps=1_000_000,
            paper_change_point=0.01,
        ),
        Problem(
            "poisson_1d_mix_sin",
            _poisson(1, {"x": (0.0, 1.0)}, _mix_sin_1d),
            "u_xx = f, u = sin(x) + 0.1 sin(20x) + 0.05 sin(100x), x in [0, 1] (the paper code's sine variant)",
            n_points=900,
            freq_scale=30.0,
            paper_steps=1_000_000,
            paper_change_point=0.5,
        ),
        Problem(
            "poisson_1d_sin10",
            _poisson(1, _X, lambda x: torch.sin(10 * x)),
            "u_xx = f, u = sin(10x), x in [0, 2pi] (easy smoke problem)",
            n_points=64,
            freq_scale=4.0,
        ),
        Problem(
            "allen_cahn_1d_sin100",
            _with_exact(_on_box(get_pde("allen_cahn", dim=1), _X), lambda x: torch.sin(100 * x), manufactured=True),
            "u_xx + u(u^2 - 1) = f, u = sin(100x), x in [0, 2pi]",
            n_points=400,
            freq_scale=20.0,
        ),
        Problem(
            "allen_cahn_1d_sin6cos100",
            _with_exact(
                _on_box(get_pde("allen_cahn", dim=1), _X),
                lambda x: torch.sin(6 * x) * torch.cos(100 * x),
                manufactured=True,
            ),
            "u_xx + u(u^2 - 1) = f, u = sin(6x) cos(100x), x in [0, 2pi]",
            n_points=400,
            freq_scale=20.0,
        ),
        Problem(
            "poisson_2d_sin100",
            _poisson(2, {**_X, "y": (0.0, _TWO_PI)}, lambda x, y: torch.sin(100 * x) * torch.sin(100 * y)),
            "u_xx + u_yy = f, u = sin(100x) sin(100y), [0, 2pi]^2",
            n_points=400,
            freq_scale=20.0,
            test_points=(300, 300),
        ),
        Problem(
            "poisson_2d_sin6cos20",
            _poisson(
                2,
                {**_X, "y": (0.0, _TWO_PI)},
                lambda x, y: torch.sin(6 * x) * torch.cos(20 * x) + torch.sin(6 * y) * torch.cos(20 * y),
            ),
            "u_xx + u_yy = f, u = sin(6x) cos(20x) + sin(6y) cos(20y), [0, 2pi]^2",
            n_points=200,
            freq_scale=20.0,
            test_points=(300, 300),
            paper_steps=1_000_000,
        ),
        Problem(
            "allen_cahn_2d_mix_sincos",
            _with_exact(
                _on_box(get_pde("allen_cahn", dim=2), {"x": (0.0, 1.0), "y": (0.0, 1.0)}),
                lambda x, y: _mix_sincos(x) * _mix_sincos(y),
                manufactured=True,
            ),
            "u_xx + u_yy + u(u^2 - 1) = f, u = g(x) g(y), g = sin(s) + 0.1 sin(20s) + cos(100s), [0, 1]^2",
            n_points=400,
            freq_scale=30.0,
            test_points=(300, 300),
            paper_steps=3_000_000,
        ),
        Problem(
            "advection_2d",
            _with_exact(_advection_2d(), lambda x, y: torch.sin(x - 200 * y), manufactured=False),
            "200 u_x + u_y = 0, u = sin(x - 200y), [0, 1]^2",
            n_points=200,
            freq_scale=40.0,
            boundary_weight=500.0,
            test_points=(300, 300),
            paper_steps=1_000_000,
        ),
        Problem(
            "heat_1d",
            _with_exact(
                _on_box(get_pde("heat", dim=1, nu=1.0), {"t": (0.0, 5.0), "x": (-5.0, 5.0)}), _heat_1d_exact, False
            ),
            "u_t = u_xx, EPGP paper's exact solution, x in [-5, 5], t in [0, 5]",
            test_points=(101, 51),
            observe="initial",
            n_obs=50,
        ),
        Problem(
            "heat_2d",
            _with_exact(
                _on_box(get_pde("heat", dim=2, nu=1.0), {"t": (0.0, 1.0), "x": (-2.0, 2.0), "y": (-2.0, 2.0)}),
                _heat_2d_exact,
                False,
            ),
            "u_t = u_xx + u_yy, two spreading Gaussians, [-2, 2]^2 x [0, 1]",
            test_points=(41, 41, 11),
            observe="initial",
            n_obs=21,
        ),
        Problem(
            "wave_2d",
            _with_exact(
                _on_box(
                    get_pde("wave", dim=2, c=1.0),
                    {"t": (0.0, 2.0), "x": (-1.0, 1.0), "y": (-1.0, 1.0)},
                    _initial_from_exact(2),
                ),
                _wave_2d_exact,
                False,
            ),
            "u_tt = u_xx + u_yy, four standing waves, [-1, 1]^2 x [0, 2]",
            test_points=(33, 33, 21),
            observe="snapshots",
            obs_times=(0.0, 0.25, 0.5),
            n_obs=16,
        ),
        Problem(
            "laplace_2d",
            _with_exact(get_pde("laplace", dim=2), _laplace_2d_exact, False),
            "u_xx + u_yy = 0, u = e^x cos y + 0.2 sin 2x cosh 2y, [0, 1]^2",
            n_points=64,
            freq_scale=2.0,
            test_points=(64, 64),
            observe="boundary",
            n_obs=13,
        ),
    ]


def _register(problem: Problem) -> None:
    def factory() -> Problem:
        return problem

    factory.__doc__ = problem.formula
    factory.__name__ = factory.__qualname__ = problem.name
    register("problem", problem.name)(factory)


for _problem in _problems():
    _register(_problem)


def list_problems() -> list[str]:
    """Names of the registered problems (built-ins and plugins)."""
    return [c.name for c in list_components("problem")]


def get_problem(name: str) -> Problem:
    """The registered problem ``name`` (a third party registers a factory returning a :class:`Problem` with
    ``@register("problem", name)`` or the entry-point group ``specsolve.problems``)."""
    factory = lookup("problem", name)  # built-ins: no plugin discovery
    try:
        factory = factory or get("problem", name)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    problem = factory()
    if not isinstance(problem, Problem):
        raise ConfigError(f"problem '{name}' is a {type(problem).__name__}, not a Problem")
    return problem

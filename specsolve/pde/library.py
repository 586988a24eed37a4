"""Built-in PDE specifications, registered as components of kind ``pde`` (``get_pde("poisson", dim=2)``).

Every factory returns a :class:`PDESpec` in residual form ``R = L u + sum N_i - f``; time comes first. Parameters
follow the benchmark papers (see ``references/``): NSM Poisson and reaction-diffusion, FNO Burgers / Darcy /
Navier-Stokes (``u = (psi_y, -psi_x)``, ``-lap psi = w``, forcing ``0.1 (sin 2pi(x+y) + cos 2pi(x+y))``), GP-HM
Allen-Cahn (``lap u + u (u^2 - 1) = f``, manufactured). The pseudo-spectral Navier-Stokes operator of the generator and
of spectral refinement is :mod:`specsolve.pde.vorticity`. Where a classical closed-form solution exists it is attached
as ``exact_solution`` (one member of the family, e.g. for one initial condition).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Literal

import torch

from specsolve.errors import ConfigError, RegistryError
from specsolve.pde.domain import Axis, Domain
from specsolve.pde.operators import LinearOperator, derivative, identity, laplacian
from specsolve.pde.spec import AuxField, BoundaryCondition, Coords, PDESpec, PointwiseTerm
from specsolve.pde.vorticity import fno_forcing
from specsolve.registry import get, list_components, lookup, register


def register_pde(name: str) -> Callable[[Callable[..., PDESpec]], Callable[..., PDESpec]]:
    """``@register("pde", name)``: a third-party PDE factory (returning a :class:`PDESpec`) registers the same way,
    or through the entry-point group ``specsolve.pdes``."""
    return register("pde", name)


def list_pdes() -> list[str]:
    """Names of the registered PDEs (built-ins and plugins)."""
    return [c.name for c in list_components("pde")]


def pde_factory(name: str) -> Callable[..., PDESpec]:
    """The factory registered as PDE ``name``; an unknown name raises :class:`ConfigError`."""
    fn = lookup("pde", name)  # built-ins: no plugin discovery
    if fn is None:
        try:
            fn = get("pde", name)
        except RegistryError as exc:
            raise ConfigError(f"unknown PDE '{name}'; {str(exc).split('; ', 1)[-1]}") from None
    return fn


def get_pde(name: str, **params: object) -> PDESpec:
    """Build the registered PDE ``name``; unknown names or parameters raise :class:`ConfigError`."""
    fn = pde_factory(name)
    allowed = inspect.signature(fn).parameters
    bad = [k for k in params if k not in allowed]
    if bad:
        raise ConfigError(f"PDE '{name}' has no parameter(s) {bad}; parameters: {', '.join(allowed)}")
    return fn(**params)


def _space(dim: int, length: float, periodic: bool, time: float | None = None) -> Domain:
    return Domain.box(dim, length, periodic, time)


def _dirichlet_all(domain: Domain, value: float | None = 0.0) -> tuple[BoundaryCondition, ...]:
    return tuple(
        BoundaryCondition("dirichlet", a.name, "both", value) for a in domain.axes if not (a.periodic or a.is_time)
    )


def _initial(domain: Domain, orders: int = 1) -> tuple[BoundaryCondition, ...]:
    t = domain.names[0]
    return (BoundaryCondition("initial", t, "lower", None, 0),) + tuple(
        BoundaryCondition("initial", t, "lower", 0.0, k) for k in range(1, orders)
    )


def _check_dim(dim: int, allowed: tuple[int, ...] = (1, 2, 3)) -> None:
    if dim not in allowed:
        raise ConfigError(f"dim must be one of {allowed}, got {dim}")


# ------------------------------------------------------------------------------------------ elliptic


@register("pde", "poisson")
def poisson(dim: int = 2, length: float = 1.0, periodic: bool = True) -> PDESpec:
    """``-lap u = s`` with the source ``s`` as model input (NSM). Periodic: ``s`` mean-free, ``u`` defined up to a
    constant; otherwise ``u = 0`` on the boundary. ``.manufactured(u)`` gives GP-HM-style problems."""
    _check_dim(dim)
    dom = _space(dim, length, periodic)
    return PDESpec(
        "poisson",
        dom,
        laplacian(dim, coefficient=-1.0),
        bcs=_dirichlet_all(dom),
        input_role="source",
        input_name="s",
        params={"dim": dim, "length": length},
        description="-lap u = s",
    )


@register("pde", "laplace")
def laplace(dim: int = 2, length: float = 1.0) -> PDESpec:
    """``lap u = 0`` on ``[0, L]^d`` with Dirichlet data from the harmonic exact solution
    ``prod_{i<d-1} sin(pi x_i / L) * sinh(sqrt(d-1) pi x_{d-1} / L) / sinh(sqrt(d-1) pi)`` (``x / L`` in 1-D)."""
    _check_dim(dim)
    dom = _space(dim, length, False)

    def exact(x: Coords) -> torch.Tensor:
        if dim == 1:
            return x[0] / length
        out = torch.ones_like(x[0])
        for xi in x[:-1]:
            out = out * torch.sin(math.pi * xi / length)
        r = math.sqrt(dim - 1) * math.pi
        return out * torch.sinh(r * x[-1] / length) / math.sinh(r)

    return PDESpec(
        "laplace",
        dom,
        laplacian(dim),
        bcs=_dirichlet_all(dom, None),
        exact_solution=exact,
        params={"dim": dim, "length": length},
        description="lap u = 0",
    )


@register("pde", "darcy")
def darcy(dim: int = 2, forcing: float = 1.0, length: float = 1.0) -> PDESpec:
    """``-div(a grad u) = f`` (FNO Darcy: ``f = 1``, ``u = 0`` on the boundary), coefficient ``a`` as model input.

    Written pointwise as ``-(a lap u + grad a . grad u)``, so it needs a differentiable ``a``; generators for
    piecewise-constant ``a`` use the flux (finite-volume) form instead.
    """
    _check_dim(dim)
    dom = _space(dim, length, False)
    e = [tuple(int(i == j) for j in range(dim)) for i in range(dim)]
    e2 = [tuple(2 * int(i == j) for j in range(dim)) for i in range(dim)]
    zero = (0,) * dim

    def flux(d):  # noqa: ANN001
        lap = sum(d[a2] for a2 in e2)
        return -(d["a", zero] * lap + sum(d["a", ei] * d[ei] for ei in e))

    needs = (("a", zero), *[("a", ei) for ei in e], *e, *e2)
    return PDESpec(
        "darcy",
        dom,
        LinearOperator({}, dim),
        nonlinear=(PointwiseTerm(flux, needs, linear_in_u=True, text="-(a lap u + grad a . grad u)"),),
        source=lambda x: torch.full_like(x[0], forcing),
        bcs=_dirichlet_all(dom),
        input_role="coefficient",
        input_name="a",
        params={"dim": dim, "forcing": forcing, "length": length},
        description="-div(a grad u) = f",
    )


@register("pde", "allen_cahn")
def allen_cahn(dim: int = 1, length: float = 2 * math.pi, freq: float = 1.0) -> PDESpec:
    """GP-HM's steady Allen-Cahn ``lap u + u (u^2 - 1) = f``, manufactured from ``u = prod_i sin(2 pi freq x_i / L)``
    (``freq = 100``, ``L = 2 pi`` is GP-HM's ``sin(100 x)``), Dirichlet data from the exact solution."""
    _check_dim(dim)
    dom = _space(dim, length, False)
    zero = (0,) * dim
    spec = PDESpec(
        "allen_cahn",
        dom,
        laplacian(dim),
        nonlinear=(PointwiseTerm(lambda d: d[zero] * (d[zero] * d[zero] - 1.0), (zero,), text="u (u^2 - 1)"),),
        bcs=_dirichlet_all(dom, None),
        params={"dim": dim, "length": length, "freq": freq},
        description="lap u + u (u^2 - 1) = f",
    )

    def exact(x: Coords) -> torch.Tensor:
        out = torch.ones_like(x[0])
        for xi in x:
            out = out * torch.sin(2 * math.pi * freq * xi / length)
        return out

    return spec.manufactured(exact)


# ------------------------------------------------------------------------------------------ evolution


def _periodic_evolution(
    name: str,
    op: LinearOperator,
    exact: Callable[[Coords], torch.Tensor],
    params: dict,
    description: str,
    orders: int = 1,
) -> PDESpec:
    """A linear evolution PDE with an exact solution on the periodic box ``[0, length)^dim`` over ``[0, time]``
    (from ``params``), its initial condition as input (``orders`` initial conditions, the higher ones zero)."""
    dom = _space(params["dim"], params["length"], True, params["time"])
    return PDESpec(
        name,
        dom,
        op,
        bcs=_initial(dom, orders),
        exact_solution=exact,
        input_role="initial_condition",
        params=params,
        description=description,
    )


@register("pde", "heat")
def heat(dim: int = 1, nu: float = 0.01, length: float = 1.0, time: float = 1.0) -> PDESpec:
    """``u_t - nu lap u = 0``, periodic, initial condition as input; exact
    ``prod sin(2 pi x_i / L) exp(-nu d (2 pi / L)^2 t)``."""
    _check_dim(dim)
    lam = nu * dim * (2 * math.pi / length) ** 2

    def exact(x: Coords) -> torch.Tensor:
        out = torch.exp(-lam * x[0])
        for xi in x[1:]:
            out = out * torch.sin(2 * math.pi * xi / length)
        return out

    op = derivative(dim + 1, 0) + laplacian(dim + 1, range(1, dim + 1), -nu)
    params = {"dim": dim, "nu": nu, "length": length, "time": time}
    return _periodic_evolution("heat", op, exact, params, "u_t - nu lap u = 0")


@register("pde", "advection")
def advection(dim: int = 1, beta: float = 1.0, length: float = 1.0, time: float = 1.0) -> PDESpec:
    """``u_t + beta sum_i u_{x_i} = 0``, periodic; exact ``sin(2 pi sum_i (x_i - beta t) / L)``."""
    _check_dim(dim)
    op = derivative(dim + 1, 0)
    for i in range(1, dim + 1):
        op = op + derivative(dim + 1, i, 1, beta)

    def exact(x: Coords) -> torch.Tensor:
        return torch.sin(2 * math.pi * sum(xi - beta * x[0] for xi in x[1:]) / length)

    params = {"dim": dim, "beta": beta, "length": length, "time": time}
    return _periodic_evolution("advection", op, exact, params, "u_t + beta . grad u = 0")


@register("pde", "wave")
def wave(dim: int = 1, c: float = 1.0, length: float = 1.0, time: float = 1.0) -> PDESpec:
    """``u_tt - c^2 lap u = 0``, periodic, ``u(0)`` as input and ``u_t(0) = 0``; exact
    ``prod sin(2 pi x_i / L) cos(2 pi c sqrt(d) t / L)``."""
    _check_dim(dim)
    op = derivative(dim + 1, 0, 2) + laplacian(dim + 1, range(1, dim + 1), -(c**2))
    omega = 2 * math.pi * c * math.sqrt(dim) / length

    def exact(x: Coords) -> torch.Tensor:
        out = torch.cos(omega * x[0])
        for xi in x[1:]:
            out = out * torch.sin(2 * math.pi * xi / length)
        return out

    params = {"dim": dim, "c": c, "length": length, "time": time}
    return _periodic_evolution("wave", op, exact, params, "u_tt - c^2 lap u = 0", orders=2)


@register("pde", "burgers")
def burgers(nu: float = 0.1, length: float = 1.0, time: float = 1.0) -> PDESpec:
    """Viscous Burgers ``u_t + u u_x - nu u_xx = 0`` on the periodic ``[0, L)`` (FNO: ``nu = 0.1``; PDEBench writes
    ``nu / pi``), initial condition as input."""
    dom = _space(1, length, True, time)
    op = derivative(2, 0) + derivative(2, 1, 2, -nu)
    term = PointwiseTerm(lambda d: d[0, 0] * d[0, 1], ((0, 0), (0, 1)), text="u u_x")
    return PDESpec(
        "burgers",
        dom,
        op,
        nonlinear=(term,),
        bcs=_initial(dom),
        input_role="initial_condition",
        params={"nu": nu, "length": length, "time": time},
        description="u_t + u u_x - nu u_xx = 0",
    )


@register("pde", "reaction_diffusion")
def reaction_diffusion(nu: float = 0.01, rho: float = 5.0, length: float = 1.0, time: float = 1.0) -> PDESpec:
    """NSM's ``u_t - nu u_xx = rho u (1 - u)``, x periodic; exact (spatially uniform, ``u(0) = 1/2``):
    the logistic ``1 / (1 + exp(-rho t))``."""
    dom = _space(1, length, True, time)
    op = derivative(2, 0) + derivative(2, 1, 2, -nu)
    term = PointwiseTerm(lambda d: -rho * d[0, 0] * (1.0 - d[0, 0]), ((0, 0),), text="-rho u (1 - u)")
    return PDESpec(
        "reaction_diffusion",
        dom,
        op,
        nonlinear=(term,),
        bcs=_initial(dom),
        exact_solution=lambda x: torch.sigmoid(rho * x[0]) + 0 * x[1],
        input_role="initial_condition",
        params={"nu": nu, "rho": rho, "length": length, "time": time},
        description="u_t - nu u_xx = rho u (1 - u)",
    )


@register("pde", "navier_stokes")
def navier_stokes(
    nu: float = 1e-3, time: float = 1.0, forcing: Literal["fno", "none"] = "fno", length: float = 1.0
) -> PDESpec:
    """2-D vorticity ``w_t + u . grad w - nu lap w = f``, ``u = (psi_y, -psi_x)``, ``-lap psi = w`` on the periodic
    ``[0, L)^2`` (FNO). Exact (``w`` on the ``|k| = sqrt 2`` shell, where ``u . grad w = 0``): with FNO forcing
    ``w = f (1 - exp(-lam nu t)) / (lam nu)`` from ``w(0) = 0``; unforced ``cos(2 pi (x + y) / L) exp(-lam nu t)``;
    ``lam = 8 pi^2 / L^2``."""
    if forcing not in ("fno", "none"):
        raise ConfigError(f"forcing must be 'fno' or 'none', got '{forcing}'")
    dom = _space(2, length, True, time)
    op = derivative(3, 0) + laplacian(3, (1, 2), -nu)
    stream = AuxField("psi", laplacian(3, (1, 2), -1.0), identity(3))
    adv = PointwiseTerm(
        lambda d: d["psi", (0, 0, 1)] * d[0, 1, 0] - d["psi", (0, 1, 0)] * d[0, 0, 1],
        (("psi", (0, 0, 1)), ("psi", (0, 1, 0)), (0, 1, 0), (0, 0, 1)),
        text="psi_y w_x - psi_x w_y",
    )
    lam = 8 * math.pi**2 / length**2

    def f(x: Coords) -> torch.Tensor:
        return fno_forcing(x[1], x[2], length) + 0 * x[0]

    if forcing == "fno":
        exact = lambda x: f(x) * (1 - torch.exp(-lam * nu * x[0])) / (lam * nu)  # noqa: E731
    else:
        exact = lambda x: torch.cos(2 * math.pi * (x[1] + x[2]) / length) * torch.exp(-lam * nu * x[0])  # noqa: E731
    return PDESpec(
        "navier_stokes",
        dom,
        op,
        nonlinear=(adv,),
        source=f if forcing == "fno" else None,
        bcs=_initial(dom),
        exact_solution=exact,
        aux=(stream,),
        input_role="initial_condition",
        input_name="w0",
        params={"nu": nu, "time": time, "length": length},
        description="w_t + u . grad w - nu lap w = f",
    )


__all__ = ["Axis", "get_pde", "list_pdes", "pde_factory", "register_pde"]

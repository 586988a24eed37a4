"""Sobolev / H1 losses against analytic norms of sine modes; NSM and PINN residual losses on exact and perturbed
solutions (Poisson, reaction-diffusion, heat, Navier-Stokes), Parseval identities, penalties, registry use."""

from __future__ import annotations

import math

import pytest
import torch

from specsolve.errors import ConfigError
from specsolve.losses.h1 import H1Loss
from specsolve.losses.nsm_residual import NSMResidualLoss
from specsolve.losses.pinn_residual import PINNResidualLoss
from specsolve.losses.sobolev import SobolevLoss, sobolev_norm
from specsolve.pde import Domain, get_pde
from specsolve.registry import create

F64 = torch.float64
PI = math.pi


def grid2(n: int, L: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(n, dtype=F64) * L / n
    return torch.meshgrid(x, x, indexing="ij")


# ------------------------------------------------------------------------------------------ sobolev


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10 ** (-1.5)])
def test_sobolev_hminus1_of_sine_is_analytic(alpha: float) -> None:
    X, _ = grid2(64)
    r = torch.sin(2 * PI * X)
    expected = (alpha + 4 * PI**2) ** -0.5 / math.sqrt(2)
    assert abs(sobolev_norm(r, -1.0, alpha, (1.0, 1.0)).item() - expected) < 1e-14
    # torch-cfd exponent convention: norm_order = -1 is an H^{-1/2} norm
    got = sobolev_norm(r, -1.0, alpha, (1.0, 1.0), convention="torch_cfd").item()
    assert abs(got - (alpha + 4 * PI**2) ** -0.25 / math.sqrt(2)) < 1e-14


def test_sobolev_mode_ratio_and_orders() -> None:
    X, Y = grid2(64)
    r4 = torch.sin(2 * PI * 4 * X)
    r8 = torch.sin(2 * PI * (8 * X))  # |k| = 8
    ratio = sobolev_norm(r8, -1.0, 0.0) / sobolev_norm(r4, -1.0, 0.0)
    assert abs(ratio.item() - 0.5) < 1e-13  # H^{-1}: weight |2 pi k|^{-2} -> ratio of norms 4/8
    r_diag = torch.sin(2 * PI * (4 * X + 4 * Y))  # |k| = 4 sqrt 2
    assert abs((sobolev_norm(r_diag, 1.0, 0.0) / sobolev_norm(r4, 1.0, 0.0)).item() - math.sqrt(2)) < 1e-12
    # s = 0: the L2 norm (Parseval); s = 1, alpha = 1: sqrt(||r||^2 + ||grad r||^2)
    g = torch.randn(3, 32, 32, dtype=F64)
    assert torch.allclose(sobolev_norm(g, 0.0, 1.0), g.pow(2).mean((-2, -1)).sqrt())
    assert abs(sobolev_norm(r4, 1.0, 1.0).item() - math.sqrt((1 + 64 * PI**2) / 2)) < 1e-12
    # physical lengths: sin(x) on [0, 2 pi]^2: ||.||^2_{H^1} = (1 + 1) * |Omega| / 2
    Xl, _ = grid2(32, 2 * PI)
    assert abs(sobolev_norm(torch.sin(Xl), 1.0, 1.0, (2 * PI, 2 * PI)).item() - 2 * PI) < 1e-12


def test_sobolev_loss_layouts_relative_and_time() -> None:
    X, Y = grid2(32)
    u = torch.sin(2 * PI * X) + torch.cos(2 * PI * 3 * Y)
    target = u.expand(2, 1, 32, 32)
    for s in (-1.0, 0.0, 0.5):
        rel = SobolevLoss(s=s, alpha=0.5, relative=True)(1.1 * target, target)
        assert abs(rel.item() - 0.1) < 1e-12
    # time axis: L^2(0, T) of the per-step norms with the rectangle rule
    a = torch.tensor([1.0, 2.0, 3.0], dtype=F64).reshape(1, 3, 1, 1, 1)
    r = a * torch.sin(2 * PI * X)  # (1, 3, 1, 32, 32)
    loss = SobolevLoss(s=-1.0, alpha=1.0, time_length=2.0)(r)
    expected = math.sqrt(2.0 / 3 * 14) * (1 + 4 * PI**2) ** -0.5 / math.sqrt(2)
    assert abs(loss.item() - expected) < 1e-12
    # two channels: the norm of the vector field
    two = torch.stack([torch.sin(2 * PI * X), torch.sin(2 * PI * X)])[None]
    assert abs(SobolevLoss(s=0.0)(two).item() - 1.0) < 1e-12
    with pytest.raises(ValueError):
        SobolevLoss(spatial_dims=2)(torch.zeros(2, 32, 32))


def test_sobolev_registry_and_gradient() -> None:
    loss = create("loss", "sobolev", s=-1.0, alpha=0.1, spatial_dims=2)
    pred = torch.zeros(2, 1, 16, 16, requires_grad=True)
    loss(pred).backward()  # zero residual: finite gradient
    assert torch.isfinite(pred.grad).all()
    with pytest.raises(ConfigError):
        create("loss", "sobolev", alpha=-1.0)
    with pytest.raises(ConfigError):
        create("loss", "sobolev", convention="neuralop")


# ------------------------------------------------------------------------------------------ h1


def test_h1_periodic_spectral_is_exact_and_fd_close() -> None:
    X, _ = grid2(64)
    u = torch.sin(2 * PI * X)[None, None]
    e = 0.1 * torch.sin(2 * PI * 3 * X)[None, None]
    expected = 0.1 * math.sqrt((1 + 36 * PI**2) / (1 + 4 * PI**2))
    assert abs(H1Loss()(u + e, u).item() - expected) < 1e-12
    fd = H1Loss(method="fd")(u + e, u).item()
    assert abs(fd - expected) / expected < 0.02
    semi = H1Loss(seminorm=True)(u + e, u).item()
    assert abs(semi - 0.3) < 1e-12


def test_h1_nonperiodic_fd() -> None:
    n = 65
    x = torch.linspace(0, 1, n, dtype=F64)
    X, Y = torch.meshgrid(x, x, indexing="ij")
    u = (X**2)[None, None]
    loss = H1Loss(periodic=False, relative=False)(u, torch.zeros_like(u)).item()
    assert abs(loss - math.sqrt(1 / 5 + 4 / 3)) < 1e-4  # ||x^2||^2 = 1/5, ||2x||^2 = 4/3 on [0, 1]^2
    v = (torch.exp(X) * torch.cos(Y))[None, None]
    assert H1Loss(periodic=False)(v, v).item() < 1e-10


# ------------------------------------------------------------------------------------------ residual losses


def periodic_poisson_pair(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth mean-free random source ``s`` and the exact spectral solution of ``-lap u = s``."""
    g = torch.Generator().manual_seed(seed)
    k = torch.fft.fftfreq(n, 1 / n, dtype=F64)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    s_hat = torch.fft.fft2(torch.randn(2, 1, n, n, dtype=F64, generator=g)) * torch.exp(-k2 / 8)
    s_hat[..., 0, 0] = 0
    s = torch.fft.ifft2(s_hat).real
    u_hat = torch.fft.fft2(s) / torch.where(k2 == 0, 1.0, 4 * PI**2 * k2)
    u_hat[..., 0, 0] = 0
    return torch.fft.ifft2(u_hat).real, s


def test_nsm_poisson_exact_perturbed_and_parseval() -> None:
    u, s = periodic_poisson_pair()
    loss = NSMResidualLoss(pde="poisson")
    assert loss(u, inputs=s).item() < 1e-24
    assert loss(u + 0.01 * s, inputs=s).item() > 1e-3
    # Parseval: ||R||^2_{L2} with R = -lap(eps sin(2 pi x) sin(2 pi y)) = eps 8 pi^2 sin sin, exact
    X, Y = grid2(16)
    phi = torch.sin(2 * PI * X) * torch.sin(2 * PI * Y)
    l2 = NSMResidualLoss(pde="poisson", norm="l2")(0.01 * phi[None, None], inputs=torch.zeros(1, 1, 16, 16, dtype=F64))
    assert abs(l2.item() - (0.08 * PI**2) ** 2 / 4) < 1e-15
    total = NSMResidualLoss(pde="poisson", norm="sum")(
        0.01 * phi[None, None], inputs=torch.zeros(1, 1, 16, 16, dtype=F64)
    )
    assert abs(total.item() - l2.item()) < 1e-15  # unit box: the coefficient sum equals the L2 norm


def test_pinn_poisson_second_order() -> None:
    losses = []
    for n in (32, 64):
        X, Y = grid2(n)
        u = torch.sin(2 * PI * X) * torch.cos(4 * PI * Y)
        losses.append(PINNResidualLoss(pde="poisson")(u[None, None], inputs=(20 * PI**2 * u)[None, None]).item())
    assert 14 < losses[0] / losses[1] < 18  # residual O(h^2) -> mean square O(h^4)
    assert (
        PINNResidualLoss(pde="poisson", method="spectral")(u[None, None], inputs=(20 * PI**2 * u)[None, None]) < 1e-20
    )


def rd_manufactured(nu: float = 0.05, rho: float = 5.0):
    """Reaction-diffusion with a manufactured source: u = (1/2 + t^2/4)(1 + sin 2 pi x) / 2, degree 2 in t."""
    spec = get_pde("reaction_diffusion", nu=nu, rho=rho)
    exact = lambda x: (0.5 + 0.25 * x[0] ** 2) * (1 + torch.sin(2 * PI * x[1])) / 2  # noqa: E731
    return spec.manufactured(exact)


def to_btcx(u: torch.Tensor) -> torch.Tensor:
    """(T, X) grid values -> (1, T, 1, X)."""
    return u[None, :, None]


def test_nsm_reaction_diffusion_exact_and_perturbed() -> None:
    spec = rd_manufactured()
    loss = NSMResidualLoss.from_spec(spec)
    mesh = spec.domain.mesh([9, 16], dtype=F64, spectral=True)
    u = to_btcx(spec.exact_solution(mesh))
    assert loss(u).item() < 1e-24  # polynomial in t, band-limited in x: exact up to rounding
    bump = to_btcx(0.01 * mesh[0] * (1 - mesh[0]) * torch.cos(2 * PI * mesh[1]))  # keeps the initial condition
    assert loss(u + bump).item() > 1e-6
    # the NSM configuration itself (no source): the logistic solution, Chebyshev in time to spectral accuracy
    nsm = create("loss", "nsm_residual", pde="reaction_diffusion", nu=0.01, rho=5.0)
    mesh = nsm.spec.domain.mesh([24, 16], dtype=F64, spectral=True)
    assert nsm(to_btcx(nsm.spec.exact_solution(mesh))).item() < 1e-16


def test_nsm_initial_condition_penalty_and_chebyshev_l2() -> None:
    spec = get_pde("heat", nu=0.1)
    loss = NSMResidualLoss.from_spec(spec, norm="l2", ic_weight=0.0)
    t, x = spec.domain.mesh([6, 16], dtype=F64, spectral=True)
    # u = t sin(2 pi x): R = (1 + 0.4 pi^2 t) sin(2 pi x); ||R||^2 = int_0^1 (1 + c t)^2 dt / 2
    c = 0.1 * 4 * PI**2
    assert abs(loss(to_btcx(t * torch.sin(2 * PI * x))).item() - (1 + c + c**2 / 3) / 2) < 1e-12
    # IC penalty: mean squared mismatch at t = 0 against the input
    t, x = spec.domain.mesh([16, 16], dtype=F64, spectral=True)  # resolves exp(-0.4 pi^2 t) to ~1e-12
    exact = to_btcx(spec.exact_solution((t, x)))
    ic = torch.sin(2 * PI * x[0])[None, None]
    with_ic = NSMResidualLoss.from_spec(spec, ic_weight=2.0)
    assert with_ic(exact, inputs=ic).item() < 1e-10
    assert abs(with_ic(exact, inputs=ic + 0.1).item() - 2.0 * 0.01) < 1e-10


def test_nsm_navier_stokes_nonlinear_term_and_stream_function() -> None:
    """w = a(t) sin(2 pi x) + b(t) cos(4 pi y) with -lap psi = w, u = (psi_y, -psi_x): u . grad w =
    (3/2) a b cos(2 pi x) sin(4 pi y); with f set to the residual of w, the NSM residual must vanish."""
    nu = 0.01
    a = lambda t: 1 + t  # noqa: E731
    b = lambda t: 1 - t**2 / 2  # noqa: E731

    def w(x):  # noqa: ANN001
        return a(x[0]) * torch.sin(2 * PI * x[1]) + b(x[0]) * torch.cos(4 * PI * x[2])

    def f(x):  # noqa: ANN001
        t, X, Y = x
        wt = torch.sin(2 * PI * X) - t * torch.cos(4 * PI * Y)
        adv = 1.5 * a(t) * b(t) * torch.cos(2 * PI * X) * torch.sin(4 * PI * Y)
        lap = -4 * PI**2 * a(t) * torch.sin(2 * PI * X) - 16 * PI**2 * b(t) * torch.cos(4 * PI * Y)
        return wt + adv - nu * lap

    spec = get_pde("navier_stokes", nu=nu).with_(source=f, exact_solution=w)
    mesh = spec.domain.mesh([5, 12, 12], dtype=F64, spectral=True)
    pred = spec.exact_solution(mesh)[None, :, None]  # (1, T, 1, X, Y)
    loss = NSMResidualLoss.from_spec(spec)
    assert loss(pred).item() < 1e-22
    wrong = get_pde("navier_stokes", nu=nu).with_(
        source=lambda x: f(x) - 3.0 * a(x[0]) * b(x[0]) * torch.cos(2 * PI * x[1]) * torch.sin(4 * PI * x[2]),
        exact_solution=w,
    )
    assert NSMResidualLoss.from_spec(wrong)(pred).item() > 1.0  # the opposite sign of the advection term


def test_pinn_reaction_diffusion_and_float32_gradients() -> None:
    spec = rd_manufactured()
    loss = PINNResidualLoss.from_spec(spec)
    vals = []
    for n in (16, 32):
        mesh = spec.domain.mesh([n + 1, n], dtype=F64)
        vals.append(loss(to_btcx(spec.exact_solution(mesh))).item())
    assert vals[1] < vals[0] / 10 and vals[1] < 1e-4
    mesh = spec.domain.mesh([33, 32], dtype=F64)
    u = to_btcx(spec.exact_solution(mesh))
    assert loss(u + to_btcx(0.05 * mesh[0] * torch.cos(2 * PI * mesh[1]))).item() > 100 * vals[1]
    # float32 predictions with gradients (the training path) for both residual losses
    for lossfn, grid in ((loss, [17, 16]), (NSMResidualLoss.from_spec(spec), [9, 16])):
        m = spec.domain.mesh(grid, dtype=torch.float32, spectral=lossfn is not loss)
        pred = to_btcx(spec.exact_solution(m)).float().requires_grad_(True)
        value = lossfn(pred)
        value.backward()
        assert value.dtype == torch.float32 and torch.isfinite(pred.grad).all()


def test_residual_loss_config_errors() -> None:
    with pytest.raises(ConfigError):
        create("loss", "nsm_residual", pde="poisson", rho=1.0)
    with pytest.raises(ConfigError):
        create("loss", "pinn_residual", pde="navier_stokes", method="autograd")
    with pytest.raises(ValueError, match="needs its source"):
        NSMResidualLoss(pde="poisson")(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="expects"):
        NSMResidualLoss(pde="reaction_diffusion")(torch.zeros(1, 1, 8))
    assert Domain.box(1).ndim == 1


def test_residual_losses_take_any_registered_pde(monkeypatch: pytest.MonkeyPatch) -> None:
    from specsolve.pde import PDESpec
    from specsolve.registry import Registry, register

    u, s = periodic_poisson_pair()
    expected = NSMResidualLoss(pde="poisson")(u + 0.01 * s, inputs=s)
    with pytest.raises(ConfigError, match="unknown PDE 'poison'; did you mean 'poisson'"):
        NSMResidualLoss(pde="poison")
    base = get_pde("poisson")
    monkeypatch.setattr("specsolve.registry.REGISTRY", Registry())

    @register("pde", "my_poisson")
    def my_poisson(dim: int = 2) -> PDESpec:
        """A third party's PDE (here: the built-in Poisson under another name)."""
        return base.with_(name="my_poisson")

    register("loss", "nsm_residual")(NSMResidualLoss)  # the config path: the signature is the schema
    loss = create("loss", "nsm_residual", pde="my_poisson")
    assert loss.spec.name == "my_poisson" and torch.equal(loss(u + 0.01 * s, inputs=s), expected)

"""The Neural-Spectral-Methods model (``nsm``), its basis (``specsolve.nn.spectral_basis``) and residual-only
training (``pde_inputs`` + ``nsm_residual``)."""

from __future__ import annotations

import math

import pytest
import torch

from specsolve.losses.nsm_residual import NSMResidualLoss
from specsolve.nn.spectral_basis import SpectralBasis
from specsolve.pde import Axis, Domain
from specsolve.registry import create


def dirichlet_poisson_model(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return create("model", "nsm", pde="poisson", periodic=False, **{"modes": [9, 9], "width": 8, "layers": 2, **kw})


@pytest.mark.parametrize("shape", [(7, 9), (8, 10), (6, 5)])
def test_basis_round_trip_and_evaluation_are_exact(shape: tuple[int, int]) -> None:
    """Fourier (odd and even sizes) x Chebyshev transforms invert to 1e-12 in float64, and evaluating the series at
    its own grid points, or at random points, gives the function values."""
    domain = Domain((Axis("x", (0.0, 2.0), True), Axis("y", (-1.0, 0.5), False)))
    basis = SpectralBasis(domain, shape)
    g = torch.Generator().manual_seed(0)
    u = torch.randn(3, *shape, generator=g, dtype=torch.float64)
    c = basis.transform(u)
    assert torch.allclose(basis.inverse(c), u, atol=1e-12, rtol=0)
    x, y = basis.grid(torch.float64)
    assert torch.allclose(basis.evaluate_at(c, [x, y]), u, atol=1e-12, rtol=0)
    # a function in the span of the basis, evaluated off the grid
    nx, ny = shape
    kx = (nx - 1) // 2

    def f(X, Y):  # noqa: ANN001, ANN202
        return torch.cos(2 * math.pi * kx * X / 2.0) * (0.3 + ((Y + 0.25) / 0.75) ** (ny - 1))

    X, Y = basis.mesh(torch.float64)
    xs, ys = (
        torch.rand(11, generator=g, dtype=torch.float64) * 2.0,
        torch.rand(13, generator=g, dtype=torch.float64) * 1.5 - 1.0,
    )
    exact = f(*torch.meshgrid(xs, ys, indexing="ij"))
    assert torch.allclose(basis.evaluate_at(basis.transform(f(X, Y)), [xs, ys]), exact, atol=1e-11, rtol=0)


def test_dirichlet_mollifier_holds_at_every_resolution() -> None:
    """``u = N sin(pi x) sin(pi y)``: the series vanishes on the boundary at any points, with an O(1) interior."""
    model = dirichlet_poisson_model().double()
    s = torch.randn(2, 1, 9, 9, dtype=torch.float64)
    edge = torch.tensor([0.0, 1.0], dtype=torch.float64)
    inner = torch.rand(37, dtype=torch.float64)
    with torch.no_grad():
        on_x = model.evaluate_at(s, [edge, inner])
        on_y = model.evaluate_at(s, [inner, edge])
        interior = model.evaluate_at(s, [inner, inner])
    scale = interior.abs().max()
    assert scale > 1e-3
    assert on_x.abs().max() < 1e-14 * scale and on_y.abs().max() < 1e-14 * scale


def test_initial_condition_mollifier_holds_at_every_resolution() -> None:
    """``u = u0 + t N``: at ``t = 0`` the series equals the initial condition's Fourier series at any points."""
    torch.manual_seed(0)
    model = create("model", "nsm", pde="reaction_diffusion", modes=[7, 11], width=8, layers=2).double()
    u0 = torch.rand(2, 1, 11, dtype=torch.float64)
    xs = torch.rand(29, dtype=torch.float64)
    with torch.no_grad():
        at_zero = model.evaluate_at(u0, [torch.zeros(1, dtype=torch.float64), xs])[:, :, 0]
        later = model.evaluate_at(u0, [torch.full((1,), 0.7, dtype=torch.float64), xs])[:, :, 0]
    ic_basis = SpectralBasis(Domain((Axis("x", (0.0, 1.0), True),)), (11,))
    expected = ic_basis.evaluate_at(ic_basis.transform(u0), [xs])
    assert torch.allclose(at_zero, expected, atol=1e-13, rtol=0)
    assert (later - expected).abs().max() > 1e-3  # the network term is alive away from t = 0


def test_coefficient_residual_of_exact_solution_vanishes() -> None:
    """Dirichlet Poisson ``-lap u = s`` with the polynomial ``u = x(1-x) y(1-y)`` (exact in 7 Chebyshev modes):
    the coefficient-space residual is ~0; a perturbation of the coefficients is seen."""
    loss = NSMResidualLoss(pde="poisson", periodic=False, ic_weight=0.0, bc_weight=0.0)
    basis = SpectralBasis(loss.spec.domain, (7, 7))
    X, Y = basis.mesh(torch.float64)
    u = (X * (1 - X) * Y * (1 - Y))[None, None]
    s = (2 * (Y * (1 - Y) + X * (1 - X)))[None, None]
    exact = loss(u, inputs=s)
    assert exact < 1e-28
    c = basis.transform(u)
    c[..., 2, 1] += 1e-3
    perturbed = loss(basis.inverse(c), inputs=s)
    assert perturbed > 1e-8


def test_output_is_resolution_independent() -> None:
    """The output on a finer collocation grid (Lobatto 17 ⊃ 9, Fourier 3 x) agrees with the native grid at the
    shared points, and a band-limited input given on a finer grid gives the same output."""
    torch.manual_seed(0)
    native = create("model", "nsm", pde="reaction_diffusion", modes=[9, 11], width=8, layers=2).double()
    fine = create("model", "nsm", pde="reaction_diffusion", modes=[9, 11], width=8, layers=2, output_shape=[17, 33])
    fine = fine.double()
    fine.load_state_dict(native.state_dict())
    u0 = torch.rand(2, 1, 11, dtype=torch.float64)
    with torch.no_grad():
        a = native(u0)  # (B, 9, 1, 11)
        b = fine(u0)  # (B, 17, 1, 33)
    assert a.shape == (2, 9, 1, 11) and b.shape == (2, 17, 1, 33)
    assert torch.allclose(b[:, ::2, :, ::3], a, atol=1e-12, rtol=0)
    # the same input function sampled on 33 points (trigonometric interpolation of the 11-point data)
    ic = SpectralBasis(Domain((Axis("x", (0.0, 1.0), True),)), (11,))
    u0_fine = ic.evaluate(ic.transform(u0), (33,))
    with torch.no_grad():
        assert torch.allclose(native(u0_fine), a, atol=1e-12, rtol=0)


def manufactured_poisson(n_samples: int, n: int, seed: int) -> tuple[torch.Tensor, callable]:
    """Sources on the ``n x n`` Lobatto grid with exact solutions ``u = sum a_ij sin(i pi x) sin(j pi y)``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n_samples, 2, 2, generator=g)
    modes = [(1, 1), (1, 2), (2, 1), (2, 2)]

    def field(X, Y, laplace: bool):  # noqa: ANN001, ANN202
        out = 0
        for i, j in modes:
            w = math.pi**2 * (i * i + j * j) if laplace else 1.0
            out = out + a[:, i - 1, j - 1, None, None] * w * torch.sin(i * math.pi * X) * torch.sin(j * math.pi * Y)
        return out[:, None]

    basis = SpectralBasis(Domain.box(2, periodic=False), (n, n))
    X, Y = basis.mesh(torch.float32)
    return field(X, Y, True), lambda X, Y: field(X, Y, False)


def test_short_residual_only_training_lowers_the_error() -> None:
    """200 Adam steps on the coefficient-space residual (no solution data) lower the relative L2 error against the
    exact solutions of held-out sources, evaluated on a finer grid than the model's."""
    model = dirichlet_poisson_model(width=16, layers=4)
    loss = NSMResidualLoss(pde="poisson", periodic=False, ic_weight=0.0, bc_weight=0.0)
    s_train, _ = manufactured_poisson(64, 9, seed=1)
    s_test, exact = manufactured_poisson(16, 9, seed=2)
    pts = torch.linspace(0.0, 1.0, 21)
    u_test = exact(*torch.meshgrid(pts, pts, indexing="ij"))

    def error() -> float:
        with torch.no_grad():
            pred = model.evaluate_at(s_test, [pts, pts])
        return ((pred - u_test).flatten(1).norm(dim=1) / u_test.flatten(1).norm(dim=1)).mean().item()

    before = error()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        s = s_train[torch.randint(0, 64, (16,), generator=g)]
        value = loss(model(s), inputs=s)
        opt.zero_grad()
        value.backward()
        opt.step()
    after = error()
    assert after < 0.25 * before and after < 0.25, (before, after)


def test_pde_inputs_batches_and_config_errors() -> None:
    data = create("dataset", "pde_inputs", sampler="periodic_minmax", shape=[15], n_train=4, batch_size=2)
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (2, 1, 15) and y.numel() == 0
    assert 0.5 < float(x.max() - x.min()) < 1.3  # min-max normalised before the Fourier truncation
    with pytest.raises(Exception, match="modes must give 2 sizes"):
        create("model", "nsm", pde="poisson", periodic=False, modes=[9])
    with pytest.raises(Exception, match="only u = 0 Dirichlet"):
        create("model", "nsm", pde="laplace", modes=[9, 9])


@pytest.mark.slow
def test_nsm_table_quick_run(tmp_path) -> None:  # noqa: ANN001
    """``reproductions.nsm_table --quick`` runs end to end and writes its table (all methods, all problems)."""
    import subprocess
    import sys

    out = tmp_path / "nsm_table.txt"
    subprocess.run(
        [sys.executable, "-m", "reproductions.nsm_table", "--quick", "--out", str(out)],
        check=True,
        capture_output=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    text = out.read_text()
    for problem in ("poisson (Dirichlet", "reaction-diffusion", "navier-stokes"):
        assert problem in text
    assert text.count("NSM (nsm_residual)") == 3 and text.count("solver: ") == 3

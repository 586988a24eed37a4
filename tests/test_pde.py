"""PDE specification: domains and grids, the Fourier/EPGP symbol convention, Chebyshev/Fourier bases, derivatives,
built-in PDEs (exact solutions satisfy their residuals)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev as C

from specsolve.errors import ConfigError
from specsolve.pde import (
    Axis,
    Domain,
    LinearOperator,
    PDESpec,
    TensorBasis,
    autograd_derivatives,
    fd_derivative,
    get_pde,
    grid_derivative,
    grid_derivatives,
    laplacian,
    list_pdes,
    wavenumbers,
)
from specsolve.pde.derivatives import aux_values
from specsolve.pde.spectral import cheb_diff_matrix, cheb_gram, cheb_inverse, cheb_transform, fourier_resample_matrix

F64 = torch.float64


# ------------------------------------------------------------------------------------------ domain / grids


def test_grid_kinds() -> None:
    ax = Axis("x", (1.0, 3.0))
    assert torch.allclose(ax.points(4, "uniform_open", F64), torch.tensor([1.0, 1.5, 2.0, 2.5], dtype=F64))
    assert torch.allclose(ax.points(5, "uniform_closed", F64), torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0], dtype=F64))
    cheb = ax.points(5, "cheb_lobatto", F64)
    expected = 2.0 - torch.cos(math.pi * torch.arange(5, dtype=F64) / 4)  # a + L (1 - cos) / 2, ascending
    assert torch.allclose(cheb, expected) and cheb[0] == 1.0 and cheb[-1] == 3.0
    assert torch.all(cheb[1:] > cheb[:-1])


def test_domain_defaults_and_validation() -> None:
    dom = Domain.box(2, length=2.0, periodic=True, time=0.5)
    assert dom.names == ("t", "x", "y") and dom.lengths == (0.5, 2.0, 2.0) and dom.volume == 2.0
    assert dom.time_axis == 0 and dom.spatial_axes == (1, 2) and dom.periodic_axes == (1, 2)
    assert dom.kinds(None) == ("uniform_closed", "uniform_open", "uniform_open")
    assert dom.kinds(None, spectral=True) == ("cheb_lobatto", "uniform_open", "uniform_open")
    mesh = dom.mesh([3, 4, 5], dtype=F64)
    assert all(m.shape == (3, 4, 5) for m in mesh)
    with pytest.raises(ValueError):
        Domain((Axis("x"), Axis("t", is_time=True)))  # time must come first
    with pytest.raises(ValueError):
        Axis("x", (1.0, 0.0))
    with pytest.raises(ValueError):
        Axis("t", periodic=True, is_time=True)


# ------------------------------------------------------------------------------------------ symbols


def test_fourier_symbol_convention_and_polynomial() -> None:
    lap = laplacian(2)
    kx = wavenumbers(6)[:, None]
    ky = wavenumbers(6)[None, :]
    sym = lap.fourier_symbol([kx, ky], (2.0, 3.0))
    assert torch.allclose(sym.real, -((2 * math.pi) ** 2) * (kx**2 / 4.0 + ky**2 / 9.0)) and sym.imag.abs().max() == 0
    op = LinearOperator({(1, 0): 2.0, (0, 3): -1.0, (0, 0): 0.5})
    z = [1j * 2 * math.pi * kx / 2.0, 1j * 2 * math.pi * ky / 3.0]
    assert torch.allclose(op.polynomial(z), op.fourier_symbol([kx, ky], (2.0, 3.0)))
    # odd derivatives vanish at the Nyquist when the grid size is given; even ones do not
    s = LinearOperator({(1,): 1.0}).fourier_symbol([wavenumbers(6)], (1.0,), n=[6])
    assert s[3] == 0 and s[1] != 0
    assert LinearOperator({(2,): 1.0}).fourier_symbol([wavenumbers(6)], (1.0,), n=[6])[3] != 0


def test_spectral_derivative_follows_convention_on_nonunit_length() -> None:
    L, n = 3.0, 24
    dom = Domain((Axis("x", (0.0, L), periodic=True),))
    x = dom.grid(n, dtype=F64)[0]
    u = torch.sin(2 * math.pi * 3 * x / L)
    du = grid_derivative(u, dom, (1,), dom.kinds(None), "spectral")
    assert torch.allclose(du, (6 * math.pi / L) * torch.cos(2 * math.pi * 3 * x / L), atol=1e-12)
    # through the operator symbol: -u_xx = f  <=>  symbol * c = f_hat
    sym = (-laplacian(1)).fourier_symbol([wavenumbers(n)], (L,))
    f = torch.fft.ifft(sym * torch.fft.fft(u)).real
    assert torch.allclose(f, (6 * math.pi / L) ** 2 * u, atol=1e-10)


def test_epgp_polynomial_of_heat() -> None:
    spec = get_pde("heat", nu=0.3)
    zt, zx = torch.tensor(2.0 + 1j, dtype=torch.complex128), torch.tensor(0.5 - 2j, dtype=torch.complex128)
    assert torch.allclose(spec.polynomial([zt, zx]), zt - 0.3 * zx**2)


# ------------------------------------------------------------------------------------------ bases


def test_chebyshev_transform_derivative_gram() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(9)
    x = torch.tensor(-np.cos(np.pi * np.arange(9) / 8))  # ascending Lobatto points on [-1, 1]
    u = torch.tensor(C.chebval(x.numpy(), a))
    assert np.allclose(cheb_transform(u).numpy(), a, atol=1e-13)
    assert torch.allclose(cheb_inverse(torch.tensor(a)), u, atol=1e-13)
    assert np.allclose(cheb_diff_matrix(9, 2.0).numpy() @ a, np.r_[C.chebder(a), 0.0], atol=1e-12)
    assert np.allclose(cheb_diff_matrix(9, 0.5).numpy() @ a, 4 * np.r_[C.chebder(a), 0.0], atol=1e-11)
    xq, wq = np.polynomial.legendre.leggauss(20)
    V = C.chebvander(xq, 5)
    assert np.allclose(cheb_gram(6).numpy(), V.T @ (wq[:, None] * V), atol=1e-13)


def test_fourier_resample_interpolates_and_truncates() -> None:
    n, m = 8, 20
    x = torch.arange(n, dtype=F64) / n
    u = 1 + torch.sin(2 * math.pi * x) + 0.3 * torch.cos(2 * math.pi * 4 * x)  # includes the Nyquist mode
    c = torch.fft.fft(u, norm="forward")
    fine = torch.fft.ifft(fourier_resample_matrix(n, m).to(torch.complex128) @ c, norm="forward")
    xf = torch.arange(m, dtype=F64) / m
    assert fine.imag.abs().max() < 1e-13
    assert torch.allclose(
        fine.real, 1 + torch.sin(2 * math.pi * xf) + 0.3 * torch.cos(2 * math.pi * 4 * xf), atol=1e-13
    )
    back = fourier_resample_matrix(m, n).to(torch.complex128) @ (fourier_resample_matrix(n, m).to(torch.complex128) @ c)
    assert torch.allclose(back, c, atol=1e-14)


def test_tensor_basis_parseval_and_roundtrip() -> None:
    dom = Domain((Axis("t", (0.0, 2.0), is_time=True), Axis("x", (0.0, 3.0), periodic=True)))
    basis = TensorBasis(dom, (7, 12))
    t, x = basis.mesh(F64)
    u = (1 + t**2) * torch.sin(2 * math.pi * x / 3) + t
    c = basis.transform(u)
    assert torch.allclose(basis.inverse(c), u, atol=1e-12)
    # exact L2: int_0^2 int_0^3 u^2 = 3/2 * int (1+t^2)^2 dt + 3 * int t^2 dt (cross term integrates to 0 in x)
    exact = 1.5 * (2 + 2 * 8 / 3 + 32 / 5) + 3 * 8 / 3
    assert torch.isclose(basis.squared_norm(c, "l2"), torch.tensor(exact, dtype=F64), rtol=1e-12)
    assert torch.isclose(basis.squared_norm(c, "sum"), (c.abs() ** 2).sum())
    # exact derivatives in coefficient space
    assert torch.allclose(basis.inverse(basis.diff(c, (1, 0))), 2 * t * torch.sin(2 * math.pi * x / 3) + 1, atol=1e-11)
    dxx = basis.inverse(basis.diff(c, (0, 2)))
    assert torch.allclose(dxx, -((2 * math.pi / 3) ** 2) * (1 + t**2) * torch.sin(2 * math.pi * x / 3), atol=1e-10)


def test_product_dealiasing() -> None:
    dom = Domain((Axis("x", periodic=True),))
    basis = TensorBasis(dom, (8,))
    x = basis.grid(F64)[0]
    c = basis.transform(torch.sin(2 * math.pi * 3 * x))
    # sin^2(6 pi x) = 1/2 - cos(12 pi x)/2: mode 6 is unresolved on 8 points; its projection is the constant 1/2
    exact = torch.zeros(8, dtype=torch.complex128)
    exact[0] = 0.5
    assert torch.allclose(basis.product(lambda u: u * u, [c], 1.5), exact, atol=1e-14)
    assert not torch.allclose(basis.product(lambda u: u * u, [c], 1.0), exact, atol=1e-3)  # aliased to k = -+2


# ------------------------------------------------------------------------------------------ derivatives


def test_finite_differences_second_order() -> None:
    errs = []
    for n in (32, 64):
        x = torch.linspace(0, 1, n, dtype=F64)
        u = torch.exp(x) * torch.sin(3 * x)
        d2 = fd_derivative(u, 0, 2, 1.0 / (n - 1))
        exact = torch.exp(x) * (-8 * torch.sin(3 * x) + 6 * torch.cos(3 * x))
        errs.append((d2 - exact).abs().max().item())
    assert 3.5 < errs[0] / errs[1] < 4.5  # second order including the one-sided end stencils
    n = 64
    xp = torch.arange(n, dtype=F64) / n
    d1 = fd_derivative(torch.sin(2 * math.pi * xp), 0, 1, 1.0 / n, periodic=True)
    assert (d1 - 2 * math.pi * torch.cos(2 * math.pi * xp)).abs().max() < 2 * math.pi * (
        2 * math.pi / n
    ) ** 2 / 6 * 1.01


def test_chebyshev_grid_derivative_and_stream_function() -> None:
    spec = get_pde("navier_stokes")
    kinds = spec.domain.kinds(None, spectral=True)
    t, x, y = spec.domain.mesh([5, 16, 16], kinds, F64)
    w = (1 + t**3) * torch.sin(2 * math.pi * x) * torch.sin(2 * math.pi * y)
    d = grid_derivatives(spec, w, [(1, 0, 0), ("psi", (0, 0, 0))], kinds, "spectral")
    assert torch.allclose(d[1, 0, 0], 3 * t**2 * torch.sin(2 * math.pi * x) * torch.sin(2 * math.pi * y), atol=1e-11)
    assert torch.allclose(d["psi", (0, 0, 0)], w / (8 * math.pi**2), atol=1e-14)  # -lap psi = w
    assert torch.allclose(aux_values(spec, "psi", w, kinds), w / (8 * math.pi**2), atol=1e-14)


def test_autograd_derivatives() -> None:
    x = tuple(torch.meshgrid(torch.linspace(0, 1, 5, dtype=F64), torch.linspace(0, 1, 4, dtype=F64), indexing="ij"))
    d = autograd_derivatives(lambda x: x[0] ** 3 * torch.sin(x[1]), x, [(2, 0), (1, 1), (0, 0), (0, 3)])
    assert torch.allclose(d[2, 0], 6 * x[0] * torch.sin(x[1]))
    assert torch.allclose(d[1, 1], 3 * x[0] ** 2 * torch.cos(x[1]))
    assert torch.allclose(d[0, 3], -(x[0] ** 3) * torch.cos(x[1]))


# ------------------------------------------------------------------------------------------ built-ins


def test_builtin_registry_and_flags() -> None:
    names = set(list_pdes())
    assert {
        "poisson",
        "heat",
        "advection",
        "wave",
        "burgers",
        "reaction_diffusion",
        "darcy",
        "navier_stokes",
        "allen_cahn",
        "laplace",
    } <= names
    flags = {n: (get_pde(n).is_linear, get_pde(n).is_homogeneous) for n in names}
    assert flags["poisson"] == (True, False) and flags["laplace"] == (True, True) and flags["heat"] == (True, True)
    assert flags["burgers"][0] is False and flags["navier_stokes"] == (False, False)
    assert get_pde("darcy").is_linear and not get_pde("darcy").is_constant_coefficient
    assert get_pde("poisson", dim=3).domain.ndim == 3 and get_pde("heat").periodic_axes == ("x",)
    with pytest.raises(ConfigError, match="unknown PDE"):
        get_pde("poison")
    with pytest.raises(ConfigError, match="no parameter"):
        get_pde("poisson", nu=1.0)


@pytest.mark.parametrize("name", ["laplace", "heat", "advection", "wave", "reaction_diffusion", "allen_cahn"])
def test_exact_solutions_satisfy_residual(name: str) -> None:
    spec = get_pde(name)
    x = spec.domain.mesh(7, dtype=F64)
    d = autograd_derivatives(spec.exact_solution, x, spec.required_derivatives())
    scale = max(1.0, max(v.abs().max().item() for v in d.values()))
    assert spec.residual(d, x).abs().max().item() < 1e-12 * scale


def test_navier_stokes_exact_solution_on_grid() -> None:
    for forcing in ("fno", "none"):
        spec = get_pde("navier_stokes", nu=0.01, forcing=forcing)
        kinds = spec.domain.kinds(None, spectral=True)
        mesh = spec.domain.mesh([20, 8, 8], kinds, F64)
        d = grid_derivatives(spec, spec.exact_solution(mesh), kinds=kinds, method="spectral")
        assert spec.residual(d, mesh).abs().max() < 1e-10


def test_manufactured_allen_cahn_source() -> None:
    spec = get_pde("allen_cahn", dim=2, length=1.0, freq=2.0)
    x = spec.domain.mesh(6, dtype=F64)
    u = torch.sin(4 * math.pi * x[0]) * torch.sin(4 * math.pi * x[1])
    assert torch.allclose(spec.source(x), -2 * (4 * math.pi) ** 2 * u + u**3 - u, atol=1e-9)
    assert not spec.is_homogeneous and spec.exact_solution is not None


# ---- the pde registry kind --------------------------------------------------------------------------------------
class _FakeEntryPoint:
    """An entry point of a third-party package: ``group``, ``name``, ``value`` and a ``load()`` returning ``obj``."""

    class dist:  # noqa: N801
        name = "fake-plugin"

    def __init__(self, group: str, name: str, obj: object) -> None:
        self.group, self.name, self.value, self._obj = group, name, f"fake_pkg:{name}", obj

    def load(self) -> object:
        return self._obj


def fresh_registry_with(monkeypatch: pytest.MonkeyPatch, *entry_points: _FakeEntryPoint) -> None:
    """Swap in an empty registry whose entry-point discovery sees ``entry_points`` (and nothing else)."""
    from importlib import metadata

    from specsolve.registry import Registry

    monkeypatch.setattr(
        metadata, "entry_points", lambda group=None, **kw: [e for e in entry_points if e.group == group]
    )
    monkeypatch.setattr("specsolve.registry.REGISTRY", Registry())


def test_pdes_are_registry_components() -> None:
    import specsolve
    from specsolve.registry import entry_point_group

    names = [c.name for c in specsolve.list_components("pde")]
    assert list_pdes() == names and {"heat", "navier_stokes", "poisson", "allen_cahn"} <= set(names)
    spec = specsolve.create("pde", "heat", nu=0.3)
    assert isinstance(spec, PDESpec) and spec.params["nu"] == 0.3 and spec.name == "heat"
    with pytest.raises(ConfigError, match="key 'nu' expects float"):
        specsolve.create("pde", "heat", nu="fast")
    assert (entry_point_group("pde"), entry_point_group("problem")) == ("specsolve.pdes", "specsolve.problems")


def test_a_plugin_pde_loads_from_its_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from specsolve.pde import derivative

    loaded = []

    def transport(beta: float = 1.0) -> PDESpec:
        """u_t + beta u_x = 0 (a third party's PDE)."""
        loaded.append(beta)
        dom = Domain.box(1, 1.0, True, 1.0)
        return PDESpec("transport", dom, derivative(2, 0) + derivative(2, 1, 1, beta))

    fresh_registry_with(monkeypatch, _FakeEntryPoint("specsolve.pdes", "transport", transport))
    assert list_pdes() == ["transport"] and loaded == []  # listed, not loaded
    spec = get_pde("transport", beta=2.0)
    assert loaded == [2.0] and spec.linear.terms == {(1, 0): 1.0, (0, 1): 2.0}
    with pytest.raises(ConfigError, match="unknown PDE 'transprt'; did you mean 'transport'"):
        get_pde("transprt")

"""Spectral-Refiner fine-tuning: the Navier–Stokes vorticity residual (exact solutions, second order in time, the
generator's operator) and the output-layer refinement on its H^{-1} norm."""

from __future__ import annotations

import math

import pytest
import torch

from specsolve.data.generators.navier_stokes import VorticitySolver, fno_forcing
from specsolve.errors import ConfigError
from specsolve.models.st_fno import STFNO
from specsolve.training.spectral_refinement import VorticityResidual, residual_norm, spectral_refine


def grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(n, dtype=torch.float64) / n
    return torch.meshgrid(x, x, indexing="ij")


def decaying(n: int, nu: float, times: torch.Tensor) -> torch.Tensor:
    """Unforced exact solution on the |k| = 1 shell (u . grad w = 0): ``(1, T, n, n)``."""
    X, Y = grid(n)
    return (
        torch.exp(-4 * math.pi**2 * nu * times)[:, None, None]
        * (torch.cos(2 * math.pi * X) + torch.sin(2 * math.pi * Y))
    )[None]


def forced(n: int, nu: float, times: torch.Tensor) -> torch.Tensor:
    """FNO-forced exact solution from w(0) = 0: ``w = f (1 - exp(-lam nu t)) / (lam nu)``, ``lam = 8 pi^2``."""
    lam = 8 * math.pi**2
    f = torch.from_numpy(fno_forcing(n))
    return (f[None] * ((1 - torch.exp(-lam * nu * times)) / (lam * nu))[:, None, None])[None]


@pytest.mark.parametrize("scheme", ["crank_nicolson", "central"])
@pytest.mark.parametrize("case", ["decaying", "forced"])
def test_residual_of_exact_solutions_is_second_order_in_time(scheme: str, case: str) -> None:
    nu, n = 0.05, 16
    errors = []
    for dt in (0.1, 0.05):
        times = dt * torch.arange(int(round(1.0 / dt)) + 1, dtype=torch.float64)
        w = decaying(n, nu, times) if case == "decaying" else forced(n, nu, times)
        r = VorticityResidual(nu, dt, forcing="none" if case == "decaying" else "fno", scheme=scheme)(w)
        assert r.shape[1] == len(times) - (1 if scheme == "crank_nicolson" else 2)
        errors.append((dt * r.square().mean(dim=(2, 3)).sum()).sqrt().item())  # L2 in time and space
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.1)  # O(dt^2)
    assert errors[1] < 3e-3  # ~dt^2 |w_ttt| / 12, against |w_t| ~ 2


def test_spatial_operator_matches_the_generator() -> None:
    # one operator (specsolve.pde.vorticity), two assemblies: G(w) = u . grad w - nu lap w - f must equal minus the
    # generator's tendency
    n, nu = 32, 1e-3
    torch.manual_seed(0)
    w_hat = torch.fft.rfft2(torch.randn(3, n, n, dtype=torch.float64))
    k = torch.fft.fftfreq(n, 1 / n)[:, None] ** 2 + torch.fft.rfftfreq(n, 1 / n)[None, :] ** 2
    w = torch.fft.irfft2(w_hat * torch.exp(-k / 20), s=(n, n))  # smooth random fields
    solver = VorticitySolver(n, nu, dt=1e-3, forcing=fno_forcing(n))
    g = VorticityResidual(nu, 1e-3).spatial_operator(w)
    torch.testing.assert_close(g, -solver.tendency(w), rtol=1e-10, atol=1e-12)
    # and the forcing sign: the steady Stokes balance nu lap w = -f has G = u . grad w only
    assert (
        VorticityResidual(nu, 1e-3, forcing="none")
        .spatial_operator(torch.zeros(1, n, n, dtype=torch.float64))
        .abs()
        .max()
        == 0
    )


def test_residual_norm_is_the_h_minus_1_bochner_norm() -> None:
    n, dt, alpha = 32, 0.1, 0.1
    X, _ = grid(n)
    r = torch.sin(2 * math.pi * X).expand(1, 5, n, n)  # ||sin 2 pi x||_{H^-1_alpha} = (alpha + 4 pi^2)^{-1/2} / sqrt 2
    expected = math.sqrt(5 * dt) * (alpha + 4 * math.pi**2) ** -0.5 / math.sqrt(2)
    assert residual_norm(r, dt, alpha).item() == pytest.approx(expected, rel=1e-12)


def test_spectral_refine_lowers_the_residual_and_touches_only_the_output_layer() -> None:
    nu, dt, n = 0.01, 0.1, 16
    traj = decaying(n, nu, dt * torch.arange(12, dtype=torch.float64))
    window, target = traj[:, :6, None], traj[:, 6:, None]
    torch.manual_seed(0)
    model = STFNO(1, 1, modes=4, modes_t=3, width=8, latent_steps=4, out_steps=6, num_spectral_layers=2).double()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    residual = VorticityResidual(nu, dt, forcing="none")
    refined, info = spectral_refine(model, window, residual, steps=40, lr_weight=1e-2)
    assert info["after"] < 0.3 * info["before"] and len(info["loss"]) == 40
    error = lambda m: ((m(window) - target).norm() / target.norm()).item()  # noqa: E731
    assert error(refined) < 0.7 * error(model)
    for k, v in model.state_dict().items():  # the input model is untouched (copy_model)
        assert torch.equal(v, original[k]), k
    for k, v in refined.state_dict().items():  # frozen part unchanged, output layer enlarged to n // 2 modes
        if not k.startswith("output_conv."):
            assert torch.equal(v, original[k]), k
    assert refined.output_conv.modes_x == n // 2
    with pytest.raises(ConfigError, match="st_fno"):
        spectral_refine(torch.nn.Linear(2, 2), window, residual)
    with pytest.raises(ConfigError, match="scheme"):
        VorticityResidual(nu, dt, scheme="euler")


@pytest.mark.parametrize("n", [15, 16])
def test_refinement_and_generator_dealias_alike_on_odd_and_even_grids(n: int) -> None:
    """Rough fields (every mode): the 2/3 mask decides the result, so a mask that differs by one shell fails."""
    w = torch.randn(2, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    solver = VorticitySolver(n, 1e-3, dt=1e-3, forcing=fno_forcing(n))
    torch.testing.assert_close(
        VorticityResidual(1e-3, 1e-3).spatial_operator(w), -solver.tendency(w), rtol=1e-10, atol=1e-10
    )


def test_pseudo_spectral_operator_is_the_navier_stokes_pde_spec() -> None:
    """G(w) of the shared operator equals the residual of ``get_pde("navier_stokes")`` (spectral grid derivatives,
    stream function from the spec's aux field) on a steady band-limited field, where the 2/3 rule is exact."""
    from specsolve.pde import get_pde, grid_derivatives

    n, nu = 24, 0.01
    spec = get_pde("navier_stokes", nu=nu)
    w_hat = torch.fft.rfft2(torch.randn(1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    k = torch.fft.fftfreq(n, 1 / n)[:, None].abs().maximum(torch.fft.rfftfreq(n, 1 / n)[None, :])
    w = torch.fft.irfft2(torch.where(k <= n // 6, w_hat, 0), s=(n, n))  # products stay inside the 2/3 mask
    u = torch.stack([w, w], dim=1)  # two equal frames: w_t = 0
    kinds = spec.domain.kinds(spectral=True)
    d = grid_derivatives(spec, u, kinds=kinds, method="spectral")
    mesh = spec.domain.mesh([2, n, n], kinds, torch.float64)
    r = spec.residual(d, x=mesh)[:, 0]
    g = VorticityResidual(nu, 1e-3).spatial_operator(w)
    assert g.abs().max() > 1e-2
    torch.testing.assert_close(r, g, rtol=1e-9, atol=1e-11)


def test_the_residual_is_built_from_the_navier_stokes_pde_spec() -> None:
    from specsolve.pde import get_pde

    w = torch.randn(1, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    for forcing, length in (("fno", 1.0), ("none", 2.0)):
        direct = VorticityResidual(0.02, 0.1, forcing=forcing, length=length)
        spec = get_pde("navier_stokes", nu=0.02, forcing=forcing, length=length)
        from_spec = VorticityResidual.from_spec(spec, 0.1)
        assert (from_spec.viscosity, from_spec.forcing, from_spec.length) == (0.02, forcing, length)
        assert torch.equal(from_spec(w), direct(w)) and direct.spec.params == spec.params
    with pytest.raises(ConfigError, match="needs the 'navier_stokes' PDE"):
        VorticityResidual.from_spec(get_pde("heat"), 0.1)


def test_vorticity_residual_is_a_registered_loss() -> None:
    """The loss is the refinement objective: the H^-1 residual norm of the input's last frame + the prediction."""
    from specsolve.registry import create

    n, nu, dt = 16, 0.05, 0.05
    times = dt * torch.arange(6, dtype=torch.float64)
    w = decaying(n, nu, times)[:, :, None]  # (1, T, 1, n, n), an exact solution
    loss = create("loss", "vorticity_residual", viscosity=nu, dt=dt, forcing="none")
    residual = VorticityResidual(nu, dt, forcing="none")
    wrong = w.clone()
    wrong[:, -1] += 0.1 * torch.randn_like(wrong[:, -1])
    expected = residual_norm(residual(wrong[:, 1:, 0]), dt).mean()  # frames 1..5: last input frame + prediction
    assert torch.equal(loss(wrong[:, 2:], inputs=wrong[:, :2]), expected)
    assert loss(w[:, 2:], inputs=w[:, :2]) < 1e-2 * expected  # exact frames: O(dt^2) residual only
    assert torch.equal(loss(wrong[:, 1:]), expected)  # without inputs: the prediction's frames alone
    with pytest.raises(ValueError, match=r"expects \(B, T, 1, n, n\)"):
        loss(w[:, :, 0])

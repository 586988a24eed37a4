"""GP-HM's "extra GP" (Fang et al. 2024, code ``model_GP_solver_1d_extra.py``): after ``change_point * steps`` the
main GP is frozen and a Matern-5/2 GP whose values add to ``U`` is fitted."""

from __future__ import annotations

import pytest
import torch

from specsolve.errors import ConfigError
from specsolve.gp.kron import kron_mv
from specsolve.pde.problems import get_problem
from specsolve.solvers import gp_hm
from specsolve.solvers.gp_hm import GPHM

f64 = torch.float64


@pytest.fixture
def small_hard(monkeypatch: pytest.MonkeyPatch) -> str:
    """A small analogue of ``sin(500x) - 2(x - 0.5)^2``: ``sin(60x) - 2(x - 0.5)^2`` on [0, 1], 48 points."""
    base = get_problem("poisson_1d_sin500_quad")
    prob = base.with_exact(
        lambda x: torch.sin(60 * x) - 2 * (x - 0.5) ** 2, name="small_hard", n_points=48, freq_scale=20.0
    )
    monkeypatch.setattr(gp_hm, "get_problem", lambda name: prob if name == "small_hard" else get_problem(name))
    return "small_hard"


def _fit_single_threaded(s: GPHM, progress=None) -> dict:  # noqa: ANN001
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return s.fit(progress)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("param", ["values", "whitened"])
def test_extra_gp_freezes_the_main_gp_and_reduces_the_residual(small_hard: str, param: str) -> None:
    steps, cp = 100, 0.5
    s = GPHM(
        problem=small_hard, n_components=5, steps=steps, lr=0.02, extra_gp=True, change_point=cp, extra_param=param
    )
    main_steps = round(cp * steps)
    at_cp: dict = {}

    def progress(step: int, loss: float) -> None:
        if step == main_steps:
            at_cp["params"] = [p.detach().clone() for p in s.main_parameters()]
            at_cp["residual"] = float(s.residual().norm())
            at_cp["V"] = s.extra_values().clone()

    stats = _fit_single_threaded(s, progress)
    assert stats["main_steps"] == main_steps
    # before the change point the extra GP is untouched (V = 0)
    assert torch.equal(at_cp["V"], torch.zeros_like(at_cp["V"]))
    # after it, the main GP is frozen: bit-identical parameters, no gradients
    for before, p in zip(at_cp["params"], s.main_parameters()):
        assert torch.equal(before, p.detach()) and not p.requires_grad
    assert s.extra_values().abs().max() > 0  # the extra GP moved
    # the fitted residual F[U + V] - f is smaller than the frozen main GP's alone
    assert float(s.residual().norm()) < at_cp["residual"]
    # predictions are the sum of the two interpolants: close to U + V on the collocation grid (not equal: the
    # posterior mean there is K (K + jitter I)^{-1} U, and the smooth Matern matrix is ill-conditioned)
    mean, _ = s.predict({"x": s.coords[0]})
    grid_values = s.solution_on_grid()
    assert (mean - grid_values).norm() < 0.05 * grid_values.norm()


def test_whitened_and_values_parametrisations_give_the_same_objective() -> None:
    """``V = (L_1 kron L_2) z``: the whitened objective at ``z`` equals the values objective at ``V`` (2-D)."""
    g = torch.Generator().manual_seed(0)
    solvers = {
        p: GPHM(problem="poisson_2d_sin100", n_points=[7, 6], n_components=3, steps=0, extra_gp=True, extra_param=p)
        for p in ("values", "whitened")
    }
    U = torch.randn(7, 6, generator=g, dtype=f64)
    z = torch.randn(7, 6, generator=g, dtype=f64)
    for s in solvers.values():
        with torch.no_grad():
            s.U.copy_(U)
            s.log_tau_b.fill_(0.4)
            for k in s.extra_kernels:
                k.log_ls.fill_(0.3)
                k.log_w.fill_(-0.2)
        s.start_extra_gp()
    w = solvers["whitened"]
    ks, _, _ = w._factors(w.extra_kernels)
    with torch.no_grad():
        w.V.copy_(z)
        solvers["values"].V.copy_(kron_mv([torch.linalg.cholesky(k) for k in ks], z))
    assert torch.allclose(w.extra_values(), solvers["values"].extra_values(), atol=1e-12)
    assert w.log_tau_b_extra.item() == pytest.approx(0.4)  # initialised from the main GP's boundary noise level
    assert torch.allclose(w.loss(), solvers["values"].loss(), rtol=1e-9)
    assert torch.allclose(w.residual(), solvers["values"].residual(), atol=1e-8)


def test_extra_gp_config_errors() -> None:
    with pytest.raises(ConfigError, match="change_point"):
        GPHM(problem="poisson_1d_sin10", n_points=8, steps=0, extra_gp=True, change_point=1.0)
    with pytest.raises(ConfigError, match="extra_param"):
        GPHM(problem="poisson_1d_sin10", n_points=8, steps=0, extra_gp=True, extra_param="white")  # type: ignore
    with pytest.raises(ConfigError, match="extra_gp"):
        GPHM(problem="poisson_1d_sin10", n_points=8, steps=0).start_extra_gp()

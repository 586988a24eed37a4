"""GP PDE solvers: GP-HM (spectral-mixture kernels, Kronecker algebra) and EPGP / S-EPGP (solutions-only priors)."""

from __future__ import annotations

import math

import pytest
import torch

from specsolve.errors import ConfigError
from specsolve.gp.ehrenpreis import (
    dense_nlml,
    dense_posterior,
    features,
    heat_kernel,
    imaginary_variety_points,
    variety_points,
    woodbury_nlml,
    woodbury_posterior,
)
from specsolve.gp.kernels import SpectralMixture1d, UniformGridKernel
from specsolve.gp.kron import kron_logdet, kron_mv, kron_solve, mode_product, spd_solve_logdet
from specsolve.pde.problems import get_problem, list_problems
from specsolve.solvers.epgp import EPGP
from specsolve.solvers.gp_hm import GPHM
from specsolve.solvers.sepgp import SEPGP

f64 = torch.float64


def _random_kernel(kind: str, q: int = 3, seed: int = 0) -> SpectralMixture1d:
    g = torch.Generator().manual_seed(seed)
    k = SpectralMixture1d(q, kind, 5.0)
    with torch.no_grad():
        k.log_w.copy_(torch.randn(q, generator=g, dtype=f64))
        k.log_ls.copy_(torch.randn(q, generator=g, dtype=f64))
        k.freq.copy_(3 * torch.rand(q, generator=g, dtype=f64))
    return k


# ---- kernels -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["student_t", "gaussian"])
def test_kernel_derivatives_match_finite_differences_including_diagonal(kind):
    k = _random_kernel(kind)
    tau = torch.tensor([-0.7, -0.1, -1e-3, 0.0, 1e-3, 0.05, 0.4], dtype=f64)  # tau = 0 is the diagonal
    h = 1e-4
    d = k.derivatives(tau, 2)
    f = lambda t: k.derivatives(t, 0)[0]  # noqa: E731
    fd1 = (f(tau + h) - f(tau - h)) / (2 * h)
    fd2 = (f(tau + h) - 2 * f(tau) + f(tau - h)) / h**2
    d1, d2 = d[1].detach(), d[2].detach()
    assert torch.allclose(d1, fd1.detach(), rtol=0, atol=1e-6 * float(d1.abs().max()))
    assert torch.allclose(d2, fd2.detach(), rtol=0, atol=1e-5 * float(d2.abs().max()))
    # analytic value on the diagonal: k''(0) = -sum_q w_q (g_q''(0)-term + (2 pi mu_q)^2)
    w, s, om = k.log_w.exp(), k.log_ls.exp(), 2 * math.pi * k.freq
    env = 5 * s**2 / 3 if kind == "student_t" else 2 * s
    assert torch.allclose(d[2][3], -(w * (env + om**2)).sum().detach())


@pytest.mark.slow  # the first double backward through abs() makes torch import ~800 modules (seconds)
def test_autograd_through_abs_gets_the_matern_diagonal_wrong():
    """The pitfall the closed forms avoid: PyTorch's |tau| has zero derivative at 0."""
    k = _random_kernel("student_t")
    t0 = torch.zeros(1, dtype=f64, requires_grad=True)
    (g1,) = torch.autograd.grad(k(t0).sum(), t0, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), t0)
    closed = k.derivatives(torch.zeros(1, dtype=f64), 2)[2]
    assert not torch.allclose(g2, closed.detach(), rtol=1e-3)


def test_uniform_grid_kernel_matches_direct_matrices():
    x = torch.linspace(0.0, 2.0, 9, dtype=f64)
    k = _random_kernel("student_t")
    mats = UniformGridKernel(x).matrices(k, 2)
    for order in range(3):
        assert torch.allclose(mats[order], k.matrix(x, x, order), atol=1e-12)
    assert torch.allclose(mats[0], mats[0].T) and torch.allclose(mats[1], -mats[1].T)


# ---- Kronecker algebra ---------------------------------------------------------------------------------------------
def _spd(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=f64)
    return a @ a.T / n + 0.5 * torch.eye(n, dtype=f64)


@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 4)])
def test_kronecker_ops_match_dense(sizes):
    ks = [_spd(n, i) for i, n in enumerate(sizes)]
    chols = [torch.linalg.cholesky(k) for k in ks]
    u = torch.randn(sizes, generator=torch.Generator().manual_seed(7), dtype=f64)
    dense = ks[0]
    for k in ks[1:]:
        dense = torch.kron(dense, k)
    v = u.reshape(-1)
    assert torch.allclose(kron_mv(ks, u).reshape(-1), dense @ v)
    assert torch.allclose(kron_solve(chols, u).reshape(-1), torch.linalg.solve(dense, v))
    assert torch.allclose(kron_logdet(chols), torch.logdet(dense))
    quad = (u * kron_solve(chols, u)).sum()
    assert torch.allclose(quad, v @ torch.linalg.solve(dense, v))
    # mode product along the middle/last axis
    m = torch.randn(5, sizes[1], dtype=f64)
    assert mode_product(m, u, 1).shape[1] == 5


def test_spd_solve_logdet_gradients_match_autograd_through_cholesky():
    k0 = _spd(5, 3)
    b0 = torch.randn(5, 2, dtype=f64)
    w = torch.randn(5, 2, dtype=f64)

    def ref(k, b):
        ks = 0.5 * (k + k.T)
        return (torch.linalg.solve(ks, b) * w).sum() + 0.7 * torch.logdet(ks)

    def ours(k, b):
        ks = 0.5 * (k + k.T)
        alpha, logdet = spd_solve_logdet(ks, b, torch.linalg.cholesky(ks.detach()))
        return (alpha * w).sum() + 0.7 * logdet

    k1, b1 = k0.clone().requires_grad_(), b0.clone().requires_grad_()
    k2, b2 = k0.clone().requires_grad_(), b0.clone().requires_grad_()
    g_ref = torch.autograd.grad(ref(k1, b1), (k1, b1))
    g_our = torch.autograd.grad(ours(k2, b2), (k2, b2))
    assert torch.allclose(ref(k0, b0), ours(k0, b0))
    for a, b in zip(g_ref, g_our):
        assert torch.allclose(a, b, atol=1e-10)


# ---- problems ------------------------------------------------------------------------------------------------------
def test_manufactured_source_and_exact_solutions():
    p = get_problem("poisson_1d_sin100")
    (x,) = p.grid(17)
    assert torch.allclose(p.source_on_grid([x]), -1e4 * torch.sin(100 * x), atol=1e-8)
    p2 = get_problem("poisson_2d_sin100")
    xs = p2.grid(5)
    f = p2.source_on_grid(xs)
    ex = p2.exact_on_grid(xs)
    assert torch.allclose(f, -2e4 * ex, atol=1e-8)
    for name in ("heat_1d", "heat_2d", "wave_2d", "laplace_2d", "advection_2d"):  # exact homogeneous solutions
        q = get_problem(name)
        coords = q.grid([7] * q.dim)
        assert q.source_on_grid(coords).abs().max() < 1e-10, name


def test_unknown_problem_is_a_config_error():
    with pytest.raises(ConfigError, match="did you mean"):
        get_problem("poisson_1d_sin10O")


# ---- GP-HM ---------------------------------------------------------------------------------------------------------
def test_gphm_objective_matches_dense_covariance_in_2d():
    s = GPHM(problem="poisson_2d_sin100", n_points=[6, 5], n_components=3, steps=0, logdet=True)
    with torch.no_grad():
        s.U.copy_(torch.randn(6, 5, generator=torch.Generator().manual_seed(1), dtype=f64))
        s.log_tau_b.fill_(0.3)
        s.log_tau_e.fill_(-0.2)
    ks = [gk.matrices(k, 2) for gk, k in zip(s.grid_kernels, s.kernels)]
    k1, k2 = (m[0] + s.jitter * torch.eye(m[0].shape[0], dtype=f64) for m in ks)
    dense = torch.kron(k1, k2)
    u = s.U.detach()
    v = u.reshape(-1)
    prior = 0.5 * v @ torch.linalg.solve(dense, v) + 0.5 * torch.logdet(dense)
    # derivative operators K_j'' K_j^{-1} along each axis (vec ordering: row-major)
    d_xx = torch.kron(ks[0][2] @ torch.linalg.inv(k1), torch.eye(5, dtype=f64))
    d_yy = torch.kron(torch.eye(6, dtype=f64), ks[1][2] @ torch.linalg.inv(k2))
    resid = (d_xx + d_yy) @ v - s.source.reshape(-1)
    eq = -0.5 * v.numel() * -0.2 + 0.5 * math.exp(-0.2) * resid.pow(2).sum()
    bgap = (u[s.bmask] - s.bvals).pow(2).sum()
    bnd = -0.5 * s.bvals.numel() * 0.3 + 0.5 * math.exp(0.3) * bgap
    expected = prior + s.boundary_weight * bnd + eq
    assert torch.allclose(s.loss().detach(), expected.detach(), rtol=1e-9)
    assert s.bvals.numel() == 2 * 6 + 2 * 5 - 4


def test_gphm_solves_an_easy_poisson_problem():
    s = GPHM(problem="poisson_1d_sin10", n_points=64, n_components=5, steps=300, lr=0.02)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add synchronisation overhead on a busy machine
    try:
        s.fit()
    finally:
        torch.set_num_threads(threads)
    err = s.evaluate()["rel_l2"]
    assert err < 0.05
    mean, std = s.predict({"x": torch.linspace(0, 2 * math.pi, 11, dtype=f64)})
    assert mean.shape == (11,) and std is None


def test_gphm_rejects_time_dependent_problems_and_bad_grids():
    with pytest.raises(ConfigError):
        GPHM(problem="heat_1d", steps=0)
    with pytest.raises(ConfigError):
        GPHM(problem="poisson_2d_sin100", n_points=[10], steps=0)
    s = GPHM(problem="poisson_1d_sin10", n_points=8, n_components=2, steps=0)
    with pytest.raises(ConfigError):
        s.predict({"y": torch.zeros(3, dtype=f64)})


# ---- EPGP ----------------------------------------------------------------------------------------------------------
def _operator_on(problem, fn, pts):
    """``F[fn]`` at points ``(s, d)`` (the problem's axis order), through the PDE specification's residual."""
    return problem.operator(lambda cols: fn(torch.stack(cols, -1)), pts.unbind(-1))


@pytest.mark.parametrize("name", ["heat_1d", "heat_2d"])
def test_closed_form_heat_kernel_columns_solve_the_pde(name):
    """Each column k(., x') of the closed-form EPGP heat kernel solves u_t = Laplace u (autograd, smooth kernel)."""
    p = get_problem(name)
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(40, p.dim, generator=g, dtype=f64)
    anchors = torch.rand(3, p.dim, generator=g, dtype=f64)
    ls, la = torch.tensor(0.3, dtype=f64), torch.tensor(0.0, dtype=f64)
    fn = lambda x: heat_kernel(x, anchors, ls, la).sum(-1)  # noqa: E731
    res = _operator_on(p, fn, pts)
    cols = [c.clone().requires_grad_(True) for c in pts.unbind(-1)]
    (u_t,) = torch.autograd.grad(fn(torch.stack(cols, -1)).sum(), cols[-1])
    assert u_t.abs().max() > 1e-2  # the check is not vacuous
    assert res.abs().max() < 1e-10 * u_t.abs().max()


@pytest.mark.parametrize("name", ["heat_1d", "heat_2d", "wave_2d", "laplace_2d"])
@pytest.mark.parametrize("imaginary", [True, False])
def test_epgp_prior_samples_solve_the_pde(name, imaginary):
    """A prior sample Re(sum_j w_j exp(<x, z_j>)), z_j on the characteristic variety, solves the PDE (autograd)."""
    p = get_problem(name)
    g = torch.Generator().manual_seed(1)
    p_dim = {"heat_1d": 1, "heat_2d": 2, "wave_2d": 2, "laplace_2d": 1}[name]
    base = torch.randn(6, p_dim, generator=g, dtype=f64)
    if imaginary:
        z = imaginary_variety_points(p, base)
    else:
        z = variety_points(p, torch.complex(base, 0.5 * torch.randn(6, p_dim, generator=g, dtype=f64)))
    w = torch.complex(torch.randn(z.shape[0], generator=g, dtype=f64), torch.randn(z.shape[0], generator=g, dtype=f64))
    pts = torch.rand(30, p.dim, generator=g, dtype=f64)
    sample = lambda x: (features(x, z) @ w).real  # noqa: E731
    res = _operator_on(p, sample, pts)
    u = sample(pts)
    assert res.abs().max() < 1e-9 * (1 + u.abs().max())
    # and a function that is not a solution is caught by the same check
    bad = _operator_on(p, lambda x: (x**2).sum(-1) * x[:, 0], pts)
    assert bad.abs().max() > 1e-3


def test_woodbury_matches_dense_marginal_likelihood_and_posterior():
    g = torch.Generator().manual_seed(2)
    phi = torch.complex(torch.randn(30, 6, generator=g, dtype=f64), torch.randn(30, 6, generator=g, dtype=f64))
    phis = torch.complex(torch.randn(7, 6, generator=g, dtype=f64), torch.randn(7, 6, generator=g, dtype=f64))
    y = torch.randn(30, generator=g, dtype=f64)
    log_var = torch.randn(6, generator=g, dtype=f64)
    log_noise = torch.tensor(-2.0, dtype=f64)
    assert torch.allclose(woodbury_nlml(phi, y, log_var, log_noise), dense_nlml(phi, y, log_var, log_noise))
    # exact NLML of N(0, F S F^T + s^2 I) from its definition
    f = torch.cat([phi.real, phi.imag], -1)
    s = torch.cat([log_var.exp(), log_var.exp()]) / 2
    cov = (f * s) @ f.T + math.exp(-2.0) * torch.eye(30, dtype=f64)
    ref = -torch.distributions.MultivariateNormal(torch.zeros(30, dtype=f64), cov).log_prob(y)
    assert torch.allclose(woodbury_nlml(phi, y, log_var, log_noise), ref)
    m1, s1 = woodbury_posterior(phi, y, phis, log_var, log_noise)
    m2, s2 = dense_posterior(phi, y, phis, log_var, log_noise)
    assert torch.allclose(m1, m2) and torch.allclose(s1, s2)


def test_epgp_heat_1d_from_initial_data_is_accurate():
    s = EPGP(problem="heat_1d", kernel="closed_form", steps=0)
    stats = s.fit()
    assert stats["n_obs"] == 50
    res = s.evaluate()
    assert res["rel_l2"] < 1e-3
    mean, std = s.predict({"x": torch.linspace(-5, 5, 7, dtype=f64), "t": torch.tensor([0.0, 1.0], dtype=f64)})
    assert mean.shape == std.shape == (7, 2)
    assert std[:, 0].max() < 1e-2 and (std[:, 1] >= 0).all()  # data at t = 0: small uncertainty there


def test_sepgp_laplace_short_fit():
    s = SEPGP(problem="laplace_2d", n_points=8, frequencies="complex", init_scale=1.0, lr=0.01, noise=1e-5, steps=150)
    s.fit()
    assert s.evaluate()["rel_l2"] < 1e-2


@pytest.mark.parametrize("cls", [EPGP, SEPGP])
def test_epgp_rejects_nonlinear_and_inhomogeneous_problems(cls):
    with pytest.raises(ConfigError, match="nonlinear"):
        cls(problem="allen_cahn_1d_sin100")
    with pytest.raises(ConfigError):
        cls(problem="poisson_1d_sin100")


def test_epgp_closed_form_only_for_heat():
    with pytest.raises(ConfigError, match="closed-form"):
        EPGP(problem="wave_2d", kernel="closed_form")


def test_all_problem_names_resolve():
    assert {
        "poisson_1d_sin100",
        "poisson_1d_xsin200",
        "poisson_1d_sin6cos100",
        "poisson_1d_sin500_quad",
        "allen_cahn_1d_sin100",
        "poisson_2d_sin100",
        "advection_2d",
        "heat_1d",
        "heat_2d",
        "wave_2d",
        "laplace_2d",
    } <= set(list_problems())


# ---- configs -------------------------------------------------------------------------------------------------------
def test_constructor_signatures_are_config_schemas_and_shipped_configs_validate():
    from pathlib import Path

    from omegaconf import OmegaConf

    from specsolve.registry.signature import validate_params

    classes = {"gp_hm": GPHM, "epgp": EPGP, "sepgp": SEPGP}
    validate_params(GPHM, {"problem": "poisson_2d_sin100", "n_points": [256, 256], "lr_final": 1e-4}, "t")
    with pytest.raises(ConfigError, match="n_points"):
        validate_params(GPHM, {"n_point": 3}, "t")
    with pytest.raises(ConfigError):
        validate_params(GPHM, {"kernel": "matern"}, "t")
    paths = sorted((Path(__file__).resolve().parents[1] / "configs" / "gp").glob("*.yaml"))
    assert len(paths) >= 10
    for path in paths:
        cfg = OmegaConf.to_container(OmegaConf.load(path))
        params = dict(cfg["solver"])
        cls = classes[params.pop("name")]
        validate_params(cls, params, path.name)
        assert params["problem"] in list_problems()
        assert cfg["output"]["path"].endswith(".h5")


# ---- the problem registry kind -----------------------------------------------------------------------------------
def test_problems_are_registry_components_built_on_registered_pdes() -> None:
    import specsolve
    from specsolve.pde import get_pde

    assert [c.name for c in specsolve.list_components("problem")] == list_problems()
    p = specsolve.create("problem", "heat_1d")
    assert p is get_problem("heat_1d") and p.axes == ("x", "t") and p.spec.domain.names == ("t", "x")
    assert p.spec.linear == get_pde("heat", dim=1, nu=1.0).linear  # the registered PDE's operator, not a copy
    assert p.to_spec_order(("X", "T")) == ("T", "X") and p.derivative_orders() == [(2, 0), (0, 1)]
    with pytest.raises(ConfigError, match="unknown problem 'heat_1D'; did you mean 'heat_1d'"):
        get_problem("heat_1D")


def test_a_plugin_problem_from_the_entry_point_group_runs_in_the_gp_solvers(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from specsolve.registry import Registry

    base = get_problem("poisson_1d_sin10")

    def sin3() -> object:
        """u_xx = f, u = sin(3x) (a third party's problem)."""
        return base.with_exact(lambda x: torch.sin(3 * x), name="sin3", n_points=16, freq_scale=2.0)

    class EntryPoint:
        name, value, group = "sin3", "fake_pkg:sin3", "specsolve.problems"

        class dist:  # noqa: N801
            name = "fake-plugin"

        def load(self):  # noqa: ANN202
            return sin3

    monkeypatch.setattr(
        metadata, "entry_points", lambda group=None, **kw: [EntryPoint()] if group == EntryPoint.group else []
    )
    monkeypatch.setattr("specsolve.registry.REGISTRY", Registry())
    s = GPHM(problem="sin3", n_components=2, steps=0)
    assert s.n_points == [16] and s.problem.pde == "laplace"
    assert torch.allclose(s.source, -9 * torch.sin(3 * s.coords[0]), atol=1e-10)  # manufactured from the new exact
    assert torch.allclose(s.bvals, torch.sin(3 * s.coords[0][[0, -1]]), atol=1e-14)


def test_adam_loop_stops_on_a_non_finite_objective() -> None:
    from specsolve.errors import SpecsolveError
    from specsolve.gp.common import adam_loop

    p = torch.nn.Parameter(torch.tensor(1.0, dtype=f64))
    opt = torch.optim.Adam([p], lr=0.1)
    seen: list[int] = []
    objective = lambda: (p - 2) ** 2 * (math.nan if len(seen) == 2 else 1.0)  # noqa: E731
    with pytest.raises(SpecsolveError, match="sepgp: the marginal likelihood became nan at step 3"):
        adam_loop(opt, objective, range(1, 10), "sepgp: the marginal likelihood", lambda s, v: seen.append(s))
    assert seen == [1, 2]  # progress is reported for the finite steps only


def test_sepgp_holdout_stopping_keeps_the_best_held_out_check_and_never_sees_the_test_set():
    """``stopping: holdout`` fits the likelihood on a seeded part of the observations, checks the held-out RMSE
    every ``check_every`` steps and ends with the parameters of the best check (not the last step's): the checks
    after step 40 are made to look worse, so the parameters of step 40 must come back."""
    model = SEPGP(problem="wave_2d", n_points=8, steps=120, restart_period=40, stopping="holdout", check_every=20)
    fit_idx, held_idx = model.holdout_split()
    n = model.y_obs.numel()
    assert sorted(torch.cat([fit_idx, held_idx]).tolist()) == list(range(n))  # a partition of the observations
    assert held_idx.numel() == round(0.2 * n)
    checks: dict[int, tuple[float, dict]] = {}
    measure = model.holdout_rmse
    step = {"n": 0}

    def recording(*args):
        value = measure(*args) + (1.0 if step["n"] > 40 else 0.0)
        checks[step["n"]] = (value, model.state_copy())
        return value

    model.holdout_rmse = recording
    info = model.fit(progress=lambda s, _: step.update(n=s))
    model.holdout_rmse = measure
    assert sorted(checks) == [0, 20, 40, 60, 80, 100, 120]
    best_step = min(checks, key=lambda k: checks[k][0])
    assert best_step == 40 and checks[20][0] > checks[40][0]  # the likelihood fit improves the held-out error
    assert info["stopped_at"] == 40 and info["holdout_rmse"] == checks[40][0]
    for name, value in model.state_dict().items():  # the parameters of step 40, not of step 120
        assert torch.equal(value, checks[40][1][name]), name
    assert not torch.equal(checks[40][1]["base_re"], checks[120][1]["base_re"])
    assert SEPGP(problem="wave_2d", stopping="holdout").holdout_split()[1].tolist() == held_idx.tolist()  # seeded
    with pytest.raises(ConfigError, match="holdout_fraction"):
        SEPGP(problem="wave_2d", stopping="holdout", holdout_fraction=1.0)

"""GP-HM completed (issue 16): mixed and higher derivatives, the paper's missing problems, the paper protocol (the
authors' logged 0.2756 after 96 steps), jitter reporting, and exact solutions linear in one axis."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import pytest
import torch

from specsolve.errors import ConfigError
from specsolve.gp.kernels import MAX_ORDER, SpectralMixture1d
from specsolve.pde.operators import LinearOperator
from specsolve.pde.problems import Problem, get_problem
from specsolve.solvers import gp_hm
from specsolve.solvers.gp_hm import GPHM

f64 = torch.float64


def _kernel(kind: str, seed: int = 0) -> SpectralMixture1d:
    g = torch.Generator().manual_seed(seed)
    k = SpectralMixture1d(3, kind, 5.0)
    with torch.no_grad():
        k.log_w.copy_(torch.randn(3, generator=g, dtype=f64))
        k.log_ls.copy_(torch.randn(3, generator=g, dtype=f64))
        k.freq.copy_(3 * torch.rand(3, generator=g, dtype=f64))
    return k


def _use_problem(monkeypatch: pytest.MonkeyPatch, prob: Problem) -> str:
    monkeypatch.setattr(gp_hm, "get_problem", lambda name: prob if name == prob.name else get_problem(name))
    return prob.name


def _poisson_variant(terms: dict, exact, name: str, **changes) -> Problem:  # noqa: ANN001
    """The 2-D Poisson problem with another constant-coefficient operator (multi-indices over (x, y))."""
    base = get_problem("poisson_2d_sin100")
    spec = base.spec.with_(linear=LinearOperator(terms, 2)).manufactured(lambda x: exact(*x))
    return replace(base, name=name, spec=spec, **changes)


# ---- kernel derivatives of any order ---------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "top"), [("student_t", 4), ("gaussian", 7)])
def test_higher_kernel_derivatives_are_the_derivatives_of_the_lower_ones(kind: str, top: int) -> None:
    k = _kernel(kind)
    tau = torch.tensor([-0.7, -0.1, -1e-3, 0.0, 1e-3, 0.05, 0.4], dtype=f64)
    h = 1e-5
    with torch.no_grad():
        d, up, down = k.derivatives(tau, top), k.derivatives(tau + h, top), k.derivatives(tau - h, top)
        low = k.derivatives(tau, 2)
    assert all(torch.equal(a, b) for a, b in zip(d[:3], low))  # orders <= 2: the old expressions, bit for bit
    for n in range(3, top + 1):
        fd = (up[n - 1] - down[n - 1]) / (2 * h)
        scale = float(d[n].abs().max())
        assert torch.allclose(d[n], fd, rtol=0, atol=2e-5 * scale), (kind, n)
    if kind == "student_t":  # Matern-5/2 x cos at tau = 0: k''''(0) = sum_q w_q (alpha^4 + 2 alpha^2 om^2 + om^4)
        w, s, om = k.log_w.exp(), k.log_ls.exp(), 2 * math.pi * k.freq
        alpha2 = 5 * s**2
        assert torch.allclose(d[4][3], (w * (alpha2**2 + 2 * alpha2 * om**2 + om**4)).sum().detach())
        with pytest.raises(ValueError, match="at most|0..4"):
            k.derivatives(tau, 5)
    assert MAX_ORDER["student_t"] == 4 and MAX_ORDER["gaussian"] is None


# ---- mixed and higher derivatives in GP-HM ----------------------------------------------------------------------
@pytest.mark.parametrize("kernel", ["student_t", "gaussian"])
def test_mixed_and_third_order_terms_match_the_dense_kronecker_operator(monkeypatch, kernel: str) -> None:
    terms = {(2, 0): 1.0, (0, 2): 1.0, (1, 1): 0.5, (2, 1): 0.1}  # u_xx + u_yy + u_xy/2 + u_xxy/10
    prob = _poisson_variant(terms, lambda x, y: torch.sin(2 * x) * torch.cos(y) + x * y, "mixed2d", n_points=6)
    s = GPHM(problem=_use_problem(monkeypatch, prob), n_points=[6, 5], n_components=3, steps=0, kernel=kernel)
    with torch.no_grad():
        s.U.copy_(torch.randn(6, 5, generator=torch.Generator().manual_seed(3), dtype=f64))
    mats = [gk.matrices(k, 2) for gk, k in zip(s.grid_kernels, s.kernels)]
    kinv = [torch.linalg.inv(m[0] + s.jitter * torch.eye(m[0].shape[0], dtype=f64)) for m in mats]
    # D_j^{(r)} = K_j^{(r)} K_j^{-1} for r >= 1 (r = 0: the identity, not K_j (K_j + jitter I)^{-1})
    ops = [[torch.eye(ki.shape[0], dtype=f64)] + [m[r] @ ki for r in (1, 2)] for m, ki in zip(mats, kinv)]
    v = s.U.detach().reshape(-1)
    _, derivs = s._gp_terms(s.kernels, s.U)
    assert set(derivs) == {(2, 0), (0, 2), (1, 1), (2, 1)}
    for (a, b), value in derivs.items():
        dense = (torch.kron(ops[0][a], ops[1][b]) @ v).detach()  # row-major vec: x is the slow axis
        err = (value.detach().reshape(-1) - dense).abs().max() / dense.abs().max()
        assert err < 1e-12, (a, b, float(err))
    # the residual the objective sees is the full operator
    resid = s.residual()
    lin = sum(c * torch.kron(ops[0][a], ops[1][b]) for (a, b), c in terms.items()) @ v
    expected = (lin - s.source.reshape(-1)).detach()
    assert (resid.reshape(-1) - expected).abs().max() < 1e-12 * expected.abs().max()


def test_mixed_terms_with_the_whitened_extra_gp_match_the_dense_operator(monkeypatch) -> None:
    prob = _poisson_variant({(2, 0): 1.0, (1, 1): 1.0}, lambda x, y: torch.sin(x + y), "mixed_extra", n_points=5)
    name = _use_problem(monkeypatch, prob)
    s = GPHM(problem=name, n_points=[5, 4], n_components=2, steps=0, extra_gp=True, extra_param="whitened")
    with torch.no_grad():
        s.V.copy_(torch.randn(5, 4, generator=torch.Generator().manual_seed(4), dtype=f64))
    _, values, derivs = s._extra_terms()
    mats = [gk.matrices(k, 2) for gk, k in zip(s.grid_kernels, s.extra_kernels)]
    ops = [
        [m[r] @ torch.linalg.inv(m[0] + s.jitter * torch.eye(m[0].shape[0], dtype=f64)) for r in range(3)] for m in mats
    ]
    v = values.detach().reshape(-1)
    dense = torch.kron(ops[0][1], ops[1][1]) @ v
    assert (derivs[(1, 1)].detach().reshape(-1) - dense).abs().max() < 1e-10 * dense.abs().max()


def test_a_term_beyond_the_kernels_order_is_a_one_line_config_error(monkeypatch) -> None:
    prob = _poisson_variant({(5, 0): 1.0, (0, 2): 1.0}, lambda x, y: torch.sin(x) * y, "order5", n_points=6)
    name = _use_problem(monkeypatch, prob)
    with pytest.raises(ConfigError, match=r"term u_xxxxx .* order 5 .* student_t kernel gives at most 4") as err:
        GPHM(problem=name, n_components=2, steps=0)
    assert "\n" not in str(err.value)
    s = GPHM(problem=name, n_components=2, steps=0, kernel="gaussian")  # the SE x cos kernel has every order
    assert s.axis_order == [5, 2] and torch.isfinite(s.loss())
    with pytest.raises(ConfigError, match="extra GP is Matern"):
        GPHM(problem=name, n_components=2, steps=0, kernel="gaussian", extra_gp=True)


# ---- exact solutions linear in one axis -------------------------------------------------------------------------
def test_exact_solutions_linear_in_one_axis_build_and_solve(monkeypatch) -> None:
    prob = _poisson_variant({(2, 0): 1.0, (0, 2): 1.0}, lambda x, y: torch.sin(3 * x) * (2 * y + 1), "lin_y")
    s = GPHM(problem=_use_problem(monkeypatch, prob), n_points=[7, 6], n_components=2, steps=2)
    x, y = torch.meshgrid(*s.coords, indexing="ij")
    assert torch.allclose(s.source, -9 * torch.sin(3 * x) * (2 * y + 1), atol=1e-10)
    assert math.isfinite(s.fit()["final_loss"])
    lin = get_problem("poisson_1d_sin10").with_exact(lambda x: 2 * x + 1, name="lin_x", n_points=8)
    s = GPHM(problem=_use_problem(monkeypatch, lin), n_components=2, steps=1)
    assert torch.equal(s.source, torch.zeros(8, dtype=f64)) and math.isfinite(s.fit()["final_loss"])


# ---- jitter -------------------------------------------------------------------------------------------------------
def test_jitter_escalation_warns_once_and_is_reported() -> None:
    s = GPHM(problem="poisson_1d_sin10", n_points=64, n_components=2, freq_scale=0.0, jitter=1e-17, steps=2)
    with torch.no_grad():
        s.kernels[0].log_ls.fill_(-16.0)  # a nearly constant kernel: K is singular to rounding
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = s.fit()
        s.loss()
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "needed jitter" in msgs[0]
    assert 1e-17 < stats["jitter_used"] <= 1e-13
    quiet = GPHM(problem="poisson_1d_sin10", n_points=16, n_components=2, steps=1)
    assert quiet.fit()["jitter_used"] == 1e-6


# ---- the paper's problems and protocol --------------------------------------------------------------------------
def test_the_four_missing_paper_problems_have_the_papers_sources() -> None:
    x = torch.linspace(0.0, 1.0, 9, dtype=f64)
    p = get_problem("poisson_1d_mix_sin")
    assert (p.n_points, p.freq_scale, p.paper_steps, p.paper_change_point) == (900, 30.0, 1_000_000, 0.5)
    f = -torch.sin(x) - 40 * torch.sin(20 * x) - 500 * torch.sin(100 * x)
    assert torch.allclose(p.source_on_grid([x]), f, atol=1e-9)
    xt = torch.linspace(0.0, 2 * math.pi, 9, dtype=f64)
    p = get_problem("allen_cahn_1d_sin6cos100")
    u = torch.sin(6 * xt) * torch.cos(100 * xt)
    u_xx = 0.5 * (-(106**2) * torch.sin(106 * xt) + 94**2 * torch.sin(94 * xt))  # sin6x cos100x = (sin106x - sin94x)/2
    assert torch.allclose(p.source_on_grid([xt]), u_xx + u * (u * u - 1), atol=1e-8)
    p = get_problem("poisson_2d_sin6cos20")
    g2 = lambda s: 0.5 * (-(26**2) * torch.sin(26 * s) + 14**2 * torch.sin(14 * s))  # noqa: E731
    gx, gy = torch.meshgrid(xt, xt, indexing="ij")
    assert (p.n_points, p.paper_steps) == (200, 1_000_000)
    assert torch.allclose(p.source_on_grid([xt, xt]), g2(gx) + g2(gy), atol=1e-9)
    p = get_problem("allen_cahn_2d_mix_sincos")
    h = lambda s: torch.sin(s) + 0.1 * torch.sin(20 * s) + torch.cos(100 * s)  # noqa: E731
    h2 = lambda s: -torch.sin(s) - 40 * torch.sin(20 * s) - 1e4 * torch.cos(100 * s)  # noqa: E731
    mx, my = torch.meshgrid(x, x, indexing="ij")
    u = h(mx) * h(my)
    f = h2(mx) * h(my) + h(mx) * h2(my) + u * (u * u - 1)
    assert (p.n_points, p.freq_scale, p.paper_steps) == (400, 30.0, 3_000_000)
    assert torch.allclose(p.source_on_grid([x, x]), f, rtol=1e-12, atol=1e-8)


def test_paper_protocol_defaults_and_conflicts() -> None:
    s = GPHM(problem="poisson_1d_sin500_quad", protocol="paper", n_components=2)
    assert (s.steps, s.extra_gp, s.change_point, s.lr_final) == (1_000_000, True, 0.01, None)
    assert s.paper_interval() == 50_000
    s = GPHM(problem="poisson_1d_sin100", protocol="paper", n_components=2)
    assert (s.steps, s.extra_gp) == (100_000, False)
    d = GPHM(problem="poisson_1d_sin100", n_components=2)
    assert (d.steps, d.extra_gp, d.change_point) == (20000, False, 0.5)  # today's default protocol is unchanged
    with pytest.raises(ConfigError, match="constant"):
        GPHM(problem="poisson_1d_sin100", protocol="paper", lr_final=1e-4)
    with pytest.raises(ConfigError, match="checkpoints"):
        GPHM(problem="poisson_1d_sin100", protocol="paper", eval_every=10)
    with pytest.raises(ConfigError, match="protocol"):
        GPHM(problem="poisson_1d_sin100", protocol="papers")


def test_paper_protocol_reproduces_the_authors_log_after_96_steps() -> None:
    """The authors' shipped smoke log (100 epochs, N = 400, Q = 30, StM): relative L2 0.2756 at the last checkpoint,
    iteration i = 95 (after 96 updates)."""
    s = GPHM(problem="poisson_1d_sin100", protocol="paper", steps=100)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stats = s.fit()
    finally:
        torch.set_num_threads(threads)
    steps = [k for k, _ in stats["checkpoints"]]
    assert steps == list(range(1, 97, 5))  # i % 5 == 0 for i < 100, evaluated after the update of iteration i
    assert round(stats["rel_l2_last_checkpoint"], 4) == 0.2756
    assert stats["rel_l2_min_checkpoint"] == min(e for _, e in stats["checkpoints"])
    assert s.evaluate()["rel_l2_last_checkpoint"] == stats["rel_l2_last_checkpoint"]


def test_paper_protocol_configs_validate_and_cover_every_gp_hm_paper_problem() -> None:
    from pathlib import Path

    from omegaconf import OmegaConf

    from specsolve.registry.signature import validate_params

    root = Path(__file__).resolve().parents[1] / "configs" / "gp"
    paper = {p.stem: OmegaConf.to_container(OmegaConf.load(p)) for p in sorted((root / "paper").glob("*.yaml"))}
    problems = {cfg["solver"]["problem"] for cfg in paper.values()}
    new = {"poisson_1d_mix_sin", "allen_cahn_1d_sin6cos100", "poisson_2d_sin6cos20", "allen_cahn_2d_mix_sincos"}
    assert new <= problems and len(problems) == 11
    for name, cfg in paper.items():
        params = dict(cfg["solver"])
        assert params.pop("name") == "gp_hm" and params["protocol"] == "paper" and "lr_final" not in params
        validate_params(GPHM, params, name)
    for name in new:  # and a CPU-scale config beside each new problem
        assert OmegaConf.load(root / f"{name}.yaml").solver.problem == name


# ---- Laplace posterior (posterior="laplace") ------------------------------------------------------------------
def trained(problem: str, n_points, steps: int = 25) -> GPHM:
    solver = GPHM(problem=problem, n_points=n_points, n_components=3, steps=steps, posterior="laplace")
    solver.fit()
    return solver


def test_laplace_hessian_is_the_linear_problems_quadratic_form() -> None:
    """Poisson is linear, so the objective is quadratic in U: ``H = K^{-1} + lambda_b tau_b B^T B + tau_e D^T D``
    with ``D`` the residual's matrix (its columns ``r(e_i) - r(0)``) and ``B`` the boundary selection."""
    solver = trained("poisson_1d_sin100", 12)
    with torch.no_grad():
        k = solver._factors()[0][0]

        def residual(u: torch.Tensor) -> torch.Tensor:
            _, derivs = solver._gp_terms(solver.kernels, u)
            return solver.problem.residual(u, derivs, solver.source).reshape(-1)

        zero = torch.zeros_like(solver.U)
        d = torch.stack([residual(e) - residual(zero) for e in torch.eye(12, dtype=torch.float64)], dim=1)
        b = torch.eye(12, dtype=torch.float64)[solver.bmask.reshape(-1)]
        tau_b, tau_e = solver.log_tau_b.exp(), solver.log_tau_e.exp()
        expected = torch.linalg.inv(k) + solver.boundary_weight * tau_b * b.T @ b + tau_e * d.T @ d
    torch.testing.assert_close(solver.laplace_hessian(), expected, rtol=1e-8, atol=1e-8 * expected.abs().max())


def test_laplace_std_equals_the_dense_gaussian_predictive() -> None:
    """2-D, off the collocation grid: ``var = diag(M H^{-1} M^T) + diag(K** - K* K^{-1} K*^T)`` with the dense
    Kronecker matrices (``K = K_1 kron K_2``, row-major ``vec``), against the solver's per-axis computation."""
    solver = trained("poisson_2d_sin100", [6, 5])
    grid = {a: torch.linspace(0.1, 2.0, n, dtype=torch.float64) for a, n in zip(solver.problem.axes, (4, 3))}
    _, std = solver.predict(grid)
    with torch.no_grad():
        ks = solver._factors()[0]
        xs = list(grid.values())
        kernels = list(solver.kernels)
        dense_k = torch.kron(ks[0], ks[1])
        cross = torch.kron(*(kern.matrix(x, c, 0) for kern, x, c in zip(kernels, xs, solver.coords)))
        prior = torch.kron(*(kern.matrix(x, x, 0) for kern, x in zip(kernels, xs)))
        m = cross @ torch.linalg.inv(dense_k)
        cov = torch.linalg.inv(solver.laplace_hessian())
        var = torch.diagonal(m @ cov @ m.T) + torch.diagonal(prior - m @ cross.T)
    torch.testing.assert_close(std.reshape(-1) ** 2, var, rtol=1e-8, atol=1e-14)


def test_laplace_posterior_conflicts_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="no extra_gp"):
        GPHM(problem="poisson_1d_sin100", extra_gp=True, posterior="laplace")
    with pytest.raises(ConfigError, match="at most 4096 grid values"):
        GPHM(problem="poisson_2d_sin100", n_points=100, posterior="laplace")
    assert GPHM(problem="poisson_1d_sin100", n_points=8, steps=0).predict({"x": torch.zeros(3)})[1] is None

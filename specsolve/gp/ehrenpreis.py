"""Ehrenpreis-Palamodov GP building blocks (Haerkoenen, Lange-Hegermann, Raita; ICML 2023).

For a scalar linear PDE ``P(d) u = 0`` with constant coefficients, every exponential ``exp(<x, z>)`` with ``z`` on
the characteristic variety ``V = {z in C^n : P(z) = 0}`` (``d -> z``) solves the PDE, so a GP with covariance
``k(x, x') = int_V exp(<x, z>) conj(exp(<x', z>)) dmu(z)`` has only solutions as samples (EPGP). Here the PDEs are
scalar, square-free and irreducible, so the Noetherian multipliers are ``D = 1``. Varieties, parametrised by a
complex base point (axes in the solvers' order ``Problem.axes``, time last; see :mod:`specsolve.pde.problems`)::

    heat_1d   (x, t):     z = (c, c^2)                                 c in C
    heat_2d   (x, y, t):  z = (a, b, a^2 + b^2)                        (a, b) in C^2
    wave_2d   (x, y, t):  z = (a, b, +-sqrt(a^2 + b^2))  (two sheets)  (a, b) in C^2
    laplace_2d (x, y):    z = (+-i c, c)                 (two lines)   c in C

With purely imaginary base points (``a = i omega``) the features are Fourier modes, e.g. ``exp(i omega x - omega^2 t)``
(heat) and ``exp(i omega.x +- i |omega| t)`` (wave).

S-EPGP replaces the measure by ``r`` Dirac points per sheet: a Bayesian linear model on complex features
``phi_j(x) = exp(<x, z_j>)`` with weights ``w_j ~ CN(0, v_j)``; the solution is the real part. The marginal likelihood
uses Woodbury on the small ``m x m`` system (``m`` = number of features), see :func:`woodbury_nlml`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from specsolve.errors import ConfigError
from specsolve.pde.problems import Problem

Likelihood = Literal["real_part", "complex"]

#: (real dimension of the complex base point, number of sheets) per PDE family and space dimension
_VARIETIES = {("heat", 2): (1, 1), ("heat", 3): (2, 1), ("wave", 3): (2, 2), ("laplace", 2): (1, 2)}


def variety_shape(problem: Problem) -> tuple[int, int]:
    """``(p, sheets)``: the base point lives in ``C^p``; the variety has ``sheets`` components/branches."""
    key = (problem.pde, problem.dim)
    if not problem.is_linear or not problem.is_homogeneous or key not in _VARIETIES:
        raise ConfigError(
            f"EPGP needs a linear, homogeneous, constant-coefficient PDE with a known characteristic variety "
            f"(heat 1-D/2-D, wave 2-D, Laplace 2-D); '{problem.name}' has PDE type '{problem.pde}'"
            + ("" if problem.is_linear else " (nonlinear)")
            + ("" if problem.is_homogeneous else " (with a source term)")
        )
    return _VARIETIES[key]


def variety_points(problem: Problem, base: Tensor) -> Tensor:
    """Points on the characteristic variety from complex base points ``base`` ``(r, p)``: returns ``(sheets * r, d)``.

    Sheets are stacked: rows ``[0, r)`` are sheet ``+``, rows ``[r, 2r)`` sheet ``-``.
    """
    variety_shape(problem)
    if problem.pde == "heat":
        sq = (base * base).sum(-1, keepdim=True)
        return torch.cat([base, sq], -1)
    if problem.pde == "wave":
        root = torch.sqrt((base * base).sum(-1, keepdim=True))
        return torch.cat([torch.cat([base, root], -1), torch.cat([base, -root], -1)], 0)
    c = base[:, :1]  # laplace: a = +- i b
    return torch.cat([torch.cat([1j * c, c], -1), torch.cat([-1j * c, c], -1)], 0)


def imaginary_variety_points(problem: Problem, omega: Tensor) -> Tensor:
    """Points for purely imaginary base ``i omega`` (``omega`` real ``(r, p)``), avoiding the complex square root's
    branch cut: wave ``z = (i omega, +- i |omega|)``; otherwise :func:`variety_points` of ``i omega``."""
    if problem.pde == "wave":
        iw = 1j * omega.to(torch.complex128 if omega.dtype == torch.float64 else torch.complex64)
        norm = torch.linalg.vector_norm(omega, dim=-1, keepdim=True).to(iw.dtype)
        return torch.cat([torch.cat([iw, 1j * norm], -1), torch.cat([iw, -1j * norm], -1)], 0)
    cdt = torch.complex128 if omega.dtype == torch.float64 else torch.complex64
    return variety_points(problem, 1j * omega.to(cdt))


def features(x: Tensor, z: Tensor) -> Tensor:
    """``Phi[i, j] = exp(<x_i, z_j>)`` for real points ``x`` ``(s, d)`` and complex ``z`` ``(m, d)``: ``(s, m)``."""
    return torch.exp(x.to(z.dtype) @ z.transpose(0, 1))


def heat_kernel(x1: Tensor, x2: Tensor, log_scale: Tensor, log_amp: Tensor) -> Tensor:
    """Closed-form EPGP kernel of ``u_t = Laplace u`` in ``n`` space dims (points ``(s, n+1)``, time last).

    With ``omega ~ N(0, s^2 I_n)`` on ``z = (i omega, -|omega|^2)``: ``k = A (1 + 2 s^2 T)^{-n/2}
    exp(-s^2 |x - x'|^2 / (2 (1 + 2 s^2 T)))``, ``T = t + t'`` (for ``s = 1``, ``n = 1``: the EPGP paper's kernel).
    """
    n = x1.shape[-1] - 1
    s2 = torch.exp(2.0 * log_scale)
    denom = 1.0 + 2.0 * s2 * (x1[:, None, -1] + x2[None, :, -1])
    r2 = ((x1[:, None, :-1] - x2[None, :, :-1]) ** 2).sum(-1)
    return torch.exp(log_amp) * denom ** (-0.5 * n) * torch.exp(-s2 * r2 / (2.0 * denom))


def heat_kernel_diag(x: Tensor, log_scale: Tensor, log_amp: Tensor) -> Tensor:
    n = x.shape[-1] - 1
    s2 = torch.exp(2.0 * log_scale)
    return torch.exp(log_amp) * (1.0 + 4.0 * s2 * x[:, -1]) ** (-0.5 * n)


def _real_design(phi: Tensor) -> Tensor:
    """Real-part model: ``Re(phi w)`` with ``w ~ CN(0, v)`` equals ``[Re phi, Im phi] v'`` with ``v' ~ N(0, v/2)``
    (up to the sign of the second block, which the symmetric prior absorbs)."""
    return torch.cat([phi.real, phi.imag], -1)


def woodbury_nlml(
    phi: Tensor, y: Tensor, log_var: Tensor, log_noise: Tensor, likelihood: Likelihood = "real_part"
) -> Tensor:
    """Negative log marginal likelihood of ``y = Re(Phi w) + eps`` by Woodbury, ``O(s m^2 + m^3)``.

    ``phi`` ``(s, m)`` complex features, ``log_var`` ``(m,)`` log prior variances ``v_j`` of ``w_j ~ CN(0, v_j)``,
    ``log_noise`` = ``log sigma_0^2``. With design ``F`` and prior covariance ``S`` (real part:
    ``F = [Re Phi, Im Phi]``, ``S = diag(v/2, v/2)``; complex, as in the reference code: ``F = Phi``, ``S = diag(v)``)::

        A = F^H F + sigma_0^2 S^{-1} = L L^H
        NLML = (|y|^2 - |L^{-1} F^H y|^2) / (2 sigma_0^2) + (s - m')/2 log sigma_0^2 + sum log L_jj
               + 1/2 sum log S_jj + s/2 log 2 pi

    The real-part form is the exact marginal likelihood of the real GP ``Re(Phi w)``; the complex form treats the
    real data as observations of the complex model (the reference's choice).
    """
    f, log_s = _design(phi, log_var, likelihood)
    noise = torch.exp(log_noise)
    s, mp = f.shape
    chol = _woodbury_cholesky(f, log_s, noise)
    fy = f.conj().transpose(0, 1) @ y.to(f.dtype)
    proj = torch.linalg.solve_triangular(chol, fy[:, None], upper=False)[:, 0]
    quad = (y.pow(2).sum() - proj.abs().pow(2).sum()) / (2.0 * noise)
    logdet_half = torch.log(torch.diagonal(chol).real).sum()
    return quad + 0.5 * (s - mp) * log_noise + logdet_half + 0.5 * log_s.sum() + 0.5 * s * math.log(2.0 * math.pi)


def _design(phi: Tensor, log_var: Tensor, likelihood: Likelihood) -> tuple[Tensor, Tensor]:
    if likelihood == "real_part":
        half = log_var - math.log(2.0)
        return _real_design(phi), torch.cat([half, half])
    if likelihood == "complex":
        return phi, log_var
    raise ConfigError(f"likelihood must be 'real_part' or 'complex', got '{likelihood}'")


def _woodbury_cholesky(f: Tensor, log_s: Tensor, noise: Tensor) -> Tensor:
    """Lower Cholesky factor of the Woodbury system ``A = F^H F + sigma_0^2 S^{-1}`` (``S = diag(exp(log_s))``)."""
    a = f.conj().transpose(0, 1) @ f + noise * torch.diag(torch.exp(-log_s)).to(f.dtype)
    return torch.linalg.cholesky(a)


def _kernel_cholesky(f: Tensor, sv: Tensor, log_noise: Tensor) -> Tensor:
    """Lower Cholesky factor of the kernel matrix ``K = Re(F S F^H) + sigma_0^2 I`` (``sv``: the diagonal of ``S``)."""
    k = ((f * sv) @ f.conj().transpose(0, 1)).real
    k = k + torch.exp(log_noise) * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    return torch.linalg.cholesky(k)


def woodbury_posterior(
    phi: Tensor,
    y: Tensor,
    phi_star: Tensor,
    log_var: Tensor,
    log_noise: Tensor,
    likelihood: Likelihood = "real_part",
) -> tuple[Tensor, Tensor]:
    """Posterior mean and standard deviation of the real solution at the rows of ``phi_star``.

    ``mean = Re[F* A^{-1} F^H y]``, ``var = sigma_0^2 |L^{-1} F*^H|^2`` (column norms), noise-free.
    """
    f, log_s = _design(phi, log_var, likelihood)
    fs, _ = _design(phi_star, log_var, likelihood)
    noise = torch.exp(log_noise)
    chol = _woodbury_cholesky(f, log_s, noise)
    w = torch.cholesky_solve((f.conj().transpose(0, 1) @ y.to(f.dtype))[:, None], chol)[:, 0]
    mean = (fs @ w).real
    proj = torch.linalg.solve_triangular(chol, fs.conj().transpose(0, 1), upper=False)
    var = noise * proj.abs().pow(2).sum(0)
    return mean, var.clamp_min(0.0).sqrt()


def dense_nlml(
    phi: Tensor, y: Tensor, log_var: Tensor, log_noise: Tensor, likelihood: Likelihood = "real_part"
) -> Tensor:
    """The same NLML as :func:`woodbury_nlml` (real-part model) through the ``s x s`` kernel matrix
    ``K = F S F^T + sigma_0^2 I`` (cheaper when there are more features than data)."""
    f, log_s = _design(phi, log_var, likelihood)
    chol = _kernel_cholesky(f, torch.exp(log_s).to(f.dtype), log_noise)
    alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
    return 0.5 * (y * alpha).sum() + torch.log(torch.diagonal(chol)).sum() + 0.5 * y.numel() * math.log(2 * math.pi)


def dense_posterior(
    phi: Tensor,
    y: Tensor,
    phi_star: Tensor,
    log_var: Tensor,
    log_noise: Tensor,
    likelihood: Likelihood = "real_part",
) -> tuple[Tensor, Tensor]:
    """Posterior mean and std (noise-free) through the ``s x s`` kernel matrix."""
    f, log_s = _design(phi, log_var, likelihood)
    fs, _ = _design(phi_star, log_var, likelihood)
    sv = torch.exp(log_s).to(f.dtype)
    chol = _kernel_cholesky(f, sv, log_noise)
    ks = ((fs * sv) @ f.conj().transpose(0, 1)).real  # (s*, s)
    mean = ks @ torch.cholesky_solve(y[:, None], chol)[:, 0]
    prior_var = ((fs * sv) * fs.conj()).real.sum(-1)
    v = torch.linalg.solve_triangular(chol, ks.transpose(0, 1), upper=False)
    var = prior_var - v.pow(2).sum(0)
    return mean, var.clamp_min(0.0).sqrt()


def feature_nlml(phi: Tensor, y: Tensor, log_var: Tensor, log_noise: Tensor, likelihood: Likelihood) -> Tensor:
    """NLML of the feature model: Woodbury when the design has fewer columns than data points (always for the
    ``complex`` likelihood), else through the kernel matrix."""
    dense = likelihood == "real_part" and 2 * phi.shape[1] > phi.shape[0]
    fn = dense_nlml if dense else woodbury_nlml
    return fn(phi, y, log_var, log_noise, likelihood)


def feature_posterior(
    phi: Tensor, y: Tensor, phi_star: Tensor, log_var: Tensor, log_noise: Tensor, likelihood: Likelihood
) -> tuple[Tensor, Tensor]:
    dense = likelihood == "real_part" and 2 * phi.shape[1] > phi.shape[0]
    fn = dense_posterior if dense else woodbury_posterior
    return fn(phi, y, phi_star, log_var, log_noise, likelihood)


# ---- systems: Maxwell's equations (Noetherian multipliers) ---------------------------------------------------------
#: the six fields of Maxwell's equations, in this order
MAXWELL_FIELDS = ("E_x", "E_y", "E_z", "B_x", "B_y", "B_z")


def maxwell_multipliers(z: Tensor) -> Tensor:
    """Noetherian multipliers of vacuum Maxwell (``c = 1``) at points ``z = (k_x, k_y, k_z, z_t)`` ``(m, 4)`` of the
    characteristic variety ``k . k = z_t^2`` (the light cone, two sheets): ``(m, 6, 6)``, ``[j, field, op]``.

    The system ``div E = 0, div B = 0, E_t = curl B, B_t = -curl E`` becomes ``A(z) v = 0`` under ``d -> z``
    (``exp(<x, z>) v`` solves it iff it does). For a constant vector ``a``, ``E = z_t (k x a)``,
    ``B = -k x (k x a)`` solves every equation identically except ``E_t = curl B``, which needs ``z_t^2 = k . k``;
    the dual ``(E, B) -> (B, -E)`` gives three more. With ``a = e_1, e_2, e_3`` these six polynomial vectors span the
    solutions ``ker A(z)`` at every non-zero point of the cone (dimension 2 there; the paper's six operators, up to
    signs and ordering). Every ``D_op(z) exp(<x, z>)``, hence every prior sample and posterior mean of the GP built on
    them, solves Maxwell's equations exactly.
    """
    k, zt = z[:, :3], z[:, 3:4]
    cols = []
    for i in range(3):
        a = torch.zeros_like(k)
        a[:, i] = 1
        ka = torch.linalg.cross(k, a, dim=-1)
        kka = torch.linalg.cross(k, ka, dim=-1)
        cols.append(torch.cat([zt * ka, -kka], -1))  # electric type
        cols.append(torch.cat([-kka, -zt * ka], -1))  # its dual
    return torch.stack(cols, -1)


def maxwell_points(omega: Tensor) -> Tensor:
    """Light-cone points from real frequencies ``omega`` ``(r, 3)``: ``z = (i omega, +- i |omega|)``, ``(2r, 4)``
    (Fourier modes ``exp(i (omega . x +- |omega| t))``; rows ``[0, r)`` the ``+`` sheet)."""
    cdt = torch.complex128 if omega.dtype == torch.float64 else torch.complex64
    iw = 1j * omega.to(cdt)
    norm = torch.linalg.vector_norm(omega, dim=-1, keepdim=True).to(cdt)
    return torch.cat([torch.cat([iw, 1j * norm], -1), torch.cat([iw, -1j * norm], -1)], 0)


def maxwell_features(x: Tensor, z: Tensor) -> Tensor:
    """Real features of the Maxwell EPGP at points ``x`` ``(s, 4)`` (``x, y, z, t``): ``(s, 6, 2 * 6 * m)``, the real
    and imaginary parts of ``D_op(z_j) exp(<x, z_j>)`` (each a real solution, as ``A`` has real coefficients)."""
    phase = torch.exp(x.to(z.dtype) @ z.T)  # (s, m)
    d = maxwell_multipliers(z)  # (m, 6, 6)
    f = phase[:, None, :, None] * d.permute(1, 0, 2)[None]  # (s, field, m, op)
    f = f.reshape(x.shape[0], 6, -1)
    return torch.cat([f.real, f.imag], -1)


def maxwell_residual(fields: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Maxwell's equations at points ``x`` ``(s, 4)`` for ``fields(x) -> (s, 6)`` by autograd: ``(s, 8)``, the
    residuals ``div E, div B, E_t - curl B (3), B_t + curl E (3)``."""
    x = x.detach().clone().requires_grad_(True)
    u = fields(x)
    jac = torch.stack(
        [torch.autograd.grad(u[:, c].sum(), x, create_graph=False, retain_graph=True)[0] for c in range(6)], 1
    )  # (s, field, axis)
    e, b = jac[:, :3], jac[:, 3:]

    def curl(g: Tensor) -> Tensor:  # g[:, component, axis]
        return torch.stack([g[:, 2, 1] - g[:, 1, 2], g[:, 0, 2] - g[:, 2, 0], g[:, 1, 0] - g[:, 0, 1]], -1)

    div_e = e[:, 0, 0] + e[:, 1, 1] + e[:, 2, 2]
    div_b = b[:, 0, 0] + b[:, 1, 1] + b[:, 2, 2]
    return torch.cat([div_e[:, None], div_b[:, None], e[:, :, 3] - curl(b), b[:, :, 3] + curl(e)], -1)

"""Stationary 1-D spectral-mixture kernels with closed-form derivatives (GP-HM, Fang et al. ICLR 2024).

Conventions
-----------
A stationary kernel is a function of the signed lag ``tau = x - x'``. The one-sided derivative matrix used by
GP-HM is ``K^{(m)}[a, b] = d^m/dx^m k(x - x')`` at ``(x_a, x_b)``, i.e. ``k^{(m)}(x_a - x_b)``.

Kernels (``Q`` components, per-axis parameters ``log_w``, ``log_ls`` (log *inverse* length scale), ``freq``)::

    student_t  k(tau) = sum_q w_q  M52(|tau|; e^{l_q}) cos(2 pi mu_q tau)        (GP-HM-StM, Student-t mixture spectrum)
               M52(d; s) = (1 + sqrt5 d s + 5/3 d^2 s^2) exp(-sqrt5 d s)
    gaussian   k(tau) = sum_q w_q  exp(-tau^2 e^{l_q}) cos(2 pi mu_q tau)          (GP-HM-GM, spectral mixture kernel)

Derivatives are written in closed form in the signed lag. Autograd through ``|tau|`` is wrong at ``tau = 0`` in
PyTorch (``abs`` has zero subgradient there), which drops the ``-alpha^2/3`` term of the Matern second derivative
on the diagonal; the closed forms below are exact, including the diagonal. With ``alpha = sqrt5 e^{l}``,
``a = alpha |tau|``::

    M52'(tau)  = -(alpha^2/3) tau (1 + a) e^{-a}
    M52''(tau) = -(alpha^2/3) (1 + a - a^2) e^{-a}
    SE'(tau)   = -2 beta tau e^{-beta tau^2},   SE''(tau) = (4 beta^2 tau^2 - 2 beta) e^{-beta tau^2},  beta = e^{l}

and the product rule with ``cos(omega tau)``, ``omega = 2 pi mu``.

Higher orders (mixed and high-order PDE terms). The Matern-5/2 envelope is four times differentiable at ``tau = 0``
(its fifth derivative jumps there), so ``student_t`` gives orders up to ``MAX_ORDER["student_t"] = 4``::

    M52^{(3)}(tau) = (alpha^4/3) tau (3 - a) e^{-a}
    M52^{(4)}(tau) = (alpha^4/3) (3 - 5a + a^2) e^{-a}

The SE envelope is smooth: ``SE^{(n+1)} = -2 beta (tau SE^{(n)} + n SE^{(n-1)})`` (Hermite recursion), any order.
Orders above 2 use the Leibniz rule ``(g c)^{(n)} = sum_k C(n, k) g^{(k)} omega^{n-k} cos(omega tau + (n-k) pi/2)``;
orders up to 2 keep the expressions above (bit for bit).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

KernelKind = Literal["student_t", "gaussian"]

#: the highest one-sided derivative order each kernel kind gives (``None``: any order)
MAX_ORDER: dict[str, int | None] = {"student_t": 4, "gaussian": None}


def _envelope(tau: Tensor, log_ls: Tensor, kind: str, order: int) -> list[Tensor]:
    """Envelope ``g`` and its derivatives ``g', g''`` up to ``order``; ``tau`` is (..., 1), params (Q,)."""
    if kind == "student_t":
        alpha = math.sqrt(5.0) * torch.exp(log_ls)
        a = alpha * tau.abs()
        e = torch.exp(-a)
        out = [(1.0 + a + a * a / 3.0) * e]
        if order >= 1:
            out.append(-(alpha * alpha / 3.0) * tau * (1.0 + a) * e)
        if order >= 2:
            out.append(-(alpha * alpha / 3.0) * (1.0 + a - a * a) * e)
        if order >= 3:
            out.append((alpha**4 / 3.0) * tau * (3.0 - a) * e)
        if order >= 4:
            out.append((alpha**4 / 3.0) * (3.0 - 5.0 * a + a * a) * e)
        return out
    if kind == "gaussian":
        beta = torch.exp(log_ls)
        g = torch.exp(-beta * tau * tau)
        out = [g]
        if order >= 1:
            out.append(-2.0 * beta * tau * g)
        if order >= 2:
            out.append((4.0 * beta * beta * tau * tau - 2.0 * beta) * g)
        for n in range(2, order):  # Hermite recursion: g^{(n+1)} = -2 beta (tau g^{(n)} + n g^{(n-1)})
            out.append(-2.0 * beta * (tau * out[n] + n * out[n - 1]))
        return out
    raise ValueError(f"unknown kernel kind {kind!r}")


class SpectralMixture1d(nn.Module):
    """Per-axis spectral-mixture kernel ``k(tau) = sum_q w_q g_q(tau) cos(2 pi mu_q tau)`` with closed-form derivatives.

    Parameters are initialised as in the GP-HM code: ``log w = log(1/Q)``, ``log_ls = 0``,
    ``mu = linspace(0, 1, Q) * freq_scale``. Weights live in the log domain (a flat prior on ``log w`` is the
    Jeffreys prior ``p(w) ~ 1/w`` of the paper, which prunes superfluous components).
    """

    def __init__(
        self,
        n_components: int = 30,
        kind: KernelKind = "student_t",
        freq_scale: float = 20.0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if kind not in ("student_t", "gaussian"):
            raise ValueError(f"unknown kernel kind {kind!r}")
        q = n_components
        self.kind = kind
        self.log_w = nn.Parameter(torch.full((q,), math.log(1.0 / q), dtype=dtype))
        self.log_ls = nn.Parameter(torch.zeros(q, dtype=dtype))
        self.freq = nn.Parameter(torch.linspace(0.0, 1.0, q, dtype=dtype) * freq_scale)

    def derivatives(self, tau: Tensor, order: int = 2) -> list[Tensor]:
        """``[k(tau), k'(tau), ..., k^{(order)}(tau)]`` (derivatives in the first argument), shaped like ``tau``."""
        top = MAX_ORDER[self.kind]
        if order < 0 or (top is not None and order > top):
            raise ValueError(f"derivative order of the {self.kind} kernel must be in 0..{top}, got {order}")
        t = tau.unsqueeze(-1)
        g = _envelope(t, self.log_ls, self.kind, order)
        omega = 2.0 * math.pi * self.freq
        c = torch.cos(omega * t)
        s = torch.sin(omega * t) if order >= 1 else None
        w = torch.exp(self.log_w)
        out = [(w * g[0] * c).sum(-1)]
        if order >= 1:
            out.append((w * (g[1] * c - omega * g[0] * s)).sum(-1))
        if order >= 2:
            out.append((w * (g[2] * c - 2.0 * omega * g[1] * s - omega * omega * g[0] * c)).sum(-1))
        if order >= 3:
            assert s is not None
            trig = [c, -s, -c, s]  # d^j/dtau^j cos(omega tau) = omega^j trig[j % 4]
            for n in range(3, order + 1):
                terms = [math.comb(n, k) * g[k] * omega ** (n - k) * trig[(n - k) % 4] for k in range(n + 1)]
                out.append((w * torch.stack(terms).sum(0)).sum(-1))
        return out

    def forward(self, tau: Tensor) -> Tensor:
        return self.derivatives(tau, 0)[0]

    def matrix(self, x1: Tensor, x2: Tensor, order: int = 0) -> Tensor:
        """``K^{(order)}[a, b] = k^{(order)}(x1_a - x2_b)``, shape ``(len(x1), len(x2))``."""
        return self.derivatives(x1[:, None] - x2[None, :], order)[order]


class UniformGridKernel:
    """Kernel matrices on a uniform 1-D grid via the Toeplitz structure: ``k^{(m)}`` is evaluated on the
    ``2N - 1`` distinct lags only and gathered into ``N x N`` matrices (cheap forward and backward)."""

    def __init__(self, x: Tensor) -> None:
        n = x.numel()
        h = (x[-1] - x[0]) / (n - 1) if n > 1 else torch.zeros((), dtype=x.dtype)
        self.n = n
        # lags in decreasing order: row a of the matrix is the window lags[n-1-a : 2n-1-a]
        self.lags = torch.arange(n - 1, -n, -1, dtype=x.dtype, device=x.device) * h

    def matrices(self, kernel: SpectralMixture1d, order: int) -> list[Tensor]:
        vals = kernel.derivatives(self.lags, order)
        # M[a, b] = v(lag (a - b) h): sliding windows of the reversed lag vector (a view; its backward is a fold)
        return [v.unfold(0, self.n, 1).flip(0) for v in vals]

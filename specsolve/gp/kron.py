"""Kronecker-product algebra on tensor grids, using only the 1-D factors.

Convention: a field on an ``N_1 x ... x N_d`` grid is a tensor ``U`` of that shape and ``vec(U)`` is its row-major
flattening, so ``(A_1 kron ... kron A_d) vec(U) = vec(U x_1 A_1 ... x_d A_d)`` where ``x_j`` is the mode-j product
(apply ``A_j`` along axis ``j``). The full covariance ``K = K_1 kron ... kron K_d`` is never formed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def mode_product(mat: Tensor, u: Tensor, axis: int) -> Tensor:
    """Apply ``mat`` (``M x N_axis``) along ``axis`` of ``u``: result has ``M`` in place of ``N_axis``."""
    if u.dim() == 1:
        return mat @ u
    out = torch.tensordot(mat, u, dims=([1], [axis]))
    return torch.movedim(out, 0, axis)


def chol_solve_axis(chol: Tensor, u: Tensor, axis: int) -> Tensor:
    """Apply ``K^{-1}`` along ``axis`` of ``u``, with ``chol`` the lower Cholesky factor of ``K``."""
    moved = torch.movedim(u, axis, 0)
    shape = moved.shape
    sol = torch.cholesky_solve(moved.reshape(shape[0], -1), chol)
    return torch.movedim(sol.reshape(shape), 0, axis)


def kron_solve(chols: Sequence[Tensor], u: Tensor) -> Tensor:
    """``(K_1 kron ... kron K_d)^{-1} vec(U)`` as a grid tensor."""
    for axis, chol in enumerate(chols):
        u = chol_solve_axis(chol, u, axis)
    return u


def kron_mv(mats: Sequence[Tensor | None], u: Tensor) -> Tensor:
    """``(A_1 kron ... kron A_d) vec(U)`` as a grid tensor; ``None`` factors are the identity."""
    for axis, mat in enumerate(mats):
        if mat is not None:
            u = mode_product(mat, u, axis)
    return u


def kron_logdet(chols: Sequence[Tensor]) -> Tensor:
    """``logdet(K_1 kron ... kron K_d) = sum_j (N / N_j) logdet K_j`` from the Cholesky factors."""
    sizes = [c.shape[0] for c in chols]
    total = 1
    for n in sizes:
        total *= n
    out = chols[0].new_zeros(())
    for chol, n in zip(chols, sizes):
        out = out + (total // n) * 2.0 * torch.log(torch.diagonal(chol)).sum()
    return out


def kron_inv_quad(chols: Sequence[Tensor], u: Tensor) -> Tensor:
    """``vec(U)^T (K_1 kron ... kron K_d)^{-1} vec(U)``."""
    return (u * kron_solve(chols, u)).sum()


class _SPDSolveLogdet(torch.autograd.Function):
    """``(K^{-1} B, logdet K)`` for symmetric positive-definite ``K`` with a cheap hand-written backward.

    Forward: Cholesky ``K = L L^T`` and the explicit inverse (``cholesky_inverse``); ``alpha = K^{-1} B`` by a
    matrix product. Backward (``G`` = incoming gradient of ``alpha``, ``g`` = of the logdet)::

        dB = K^{-1} G,      dK = -(K^{-1} G) alpha^T + g K^{-1}

    i.e. only matrix products, instead of differentiating through the Cholesky factorisation (several triangular
    solves with ``N x N`` right-hand sides in PyTorch's generic backward).
    """

    @staticmethod
    def forward(ctx, k: Tensor, b: Tensor, chol: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        kinv = torch.cholesky_inverse(chol)
        alpha = kinv @ b
        logdet = 2.0 * torch.log(torch.diagonal(chol)).sum()
        ctx.save_for_backward(kinv, alpha)
        return alpha, logdet

    @staticmethod
    def backward(ctx, g_alpha: Tensor, g_logdet: Tensor):  # type: ignore[override]
        kinv, alpha = ctx.saved_tensors
        beta = kinv @ g_alpha
        g_k = -beta @ alpha.transpose(-1, -2) + g_logdet * kinv
        return g_k, beta, None


def spd_solve_logdet(k: Tensor, b: Tensor, chol: Tensor) -> tuple[Tensor, Tensor]:
    """``(K^{-1} B, logdet K)`` with gradients w.r.t. ``K`` and ``B``; ``chol``: the Cholesky factor of ``K``.

    ``B`` is a matrix ``(N, M)`` (use ``M = 1`` for a vector)."""
    return _SPDSolveLogdet.apply(k, b, chol.detach())


def spd_solve_axis(k: Tensor, u: Tensor, axis: int, chol: Tensor) -> tuple[Tensor, Tensor]:
    """Apply ``K^{-1}`` along ``axis`` of ``u`` (differentiable in ``K`` and ``u``); also returns ``logdet K``."""
    moved = torch.movedim(u, axis, 0)
    shape = moved.shape
    sol, logdet = spd_solve_logdet(k, moved.reshape(shape[0], -1), chol)
    return torch.movedim(sol.reshape(shape), 0, axis), logdet

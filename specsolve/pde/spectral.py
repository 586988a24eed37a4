"""Tensor-product spectral bases: Fourier on periodic axes, Chebyshev on the others (NSM's representation).

Values live on the grid of :meth:`Domain.grid` with ``spectral=True`` (``uniform_open`` on periodic axes, ascending
Chebyshev-Gauss-Lobatto points otherwise); the last ``domain.ndim`` dims of a tensor are the axes, leading dims are
batch/channels. Coefficients are complex:

- Fourier axis: ``c = fft(u, norm="forward")``, ``u(x) = sum_k c_k exp(2 pi i k x / L)`` (see
  :mod:`specsolve.pde.operators` for the convention);
- Chebyshev axis: ``u(x) = sum_m a_m T_m(xhat)``, ``xhat = 2 (x - a) / L - 1`` in ``[-1, 1]``; computed by a DCT-I
  (FFT of the even extension), exact for polynomials of degree ``< n``.

Derivatives are exact in coefficient space (Fourier ``(2 pi i k / L)^m``, Chebyshev differentiation matrix times
``2 / L``), products are pseudo-spectral on a padded grid (de-aliasing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from specsolve.pde.domain import Domain
from specsolve.pde.operators import LinearOperator, along, fourier_factor, wavenumbers
from specsolve.pde.spec import AuxField

# --------------------------------------------------------------------------------------------------- Chebyshev


def cheb_transform(u: Tensor, dim: int = -1) -> Tensor:
    """Values at ascending Lobatto points -> Chebyshev coefficients ``a_0..a_{n-1}`` along ``dim``."""
    n = u.shape[dim]
    if n < 2:
        raise ValueError("a Chebyshev axis needs at least 2 points")
    N = n - 1
    v = u.flip(dim)  # v_j = u(cos(pi j / N)), descending
    ext = torch.cat([v, v.narrow(dim, 1, N - 1).flip(dim)], dim=dim) if N > 1 else v
    W = torch.fft.fft(ext, dim=dim).narrow(dim, 0, n) / N
    if not u.is_complex():
        W = W.real
    scale = torch.ones(n, dtype=W.real.dtype, device=u.device)
    scale[0] = scale[-1] = 0.5
    return W * along(scale, dim, W.ndim)


def cheb_inverse(a: Tensor, dim: int = -1) -> Tensor:
    """Chebyshev coefficients -> values at ascending Lobatto points along ``dim``."""
    n = a.shape[dim]
    if n < 2:
        raise ValueError("a Chebyshev axis needs at least 2 points")
    N = n - 1
    scale = torch.full((n,), 0.5, dtype=a.real.dtype, device=a.device)
    scale[0] = scale[-1] = 1.0
    e = a * along(scale, dim, a.ndim)
    ext = torch.cat([e, e.narrow(dim, 1, N - 1).flip(dim)], dim=dim) if N > 1 else e
    v = (torch.fft.ifft(ext, dim=dim) * (2 * N)).narrow(dim, 0, n)
    if not a.is_complex():
        v = v.real
    return v.flip(dim)


@lru_cache(maxsize=64)
def _cheb_diff(n: int) -> Tensor:
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    p = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    D = torch.where((p > k) & ((p + k) % 2 == 1), 2.0 * p, torch.zeros(()))
    D[0] /= 2.0
    return D


def cheb_diff_matrix(n: int, length: float = 2.0) -> Tensor:
    """``(n, n)`` float64 matrix mapping Chebyshev coefficients of ``u`` to those of ``du/dx`` on an interval of
    length ``length`` (the ``2 / L`` of the map to ``[-1, 1]`` included; NSM's "factor 2" for ``L = 1``)."""
    return _cheb_diff(n) * (2.0 / length)


@lru_cache(maxsize=64)
def cheb_gram(n: int) -> Tensor:
    """``G_mn = int_{-1}^{1} T_m T_n dx``: the unweighted L2 Gram matrix of Chebyshev polynomials (float64)."""

    def integral(k: Tensor) -> Tensor:
        return torch.where(k % 2 == 0, 2.0 / (1.0 - k**2), torch.zeros((), dtype=torch.float64))

    m = torch.arange(n, dtype=torch.float64)
    return 0.5 * (integral(m[:, None] + m[None, :]) + integral((m[:, None] - m[None, :]).abs()))


# --------------------------------------------------------------------------------------------------- Fourier


@lru_cache(maxsize=128)
def fourier_resample_matrix(n: int, m: int) -> Tensor:
    """``(m, n)`` real matrix re-sizing FFT-ordered Fourier coefficients from ``n`` to ``m`` modes.

    Padding splits an even ``n``'s Nyquist coefficient equally between ``+-n/2`` (the real interpolant is kept);
    truncation to an even ``m`` stores ``c_{m/2} + c_{-m/2}`` at the new Nyquist (consistent with sampling).
    """

    def source(k: int) -> list[tuple[int, float]]:
        if abs(k) <= (n - 1) // 2:
            return [(k % n, 1.0)]
        if n % 2 == 0 and abs(k) == n // 2:
            return [(n // 2, 0.5)]
        return []

    R = torch.zeros(m, n, dtype=torch.float64)
    for j in range(m):
        k = j if j <= (m - 1) // 2 else j - m
        ks = [k] if not (m % 2 == 0 and k == -(m // 2)) else [m // 2, -(m // 2)]
        for kk in ks:
            for i, w in source(kk):
                R[j, i] += w
    return R


# --------------------------------------------------------------------------------------------------- helpers


def apply_matrix(x: Tensor, M: Tensor, dim: int) -> Tensor:
    """``y = M x`` along ``dim`` (real ``M`` of shape ``(m, n)``, ``x.shape[dim] == n``)."""
    M = M.to(device=x.device, dtype=x.dtype)  # real float64 matrices, cast to the data dtype
    return torch.movedim(torch.movedim(x, dim, -1) @ M.T, -1, dim)


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype in (torch.float64, torch.complex128) else torch.complex64


# --------------------------------------------------------------------------------------------------- basis


class TensorBasis:
    """Fourier x Chebyshev tensor basis for ``domain`` at grid ``shape`` (one size per axis).

    Works on the last ``domain.ndim`` dims of tensors; ``kind[i]`` is ``"fourier"`` on periodic axes, else
    ``"chebyshev"``.
    """

    def __init__(self, domain: Domain, shape: Sequence[int]) -> None:
        if len(shape) != domain.ndim:
            raise ValueError(f"need {domain.ndim} grid sizes, got {tuple(shape)}")
        self.domain = domain
        self.shape = tuple(int(s) for s in shape)
        self.kind = tuple("fourier" if a.periodic else "chebyshev" for a in domain.axes)

    @property
    def ndim(self) -> int:
        return self.domain.ndim

    def _dim(self, i: int) -> int:
        return i - self.ndim

    def grid(self, dtype: torch.dtype | None = None) -> tuple[Tensor, ...]:
        return self.domain.grid(self.shape, dtype=dtype, spectral=True)

    def mesh(self, dtype: torch.dtype | None = None) -> tuple[Tensor, ...]:
        return self.domain.mesh(self.shape, dtype=dtype, spectral=True)

    def padded(self, factor: float) -> TensorBasis:
        """Finer basis for de-aliased products: ``ceil(f n)`` Fourier modes, ``ceil(f (n - 1)) + 1`` Chebyshev."""
        shape = [
            math.ceil(factor * n) if k == "fourier" else math.ceil(factor * (n - 1)) + 1
            for n, k in zip(self.shape, self.kind)
        ]
        return TensorBasis(self.domain, shape)

    # -- transforms -------------------------------------------------------------------------------
    def transform(self, u: Tensor) -> Tensor:
        """Grid values ``(..., *shape)`` -> complex coefficients ``(..., *shape)``."""
        self._check(u)
        c = u
        for i, k in enumerate(self.kind):
            if k == "chebyshev":
                c = cheb_transform(c, self._dim(i))
        c = c.to(complex_dtype(u.dtype))
        fdims = [self._dim(i) for i, k in enumerate(self.kind) if k == "fourier"]
        return torch.fft.fftn(c, dim=fdims, norm="forward") if fdims else c

    def inverse(self, c: Tensor, real: bool = True) -> Tensor:
        """Complex coefficients -> grid values (real part unless ``real=False``)."""
        self._check(c)
        fdims = [self._dim(i) for i, k in enumerate(self.kind) if k == "fourier"]
        u = torch.fft.ifftn(c, dim=fdims, norm="forward") if fdims else c
        for i, k in enumerate(self.kind):
            if k == "chebyshev":
                u = cheb_inverse(u, self._dim(i))
        return u.real if real else u

    def resize(self, c: Tensor, shape: Sequence[int]) -> Tensor:
        """Zero-pad or truncate coefficients to another grid ``shape`` (same domain)."""
        self._check(c)
        for i, (k, n, m) in enumerate(zip(self.kind, self.shape, shape)):
            if n == m:
                continue
            d = self._dim(i)
            if k == "fourier":
                c = apply_matrix(c, fourier_resample_matrix(n, m), d)
            elif m > n:
                pad = torch.zeros(
                    *c.shape[: d % c.ndim], m - n, *c.shape[d % c.ndim + 1 :], dtype=c.dtype, device=c.device
                )
                c = torch.cat([c, pad], dim=d)
            else:
                c = c.narrow(d, 0, m)
        return c

    # -- calculus ---------------------------------------------------------------------------------
    def diff(self, c: Tensor, alpha: Sequence[int]) -> Tensor:
        """Coefficients of ``d^alpha u`` from those of ``u`` (exact)."""
        self._check(c)
        for i, (k, n, m) in enumerate(zip(self.kind, self.shape, alpha)):
            if not m:
                continue
            L = self.domain.axes[i].length
            d = self._dim(i)
            if k == "fourier":
                kk = wavenumbers(n, device=c.device)
                c = c * along(fourier_factor(kk, L, m, n).to(c.dtype), d, c.ndim)
            else:
                D = torch.linalg.matrix_power(cheb_diff_matrix(n, L), m)
                c = apply_matrix(c, D, d)
        return c

    def wavenumber_grids(self, device: torch.device | None = None) -> list[Tensor]:
        """Integer wavenumbers per axis, shaped to broadcast over ``shape`` (zeros on Chebyshev axes)."""
        return [
            along(wavenumbers(n, device=device), i, self.ndim)
            if k == "fourier"
            else torch.zeros(1, dtype=torch.float64, device=device)
            for i, (k, n) in enumerate(zip(self.kind, self.shape))
        ]

    def _check_fourier(self, axes: Sequence[int], what: str) -> None:
        bad = [self.domain.names[i] for i in axes if self.kind[i] != "fourier"]
        if bad:
            raise ValueError(f"{what} needs periodic axes; it differentiates along {bad}")

    def symbol(self, op: LinearOperator, device: torch.device | None = None) -> Tensor:
        """Fourier symbol of ``op`` on this grid (broadcastable to ``shape``); ``op`` may act on Fourier axes only."""
        self._check_fourier(op.acts_on(), "a Fourier symbol")
        return op.fourier_symbol(self.wavenumber_grids(device), self.domain.lengths, self.shape)

    def aux_multiplier(self, aux: AuxField, device: torch.device | None = None) -> Tensor:
        """``rhs(k) / lhs(k)`` of an auxiliary field (zero where ``lhs(k) = 0``), broadcastable to ``shape``."""
        self._check_fourier(sorted(set(aux.lhs.acts_on()) | set(aux.rhs.acts_on())), f"auxiliary field '{aux.name}'")
        return aux.multiplier(self.wavenumber_grids(device), self.domain.lengths, self.shape)

    def apply(self, c: Tensor, op: LinearOperator) -> Tensor:
        """Coefficients of ``op u`` (general: Fourier symbols and Chebyshev matrices)."""
        out = torch.zeros_like(c)
        for alpha, coef in op.terms.items():
            out = out + complex(coef) * self.diff(c, alpha)
        return out

    def product(self, fn, coeffs: Sequence[Tensor], factor: float = 2.0) -> Tensor:
        """Coefficients of the pointwise ``fn(*values)``, evaluated on a grid padded by ``factor`` (de-aliasing),
        then truncated back to this basis."""
        fine = self.padded(factor)
        values = [fine.inverse(self.resize(c, fine.shape)) for c in coeffs]
        return fine.resize(fine.transform(fn(*values)), self.shape)

    # -- norms ------------------------------------------------------------------------------------
    def squared_norm(self, c: Tensor, norm: str = "l2") -> Tensor:
        """Squared norm over the last ``ndim`` dims (leading dims kept).

        ``norm="sum"``: ``sum |c|^2`` (NSM's loss: a coefficient l2 norm). ``norm="l2"``: the exact L2 norm of the
        spectral interpolant over the domain: Parseval ``L sum |c_k|^2`` on Fourier axes and the Chebyshev Gram
        matrix ``(L/2) a^H G a`` on Chebyshev axes.
        """
        self._check(c)
        dims = list(range(-self.ndim, 0))
        if norm == "sum":
            return (c.real**2 + c.imag**2).sum(dims)
        if norm != "l2":
            raise ValueError(f"unknown norm '{norm}'")
        Gc = c
        scale = 1.0
        for i, (k, n) in enumerate(zip(self.kind, self.shape)):
            L = self.domain.axes[i].length
            if k == "fourier":
                scale *= L
            else:
                scale *= L / 2.0
                Gc = apply_matrix(Gc, cheb_gram(n), self._dim(i))
        return scale * (c.conj() * Gc).real.sum(dims)

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape[-self.ndim :]) != self.shape:
            raise ValueError(f"expected trailing shape {self.shape}, got {tuple(x.shape)}")

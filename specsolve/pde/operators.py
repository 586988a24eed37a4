"""Linear constant-coefficient operators ``L = sum_alpha c_alpha d^alpha`` and the Fourier convention.

**The one place that fixes the Fourier convention.** On an axis of length ``L`` sampled at ``n`` points (right end
excluded), ``c_k = fft(u, norm="forward")`` are the coefficients of ``u(x) = sum_k c_k exp(2 pi i k x / L)`` with integer
``k = fftfreq(n) * n``; a derivative acts as ``d/dx -> 2 pi i k / L`` (:func:`fourier_factor`). The EPGP convention
``d/dx -> z`` (solutions ``exp(<x, z>)``) is :meth:`LinearOperator.polynomial`; the two agree at ``z = 2 pi i k / L``.
Odd derivatives of the unpaired Nyquist mode (``k = -n/2`` for even ``n``) are set to zero so that derivatives of real
fields stay real.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

MultiIndex = tuple[int, ...]


def wavenumbers(
    n: int, device: torch.device | None = None, dtype: torch.dtype = torch.float64, half: bool = False
) -> Tensor:
    """Integer wavenumbers ``k`` of a length-``n`` FFT in FFT order: ``0, 1, ..., -1`` (``-n/2`` is the Nyquist);
    ``half=True``: those of ``rfft``, ``0 .. n // 2``. The one wavenumber routine of specsolve (numpy callers take
    ``.numpy()``); it is ``fftfreq(n, d=1/n)``, whose values are integers up to rounding of ``1 / (n * (1/n))``."""
    freq = torch.fft.rfftfreq if half else torch.fft.fftfreq
    return freq(n, d=1.0 / n, device=device, dtype=dtype)


def along(v: Tensor, dim: int, ndim: int) -> Tensor:
    """Reshape a 1-D tensor to broadcast along ``dim`` of an ``ndim``-dimensional tensor."""
    dim = dim % ndim
    return v.reshape([-1 if i == dim else 1 for i in range(ndim)])


def fourier_factor(k: Tensor, length: float, order: int, n: int | None = None) -> Tensor:
    """``(2 pi i k / L)^order`` (complex128) for integer wavenumbers ``k``; with ``n`` given (even), odd orders vanish
    at the Nyquist ``k = -n/2``."""
    real = torch.as_tensor(k).to(torch.float64)
    factor = (1j * (2.0 * math.pi / length) * real) ** order if order else torch.ones_like(real) + 0j
    if n is not None and order % 2 == 1 and n % 2 == 0:
        factor = torch.where(real == -(n // 2), torch.zeros_like(factor), factor)
    return factor


@dataclass(frozen=True)
class LinearOperator:
    """``L = sum_alpha c_alpha d^alpha``: ``terms`` maps derivative multi-indices (orders per axis) to coefficients.

    >>> lap = LinearOperator({(2, 0): 1.0, (0, 2): 1.0})   # u_xx + u_yy on axes (x, y)
    """

    terms: Mapping[MultiIndex, complex] = field(default_factory=dict)
    ndim: int | None = None

    def __post_init__(self) -> None:
        terms = {tuple(int(a) for a in alpha): c for alpha, c in dict(self.terms).items() if c != 0}
        dims = {len(a) for a in terms}
        if len(dims) > 1:
            raise ValueError(f"all multi-indices must have the same length, got {sorted(terms)}")
        ndim = dims.pop() if dims else self.ndim
        if self.ndim is not None and ndim != self.ndim:
            raise ValueError(f"multi-indices have length {ndim}, expected {self.ndim}")
        if any(a < 0 for alpha in terms for a in alpha):
            raise ValueError("derivative orders must be non-negative")
        object.__setattr__(self, "terms", terms)
        object.__setattr__(self, "ndim", ndim)

    # -- algebra ----------------------------------------------------------------------------------
    def __add__(self, other: LinearOperator) -> LinearOperator:
        terms = dict(self.terms)
        for alpha, c in other.terms.items():
            terms[alpha] = terms.get(alpha, 0) + c
        return LinearOperator(terms, self.ndim if self.ndim is not None else other.ndim)

    def __mul__(self, scalar: complex) -> LinearOperator:
        return LinearOperator({a: scalar * c for a, c in self.terms.items()}, self.ndim)

    __rmul__ = __mul__

    def __neg__(self) -> LinearOperator:
        return self * -1.0

    def __sub__(self, other: LinearOperator) -> LinearOperator:
        return self + (-other)

    @property
    def order(self) -> int:
        return max((sum(a) for a in self.terms), default=0)

    def required_derivatives(self) -> tuple[MultiIndex, ...]:
        return tuple(sorted(self.terms))

    def acts_on(self) -> tuple[int, ...]:
        """Axes along which the operator differentiates."""
        return tuple(i for i in range(self.ndim or 0) if any(alpha[i] for alpha in self.terms))

    # -- symbols ----------------------------------------------------------------------------------
    def polynomial(self, z: Sequence[Tensor | complex]) -> Tensor:
        """``A(z) = sum_alpha c_alpha prod_j z_j^alpha_j`` (``d -> z``, EPGP convention); broadcasts over ``z``."""
        self._check_len(z)
        z = [torch.as_tensor(zj) for zj in z]
        device = z[0].device if z else None
        out = torch.zeros(torch.broadcast_shapes(*[zj.shape for zj in z]), dtype=torch.complex128, device=device)
        for alpha, c in self.terms.items():
            term = torch.full_like(out, complex(c))
            for zj, a in zip(z, alpha):
                if a:
                    term = term * zj.to(torch.complex128) ** a
            out = out + term
        return out

    def fourier_symbol(
        self, k: Sequence[Tensor], lengths: Sequence[float], n: Sequence[int | None] | None = None
    ) -> Tensor:
        """``A(2 pi i k / L)`` for integer wavenumbers ``k`` (one broadcastable tensor per axis).

        With grid sizes ``n``, odd derivatives of the Nyquist modes vanish (:func:`fourier_factor`).
        """
        self._check_len(k)
        ns = list(n) if n is not None else [None] * len(k)
        k = [torch.as_tensor(kj) for kj in k]
        device = k[0].device if k else None
        shape = torch.broadcast_shapes(*[kj.shape for kj in k])
        out = torch.zeros(shape, dtype=torch.complex128, device=device)
        for alpha, c in self.terms.items():
            term = torch.full(shape, complex(c), dtype=torch.complex128, device=device)
            for kj, L, nj, a in zip(k, lengths, ns, alpha):
                if a:
                    term = term * fourier_factor(kj, L, a, nj)
            out = out + term
        return out

    def _check_len(self, z: Sequence[object]) -> None:
        if self.ndim is not None and len(z) != self.ndim:
            raise ValueError(f"operator acts on {self.ndim} axes, got {len(z)} variables")


def derivative(ndim: int, axis: int, order: int = 1, coefficient: complex = 1.0) -> LinearOperator:
    """``coefficient * d^order / d x_axis^order`` on ``ndim`` axes."""
    alpha = [0] * ndim
    alpha[axis] = order
    return LinearOperator({tuple(alpha): coefficient}, ndim)


def laplacian(ndim: int, axes: Sequence[int] | None = None, coefficient: complex = 1.0) -> LinearOperator:
    """``coefficient * sum_{i in axes} d^2/dx_i^2`` (all axes by default)."""
    axes = range(ndim) if axes is None else axes
    op = LinearOperator({}, ndim)
    for i in axes:
        op = op + derivative(ndim, i, 2, coefficient)
    return op


def identity(ndim: int, coefficient: complex = 1.0) -> LinearOperator:
    return LinearOperator({(0,) * ndim: coefficient}, ndim)

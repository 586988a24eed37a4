"""Fourier x Chebyshev tensor bases for coefficient-space networks (Neural Spectral Methods, Du et al. 2024).

:class:`SpectralBasis` extends :class:`specsolve.pde.TensorBasis` (the same coefficient convention as the
``nsm_residual`` loss) with what a model needs: evaluation of coefficients at any points or grid resolution, the
coefficient index of the constant function, and smooth coordinate features on the basis' own collocation grid.

Per axis, with ``xhat = (x - a) / L`` in ``[0, 1]``:

- Fourier (periodic axes, grid ``xhat_j = j / n``): ``u(x) = sum_k c_k exp(2 pi i k xhat)`` with ``c = fft(u,
  norm="forward")``; for even ``n`` the unpaired Nyquist coefficient ``c_{-n/2}`` multiplies ``cos(pi n xhat)``
  (the real interpolant);
- Chebyshev (other axes, ascending Lobatto grid ``xhat_j = (1 - cos(pi j / (n - 1))) / 2``):
  ``u(x) = sum_m a_m T_m(2 xhat - 1)``.

Evaluation at ``M`` points is one ``(M, n)`` matrix per axis, so evaluating at any resolution costs a tensor
contraction, independent of how the coefficients were produced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from specsolve.pde import Domain, TensorBasis, wavenumbers
from specsolve.pde.spectral import complex_dtype

__all__ = ["SpectralBasis", "evaluation_matrix"]


def evaluation_matrix(kind: str, n: int, points: Tensor, bounds: tuple[float, float]) -> Tensor:
    """``(M, n)`` complex128 matrix ``E`` with ``u(points) = E @ c`` for the ``n`` coefficients ``c`` of one axis."""
    a, b = bounds
    xhat = (points.to(torch.float64) - a) / (b - a)
    if kind == "chebyshev":
        theta = torch.arccos((2.0 * xhat - 1.0).clamp(-1.0, 1.0))
        return torch.cos(theta[:, None] * torch.arange(n, dtype=torch.float64, device=points.device)).to(
            torch.complex128
        )
    if kind != "fourier":
        raise ValueError(f"unknown basis kind '{kind}'")
    k = wavenumbers(n, device=points.device)
    E = torch.exp(2j * math.pi * xhat[:, None] * k[None, :])
    if n % 2 == 0:  # the Nyquist coefficient belongs to the real cosine
        E[:, n // 2] = torch.cos(math.pi * n * xhat).to(torch.complex128)
    return E


class SpectralBasis(TensorBasis):
    """Fourier (periodic axes) x Chebyshev (other axes) basis of ``domain`` with ``shape`` coefficients per axis;
    acts on the last ``domain.ndim`` dims of tensors (leading dims: batch, channels)."""

    def evaluate_at(self, c: Tensor, points: Sequence[Tensor]) -> Tensor:
        """Values of the series ``c: (..., *shape)`` on the tensor grid ``points[0] x points[1] x ...``
        (physical coordinates, one 1-D tensor per axis): ``(..., M_0, M_1, ...)``, real."""
        self._check(c)
        if len(points) != self.ndim:
            raise ValueError(f"need {self.ndim} point sets, got {len(points)}")
        out = c.to(complex_dtype(c.real.dtype))
        for i, (kind, n, p) in enumerate(zip(self.kind, self.shape, points)):
            E = evaluation_matrix(kind, n, torch.as_tensor(p, device=c.device), self.domain.axes[i].bounds)
            d = self._dim(i)
            out = torch.movedim(torch.movedim(out, d, -1) @ E.T.to(out.dtype), -1, d)
        return out.real

    def evaluate(self, c: Tensor, shape: Sequence[int]) -> Tensor:
        """Values on the collocation grid of another resolution ``shape`` (uniform open / Lobatto per axis)."""
        return self.evaluate_at(c, self.domain.grid(list(shape), dtype=torch.float64, spectral=True))

    def constant_index(self) -> tuple[int, ...]:
        """Index of the constant function's coefficient (``1`` there, ``0`` elsewhere) in both conventions."""
        return (0,) * self.ndim

    def coordinate_features(self, dtype: torch.dtype | None = None) -> Tensor:
        """Smooth coordinates on the collocation grid, ``(F, *shape)``: ``sin, cos(2 pi xhat)`` on periodic axes
        (exact in the Fourier basis for ``n >= 3``), ``2 xhat - 1`` (``T_1``) on the others."""
        mesh = self.mesh(torch.float64)
        feats = []
        for axis, x in zip(self.domain.axes, mesh):
            xhat = (x - axis.bounds[0]) / axis.length
            if axis.periodic:
                feats += [torch.sin(2 * math.pi * xhat), torch.cos(2 * math.pi * xhat)]
            else:
                feats.append(2.0 * xhat - 1.0)
        return torch.stack(feats).to(dtype or torch.get_default_dtype())

    def sub(self, axes: Sequence[int]) -> SpectralBasis:
        """The basis of the sub-domain spanned by ``axes`` (e.g. the spatial axes of a space-time basis)."""
        return SpectralBasis(Domain(tuple(self.domain.axes[i] for i in axes)), [self.shape[i] for i in axes])

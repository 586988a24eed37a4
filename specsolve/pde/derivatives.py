"""Derivatives of grid fields (finite differences, Fourier, Chebyshev); callables: :mod:`specsolve.pde.autograd`.

Grid fields have the domain axes as their last ``domain.ndim`` dims. Per axis, ``method="spectral"`` uses the
Fourier series on periodic ``uniform_open`` axes and the Chebyshev series on ``cheb_lobatto`` axes; everything else
(and ``method="fd"``) uses second-order finite differences: central with wrap-around on periodic axes, central inside
and second-order one-sided at the ends otherwise (``torch.gradient`` with coordinates on non-uniform grids).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from specsolve.pde.domain import Domain
from specsolve.pde.keys import Derivatives, as_key
from specsolve.pde.operators import along, fourier_factor, wavenumbers
from specsolve.pde.spec import PDESpec
from specsolve.pde.spectral import apply_matrix, cheb_diff_matrix, cheb_inverse, cheb_transform

Method = Literal["fd", "spectral"]


def fd_derivative(u: Tensor, dim: int, order: int, spacing: float | Tensor, periodic: bool = False) -> Tensor:
    """``d^order u / dx^order`` along ``dim`` by second-order finite differences.

    ``spacing``: the step ``h`` of a uniform grid (``L/n`` periodic, ``L/(n-1)`` closed) or a 1-D coordinate
    tensor (non-uniform, non-periodic grids).
    """
    if order == 0:
        return u
    if isinstance(spacing, Tensor) and spacing.ndim == 1:
        if periodic:
            raise ValueError("periodic finite differences need a uniform step")
        for _ in range(order):
            u = torch.gradient(u, spacing=(spacing.to(u),), dim=dim, edge_order=2)[0]
        return u
    h = float(spacing)
    while order >= 2:
        u = _second(u, dim, h, periodic)
        order -= 2
    if order == 1:
        if periodic:
            u = (u.roll(-1, dim) - u.roll(1, dim)) / (2 * h)
        else:
            u = torch.gradient(u, spacing=h, dim=dim, edge_order=2)[0]
    return u


def _second(u: Tensor, dim: int, h: float, periodic: bool) -> Tensor:
    if periodic:
        return (u.roll(-1, dim) - 2 * u + u.roll(1, dim)) / h**2
    n = u.shape[dim]
    if n < 4:
        raise ValueError("one-sided second differences need at least 4 points")
    s = lambda a, b: u.narrow(dim, a, b - a)  # noqa: E731
    inner = (s(2, n) - 2 * s(1, n - 1) + s(0, n - 2)) / h**2
    left = (2 * s(0, 1) - 5 * s(1, 2) + 4 * s(2, 3) - s(3, 4)) / h**2
    right = (2 * s(n - 1, n) - 5 * s(n - 2, n - 1) + 4 * s(n - 3, n - 2) - s(n - 4, n - 3)) / h**2
    return torch.cat([left, inner, right], dim=dim)


def fourier_derivative(u: Tensor, dim: int, order: int, length: float) -> Tensor:
    """Spectral derivative of a real periodic field sampled at ``x_j = a + j L / n`` along ``dim``."""
    if order == 0:
        return u
    n = u.shape[dim]
    c = torch.fft.fft(u, dim=dim)
    factor = fourier_factor(wavenumbers(n, device=u.device), length, order, n).to(c.dtype)
    return torch.fft.ifft(c * along(factor, dim, c.ndim), dim=dim).real


def chebyshev_derivative(u: Tensor, dim: int, order: int, length: float) -> Tensor:
    """Spectral derivative of values at ascending Chebyshev-Lobatto points along ``dim``."""
    if order == 0:
        return u
    D = torch.linalg.matrix_power(cheb_diff_matrix(u.shape[dim], length), order)
    return cheb_inverse(apply_matrix(cheb_transform(u, dim), D, dim), dim)


def grid_derivative(
    u: Tensor,
    domain: Domain,
    alpha: Sequence[int],
    kinds: Sequence[str],
    method: Method = "fd",
) -> Tensor:
    """``d^alpha u`` of a grid field whose last ``domain.ndim`` dims are the axes, on grids of ``kinds``."""
    nd = domain.ndim
    for i, m in enumerate(alpha):
        if not m:
            continue
        axis, kind, dim, n = domain.axes[i], kinds[i], i - nd, u.shape[i - nd]
        if method == "spectral" and axis.periodic and kind == "uniform_open":
            u = fourier_derivative(u, dim, m, axis.length)
        elif method == "spectral" and kind == "cheb_lobatto":
            u = chebyshev_derivative(u, dim, m, axis.length)
        elif kind == "cheb_lobatto":
            u = fd_derivative(u, dim, m, axis.points(n, kind, torch.float64).to(u.device), periodic=False)
        elif axis.periodic:
            if kind != "uniform_open":
                raise ValueError(f"periodic axis '{axis.name}' needs a uniform_open grid, got '{kind}'")
            u = fd_derivative(u, dim, m, axis.length / n, periodic=True)
        else:
            if kind != "uniform_closed":
                raise ValueError(f"non-periodic axis '{axis.name}' needs a uniform_closed or cheb_lobatto grid")
            u = fd_derivative(u, dim, m, axis.length / (n - 1), periodic=False)
    return u


def aux_values(spec: PDESpec, name: str, u: Tensor, kinds: Sequence[str]) -> Tensor:
    """Grid values of auxiliary field ``name`` from ``u`` (FFT over the periodic axes it involves)."""
    aux = next(a for a in spec.aux if a.name == name)
    axes = sorted(set(aux.lhs.acts_on()) | set(aux.rhs.acts_on()))
    dom, nd = spec.domain, spec.domain.ndim
    if any(not dom.axes[i].periodic or kinds[i] != "uniform_open" for i in axes):
        raise ValueError(f"auxiliary field '{name}' needs periodic uniform_open axes")
    dims = [i - nd for i in axes]
    shape = u.shape[-nd:]
    ks = [
        along(wavenumbers(shape[i], device=u.device), i, nd) if i in axes else torch.zeros(1, device=u.device)
        for i in range(nd)
    ]
    mult = aux.multiplier(ks, dom.lengths, list(shape))
    c = torch.fft.fftn(u, dim=dims)
    return torch.fft.ifftn(c * mult.to(device=u.device, dtype=c.dtype), dim=dims).real


def grid_derivatives(
    spec: PDESpec,
    u: Tensor,
    keys: Iterable[Any] | None = None,
    kinds: Sequence[str] | None = None,
    method: Method = "fd",
    inputs: Tensor | None = None,
) -> Derivatives:
    """Every derivative the residual needs (or ``keys``), for fields ``"u"``, the input field and aux fields."""
    kinds = spec.domain.kinds(kinds)
    keys = spec.required_derivatives() if keys is None else [as_key(k) for k in keys]
    base: dict[str, Tensor] = {"u": u}
    if inputs is not None:
        base[spec.input_name] = inputs
    out = Derivatives()
    for f, alpha in keys:
        if f not in base:
            if any(a.name == f for a in spec.aux):
                base[f] = aux_values(spec, f, u, kinds)
            else:
                raise ValueError(f"field '{f}' is not available (pass the inputs?)")
        out[f, alpha] = grid_derivative(base[f], spec.domain, alpha, kinds, method)
    return out

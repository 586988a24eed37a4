"""The pseudo-spectral 2-D Navier-Stokes vorticity operator, shared by the data generator
(:mod:`specsolve.data.generators.navier_stokes`) and the spectral-refinement residual
(:mod:`specsolve.training.spectral_refinement`); the same PDE as a :class:`~specsolve.pde.spec.PDESpec` is
``get_pde("navier_stokes")``.

``w_t + u . grad w = nu lap w + f``, ``u = (psi_y, -psi_x)``, ``-lap psi = w`` on the periodic ``[0, L)^2``, grid
``x_j = j L / n``, fields ``(..., n, n)`` with axis -2 = x and axis -1 = y. In the spectral state ``w_hat = rfft2(w)``
(wavenumbers :func:`~specsolve.pde.operators.wavenumbers`, ``d/dx -> 2 pi i k / L``):

- ``lam = (2 pi / L)^2 |k|^2`` is the symbol of ``-lap``, ``psi_hat = w_hat / lam`` (mean mode 0);
- ``(u, v, w_x, w_y)`` come from ``w_hat`` times the :attr:`VorticitySymbols.multipliers`
  ``(i k_y / lam, -i k_x / lam, i k_x, i k_y)`` (scaled by ``2 pi / L``);
- the advection ``u w_x + v w_y`` is formed on the grid and transformed back under the 2/3 mask
  ``|k_x|, |k_y| <= (2/3)(n // 2)`` (FNO's ``ns_2d.py``);
- the FNO forcing is ``0.1 (sin 2 pi (x + y) / L + cos 2 pi (x + y) / L)`` (:func:`fno_forcing`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from specsolve.pde.operators import wavenumbers


def fno_forcing(x: Any, y: Any, length: float = 1.0, amplitude: float = 0.1) -> Any:
    """``amplitude (sin s + cos s)``, ``s = 2 pi (x + y) / L``, of numpy arrays or torch tensors (same type back)."""
    s = (2 * math.pi / length) * (x + y)
    if isinstance(s, Tensor):
        return amplitude * (torch.sin(s) + torch.cos(s))
    return amplitude * (np.sin(s) + np.cos(s))


@dataclass(frozen=True)
class VorticitySymbols:
    """Fourier symbols on the ``rfft2`` half-plane ``(n, n // 2 + 1)``: wavenumbers ``kx``, ``ky``, ``lam`` (of
    ``-lap``), its safe inverse ``inv_lap`` (0 at the mean mode), ``ikx``, ``iky`` (``2 pi i k / L``) and the
    dealiasing ``mask`` (ones without dealiasing)."""

    kx: Tensor
    ky: Tensor
    lam: Tensor
    inv_lap: Tensor
    ikx: Tensor
    iky: Tensor
    mask: Tensor


def vorticity_symbols(
    n: int,
    length: float = 1.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    dealias: bool = True,
) -> VorticitySymbols:
    """The symbols of an ``n x n`` grid of the periodic ``[0, L)^2``, computed in the real ``dtype`` (complex ones in
    its complex counterpart); the 2/3 mask is decided on float64 wavenumbers, so it is the same in every dtype."""
    shape = (n, n // 2 + 1)
    kx = wavenumbers(n, device=device, dtype=dtype)[:, None].expand(shape)
    ky = wavenumbers(n, device=device, dtype=dtype, half=True)[None, :].expand(shape)
    scale = 2 * math.pi / length
    lam = scale**2 * (kx**2 + ky**2)
    inv_lap = torch.where(lam > 0, 1.0 / torch.where(lam > 0, lam, 1.0), 0.0)
    if dealias:
        cut = 2.0 / 3.0 * (n // 2)
        k64 = wavenumbers(n, device=device).abs()
        mask = ((k64[:, None] <= cut) & (wavenumbers(n, device=device, half=True)[None, :].abs() <= cut)).to(dtype)
    else:
        mask = torch.ones_like(lam)
    return VorticitySymbols(kx, ky, lam, inv_lap, 1j * scale * kx, 1j * scale * ky, mask)


def velocity_multipliers(ikx: Tensor, iky: Tensor, inv_lap: Tensor) -> Tensor:
    """``(4, ...)`` multipliers taking ``w_hat`` to ``(u, v, w_x, w_y)``: ``u = psi_y``, ``v = -psi_x``,
    ``psi_hat = w_hat / lam``."""
    return torch.stack((iky * inv_lap, -ikx * inv_lap, ikx, iky))


def advection_hat(w_hat: Tensor, multipliers: Tensor, mask: Tensor) -> Tensor:
    """``mask * rfft2(u w_x + v w_y)`` for spectral vorticity ``w_hat: (..., n, n // 2 + 1)``."""
    n = w_hat.shape[-2]
    u, v, w_x, w_y = torch.fft.irfft2(w_hat.unsqueeze(-3) * multipliers, s=(n, n)).unbind(-3)
    return mask * torch.fft.rfft2(u * w_x + v * w_y)

"""The Navier-Stokes vorticity residual of a predicted trajectory and its ``L^2(0, T; H^{-1})`` norm: the objective
of Spectral-Refiner's fine-tuning (:mod:`specsolve.training.spectral_refinement`, Cao et al., ICLR 2025), also a
registered loss (``vorticity_residual``) for training with it::

    R(w) = w_t + u . grad w - nu lap w - f,   u = (psi_y, -psi_x),  -lap psi = w   on the periodic [0, L)^2
    loss = ( dt * sum_n ||R_n||^2_{H^{-1}_alpha} )^{1/2},   ||r||^2_{H^{-1}_alpha} = |Omega| sum_k |c_k|^2 / (alpha + |2 pi k / L|^2)

(the norm from its formula, :func:`specsolve.losses.sobolev.sobolev_norm_squared`, not the reference code's ``H^{-1/2}``).
Space derivatives are pseudo-spectral with the 2/3 dealiasing of the data generator (one operator for both:
:mod:`specsolve.pde.vorticity`); the time derivative comes from
the predicted frames (the last input frame prepended), in one of two discretisations:

- ``crank_nicolson``: the residual of the trapezoidal (Crank–Nicolson) step between consecutive frames,
  ``R_{n+1/2} = (w_{n+1} - w_n) / dt + (G(w_n) + G(w_{n+1})) / 2``, ``G(w) = u . grad w - nu lap w - f``; second order,
  and exactly zero on a trajectory of that scheme;
- ``central``: ``R_n = (w_{n+1} - w_{n-1}) / (2 dt) + G(w_n)`` at the interior frames; second order.

The reference code instead takes ``w_t`` from IMEX CN solver steps of +-1e-6 at the predicted state, whose relation to
the paper's estimator is unresolved (references/operators.md, STFNO-PITFALL 5); this module follows the paper's
space-time residual.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.losses.sobolev import sobolev_norm_squared
from specsolve.pde import PDESpec, get_pde
from specsolve.pde.vorticity import advection_hat, fno_forcing, velocity_multipliers, vorticity_symbols
from specsolve.registry import register

Scheme = Literal["crank_nicolson", "central"]


class VorticityResidual(nn.Module):
    """Navier–Stokes vorticity residual of a trajectory ``(B, T, n, n)`` (frames ``dt`` apart, grid ``j L / n``,
    axis -2 = x, axis -1 = y) -> ``(B, T - 1, n, n)`` (``crank_nicolson``) or ``(B, T - 2, n, n)`` (``central``).

    ``forcing="fno"`` is ``0.1 (sin 2 pi (x + y) / L + cos 2 pi (x + y) / L)``."""

    def __init__(
        self,
        viscosity: float,
        dt: float,
        forcing: Literal["fno", "none"] = "fno",
        scheme: Scheme = "crank_nicolson",
        length: float = 1.0,
        dealias: bool = True,
    ) -> None:
        super().__init__()
        if scheme not in ("crank_nicolson", "central"):
            raise ConfigError(f"scheme must be 'crank_nicolson' or 'central', got '{scheme}'")
        if forcing not in ("fno", "none"):
            raise ConfigError(f"forcing must be 'fno' or 'none', got '{forcing}'")
        if dt <= 0 or viscosity < 0 or length <= 0:
            raise ConfigError("need dt > 0, viscosity >= 0 and length > 0")
        self.viscosity, self.dt, self.forcing, self.scheme = viscosity, dt, forcing, scheme
        self.length, self.dealias = length, dealias
        #: the PDE this is the residual of (the registered ``navier_stokes``)
        self.spec = get_pde("navier_stokes", nu=viscosity, forcing=forcing, length=length)

    @classmethod
    def from_spec(
        cls, spec: PDESpec, dt: float, scheme: Scheme = "crank_nicolson", dealias: bool = True
    ) -> VorticityResidual:
        """The residual of a ``navier_stokes`` specification (``get_pde("navier_stokes", nu=..., forcing=...,
        length=...)``): viscosity, forcing and box length are read from it."""
        if spec.name != "navier_stokes":
            raise ConfigError(f"the vorticity residual needs the 'navier_stokes' PDE, got '{spec.name}'")
        forcing = "fno" if spec.source is not None else "none"
        return cls(spec.params["nu"], dt, forcing, scheme, spec.params["length"], dealias)

    def _operators(self, n: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
        real = torch.float64 if dtype == torch.float64 else torch.float32
        sym = vorticity_symbols(n, self.length, real, device, self.dealias)
        x = torch.arange(n, dtype=real, device=device) * self.length / n
        if self.forcing == "fno":
            f = fno_forcing(x[:, None], x[None, :], self.length)
        else:
            f = torch.zeros(n, n, dtype=real, device=device)
        mult = velocity_multipliers(sym.ikx, sym.iky, sym.inv_lap)
        return {"lam": sym.lam, "mult": mult, "mask": sym.mask, "f": f}

    def spatial_operator(self, w: Tensor) -> Tensor:
        """``G(w) = u . grad w - nu lap w - f`` of fields ``(..., n, n)`` (dealiased advection)."""
        n = w.shape[-1]
        if w.shape[-2] != n:
            raise ValueError(f"the vorticity residual needs square grids, got {tuple(w.shape[-2:])}")
        ops = self._operators(n, w.dtype, w.device)
        w_hat = torch.fft.rfft2(w)
        advection = torch.fft.irfft2(advection_hat(w_hat, ops["mult"], ops["mask"]), s=(n, n))
        diffusion = torch.fft.irfft2(ops["lam"] * w_hat, s=(n, n))  # -lap w
        return advection + self.viscosity * diffusion - ops["f"]

    def forward(self, w: Tensor) -> Tensor:
        if w.dim() != 4:
            raise ValueError(f"expected a trajectory (B, T, n, n), got {tuple(w.shape)}")
        g = self.spatial_operator(w)
        if self.scheme == "crank_nicolson":
            if w.shape[1] < 2:
                raise ValueError("the Crank–Nicolson residual needs at least 2 frames")
            return (w[:, 1:] - w[:, :-1]) / self.dt + 0.5 * (g[:, 1:] + g[:, :-1])
        if w.shape[1] < 3:
            raise ValueError("the central residual needs at least 3 frames")
        return (w[:, 2:] - w[:, :-2]) / (2 * self.dt) + g[:, 1:-1]


def residual_norm(residual: Tensor, dt: float, alpha: float = 10**-1.5, length: float = 1.0, s: float = -1.0) -> Tensor:
    """``( dt sum_n ||R_n||^2_{H^s_alpha} )^{1/2}`` per sample, ``residual: (B, T, n, n)`` -> ``(B,)``."""
    per_frame = sobolev_norm_squared(residual, s, alpha, lengths=[length, length])  # (B, T)
    return (dt * per_frame.sum(dim=1)).sqrt()


@register("loss", "vorticity_residual")
class VorticityResidualLoss(nn.Module):
    """``L^2(0, T; H^{-1}_alpha)`` norm of the vorticity residual of the prediction (Spectral-Refiner), batch mean.

    ``pred``: ``(B, T, 1, n, n)`` vorticity frames ``dt`` apart (grid ``j L / n``); with ``inputs`` of the same layout
    and ``prepend_input``, the last input frame is prepended (the residual then covers the first predicted step).
    ``target`` is not used: the loss needs no solution data.
    """

    def __init__(
        self,
        viscosity: float = 1e-3,
        dt: float = 1.0,
        forcing: Literal["fno", "none"] = "fno",
        scheme: Scheme = "crank_nicolson",
        length: float = 1.0,
        dealias: bool = True,
        alpha: float = 10**-1.5,
        prepend_input: bool = True,
    ) -> None:
        super().__init__()
        self.residual = VorticityResidual(viscosity, dt, forcing, scheme, length, dealias)
        self.alpha, self.prepend_input = alpha, prepend_input

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        if pred.dim() != 5 or pred.shape[2] != 1:
            raise ValueError(f"vorticity_residual expects (B, T, 1, n, n) predictions, got {tuple(pred.shape)}")
        w = pred[:, :, 0]
        if self.prepend_input and inputs is not None:
            if inputs.dim() != 5 or inputs.shape[2] != 1 or inputs.shape[-2:] != pred.shape[-2:]:
                raise ValueError(
                    f"inputs of shape {tuple(inputs.shape)} are not frames (B, T, 1, n, n) of the prediction"
                )
            w = torch.cat([inputs[:, -1:, 0].to(w), w], dim=1)
        r = self.residual(w)
        return residual_norm(r, self.residual.dt, self.alpha, self.residual.length).mean()

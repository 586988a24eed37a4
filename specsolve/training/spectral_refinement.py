"""Spectral-Refiner's fine-tuning stage (Cao et al., ICLR 2025) for the spatiotemporal FNO (``st_fno``).

Freeze the trained operator, enlarge its last (output) spectral layer so that it keeps every Fourier mode of the fine
grid (:func:`~specsolve.models.st_fno.enlarge_output_layer`), and train only that layer, on one input window at a time
and without any solution data, to minimise the ``L^2(0, T; H^{-1})`` norm of the Navier–Stokes vorticity residual of
its own prediction::

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

import copy
from typing import Any, Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.losses.sobolev import sobolev_norm_squared
from specsolve.pde import PDESpec, get_pde
from specsolve.pde.vorticity import advection_hat, fno_forcing, velocity_multipliers, vorticity_symbols

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


def spectral_refine(
    model: nn.Module,
    window: Tensor,
    residual: VorticityResidual,
    out_steps: int | None = None,
    modes: int | None = None,
    modes_t: int | None = None,
    steps: int = 50,
    lr_weight: float = 1e-4,
    lr_bias: float = 0.2,
    alpha: float = 10**-1.5,
    copy_model: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune the output layer of an ``st_fno`` on the ``H^{-1}`` residual of its prediction for ``window``.

    ``window``: ``(B, T_in, 1, n, n)`` vorticity on the fine grid. The output layer is enlarged to ``modes`` per sign
    in space (default ``n // 2``: no truncation) and ``modes_t`` in time (default: unchanged), the rest frozen; the
    frozen encoder runs once. Adam with the reference's learning rates (weights 1e-4, spectral bias 0.2) for
    ``steps`` iterations. Returns the refined model (a copy unless ``copy_model=False``) and
    ``{"loss": [per step], "before": ..., "after": ...}`` (the mean residual norm over the batch).
    """
    from specsolve.models.st_fno import STFNO, enlarge_output_layer

    if not isinstance(model, STFNO):
        raise ConfigError(f"spectral refinement needs an 'st_fno' model, got {type(model).__name__}")
    if window.dim() != 5 or window.shape[2] != 1:
        raise ConfigError(f"spectral refinement needs a vorticity window (B, T_in, 1, n, n), got {tuple(window.shape)}")
    model = copy.deepcopy(model) if copy_model else model
    n = window.shape[-1]
    enlarge_output_layer(model, modes or n // 2, modes_t or model.output_conv.modes_t)
    model.eval()
    with torch.no_grad():
        latent = model.encode(window)
    conv = model.output_conv
    optimizer = torch.optim.Adam(
        [{"params": list(conv.weight), "lr": lr_weight}, {"params": list(conv.bias), "lr": lr_bias}]
    )

    def loss() -> Tensor:
        pred = model.decode(latent, window, out_steps)[:, :, 0]
        trajectory = torch.cat([window[:, -1:, 0], pred], dim=1)
        return residual_norm(residual(trajectory), residual.dt, alpha, residual.length).mean()

    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
        history.append(value.item())
    with torch.no_grad():
        after = float(loss())
    return model, {"loss": history, "before": history[0] if history else after, "after": after}

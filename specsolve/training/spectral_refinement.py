"""Spectral-Refiner's fine-tuning stage (Cao et al., ICLR 2025) for the spatiotemporal FNO (``st_fno``).

Freeze the trained operator, enlarge its last (output) spectral layer so that it keeps every Fourier mode of the fine
grid (:func:`~specsolve.models.st_fno.enlarge_output_layer`), and train only that layer, on one input window at a time
and without any solution data, to minimise the ``L^2(0, T; H^{-1})`` norm of the Navier–Stokes vorticity residual of
its own prediction::

    R(w) = w_t + u . grad w - nu lap w - f,   u = (psi_y, -psi_x),  -lap psi = w   on the periodic [0, L)^2
    loss = ( dt * sum_n ||R_n||^2_{H^{-1}_alpha} )^{1/2},   ||r||^2_{H^{-1}_alpha} = |Omega| sum_k |c_k|^2 / (alpha + |2 pi k / L|^2)

The residual (pseudo-spectral in space with the generator's operator, Crank-Nicolson or central in time over the
predicted frames with the last input frame prepended) and its norm are :mod:`specsolve.losses.vorticity_residual`,
also the registered loss ``vorticity_residual``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.losses.sobolev import Convention, effective_order
from specsolve.losses.vorticity_residual import Scheme, VorticityResidual, residual_norm

__all__ = ["Scheme", "VorticityResidual", "residual_norm", "spectral_refine"]


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
    norm_convention: Convention = "paper",
) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune the output layer of an ``st_fno`` on the ``H^{-1}`` residual of its prediction for ``window``.

    ``window``: ``(B, T_in, 1, n, n)`` vorticity on the fine grid. The output layer is enlarged to ``modes`` per sign
    in space (default ``n // 2``: no truncation) and ``modes_t`` in time (default: unchanged), the rest frozen; the
    frozen encoder runs once. Adam with the reference's learning rates (weights 1e-4, spectral bias 0.2) for
    ``steps`` iterations. Returns the refined model (a copy unless ``copy_model=False``) and
    ``{"loss": [per step], "before": ..., "after": ...}`` (the mean residual norm over the batch).

    ``norm_convention``: ``"paper"`` (default) minimises the true ``H^{-1}_alpha`` norm; ``"torch_cfd"`` the
    reference code's (``SobolevLoss(norm_order=-1)``), whose weight ``(alpha + |xi|^2)^{-1/2}`` makes it an
    ``H^{-1/2}`` norm (see :func:`specsolve.losses.sobolev.effective_order`); use it to compare residual values with
    the reference's. The time derivative stays the Crank-Nicolson one of the predicted frames (the reference's
    solver-step derivative is not reproduced).
    """
    from specsolve.models.st_fno import STFNO, enlarge_output_layer

    if not isinstance(model, STFNO):
        raise ConfigError(f"spectral refinement needs an 'st_fno' model, got {type(model).__name__}")
    if window.dim() != 5 or window.shape[2] != 1:
        raise ConfigError(f"spectral refinement needs a vorticity window (B, T_in, 1, n, n), got {tuple(window.shape)}")
    if norm_convention not in ("paper", "torch_cfd"):
        raise ConfigError(f"norm_convention must be 'paper' or 'torch_cfd', got {norm_convention!r}")
    order = effective_order(-1.0, norm_convention)  # the true H^-1 (paper) or the reference's H^-1/2 (torch_cfd)
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
        return residual_norm(residual(trajectory), residual.dt, alpha, residual.length, s=order).mean()

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

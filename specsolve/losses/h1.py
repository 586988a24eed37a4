"""Relative (or absolute) H1 loss: ``sqrt(||e||^2 + ||grad e||^2) / sqrt(||y||^2 + ||grad y||^2)`` per sample.

- ``periodic=True`` (``uniform_open`` grid, ``x_j = j L / n``): exact via Parseval,
  ``||e||^2_{H^1} = |Omega| sum_k (1 + |2 pi k / L|^2) |c_k|^2`` (spectral derivatives; the ``sobolev`` loss with
  ``s = 1, alpha = 1``), or ``method="fd"``: central differences with wrap-around and the rectangle rule.
- ``periodic=False`` (``uniform_closed`` grid, ``x_j = j L / (n - 1)``): second-order finite differences (central
  inside, one-sided at the ends) and the trapezoidal rule.

``seminorm=True`` drops the ``||e||^2`` term (``|e|_{H^1}``). Channels are summed; a time axis ``(B, T, C, *space)``
is integrated with the rectangle rule ``(T / n_t) sum_t``. neuraloperator's ``H1Loss`` is the same quantity with
finite differences everywhere and a sum over the batch; this one averages over the batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.losses.sobolev import side_lengths, sobolev_norm_squared
from specsolve.pde.derivatives import fd_derivative
from specsolve.registry import register


def _trapezoid_weights(n: int, h: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    w = torch.full((n,), h, dtype=dtype, device=device)
    w[0] = w[-1] = h / 2
    return w


@register("loss", "h1")
class H1Loss(nn.Module):
    """Relative H1 error per sample (mean over the batch); see the module docstring for the discretisation.

    Parameters
    ----------
    spatial_dims : number of trailing spatial dims. periodic : periodic data (spectral derivatives) or not (FD).
    lengths : domain side lengths (default 1). method : ``spectral`` or ``fd`` derivatives on periodic data.
    relative : divide by the target's H1 norm. seminorm : use ``|.|_{H^1}`` only. time_length : ``T``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        periodic: bool = True,
        lengths: list[float] | None = None,
        method: Literal["spectral", "fd"] = "spectral",
        relative: bool = True,
        seminorm: bool = False,
        time_length: float = 1.0,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        self.lengths = side_lengths("h1", lengths, spatial_dims)
        if method not in ("spectral", "fd"):
            raise ConfigError(f"h1: method must be 'spectral' or 'fd', got '{method}'")
        self.spatial_dims, self.periodic, self.method = spatial_dims, periodic, method
        self.relative, self.seminorm, self.time_length, self.eps = relative, seminorm, time_length, eps

    def norm_squared(self, u: Tensor) -> Tensor:
        """Per-sample squared (semi-)H1 norm, ``(B,)``."""
        d = self.spatial_dims
        if u.ndim not in (d + 2, d + 3):
            raise ValueError(
                f"h1: expected (B, C, *space) or (B, T, C, *space) with {d} spatial dims, got {tuple(u.shape)}"
            )
        if self.periodic and self.method == "spectral":
            per = sobolev_norm_squared(u, 1.0, 0.0 if self.seminorm else 1.0, self.lengths)
        else:
            per = self._fd_norm_squared(u)
        per = per.flatten(1)  # (B, C) or (B, T * C)
        if u.ndim == d + 3:
            return per.sum(1) * (self.time_length / u.shape[1])
        return per.sum(1)

    def _fd_norm_squared(self, u: Tensor) -> Tensor:
        d = self.spatial_dims
        dims = list(range(-d, 0))
        w = torch.ones((), dtype=u.dtype, device=u.device)
        for j, L in enumerate(self.lengths):
            n = u.shape[j - d]
            h = L / n if self.periodic else L / (n - 1)
            wj = (
                torch.full((n,), h, dtype=u.dtype, device=u.device)
                if self.periodic
                else _trapezoid_weights(n, h, u.dtype, u.device)
            )
            w = w * wj.reshape([-1 if i == j else 1 for i in range(d)])
        total = torch.zeros(u.shape[:-d], dtype=u.dtype, device=u.device) if self.seminorm else (w * u**2).sum(dims)
        for j, L in enumerate(self.lengths):
            n = u.shape[j - d]
            h = L / n if self.periodic else L / (n - 1)
            g = fd_derivative(u, j - d, 1, h, periodic=self.periodic)
            total = total + (w * g**2).sum(dims)
        return total

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        if target is None:
            raise ValueError("h1 needs a target")
        num = self.norm_squared(pred - target)
        if self.relative:
            num = num / (self.norm_squared(target) + self.eps**2)
        return num.clamp_min(self.eps**2).sqrt().mean()

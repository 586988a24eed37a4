"""H^s (including negative Sobolev) norms and loss via Parseval (Spectral-Refiner, Cao et al. ICLR 2025, eq. for the
``L^2(0, T; H^{-1})`` residual norm).

On a periodic box of side lengths ``L`` sampled at ``n`` points per axis (right end excluded), with
``c = fftn(r, norm="forward")`` over the spatial axes::

    ||r||^2_{H^s_alpha} = |Omega| * sum_k (alpha + |2 pi k / L|^2)^s |c_k|^2

``s = 0, alpha = 1`` is the L2 norm; ``s = 1, alpha = 1`` is ``||r||^2 + ||grad r||^2``; ``s = -1`` is the ``H^{-1}``
norm (``alpha > 0`` regularises ``k = 0``; with ``alpha = 0`` and ``s < 0`` the ``k = 0`` mode is dropped, i.e. the
homogeneous semi-norm). For ``sin(2 pi x)`` on ``[0, 1]^2``: ``||.||_{H^{-1}_alpha} = (alpha + 4 pi^2)^{-1/2} / sqrt 2``.

``convention="torch_cfd"`` reproduces only the exponent of the reference ``SobolevLoss`` (``scaomath/torch-cfd``,
checked in ``references/gp_and_spectral_losses.md`` §4.3): its ``norm_order = s`` weights ``|c_k|^2`` by
``(alpha + |2 pi k|^2)^{s/2}`` (``s != 0``) and ``(alpha + |2 pi k|^2)^{1}`` for ``s = 0``, i.e. an ``H^{s/2}`` norm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.pde.operators import wavenumbers
from specsolve.registry import register

Convention = Literal["paper", "torch_cfd"]


def effective_order(s: float, convention: str = "paper") -> float:
    """The Sobolev index actually used: ``s`` (paper) or the torch-cfd exponent (``s / 2``, or 1 for ``s = 0``)."""
    if convention == "paper":
        return float(s)
    if convention == "torch_cfd":
        return 1.0 if s == 0 else s / 2.0
    raise ValueError(f"unknown convention '{convention}'")


def sobolev_weights(
    shape: Sequence[int],
    s: float,
    alpha: float = 1.0,
    lengths: Sequence[float] | None = None,
    max_modes: int | None = None,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """``(alpha + |2 pi k / L|^2)^s`` on the FFT grid of ``shape`` (FFT order); modes with some ``|k_j| > max_modes``
    get weight 0; with ``alpha = 0, s < 0`` the ``k = 0`` weight is 0."""
    lengths = [1.0] * len(shape) if lengths is None else list(lengths)
    if len(lengths) != len(shape):
        raise ValueError(f"need {len(shape)} lengths, got {len(lengths)}")
    xi2 = torch.zeros(tuple(shape), dtype=dtype, device=device)
    keep = torch.ones(tuple(shape), dtype=torch.bool, device=device)
    for j, (n, L) in enumerate(zip(shape, lengths)):
        k = wavenumbers(n, device=device, dtype=dtype).reshape([-1 if i == j else 1 for i in range(len(shape))])
        xi2 = xi2 + (2 * math.pi * k / L) ** 2
        if max_modes is not None:
            keep = keep & (k.abs() <= max_modes)
    base = alpha + xi2
    if s < 0:
        w = torch.where(base > 0, base.clamp_min(torch.finfo(dtype).tiny) ** s, torch.zeros_like(base))
    else:
        w = base**s
    return w * keep


def sobolev_norm_squared(
    r: Tensor,
    s: float,
    alpha: float = 1.0,
    lengths: Sequence[float] = (1.0, 1.0),
    convention: Convention = "paper",
    max_modes: int | None = None,
) -> Tensor:
    """``||r||^2_{H^s_alpha}`` over the last ``len(lengths)`` dims of ``r`` (periodic, uniform_open grid);
    returns ``r.shape[:-len(lengths)]``."""
    d = len(lengths)
    dims = list(range(-d, 0))
    with torch.autocast(device_type=r.device.type, enabled=False):
        x = r.float() if r.dtype in (torch.float16, torch.bfloat16) else r
        c = torch.fft.fftn(x, dim=dims, norm="forward")
        w = sobolev_weights(x.shape[-d:], effective_order(s, convention), alpha, lengths, max_modes, x.device, x.dtype)
        return math.prod(lengths) * (w * (c.real**2 + c.imag**2)).sum(dims)


def sobolev_norm(
    r: Tensor,
    s: float,
    alpha: float = 1.0,
    lengths: Sequence[float] = (1.0, 1.0),
    convention: Convention = "paper",
    max_modes: int | None = None,
) -> Tensor:
    """``||r||_{H^s_alpha}`` over the last ``len(lengths)`` dims (see the module docstring); shape ``r.shape[:-d]``.

    >>> x = torch.arange(64) / 64; r = torch.sin(2 * math.pi * x)[:, None].expand(64, 64)
    >>> sobolev_norm(r, -1.0, 0.1)   # (0.1 + 4 pi^2)^(-1/2) / sqrt(2)
    """
    return sobolev_norm_squared(r, s, alpha, lengths, convention, max_modes).sqrt()


def bochner_norm_squared(
    r: Tensor,
    spatial_dims: int,
    s: float,
    alpha: float,
    lengths: Sequence[float],
    time_length: float = 1.0,
    convention: Convention = "paper",
    max_modes: int | None = None,
) -> Tensor:
    """Per-sample squared ``L^2(0, T; H^s)`` norm of ``(B, C, *space)`` or ``(B, T, C, *space)`` fields.

    Channels are summed (norm of the vector field); with a time axis the time integral is the rectangle rule
    ``(T / n_t) sum_t`` (``time_length = T``). Returns ``(B,)``.
    """
    if r.ndim == spatial_dims + 2:
        return sobolev_norm_squared(r, s, alpha, lengths, convention, max_modes).sum(1)
    if r.ndim == spatial_dims + 3:
        per_step = sobolev_norm_squared(r, s, alpha, lengths, convention, max_modes).sum(2)
        return per_step.sum(1) * (time_length / r.shape[1])
    raise ValueError(
        f"expected (B, C, *space) or (B, T, C, *space) with {spatial_dims} spatial dims, got shape {tuple(r.shape)}"
    )


def side_lengths(loss: str, lengths: Sequence[float] | None, spatial_dims: int) -> tuple[float, ...]:
    """A loss's domain side lengths, one per spatial dim (default 1 each); a wrong count is a ``ConfigError``."""
    if lengths is not None and len(lengths) != spatial_dims:
        raise ConfigError(f"{loss}: lengths has {len(lengths)} entries for {spatial_dims} spatial dims")
    return tuple(lengths) if lengths is not None else (1.0,) * spatial_dims


@register("loss", "sobolev")
class SobolevLoss(nn.Module):
    """``H^s_alpha`` norm loss (any real ``s``; ``s = -1``: the Spectral-Refiner ``H^{-1}`` loss), mean over batch.

    ``forward(pred, target=None)``: the norm of ``pred - target`` (or of ``pred`` itself, e.g. a PDE residual, when
    ``target`` is None); ``relative=True`` divides per sample by the norm of ``target``. Inputs ``(B, C, *space)`` or
    ``(B, T, C, *space)`` on a periodic ``uniform_open`` grid; time: ``L^2(0, T)`` of the per-step norms.

    Parameters
    ----------
    s : Sobolev index. alpha : the ``alpha`` in ``(alpha + |xi|^2)^s`` (``alpha > 0`` needed for ``s < 0`` unless
        the ``k = 0`` mode should be ignored). spatial_dims : number of trailing spatial dims.
    lengths : domain side lengths (default 1 each). time_length : ``T`` for the time integral.
    relative : divide by the target's norm. squared : return the squared norm. convention : see module docstring.
    max_modes : keep only modes with ``|k_j| <= max_modes`` on every axis. eps : floor of norms (finite gradients).
    """

    def __init__(
        self,
        s: float = -1.0,
        alpha: float = 1.0,
        spatial_dims: int = 2,
        lengths: list[float] | None = None,
        time_length: float = 1.0,
        relative: bool = False,
        squared: bool = False,
        convention: Convention = "paper",
        max_modes: int | None = None,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        if alpha < 0:
            raise ConfigError(f"sobolev: alpha must be >= 0, got {alpha}")
        self.lengths = side_lengths("sobolev", lengths, spatial_dims)
        if convention not in ("paper", "torch_cfd"):
            raise ConfigError(f"sobolev: convention must be 'paper' or 'torch_cfd', got '{convention}'")
        self.s, self.alpha, self.spatial_dims = s, alpha, spatial_dims
        self.time_length, self.relative, self.squared = time_length, relative, squared
        self.convention, self.max_modes, self.eps = convention, max_modes, eps

    def norm_squared(self, r: Tensor) -> Tensor:
        """Per-sample squared Bochner norm ``(B,)``."""
        return bochner_norm_squared(
            r, self.spatial_dims, self.s, self.alpha, self.lengths, self.time_length, self.convention, self.max_modes
        )

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        r = pred if target is None else pred - target
        num = self.norm_squared(r)
        if self.relative:
            if target is None:
                raise ValueError("sobolev(relative=True) needs a target")
            num = num / (self.norm_squared(target) + self.eps**2)
        return (num if self.squared else num.clamp_min(self.eps**2).sqrt()).mean()  # clamp: finite grad at 0

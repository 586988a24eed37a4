"""Physical-space (PINN-style) grid residual loss: the "FNO+PINN" baseline of NSM.

The prediction lives on a uniform grid (``uniform_open`` on periodic axes, ``uniform_closed`` with both ends on the
others, time included); derivatives by second-order finite differences (``method="fd"``; central with wrap-around on
periodic axes, one-sided second order at the ends) or Fourier derivatives on periodic axes (``method="spectral"``).
The loss is ``mean_grid R^2`` (mean over channels and batch too) plus ``ic_weight`` / ``bc_weight`` times the mean
squared mismatch of initial / boundary data on the grid faces. Layouts and ``inputs`` as for ``nsm_residual``.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.pde import PDESpec, grid_derivatives
from specsolve.pde.residual import PDEName, boundary_penalty, build_spec, input_field, to_axes
from specsolve.registry import register


@register("loss", "pinn_residual")
class PINNResidualLoss(nn.Module):
    """Grid residual ``mean R^2`` with finite-difference derivatives; see the module docstring.

    Parameters
    ----------
    pde : a registered PDE (built-ins and plugins); ``dim``, ``nu``, ``rho``, ``length``, ``time``: its parameters
        (``None``: defaults).
    method : ``fd`` or ``spectral`` (Fourier on periodic axes, FD elsewhere). ic_weight, bc_weight : penalty weights.
    """

    def __init__(
        self,
        pde: PDEName = "poisson",
        dim: int | None = None,
        nu: float | None = None,
        rho: float | None = None,
        length: float | None = None,
        time: float | None = None,
        method: Literal["fd", "spectral"] = "fd",
        ic_weight: float = 1.0,
        bc_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self._setup(build_spec(pde, dim=dim, nu=nu, rho=rho, length=length, time=time), method, ic_weight, bc_weight)

    @classmethod
    def from_spec(
        cls, spec: PDESpec, method: Literal["fd", "spectral"] = "fd", ic_weight: float = 1.0, bc_weight: float = 1.0
    ) -> PINNResidualLoss:
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(spec, method, ic_weight, bc_weight)
        return self

    def _setup(self, spec: PDESpec, method: str, ic_weight: float, bc_weight: float) -> None:
        if method not in ("fd", "spectral"):
            raise ConfigError(f"pinn_residual: method must be 'fd' or 'spectral', got '{method}'")
        self.spec, self.method, self.ic_weight, self.bc_weight = spec, method, ic_weight, bc_weight
        self.kinds = spec.domain.kinds(None)

    def residual(self, pred: Tensor, inputs: Tensor | None = None) -> Tensor:
        """Grid residual ``(B, C, *axes)``."""
        spec = self.spec
        u = to_axes(pred, spec)
        field = input_field(inputs, spec, u.shape)
        mesh = tuple(m.to(u.device) for m in spec.domain.mesh(u.shape[2:], self.kinds, u.dtype))
        aux_in = field if spec.input_role in ("source", "coefficient") else None
        d = grid_derivatives(spec, u, kinds=self.kinds, method=self.method, inputs=aux_in)
        if spec.input_role == "source":
            if field is None:
                raise ValueError(f"PDE '{spec.name}' needs its source as `inputs`")
            return spec.residual(d, mesh, source=field)
        return spec.residual(d, mesh)

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        loss = (self.residual(pred, inputs) ** 2).mean()
        if self.spec.bcs and (self.ic_weight or self.bc_weight):
            u = to_axes(pred, self.spec)
            mesh = tuple(m.to(u.device) for m in self.spec.domain.mesh(u.shape[2:], self.kinds, u.dtype))
            initial = input_field(inputs, self.spec, u.shape) if self.spec.input_role == "initial_condition" else None
            loss = loss + boundary_penalty(
                self.spec, u, self.kinds, mesh, self.method, initial, self.ic_weight, self.bc_weight
            )
        return loss

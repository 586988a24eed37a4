"""Neural-Spectral-Methods residual loss (Du, Chalapathi, Krishnapriyan, ICLR 2024).

The prediction is read as a spectral interpolant on the NSM grid (``uniform_open`` on periodic axes, ascending
Chebyshev-Gauss-Lobatto points on the others, time included) and transformed to Fourier x Chebyshev coefficients.
The residual ``R = L u + sum N_i(u) - f`` of a :class:`~specsolve.pde.PDESpec` is assembled in coefficient space:
the linear part exactly (Fourier ``(2 pi i k / L)^m``, Chebyshev differentiation matrices), pointwise terms
pseudo-spectrally on a grid padded by ``dealias`` (``2``: NSM's ``n1 + n2`` padding; ``1.5``: the 3/2 rule, exact for
quadratic terms), auxiliary fields (the stream function) by Fourier division. The loss is

- ``norm="sum"``: ``sum |R_hat|^2`` over all coefficients (NSM's loss; NSM stores real cos/sin pairs, which changes
  per-mode constants only), or
- ``norm="l2"``: the exact ``||R||^2_{L^2(Omega)}`` of the residual's interpolant (Parseval on Fourier axes, the
  Chebyshev Gram matrix on the others),

summed over channels, averaged over the batch, plus ``ic_weight`` / ``bc_weight`` times the mean squared mismatch of
initial / boundary conditions on the grid faces (NSM builds them into the model with a mollifier instead; set the
weights to 0 for such models).

Layouts: steady problems ``(B, C, *space)``; time-dependent ``(B, T, C, *space)`` with ``T`` Lobatto points in
time, ascending. ``inputs``: the source ``s`` (Poisson), the coefficient ``a`` (Darcy), or the initial condition
``(B, C, *space)``; without one, initial/boundary data come from the PDE's exact solution.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError
from specsolve.pde import Derivatives, PDESpec, TensorBasis
from specsolve.pde.residual import PDEName, boundary_penalty, build_spec, input_field, to_axes
from specsolve.registry import register


@register("loss", "nsm_residual")
class NSMResidualLoss(nn.Module):
    """Spectral (NSM) residual loss of a built-in PDE; see the module docstring.

    Parameters
    ----------
    pde : a registered PDE (built-ins and plugins: ``specsolve.pde.list_pdes()``); ``dim``, ``nu``, ``rho``, ``length``, ``time``: its
        parameters (``None``: the PDE's default); ``periodic``: the PDE's box kind (``poisson``: ``False`` is
        NSM's Dirichlet problem). norm : ``sum`` (NSM) or ``l2``. dealias : padding factor of the
        pseudo-spectral products. ic_weight, bc_weight : penalty weights.
    """

    def __init__(
        self,
        pde: PDEName = "poisson",
        dim: int | None = None,
        nu: float | None = None,
        rho: float | None = None,
        length: float | None = None,
        time: float | None = None,
        norm: Literal["sum", "l2"] = "sum",
        dealias: float = 2.0,
        ic_weight: float = 1.0,
        bc_weight: float = 1.0,
        periodic: bool | None = None,
    ) -> None:
        super().__init__()
        spec = build_spec(pde, dim=dim, nu=nu, rho=rho, length=length, time=time, periodic=periodic)
        self._setup(spec, norm, dealias, ic_weight, bc_weight)

    @classmethod
    def from_spec(
        cls,
        spec: PDESpec,
        norm: Literal["sum", "l2"] = "sum",
        dealias: float = 2.0,
        ic_weight: float = 1.0,
        bc_weight: float = 1.0,
    ) -> NSMResidualLoss:
        """The loss of any :class:`PDESpec` (e.g. a manufactured one)."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(spec, norm, dealias, ic_weight, bc_weight)
        return self

    def _setup(self, spec: PDESpec, norm: str, dealias: float, ic_weight: float, bc_weight: float) -> None:
        if norm not in ("sum", "l2"):
            raise ConfigError(f"nsm_residual: norm must be 'sum' or 'l2', got '{norm}'")
        if dealias < 1:
            raise ConfigError(f"nsm_residual: dealias must be >= 1, got {dealias}")
        self.spec, self.norm, self.dealias = spec, norm, dealias
        self.ic_weight, self.bc_weight = ic_weight, bc_weight

    # -----------------------------------------------------------------------------------------
    def residual_coefficients(self, pred: Tensor, inputs: Tensor | None = None) -> tuple[Tensor, TensorBasis]:
        """Coefficients ``R_hat`` of the residual, ``(B, C, *axes)`` complex, and the basis they live in."""
        spec = self.spec
        u = to_axes(pred, spec)
        with torch.autocast(device_type=u.device.type, enabled=False):
            u = u.float() if u.dtype in (torch.float16, torch.bfloat16) else u
            basis = TensorBasis(spec.domain, u.shape[-spec.domain.ndim :])
            uc = basis.transform(u)
            R = basis.apply(uc, spec.linear)
            field = input_field(inputs, spec, u.shape)
            fields = {"u": uc}
            if field is not None and spec.input_role in ("source", "coefficient"):
                fields[spec.input_name] = basis.transform(field.to(u.dtype))
            for aux in spec.aux:
                fields[aux.name] = uc * basis.aux_multiplier(aux, uc.device).to(uc.dtype)
            for term in spec.nonlinear:
                missing = {f for f, _ in term.needs} - set(fields)
                if missing:
                    raise ValueError(f"PDE '{spec.name}' needs the input field(s) {sorted(missing)}")
                coeffs = [basis.diff(fields[f], alpha) for f, alpha in term.needs]

                def fn(*values: Tensor, term=term) -> Tensor:  # noqa: ANN001
                    return term.fn(Derivatives(zip(term.needs, values)))

                R = R + basis.product(fn, coeffs, self.dealias)
            if spec.input_role == "source":
                if field is None:
                    raise ValueError(f"PDE '{spec.name}' needs its source as `inputs`")
                R = R - fields[spec.input_name]
            elif spec.source is not None:
                R = R - basis.transform(spec.source(basis.mesh(u.dtype)).to(u.device))
        return R, basis

    def forward(self, pred: Tensor, target: Tensor | None = None, inputs: Tensor | None = None) -> Tensor:
        R, basis = self.residual_coefficients(pred, inputs)
        loss = basis.squared_norm(R, self.norm).sum(1).mean()
        if self.spec.bcs and (self.ic_weight or self.bc_weight):
            u = to_axes(pred, self.spec)
            kinds = self.spec.domain.kinds(None, spectral=True)
            mesh = tuple(m.to(u.device) for m in basis.mesh(u.dtype))
            initial = input_field(inputs, self.spec, u.shape) if self.spec.input_role == "initial_condition" else None
            loss = loss + boundary_penalty(
                self.spec, u, kinds, mesh, "spectral", initial, self.ic_weight, self.bc_weight
            )
        return loss

"""Neural Spectral Methods (Du, Chalapathi, Krishnapriyan, ICLR 2024): a coefficient-to-coefficient operator.

The input function (source on the whole domain, or initial condition on the spatial axes) is transformed to the
model's :class:`~specsolve.nn.spectral_basis.SpectralBasis` (Fourier on periodic axes, Chebyshev on the others,
``modes`` coefficients per axis; an input on another grid is truncated / zero-padded in coefficient space). With
``c`` the ``(B, width, *modes)`` complex coefficients, each layer is

    c <- T sigma(T^-1 (K . c + W c + b e_0))

``K`` per-mode complex weights on every coefficient (no truncation, as the paper), ``W`` a channel mixing, ``b`` a
bias on the constant mode, ``T`` / ``T^-1`` the exact transforms to / from the collocation grid, where the activation
``sigma`` is applied (none after the last layer). Lift ``P`` and projection ``Q1 -> sigma -> Q2`` are channel maps
on the coefficients (coordinate features of the basis grid are appended to the input).

Boundary / initial conditions are built in by NSM's mollifier, applied to the network output ``N`` on the
collocation grid (then transformed back, so they hold for the series at every point):

- Dirichlet ``u = 0`` on non-periodic spatial axes: ``u = scale * N * prod_i sin(pi xhat_i)``;
- initial condition on the time axis: ``u = u0(x) + scale * that * N(t, x)``, ``that = t / T``, ``u0`` the input's
  series (so the model needs un-normalised inputs: the ``pde_inputs`` data module has identity statistics);
- periodic axes: by the Fourier basis.

The paper's ``scale`` is 1e-3; ``mollifier_scale`` defaults to 1 (the same function class, better conditioned at
small budgets). Output: grid values on ``output_shape`` (default: the basis' own collocation grid, where the
``nsm_residual`` loss recovers exactly these coefficients); layouts ``(B, C, *axes)`` or, time-dependent,
``(B, T, C, *space)``. :meth:`coefficients` returns the series itself, :meth:`evaluate_at` its values at any points:
the network's cost does not depend on the output resolution.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from specsolve.errors import ConfigError, DataError
from specsolve.nn.spectral_basis import SpectralBasis
from specsolve.pde import PDESpec
from specsolve.pde.residual import build_spec
from specsolve.registry import register

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}


def channel_mix(weight: Tensor, c: Tensor) -> Tensor:
    """``(O, I)`` real weight over the channel axis of ``(B, I, *S)`` complex coefficients."""
    return torch.einsum("oi,bi...->bo...", weight.to(c.real.dtype).to(c.dtype), c)


class CoefficientLinear(nn.Module):
    """Channel map ``W c + b e_0`` on coefficients: the bias only on the constant mode (a constant in space)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    def forward(self, c: Tensor) -> Tensor:
        out = channel_mix(self.weight, c)
        index = (slice(None), slice(None)) + (0,) * (c.ndim - 2)
        bias = torch.zeros_like(out)
        bias[index] = self.bias.to(out.real.dtype).to(out.dtype)
        return out + bias


class ModeWeights(nn.Module):
    """Per-mode complex weights ``K[o, i, *modes]`` (every coefficient, no truncation): ``(K . c)[o] = sum_i K[o,
    i] c[i]`` mode by mode. Stored as a real ``(..., 2)`` tensor."""

    def __init__(self, channels: int, modes: tuple[int, ...]) -> None:
        super().__init__()
        scale = 1.0 / (channels * channels)
        self.weight = nn.Parameter(scale * torch.rand(channels, channels, *modes, 2))

    def forward(self, c: Tensor) -> Tensor:
        w = self.weight.to(c.real.dtype)
        return torch.einsum("bi...,oi...->bo...", c, torch.view_as_complex(w))


@register("model", "nsm")
class NSM(nn.Module):
    """Neural Spectral Method operator on a registered PDE's domain; see the module docstring.

    Parameters
    ----------
    pde : registered PDE whose domain, boundary conditions and input role the model takes (``poisson``,
        ``reaction_diffusion``, ``navier_stokes``, ...); ``dim``, ``periodic``, ``length``, ``time``: its domain
        parameters (``None``: the PDE's default).
    modes : coefficients per axis of the model's basis (time first). width, layers : channels and spectral layers.
    activation : ``gelu``, ``relu`` (paper) or ``tanh``. mollifier_scale : ``scale`` of the mollifier.
    output_shape : collocation grid of :meth:`forward`'s values (``None``: ``modes``).
    """

    def __init__(
        self,
        pde: str = "poisson",
        modes: list[int] | None = None,
        width: int = 32,
        layers: int = 4,
        in_channels: int = 1,
        out_channels: int = 1,
        activation: Literal["gelu", "relu", "tanh"] = "gelu",
        mollifier_scale: float = 1.0,
        output_shape: list[int] | None = None,
        dim: int | None = None,
        periodic: bool | None = None,
        length: float | None = None,
        time: float | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"nsm: activation must be one of {sorted(ACTIVATIONS)}, got '{activation}'")
        spec = build_spec(pde, dim=dim, periodic=periodic, length=length, time=time)
        self._check_spec(spec)
        self.spec = spec
        nd = spec.domain.ndim
        modes = list(modes) if modes is not None else [16] * nd
        if len(modes) != nd or any(m < 3 for m in modes):
            raise ConfigError(f"nsm: modes must give {nd} sizes >= 3 (axes {spec.domain.names}), got {modes}")
        if layers < 1 or width < 1:
            raise ConfigError("nsm: width and layers must be >= 1")
        self.modes = tuple(int(m) for m in modes)
        self.output_shape = tuple(output_shape) if output_shape is not None else self.modes
        if len(self.output_shape) != nd:
            raise ConfigError(f"nsm: output_shape must give {nd} sizes, got {list(self.output_shape)}")
        self.basis = SpectralBasis(spec.domain, self.modes)
        self.time_dependent = spec.is_time_dependent
        self.input_basis = self.basis.sub(spec.domain.spatial_axes) if self.time_dependent else self.basis
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mollifier_scale = float(mollifier_scale)
        self.act = ACTIVATIONS[activation]()
        features = self.basis.coordinate_features(torch.float64)
        # float64 buffers (cast where used), so a float64 model keeps the conditions to rounding
        feature_coefficients = self.basis.transform(features)
        self.register_buffer("feature_real", feature_coefficients.real, persistent=False)
        self.register_buffer("feature_imag", feature_coefficients.imag, persistent=False)
        self.register_buffer("dirichlet_factor", self._dirichlet_factor(), persistent=False)
        self.register_buffer("time_factor", self._time_factor(), persistent=False)
        self.lift = CoefficientLinear(in_channels + features.shape[0], width)
        self.spectral = nn.ModuleList(ModeWeights(width, self.modes) for _ in range(layers))
        self.mixing = nn.ModuleList(CoefficientLinear(width, width) for _ in range(layers))
        self.project_hidden = CoefficientLinear(width, 2 * width)
        self.project_out = CoefficientLinear(2 * width, out_channels)

    # -- construction ---------------------------------------------------------------------------
    @staticmethod
    def _check_spec(spec: PDESpec) -> None:
        for bc in spec.bcs:
            if bc.kind == "dirichlet" and not (bc.value == 0.0 and bc.side == "both"):
                raise ConfigError(f"nsm: only u = 0 Dirichlet conditions are built in (PDE '{spec.name}', {bc.axis})")
            if bc.kind == "neumann" or (bc.kind == "initial" and bc.order > 0):
                raise ConfigError(f"nsm: the mollifier builds in u = 0 and u(0) = u0 only (PDE '{spec.name}')")
        if spec.input_role is None:
            raise ConfigError(f"nsm: PDE '{spec.name}' takes no input function (source or initial condition)")

    def _dirichlet_factor(self) -> Tensor:
        """``prod sin(pi xhat_i)`` over the Dirichlet axes on the collocation grid (ones without them)."""
        mesh = self.basis.mesh(torch.float64)
        factor = torch.ones(self.modes, dtype=torch.float64)
        axes = {self.spec.domain.index(bc.axis) for bc in self.spec.bcs if bc.kind == "dirichlet"}
        for i in sorted(axes):
            axis = self.spec.domain.axes[i]
            xhat = (mesh[i] - axis.bounds[0]) / axis.length
            factor = factor * torch.sin(math.pi * torch.minimum(xhat, 1.0 - xhat))  # exactly 0 at both ends
        return factor

    def _time_factor(self) -> Tensor:
        """``t / T`` on the collocation grid (time-dependent problems), else ones."""
        if not self.time_dependent:
            return torch.ones(self.modes, dtype=torch.float64)
        axis = self.spec.domain.axes[0]
        return (self.basis.mesh(torch.float64)[0] - axis.bounds[0]) / axis.length

    # -- the network ----------------------------------------------------------------------------
    def activate(self, c: Tensor) -> Tensor:
        """``T sigma(T^-1 c)``: the activation on the collocation grid."""
        return self.basis.transform(self.act(self.basis.inverse(c)))

    def input_coefficients(self, x: Tensor) -> Tensor:
        """The input's series on the model's basis, ``(B, C_in, *modes)`` complex (a time-independent input as the
        ``T_0`` coefficient in time)."""
        ib = self.input_basis
        if x.ndim != ib.ndim + 2 or x.shape[1] != self.in_channels:
            raise DataError(
                f"nsm: expected input (B, {self.in_channels}, *{ib.domain.names}) with {ib.ndim} grid axes, "
                f"got shape {tuple(x.shape)}"
            )
        c = SpectralBasis(ib.domain, x.shape[2:]).transform(x)
        c = SpectralBasis(ib.domain, x.shape[2:]).resize(c, ib.shape)
        if self.time_dependent:
            pad = torch.zeros(*c.shape[:2], self.modes[0] - 1, *c.shape[2:], dtype=c.dtype, device=c.device)
            c = torch.cat([c.unsqueeze(2), pad], dim=2)
        return c

    def network(self, c_in: Tensor) -> Tensor:
        """The un-mollified output series ``(B, C_out, *modes)``."""
        feats = torch.complex(self.feature_real.double(), self.feature_imag.double()).to(c_in.dtype)
        c = torch.cat([c_in, feats.unsqueeze(0).expand(c_in.shape[0], -1, *self.modes)], dim=1)
        c = self.lift(c)
        for k, (spectral, mixing) in enumerate(zip(self.spectral, self.mixing)):
            c = spectral(c) + mixing(c)
            if k < len(self.spectral) - 1:
                c = self.activate(c)
        return self.project_out(self.activate(self.project_hidden(c)))

    def mollify(self, values: Tensor, c_in: Tensor) -> Tensor:
        """The mollifier on the collocation grid, ``values: (B, C_out, *modes)`` real."""
        u = self.mollifier_scale * values * self.dirichlet_factor.to(values.dtype)
        if self.time_dependent:
            u0 = self.basis.inverse(c_in)  # constant in time: the initial condition's series
            u = u0 + u * self.time_factor.to(values.dtype)
        return u

    def grid_values(self, x: Tensor) -> Tensor:
        """Values of the output series on the model's own collocation grid, ``(B, C_out, *modes)``."""
        c_in = self.input_coefficients(x)
        if self.time_dependent and self.out_channels != self.in_channels:
            raise ConfigError("nsm: with an initial condition, out_channels must equal in_channels")
        return self.mollify(self.basis.inverse(self.network(c_in)), c_in)

    def coefficients(self, x: Tensor) -> Tensor:
        """The output series ``(B, C_out, *modes)`` (complex, :class:`SpectralBasis` convention)."""
        return self.basis.transform(self.grid_values(x))

    def evaluate_at(self, x: Tensor, points: list[Tensor]) -> Tensor:
        """Output at the tensor grid of ``points`` (one 1-D tensor of physical coordinates per axis, time first),
        ``(B, C_out, M_0, ...)``."""
        return self.basis.evaluate_at(self.coefficients(x), points)

    def to_layout(self, u: Tensor) -> Tensor:
        return u.transpose(1, 2) if self.time_dependent else u

    def forward(self, x: Tensor) -> Tensor:
        u = self.grid_values(x)
        if self.output_shape != self.modes:
            u = self.basis.evaluate(self.basis.transform(u), self.output_shape).to(u.dtype)
        return self.to_layout(u)

"""Unstacked DeepONet (Lu et al. 2021) on gridded fields.

``G(a)(y)_c = sum_k b_ck(a) t_ck(y) + beta_c``: the branch net sees the input at a fixed ``sensors^ndim`` grid
of sensors, the trunk net sees the output coordinate ``y`` in ``[0, 1]^ndim``. Shapes:
``(B, in_channels, *S) -> (B, out_channels, *S)`` with ``len(S) == ndim``.

Grids include both endpoints (``y_j = j / (n - 1)``, as FNO's grid features), and the sensor values are a
(bi/tri)linear interpolation of the input on that grid, so one model evaluates at any resolution.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from specsolve.errors import ConfigError

_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


def mlp(in_features: int, width: int, out_features: int, layers: int, final_activation: bool) -> nn.Sequential:
    """``layers`` linear layers with GELU between them (and after the last one if ``final_activation``)."""
    sizes = [in_features] + [width] * (layers - 1) + [out_features]
    modules: list[nn.Module] = []
    for i in range(layers):
        modules.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < layers - 1 or final_activation:
            modules.append(nn.GELU())
    return nn.Sequential(*modules)


def unit_grid(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """Coordinates ``(prod(shape), ndim)`` of the grid ``linspace(0, 1, n)`` per axis, in C order."""
    axes = [torch.linspace(0.0, 1.0, n, dtype=dtype, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(shape))


class DeepONet(nn.Module):
    """Unstacked DeepONet: ``u_c(y) = sum_k branch(a)_ck * trunk(y)_ck + bias_c``.

    Parameters
    ----------
    in_channels, out_channels : channels of the input and output fields.
    ndim : number of spatial dimensions (1, 2 or 3).
    sensors : sensors per axis; the branch sees ``in_channels * sensors**ndim`` values.
    basis : number ``p`` of basis functions per output channel.
    width : hidden width of both MLPs.
    branch_layers, trunk_layers : linear layers in each MLP (the trunk ends with an activation, as in the paper).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: Literal[1, 2, 3] = 2,
        sensors: int = 16,
        basis: int = 32,
        width: int = 64,
        branch_layers: int = 3,
        trunk_layers: int = 3,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ConfigError(f"deeponet: in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}")
        for key, value in (("sensors", sensors), ("basis", basis), ("width", width)):
            if value < 1:
                raise ConfigError(f"deeponet: {key} must be >= 1, got {value}")
        if sensors < 2:
            raise ConfigError(f"deeponet: sensors must be >= 2 (sensors sit on both ends of each axis), got {sensors}")
        if branch_layers < 1 or trunk_layers < 1:
            raise ConfigError("deeponet: branch_layers and trunk_layers must be >= 1")
        self.ndim, self.sensors, self.basis, self.out_channels = ndim, sensors, basis, out_channels
        self.branch = mlp(
            in_channels * sensors**ndim, width, out_channels * basis, branch_layers, final_activation=False
        )
        self.trunk = mlp(ndim, width, out_channels * basis, trunk_layers, final_activation=True)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def sensor_values(self, x: Tensor) -> Tensor:
        """The input at the ``sensors^ndim`` sensor grid, flattened: ``(B, in_channels * sensors**ndim)``."""
        size = (self.sensors,) * self.ndim
        if tuple(x.shape[2:]) != size:
            x = F.interpolate(x, size=size, mode=_INTERPOLATION[self.ndim], align_corners=True)
        return x.flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != self.ndim + 2:
            raise ValueError(
                f"deeponet (ndim={self.ndim}) expects (batch, channels, *{self.ndim} axes), got {tuple(x.shape)}"
            )
        spatial = tuple(x.shape[2:])
        coeffs = self.branch(self.sensor_values(x)).view(x.shape[0], self.out_channels, self.basis)
        basis = self.trunk(unit_grid(spatial, x.dtype, x.device)).view(-1, self.out_channels, self.basis)
        out = torch.einsum("bck,nck->bcn", coeffs, basis) + self.bias.view(1, -1, 1)
        return out.reshape(x.shape[0], self.out_channels, *spatial)

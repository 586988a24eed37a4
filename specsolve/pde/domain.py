"""Box domains and their grids.

A :class:`Domain` is a tensor product of :class:`Axis` intervals (every method in specsolve assumes a box). The
time axis, if any, is the first axis. Grid kinds:

- ``uniform_closed``: ``a + (b - a) j / (n - 1)``, endpoints included (GP-HM, EPGP, finite differences);
- ``uniform_open``: ``a + (b - a) j / n``, right endpoint excluded (FFT; the default on periodic axes);
- ``cheb_lobatto``: Chebyshev-Gauss-Lobatto points ``a + (b - a)(1 - cos(pi j / (n - 1))) / 2`` in **ascending**
  order (NSM stores them descending; specsolve keeps every grid ascending so time runs forward along the array).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

GridKind = Literal["uniform_closed", "uniform_open", "cheb_lobatto"]
GRID_KINDS: tuple[str, ...] = ("uniform_closed", "uniform_open", "cheb_lobatto")


def grid_points(a: float, b: float, n: int, kind: str, dtype: torch.dtype | None = None) -> Tensor:
    """1-D grid of ``n`` points on ``[a, b]`` of the given kind (ascending)."""
    dtype = dtype or torch.get_default_dtype()
    if kind not in GRID_KINDS:
        raise ValueError(f"unknown grid kind '{kind}'; kinds: {', '.join(GRID_KINDS)}")
    if n < 1 or (n < 2 and kind != "uniform_open"):
        raise ValueError(f"a '{kind}' grid needs at least 2 points, got {n}")
    j = torch.arange(n, dtype=torch.float64)
    if kind == "uniform_open":
        x = a + (b - a) * j / n
    elif kind == "uniform_closed":
        x = a + (b - a) * j / (n - 1)
    else:
        x = a + (b - a) * (1.0 - torch.cos(math.pi * j / (n - 1))) / 2.0
    return x.to(dtype)


@dataclass(frozen=True)
class Axis:
    """One coordinate interval ``[bounds[0], bounds[1]]``; ``periodic`` axes identify the two ends."""

    name: str
    bounds: tuple[float, float] = (0.0, 1.0)
    periodic: bool = False
    is_time: bool = False

    def __post_init__(self) -> None:
        a, b = self.bounds
        if not b > a:
            raise ValueError(f"axis '{self.name}': bounds must satisfy a < b, got {self.bounds}")
        if self.is_time and self.periodic:
            raise ValueError(f"axis '{self.name}': a time axis cannot be periodic")

    @property
    def length(self) -> float:
        return float(self.bounds[1] - self.bounds[0])

    def default_kind(self, spectral: bool = False) -> str:
        """``uniform_open`` on periodic axes; ``cheb_lobatto`` (spectral) or ``uniform_closed`` otherwise."""
        if self.periodic:
            return "uniform_open"
        return "cheb_lobatto" if spectral else "uniform_closed"

    def points(self, n: int, kind: str | None = None, dtype: torch.dtype | None = None) -> Tensor:
        return grid_points(self.bounds[0], self.bounds[1], n, kind or self.default_kind(), dtype)


@dataclass(frozen=True)
class Domain:
    """Tensor-product box ``axes[0] x axes[1] x ...``; the time axis, if any, must come first."""

    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", tuple(self.axes))
        names = [a.name for a in self.axes]
        if len(set(names)) != len(names):
            raise ValueError(f"axis names must be unique, got {names}")
        times = [i for i, a in enumerate(self.axes) if a.is_time]
        if len(times) > 1 or (times and times[0] != 0):
            raise ValueError("at most one time axis, and it must be the first axis")

    @classmethod
    def box(
        cls,
        dim: int,
        length: float = 1.0,
        periodic: bool = True,
        time: float | None = None,
        names: Sequence[str] = ("x", "y", "z"),
    ) -> Domain:
        """``[0, length]^dim`` (optionally preceded by a time axis ``t in [0, time]``)."""
        if not 1 <= dim <= len(names):
            raise ValueError(f"dim must be in 1..{len(names)}, got {dim}")
        axes = [Axis(names[i], (0.0, float(length)), periodic) for i in range(dim)]
        if time is not None:
            axes.insert(0, Axis("t", (0.0, float(time)), False, is_time=True))
        return cls(tuple(axes))

    # -- properties -------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(a.length for a in self.axes)

    @property
    def volume(self) -> float:
        return math.prod(self.lengths)

    @property
    def time_axis(self) -> int | None:
        return 0 if self.axes and self.axes[0].is_time else None

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        return tuple(i for i, a in enumerate(self.axes) if not a.is_time)

    @property
    def periodic_axes(self) -> tuple[int, ...]:
        return tuple(i for i, a in enumerate(self.axes) if a.periodic)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no axis '{name}' in domain with axes {self.names}") from None

    # -- grids ------------------------------------------------------------------------------------
    def kinds(self, kind: str | Sequence[str | None] | None = None, spectral: bool = False) -> tuple[str, ...]:
        """Resolve a grid-kind request to one kind per axis (``None`` entries take the axis default)."""
        if kind is None or isinstance(kind, str):
            kind = [kind] * self.ndim
        if len(kind) != self.ndim:
            raise ValueError(f"need {self.ndim} grid kinds, got {len(kind)}")
        return tuple(k or a.default_kind(spectral) for k, a in zip(kind, self.axes))

    def grid(
        self,
        n: int | Sequence[int],
        kind: str | Sequence[str | None] | None = None,
        dtype: torch.dtype | None = None,
        spectral: bool = False,
    ) -> tuple[Tensor, ...]:
        """1-D coordinate vectors, one per axis."""
        ns = [n] * self.ndim if isinstance(n, int) else list(n)
        if len(ns) != self.ndim:
            raise ValueError(f"need {self.ndim} grid sizes, got {len(ns)}")
        kinds = self.kinds(kind, spectral)
        return tuple(a.points(m, k, dtype) for a, m, k in zip(self.axes, ns, kinds))

    def mesh(
        self,
        n: int | Sequence[int],
        kind: str | Sequence[str | None] | None = None,
        dtype: torch.dtype | None = None,
        spectral: bool = False,
    ) -> tuple[Tensor, ...]:
        """Full coordinate arrays (``meshgrid(..., indexing="ij")``), each of shape ``(n_0, ..., n_{d-1})``."""
        return tuple(torch.meshgrid(*self.grid(n, kind, dtype, spectral), indexing="ij"))

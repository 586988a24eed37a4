"""Darcy flow ``-∇·(a ∇u) = f`` on (0,1)², ``u = 0`` on the boundary (FNO recipe, references/data.md §1.2)."""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from specsolve.data.generation import Layout
from specsolve.data.grf import neumann_grf_2d, sample_rng
from specsolve.data.native import VariableSpec
from specsolve.errors import ConfigError
from specsolve.registry import register


def darcy_matrix(a: np.ndarray) -> scipy.sparse.csc_matrix:
    """5-point finite-difference matrix of ``-∇·(a∇·)`` on the interior of a ``K x K`` vertex grid of [0,1]².

    Face coefficients are arithmetic means of the vertex values (FNO's ``solve_gwf.m``); zero Dirichlet values;
    scaled by ``1/h²``, ``h = 1/(K-1)``. Unknowns are the ``(K-2)²`` interior nodes in C order.
    """
    k = a.shape[0]
    m = k - 2
    h2 = 1.0 / (k - 1) ** 2
    east = 0.5 * (a[1:-1, 1:-1] + a[2:, 1:-1])
    west = 0.5 * (a[1:-1, 1:-1] + a[:-2, 1:-1])
    north = 0.5 * (a[1:-1, 1:-1] + a[1:-1, 2:])
    south = 0.5 * (a[1:-1, 1:-1] + a[1:-1, :-2])
    idx = np.arange(m * m).reshape(m, m)
    rows = [idx.ravel()]
    cols = [idx.ravel()]
    vals = [(east + west + north + south).ravel()]
    for coef, (di, dj) in ((east, (1, 0)), (west, (-1, 0)), (north, (0, 1)), (south, (0, -1))):
        i0, i1 = max(0, -di), m - max(0, di)
        j0, j1 = max(0, -dj), m - max(0, dj)
        rows.append(idx[i0:i1, j0:j1].ravel())
        cols.append(idx[i0 + di : i1 + di, j0 + dj : j1 + dj].ravel())
        vals.append(-coef[i0:i1, j0:j1].ravel())
    matrix = scipy.sparse.coo_matrix(
        (np.concatenate(vals) / h2, (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m)
    )
    return matrix.tocsc()


def solve_darcy(a: np.ndarray, f: np.ndarray | float = 1.0) -> np.ndarray:
    """Solve ``-∇·(a∇u) = f``, ``u|∂ = 0`` on the ``K x K`` vertex grid; returns ``u`` on the full grid."""
    k = a.shape[0]
    rhs = np.broadcast_to(np.asarray(f, dtype=np.float64), a.shape)[1:-1, 1:-1].ravel()
    interior = scipy.sparse.linalg.spsolve(darcy_matrix(a), rhs, permc_spec="MMD_AT_PLUS_A")
    u = np.zeros((k, k))
    u[1:-1, 1:-1] = interior.reshape(k - 2, k - 2)
    return u


@register("generator", "darcy")
class DarcyGenerator:
    """FNO Darcy data: ``a = ψ(GRF)`` with covariance ``(-Δ + τ²)^-α`` (α=2, τ=3), thresholded at 0 to ``high``
    (>= 0) / ``low``; ``f = source``; solved on a ``solve_resolution`` vertex grid and subsampled by stride to
    ``resolution`` (FNO: 421 -> 85 with stride 5). ``low=3`` is the paper, ``low=4`` the released script.
    """

    def __init__(
        self,
        resolution: int = 85,
        solve_resolution: int | None = None,
        alpha: float = 2.0,
        tau: float = 3.0,
        high: float = 12.0,
        low: float = 3.0,
        source: float = 1.0,
    ) -> None:
        solve_resolution = solve_resolution or resolution
        if resolution < 3 or solve_resolution < resolution:
            raise ConfigError("darcy: need 3 <= resolution <= solve_resolution")
        if (solve_resolution - 1) % (resolution - 1):
            raise ConfigError(
                f"darcy: solve_resolution-1 ({solve_resolution - 1}) must be a multiple of resolution-1 "
                f"({resolution - 1}) so the output grid is a stride of the solve grid"
            )
        self.resolution, self.solve_resolution = resolution, solve_resolution
        self.stride = (solve_resolution - 1) // (resolution - 1)
        self.alpha, self.tau, self.high, self.low, self.source = alpha, tau, high, low, source

    def layout(self) -> Layout:
        x = np.linspace(0.0, 1.0, self.resolution)
        coord_attrs = {d: {"units": "1", "long_name": f"{d} coordinate", "grid": "vertex"} for d in ("x", "y")}
        return Layout(
            coords={"x": x, "y": x.copy()},
            variables={
                "a": VariableSpec(("x", "y"), attrs={"long_name": "permeability coefficient a(x, y)", "units": "1"}),
                "u": VariableSpec(("x", "y"), attrs={"long_name": "pressure solution u(x, y)", "units": "1"}),
            },
            coord_attrs=coord_attrs,
            attrs={
                "pde": "darcy",
                "equation": "-div(a grad u) = f on (0,1)^2, u = 0 on the boundary",
                "solver": "5-point finite differences, arithmetic face means, sparse LU",
                "solve_resolution": self.solve_resolution,
            },
        )

    def coefficient(self, rng: np.random.Generator) -> np.ndarray:
        field = neumann_grf_2d(rng, self.solve_resolution, self.alpha, self.tau)
        return np.where(field >= 0.0, self.high, self.low)

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        s = self.stride
        a_out, u_out = [], []
        for index in indices:
            a = self.coefficient(sample_rng(seed, index))
            u = solve_darcy(a, self.source)
            a_out.append(a[::s, ::s])
            u_out.append(u[::s, ::s])
        return {"a": np.stack(a_out).astype(np.float32), "u": np.stack(u_out).astype(np.float32)}

"""Darcy finite differences (the generator's solver) against an independent P1 finite-element solver (scikit-fem).

Same problem, ``-∇·(a∇u) = 1`` on (0,1)², ``u = 0`` on the boundary, same vertex grid: the two discretisations
differ at O(h²) for a smooth coefficient, so their nodal difference must shrink ~4x per refinement; for a
thresholded (12 / 3) coefficient, as in the FNO data, both converge at a lower rate and must still approach each other.
"""

from __future__ import annotations

import numpy as np
import pytest

from specsolve.data.generators.darcy import solve_darcy

skfem = pytest.importorskip("skfem")


def smooth(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 1 + 0.5 * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y)


def jump(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y) + 0.3 * np.cos(4 * np.pi * x) >= 0, 12.0, 3.0)


def fem_p1(k: int, coefficient) -> np.ndarray:
    """P1 FEM on the structured triangulation of the ``k x k`` vertex grid; the coefficient is evaluated at the
    quadrature points. Returns the nodal values as a ``(k, k)`` array (``ij`` indexing)."""
    from skfem import Basis, BilinearForm, ElementTriP1, LinearForm, MeshTri, asm, condense, solve
    from skfem.helpers import dot, grad

    x = np.linspace(0.0, 1.0, k)
    basis = Basis(MeshTri.init_tensor(x, x), ElementTriP1(), intorder=4)

    @BilinearForm
    def stiffness(u, v, w):
        return coefficient(w.x[0], w.x[1]) * dot(grad(u), grad(v))

    @LinearForm
    def load(v, w):
        return 1.0 * v

    u = solve(*condense(asm(stiffness, basis), asm(load, basis), D=basis.get_dofs()))
    p = basis.mesh.p
    grid = np.zeros((k, k))
    grid[np.rint(p[0] * (k - 1)).astype(int), np.rint(p[1] * (k - 1)).astype(int)] = u[: p.shape[1]]
    return grid


def fd(k: int, coefficient) -> np.ndarray:
    x = np.linspace(0.0, 1.0, k)
    X, Y = np.meshgrid(x, x, indexing="ij")
    return solve_darcy(coefficient(X, Y), 1.0)


def test_fd_and_fem_agree_at_second_order_for_a_smooth_coefficient() -> None:
    diffs = []
    for k in (17, 33, 65):
        u_fd, u_fem = fd(k, smooth), fem_p1(k, smooth)
        diffs.append(np.abs(u_fd - u_fem).max() / np.abs(u_fem).max())
    rates = np.log2(np.array(diffs[:-1]) / diffs[1:])
    assert np.all((1.8 < rates) & (rates < 2.2)), (diffs, rates)
    assert diffs[-1] < 1e-3


def test_fd_and_fem_approach_each_other_for_a_thresholded_coefficient() -> None:
    diffs = []
    for k in (17, 33, 65):
        u_fd, u_fem = fd(k, jump), fem_p1(k, jump)
        diffs.append(np.linalg.norm(u_fd - u_fem) / np.linalg.norm(u_fem))
    assert diffs[0] > diffs[1] > diffs[2], diffs
    assert diffs[2] < 0.03 and diffs[0] / diffs[2] > 2.0, diffs

"""PDE specifications shared by losses, GP solvers and data generators.

- :mod:`~specsolve.pde.domain`: ``Axis``, ``Domain`` and grids (``uniform_closed``, ``uniform_open``, ``cheb_lobatto``);
- :mod:`~specsolve.pde.operators`: ``LinearOperator`` (``{multi-index: coefficient}``, ``fourier_symbol``,
  ``polynomial``) and the single Fourier convention ``d/dx -> 2 pi i k / L``;
- :mod:`~specsolve.pde.spec`: ``PDESpec`` (linear part, pointwise terms, source, boundary conditions, exact solution);
- :mod:`~specsolve.pde.spectral`: Fourier x Chebyshev ``TensorBasis`` (NSM);
- :mod:`~specsolve.pde.derivatives`: grid derivatives (finite differences / spectral) and autograd derivatives;
- :mod:`~specsolve.pde.library`: built-ins, ``get_pde("poisson", dim=2)``.
"""

from specsolve.pde.autograd import autograd_derivatives
from specsolve.pde.derivatives import fd_derivative, grid_derivative, grid_derivatives
from specsolve.pde.domain import Axis, Domain, grid_points
from specsolve.pde.library import get_pde, list_pdes, register_pde
from specsolve.pde.operators import (
    LinearOperator,
    MultiIndex,
    derivative,
    fourier_factor,
    identity,
    laplacian,
    wavenumbers,
)
from specsolve.pde.spec import AuxField, BoundaryCondition, Derivatives, PDESpec, PointwiseTerm, as_key
from specsolve.pde.spectral import TensorBasis

__all__ = [
    "Axis",
    "AuxField",
    "BoundaryCondition",
    "Derivatives",
    "Domain",
    "LinearOperator",
    "MultiIndex",
    "PDESpec",
    "PointwiseTerm",
    "TensorBasis",
    "as_key",
    "autograd_derivatives",
    "derivative",
    "fd_derivative",
    "fourier_factor",
    "get_pde",
    "grid_derivative",
    "grid_derivatives",
    "grid_points",
    "identity",
    "laplacian",
    "list_pdes",
    "register_pde",
    "wavenumbers",
]

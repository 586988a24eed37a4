"""PDE specifications shared by the losses, the GP solvers, spectral refinement and the data generators.

- :mod:`~specsolve.pde.domain`: ``Axis``, ``Domain`` and grids (``uniform_closed``, ``uniform_open``, ``cheb_lobatto``);
- :mod:`~specsolve.pde.operators`: ``LinearOperator`` (``{multi-index: coefficient}``, ``fourier_symbol``,
  ``polynomial``) and the single Fourier convention ``d/dx -> 2 pi i k / L``;
- :mod:`~specsolve.pde.spec`: ``PDESpec`` (linear part, pointwise terms, source, boundary conditions, exact solution);
- :mod:`~specsolve.pde.spectral`: Fourier x Chebyshev ``TensorBasis`` (NSM);
- :mod:`~specsolve.pde.derivatives`: grid derivatives (finite differences / spectral) and autograd derivatives;
- :mod:`~specsolve.pde.keys`: derivative keys ``(field, alpha)`` and the ``Derivatives`` dict;
- :mod:`~specsolve.pde.autograd`: derivatives of callables by autograd (exact solutions, manufactured sources);
- :mod:`~specsolve.pde.library`: the built-in PDEs, registered as kind ``pde`` (``get_pde("poisson", dim=2)``);
- :mod:`~specsolve.pde.problems`: GP benchmark problems (a registered PDE + box + exact solution), kind ``problem``;
- :mod:`~specsolve.pde.vorticity`: the pseudo-spectral Navier-Stokes vorticity operator (generator, refinement);
- :mod:`~specsolve.pde.residual`: helpers of the residual losses.

Axis order: a ``Domain``'s time axis comes first (:mod:`~specsolve.pde.domain`); the GP solvers' order (time last)
is derived from it in :mod:`~specsolve.pde.problems`.
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

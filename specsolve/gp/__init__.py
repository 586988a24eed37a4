"""Public building blocks of the Gaussian-process PDE solvers.

- :mod:`specsolve.gp.kernels`: spectral-mixture kernels on uniform grids and their derivatives (GP-HM).
- :mod:`specsolve.gp.kron`: Kronecker-structured solves, log-determinants and matrix-vector products.
- :mod:`specsolve.gp.ehrenpreis`: Ehrenpreis-Palamodov varieties, features and Woodbury / dense posteriors (EPGP).
- :mod:`specsolve.gp.common`: dtype parsing, grid coordinates, error metrics, point posteriors on grids.
"""

from specsolve.gp.kernels import SpectralMixture1d, UniformGridKernel
from specsolve.gp.kron import kron_logdet, kron_mv, kron_solve

__all__ = ["SpectralMixture1d", "UniformGridKernel", "kron_logdet", "kron_mv", "kron_solve"]

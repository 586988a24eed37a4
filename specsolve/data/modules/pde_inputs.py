"""The ``pde_inputs`` dataset: input functions only (sources or initial conditions), for training from a PDE residual
alone (Neural Spectral Methods, PINN losses): no solution data is generated or read.

Batches are ``(x, y)`` with ``x: (B, 1, *shape)`` on the collocation grid of ``shape`` (``uniform_open`` on periodic
axes, ascending Chebyshev-Lobatto points otherwise; ``kind="uniform"``: uniform grids with both ends on the
non-periodic axes, for grid (PINN) losses) and ``y: (B, 0)``, an empty placeholder the residual losses ignore.
Normalisation statistics are the identity (a mollified model adds the raw initial condition to its output).

Samplers (NSM's input distributions, references/gp_and_spectral_losses.md §3.3), on ``[0, 1]^d``:

- ``chebyshev_rbf``: a GP with the RBF kernel ``exp(-|x - y|^2 / (2 l^2))`` (NSM's Dirichlet Poisson source,
  ``l = 0.2``), drawn exactly on the tensor grid (the kernel is a product over axes: one factor per axis);
- ``periodic_minmax``: NSM's periodic-kernel GP ``exp(-sum sin^2(pi (x - y)) / (2 l^2))`` on ``sample_points``
  per axis, min-max normalised to ``[0, 1]`` (reaction-diffusion initial condition, ``l = 0.2``, 64 points);
- ``periodic_mean_free``: the same GP with its mean removed (Navier-Stokes initial vorticity, ``l = 0.8``).

The periodic samples are resampled to ``shape`` in Fourier space (truncation keeps ``|k| < n / 2``).
"""

from __future__ import annotations

from typing import Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from specsolve.data.generators.periodic import periodic_kernel_grf
from specsolve.data.grf import sample_rng
from specsolve.data.modules.loaders import SplitLoaders, Workers, check_workers
from specsolve.errors import ConfigError
from specsolve.pde import Axis, Domain, TensorBasis
from specsolve.registry import register

Sampler = Literal["chebyshev_rbf", "periodic_minmax", "periodic_mean_free"]


def rbf_factor(points: np.ndarray, length_scale: float) -> np.ndarray:
    """``A`` with ``A A^T = K``, ``K_ij = exp(-(x_i - x_j)^2 / (2 l^2))`` (symmetric square root, clipped)."""
    K = np.exp(-((points[:, None] - points[None, :]) ** 2) / (2 * length_scale**2))
    lam, V = np.linalg.eigh(K)
    return V * np.sqrt(np.clip(lam, 0.0, None))


def fourier_resample(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Periodic grid values (last ``len(shape)`` axes) resampled to ``shape`` through their Fourier series."""
    domain = Domain(tuple(Axis(f"x{i}", (0.0, 1.0), True) for i in range(len(shape))))
    fine = TensorBasis(domain, values.shape[-len(shape) :])
    c = fine.resize(fine.transform(torch.from_numpy(values)), shape)
    return TensorBasis(domain, shape).inverse(c).numpy()


class InputSamples(Dataset):
    """``n`` seeded input functions on one grid; item ``i`` is ``(x_i, empty)``."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = torch.from_numpy(values.astype(np.float32)).unsqueeze(1)
        self.spatial_shape = tuple(values.shape[1:])
        self.info = self

    def layout(self, names: list[str]) -> dict[str, dict]:
        return {}

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.values[i], torch.zeros(0)


@register("dataset", "pde_inputs")
class PDEInputsDataModule(SplitLoaders, L.LightningDataModule):
    """Input functions for residual-only training; see the module docstring.

    Parameters
    ----------
    sampler : ``chebyshev_rbf``, ``periodic_minmax`` or ``periodic_mean_free``. shape : grid size per axis of the
        input (the model's input grid: for an initial condition, the spatial axes). kind : ``collocation`` (NSM) or
        ``uniform`` (grid losses; ``chebyshev_rbf`` only differs). length_scale : GP length scale.
    sample_points : grid the periodic GPs are drawn on (NSM: 64). n_train, batch_size, num_workers, workers, seed :
        sizes, loader settings (as ``hdf5``) and the seed of the draws (sample ``i`` from ``sample_rng(seed, i)``).
    """

    def __init__(
        self,
        sampler: Sampler,
        shape: list[int],
        kind: Literal["collocation", "uniform"] = "collocation",
        length_scale: float = 0.2,
        sample_points: int = 64,
        n_train: int = 256,
        batch_size: int = 16,
        num_workers: int = 0,
        workers: Workers = "processes",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if sampler not in ("chebyshev_rbf", "periodic_minmax", "periodic_mean_free"):
            raise ConfigError(
                f"data.sampler must be chebyshev_rbf, periodic_minmax or periodic_mean_free, got {sampler!r}"
            )
        if kind not in ("collocation", "uniform"):
            raise ConfigError(f"data.kind must be 'collocation' or 'uniform', got {kind!r}")
        if not shape or any(int(n) < 2 for n in shape):
            raise ConfigError(f"data.shape must list grid sizes >= 2, got {shape}")
        if n_train < 1 or batch_size < 1 or num_workers < 0 or length_scale <= 0 or sample_points < 2:
            raise ConfigError("data: need n_train, batch_size >= 1, num_workers >= 0, length_scale > 0")
        self.sampler, self.shape, self.kind = sampler, tuple(int(n) for n in shape), kind
        self.length_scale, self.sample_points = float(length_scale), int(sample_points)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.workers = check_workers(workers)
        self.inputs, self.outputs = ["a"], ["u"]
        self.in_channels = self.out_channels = 1
        self.n_train, self.stride, self.eval_strides = n_train, 1, []
        self.paths = {"train": f"<{sampler} samples>", "val": None, "test": None}
        self.datasets = {"train": InputSamples(self.sample(np.arange(n_train), seed))}
        self.spatial_shape = self.shape

    def grid(self) -> list[np.ndarray]:
        """The 1-D grids of the input (``[0, 1]`` per axis)."""
        if self.sampler != "chebyshev_rbf":
            return [np.arange(n) / n for n in self.shape]
        if self.kind == "uniform":
            return [np.linspace(0.0, 1.0, n) for n in self.shape]
        return [(1.0 - np.cos(np.pi * np.arange(n) / (n - 1))) / 2.0 for n in self.shape]

    def sample(self, indices: np.ndarray, seed: int) -> np.ndarray:
        """Input functions ``(len(indices), *shape)`` (float64), sample ``i`` from ``sample_rng(seed, i)``."""
        out = []
        if self.sampler == "chebyshev_rbf":
            factors = [rbf_factor(p, self.length_scale) for p in self.grid()]
            for i in indices:
                v = sample_rng(seed, int(i)).standard_normal(self.shape)
                for axis, A in enumerate(factors):
                    v = np.moveaxis(np.tensordot(A, v, axes=([1], [axis])), 0, axis)
                out.append(v)
            return np.stack(out)
        drawn = (self.sample_points,) * len(self.shape)
        for i in indices:
            v = periodic_kernel_grf(sample_rng(seed, int(i)), drawn, self.length_scale)
            if self.sampler == "periodic_minmax":
                v = (v - v.min()) / (v.max() - v.min())
            else:
                v = v - v.mean()
            out.append(v)
        return fourier_resample(np.stack(out), self.shape)

    def normalization_statistics(self) -> dict:
        return {}

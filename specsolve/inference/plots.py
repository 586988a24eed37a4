"""Figures (matplotlib, PNG): samples (truth / prediction / error, plus the posterior std of GP outputs), time
strips, energy spectra, error against resolution, error against rollout step, the calibration of a posterior std or
ensemble (interval coverage and PIT), and training curves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from specsolve.data.native import SPATIAL_DIMS, variable_dims
from specsolve.data.readers import open_hdf5
from specsolve.errors import DataError
from specsolve.figures import pyplot, save_figure
from specsolve.inference.evaluate import grid_stride, prediction_variables
from specsolve.pde.operators import wavenumbers
from specsolve.training.curves import plot_training_curves, read_metrics_csv

__all__ = [
    "axis_label",
    "coordinate_values",
    "energy_spectrum",
    "has_time_axis",
    "image_extent",
    "plot_coverage",
    "plot_resolution",
    "plot_rollout",
    "plot_samples",
    "plot_spectrum",
    "plot_time_strip",
    "plot_training_curves",
    "read_metrics_csv",
]


def _std_variable(pred, name: str) -> str | None:
    """The posterior-std variable of ``name`` in a GP output (``u`` -> ``u_std`` with ``role = posterior_std``)."""
    candidate = f"{name}_std"
    if candidate in pred and pred[candidate].attrs.get("role") == "posterior_std":
        return candidate
    return None


def _reference_key(pred, ref, dims: tuple[str, ...]) -> tuple[slice, ...]:
    return tuple(slice(None, None, grid_stride(pred, ref, d)) if d in SPATIAL_DIMS else slice(None) for d in dims[1:])


def _last_frame(a: np.ndarray, n_space: int) -> np.ndarray:
    """Drop leading (time / channel) axes by taking their last entry: ``(..., *space) -> (*space)``."""
    while a.ndim > n_space:
        a = a[-1]
    return a


def axis_label(f, name: str) -> str:
    """``long_name [units]`` of a coordinate or variable from its attributes (``name`` without a long name;
    dimensionless ``units = "1"`` is not shown)."""
    attrs = f[name].attrs if name in f else {}
    label = str(attrs.get("long_name", "") or name)
    units = str(attrs.get("units", "") or "")
    return f"{label} [{units}]" if units and units != "1" else label


def coordinate_values(f, dim: str, n: int) -> np.ndarray:
    """The ``n`` values of coordinate ``dim`` (the grid index where the file has no such coordinate)."""
    if dim in f and f[dim].shape == (n,):
        return np.asarray(f[dim][()], dtype=np.float64)
    return np.arange(n, dtype=np.float64)


def image_extent(x: np.ndarray, y: np.ndarray) -> list[float]:
    """``imshow`` extent placing pixel centres on the coordinate values (half a cell beyond the first and last)."""

    def edges(c: np.ndarray) -> tuple[float, float]:
        half = 0.5 * (c[-1] - c[0]) / (len(c) - 1) if len(c) > 1 else 0.5
        return float(c[0] - half), float(c[-1] + half)

    return [*edges(x), *edges(y)]


def is_latitude(f, dim: str) -> bool:
    """Whether coordinate ``dim`` is a latitude (CF: ``standard_name: latitude`` or ``units: degrees_north``)."""
    attrs = f[dim].attrs if dim in f else {}
    return str(attrs.get("standard_name", "")) == "latitude" or str(attrs.get("units", "")) in (
        "degrees_north",
        "degree_north",
    )


def image_axes(f, space: list[str]) -> tuple[int, int]:
    """``(horizontal, vertical)`` indices into ``space`` of a field image: ``space[0]`` horizontal, except a
    latitude, which is drawn vertically (longitude horizontal)."""
    return (1, 0) if is_latitude(f, space[0]) else (0, 1)


def draw_field(ax, field: np.ndarray, coords: list[np.ndarray], hv: tuple[int, int], **imshow: Any):
    """``imshow`` of a field over the first two spatial axes in physical coordinates (``hv`` from
    :func:`image_axes`), coordinates increasing rightwards and upwards (a latitude from 90 to -90: north up)."""
    h, v = hv
    image = field if h == 1 else field.T  # imshow rows are the vertical axis
    im = ax.imshow(image, origin="lower", extent=image_extent(coords[h], coords[v]), **imshow)
    ax.set_xlim(sorted(ax.get_xlim()))
    ax.set_ylim(sorted(ax.get_ylim()))
    return im


def plot_samples(
    pred_path: str | Path, data_path: str | Path, out: str | Path, samples: list[int] | None = None
) -> Path:
    """One row per sample: truth, prediction, |error| (2D images; 3D: the middle z slice) or overlaid lines and the
    error (1D). Time series show their last frame. GP outputs get a fourth column (2D) or a ±2σ band (1D) from the
    posterior standard deviation."""
    plt = pyplot()
    samples = samples or [0, 1, 2]
    with open_hdf5(pred_path) as pred, open_hdf5(data_path) as ref:
        name = prediction_variables(pred)[0]
        dims = variable_dims(pred, name)
        key = _reference_key(pred, ref, dims)
        std_name = _std_variable(pred, name)
        samples = [s for s in samples if s < pred[name].shape[0]]
        if not samples:
            raise DataError(f"{pred_path}: none of the requested samples exist ({pred[name].shape[0]} samples)")
        space = [d for d in dims if d in SPATIAL_DIMS]
        shape = pred[name].shape[-len(space) :]
        coords = [coordinate_values(pred, d, n) for d, n in zip(space, shape)]
        value_label = axis_label(pred, name)
        ncols = 4 if std_name and len(space) > 1 else 3
        fig, axes = plt.subplots(len(samples), ncols, figsize=(3.7 * ncols, 3.2 * len(samples)), squeeze=False)
        for row, s in enumerate(samples):
            p = _last_frame(np.asarray(pred[name][s], dtype=np.float64), len(space))
            r = _last_frame(np.asarray(ref[name][(s, *key)], dtype=np.float64), len(space))
            sd = _last_frame(np.asarray(pred[std_name][s], dtype=np.float64), len(space)) if std_name else None
            err = np.abs(p - r)
            rel = np.linalg.norm(p - r) / max(np.linalg.norm(r), 1e-30)
            if len(space) == 1:
                x = coords[0]
                axes[row, 0].plot(x, r, label="truth")
                axes[row, 0].plot(x, p, "--", label="prediction")
                if sd is not None:
                    axes[row, 0].fill_between(x, p - 2 * sd, p + 2 * sd, alpha=0.3, label="±2σ")
                axes[row, 0].set_title(f"{name}, sample {s}")
                axes[row, 0].set_ylabel(value_label)
                axes[row, 0].legend()
                axes[row, 1].plot(x, p - r, label="prediction - truth")
                if sd is not None:
                    axes[row, 1].plot(x, 2 * sd, ":", label="2σ")
                    axes[row, 1].legend()
                axes[row, 1].set_title(f"error, relative L2 {rel:.3g}")
                for ax in axes[row, :2]:
                    ax.set_xlabel(axis_label(pred, space[0]))
                axes[row, 2].axis("off")
                continue
            where = ""
            if len(space) == 3:
                p, r, err = (a[..., a.shape[-1] // 2] for a in (p, r, err))
                sd = None if sd is None else sd[..., sd.shape[-1] // 2]
                where = f", {space[2]} = {coords[2][len(coords[2]) // 2]:.3g}"
            hv = image_axes(pred, space)
            vmin, vmax = r.min(), r.max()
            for ax, img, title in ((axes[row, 0], r, "truth"), (axes[row, 1], p, "prediction")):
                im = draw_field(ax, img, coords, hv, vmin=vmin, vmax=vmax, cmap="viridis")
                ax.set_title(f"{title} ({name}, sample {s}{where})")
                fig.colorbar(im, ax=ax, shrink=0.8, label=value_label)
            im = draw_field(axes[row, 2], err, coords, hv, cmap="magma")
            fig.colorbar(im, ax=axes[row, 2], shrink=0.8)
            axes[row, 2].set_title(f"|error|, relative L2 {rel:.3g}")
            if sd is not None:
                im = draw_field(axes[row, 3], sd, coords, hv, cmap="magma")
                fig.colorbar(im, ax=axes[row, 3], shrink=0.8)
                axes[row, 3].set_title("posterior std")
            for ax in axes[row, :ncols]:
                ax.set_xlabel(axis_label(pred, space[hv[0]]))
                ax.set_ylabel(axis_label(pred, space[hv[1]]))
        return save_figure(fig, out)


def has_time_axis(pred_path: str | Path) -> bool:
    with open_hdf5(pred_path) as pred:
        return "time" in variable_dims(pred, prediction_variables(pred)[0])


def plot_time_strip(
    pred_path: str | Path, data_path: str | Path, out: str | Path, sample: int = 0, frames: int = 6
) -> Path:
    """Truth, prediction and |error| of one sample at up to ``frames`` evenly spaced times (rows), for variables with
    a ``time`` dim; 1D fields are drawn as space-time images."""
    plt = pyplot()
    with open_hdf5(pred_path) as pred, open_hdf5(data_path) as ref:
        name = prediction_variables(pred)[0]
        dims = variable_dims(pred, name)
        if "time" not in dims:
            raise DataError(f"{pred_path}: variable '{name}' has no time dimension to draw a strip of")
        t_axis = dims.index("time") - 1
        space = [d for d in dims if d in SPATIAL_DIMS]
        p = np.moveaxis(np.asarray(pred[name][sample], dtype=np.float64), t_axis, 0)
        r = np.moveaxis(np.asarray(ref[name][(sample, *_reference_key(pred, ref, dims))], dtype=np.float64), t_axis, 0)
        times = np.asarray(pred["time"]) if "time" in pred else np.arange(p.shape[0])
        shape = pred[name].shape[-len(space) :]
        coords = [coordinate_values(pred, d, n) for d, n in zip(space, shape)]
        labels = [axis_label(pred, d) for d in space]
        time_label = axis_label(pred, "time")
        hv = image_axes(pred, space) if len(space) > 1 else (0, 1)
    # (T, ..., *space) -> (T, *space): keep the last entry of any channel axes
    p = np.stack([_last_frame(f, len(space)) for f in p])
    r = np.stack([_last_frame(f, len(space)) for f in r])
    if len(space) == 1:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), squeeze=False)
        extent = image_extent(coords[0], np.asarray(times, dtype=np.float64))
        vmin, vmax = r.min(), r.max()
        for ax, img, title in (
            (axes[0, 0], r, "truth"),
            (axes[0, 1], p, "prediction"),
            (axes[0, 2], np.abs(p - r), "|error|"),
        ):
            kw = {"vmin": vmin, "vmax": vmax, "cmap": "viridis"} if title != "|error|" else {"cmap": "magma"}
            im = ax.imshow(img, origin="lower", aspect="auto", extent=extent, **kw)
            ax.set_xlabel(labels[0])
            ax.set_ylabel(time_label)
            ax.set_title(f"{title} ({name}, sample {sample})")
            fig.colorbar(im, ax=ax, shrink=0.8)
        return save_figure(fig, out)
    chosen = np.unique(np.linspace(0, p.shape[0] - 1, min(frames, p.shape[0])).round().astype(int))
    fig, axes = plt.subplots(3, len(chosen), figsize=(2.6 * len(chosen), 7.5), squeeze=False)
    vmin, vmax = r[chosen].min(), r[chosen].max()
    emax = np.abs(p[chosen] - r[chosen]).max()
    for col, i in enumerate(chosen):
        pi, ri = p[i], r[i]
        if len(space) == 3:
            pi, ri = pi[..., pi.shape[-1] // 2], ri[..., ri.shape[-1] // 2]
        draw_field(axes[0, col], ri, coords, hv, vmin=vmin, vmax=vmax, cmap="viridis")
        draw_field(axes[1, col], pi, coords, hv, vmin=vmin, vmax=vmax, cmap="viridis")
        draw_field(axes[2, col], np.abs(pi - ri), coords, hv, vmin=0, vmax=emax, cmap="magma")
        axes[0, col].set_title(f"t = {float(times[i]):.3g}")
        axes[2, col].set_xlabel(labels[hv[0]])
        for row in range(3):  # coordinate ticks on the outer panels only
            if row < 2:
                axes[row, col].set_xticklabels([])
            if col > 0:
                axes[row, col].set_yticklabels([])
    for row, label in enumerate(("truth", "prediction", "|error|")):
        axes[row, 0].set_ylabel(f"{label}\n{labels[hv[1]]}")
    fig.suptitle(f"{name}, sample {sample}")
    return save_figure(fig, out)


def energy_spectrum(fields: np.ndarray, n_space: int) -> tuple[np.ndarray, np.ndarray]:
    """Shell-summed energy spectrum ``E(k) = sum_{k-1/2 <= |k'| < k+1/2} |u_hat(k')|^2 / 2`` with ``u_hat = fftn(u) / N``
    of fields ``(B, *space)`` (integer wavenumbers on each axis), averaged over the batch. Returns ``(k, E)``."""
    axes = tuple(range(-n_space, 0))
    shape = fields.shape[-n_space:]
    u_hat = np.fft.fftn(fields, axes=axes) / math.prod(shape)
    energy = 0.5 * (np.abs(u_hat) ** 2).reshape(-1, *shape).mean(0)
    grids = np.meshgrid(*(wavenumbers(n).numpy() for n in shape), indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids))
    shell = np.rint(radius).astype(int).ravel()
    spectrum = np.bincount(shell, weights=energy.ravel())
    k_max = min(n // 2 for n in shape)
    return np.arange(k_max + 1), spectrum[: k_max + 1]


def plot_spectrum(pred_path: str | Path, data_path: str | Path, out: str | Path, max_samples: int = 64) -> Path:
    """Energy spectra of truth and prediction (last frame, all channels, first ``max_samples`` samples), log-log."""
    plt = pyplot()
    with open_hdf5(pred_path) as pred, open_hdf5(data_path) as ref:
        name = prediction_variables(pred)[0]
        dims = variable_dims(pred, name)
        n_space = sum(d in SPATIAL_DIMS for d in dims)
        n = min(max_samples, pred[name].shape[0])
        p = np.asarray(pred[name][:n], dtype=np.float64)
        r = np.asarray(ref[(name)][(slice(0, n), *_reference_key(pred, ref, dims))], dtype=np.float64)
    if "time" in dims:  # last frame only
        t_axis = dims.index("time")
        p, r = np.take(p, -1, axis=t_axis), np.take(r, -1, axis=t_axis)
    k, e_true = energy_spectrum(r, n_space)
    _, e_pred = energy_spectrum(p, n_space)
    _, e_err = energy_spectrum(p - r, n_space)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    sel = k > 0
    ax.loglog(k[sel], e_true[sel], label="truth")
    ax.loglog(k[sel], e_pred[sel], "--", label="prediction")
    ax.loglog(k[sel], e_err[sel], ":", label="error")
    ax.set_xlabel("wavenumber |k|")
    ax.set_ylabel("energy E(k)")
    ax.set_title(f"energy spectrum of {name} ({n} samples)")
    ax.legend()
    return save_figure(fig, out)


def plot_resolution(result: dict[str, Any], out: str | Path) -> Path:
    """Error against resolution from :func:`specsolve.inference.resolution.evaluate_resolutions` (one line per
    metric; x = grid points per axis, log-log), with the training resolution marked."""
    plt = pyplot()
    from matplotlib.ticker import NullLocator

    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    files = list(dict.fromkeys(r.get("data", "") for r in rows))

    def points(r: dict[str, Any]) -> float:
        return float(np.prod(r["grid"])) ** (1.0 / len(r["grid"]))

    for path in files:
        mine = [r for r in rows if r.get("data", "") == path]
        for metric in mine[0]["mean"]:
            label = metric if len(files) == 1 else f"{'/'.join(Path(path).parts[-2:])}: {metric}"
            ax.plot([points(r) for r in mine], [r["mean"][metric] for r in mine], "o-", label=label)
    if result.get("train_grid"):
        g = result["train_grid"]
        ax.axvline(
            float(np.prod(g)) ** (1.0 / len(g)), color="gray", ls=":", label=f"training grid {'x'.join(map(str, g))}"
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = sorted({points(r) for r in rows})
    ax.set_xticks(ticks, labels=[f"{x:.4g}" for x in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("grid points per axis")
    ax.set_ylabel("mean error")
    ax.set_title("error against resolution")
    ax.legend()
    return save_figure(fig, out)


def plot_rollout(result: dict[str, Any], out: str | Path) -> Path:
    """Error against rollout step from :func:`specsolve.inference.rollout.rollout`: the mean relative L2 per predicted
    frame with the 10-90 % band over trajectories."""
    plt = pyplot()
    errors = np.asarray(result["per_sample"], dtype=np.float64)
    time = np.asarray(result["time"], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(time, errors.mean(0), "o-", ms=3, label="mean")
    if errors.shape[0] > 1:
        lo, hi = np.percentile(errors, [10, 90], axis=0)
        ax.fill_between(time, lo, hi, alpha=0.3, label="10-90 %")
    ax.set_xlabel("time")
    ax.set_ylabel("relative L2")
    ax.set_title(f"autoregressive rollout, {result['n_samples']} trajectories, {result['n_in']} context frames")
    ax.legend()
    return save_figure(fig, out)


def plot_coverage(
    pred_path: str | Path, data_path: str | Path, out: str | Path, max_samples: int = 64, levels: int = 19
) -> Path:
    """Calibration of the predictions' uncertainty (a ``<var>_std`` posterior std or ``<var>_samples`` ensemble, see
    :mod:`specsolve.inference.evaluate`): left, the empirical coverage of the central intervals against their nominal
    level (``levels`` levels from 0.05 to 0.95, points of the first ``max_samples`` samples pooled; the diagonal is
    perfect calibration, below it over-confident); right, the histogram of the PIT values ``F(truth)`` (flat when
    calibrated, U-shaped when over-confident). One line per variable that carries an uncertainty."""
    import torch

    from specsolve.inference.evaluate import uncertainty_variable
    from specsolve.metrics.uncertainty import coverage_curve

    plt = pyplot()
    nominal = np.linspace(0.05, 0.95, levels)
    curves: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    with open_hdf5(pred_path) as pred, open_hdf5(data_path) as ref:
        for name in prediction_variables(pred):
            carried = uncertainty_variable(pred, name)
            if carried is None:
                continue
            kind, var = carried
            dims = variable_dims(pred, name)
            n = min(max_samples, pred[name].shape[0])
            mean = torch.from_numpy(np.asarray(pred[name][:n], dtype=np.float64))
            truth = torch.from_numpy(np.asarray(ref[name][(slice(0, n), *_reference_key(pred, ref, dims))], np.float64))
            extra = torch.from_numpy(np.asarray(pred[var][:n], dtype=np.float64))
            if truth.shape != mean.shape:
                raise DataError(f"'{name}': predicted shape {tuple(mean.shape)} vs reference {tuple(truth.shape)}")
            if kind == "std":
                cover = coverage_curve(truth, nominal.tolist(), mean=mean, std=extra)
                z = (truth - mean) / extra.abs().clamp_min(torch.finfo(torch.float64).tiny)
                pit = torch.special.ndtr(z)
            else:
                cover = coverage_curve(truth, nominal.tolist(), samples=extra)
                pit = (extra <= truth.unsqueeze(1)).to(torch.float64).mean(1)
            curves.append((name, kind, cover.mean(0).numpy(), pit.flatten().numpy()))
    if not curves:
        raise DataError(f"{pred_path}: no variable carries a posterior std ('<var>_std') or samples ('<var>_samples')")
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(10, 4))
    ax.plot([0, 1], [0, 1], color="gray", ls=":", label="calibrated")
    for name, kind, cover, pit in curves:
        at90 = float(np.interp(0.9, nominal, cover))
        ax.plot(nominal, cover, "o-", ms=3, label=f"{name} ({kind}; 90 % interval covers {at90:.1%})")
        hist.hist(pit, bins=20, range=(0, 1), density=True, histtype="step", label=name)
    hist.axhline(1.0, color="gray", ls=":")
    ax.set_xlabel("nominal level of the central interval")
    ax.set_ylabel("fraction of points inside")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("interval coverage")
    ax.legend(fontsize=8)
    hist.set_xlabel("PIT value F(truth)")
    hist.set_ylabel("density")
    hist.set_title("probability integral transform")
    return save_figure(fig, out)

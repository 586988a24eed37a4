"""Figures: truth / prediction / error for chosen samples (1D lines, 2D images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specsolve.data.native import SPATIAL_DIMS, open_h5, variable_dims
from specsolve.inference.evaluate import _grid_stride, prediction_variables


def plot_samples(pred_path: str | Path, data_path: str | Path, out: str | Path, samples: list[int] | None = None) -> Path:
    """One row per sample: truth, prediction, |error| (2D) or overlaid lines and error (1D); saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = samples or [0, 1, 2]
    with open_h5(pred_path) as pred, open_h5(data_path) as ref:
        name = prediction_variables(pred)[0]
        dims = variable_dims(pred, name)
        key = tuple(slice(None, None, _grid_stride(pred, ref, d)) if d in SPATIAL_DIMS else slice(None) for d in dims[1:])
        samples = [s for s in samples if s < pred[name].shape[0]]
        space = [d for d in dims if d in SPATIAL_DIMS]
        fig, axes = plt.subplots(len(samples), 3, figsize=(11, 3.2 * len(samples)), squeeze=False)
        for row, s in enumerate(samples):
            p = np.asarray(pred[name][s], dtype=np.float64)
            r = np.asarray(ref[name][(s, *key)], dtype=np.float64)
            # show the last frame of any extra (time/channel) axes
            while p.ndim > len(space):
                p, r = p[-1], r[-1]
            err = np.abs(p - r)
            rel = np.linalg.norm(p - r) / max(np.linalg.norm(r), 1e-30)
            if len(space) == 1:
                axes[row, 0].plot(r, label="truth")
                axes[row, 0].plot(p, "--", label="prediction")
                axes[row, 0].legend()
                axes[row, 1].plot(p - r)
                axes[row, 1].set_title("prediction - truth")
                axes[row, 2].axis("off")
            else:
                if len(space) == 3:
                    p, r, err = p[..., p.shape[-1] // 2], r[..., r.shape[-1] // 2], err[..., err.shape[-1] // 2]
                vmin, vmax = r.min(), r.max()
                for ax, img, title in ((axes[row, 0], r, "truth"), (axes[row, 1], p, "prediction")):
                    im = ax.imshow(img.T, origin="lower", vmin=vmin, vmax=vmax, cmap="viridis")
                    ax.set_title(f"{title} ({name}, sample {s})")
                    fig.colorbar(im, ax=ax, shrink=0.8)
                im = axes[row, 2].imshow(err.T, origin="lower", cmap="magma")
                fig.colorbar(im, ax=axes[row, 2], shrink=0.8)
            axes[row, 2 if len(space) > 1 else 1].set_title(f"|error|, relative L2 {rel:.3g}")
        fig.tight_layout()
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
        plt.close(fig)
    return out

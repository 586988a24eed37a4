"""Training curves of a run directory, drawn from Lightning's CSV log (``run_dir/logs/metrics.csv``)."""

from __future__ import annotations

import csv
from pathlib import Path

from specsolve.errors import DataError
from specsolve.figures import pyplot, save_figure

__all__ = ["plot_training_curves", "read_metrics_csv"]


def read_metrics_csv(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Lightning CSV log -> ``{column: [(epoch or step, value), ...]}`` for every metric column with values."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no training log at {path}")
    series: dict[str, list[tuple[float, float]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            epoch = row.get("epoch", "")
            step = row.get("step", "")
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                x = float(epoch) if key.endswith("_epoch") or key.startswith("val") or not step else float(step)
                series.setdefault(key, []).append((x, float(value)))
    return series


def plot_training_curves(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Training curves of a run directory (``logs/metrics.csv``): training loss per epoch (or per step) and every
    validation metric per epoch, log-scale. Written to ``run_dir/figures/training_curves.png`` by default."""
    plt = pyplot()
    run_dir = Path(run_dir)
    series = read_metrics_csv(run_dir / "logs" / "metrics.csv")
    train_keys = [k for k in series if k.startswith("train") and k.endswith("_epoch")] or [
        k for k in series if k.startswith("train")
    ]
    val_keys = [k for k in series if k.startswith("val")]
    if not train_keys and not val_keys:
        raise DataError(f"{run_dir}: the training log has no train/ or val/ metrics")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False)
    for ax, keys, title in ((axes[0, 0], train_keys, "training"), (axes[0, 1], val_keys, "validation")):
        for key in keys:
            x, y = zip(*series[key])
            ax.plot(x, y, "o-" if len(x) < 30 else "-", ms=3, label=key)
        if keys:
            ax.set_yscale("log")
            ax.legend()
        ax.set_xlabel("epoch" if keys and (keys[0].endswith("_epoch") or keys[0].startswith("val")) else "step")
        ax.set_title(title)
    fig.suptitle(str(run_dir))
    return save_figure(fig, out or run_dir / "figures" / "training_curves.png")

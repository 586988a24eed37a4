"""Run logging: CSV logs always (``run_dir/logs/metrics.csv``), TensorBoard optionally (``run_dir/tensorboard``),
and a training-curves figure at the end of a run (``run_dir/figures/training_curves.png``).

Config section (all optional)::

    logging: {tensorboard: false, figures: true, checkpoint_every_n_train_steps: null}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specsolve.config.loading import to_container
from specsolve.errors import ConfigError
from specsolve.registry.signature import validate_params


@dataclass(frozen=True)
class LoggingOptions:
    """``tensorboard``: also write TensorBoard event files (needs ``pip install tensorboard``);
    ``figures``: draw the training curves from the CSV log when training ends;
    ``checkpoint_every_n_train_steps``: also write ``last.ckpt`` every N optimizer steps inside an epoch (it is
    always written at the end of every epoch)."""

    tensorboard: bool = False
    figures: bool = True
    checkpoint_every_n_train_steps: int | None = None

    def __post_init__(self) -> None:
        n = self.checkpoint_every_n_train_steps
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ConfigError(f"logging.checkpoint_every_n_train_steps must be a positive integer, got {n!r}")


def logging_options(cfg: Any) -> LoggingOptions:
    section = to_container(cfg.get("logging")) if cfg.get("logging") is not None else {}
    if not isinstance(section, dict):
        raise ConfigError("'logging' must be a mapping such as {tensorboard: true}")
    return LoggingOptions(**validate_params(LoggingOptions, section, where="logging"))


def build_loggers(options: LoggingOptions, run_dir: Path) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger

    loggers: list[Any] = [CSVLogger(str(run_dir), name="logs", version="")]
    if options.tensorboard:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise ConfigError(
                "logging.tensorboard needs the tensorboard package: pip install 'specsolve[tensorboard]'"
            ) from None
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run_dir), name="tensorboard", version="", default_hp_metric=False))
    return loggers


def draw_training_curves(options: LoggingOptions, run_dir: Path) -> Path | None:
    """The training-curves figure, or None when disabled or when there is nothing logged yet."""
    if not options.figures or not (run_dir / "logs" / "metrics.csv").exists():
        return None
    from specsolve.training.curves import plot_training_curves

    return plot_training_curves(run_dir)

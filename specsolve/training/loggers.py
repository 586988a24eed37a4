"""Run logging: CSV logs always (``run_dir/logs/metrics.csv``), TensorBoard optionally (``run_dir/tensorboard``),
experiment tracking in MLflow or Weights & Biases optionally, and a training-curves figure at the end of a run
(``run_dir/figures/training_curves.png``).

Config section (all optional)::

    logging:
      tensorboard: false
      figures: true
      checkpoint_every_n_train_steps: null
      mlflow: {tracking_uri: sqlite:///runs/mlflow.db, experiment: specsolve}   # pip install 'specsolve[mlflow]'
      wandb: {mode: offline, project: specsolve}                               # pip install 'specsolve[wandb]'

The trackers receive the resolved config as parameters (Lightning's hyperparameters: ``config/model/width``, ...),
every logged metric (``train/loss`` per ``log_every_n_steps``, ``val/*`` per epoch) and, when training ends, the
run's files as artifacts: ``config.yaml``, ``logs/metrics.csv``, ``figures/*.png`` and ``checkpoints.json`` (the
paths of the best and last checkpoints; the checkpoint files themselves with ``log_checkpoint: true``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from specsolve.config.loading import to_container
from specsolve.errors import ConfigError
from specsolve.registry.signature import validate_params


@dataclass(frozen=True)
class MLflowOptions:
    """``tracking_uri``: the MLflow store (``sqlite:///path/mlflow.db`` works offline; default: the
    ``MLFLOW_TRACKING_URI`` environment variable, else ``sqlite:///<run_dir>/mlflow.db``); ``experiment``: the
    experiment name; ``run_name``: default the run directory's name; ``tags``: run tags; ``artifact_location``: where
    a new experiment stores artifacts (default for a SQLite store: ``mlartifacts`` next to the database);
    ``log_checkpoint``: also upload the best and last checkpoint files."""

    tracking_uri: str | None = None
    experiment: str = "specsolve"
    run_name: str | None = None
    tags: dict[str, str] | None = None
    artifact_location: str | None = None
    log_checkpoint: bool = False


@dataclass(frozen=True)
class WandbOptions:
    """``mode``: ``offline`` (files under ``run_dir/wandb``, ``wandb sync`` uploads them later), ``online`` or
    ``disabled``; ``project`` / ``entity`` / ``run_name`` / ``tags``: as ``wandb.init``; ``log_checkpoint``: also
    upload the best and last checkpoint files."""

    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "specsolve"
    entity: str | None = None
    run_name: str | None = None
    tags: list[str] | None = None
    log_checkpoint: bool = False


TRACKERS = {"mlflow": MLflowOptions, "wandb": WandbOptions}


@dataclass(frozen=True)
class LoggingOptions:
    """``tensorboard``: also write TensorBoard event files (needs ``pip install tensorboard``); ``mlflow`` /
    ``wandb``: also track the run there (:class:`MLflowOptions`, :class:`WandbOptions`; ``true``: the defaults);
    ``figures``: draw the training curves from the CSV log when training ends;
    ``checkpoint_every_n_train_steps``: also write ``last.ckpt`` every N optimizer steps inside an epoch (it is
    always written at the end of every epoch)."""

    tensorboard: bool = False
    figures: bool = True
    checkpoint_every_n_train_steps: int | None = None
    mlflow: MLflowOptions | None = None
    wandb: WandbOptions | None = None

    def __post_init__(self) -> None:
        n = self.checkpoint_every_n_train_steps
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ConfigError(f"logging.checkpoint_every_n_train_steps must be a positive integer, got {n!r}")


def logging_options(cfg: Any) -> LoggingOptions:
    section = to_container(cfg.get("logging")) if cfg.get("logging") is not None else {}
    if not isinstance(section, dict):
        raise ConfigError("'logging' must be a mapping such as {tensorboard: true}")
    section = dict(section)
    for key, options in TRACKERS.items():  # nested sections: validated against their own dataclass
        value = section.get(key)
        if value is True:
            section[key] = options()
        elif value is False:
            section[key] = None
        elif isinstance(value, dict):
            section[key] = options(**validate_params(options, value, where=f"logging.{key}"))
        elif value is not None:
            raise ConfigError(f"logging.{key} must be a mapping such as {{mode: offline}} or true, got {value!r}")
    return LoggingOptions(**validate_params(LoggingOptions, section, where="logging"))


def _require(module: str, option: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(f"logging.{option} needs the {module} package: pip install 'specsolve[{option}]'") from None


def run_files(run_dir: Path) -> list[tuple[Path, str]]:
    """The files a tracker records for a run: ``(path, artifact folder)`` for the config, the CSV metrics and the
    figures that exist now."""
    files = [(run_dir / "config.yaml", ""), (run_dir / "logs" / "metrics.csv", "logs")]
    files += [(f, "figures") for f in sorted((run_dir / "figures").glob("*.png"))]
    return [(f, folder) for f, folder in files if f.is_file()]


def checkpoint_record(run_dir: Path, best: str | None) -> dict[str, Any]:
    """``{"best", "last", "files"}``: the checkpoint paths of a run (absolute; None where not written)."""
    last = run_dir / "checkpoints" / "last.ckpt"
    files = sorted(str(f.resolve()) for f in (run_dir / "checkpoints").glob("*.ckpt"))
    best_path = best or (
        str(run_dir / "checkpoints" / "best.ckpt") if (run_dir / "checkpoints" / "best.ckpt").exists() else None
    )
    return {
        "best": str(Path(best_path).resolve()) if best_path else None,
        "last": str(last.resolve()) if last.exists() else None,
        "files": files,
    }


class _RunFiles:
    """Mixin of the tracker loggers: when training ends (``finalize``), record the run's files as artifacts."""

    run_dir: Path
    log_options: LoggingOptions
    log_checkpoint: bool
    _best: str | None = None
    _recorded = False

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        path = getattr(checkpoint_callback, "best_model_path", None)
        if path:
            self._best = path
        super().after_save_checkpoint(checkpoint_callback)  # type: ignore[misc]

    def record_run_files(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        draw_training_curves(self.log_options, self.run_dir)  # the CSV logger has flushed by now
        record = checkpoint_record(self.run_dir, self._best)
        record_path = self.run_dir / "logs" / "checkpoints.json"
        record_path.parent.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record, indent=2) + "\n")
        files = [*run_files(self.run_dir), (record_path, "")]
        if self.log_checkpoint:
            files += [(Path(p), "checkpoints") for p in record["files"]]
        self.upload(files, record)

    def upload(self, files: list[tuple[Path, str]], record: dict[str, Any]) -> None:
        raise NotImplementedError


def mlflow_logger(options: MLflowOptions, log_options: LoggingOptions, run_dir: Path) -> Any:
    _require("mlflow", "mlflow")
    from lightning.pytorch.loggers import MLFlowLogger
    from lightning.pytorch.utilities import rank_zero_only

    class SpecsolveMLFlowLogger(_RunFiles, MLFlowLogger):
        def upload(self, files: list[tuple[Path, str]], record: dict[str, Any]) -> None:
            for path, folder in files:
                self.experiment.log_artifact(self.run_id, str(path), artifact_path=folder or None)
            for key in ("best", "last"):
                if record[key]:
                    self.experiment.set_tag(self.run_id, f"checkpoint.{key}", record[key])

        @rank_zero_only
        def finalize(self, status: str = "success") -> None:
            if getattr(self, "_initialized", False):
                self.record_run_files()
            super().finalize(status)

    uri = options.tracking_uri
    if uri is None:
        import os

        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"
    location = options.artifact_location
    if location is None and uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    logger = SpecsolveMLFlowLogger(
        experiment_name=options.experiment,
        run_name=options.run_name or run_dir.name,
        tracking_uri=uri,
        tags=options.tags,
        artifact_location=location,
    )
    logger.run_dir, logger.log_options, logger.log_checkpoint = run_dir, log_options, options.log_checkpoint
    return logger


def wandb_logger(options: WandbOptions, log_options: LoggingOptions, run_dir: Path) -> Any:
    _require("wandb", "wandb")
    from lightning.pytorch.loggers import WandbLogger
    from lightning.pytorch.utilities import rank_zero_only

    class SpecsolveWandbLogger(_RunFiles, WandbLogger):
        def upload(self, files: list[tuple[Path, str]], record: dict[str, Any]) -> None:
            import wandb

            artifact = wandb.Artifact(f"run-{self.experiment.id}", type="run")
            for path, folder in files:
                artifact.add_file(str(path), name=f"{folder}/{path.name}" if folder else path.name)
            self.experiment.log_artifact(artifact)
            self.experiment.summary.update({f"checkpoint.{k}": record[k] for k in ("best", "last") if record[k]})

        @rank_zero_only
        def finalize(self, status: str = "success") -> None:
            if self._experiment is not None:
                self.record_run_files()
            super().finalize(status)
            if self._experiment is not None:  # close the run (flushes the offline file): the process may go on
                self._experiment.finish(exit_code=0 if status == "success" else 1)

    (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
    logger = SpecsolveWandbLogger(
        name=options.run_name or run_dir.name,
        save_dir=str(run_dir),
        project=options.project,
        entity=options.entity,
        tags=options.tags,
        mode=options.mode,
    )
    logger.run_dir, logger.log_options, logger.log_checkpoint = run_dir, log_options, options.log_checkpoint
    return logger


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
    if options.mlflow is not None:
        loggers.append(mlflow_logger(options.mlflow, options, run_dir))
    if options.wandb is not None:
        loggers.append(wandb_logger(options.wandb, options, run_dir))
    return loggers


def draw_training_curves(options: LoggingOptions, run_dir: Path) -> Path | None:
    """The training-curves figure, or None when disabled or when there is nothing logged yet."""
    if not options.figures or not (run_dir / "logs" / "metrics.csv").exists():
        return None
    from specsolve.training.curves import plot_training_curves

    return plot_training_curves(run_dir)


def model_summary() -> Any:
    """Lightning's rich model summary without the FLOPs column and the "Total FLOPs" line (FLOPs are only counted
    for a module with an ``example_input_array``, which specsolve's do not have: they read 0)."""
    from lightning.pytorch.callbacks import RichModelSummary
    from lightning.pytorch.utilities.model_summary import get_formatted_model_size, get_human_readable_count

    class ModelSummaryWithoutFlops(RichModelSummary):
        @staticmethod
        def summarize(
            summary_data: list[tuple[str, list[str]]],
            total_parameters: int,
            trainable_parameters: int,
            model_size: float,
            total_training_modes: dict[str, int],
            total_flops: int = 0,
            **summarize_kwargs: Any,
        ) -> None:
            from rich import get_console
            from rich.table import Table

            columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
            table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
            for name, _ in columns:
                right = name in ("Params", "Params per Device", "In sizes", "Out sizes")
                table.add_column(name, justify="right" if right else "left", style="dim" if name == " " else None)
            for row in zip(*(values for _, values in columns)):
                table.add_row(*row)
            console = get_console()
            console.print(table)
            grid = Table.grid(expand=True)
            grid.add_column()
            for label, value in (
                ("Trainable params", get_human_readable_count(int(trainable_parameters))),
                ("Non-trainable params", get_human_readable_count(int(total_parameters - trainable_parameters))),
                ("Total params", get_human_readable_count(int(total_parameters))),
                ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
                ("Modules in train mode", total_training_modes["train"]),
                ("Modules in eval mode", total_training_modes["eval"]),
            ):
                grid.add_row(f"[bold]{label}[/]: {value}")
            console.print(grid)

    return ModelSummaryWithoutFlops()

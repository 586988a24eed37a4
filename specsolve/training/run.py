"""``specsolve train``: validate a run config, build data, model and Lightning Trainer, fit, checkpoint."""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from specsolve.config.loading import component_spec, to_container
from specsolve.errors import ConfigError
from specsolve.io import write_text_atomic
from specsolve.registry import create, get
from specsolve.registry.signature import signature_parameters, validate_params
from specsolve.training.checkpoint_io import AtomicCheckpointIO
from specsolve.training.checkpointing import LastCheckpoint
from specsolve.training.compile import split_model_section
from specsolve.training.loggers import build_loggers, draw_training_curves, logging_options, model_summary
from specsolve.training.module import OperatorModule, build_losses
from specsolve.training.optim.param_groups import check_param_groups

TRAINER_DEFAULTS: dict[str, Any] = {"accelerator": "auto", "devices": "auto", "log_every_n_steps": 10}
FORBIDDEN_TRAINER_KEYS = (
    "callbacks",
    "logger",
    "plugins",
    "default_root_dir",
    "enable_progress_bar",
    "enable_model_summary",
)


def build_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    if "data" not in cfg:
        raise ConfigError("config has no 'data' section")
    name, params = component_spec(cfg.data, "data")
    return create("dataset", name, **params)


def resolve_model_config(cfg: DictConfig, in_channels: int, out_channels: int) -> dict[str, Any]:
    """The model section with ``in_channels``/``out_channels`` filled from the data when the model takes them
    (model-wide options such as ``compile`` are kept, unchecked against the constructor)."""
    if "model" not in cfg:
        raise ConfigError("config has no 'model' section")
    name, params, options = split_model_section(cfg.model, "model")
    accepted = signature_parameters(get("model", name))
    for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if key in accepted and key not in params:
            params[key] = value
    validate_params(get("model", name), params, where=f"model '{name}'")
    return {"name": name, **params, **options}


def trainer_options(cfg: DictConfig) -> dict[str, Any]:
    options = {**TRAINER_DEFAULTS, **(to_container(cfg.get("trainer")) or {})}
    for key in FORBIDDEN_TRAINER_KEYS:
        if key in options:
            raise ConfigError(f"trainer.{key} is managed by specsolve and cannot be set in a config")
    options = validate_params(L.Trainer, options, where="trainer")
    check_strategy(options)
    return options


def check_strategy(options: dict[str, Any]) -> None:
    """FSDP needs CUDA devices: say so in one line instead of Lightning's ValueError at Trainer construction."""
    strategy = options.get("strategy")
    if isinstance(strategy, str) and strategy.lower().startswith("fsdp"):
        accelerator = str(options.get("accelerator", "auto")).lower()
        if accelerator not in ("auto", "gpu", "cuda") or not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.strategy={strategy} needs CUDA GPUs (accelerator={accelerator}, CUDA available: "
                f"{torch.cuda.is_available()}); on CPU use strategy=ddp"
            )


def validate_components(cfg: DictConfig) -> None:
    """Check every section against its component's signature before any data is read or anything is built.

    ``in_channels``/``out_channels`` of the model come from the data later, so placeholders stand in here.
    """
    for section in ("data", "model"):
        if section not in cfg:
            raise ConfigError(f"config has no '{section}' section")
    name, params = component_spec(cfg.data, "data")
    validate_params(get("dataset", name), params, where=f"data '{name}'")
    name, params, _ = split_model_section(cfg.model, "model")  # model-wide options (compile) checked there
    accepted = signature_parameters(get("model", name))
    placeholders = {k: 1 for k in ("in_channels", "out_channels") if k in accepted and k not in params}
    validate_params(get("model", name), {**placeholders, **params}, where=f"model '{name}'")
    for section in ("optimizer", "scheduler"):
        name, params = component_spec(cfg[section], section)
        if section == "optimizer":
            check_param_groups(params.pop("param_groups", None), get(section, name))
        validate_params(get(section, name), params, where=f"{section} '{name}'")
    build_losses(to_container(cfg.loss))
    trainer_options(cfg)
    logging_options(cfg)


def check_forward(model_cfg: dict[str, Any], datamodule: L.LightningDataModule) -> None:
    """Run the model once on one training sample so shape and resolution errors surface before training."""
    from specsolve.training.module import build_model

    x, _, *rest = datamodule.datasets["train"][0]  # (x, y) or (x, y, t): t is passed on as model(x, t)
    with torch.no_grad():
        build_model(model_cfg)(x.unsqueeze(0), *(r.unsqueeze(0) for r in rest))


def default_run_dir(cfg: DictConfig) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    model = cfg.model.get("name", "model") if "model" in cfg else "model"
    return Path("runs") / f"{model}-{stamp}"


def train(
    cfg: DictConfig, resume: bool = False, progress: bool | None = None, callbacks: list[Any] | None = None
) -> dict[str, Any]:
    """Fit the model of ``cfg``; returns ``{"run_dir", "best", "last", "metrics"}``.

    The resolved config is written to ``run_dir/config.yaml``; checkpoints (``last.ckpt``, ``best.ckpt`` by
    ``val/rel_l2``) go to ``run_dir/checkpoints``, CSV logs to ``run_dir/logs`` (TensorBoard to
    ``run_dir/tensorboard`` with ``logging.tensorboard``), the training curves to ``run_dir/figures``; ``callbacks``
    are extra Lightning
    callbacks (Python API). An existing run directory with
    checkpoints is never overwritten: pass ``resume=True`` to continue it from ``last.ckpt``.
    """
    validate_components(cfg)
    run_dir = Path(cfg.run_dir) if cfg.get("run_dir") else default_run_dir(cfg)
    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if resume and not last.exists():
        raise ConfigError(f"cannot resume: no checkpoint to resume from at {last}")
    if not resume and ckpt_dir.exists() and any(ckpt_dir.iterdir()):
        raise ConfigError(
            f"run directory {run_dir} already holds checkpoints; pass resume=True to continue it, or choose another "
            "run_dir"
        )

    datamodule = build_datamodule(cfg)
    from specsolve.training.objectives import objective_options, step_out_channels

    objective = objective_options(cfg)  # unrolled / pushforward: the model maps a window to one of K steps
    out_channels = step_out_channels(objective, datamodule)
    model_cfg = resolve_model_config(cfg, datamodule.in_channels, out_channels)
    resolved = to_container(cfg)
    resolved["model"] = model_cfg
    resolved["run_dir"] = str(run_dir)
    options = trainer_options(cfg)
    log_options = logging_options(cfg)

    check_forward(model_cfg, datamodule)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    stats = None if resume else datamodule.normalization_statistics()
    layout = datamodule.datasets["train"].info.layout(datamodule.outputs)
    if stats is not None and out_channels != datamodule.out_channels:  # per-step target statistics
        stats = {**stats, **{k: stats[k][:out_channels] for k in ("y_mean", "y_std")}}
    module = OperatorModule(resolved, datamodule.in_channels, out_channels, stats, layout)
    if cfg.get("finetune"):  # pretrained weights (not on resume: the run's own checkpoint wins) and frozen groups
        from specsolve.training.finetune import apply_finetune

        apply_finetune(module.model, resolved["finetune"], load=not resume, model_name=model_cfg["name"])
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))

    has_val = datamodule.paths.get("val") is not None
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor="val/rel_l2" if has_val else None,
        mode="min",
        save_last=False,  # Lightning 2.6 writes `last` only with a new best: LastCheckpoint writes it every epoch
        save_top_k=1,
        enable_version_counter=False,
    )
    show_progress = sys.stderr.isatty() if progress is None else progress
    last_checkpoint = LastCheckpoint(last, every_n_train_steps=log_options.checkpoint_every_n_train_steps)
    callbacks = [checkpoint, last_checkpoint, *(callbacks or [])]
    if show_progress:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks += [RichProgressBar(), model_summary()]  # the summary without its "Total FLOPs: 0" line
    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        plugins=[AtomicCheckpointIO()],
        logger=build_loggers(log_options, run_dir),
        callbacks=callbacks,
        enable_progress_bar=show_progress,
        enable_model_summary=False,  # model_summary() above, with the progress bar
        **options,
    )
    with last_checkpoint.signals():  # SIGTERM / SIGINT: checkpoint at the next safe point, then Preempted
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume else None, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}
    best = checkpoint.best_model_path or None
    figure = draw_training_curves(log_options, run_dir) if trainer.is_global_zero else None
    result = {"run_dir": str(run_dir), "best": best, "last": str(last), "metrics": metrics}
    result["is_global_zero"] = trainer.is_global_zero  # under DDP every rank returns; only rank 0 reports
    if figure is not None:
        result["training_curves"] = str(figure)
    return result

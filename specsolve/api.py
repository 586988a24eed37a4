"""The CLI verbs as Python functions, for notebooks and scripts.

Each function is a thin, typed wrapper over the library function its verb calls, with the same validation and
the same errors (:class:`~specsolve.errors.ConfigError`, :class:`~specsolve.errors.DataError`)::

    import specsolve
    paths = specsolve.generate("datasets/darcy_tiny.yaml", {"out_dir": "data/tiny"})
    result = specsolve.train("configs/demo_fno_darcy.yaml", {"trainer.max_epochs": 2, "run_dir": "runs/nb"})
    specsolve.predict(result["best"], "data/tiny/test.h5", "runs/nb/pred.h5")
    metrics = specsolve.evaluate("runs/nb/pred.h5", "data/tiny/test.h5", ["rel_l2", "nrmse"])

A config is a YAML path or a mapping (the same structure as the YAML file). Overrides are either CLI-style
``["trainer.max_epochs=2"]`` or a mapping ``{"trainer.max_epochs": 2, "model": {"width": 16}}`` whose keys are
dotted paths; mapping values are merged, other values replace. Heavy modules (torch, Lightning) are imported
inside the functions, so ``import specsolve`` stays light.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from omegaconf import DictConfig

ConfigSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]
Overrides = Union[Mapping[str, Any], Sequence[str], None]  # noqa: UP007 (a string forward reference)

__all__ = ["evaluate", "generate", "predict", "resolve_config", "train"]


def _dotlist(overrides: Overrides) -> list[str]:
    """``{"a.b": 1}`` -> ``["a.b=1"]``; values are written as JSON, which the dotlist parser reads as YAML."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        return [overrides]
    if isinstance(overrides, Mapping):
        return [f"{key}={json.dumps(value, default=str)}" for key, value in overrides.items()]
    return [str(o) for o in overrides]


def resolve_config(config: ConfigSource, overrides: Overrides = None) -> DictConfig:
    """The resolved run config (what ``specsolve train CONFIG --print-config`` shows): defaults, then ``config``,
    then ``overrides``, interpolations resolved, top-level keys and ``config_version`` checked."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from specsolve.config.loading import DEFAULTS, check_top_level, load_config, parse_overrides, to_container
    from specsolve.errors import ConfigError

    dotlist = _dotlist(overrides)
    if isinstance(config, (str, os.PathLike)):
        return load_config(config, dotlist)
    if not isinstance(config, Mapping):
        raise ConfigError(f"a config is a YAML path or a mapping, got {type(config).__name__}")
    try:
        cfg = OmegaConf.merge(
            OmegaConf.create(DEFAULTS), OmegaConf.create(to_container(config)), parse_overrides(dotlist)
        )
        OmegaConf.resolve(cfg)
    except (OmegaConfBaseException, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid config or override: {str(exc).splitlines()[0]}") from exc
    assert isinstance(cfg, DictConfig)
    check_top_level(cfg)
    return cfg


def train(
    config: ConfigSource,
    overrides: Overrides = None,
    *,
    resume: bool = False,
    progress: bool | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train as ``specsolve train``; returns ``{"run_dir", "best", "last", "metrics"}``.

    ``progress`` shows Lightning's progress bar (default: when stderr is a terminal); ``callbacks`` are extra
    Lightning callbacks. An existing run directory with checkpoints is only continued with ``resume=True``.
    """
    from specsolve.training.run import train as _train

    return _train(resolve_config(config, overrides), resume=resume, progress=progress, callbacks=callbacks)


def predict(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    stride: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    lead_times: Sequence[float] | None = None,
    input_time_index: int | None = None,
) -> Path:
    """Write predictions of ``checkpoint`` on every sample of ``data`` to ``out`` (native format), as
    ``specsolve predict``; ``stride`` subsamples the stored grid (default: the training stride).

    Time-conditioned models (``scot``) need ``lead_times`` (units of the data's ``time`` coordinate, any values,
    also unseen ones): each input sample is predicted at each lead time and the outputs get a ``lead_time``
    dimension; ``input_time_index`` picks the input frame of trajectory data (default: the training's first)."""
    from specsolve.inference.predict import parse_lead_times
    from specsolve.inference.predict import predict as _predict

    if isinstance(lead_times, str):
        lead_times = parse_lead_times(lead_times)
    return _predict(
        checkpoint,
        data,
        out,
        stride,
        batch_size,
        overwrite,
        device,
        lead_times=list(lead_times) if lead_times is not None else None,
        input_time_index=input_time_index,
    )


def evaluate(
    pred: str | os.PathLike[str],
    data: str | os.PathLike[str],
    metrics: str | Sequence[str] = ("rel_l2",),
    *,
    variables: Sequence[str] | None = None,
    json_out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    samples: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Metrics of a prediction file against reference data, as ``specsolve evaluate``.

    Returns ``{"variables": {name: {"per_sample": {metric: [...]}, "mean": {metric: value}}}, "n_samples": N,
    ...}``; ``metrics`` are registered metric names (a comma-separated string works too). Optionally writes the
    result as JSON (``json_out``) and a truth / prediction / error figure of ``samples`` (``plot``, PNG).
    """
    from specsolve.inference.evaluate import evaluate as _evaluate
    from specsolve.inference.evaluate import write_json

    names = [m.strip() for m in metrics.split(",") if m.strip()] if isinstance(metrics, str) else list(metrics)
    result = _evaluate(pred, data, names, list(variables) if variables is not None else None)
    if json_out is not None:
        write_json(result, json_out)
    if plot is not None:
        from specsolve.inference.plots import plot_samples

        result["figure"] = str(plot_samples(pred, data, plot, list(samples) if samples is not None else None))
    return result


def evaluate_resolutions(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    strides: Sequence[int] | None = None,
    metrics: str | Sequence[str] = ("rel_l2",),
    *,
    device: str = "cpu",
    plot: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Error against resolution, as ``specsolve evaluate -c CKPT -d DATA ... --strides ...``: ``checkpoint`` on every
    file of ``data`` subsampled by every stride (default: the training stride), predicted in memory.

    Returns ``{"train_grid": [...], "rows": [{"data", "stride", "grid", "n_samples", "mean": {metric: value}}]}``;
    ``plot`` writes the error-against-resolution curve (PNG).
    """
    from specsolve.inference.resolution import evaluate_resolutions as _evaluate_resolutions

    files = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    names = [m.strip() for m in metrics.split(",") if m.strip()] if isinstance(metrics, str) else list(metrics)
    result = _evaluate_resolutions(checkpoint, files, list(strides) if strides else None, names, device=device)
    if plot is not None:
        from specsolve.inference.plots import plot_resolution

        result["figure"] = str(plot_resolution(result, plot))
    return result


def generate(
    recipe: str | os.PathLike[str],
    overrides: Overrides = None,
    *,
    shard: str | tuple[int, int] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Generate every split of a dataset recipe, as ``specsolve generate``; returns the written files.

    ``shard`` is ``"i/N"`` or ``(i, N)``: the ``i``-th of ``N`` contiguous sample ranges of each split.
    """
    from specsolve.data.generation import run_recipe

    if isinstance(shard, tuple):
        shard = f"{shard[0]}/{shard[1]}"
    return run_recipe(recipe, _dotlist(overrides), shard, overwrite)

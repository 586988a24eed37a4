"""The Python API: one typed function per ``specsolve`` verb; the CLI is a rendering of these functions.

Each function owns its verb's whole behaviour (validation, files written, figures drawn) and returns data
(dicts, paths, text), never prints; the same errors reach a notebook and the command line
(:class:`~specsolve.errors.ConfigError`, :class:`~specsolve.errors.DataError`, :class:`~specsolve.errors.RegistryError`)::

    import specsolve
    paths = specsolve.generate("datasets/darcy_tiny.yaml", {"out_dir": "data/tiny"})
    result = specsolve.train("configs/demo_fno_darcy.yaml", {"trainer.max_epochs": 2, "run_dir": "runs/nb"})
    specsolve.predict(result["best"], "data/tiny/test.h5", "runs/nb/pred.h5")
    metrics = specsolve.evaluate("runs/nb/pred.h5", "data/tiny/test.h5", ["rel_l2", "nrmse"])

A config is a YAML path or a mapping (the same structure as the YAML file). Overrides are either CLI-style
``["trainer.max_epochs=2"]`` or a mapping ``{"trainer.max_epochs": 2, "model": {"width": 16}}`` whose keys are
dotted paths; mapping values are merged, other values replace. Lists (metrics, strides, samples, lead times) are
sequences or comma-separated strings (``"1,2,4"``). ``progress`` (where a verb has it) is a
:data:`ProgressFactory`: ``progress(description, total)`` starts a bar and returns ``advance(n)``. Heavy modules
(torch, Lightning) are imported inside the functions, so ``import specsolve`` stays light.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union

if TYPE_CHECKING:
    from omegaconf import DictConfig

ConfigSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]
Overrides = Union[Mapping[str, Any], Sequence[str], None]  # noqa: UP007 (a string forward reference)
PathLike = Union[str, "os.PathLike[str]"]
ProgressFactory = Callable[[str, int], Callable[[int], None]]
"""``progress(description, total)`` starts a progress report of ``total`` steps and returns ``advance(n)``."""

__all__ = [
    "ProgressFactory",
    "data_convert",
    "data_export_well",
    "data_formats",
    "data_inspect",
    "evaluate",
    "evaluate_resolutions",
    "export_model",
    "generate",
    "load_pretrained",
    "plugins_info",
    "plugins_list",
    "predict",
    "push_pretrained",
    "resolve_config",
    "rollout",
    "solve",
    "train",
]

T = TypeVar("T")


# -- shared helpers ------------------------------------------------------------------------------------
def _comma_list(value: str | Sequence[T] | None, item: Callable[[str], T], what: str) -> list[T] | None:
    """The one list parser of the API: ``"1, 2,4"`` -> ``[1, 2, 4]`` (each piece through ``item``: ``int``,
    ``float`` or ``str``), a sequence -> a list of it, ``None`` or ``""`` -> ``None``. A piece that ``item``
    rejects is a :class:`~specsolve.errors.ConfigError` naming ``what``."""
    from specsolve.errors import ConfigError

    if value is None:
        return None
    if not isinstance(value, str):
        return list(value)
    pieces = [p.strip() for p in value.split(",") if p.strip()]
    try:
        values = [item(p) for p in pieces]
    except ValueError:
        noun = {int: "integers", float: "numbers"}.get(item, "values")
        raise ConfigError(f"{what} must be comma-separated {noun}, got '{value}'") from None
    return values or None


def _dotlist(overrides: Overrides) -> list[str]:
    """``{"a.b": 1}`` -> ``["a.b=1"]``; values are written as JSON, which the dotlist parser reads as YAML."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        return [overrides]
    if isinstance(overrides, Mapping):
        return [f"{key}={json.dumps(value, default=str)}" for key, value in overrides.items()]
    return [str(o) for o in overrides]


def _load(config: ConfigSource, overrides: Overrides, defaults: bool, keys: Sequence[str] | None) -> DictConfig:
    """A YAML path or a mapping, plus overrides, merged (over the run defaults when ``defaults``) and checked."""
    from specsolve.config.loading import TOP_LEVEL_KEYS, load_config

    return load_config(config, _dotlist(overrides), defaults=defaults, keys=TOP_LEVEL_KEYS if keys is None else keys)


def _save(
    result: dict[str, Any],
    json_out: PathLike | None,
    plot: PathLike | None,
    draw: Callable[[dict[str, Any], PathLike], Path | list[Path]],
) -> dict[str, Any]:
    """Write ``result`` as JSON to ``json_out`` and, with ``plot``, its figures ``draw(result, plot)``, listed in
    ``result["figures"]`` (which the JSON file does not hold)."""
    if json_out is not None:
        from specsolve.inference.evaluate import write_json

        write_json(result, json_out)
    if plot is not None:
        figures = draw(result, plot)
        result["figures"] = [str(f) for f in (figures if isinstance(figures, list) else [figures])]
    return result


def _metric_names(metrics: str | Sequence[str]) -> list[str]:
    return _comma_list(metrics, str, "metrics") or []


# -- train and solve -----------------------------------------------------------------------------------
def resolve_config(config: ConfigSource, overrides: Overrides = None) -> DictConfig:
    """The resolved run config (what ``specsolve train CONFIG --print-config`` shows): defaults, then ``config``,
    then ``overrides``, interpolations resolved, top-level keys and ``config_version`` checked."""
    return _load(config, overrides, defaults=True, keys=None)


def train(
    config: ConfigSource,
    overrides: Overrides = None,
    *,
    resume: bool = False,
    progress: bool | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train as ``specsolve train``; returns ``{"run_dir", "best", "last", "metrics"[, "training_curves"]}``.

    ``progress`` shows Lightning's progress bar (default: when stderr is a terminal); ``callbacks`` are extra
    Lightning callbacks. An existing run directory with checkpoints is only continued with ``resume=True``.
    """
    from specsolve.training.run import train as _train

    return _train(resolve_config(config, overrides), resume=resume, progress=progress, callbacks=callbacks)


def load_pretrained(path: PathLike, dtype: str | None = None) -> Any:
    """A pretrained model in eval mode, ``forward(x, t)``, from a local path or a Hugging Face name.

    ``path``: ``hf://ORG/NAME[@REVISION]``, read through huggingface_hub's cache (``HF_HUB_OFFLINE=1``: the cache
    only; a model not there is a one-line error saying how to download it); a specsolve hub directory
    (:func:`push_pretrained`): its ``OperatorModule``, bit for bit; a Poseidon checkpoint directory in the Hugging
    Face layout (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``, as published for
    Poseidon-T/B/L): the scOT its config describes, every tensor mapped by name and shape
    (:mod:`specsolve.models.poseidon_checkpoint`; ``forward(x, t)`` is Poseidon's output); or a specsolve
    checkpoint file: its ``OperatorModule`` (the model with its stored normalisation).
    ``dtype``: ``"float32"`` / ``"float64"`` (default: as stored).
    """
    import torch

    from specsolve.errors import ConfigError
    from specsolve.models.poseidon_checkpoint import is_poseidon_checkpoint, load_poseidon_checkpoint
    from specsolve.training.checkpoint import load_module
    from specsolve.training.hub import is_hub_dir, read_hub_dir, resolve_pretrained

    dtypes = {None: None, "float32": torch.float32, "float64": torch.float64}
    if dtype not in dtypes:
        raise ConfigError(f"load_pretrained: dtype must be float32 or float64, got {dtype!r}")
    local = resolve_pretrained(path)
    if is_poseidon_checkpoint(local):
        return load_poseidon_checkpoint(local, dtypes[dtype])
    module, _ = read_hub_dir(local) if is_hub_dir(local) else load_module(local)
    return module.to(dtypes[dtype]) if dtype else module


def push_pretrained(
    checkpoint: PathLike, directory: PathLike, *, metrics: PathLike | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Write a specsolve checkpoint as a hub directory, as ``specsolve export --format hub``: ``specsolve.json``
    (model, channels, resolved config, SHA-256), ``config.yaml``, ``model.safetensors``, ``README.md`` (a model
    card) and, with ``metrics`` (an ``evaluate --json`` file), ``metrics.json`` and a metrics table in the card.

    Upload it with ``hf upload ORG/NAME DIRECTORY``; :func:`load_pretrained` (``hf://ORG/NAME`` or the directory)
    and ``finetune.checkpoint`` read it back bit for bit. Returns ``{"directory", "files", "sha256", "model"}``.
    """
    from specsolve.training.hub import write_hub_dir

    return write_hub_dir(checkpoint, directory, metrics, overwrite)


def solve(
    config: ConfigSource,
    overrides: Overrides = None,
    *,
    overwrite: bool = False,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Fit a registered PDE solver (GP-HM, EPGP, ...) as ``specsolve solve``: the config has ``solver``,
    ``output.path`` and optionally ``seed``; no run defaults are merged in.

    Writes the posterior mean (and std) to ``output.path`` and the exact solution beside it
    (``<stem>.exact.h5``); returns ``{"metrics": {...}, "seconds": fit time, "output": path, "exact": path, ...}``.
    """
    from specsolve.inference.solve import SOLVE_KEYS
    from specsolve.inference.solve import solve as _solve

    cfg = _load(config, overrides, defaults=False, keys=SOLVE_KEYS)
    report = None
    if progress is not None:
        advance: list[Callable[[int], None]] = []

        def report(step: int, loss: float) -> None:
            if not advance:
                solver = cfg.get("solver") or {}
                advance.append(progress("solve", int(solver.get("steps", 0) or 0)))
            advance[0](1)

    return _solve(cfg, report, overwrite=overwrite)


# -- inference -----------------------------------------------------------------------------------------
def predict(
    checkpoint: PathLike,
    data: PathLike,
    out: PathLike,
    *,
    stride: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    lead_times: str | Sequence[float] | None = None,
    input_time_index: int | None = None,
    devices: int | None = None,
    num_nodes: int | None = None,
    strategy: str | None = None,
    accelerator: str | None = None,
    shard_size: int | None = None,
    resume: bool = False,
    progress: ProgressFactory | None = None,
) -> Path | None:
    """Write predictions of ``checkpoint`` on every sample of ``data`` to ``out`` (native format), as
    ``specsolve predict``; ``stride`` subsamples the stored grid (default: the training stride).

    Time-conditioned models (``scot``) need ``lead_times`` (units of the data's ``time`` coordinate, any values,
    also unseen ones): each input sample is predicted at each lead time and the outputs get a ``lead_time``
    dimension; ``input_time_index`` picks the input frame of trajectory data (default: the training's first).

    Distributed and resumable: with ``devices > 1``, ``num_nodes > 1``, a ``strategy``, a ``shard_size`` or
    ``resume``, ``lightning.Trainer.predict`` runs on ``devices x num_nodes`` ranks (``accelerator`` ``cpu`` /
    ``gpu``, default from ``device``) and writes shards ``<stem>-<i:05d>-of-<N:05d>.h5`` beside ``out`` of
    ``shard_size`` samples each (default: one per rank); returns their glob pattern on rank 0 and ``None`` on the
    other ranks. ``resume`` keeps the shards already complete and computes the rest. Multi-process runs start
    from the command line (Lightning's ``ddp`` launcher re-runs it), ``torchrun`` or SLURM, see docs/multi_gpu.md.
    """
    from specsolve.errors import ConfigError
    from specsolve.inference.predict import predict as _predict

    times = _comma_list(lead_times, float, "lead times")
    if lead_times is not None and not times:
        raise ConfigError("lead times need at least one value")
    distributed = None
    if (devices or 1) > 1 or (num_nodes or 1) > 1 or strategy or shard_size is not None or resume:
        from specsolve.inference.sharded import ShardOptions

        if accelerator is None and device != "cpu" and not device.startswith("cuda"):
            raise ConfigError(f"device={device} does not apply to distributed prediction: pass accelerator")
        if accelerator is None and ":" in device:
            raise ConfigError(
                f"device={device}: distributed prediction picks its devices itself (accelerator=gpu, devices=N)"
            )
        distributed = ShardOptions(
            devices=1 if devices is None else devices,
            num_nodes=1 if num_nodes is None else num_nodes,
            strategy=strategy,
            accelerator=accelerator or ("cpu" if device == "cpu" else "gpu"),
            shard_size=shard_size,
            resume=resume,
        )
    elif accelerator is not None or devices is not None or num_nodes is not None:
        if accelerator not in (None, "cpu", "gpu", "cuda", "auto"):
            raise ConfigError(f"accelerator must be cpu, gpu or auto, got '{accelerator}'")
        for key, value in (("devices", devices), ("num_nodes", num_nodes)):
            if value is not None and value < 1:
                raise ConfigError(f"{key} must be an integer >= 1, got {value!r}")
        if accelerator == "gpu" or accelerator == "cuda":
            device = "cuda" if device == "cpu" else device
    report = None
    if progress is not None:
        state: dict[str, Any] = {"done": 0}

        def report(done: int, total: int) -> None:
            if "advance" not in state:
                state["advance"] = progress("predict", total)
            state["advance"](done - state["done"])
            state["done"] = done

    return _predict(
        checkpoint,
        data,
        out,
        stride,
        batch_size,
        overwrite,
        device,
        report,
        lead_times=times,
        input_time_index=input_time_index,
        distributed=distributed,
    )


def export_model(
    checkpoint: PathLike,
    out: PathLike,
    *,
    format: Literal["pt2", "onnx"] = "pt2",
    grid: str | Sequence[int] | None = None,
    batch_size: int = 1,
    overwrite: bool = False,
    check: bool = True,
) -> dict[str, Any]:
    """Write the model of ``checkpoint`` as a program that runs without specsolve, as ``specsolve export``:
    ``format="pt2"`` a ``torch.export`` archive (``torch.export.load(out).module()(x)``), ``"onnx"`` an ONNX
    model (needs the ``export`` extra). The normalisation is inside: raw fields in, physical fields out.

    The program is specialised to ``(batch_size, C_in, *grid)``; ``grid`` (e.g. ``"64,64"``) defaults to the
    training data's strided grid when that file is readable. ``check`` runs the written file once against the
    eager checkpoint; returns ``{"path", "format", "model", "input_shape", "output_shape", "max_abs_diff",
    "metadata"}``. A model that cannot be exported is a one-line :class:`~specsolve.errors.ConfigError` saying why."""
    from specsolve.inference.export import export_checkpoint

    sizes = _comma_list(grid, int, "grid")
    return export_checkpoint(checkpoint, out, format, sizes, batch_size, overwrite, check)


def evaluate(
    pred: PathLike,
    data: PathLike,
    metrics: str | Sequence[str] = ("rel_l2",),
    *,
    variables: Sequence[str] | None = None,
    json_out: PathLike | None = None,
    plot: PathLike | None = None,
    samples: str | Sequence[int] | None = None,
) -> dict[str, Any]:
    """Metrics of a prediction file against reference data, as ``specsolve evaluate -p PRED -d DATA``.

    Returns ``{"variables": {name: {"per_sample": {metric: [...]}, "mean": {metric: value}}}, "n_samples": N,
    ...}``; ``metrics`` are registered metric names. ``json_out`` writes the result as JSON. ``plot`` (a PNG path)
    draws truth / prediction / error of ``samples`` (default 0, 1, 2) there, the energy spectra to
    ``<stem>_spectrum.png``, for data with a time axis the space-time strip of the first plotted sample to
    ``<stem>_time.png`` and, when a variable carries a posterior std or samples, the interval-coverage / PIT figure
    to ``<stem>_coverage.png``; their paths are ``result["figures"]``.
    """
    from specsolve.inference import plots
    from specsolve.inference.evaluate import evaluate as _evaluate

    def draw(result: dict[str, Any], out: PathLike) -> list[Path]:
        out, chosen = Path(out), _comma_list(samples, int, "samples")
        figures = [plots.plot_samples(pred, data, out, chosen)]
        figures.append(plots.plot_spectrum(pred, data, out.with_name(f"{out.stem}_spectrum.png")))
        if plots.has_time_axis(pred):
            first = chosen[0] if chosen else 0
            figures.append(plots.plot_time_strip(pred, data, out.with_name(f"{out.stem}_time.png"), first))
        if any(v.get("uncertainty") for v in result["variables"].values()):
            figures.append(plots.plot_coverage(pred, data, out.with_name(f"{out.stem}_coverage.png")))
        return figures

    result = _evaluate(pred, data, _metric_names(metrics), list(variables) if variables is not None else None)
    return _save(result, json_out, plot, draw)


def evaluate_resolutions(
    checkpoint: PathLike,
    data: PathLike | Sequence[PathLike],
    strides: str | Sequence[int] | None = None,
    metrics: str | Sequence[str] = ("rel_l2",),
    *,
    device: str = "cpu",
    json_out: PathLike | None = None,
    plot: PathLike | None = None,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Error against resolution, as ``specsolve evaluate -c CKPT -d DATA ... --strides ...``: ``checkpoint`` on every
    file of ``data`` subsampled by every stride (default: the training stride), predicted in memory.

    Returns ``{"checkpoint", "train_grid": [...], "rows": [{"data", "stride", "grid", "n_samples", "mean":
    {metric: value}}]}``; ``json_out`` writes it as JSON, ``plot`` the error-against-resolution curve (PNG), listed
    in ``result["figures"]``.
    """
    from specsolve.inference.plots import plot_resolution
    from specsolve.inference.resolution import evaluate_resolutions as _evaluate_resolutions

    files = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    steps = _comma_list(strides, int, "strides")
    report = None
    if progress is not None:
        advance = progress("evaluate", len(files) * len(steps or [1]))

        def report() -> None:
            advance(1)

    result = _evaluate_resolutions(checkpoint, files, steps, _metric_names(metrics), device=device, progress=report)
    return _save(result, json_out, plot, plot_resolution)


def rollout(
    checkpoint: PathLike,
    data: PathLike,
    *,
    steps: int | None = None,
    samples: str | Sequence[int] | None = None,
    stride: int | None = None,
    device: str = "cpu",
    json_out: PathLike | None = None,
    plot: PathLike | None = None,
) -> dict[str, Any]:
    """Autoregressive rollout of a time-window checkpoint over the stored trajectories of ``data``, as
    ``specsolve rollout``: ``steps`` predicted frames per trajectory (default: all), ``samples`` trajectory indices
    (default: all), ``stride`` the spatial stride (default: the training's).

    Returns ``{"time", "per_step", "per_sample", "mean", "n_samples", "n_in", "n_out", "steps"}`` (context frames
    excluded); ``json_out`` writes it as JSON, ``plot`` the error against rollout step (PNG), in ``result["figures"]``.
    """
    from specsolve.inference.plots import plot_rollout
    from specsolve.inference.rollout import rollout as _rollout
    from specsolve.training.checkpoint import load_module

    module, _ = load_module(checkpoint)
    chosen = _comma_list(samples, int, "samples")
    result = _rollout(module, data, steps=steps, samples=chosen, stride=stride, device=device)
    return _save(result, json_out, plot, plot_rollout)


# -- data ----------------------------------------------------------------------------------------------
def generate(
    recipe: PathLike,
    overrides: Overrides = None,
    *,
    shard: str | tuple[int, int] | None = None,
    overwrite: bool = False,
    progress: ProgressFactory | None = None,
) -> list[Path]:
    """Generate every split of a dataset recipe, as ``specsolve generate``; returns the written files.

    ``shard`` is ``"i/N"`` or ``(i, N)``: the ``i``-th of ``N`` contiguous sample ranges of each split.
    """
    from specsolve.data.generation import run_recipe

    if isinstance(shard, tuple):
        shard = f"{shard[0]}/{shard[1]}"
    factory = None
    if progress is not None:

        def factory(split: str, total: int) -> Callable[[int], None]:
            return progress(f"generate {split}", total)

    return run_recipe(recipe, _dotlist(overrides), shard, overwrite, factory)


def data_inspect(path: PathLike) -> str:
    """The plain-text summary that ``specsolve data inspect FILE`` prints: root attributes, coordinates,
    variables and, for PDEBench / The Well / FNO ``.mat`` files, how specsolve's readers present them."""
    from specsolve.data.inspect import describe_file

    return describe_file(path)


def data_formats() -> tuple[str, ...]:
    """The source formats :func:`data_convert` reads (``specsolve data convert --from``): ``auto``, the
    registered readers, then reader plugins not imported yet."""
    from specsolve.data.readers import formats

    return formats()


def data_convert(
    src: PathLike,
    dst: PathLike,
    *,
    fmt: str = "auto",
    overwrite: bool = False,
    variables: Sequence[str] | None = None,
    channel_names: Sequence[str] | None = None,
    grid: Literal["vertex", "periodic"] = "vertex",
) -> dict[str, Any]:
    """PDEBench / The Well / FNO ``.mat`` files (``src``: a file, a directory of shards or a glob) -> the native
    file ``dst``, streamed, as ``specsolve data convert``; ``fmt`` is one of ``specsolve.data.readers.formats()``.

    Returns ``{"path": dst, "n_samples": N, "variables": {name: dims including "sample"}}`` as read back.
    """
    from specsolve.data.convert import convert
    from specsolve.data.readers import open_reader

    out = convert(
        src,
        dst,
        fmt,
        overwrite=overwrite,
        variables=list(variables) if variables is not None else None,
        channel_names=list(channel_names) if channel_names is not None else None,
        grid=grid,
    )
    with open_reader(out, "native") as reader:
        names = {v.name: ("sample", *v.dims) for v in reader.variables.values()}
        return {"path": out, "n_samples": reader.n_samples, "variables": names}


def data_export_well(
    src: PathLike,
    dst_dir: PathLike,
    *,
    split: str = "train",
    name: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """A native file -> The Well's layout (``dst_dir/data/<split>/<stem>.hdf5``, plus ``dst_dir/stats.yaml`` for
    the ``train`` split), as ``specsolve data export-well``; ``name`` is the ``dataset_name`` attribute (default:
    from the source). Returns ``{"path": the field file, "stats": the stats file or None}``."""
    from specsolve.data.export import to_the_well

    out = to_the_well(src, dst_dir, dataset_name=name, split=split, overwrite=overwrite)
    return {"path": out, "stats": Path(dst_dir) / "stats.yaml" if split == "train" else None}


# -- plugins -------------------------------------------------------------------------------------------
def plugins_list(kind: str | None = None) -> list[dict[str, Any]]:
    """Every registered component (of ``kind``), as ``specsolve plugins list``: ``[{"kind", "name",
    "distribution", "loaded", "summary"}]``; the summary is the docstring's first sentence as plain text; a plugin
    not loaded yet has ``loaded=False`` and an empty summary."""
    from specsolve.registry import list_components

    return [
        {
            "kind": c.kind,
            "name": c.name,
            "distribution": c.distribution,
            "loaded": c.obj is not None,
            "summary": c.summary if c.obj is not None else "",
        }
        for c in list_components(kind)
    ]


def plugins_info(name: str, kind: str | None = None) -> list[dict[str, Any]]:
    """Every component called ``name`` (of ``kind``), loaded, as ``specsolve plugins info NAME``: ``[{"kind",
    "name", "distribution", "object": "module.qualname", "doc", "text", "parameters": [{"name", "type",
    "default"}]}]`` (``text``: the docstring as plain text, reStructuredText markup removed).
    An unknown name is a :class:`~specsolve.errors.RegistryError` listing close matches."""
    import inspect

    from specsolve.registry import REGISTRY, get, plain_text
    from specsolve.registry.signature import describe_parameters

    matches = [c for c in REGISTRY.find(name) if kind in (None, c.kind)]
    if not matches:
        get(kind or "model", name)  # raises the unknown-name error with suggestions
    infos = []
    for c in matches:
        obj = c.load()
        infos.append(
            {
                "kind": c.kind,
                "name": c.name,
                "distribution": c.distribution,
                "object": f"{obj.__module__}.{obj.__qualname__}",
                "doc": inspect.getdoc(obj) or "",
                "text": plain_text(inspect.getdoc(obj) or ""),
                "parameters": [{"name": p, "type": t, "default": d} for p, t, d in describe_parameters(obj)],
            }
        )
    return infos

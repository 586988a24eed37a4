"""``specsolve predict``: stream a stored dataset through a checkpoint into a native prediction file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from specsolve.data.fields import FieldDataset
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.data.readers import NativeReader, Reader
from specsolve.errors import ConfigError, DataError
from specsolve.inference.background import BackgroundWriter, read_ahead
from specsolve.inference.prediction_plan import PredictionPlan
from specsolve.inference.sharded import ShardOptions, predict_sharded
from specsolve.training.checkpoint import load_module


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _sample_and_grid(
    reader: Reader, spatial_dims: tuple[str, ...], stride: int
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """The ``sample`` and (subsampled) spatial coordinates of the input data, with the spatial ones' attributes:
    the coordinates a prediction file shares with its input."""
    coords: dict[str, np.ndarray] = {"sample": np.asarray(reader.sample_ids)}
    coord_attrs = {d: dict(reader.coord_attrs.get(d, {})) for d in spatial_dims}
    for d in spatial_dims:
        coords[d] = reader.coords[d][::stride]
    return coords, coord_attrs


def predict(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    stride: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    lead_times: Sequence[float] | None = None,
    input_time_index: int | None = None,
    distributed: ShardOptions | None = None,
) -> Path | None:
    """Write predictions for every sample of ``data`` to ``out`` (same dims and coordinates, plus provenance).

    ``stride`` subsamples the stored grid (default: the training stride); any stride works for resolution-
    invariant models. Memory stays bounded by one batch; ``out`` appears only once complete (atomic rename).

    ``lead_times`` (time-conditioned models such as ``scot``, required for them): each input sample is predicted
    at every lead time, see :func:`predict_lead_times`; ``input_time_index`` picks the input frame of trajectory
    data there.
    """
    data, out = Path(data), Path(out)
    if distributed is None:
        if _same_file(data, out):
            raise DataError(f"refusing to overwrite the input data {data} with predictions")
        if out.exists() and not overwrite:
            raise DataError(f"output file already exists: {out} (pass overwrite=True to replace it)")
    module, hp = load_module(checkpoint)
    if distributed is None:
        module.to(device)
    config: dict[str, Any] = hp["config"]
    conditioned = bool(getattr(module.model, "time_conditioning", False))
    if lead_times is not None and not conditioned:
        raise ConfigError(
            f"lead times need a time-conditioned model; model '{config['model']['name']}' of {checkpoint} is not"
        )
    if lead_times is None and input_time_index is not None:
        raise ConfigError("input_time_index only applies with lead times")
    if conditioned:
        if lead_times is None:
            raise ConfigError(
                f"model '{config['model']['name']}' of {checkpoint} is time-conditioned: give lead times "
                "(pass lead_times, e.g. 0.5,1.0)"
            )
        plan = lead_time_plan(module, hp, checkpoint, data, lead_times, input_time_index, stride, batch_size)
    else:
        plan = field_plan(module, hp, checkpoint, data, stride, batch_size)
    if distributed is not None:
        return predict_sharded(plan, data, out, distributed, overwrite, progress)
    return write_predictions(plan, out, overwrite, device, progress)


class InputsOnly(Dataset):
    """``dataset[i]`` without its (empty) targets: the input tensor of a :class:`FieldDataset` item."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.dataset[index][0]


def write_predictions(
    plan: PredictionPlan,
    out: Path,
    overwrite: bool = False,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    overlap: bool = True,
) -> Path:
    """One process, one device: the batches of ``plan`` in order into one native file, renamed into place when
    complete. With ``overlap`` (default) reading, compute and writing overlap: a thread reads the next batches
    while the model runs, another writes the finished ones (:mod:`specsolve.inference.background`); the file is the
    same as written in turn (``overlap=False``)."""
    loader = DataLoader(plan.dataset, batch_size=plan.batch_size, shuffle=False)
    done = 0

    def store(start: int, blocks: dict[str, np.ndarray]) -> None:
        for name, block in blocks.items():
            writer.write(name, start, block)

    with NativeWriter(out, plan.coords, plan.variables, plan.attrs, plan.coord_attrs, overwrite=overwrite) as writer:
        with BackgroundWriter(depth=2 if overlap else 0) as background, torch.inference_mode():
            for x in read_ahead(loader) if overlap else loader:
                background.submit(store, done, plan.infer(x.to(device)))
                done += x.shape[0]
                if progress is not None:
                    progress(done, len(plan))
    return out


def _check_in_channels(data: Path, inputs: list[str], n_channels: int, hp: dict[str, Any]) -> None:
    if n_channels != hp["in_channels"]:
        raise DataError(
            f"{data}: inputs {inputs} have {n_channels} channels, the checkpoint expects {hp['in_channels']}"
        )


def _output_variables(
    outputs: list[str],
    layout: dict[str, Any],
    spatial_dims: tuple[str, ...],
    coords: dict[str, np.ndarray],
    hp: dict[str, Any],
    leading: tuple[str, ...],
    drop_time: bool = False,
) -> tuple[dict[str, VariableSpec], dict[str, tuple[slice, list[int]]]]:
    """The output variables (dims ``(*leading, *dims of the layout entry)``, ``time`` left out when ``drop_time``)
    and their channel slices of the model output; the layout's extra coordinates are added to ``coords``."""
    variables, channel_slices, start = {}, {}, 0
    for name in outputs:
        entry = layout.get(name) or {"dims": list(spatial_dims), "coords": {}}
        dims = entry["dims"] or list(spatial_dims)
        if drop_time:
            dims = [d for d in dims if d != "time"]
        extra = [d for d in dims if d not in spatial_dims]
        for d in extra:
            coords[d] = np.asarray(entry["coords"][d])
        n_ch = int(np.prod([len(coords[d]) for d in extra], dtype=int))
        channel_slices[name] = (slice(start, start + n_ch), [len(coords[d]) for d in extra])
        start += n_ch
        variables[name] = VariableSpec((*leading, *dims), attrs={"long_name": f"predicted {name}"})
    if start != hp["out_channels"]:
        raise DataError(f"checkpoint layout gives {start} output channels, the model has {hp['out_channels']}")
    return variables, channel_slices


def _plan_attrs(
    data: Path,
    checkpoint: str | Path,
    config: dict[str, Any],
    stride: int,
    extra: dict[str, Any] | None = None,
    title_suffix: str = "",
) -> dict[str, Any]:
    """Root attributes of a prediction file: provenance, ``extra`` (after ``stride``), config and title."""
    return {
        "source_dataset": str(data.resolve()),
        "checkpoint": str(Path(checkpoint).resolve()),
        "model": config["model"]["name"],
        "stride": stride,
        **(extra or {}),
        "config": yaml.safe_dump(config, sort_keys=False),
        "title": f"{config['model']['name']} predictions{title_suffix}",
    }


def field_plan(
    module: torch.nn.Module,
    hp: dict[str, Any],
    checkpoint: str | Path,
    data: Path,
    stride: int | None,
    batch_size: int | None,
) -> PredictionPlan:
    """The plan of a model without time conditioning: field inputs ``(sample, ..., space)`` -> outputs."""
    config: dict[str, Any] = hp["config"]
    data_cfg = config["data"]
    inputs, outputs = list(data_cfg["inputs"]), list(data_cfg["outputs"])
    stride = int(stride or data_cfg.get("stride", 1))
    dataset = FieldDataset(data, inputs, [], stride=stride)
    _check_in_channels(data, inputs, dataset.info.n_channels(inputs), hp)
    layout: dict[str, Any] = hp.get("layout") or {name: {"dims": None, "coords": {}} for name in outputs}
    spatial_dims = dataset.info.spatial_dims
    coords, coord_attrs = _sample_and_grid(dataset.reader, spatial_dims, stride)
    variables, channel_slices = _output_variables(outputs, layout, spatial_dims, coords, hp, ("sample",))
    attrs = _plan_attrs(data, checkpoint, config, stride)
    return PredictionPlan(
        module,
        InputsOnly(dataset),
        coords,
        coord_attrs,
        variables,
        attrs,
        batch_size or int(data_cfg.get("batch_size", 20)),
        channel_slices,
    )


class _InputFrames(Dataset):
    """Inputs ``(C_in, *S)`` of every sample: field variables ``(sample, ..., space)`` as stored, or trajectory
    variables ``(sample, time, ..., space)`` at one stored time index."""

    def __init__(self, reader: NativeReader, inputs: list[str], stride: int, time_index: int | None) -> None:
        self.time_index = time_index
        if time_index is None:
            self.fields = FieldDataset(reader, inputs, [], stride=stride)
            self.info = self.fields.info
        else:
            from specsolve.data.modules.hdf5_all2all import All2AllDataset

            self.frames = All2AllDataset(reader.path, inputs, inputs, time_indices=[time_index], stride=stride)
            self.info = self.frames.info

    def __len__(self) -> int:
        return len(self.fields) if self.time_index is None else self.frames.n_trajectories

    def __getitem__(self, index: int) -> torch.Tensor:
        if self.time_index is None:
            return self.fields[index][0]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.frames.snapshot(self.info.inputs, index, self.time_index)


def predict_lead_times(
    module: torch.nn.Module,
    hp: dict[str, Any],
    checkpoint: str | Path,
    data: Path,
    out: Path,
    lead_times: Sequence[float],
    input_time_index: int | None = None,
    stride: int | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Continuous-in-time prediction: every input sample at every lead time ``tau`` of ``lead_times`` into one
    file ``out`` (see :func:`lead_time_plan`)."""
    module.to(device)
    plan = lead_time_plan(module, hp, checkpoint, data, lead_times, input_time_index, stride, batch_size)
    return write_predictions(plan, out, overwrite, device, progress)


def lead_time_plan(
    module: torch.nn.Module,
    hp: dict[str, Any],
    checkpoint: str | Path,
    data: Path,
    lead_times: Sequence[float],
    input_time_index: int | None = None,
    stride: int | None = None,
    batch_size: int | None = None,
) -> PredictionPlan:
    """Continuous-in-time prediction: every input sample at every lead time ``tau`` of ``lead_times``.

    Lead times are in the units of the data's ``time`` coordinate (the training's ``data.time_scale`` is applied
    before the model sees them, as in training) and need not be among the training leads. Input: field variables
    as stored, or for trajectory data ``(sample, time, ..., space)`` the frame ``input_time_index`` (default: the
    first snapshot of the training config, ``time_indices[0]`` or ``time_start``). Output variables have dims
    ``(sample, lead_time, *dims of one output frame)`` with a ``lead_time`` coordinate; the root attributes
    ``input_time_index`` / ``input_time`` record the input frame (the prediction is for ``input_time + tau``).
    """
    config: dict[str, Any] = hp["config"]
    data_cfg = config["data"]
    inputs = list(data_cfg["inputs"])
    outputs = list(data_cfg.get("outputs") or inputs)
    leads = np.asarray([float(t) for t in lead_times], dtype=np.float64)
    if leads.size == 0 or not np.all(np.isfinite(leads)):
        raise ConfigError("lead times must be a non-empty list of finite numbers")
    if np.any(leads < 0):
        raise ConfigError(f"lead times must be >= 0 (the model maps u(t) to u(t + tau)), got {leads.tolist()}")
    if len(np.unique(leads)) != leads.size:
        raise ConfigError(f"lead times must be distinct, got {leads.tolist()}")
    time_scale = float(data_cfg.get("time_scale", 1.0) or 1.0)
    stride = int(stride or data_cfg.get("stride", 1))

    reader = NativeReader(data)
    for name in inputs:
        if name not in reader.variables:
            raise DataError(f"{data}: no input variable '{name}'")
    trajectory = reader.variables[inputs[0]].has_time
    time_units = reader.coord_attrs.get("time", {}).get("units")
    if trajectory:
        if input_time_index is None:
            indices = data_cfg.get("time_indices")
            input_time_index = int(indices[0]) if indices else int(data_cfg.get("time_start", 0) or 0)
        times = reader.coords["time"]
        if not 0 <= input_time_index < len(times):
            raise DataError(f"{data}: input_time_index {input_time_index} outside 0..{len(times) - 1}")
        input_time = float(times[input_time_index])
    elif input_time_index is not None:
        raise ConfigError(f"{data}: input_time_index needs trajectory inputs (sample, time, ...)")
    dataset = _InputFrames(reader, inputs, stride, input_time_index if trajectory else None)
    _check_in_channels(data, inputs, dataset.info.n_channels(inputs), hp)
    spatial_dims = dataset.info.spatial_dims
    layout: dict[str, Any] = hp.get("layout") or {}
    coords, coord_attrs = _sample_and_grid(reader, spatial_dims, stride)
    coords["lead_time"] = leads
    coord_attrs["lead_time"] = {"long_name": "lead time after the input frame"}
    if time_units:
        coord_attrs["lead_time"]["units"] = time_units
    variables, channel_slices = _output_variables(
        outputs, layout, spatial_dims, coords, hp, ("sample", "lead_time"), drop_time=True
    )
    attrs = _plan_attrs(
        data,
        checkpoint,
        config,
        stride,
        {"lead_times": leads.tolist(), "time_scale": time_scale},
        f" at {leads.size} lead times",
    )
    if trajectory:
        attrs["input_time_index"] = int(input_time_index)
        attrs["input_time"] = input_time
    return PredictionPlan(
        module,
        dataset,
        coords,
        coord_attrs,
        variables,
        attrs,
        batch_size or int(data_cfg.get("batch_size", 20)),
        channel_slices,
        leads=leads,
        time_scale=time_scale,
    )

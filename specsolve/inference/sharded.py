"""Distributed, resumable prediction: ``lightning.Trainer.predict`` writing shards of the native format.

Samples ``0..n-1`` are cut into ``N = ceil(n / S)`` contiguous shards of ``S = shard_size`` samples (the last one
shorter); shard ``i`` holds samples ``[i S, min((i + 1) S, n))`` and goes to ``<stem>-<i:05d>-of-<N:05d><suffix>``
beside ``out``, the naming of ``specsolve generate --shard``, so the glob ``<stem>-*-of-<N:05d><suffix>`` reads them
back as one dataset in sample order. The shards not yet complete are split into contiguous blocks, one per rank
(rank 0's list, broadcast, so every rank agrees); each rank writes its shards one by one through
:class:`~specsolve.data.native.NativeWriter` (temporary name, renamed when complete). No sampler pads or
shuffles: each rank iterates its own batches, cut on the global batch grid ``[k B, (k + 1) B)`` and at shard
boundaries, so with ``S`` a multiple of ``B`` every batch is the batch of the one-process run.

``resume``: a shard whose final file exists and matches (sample range, variables, provenance) is kept as it is;
the others are computed. A file of another layout or from another checkpoint / dataset is a one-line error.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from specsolve.data.native import NativeWriter, hdf5_attr_value
from specsolve.data.readers import open_hdf5
from specsolve.data.readers.base import guard
from specsolve.errors import ConfigError, DataError
from specsolve.inference.prediction_plan import PredictionPlan


@dataclass(frozen=True)
class ShardOptions:
    """How to run a sharded prediction: the Lightning ``Trainer`` arguments and the shard layout.

    ``devices`` per node x ``num_nodes`` ranks; ``shard_size`` samples per shard (default ``ceil(n / ranks)``,
    one shard per rank; on ``resume`` the layout of the shards already written); ``accelerator`` ``cpu`` / ``gpu``
    / ``auto``; ``strategy`` any Lightning strategy name (``ddp`` is the tested one).
    """

    devices: int = 1
    num_nodes: int = 1
    strategy: str | None = None
    accelerator: str = "cpu"
    shard_size: int | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        for key in ("devices", "num_nodes", "shard_size"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{key} must be an integer >= 1, got {value!r}")
        if self.accelerator not in ("cpu", "gpu", "cuda", "mps", "auto"):
            raise ConfigError(f"accelerator must be cpu, gpu or auto, got '{self.accelerator}'")

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes


@dataclass(frozen=True)
class ShardLayout:
    """``n`` samples in ``count`` shards of ``size`` (the last shorter) named after ``out``."""

    out: Path
    n: int
    size: int

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.n / self.size))

    @property
    def suffix(self) -> str:
        return self.out.suffix or ".h5"

    def bounds(self, shard: int) -> tuple[int, int]:
        return shard * self.size, min(self.n, (shard + 1) * self.size)

    def path(self, shard: int) -> Path:
        return self.out.parent / f"{self.out.stem}-{shard:05d}-of-{self.count:05d}{self.suffix}"

    @property
    def pattern(self) -> Path:
        """The glob that reads the shards back (``open_reader``, ``data: {train: ...}``, ``xr.open_mfdataset``)."""
        return self.out.parent / f"{self.out.stem}-*-of-{self.count:05d}{self.suffix}"

    def batches(self, shards: list[int], batch_size: int) -> list[tuple[int, int]]:
        """``[start, stop)`` of every batch of ``shards``: the global grid ``[k B, (k + 1) B)`` cut at shard ends."""
        out = []
        for shard in shards:
            lo, hi = self.bounds(shard)
            start = lo
            while start < hi:
                stop = min(hi, (start // batch_size + 1) * batch_size)
                out.append((start, stop))
                start = stop
        return out


def written_shards(out: Path) -> dict[Path, int]:
    """Shard files ``<stem>-<i>-of-<N><suffix>`` beside ``out`` (any ``N``) -> their ``N``."""
    suffix = out.suffix or ".h5"
    name = re.compile(re.escape(out.stem) + r"-(\d{5,})-of-(\d{5,})" + re.escape(suffix) + "$")
    found = {}
    if out.parent.is_dir():
        for p in out.parent.iterdir():
            m = name.match(p.name)
            if m and p.is_file():
                found[p] = int(m.group(2))
    return found


def _same_attr(stored: Any, expected: Any) -> bool:
    stored = stored.decode() if isinstance(stored, bytes) else stored
    expected = hdf5_attr_value(expected)
    if isinstance(expected, str) or isinstance(stored, str):
        return str(stored) == str(expected)
    return bool(np.array_equal(np.asarray(stored), np.asarray(expected)))


def shard_complete(path: Path, plan: PredictionPlan, layout: ShardLayout, shard: int) -> bool:
    """Whether ``path`` is shard ``shard`` of this prediction, finished. ``False`` for a file that does not open
    (computed again); :class:`ConfigError` for a readable file of another layout, checkpoint or dataset."""
    if not path.is_file():
        return False
    try:
        f = open_hdf5(path)
    except DataError:
        return False
    lo, hi = layout.bounds(shard)
    with f, guard(path, "checking a prediction shard"):
        mismatch = None
        samples = np.asarray(f["sample"][()]) if "sample" in f else None
        if samples is None or not np.array_equal(samples, plan.coords["sample"][lo:hi]):
            mismatch = f"its samples are not {lo}..{hi - 1} of shard size {layout.size}"
        elif not _same_attr(f.attrs.get("shard_size", -1), layout.size):
            mismatch = f"shard size {f.attrs.get('shard_size')} instead of {layout.size}"
        else:
            for key, value in plan.attrs.items():
                if key not in f.attrs or not _same_attr(f.attrs[key], value):
                    mismatch = f"attribute '{key}' differs (another checkpoint, dataset or setting)"
                    break
            for name, spec in plan.variables.items():
                shape = (hi - lo, *(len(plan.coords[d]) for d in spec.dims[1:]))
                if mismatch is None and (name not in f or f[name].shape != shape):
                    mismatch = f"variable '{name}' is missing or not of shape {shape}"
        if mismatch is not None:
            raise ConfigError(
                f"cannot resume: {path} does not belong to this prediction ({mismatch}); "
                "remove it or pass overwrite to start again"
            )
    return True


def _written_shard_size(path: Path) -> int | None:
    """The ``shard_size`` attribute of a shard file, ``None`` for a file that does not open or lacks it."""
    try:
        with open_hdf5(path) as f:
            return int(f.attrs.get("shard_size", 0)) or None
    except (DataError, OSError, ValueError):
        return None


def plan_shards(
    plan: PredictionPlan, out: Path, options: ShardOptions, overwrite: bool
) -> tuple[ShardLayout, list[int]]:
    """The layout and the shards still to compute; checks the files already there (see :func:`shard_complete`).
    With ``overwrite`` every shard is computed and shards of another layout are removed."""
    n = len(plan)
    if n == 0:
        raise DataError("no samples to predict")
    existing = written_shards(out)
    size = options.shard_size
    if options.resume and size is None:
        size = next(filter(None, map(_written_shard_size, sorted(existing))), None)  # the layout found
    layout = ShardLayout(out, n, size or math.ceil(n / options.world_size))
    others = sorted(str(p.name) for p, count in existing.items() if count != layout.count)
    if overwrite:
        for p in existing:
            if existing[p] != layout.count:
                p.unlink(missing_ok=True)
        return layout, list(range(layout.count))
    if existing and not options.resume:
        raise DataError(
            f"prediction shards already exist: {out.parent / (out.stem + '-*-of-*' + layout.suffix)} "
            "(pass resume to complete them, or pass overwrite to replace them)"
        )
    if others:
        written = _written_shard_size(out.parent / others[0])
        hint = f"pass shard_size={written}" if written else "give the shard size it was written with"
        raise ConfigError(
            f"cannot resume: {others[0]} has another shard layout than {layout.count} shards of {layout.size} "
            f"samples ({len(others)} such file(s)); {hint} to resume it, or pass overwrite to start again"
        )
    pending = [i for i in range(layout.count) if not shard_complete(layout.path(i), plan, layout, i)]
    return layout, pending


class _Batches(Dataset):
    """Item ``k``: ``(sample indices (B,), inputs (B, C_in, *S))`` of batch ``k`` of one rank (batched here, so
    Lightning iterates it without a sampler of its own)."""

    def __init__(self, dataset: Dataset, batches: list[tuple[int, int]]) -> None:
        self.dataset, self.batches = dataset, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.batches[k]
        return torch.arange(lo, hi), torch.stack([self.dataset[i] for i in range(lo, hi)])


class ShardWriter(BasePredictionWriter):
    """Writes each rank's predictions batch by batch into its current shard file; a shard is renamed into place
    when its last sample is written, so only complete shards ever carry the final name."""

    def __init__(
        self, plan: PredictionPlan, layout: ShardLayout, progress: Callable[[int, int], None] | None = None
    ) -> None:
        super().__init__(write_interval="batch")
        self.plan, self.layout, self.progress = plan, layout, progress
        self.shards: list[int] = []
        self._shard: int | None = None
        self._writer: NativeWriter | None = None
        self._next = 0
        self._done = 0

    def _begin(self, shard: int) -> None:
        lo, hi = self.layout.bounds(shard)
        path = self.layout.path(shard)
        for stale in path.parent.glob(f".{path.name}.*.partial"):  # left by a killed run; this rank owns the shard
            stale.unlink(missing_ok=True)
        coords = {**self.plan.coords, "sample": self.plan.coords["sample"][lo:hi]}
        attrs = {**self.plan.attrs, "shard": f"{shard}/{self.layout.count}", "shard_size": self.layout.size}
        writer = NativeWriter(path, coords, self.plan.variables, attrs, self.plan.coord_attrs, overwrite=True)
        self._writer = writer.__enter__()
        self._shard, self._next = shard, lo

    def _finish(self, exc: BaseException | None = None) -> None:
        writer, self._writer, self._shard = self._writer, None, None
        if writer is not None:
            writer.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        indices, blocks = prediction
        start, stop = int(indices[0]), int(indices[-1]) + 1
        shard = start // self.layout.size
        if self._shard != shard:
            if self._writer is not None:
                raise RuntimeError(f"shard {self._shard} left incomplete at sample {self._next}")
            self._begin(shard)
        if start != self._next:
            raise RuntimeError(f"shard {shard}: batch starts at sample {start}, expected {self._next}")
        assert self._writer is not None
        for name, block in blocks.items():
            self._writer.write(name, start - self.layout.bounds(shard)[0], block)
        self._next = stop
        if stop == self.layout.bounds(shard)[1]:
            self._finish()
        self._done += stop - start
        if self.progress is not None and trainer.is_global_zero:
            total = sum(hi - lo for lo, hi in map(self.layout.bounds, self.shards))
            self.progress(self._done, total)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._writer is not None:
            shard = self._shard
            self._finish(RuntimeError("incomplete"))
            raise RuntimeError(f"prediction ended with shard {shard} incomplete")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._finish(exception)  # the temporary file is removed; finished shards stay


class _Predictor(L.LightningModule):
    """The checkpoint's module behind ``Trainer.predict``: rank ``r`` takes the ``r``-th contiguous block of the
    pending shards (rank 0's list) and predicts them batch by batch."""

    def __init__(self, plan: PredictionPlan, layout: ShardLayout, pending: list[int], writer: ShardWriter) -> None:
        super().__init__()
        self.allow_zero_length_dataloader_with_multiple_devices = True  # a rank may have no pending shard
        self.net = plan.module
        self.plan, self.layout, self.pending, self.writer = plan, layout, pending, writer

    def predict_dataloader(self) -> DataLoader:
        trainer = self.trainer
        pending = trainer.strategy.broadcast(self.pending, src=0)
        blocks = np.array_split(np.asarray(pending, dtype=np.int64), trainer.world_size)
        mine = [int(i) for i in blocks[trainer.global_rank]]
        self.writer.shards = mine
        batches = _Batches(self.plan.dataset, self.layout.batches(mine, self.plan.batch_size))
        return DataLoader(batches, batch_size=None, shuffle=False)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        indices, x = batch
        return indices.cpu().numpy(), self.plan.infer(x)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def predict_sharded(
    plan: PredictionPlan,
    data: Path,
    out: Path,
    options: ShardOptions,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path | None:
    """Run ``plan`` under ``lightning.Trainer.predict`` on ``options.world_size`` ranks into shards beside
    ``out`` (see the module docstring). Returns the shards' glob on rank 0 once every shard is complete (all
    ranks meet at a barrier first), ``None`` on the other ranks."""
    if out.exists() and out.is_dir():
        raise DataError(f"output path is a directory: {out} (give a file name; shards are written beside it)")
    if options.resume and overwrite:
        raise ConfigError("resume and overwrite exclude each other")
    layout, pending = plan_shards(plan, out, options, overwrite)
    if any(p.exists() and data.exists() and p.samefile(data) for p in map(layout.path, range(layout.count))):
        raise DataError(f"refusing to overwrite the input data {data} with predictions")
    if not pending:  # every shard complete: nothing to launch
        return layout.pattern
    writer = ShardWriter(plan, layout, progress)
    try:
        trainer = L.Trainer(
            accelerator="gpu" if options.accelerator == "cuda" else options.accelerator,
            devices=options.devices,
            num_nodes=options.num_nodes,
            strategy=options.strategy or "auto",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            callbacks=[writer],
            default_root_dir=str(out.parent),
        )
    except (MisconfigurationException, ValueError, RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"cannot predict with accelerator={options.accelerator}, devices={options.devices}, "
            f"num_nodes={options.num_nodes}, strategy={options.strategy}: {_first_line(exc)}"
        ) from exc
    with warnings.catch_warnings():
        # a rank without pending shards; batch indices travel in the batches themselves
        warnings.filterwarnings("ignore", message=".*(local rank has zero length|across ranks is zero).*")
        warnings.filterwarnings("ignore", message=".*infer the batch indices.*")
        trainer.predict(_Predictor(plan, layout, pending, writer), return_predictions=False)
    try:
        trainer.strategy.barrier("specsolve-predict-shards")  # every rank's shards are final past this point
    except RuntimeError as exc:  # gloo / NCCL: a peer process is gone
        raise DataError(
            f"prediction stopped: another rank failed ({_first_line(exc)}); the complete shards are kept, "
            "pass resume to compute the rest"
        ) from exc
    if not trainer.is_global_zero:
        return None
    missing = [layout.path(i).name for i in range(layout.count) if not layout.path(i).is_file()]
    if missing:
        raise DataError(
            f"prediction incomplete: {len(missing)} shard(s) missing, first {missing[0]}; rerun with resume"
        )
    return layout.pattern

"""The ``hdf5`` dataset: a Lightning DataModule over native (or any dimension-labelled) HDF5 field files, read
through :class:`~specsolve.data.readers.NativeReader` like every other format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import Dataset, Subset

from specsolve.data.augmentation import build_augmentation, channel_keys
from specsolve.data.fields import FieldDataset, channel_statistics, pointwise_statistics
from specsolve.data.modules.loaders import (
    SplitLoaders,
    Workers,
    check_workers,
    merge_shards,
    one_storage_collate,
    shard_paths,
)
from specsolve.errors import ConfigError, DataError
from specsolve.registry import register


def open_fields(pattern: str, inputs: list[str], outputs: list[str], stride: int, cache: bool) -> Dataset:
    """One file, or every file matching a glob pattern (shards ``train-*-of-*.h5``) read back as one dataset."""
    parts = [FieldDataset(Path(p), inputs, outputs, stride, cache) for p in shard_paths(pattern)]
    first = parts[0].info
    for part in parts[1:]:
        if (part.info.spatial_shape, part.info.channels) != (first.spatial_shape, first.channels):
            raise DataError(
                f"shard {part.info.path} has grid {part.info.spatial_shape} / channels {part.info.channels}, "
                f"but {first.path} has {first.spatial_shape} / {first.channels}"
            )
    return merge_shards(parts)


@register("dataset", "hdf5")
class FieldDataModule(SplitLoaders, L.LightningDataModule):
    """Input/output fields from HDF5 files: ``x: (B, C_in, *S)``, ``y: (B, C_out, *S)``.

    Parameters
    ----------
    train, val, test : file paths or glob patterns over shards; ``val`` defaults to ``test`` (the FNO scripts
        report test error per epoch).
    inputs, outputs : variable names stacked as channels (extra non-spatial dims fold into channels).
    batch_size, num_workers : DataLoader settings; each worker opens its own HDF5 handle.
    workers : ``processes`` (DataLoader worker processes) or ``threads`` (``num_workers`` threads of the training
        process: no shared-memory transfer; :class:`~specsolve.data.modules.loaders.ThreadedDataLoader`).
    stride : spatial subsampling of the stored grid (85 = 421[::5]).
    eval_strides : further strides at which ``evaluate`` reports errors (zero-shot resolution transfer).
    n_train : use only the first ``n_train`` training samples (None = all).
    cache : keep samples in RAM after the first read (for datasets that fit).
    seed : the shuffling order of epoch ``e`` is a permutation seeded by ``seed + e`` (resumable runs).
    normalization : ``channel`` (mean / std per channel over samples and grid) or ``pointwise`` (per grid point over
        samples only, the FNO Darcy scripts' ``UnitGaussianNormalizer``; ties the model to the training grid).
    augmentation : symmetry augmentation of the training split (``{group: p4}``, ``{translate: true,
        periodic_axes: [x, y]}``, ...: :class:`specsolve.data.augmentation.SymmetryAugmentation`); None = off.

    In DataLoader workers a batch is read straight into one shared storage
    (:meth:`specsolve.data.fields.FieldDataset.__getitems__`) and handed over as it is
    (:func:`~specsolve.data.modules.loaders.one_storage_collate`).
    """

    collate_fn = staticmethod(one_storage_collate)

    def __init__(
        self,
        train: str,
        inputs: list[str],
        outputs: list[str],
        test: str | None = None,
        val: str | None = None,
        batch_size: int = 20,
        num_workers: int = 0,
        workers: Workers = "processes",
        stride: int = 1,
        eval_strides: list[int] | None = None,
        n_train: int | None = None,
        cache: bool = False,
        seed: int = 0,
        normalization: str = "channel",
        augmentation: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if normalization not in ("channel", "pointwise"):
            raise ConfigError(f"data.normalization must be 'channel' or 'pointwise', got {normalization!r}")
        self.normalization = normalization
        self._configure(train, inputs, outputs, test, val, batch_size, num_workers, stride, eval_strides, n_train)
        self.workers = check_workers(workers)
        self.cache, self.seed = cache, seed
        for split, path in self.paths.items():
            if path is not None:
                self.datasets[split] = open_fields(path, self.inputs, self.outputs, stride, cache)
        self._describe_train()
        self._bind_augmentation(augmentation)

    def _configure(
        self,
        train: str,
        inputs: list[str],
        outputs: list[str],
        test: str | None,
        val: str | None,
        batch_size: int,
        num_workers: int,
        stride: int,
        eval_strides: list[int] | None,
        n_train: int | None,
    ) -> None:
        """Check the loader options and keep the settings every field DataModule has."""
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if stride < 1:
            raise ConfigError(f"data.stride must be >= 1, got {stride}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        self.paths = {"train": train, "val": val or test, "test": test}
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.stride, self.eval_strides = stride, list(eval_strides or [])
        self.n_train = n_train
        self.datasets: dict[str, Dataset] = {}

    def _describe_train(self) -> None:
        """Check ``n_train`` against the training split; channel counts and grid as the model sees them."""
        train_set = self.datasets["train"]
        if self.n_train is not None and not 1 <= self.n_train <= len(train_set):
            raise ConfigError(f"data.n_train={self.n_train} but the training data have {len(train_set)} samples")
        self.in_channels = train_set.info.n_channels(self.inputs)
        self.out_channels = train_set.info.n_channels(self.outputs)
        self.spatial_shape = train_set.spatial_shape

    def _bind_augmentation(self, augmentation: dict[str, Any] | None) -> None:
        info = self.datasets["train"].info
        x_keys, y_keys = channel_keys(info, self.inputs), channel_keys(info, self.outputs)
        self.augmentation = build_augmentation(augmentation, info, self.spatial_shape, x_keys, y_keys)

    def normalization_statistics(self) -> dict:
        if getattr(self, "normalization", "channel") == "pointwise":
            return pointwise_statistics(self._train_subset())
        return channel_statistics(self._train_subset())

    def _train_subset(self) -> Dataset:
        train = self.datasets["train"]
        return train if self.n_train is None else Subset(train, range(self.n_train))

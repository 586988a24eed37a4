"""The base of the ``pdebench`` / ``well`` / ``fno_mat`` DataModules: :class:`FieldDataModule` over any
:mod:`specsolve.data.readers` reader (private helper: not a component itself).

Samples come from :class:`specsolve.data.fields.FieldDataset`, the same dataset the native ``hdf5`` DataModule
uses; variables are chosen by selectors (``name``, ``name[t]``, ``name[start:stop]``, see
:mod:`specsolve.data.fields`).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from torch.utils.data import Subset

from specsolve.data.fields import FieldDataset
from specsolve.data.modules.hdf5_fields import FieldDataModule
from specsolve.data.readers import open_reader
from specsolve.errors import ConfigError


class ReaderDataModule(FieldDataModule):
    """:class:`FieldDataModule` over a reader instead of a native file (subclasses fix the format and options).

    ``train`` / ``val`` / ``test``: a file, a directory of shards or a glob; ``*_range: [start, stop]`` takes a
    sample range of that split (FNO's Navier-Stokes scripts take train and test from one file:
    ``train_range: [0, 1000]``, ``test_range: [4800, 5000]``).
    """

    format = "auto"

    def _setup(
        self,
        train: str,
        inputs: list[str],
        outputs: list[str],
        test: str | None,
        val: str | None,
        batch_size: int,
        num_workers: int,
        stride: int,
        n_train: int | None,
        cache: bool,
        train_range: list[int] | None,
        test_range: list[int] | None,
        seed: int,
        reader_options: dict[str, Any],
    ) -> None:
        """What ``FieldDataModule.__init__`` does, with readers instead of native files (same attributes, so its
        loaders and normalisation statistics work unchanged)."""
        L.LightningDataModule.__init__(self)
        self._configure(train, inputs, outputs, test, val, batch_size, num_workers, stride, None, n_train)
        self.cache, self.seed = cache, seed
        ranges = {"train": train_range, "val": test_range if val is None else None, "test": test_range}
        for split, path in self.paths.items():
            if path is None:
                continue
            reader = open_reader(path, self.format, **reader_options)
            dataset = FieldDataset(reader, self.inputs, self.outputs, stride, cache)
            bounds = ranges[split]
            if bounds is not None:
                if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1] <= len(dataset):
                    raise ConfigError(
                        f"data.{split}_range {bounds} must be [start, stop] within {len(dataset)} samples"
                    )
                subset = Subset(dataset, range(bounds[0], bounds[1]))
                subset.info = dataset.info  # type: ignore[attr-defined]
                subset.spatial_shape = dataset.spatial_shape  # type: ignore[attr-defined]
                dataset = subset  # type: ignore[assignment]
            self.datasets[split] = dataset
        self._describe_train()

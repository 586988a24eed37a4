"""The base of the ``pdebench`` / ``well`` / ``fno_mat`` DataModules: :class:`FieldDataModule` over any
:mod:`specsolve.data.readers` reader.

Samples come from :class:`specsolve.data.fields.FieldDataset`, the same dataset the native ``hdf5`` DataModule
uses; variables are chosen by selectors (``name``, ``name[t]``, ``name[start:stop]``, see
:mod:`specsolve.data.fields`). A format's DataModule declares only ``format`` and, when its reader takes options,
a ``reader_options`` function whose keyword parameters become constructor parameters (so the config schema of
every reader DataModule is the shared loader settings plus its reader's options, written once).
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

import lightning as L
from torch.utils.data import Subset

from specsolve.data.fields import FieldDataset
from specsolve.data.modules.hdf5_fields import FieldDataModule
from specsolve.data.modules.loaders import Workers, check_workers
from specsolve.data.readers import open_reader
from specsolve.errors import ConfigError


class ReaderDataModule(FieldDataModule):
    """:class:`FieldDataModule` over a reader instead of a native file (subclasses fix the format and options).

    ``train`` / ``val`` / ``test``: a file, a directory of shards or a glob; ``*_range: [start, stop]`` takes a
    sample range of that split (FNO's Navier-Stokes scripts take train and test from one file:
    ``train_range: [0, 1000]``, ``test_range: [4800, 5000]``).
    """

    format = "auto"

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
        n_train: int | None = None,
        cache: bool = False,
        train_range: list[int] | None = None,
        test_range: list[int] | None = None,
        seed: int = 0,
        augmentation: dict[str, Any] | None = None,
        **reader_options: Any,
    ) -> None:
        """What ``FieldDataModule.__init__`` does, with readers instead of native files (same attributes, so its
        loaders and normalisation statistics work unchanged); ``reader_options`` go to :func:`open_reader`."""
        L.LightningDataModule.__init__(self)
        self._configure(train, inputs, outputs, test, val, batch_size, num_workers, stride, None, n_train)
        self.workers = check_workers(workers)
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
        self._bind_augmentation(augmentation)

    @staticmethod
    def reader_options() -> None:
        """The reader's own keyword options (none); a subclass overrides it with the options of its format."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = constructor_with_reader_options(cls.reader_options)  # type: ignore[method-assign]


def constructor_with_reader_options(reader_options: typing.Callable[..., None]) -> typing.Callable[..., None]:
    """``ReaderDataModule.__init__`` with the keyword parameters of ``reader_options`` as its explicit signature
    (``__signature__`` and resolved annotations), so config validation sees every option and no ``**kwargs``."""
    base = ReaderDataModule.__init__
    base_parameters = [p for p in inspect.signature(base).parameters.values() if p.kind is not p.VAR_KEYWORD]
    options = [p.replace(kind=p.KEYWORD_ONLY) for p in inspect.signature(reader_options).parameters.values()]
    names = [p.name for p in options]

    @functools.wraps(base)
    def __init__(self: ReaderDataModule, *args: Any, **kwargs: Any) -> None:
        unknown = set(kwargs) - {p.name for p in base_parameters} - set(names)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {sorted(unknown)}")
        base(self, *args, **kwargs)

    del __init__.__wrapped__  # inspect must read __signature__, not the generic base
    __init__.__signature__ = inspect.Signature(base_parameters + options, return_annotation=None)  # type: ignore[attr-defined]
    hints = {k: v for k, v in typing.get_type_hints(base).items() if k != "reader_options"}
    __init__.__annotations__ = {**hints, **typing.get_type_hints(reader_options)} | {"return": type(None)}
    return __init__

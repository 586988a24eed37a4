"""The ``pdebench`` dataset: PDEBench files (single-array or per-sample groups) read in place."""

from __future__ import annotations

from specsolve.data.modules.reader_fields import ReaderDataModule
from specsolve.registry import register


@register("dataset", "pdebench")
class PDEBenchDataModule(ReaderDataModule):
    """PDEBench HDF5 files as ``x: (B, C_in, *S)``, ``y: (B, C_out, *S)``, without conversion.

    ``inputs`` / ``outputs`` are variable selectors: ``tensor[0]`` (initial frame), ``tensor[1:]`` (the rest,
    folded into channels), ``nu`` and ``tensor`` for 2D Darcy; per-sample-group files name their channels
    ``data_0, data_1, ...`` unless ``channel_names`` is given. ``train`` / ``val`` / ``test``: a file, a
    directory of shards or a glob; ``train_range`` / ``test_range``: ``[start, stop]`` sample ranges; ``seed``
    seeds the per-epoch shuffling (as in ``hdf5``).
    """

    format = "pdebench"

    def __init__(
        self,
        train: str,
        inputs: list[str],
        outputs: list[str],
        test: str | None = None,
        val: str | None = None,
        batch_size: int = 20,
        num_workers: int = 0,
        stride: int = 1,
        n_train: int | None = None,
        cache: bool = False,
        train_range: list[int] | None = None,
        test_range: list[int] | None = None,
        seed: int = 0,
        channel_names: list[str] | None = None,
    ) -> None:
        self._setup(
            train,
            inputs,
            outputs,
            test,
            val,
            batch_size,
            num_workers,
            stride,
            n_train,
            cache,
            train_range,
            test_range,
            seed,
            {"channel_names": channel_names},
        )

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

    @staticmethod
    def reader_options(
        channel_names: list[str] | None = None,
    ) -> None:
        """Option of the ``pdebench`` reader: ``channel_names`` of per-sample-group files."""

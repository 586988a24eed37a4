"""The ``well`` dataset (was ``the_well``): The Well's HDF5 files (one split directory of shards) read in place."""

from __future__ import annotations

from specsolve.data.modules.reader_fields import ReaderDataModule
from specsolve.registry import register


@register("dataset", "well")
class WellDataModule(ReaderDataModule):
    """Well-format files as ``x: (B, C_in, *S)``, ``y: (B, C_out, *S)``, one trajectory per sample.

    ``train`` / ``val`` / ``test``: a split directory (``<name>/data/train``), a file or a glob. Vector fields
    appear as components (``velocity_x``, ``velocity_y``); selectors index time: ``inputs: [u[0:4]]``,
    ``outputs: [u[4]]`` maps four frames to the next one (fixed windows; The Well's own sliding windows are
    ``the_well.data.WellDataset``). Constant scalars (``/scalars``) can be inputs: they become constant channels.
    """

    format = "well"

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
            {},
        )

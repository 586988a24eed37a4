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

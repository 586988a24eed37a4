"""The ``fno_mat`` dataset: FNO's ``.mat`` files (v7.3 lazily, v5 loaded whole) read in place."""

from __future__ import annotations

from typing import Literal

from specsolve.data.modules.reader_fields import ReaderDataModule
from specsolve.registry import register


@register("dataset", "fno_mat")
class FnoMatDataModule(ReaderDataModule):
    """FNO ``.mat`` files as ``x: (B, C_in, *S)``, ``y: (B, C_out, *S)``.

    Darcy: ``inputs: [coeff]``, ``outputs: [sol]``, ``stride: 5`` (421 -> 85); Navier-Stokes
    (``u`` ``[N, 64, 64, T]``, presented as ``(time, x, y)``): ``inputs: ["u[0:10]"]``, ``outputs: ["u[10:20]"]``
    with ``train_range: [0, 1000]``, ``test_range: [4800, 5000]`` on one file. ``grid`` is the assumed grid
    (the files store none); v5 files larger than ``max_eager_bytes`` are refused (they cannot be read lazily).
    """

    format = "fno_mat"

    @staticmethod
    def reader_options(
        grid: Literal["vertex", "periodic"] = "vertex",
        max_eager_bytes: int = 2 * 1024**3,
    ) -> None:
        """Options of the ``fno_mat`` reader: ``grid`` (the assumed grid) and ``max_eager_bytes`` (v5 size limit)."""

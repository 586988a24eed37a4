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
        grid: Literal["vertex", "periodic"] = "vertex",
        max_eager_bytes: int = 2 * 1024**3,
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
            {"grid": grid, "max_eager_bytes": max_eager_bytes},
        )

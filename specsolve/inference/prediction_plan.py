"""The prediction plan: what a prediction writer (one process or sharded) needs to know about a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from specsolve.data.native import VariableSpec


@dataclass
class PredictionPlan:
    """Everything a prediction writer needs: the inputs, the output file's layout and the model call.

    ``dataset[i]`` is the model input ``(C_in, *S)`` of sample ``i`` (``sample`` coordinate ``coords["sample"][i]``);
    ``infer(x)`` maps a batch ``(B, C_in, *S)`` to one array ``(B, *dims[1:])`` per output variable.
    """

    module: torch.nn.Module
    dataset: Dataset
    coords: dict[str, np.ndarray]
    coord_attrs: dict[str, dict[str, Any]]
    variables: dict[str, VariableSpec]
    attrs: dict[str, Any]
    batch_size: int
    channel_slices: dict[str, tuple[slice, list[int]]]
    leads: np.ndarray | None = None
    time_scale: float = 1.0

    def __len__(self) -> int:
        return len(self.dataset)

    def infer(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        """Outputs of a batch, split into variables: ``(B, [n_leads,] *extra, *S)`` float32 arrays."""
        if self.leads is None:
            pred = self.module(x).float().cpu().numpy()
            lead_axes: tuple[int, ...] = ()
        else:
            preds = []
            for tau in self.leads:
                t = torch.full((x.shape[0],), self.time_scale * tau, dtype=x.dtype, device=x.device)
                preds.append(self.module(x, t).float().cpu().numpy())
            pred = np.stack(preds, axis=1)  # (B, n_leads, C_out, *S)
            lead_axes = (pred.shape[1],)
        blocks = {}
        for name, (channels, extra_shape) in self.channel_slices.items():
            block = pred[(slice(None),) * (1 + len(lead_axes)) + (channels,)]
            axis = 1 + len(lead_axes)
            blocks[name] = block.reshape(*block.shape[:axis], *extra_shape, *block.shape[axis + 1 :])
        return blocks

"""Stopping a training run from inside: a Lightning callback that sends this process SIGTERM after a given step."""

from __future__ import annotations

import os
import signal

from lightning.pytorch.callbacks import Callback


class SendSigterm(Callback):
    """SIGTERM to this process at the end of the training batch that makes ``global_step == at_step``."""

    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.at_step:
            os.kill(os.getpid(), signal.SIGTERM)

"""``last.ckpt`` at the end of every epoch whatever the monitor does, and preemption-safe stops.

Lightning 2.6's ``ModelCheckpoint(save_last=True, monitor=...)`` writes ``last`` only in a step where a top-k
checkpoint is written too, so with a validation metric that stops improving ``last.ckpt`` stays at the best epoch.
:class:`LastCheckpoint` writes it itself:

- at the end of every training epoch (after validation, after ``best.ckpt``);
- every ``every_n_train_steps`` optimizer steps inside an epoch, if set;
- at the next safe point after SIGTERM (what SLURM and Kubernetes send before killing a job) or SIGINT (Ctrl-C):
  the end of the current training batch (not inside a gradient-accumulation window, not after the epoch's last
  batch, whose epoch end comes first), after which the run stops with :class:`Preempted` (one line, non-zero
  exit). A second SIGINT stops at once, without a checkpoint. Under DDP the ranks agree on the stop (an
  all-reduce of the flag after every batch), so a signal that reaches one rank stops all at the same batch.

Mid-epoch checkpoints resume exactly: the training loader is a
:class:`~specsolve.data.modules.loaders.ResumableDataLoader` whose ``batches_done`` this callback keeps up to
date and which Lightning saves with the fit loop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from specsolve.errors import SpecsolveError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(SpecsolveError):
    """Training stopped on SIGTERM / SIGINT after writing a checkpoint to resume from."""


class LastCheckpoint(Checkpoint):
    """Writes ``path`` (``last.ckpt``) at every epoch end, every ``every_n_train_steps`` steps and on a stop signal.

    It is a :class:`~lightning.pytorch.callbacks.Checkpoint`, so Lightning runs it after the other callbacks and,
    placed after the ``best`` ``ModelCheckpoint``, after that one: the state it saves includes this epoch's best.
    """

    def __init__(self, path: str | Path, every_n_train_steps: int | None = None, handle_signals: bool = True) -> None:
        self.path = Path(path)
        self.every_n_train_steps = every_n_train_steps
        self.handle_signals = handle_signals
        self.received: str | None = None  # name of the stop signal received, if any

    # -- signals ------------------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.received is not None:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.received = signal.Signals(signum).name

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Catch SIGTERM / SIGINT for the block (the fit), restoring the previous handlers afterwards."""
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            yield
        except SIGTERMException as exc:  # Lightning's handler, active until training starts (sanity check)
            raise Preempted("training stopped by SIGTERM before its first training step: nothing new to save") from exc
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """Restore the loader's place; take SIGTERM back from Lightning, which installed its own handler meanwhile
        (chaining ours): it would stop inside validation, and exit with status 0."""
        self._restore_loader(trainer)
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        connector = getattr(trainer, "_signal_connector", None)
        if getattr(connector, "received_sigterm", False):
            self.received = self.received or "SIGTERM"
            connector.received_sigterm = False
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        states = (checkpoint.get("loops") or {}).get("fit_loop", {}).get("state_dict", {}).get("combined_loader")
        self._loader_state = states[0] if states else None

    def _restore_loader(self, trainer: Any) -> None:
        """Put the training loader at its saved place. Lightning 2.6 restores a stateful loader only if the loader
        is built after the loops are restored; ``configure_optimizers`` asks for ``estimated_stepping_batches``,
        which builds it before, so the state is applied here, before the first batch is drawn."""
        state, self._loader_state = getattr(self, "_loader_state", None), None
        loader = trainer.train_dataloader
        if state is not None and hasattr(loader, "load_state_dict") and not getattr(loader, "restored", False):
            loader.load_state_dict(state)

    def _stop_requested(self, trainer: Any) -> bool:
        requested = self.received is not None
        if trainer.world_size > 1:  # every rank takes part, every batch, so that all stop at the same one
            requested = bool(trainer.strategy.reduce_boolean_decision(requested, all=False))
        return requested

    def _stop(self, trainer: Any, where: str) -> None:
        trainer.save_checkpoint(self.path)
        name = self.received or "a stop signal on another rank"
        raise Preempted(
            f"training stopped by {name} {where} (epoch {trainer.current_epoch}, step {trainer.global_step}); "
            f"checkpoint written to {self.path}: pass resume=True to continue"
        )

    # -- saving -------------------------------------------------------------------------------------------
    @staticmethod
    def _skip(trainer: Any) -> bool:
        return bool(trainer.sanity_checking or trainer.fast_dev_run)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        loader = trainer.train_dataloader
        if hasattr(loader, "batches_done"):
            loader.batches_done = 0

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        loader = trainer.train_dataloader
        if hasattr(loader, "batches_done"):
            loader.batches_done = batch_idx + 1
        if self._skip(trainer):
            return
        last_of_epoch = batch_idx + 1 >= trainer.num_training_batches
        mid_accumulation = (batch_idx + 1) % trainer.accumulate_grad_batches != 0
        if last_of_epoch or mid_accumulation:
            return  # not a safe point: the epoch end (validation, best, last) or the optimizer step comes first
        if self._stop_requested(trainer):
            self._stop(trainer, "during the epoch")
        n = self.every_n_train_steps
        if n and trainer.global_step % n == 0:
            trainer.save_checkpoint(self.path)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._skip(trainer):
            return
        trainer.save_checkpoint(self.path)
        finished = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if not finished and self._stop_requested(trainer):
            raise Preempted(
                f"training stopped by {self.received or 'a stop signal on another rank'} at the end of epoch "
                f"{trainer.current_epoch}; checkpoint written to {self.path}: pass resume=True to continue"
            )

"""The LightningModule that wraps any registered model with normalisation, a weighted loss and metrics."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from specsolve.config.loading import component_spec
from specsolve.errors import ConfigError, SpecsolveError
from specsolve.registry import create, get
from specsolve.training.compile import compile_options, split_model_section
from specsolve.training.optim.param_groups import optimizer_params


class DivergenceError(SpecsolveError):
    """The loss became NaN or infinite."""


def build_model(model_cfg: dict[str, Any]) -> nn.Module:
    """The network of a model section; model-wide options (``compile``, training/compile.py) are not passed on."""
    name, params, _ = split_model_section(model_cfg, "model")
    return create("model", name, **params)


def build_losses(loss_cfg: Any) -> list[tuple[float, str, nn.Module]]:
    """``[{name, weight, ...params}]`` -> ``[(weight, name, module)]``; a single mapping is accepted too."""
    entries = loss_cfg if isinstance(loss_cfg, list) else [loss_cfg]
    if not entries:
        raise ConfigError("loss: the list of losses is empty")
    losses = []
    for i, entry in enumerate(entries):
        name, params = component_spec(entry, f"loss[{i}]")
        weight = params.pop("weight", 1.0)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise ConfigError(f"loss[{i}].weight must be a number, got {weight!r}")
        losses.append((float(weight), name, create("loss", name, **params)))
    return losses


def broadcast_stat(stat: Tensor, like: Tensor, channel_axis: int) -> Tensor:
    """A normalisation statistic shaped to broadcast against ``like``: per channel ``(C,)`` sits on
    ``channel_axis``; pointwise ``(C, *S)`` (``data.normalization: pointwise``) fills the axes from it on."""
    if stat.dim() == 1:
        shape = [1] * like.dim()
        shape[channel_axis] = -1
        return stat.view(shape).to(like.dtype)
    if tuple(like.shape[channel_axis:]) != tuple(stat.shape):
        from specsolve.errors import DataError

        raise DataError(
            f"pointwise normalisation statistics have shape {tuple(stat.shape)} (channels, grid of the training "
            f"data) but the field has {tuple(like.shape[channel_axis:])}: predict on the training grid"
        )
    return stat.view(*[1] * channel_axis, *stat.shape).to(like.dtype)


class OperatorModule(L.LightningModule):
    """Trains ``model`` on normalised fields: ``pred = denorm_y(model(norm_x(x)))``; losses compare ``pred`` with the
    raw target in physical units (as the FNO scripts decode before ``LpLoss``).

    ``config`` is the whole resolved run config (plain dict); it is saved in every checkpoint
    (``hyper_parameters``) and is all that is needed, with the state dict, to rebuild the model.
    Normalisation statistics are buffers, so they travel in the state dict too.
    """

    def __init__(
        self,
        config: dict[str, Any],
        in_channels: int,
        out_channels: int,
        stats: dict[str, Tensor] | None = None,
        layout: dict[str, Any] | None = None,
        channel_axis: int | None = None,
    ) -> None:
        super().__init__()
        # where the physical channels sit in a batch: 1 for (B, C, *S); 2 for time-axis windows (B, T, C, *S),
        # i.e. a data section with ``layout: time`` (hdf5_windows); normalisation broadcasts over that axis
        self.channel_axis = channel_axis or (2 if (config.get("data") or {}).get("layout") == "time" else 1)
        self.save_hyperparameters(
            {"config": config, "in_channels": in_channels, "out_channels": out_channels, "layout": layout or {}}
        )
        self.config = config
        self.model = build_model(config["model"])
        self.compile_options = compile_options(config["model"].get("compile"))
        entries = build_losses(config["loss"])
        self.loss_weights = [w for w, _, _ in entries]
        self.loss_names = [n for _, n, _ in entries]
        self.losses = nn.ModuleList(m for _, _, m in entries)
        stats = stats or {}
        for key, size in (("x", in_channels), ("y", out_channels)):
            self.register_buffer(f"{key}_mean", stats.get(f"{key}_mean", torch.zeros(size)).clone())
            std = stats.get(f"{key}_std", torch.ones(size)).clone()
            self.register_buffer(f"{key}_std", torch.where(std > 0, std, torch.ones_like(std)))
        from specsolve.metrics.relative_l2 import RelativeL2

        self.val_rel_l2 = RelativeL2()
        from specsolve.training.objectives import objective_options

        self.objective = objective_options(config)  # teacher forcing, unrolled or pushforward (training/objectives)
        self._register_load_state_dict_pre_hook(self._resize_stats)

    def setup(self, stage: str) -> None:
        """``model.compile``: compile the network in place for training (``nn.Module.compile``: the state dict keys
        stay those of the eager model); other stages (predict, test) run it eagerly."""
        if (
            stage == "fit"
            and self.compile_options is not None
            and getattr(self.model, "_compiled_call_impl", None) is None
        ):
            self.model.compile(**self.compile_options)

    def _resize_stats(self, state_dict: dict[str, Tensor], prefix: str, *args: Any) -> None:
        """Pointwise statistics ``(C, *S)`` in a checkpoint replace the ``(C,)`` placeholders of a fresh module."""
        for key in ("x_mean", "x_std", "y_mean", "y_std"):
            stored = state_dict.get(prefix + key)
            if stored is not None and stored.shape != getattr(self, key).shape:
                setattr(self, key, torch.empty_like(stored))

    def _shape(self, stat: Tensor, like: Tensor) -> Tensor:
        return broadcast_stat(stat, like, self.channel_axis)

    def forward(self, x: Tensor, t: Tensor | None = None) -> Tensor:
        """``t``: lead times ``(B,)`` of three-element batches ``(x, y, t)``, passed on as ``model(x, t)``."""
        xn = (x - self._shape(self.x_mean, x)) / self._shape(self.x_std, x)
        out = self.model(xn) if t is None else self.model(xn, t)
        y = out * self._shape(self.y_std, out) + self._shape(self.y_mean, out)
        # a model may constrain its prediction in physical units (e.g. a Dirichlet boundary after de-normalising)
        constrain = getattr(self.model, "constrain_output", None)
        return y if constrain is None else constrain(y)

    def compute_loss(self, pred: Tensor, y: Tensor, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        parts = {name: loss(pred, y, inputs=x) for name, loss in zip(self.loss_names, self.losses)}
        total = sum(w * v for w, v in zip(self.loss_weights, parts.values()))
        return total, parts

    def objective_step(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """``(pred, loss, parts)`` of a batch under ``config.objective``; recurrent objectives roll the model out."""
        x, y, *rest = batch  # (x, y) or (x, y, t)
        if not self.objective.recurrent:
            pred = self(x, *rest)
            loss, parts = self.compute_loss(pred, y, x)
            return pred, loss, parts
        if rest:
            raise ConfigError(f"objective.name={self.objective.name} needs (x, y) windows, not lead-time batches")
        from specsolve.training.objectives import objective_loss

        loss, pred = objective_loss(self.objective, self, lambda p, t, inp: self.compute_loss(p, t, inp)[0], x, y)
        return pred, loss, {}

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x = batch[0]
        pred, loss, parts = self.objective_step(batch)
        if not torch.isfinite(loss):
            raise DivergenceError(
                f"training diverged: loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                "the last good checkpoint is kept"
            )
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0], sync_dist=True)
        if len(parts) > 1:
            for name, value in parts.items():
                self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=x.shape[0], sync_dist=True)
        return loss

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        pred, loss, _ = self.objective_step(batch)  # recurrent objectives: the K-step rollout and its error
        self.val_rel_l2.update(pred, y)
        self.log("val/loss", loss, on_step=False, on_epoch=True, batch_size=x.shape[0], sync_dist=True)
        self.log("val/rel_l2", self.val_rel_l2, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0])

    def configure_optimizers(self) -> Any:
        name, params = component_spec(self.config["optimizer"], "optimizer")
        params, parameters = optimizer_params(self, params, get("optimizer", name))  # optimizer.param_groups
        optimizer = create("optimizer", name, **params)(parameters)
        sname, sparams = component_spec(self.config["scheduler"], "scheduler")
        scheduler_factory = create("scheduler", sname, **sparams)
        max_epochs = int(self.trainer.max_epochs or 1) if self.trainer else 1
        steps = int(self.trainer.estimated_stepping_batches // max(max_epochs, 1)) if self.trainer else 1
        scheduler = scheduler_factory(optimizer, max_epochs, max(steps, 1))
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

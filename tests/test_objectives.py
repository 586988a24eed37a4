"""Training objectives (specsolve/training/objectives.py): teacher forcing, unrolled, pushforward."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import specsolve
from specsolve.config.loading import load_config
from specsolve.errors import ConfigError
from specsolve.training.objectives import Objective, objective_loss, objective_options

ROOT = Path(__file__).resolve().parents[1]


def rel_l2(pred: torch.Tensor, y: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    return ((pred - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean()


def tiny() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = specsolve.create("model", "fno", in_channels=3, out_channels=1, modes=[3, 3], width=4, layers=2).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    y = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    return model, x, y


def grads(model: torch.nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


def test_unrolled_loss_and_gradient_equal_a_hand_written_loop() -> None:
    """The FNO NS-2D script: predict one frame, append it to the window, repeat; the losses of all steps summed."""
    model, x, y = tiny()
    loss, pred = objective_loss(Objective("unrolled", 4), model, rel_l2, x, y)
    window, expected, frames = x, 0.0, []
    for k in range(4):
        out = model(window)
        expected = expected + rel_l2(out, y[:, k : k + 1])
        frames.append(out)
        window = torch.cat([window[:, 1:], out], dim=1)
    assert torch.allclose(loss, expected, rtol=1e-12)
    assert torch.allclose(pred, torch.cat(frames, dim=1), rtol=1e-12)
    ours = grads(model, objective_loss(Objective("unrolled", 4), model, rel_l2, x, y)[0])
    for a, b in zip(ours, grads(model, expected)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)


def test_pushforward_gradient_flows_through_the_last_step_only() -> None:
    model, x, y = tiny()
    loss, _ = objective_loss(Objective("pushforward", 4), model, rel_l2, x, y)
    ours = grads(model, loss)
    with torch.no_grad():  # the first K - 1 steps as data
        window = x
        for _ in range(3):
            window = torch.cat([window[:, 1:], model(window)], dim=1)
    last = rel_l2(model(window), y[:, 3:4])
    assert torch.allclose(loss, last, rtol=1e-12)
    for a, b in zip(ours, grads(model, last)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)
    # ... which is not the gradient through the whole rollout of the same last-step loss
    window = x
    for _ in range(3):
        window = torch.cat([window[:, 1:], model(window)], dim=1)
    through = grads(model, rel_l2(model(window), y[:, 3:4]))
    assert any(not torch.allclose(a, b, rtol=1e-6) for a, b in zip(ours, through))


def test_teacher_forcing_is_one_call_and_options_are_validated() -> None:
    model, x, y = tiny()
    model1 = specsolve.create("model", "fno", in_channels=3, out_channels=4, modes=[3, 3], width=4, layers=2)
    loss, pred = objective_loss(Objective(), model1.double(), rel_l2, x, y)
    assert torch.allclose(loss, rel_l2(model1(x), y))
    assert objective_options({}) == Objective("teacher_forcing", 1)
    assert objective_options({"objective": {"name": "pushforward", "steps": 3}}) == Objective("pushforward", 3)
    with pytest.raises(ConfigError, match="objective"):
        objective_options({"objective": {"name": "unroled"}})
    with pytest.raises(ConfigError, match="objective"):
        objective_options({"objective": {"name": "unrolled", "step": 3}})
    with pytest.raises(ConfigError, match="steps"):
        objective_options({"objective": {"name": "unrolled", "steps": 0}})
    with pytest.raises(ConfigError, match="divide"):
        objective_loss(Objective("unrolled", 3), model, rel_l2, x, y)


def test_paper_recipe_config_has_the_paper_size() -> None:
    from specsolve.training.module import build_model
    from specsolve.training.run import resolve_model_config, validate_components

    cfg = load_config(ROOT / "configs" / "ns2d_fno_unrolled.yaml")
    validate_components(cfg)
    assert objective_options(cfg) == Objective("unrolled", 20) and cfg.data.n_out == 20
    model = build_model(resolve_model_config(cfg, 10, 1))
    assert sum(p.numel() for p in model.parameters()) == 414_517


@pytest.fixture(scope="module")
def ns_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from specsolve.data.generation import run_recipe

    data = tmp_path_factory.mktemp("ns_tiny")
    run_recipe(ROOT / "datasets" / "ns_tiny.yaml", [f"out_dir={data}", "splits.train.n=2", "splits.test.n=2"])
    return data


@pytest.mark.parametrize("name, steps", [("teacher_forcing", 1), ("unrolled", 4), ("pushforward", 2)])
def test_tiny_run_trains_with_each_objective(ns_tiny: Path, tmp_path: Path, name: str, steps: int) -> None:
    """Two epochs of configs/ns2d_fno_unrolled.yaml on ns_tiny (11 frames: 6 in, 4 out); the checkpoint's model
    is one step (``n_out / steps`` frames), validated on the rollout, and ``rollout`` runs it."""
    import csv

    from specsolve.inference.rollout import rollout
    from specsolve.training.checkpoint import load_module
    from specsolve.training.run import train

    cfg = load_config(
        ROOT / "configs" / "ns2d_fno_unrolled.yaml",
        [
            f"data.train={ns_tiny / 'train.h5'}",
            f"data.test={ns_tiny / 'test.h5'}",
            "data.time_start=0",
            "data.n_in=6",
            "data.n_out=4",
            "data.window_stride=1",
            "data.batch_size=2",
            f"objective={{name: {name}, steps: {steps}}}",
            "model.width=4",
            "model.modes=[3,3]",
            "trainer.max_epochs=2",
            f"run_dir={tmp_path / 'run'}",
        ],
    )
    result = train(cfg, progress=False)
    module, hp = load_module(result["last"])
    assert hp["out_channels"] == 4 // steps and module.y_std.shape == (4 // steps,)
    with open(tmp_path / "run" / "logs" / "metrics.csv") as f:
        val = [float(row["val/rel_l2"]) for row in csv.DictReader(f) if row.get("val/rel_l2")]
    assert len(val) == 2 and all(0 < v < 10 for v in val)
    out = rollout(module, ns_tiny / "test.h5")
    assert out["n_out"] == 4 // steps and 0 < out["mean"] < 10

"""The NS-2D run configs (configs/ns2d_*.yaml): FNO, G-FNO-p4, G-FNO-p4m (10 -> 1, teacher forcing) and STFNO.

Each config validates, points at a recipe in datasets/, and builds its model through the trainer's path with the
paper's parameter count (G-FNO: the official code's 853,121 / 835,969, references/operators.md §2.3). The G-FNO
configs stay equivariant through the training wrapper (per-channel normalisation included), FNO does not; a tiny
``train`` + ``rollout`` on datasets/ns_tiny.yaml gives the same G-FNO error on the rot90-rotated test file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from specsolve.config.loading import load_config, to_container
from specsolve.training.module import OperatorModule, build_model
from specsolve.training.run import resolve_model_config, validate_components

ROOT = Path(__file__).resolve().parents[1]
# config: (model name, layout, n_out, parameter count)
CASES = {
    "ns2d_fno.yaml": ("fno", "channels", 1, 926_357),
    "ns2d_gfno_p4.yaml": ("gfno", "channels", 1, 853_121),
    "ns2d_gfno_p4m.yaml": ("gfno", "channels", 1, 835_969),
    "ns2d_st_fno.yaml": ("st_fno", "time", 40, 9_242_461),
}


def channels(cfg) -> tuple[int, int]:
    """What the hdf5_windows data gives a scalar field: ``n_in``/``n_out`` folded into channels, or 1/1."""
    if cfg.data.layout == "channels":
        return int(cfg.data.n_in), int(cfg.data.n_out)
    return 1, 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_validates_points_at_a_recipe_and_has_the_paper_size(name: str) -> None:
    cfg = load_config(ROOT / "configs" / name)
    validate_components(cfg)
    model_name, layout, n_out, count = CASES[name]
    assert (cfg.data.name, cfg.data.layout, cfg.data.n_in, cfg.data.n_out) == ("hdf5_windows", layout, 10, n_out)
    assert cfg.model.name == model_name and cfg.loss[0].name == "rel_l2"
    recipe = ROOT / "datasets" / f"{Path(cfg.data.train).parent.name}.yaml"
    assert recipe.exists() and OmegaConf.load(recipe).out_dir == str(Path(cfg.data.train).parent)
    assert Path(cfg.data.test).parent == Path(cfg.data.train).parent
    model = build_model(resolve_model_config(cfg, *channels(cfg)))
    assert sum(p.numel() for p in model.parameters()) == count


def wrapped(name: str) -> OperatorModule:
    """The config's model inside the training wrapper, with non-trivial per-channel normalisation statistics."""
    cfg = load_config(ROOT / "configs" / name)
    c_in, c_out = channels(cfg)
    resolved = to_container(cfg)
    resolved["model"] = resolve_model_config(cfg, c_in, c_out)
    gen = torch.Generator().manual_seed(1)
    stats = {
        "x_mean": torch.randn(c_in, generator=gen),
        "x_std": torch.rand(c_in, generator=gen) + 0.5,
        "y_mean": torch.randn(c_out, generator=gen),
        "y_std": torch.rand(c_out, generator=gen) + 0.5,
    }
    torch.manual_seed(0)
    return OperatorModule(resolved, c_in, c_out, stats).eval()


def test_gfno_configs_are_equivariant_through_the_wrapper_and_fno_is_not() -> None:
    x = torch.randn(2, 10, 32, 32, generator=torch.Generator().manual_seed(2))
    rot = lambda t: torch.rot90(t, 1, dims=(-2, -1))  # noqa: E731
    with torch.no_grad():
        for name in ("ns2d_gfno_p4.yaml", "ns2d_gfno_p4m.yaml"):
            module = wrapped(name)
            y = module(x)
            assert torch.allclose(module(rot(x)), rot(y), atol=1e-5 * y.abs().max().item())
            if name.endswith("p4m.yaml"):
                assert torch.allclose(module(x.flip(-1)), y.flip(-1), atol=1e-5 * y.abs().max().item())
        module = wrapped("ns2d_fno.yaml")
        y = module(x)
        # Cartesian grid features break the symmetry (an untrained FNO's output is y_mean + small variations)
        assert (module(rot(x)) - rot(y)).norm() > 0.1 * (y - y.mean()).norm()


def load_script():
    spec = importlib.util.spec_from_file_location("ns2d_operators", ROOT / "reproductions" / "ns2d_operators.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_training_and_rotated_rollout(tmp_path: Path) -> None:
    """configs/ns2d_gfno_p4.yaml trains on ns_tiny (16^2, frames 0..10) and its rollout error is the same on the
    rot90 test file (reproductions/ns2d_operators.py's ``write_rotated``), while the predictions rotate with the data."""
    from specsolve.data.generation import run_recipe
    from specsolve.inference.rollout import rollout
    from specsolve.training.checkpoint import load_module
    from specsolve.training.run import train

    data = tmp_path / "ns_tiny"
    run_recipe(ROOT / "datasets" / "ns_tiny.yaml", [f"out_dir={data}", "splits.train.n=2", "splits.test.n=2"])
    rotated = load_script().write_rotated(data / "test.h5", data / "test_rot90.h5")
    cfg = load_config(
        ROOT / "configs" / "ns2d_gfno_p4.yaml",
        [
            f"data.train={data / 'train.h5'}",
            f"data.test={data / 'test.h5'}",
            "data.time_start=0",
            "data.batch_size=4",
            "model.width=2",
            "model.modes=4",
            "trainer.max_epochs=1",
            f"run_dir={tmp_path / 'run'}",
        ],
    )
    result = train(cfg, progress=False)
    module, _ = load_module(result["last"])
    plain = rollout(module, data / "test.h5", return_predictions=True)
    turned = rollout(module, rotated, return_predictions=True)
    assert plain["steps"] == 1 and plain["n_samples"] == 2
    assert abs(plain["mean"] - turned["mean"]) < 1e-5 * plain["mean"]
    back = torch.rot90(turned["predictions"], -1, dims=(-2, -1))
    assert torch.allclose(back, plain["predictions"], atol=1e-5 * plain["predictions"].abs().max().item())

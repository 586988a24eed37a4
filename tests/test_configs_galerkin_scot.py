"""The Galerkin Transformer and scOT run configs: each loads, validates, points at a recipe, and builds its model.

Parameter counts are those of the papers' setups (references/operators.md §4.2 and §5.1): Galerkin Transformer
Burgers 530,305, Darcy 2,220,829; scOT-T 20.8 M (at 4 in / 4 out; 20,769,794 here with 1 in / 1 out).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from specsolve.config.loading import load_config, to_container
from specsolve.registry import create
from specsolve.training.module import build_losses
from specsolve.training.run import validate_components

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    # config: (channels in/out, parameter count, input shape for one forward pass, or None)
    "galerkin_burgers_2048.yaml": (1, 530_305, (1, 1, 64)),
    "galerkin_burgers_8192.yaml": (1, 530_305, (1, 1, 64)),
    "galerkin_darcy.yaml": (1, 2_220_829, (1, 1, 45, 45)),
    "scot_all2all_tiny.yaml": (1, None, (2, 1, 32, 32)),
    "scot_all2all_t.yaml": (1, 20_769_458, None),  # Poseidon-T layout (unmerging without biases)
}


def build(cfg) -> torch.nn.Module:
    params = {k: v for k, v in to_container(cfg.model).items() if k != "name"}
    return create("model", cfg.model.name, in_channels=1, out_channels=1, **params)


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_loads_validates_and_builds(name):
    cfg = load_config(ROOT / "configs" / name)
    validate_components(cfg)  # every section against its component's signature, no data read
    recipe = Path(cfg.data.train).parent.name
    assert (ROOT / "datasets" / f"{recipe}.yaml").exists(), f"no recipe datasets/{recipe}.yaml for {cfg.data.train}"
    assert OmegaConf.load(ROOT / "datasets" / f"{recipe}.yaml").out_dir == str(Path(cfg.data.train).parent)
    assert [entry.name for entry in cfg.loss][0] in ("rel_l2", "rel_lp")
    torch.manual_seed(0)
    model = build(cfg)
    _, count, shape = CASES[name]
    if count is not None:
        assert sum(p.numel() for p in model.parameters()) == count
    if shape is not None:
        model.eval()
        with torch.no_grad():
            x = torch.randn(shape)
            out = model(x, torch.full((shape[0],), 0.5)) if name.startswith("scot") else model(x)
        assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "name,h1",
    [
        (
            "galerkin_burgers_2048.yaml",
            "{name: h1, weight: 0.1, spatial_dims: 1, periodic: true, method: fd, seminorm: true}",
        ),
        ("galerkin_darcy.yaml", "{name: h1, weight: 0.5, spatial_dims: 2, periodic: false, seminorm: true}"),
    ],
)
def test_optional_h1_term(name, h1):
    """The commented H1 term of the config is a valid loss entry; the weighted sum is rel L2 + gamma rel |.|_H1."""
    text = (ROOT / "configs" / name).read_text()
    assert h1 in text
    cfg = load_config(ROOT / "configs" / name, [f"loss=[{{name: rel_l2, weight: 1.0}}, {h1}]"])
    (w0, n0, l2), (w1, n1, h1_loss) = build_losses(to_container(cfg.loss))
    assert (n0, n1) == ("rel_l2", "h1") and w0 == 1.0 and w1 in (0.1, 0.5)
    dims = (1, 1, 33) if "burgers" in name else (1, 1, 17, 17)
    torch.manual_seed(0)
    y = torch.randn(dims, dtype=torch.float64)
    pred = y + 0.1 * torch.randn(dims, dtype=torch.float64)
    assert torch.isfinite(l2(pred, y) + w1 * h1_loss(pred, y))
    assert h1_loss(y, y) < 1e-5 < h1_loss(pred, y)

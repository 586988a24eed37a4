"""Every dataset recipe in datasets/ builds its generator and is listed in datasets/README.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from specsolve.config.loading import component_spec, load_config
from specsolve.data.generation import RECIPE_KEYS
from specsolve.registry import create

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
RECIPES = sorted(DATASETS.glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_builds_and_is_documented(recipe: Path) -> None:
    cfg = load_config(recipe, [], defaults=False, keys=RECIPE_KEYS)
    name, params = component_spec(cfg.generator, "generator")
    layout = create("generator", name, **params).layout()
    assert layout.variables and all(int(split["n"]) >= 1 for split in cfg.splits.values())
    text = recipe.read_text()
    assert text.startswith("#"), f"{recipe.name}: needs a header comment (grid actually solved on, cost)"
    assert f"`{recipe.name}`" in (DATASETS / "README.md").read_text(), f"{recipe.name} missing from datasets/README.md"

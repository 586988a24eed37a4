"""Config loading: YAML, overrides, defaults, version and key checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from specsolve.config import CONFIG_VERSION, load_config
from specsolve.errors import ConfigError


def test_load_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: {name: fno, modes: [4, 4]}\ndata: {name: hdf5, batch_size: 4}\n")
    cfg = load_config(path, ["model.width=16", "trainer.max_epochs=2", "data.batch_size=${model.width}"])
    assert cfg.model.width == 16 and cfg.trainer.max_epochs == 2 and cfg.data.batch_size == 16
    assert cfg.config_version == CONFIG_VERSION
    assert cfg.loss[0].name == "rel_l2"  # default


@pytest.mark.parametrize(
    "text, message",
    [
        ("modle: {name: fno}\n", "unknown top-level config key 'modle'.*did you mean 'model'"),
        ("config_version: 99\n", "config_version 99 is not supported"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("model: {name: [unclosed\n", "cannot parse config"),
    ],
)
def test_bad_configs(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_bad_paths_and_overrides(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["model.width"])


def test_yaml_cannot_construct_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError):
        load_config(path)


def test_config_reference_is_current():
    """docs/config_reference.md is what docs/gen_config_reference.py renders from the registry (regenerate it with
    ``python docs/gen_config_reference.py`` after changing a constructor signature)."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_config_reference", root / "docs" / "gen_config_reference.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (root / "docs" / "config_reference.md").read_text() == generator.render(include_plugins=False), (
        "docs/config_reference.md is stale: run python docs/gen_config_reference.py"
    )

"""Loading a run config: YAML file + ``key=value`` overrides, merged over defaults, with a schema version.

A run config has these top-level sections (each component section names a registered component)::

    config_version: 1
    seed: 0
    run_dir: runs/darcy_fno          # where config, logs, checkpoints and figures go
    data: {name: hdf5, train: ..., test: ..., inputs: [a], outputs: [u], batch_size: 20}
    model: {name: fno, modes: [12, 12], width: 32, layers: 4}
    loss: [{name: rel_l2, weight: 1.0}]
    optimizer: {name: adam, lr: 1.0e-3, weight_decay: 1.0e-4}
    scheduler: {name: step, step_size: 100, gamma: 0.5}
    trainer: {max_epochs: 500, accelerator: auto, precision: 32-true}

Configs name registered components only: there is no class-path import, so a config cannot run code.
YAML is parsed by OmegaConf (PyYAML's safe loader underneath).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from specsolve.errors import ConfigError

CONFIG_VERSION = 1

TOP_LEVEL_KEYS = (
    "config_version",
    "seed",
    "run_dir",
    "data",
    "model",
    "loss",
    "optimizer",
    "scheduler",
    "trainer",
    "logging",
    "finetune",
    "objective",
    "solver",
    "pde",
    "output",
)

DEFAULTS: dict[str, Any] = {
    "config_version": CONFIG_VERSION,
    "seed": 0,
    "run_dir": None,
    "loss": [{"name": "rel_l2", "weight": 1.0}],
    "optimizer": {"name": "adam", "lr": 1.0e-3, "weight_decay": 0.0},
    "scheduler": {"name": "none"},
    "trainer": {"max_epochs": 10},
}


def _parse_yaml_file(path: Path) -> DictConfig:
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if path.is_dir():
        raise ConfigError(f"config path is a directory, not a YAML file: {path}")
    try:
        loaded = OmegaConf.load(path)
    except (OmegaConfBaseException, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse config {path}: {str(exc).splitlines()[0]}") from exc
    except Exception as exc:  # yaml.YAMLError and friends
        raise ConfigError(f"cannot parse config {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"config {path} must be a YAML mapping at the top level")
    return loaded


def parse_overrides(overrides: Sequence[str]) -> DictConfig:
    bad = [o for o in overrides if "=" not in o or o.startswith("=")]
    if bad:
        raise ConfigError(f"override '{bad[0]}' is not of the form key=value")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except Exception as exc:
        raise ConfigError(f"cannot parse overrides: {str(exc).splitlines()[0]}") from exc


def load_config(
    path: str | os.PathLike[str] | Mapping[str, Any] | None,
    overrides: Sequence[str] = (),
    defaults: bool = True,
    keys: Sequence[str] = TOP_LEVEL_KEYS,
) -> DictConfig:
    """Load ``path`` (a YAML file, a mapping of the same structure, or nothing), apply dotlist ``overrides``,
    merge over :data:`DEFAULTS`, check version/keys.

    Interpolations (``${data.batch_size}``) are resolved here; a resolver failure is a :class:`ConfigError`.
    """
    if path is not None and not isinstance(path, (str, os.PathLike, Mapping)):
        raise ConfigError(f"a config is a YAML path or a mapping, got {type(path).__name__}")
    parts = [OmegaConf.create(DEFAULTS)] if defaults else []
    try:
        if isinstance(path, Mapping):  # copied: the caller's mapping is never modified
            parts.append(OmegaConf.create(to_container(path)))
        elif path is not None:
            parts.append(_parse_yaml_file(Path(path)))
        parts.append(parse_overrides(overrides))
        # lists (loss) are replaced, not merged element-wise, which is what OmegaConf.merge does
        cfg = OmegaConf.merge(*parts)
        OmegaConf.resolve(cfg)
    except (OmegaConfBaseException, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid config or override: {str(exc).splitlines()[0]}") from exc
    assert isinstance(cfg, DictConfig)
    check_top_level(cfg, keys)
    return cfg


def check_top_level(cfg: DictConfig, keys: Sequence[str] = TOP_LEVEL_KEYS) -> None:
    for key in cfg:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown top-level config key '{key}'{hint}; valid keys: {', '.join(keys)}")
    version = cfg.get("config_version", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        raise ConfigError(
            f"config_version {version!r} is not supported; this specsolve reads config_version {CONFIG_VERSION}"
        )


def to_container(node: Any) -> Any:
    """A plain Python value (dicts, lists, scalars) from an OmegaConf node."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def component_spec(section: Any, where: str) -> tuple[str, dict[str, Any]]:
    """Split ``{name: fno, modes: ...}`` into ``("fno", {"modes": ...})``."""
    spec = to_container(section)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a mapping with a 'name' key, got {spec!r}")
    if "name" not in spec:
        raise ConfigError(f"{where} has no 'name' key naming a registered component")
    spec = dict(spec)
    name = spec.pop("name")
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name must be a string, got {name!r}")
    return name, spec

"""Running a dataset recipe: batched, seedable, shardable generation into native files.

A recipe (``datasets/*.yaml``)::

    generator: {name: darcy, resolution: 85, solve_resolution: 421}
    splits: {train: {n: 1000, seed: 0}, test: {n: 100, seed: 1}}
    out_dir: data/darcy_s85
    batch_size: 50

Sample ``j`` of a split draws from its own random stream ``(seed, j)``, so ``--shard i/N`` (contiguous sample
ranges written to ``<split>-0000i-of-0000N.h5``) produces exactly the samples of the unsharded file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from omegaconf import OmegaConf

from specsolve.config.loading import component_spec, load_config, to_container
from specsolve.data.native import NativeWriter, VariableSpec
from specsolve.errors import ConfigError
from specsolve.registry import create


@dataclass
class Layout:
    """What a generator writes: coordinates (without ``sample``), variables and attributes."""

    coords: dict[str, np.ndarray]
    variables: dict[str, VariableSpec]
    coord_attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


class Generator(Protocol):
    def layout(self) -> Layout: ...

    def generate(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]: ...


RECIPE_KEYS = ("generator", "splits", "out_dir", "batch_size", "description")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``."""
    if text is None:
        return 0, 1
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise ConfigError(f"shard must look like i/N (e.g. 0/4), got '{text}'") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {text}: need 0 <= i < N")
    return index, count


def shard_range(n: int, index: int, count: int) -> range:
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    return range(int(bounds[index]), int(bounds[index + 1]))


def generate_split(
    generator: Generator,
    path: Path,
    indices: range,
    seed: int,
    batch_size: int,
    provenance: Mapping[str, Any],
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> Path:
    layout = generator.layout()
    coords = {"sample": np.arange(indices.start, indices.stop, dtype=np.int64), **layout.coords}
    variables = {k: VariableSpec(("sample",) + v.dims, v.dtype, v.attrs) for k, v in layout.variables.items()}
    attrs = {**layout.attrs, **provenance, "seed": seed}
    with NativeWriter(path, coords, variables, attrs, layout.coord_attrs, overwrite=overwrite) as writer:
        for start in range(indices.start, indices.stop, batch_size):
            batch = np.arange(start, min(start + batch_size, indices.stop))
            values = generator.generate(batch, seed)
            for name, array in values.items():
                writer.write(name, start - indices.start, array)
            if progress is not None:
                progress(len(batch))
    return path


def run_recipe(
    recipe_path: str | Path,
    overrides: list[str] = (),
    shard: str | None = None,
    overwrite: bool = False,
    progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
) -> list[Path]:
    """Generate every split of a recipe; returns the written paths."""
    recipe = load_config(recipe_path, overrides, defaults=False, keys=RECIPE_KEYS)
    for key in ("generator", "splits", "out_dir"):
        if key not in recipe:
            raise ConfigError(f"{recipe_path}: recipe needs a '{key}' key")
    shard_index, shard_count = parse_shard(shard)
    name, params = component_spec(recipe.generator, "generator")
    generator = create("generator", name, **params)
    batch_size = int(recipe.get("batch_size", 32))
    out_dir = Path(str(recipe.out_dir))
    splits = to_container(recipe.splits)
    if not isinstance(splits, dict) or not splits:
        raise ConfigError(f"{recipe_path}: 'splits' must map split names to {{n, seed}}")
    provenance = {
        "generator": name,
        "generator_parameters": json.dumps(params, sort_keys=True),
        "recipe": OmegaConf.to_yaml(recipe),
    }
    written = []
    for split, spec in splits.items():
        if not isinstance(spec, dict) or "n" not in spec or "seed" not in spec:
            raise ConfigError(f"{recipe_path}: split '{split}' needs 'n' and 'seed'")
        n, seed = int(spec["n"]), int(spec["seed"])
        if n < 1:
            raise ConfigError(f"{recipe_path}: split '{split}' must have n >= 1")
        indices = shard_range(n, shard_index, shard_count)
        suffix = "" if shard_count == 1 else f"-{shard_index:05d}-of-{shard_count:05d}"
        path = out_dir / f"{split}{suffix}.h5"
        progress = progress_factory(f"{split}{suffix}", len(indices)) if progress_factory else None
        written.append(
            generate_split(
                generator, path, indices, seed, batch_size, {**provenance, "split": split}, progress, overwrite
            )
        )
    return written

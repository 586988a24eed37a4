"""specsolve.api: the CLI verbs as Python functions; docs/python_api.md's example is run as written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import specsolve
from specsolve.api import _dotlist

ROOT = Path(__file__).resolve().parents[1]


def doc_cells(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_python_api_doc_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "darcy_tiny.yaml", tmp_path / "datasets")
    monkeypatch.chdir(tmp_path)
    cells = doc_cells(ROOT / "docs" / "python_api.md")
    assert len(cells) == 5
    namespace: dict = {}
    for cell in cells:
        exec(compile(cell, "docs/python_api.md", "exec"), namespace)
    assert [p.name for p in namespace["paths"]] == ["train.h5", "test.h5"]
    assert Path(namespace["result"]["best"]).exists()
    stored = json.loads(Path("runs/api_demo/metrics.json").read_text())
    assert stored["variables"]["u"]["mean"] == pytest.approx(namespace["metrics"]["variables"]["u"]["mean"])
    assert 0 < stored["variables"]["u"]["mean"]["rel_l2"] < 1 and stored["n_samples"] == 8
    assert Path("runs/api_demo/samples.png").stat().st_size > 10_000
    assert namespace["error"].dims == ("sample",)


def test_overrides_mapping_and_dotlist() -> None:
    assert _dotlist({"trainer.max_epochs": 2, "run_dir": "a b/c", "model": {"modes": [4, 4]}, "x": None}) == [
        "trainer.max_epochs=2",
        'run_dir="a b/c"',
        'model={"modes": [4, 4]}',
        "x=null",
    ]
    assert _dotlist(["seed=1"]) == ["seed=1"] and _dotlist("seed=1") == ["seed=1"] and _dotlist(None) == []
    config = {
        "model": {"name": "fno", "modes": [12, 12], "width": 32},
        "data": {"batch_size": 4},
        "loss": [{"name": "rel_l2"}, {"name": "h1"}],
        "trainer": {"max_epochs": 5},
    }
    cfg = specsolve.resolve_config(
        config,
        {
            "model": {"width": 8},
            "model.modes": [4],
            "trainer.max_epochs": "${data.batch_size}",
            "loss": [{"name": "rel_lp", "p": 1.0}],
            "run_dir": "runs/a b",
        },
    )
    assert cfg.model == {"name": "fno", "modes": [4], "width": 8}  # mappings merge, lists replace
    assert cfg.trainer.max_epochs == 4 and cfg.run_dir == "runs/a b" and cfg.optimizer.name == "adam"
    assert [entry.name for entry in cfg.loss] == ["rel_lp"]
    assert config["model"]["width"] == 32  # the caller's dict is not modified
    same = specsolve.resolve_config(config, ["model.width=8", "model.modes=[4]"])
    assert same.model == cfg.model


def test_api_errors_are_specsolve_errors(tmp_path: Path) -> None:
    with pytest.raises(specsolve.ConfigError, match="unknown top-level config key 'modle'.*did you mean 'model'"):
        specsolve.resolve_config({"modle": {"name": "fno"}})
    with pytest.raises(specsolve.ConfigError, match="config_version"):
        specsolve.resolve_config({"config_version": 99})
    with pytest.raises(specsolve.ConfigError, match="YAML path or a mapping"):
        specsolve.resolve_config(42)  # type: ignore[arg-type]
    with pytest.raises(specsolve.ConfigError, match="config file not found"):
        specsolve.train(tmp_path / "missing.yaml")
    with pytest.raises(specsolve.DataError, match="not found"):
        specsolve.evaluate(tmp_path / "pred.h5", tmp_path / "data.h5")
    with pytest.raises(specsolve.ConfigError, match="shard 3/2: need 0 <= i < N"):
        specsolve.generate(ROOT / "datasets" / "darcy_tiny.yaml", {"out_dir": str(tmp_path)}, shard=(3, 2))
    assert not any(tmp_path.iterdir())


def test_import_specsolve_stays_light() -> None:
    code = "import sys, specsolve; specsolve.train; print(sorted(m for m in ('torch', 'lightning', 'omegaconf') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"

"""The whole path through the CLI: generate -> train -> predict -> evaluate, resume, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import torch
import xarray as xr

from specsolve.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(tmp_path: Path, data: Path, run_dir: Path, epochs: int = 2) -> Path:
    path = tmp_path / "fno_tiny.yaml"
    path.write_text(
        f"""
run_dir: {run_dir}
data: {{name: hdf5, train: {data}/train.h5, test: {data}/test.h5, inputs: [a], outputs: [u], batch_size: 8}}
model: {{name: fno, modes: [4, 4], width: 8, layers: 2, padding: 2}}
optimizer: {{name: adam, lr: 1.0e-2, weight_decay: 1.0e-4}}
scheduler: {{name: step, step_size: 10, gamma: 0.5}}
trainer: {{max_epochs: {epochs}, deterministic: true}}
"""
    )
    return path


def test_native_file_opens_in_xarray(darcy_tiny: Path) -> None:
    ds = xr.open_dataset(darcy_tiny / "train.h5", engine="h5netcdf")
    assert ds["a"].dims == ("sample", "x", "y") and ds["u"].dims == ("sample", "x", "y")
    assert ds.sizes["sample"] == 24 and float(ds["x"][-1]) == 1.0
    assert ds.attrs["generator"] == "darcy" and "specsolve_version" in ds.attrs
    assert ds["u"].attrs["long_name"]


@pytest.mark.integration
def test_train_predict_evaluate(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    config = tiny_config(tmp_path, darcy_tiny, run_dir)
    assert main(["train", str(config)]) == 0
    best = run_dir / "checkpoints" / "best.ckpt"
    assert best.exists() and (run_dir / "checkpoints" / "last.ckpt").exists()
    assert (run_dir / "config.yaml").exists() and (run_dir / "logs" / "metrics.csv").exists()
    ckpt = torch.load(best, weights_only=True)  # plain data only
    assert ckpt["hyper_parameters"]["config"]["model"]["in_channels"] == 1

    pred = tmp_path / "pred.h5"
    assert main(["predict", "-c", str(best), "-d", str(darcy_tiny / "test.h5"), "-o", str(pred)]) == 0
    ds = xr.open_dataset(pred, engine="h5netcdf")
    assert ds["u"].dims == ("sample", "x", "y") and ds.sizes["sample"] == 8
    assert ds.attrs["model"] == "fno" and "checkpoint" in ds.attrs

    metrics_json = tmp_path / "metrics.json"
    figure = tmp_path / "fig.png"
    assert (
        main(
            [
                "evaluate",
                "-p",
                str(pred),
                "-d",
                str(darcy_tiny / "test.h5"),
                "--json",
                str(metrics_json),
                "--plot",
                str(figure),
            ]
        )
        == 0
    )
    result = json.loads(metrics_json.read_text())
    per_sample = result["variables"]["u"]["per_sample"]["rel_l2"]
    assert len(per_sample) == 8 and 0 < result["variables"]["u"]["mean"]["rel_l2"] < 2
    assert figure.stat().st_size > 10_000

    # prediction at a coarser stride is evaluated on the matching subgrid
    coarse = tmp_path / "coarse.h5"
    assert (
        main(["predict", "-c", str(best), "-d", str(darcy_tiny / "test.h5"), "-o", str(coarse), "--stride", "2"]) == 0
    )
    assert main(["evaluate", "-p", str(coarse), "-d", str(darcy_tiny / "test.h5")]) == 0

    # refusing to clobber: existing output, the input itself, an existing run
    assert main(["predict", "-c", str(best), "-d", str(darcy_tiny / "test.h5"), "-o", str(pred)]) == 2
    before = (darcy_tiny / "test.h5").read_bytes()
    assert (
        main(
            [
                "predict",
                "-c",
                str(best),
                "-d",
                str(darcy_tiny / "test.h5"),
                "-o",
                str(darcy_tiny / "test.h5"),
                "--overwrite",
            ]
        )
        == 2
    )
    assert (darcy_tiny / "test.h5").read_bytes() == before
    assert main(["train", str(config)]) == 2

    # resume continues from last.ckpt to more epochs
    assert main(["train", str(config), "--resume", "trainer.max_epochs=3"]) == 0
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2  # 0-based: the third epoch
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_print_config(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    config = tiny_config(tmp_path, darcy_tiny, tmp_path / "r")
    assert main(["train", str(config), "--print-config", "model.width=12"]) == 0
    out = capsys.readouterr().out
    assert "width: 12" in out and "config_version: 1" in out


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.name=fnoo", "unknown model 'fnoo'; did you mean 'fno'"),
        ("model.widht=8", "unknown key 'widht' (did you mean 'width'?)"),
        ("model.width=eight", "key 'width' expects int"),
        ("data.train=/nonexistent/train.h5", "data file not found"),
        ("model.modes=[40,40]", "modes"),
        ("optimizer.lr=fast", "key 'lr' expects float"),
        ("trainer.max_epoch=3", "did you mean 'max_epochs'"),
        ("data.inputs=[nope]", "no variable 'nope'"),
    ],
)
def test_user_errors_are_one_line(
    tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture, override: str, message: str
) -> None:
    config = tiny_config(tmp_path, darcy_tiny, tmp_path / "r")
    assert main(["train", str(config), override]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_bad_files_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not hdf5")
    assert main(["data", "inspect", str(junk)]) == 2
    assert main(["data", "inspect", str(tmp_path)]) == 2
    assert main(["predict", "-c", str(junk), "-d", str(junk), "-o", str(tmp_path / "p.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("specsolve: error:") for line in err)


@pytest.mark.integration
def test_console_script_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "specsolve.cli", "train", str(tmp_path / "missing.yaml")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"specsolve: error: config file not found: {tmp_path / 'missing.yaml'}"


def test_writer_is_atomic(tmp_path: Path) -> None:
    import numpy as np

    from specsolve.data.native import NativeWriter, VariableSpec
    from specsolve.errors import DataError

    path = tmp_path / "out.h5"
    with pytest.raises(DataError, match="non-finite"):
        with NativeWriter(
            path, {"sample": np.arange(2), "x": np.arange(4.0)}, {"u": VariableSpec(("sample", "x"))}
        ) as w:
            w.write("u", 0, np.array([[1.0, 2.0, np.nan, 0.0]]))
    assert not path.exists() and not list(tmp_path.iterdir())
    with h5py.File(path, "w"):
        pass
    with pytest.raises(DataError, match="already exists"):
        NativeWriter(path, {"sample": np.arange(1)}, {})


def _specsolve_imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == "specsolve"}


def test_cli_calls_the_api_and_nothing_else() -> None:
    """cli/ parses and renders; everything else goes through specsolve.api (shared/DESIGN.md section 2)."""
    files = sorted((ROOT / "specsolve" / "cli").glob("*.py"))
    assert {f.stem for f in files} >= {"main", "render", "train", "infer", "data", "plugins"}
    allowed = {"specsolve", "specsolve.api", "specsolve.errors"}
    for path in files:
        imports = _specsolve_imports(path)
        assert all(n in allowed or n.startswith("specsolve.cli") for n in imports), (path.name, imports)


def test_library_errors_name_no_cli_flag() -> None:
    """Messages raised outside cli/ name Python parameters (``pass overwrite=True``), never ``--flags``: the CLI
    translates them when it prints an error."""
    import ast
    import re

    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
    offenders = []
    for path in sorted((ROOT / "specsolve").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "specsolve").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for const in ast.walk(node.exc):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str) and flag.search(const.value):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {const.value}")
    assert not offenders, "\n".join(offenders)

"""``specsolve export``: FNO, G-FNO and the Galerkin Transformer as ``torch.export`` / ONNX programs that run, with
their normalisation, in a Python that cannot import specsolve, and match the eager checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
import torch

from specsolve.cli.main import main
from specsolve.errors import ConfigError
from specsolve.inference.export import graph_nodes
from specsolve.training.checkpoint import load_module

onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra (onnx, onnxscript, onnxruntime)")

GRID = [17, 17]
MODELS = {
    "fno": {"name": "fno", "modes": [4, 4], "width": 8, "layers": 2, "padding": 2},
    "gfno": {"name": "gfno", "modes": 4, "width": 4, "layers": 2, "group": "p4"},
    "galerkin_transformer": {
        "name": "galerkin_transformer",
        "dim": 2,
        "n_hidden": 16,
        "num_heads": 2,
        "num_layers": 1,
        "dim_feedforward": 16,
        "freq_dim": 8,
        "modes": 4,
        "num_spectral_layers": 2,
    },
}


def write_checkpoint(path: Path, model: dict, darcy: Path, seed: int = 0) -> Path:
    """Random weights and non-trivial normalisation statistics, saved with the keys training writes
    (``state_dict`` with the ``x_/y_mean/std`` buffers, ``hyper_parameters`` with the resolved config)."""
    from specsolve.training.module import OperatorModule

    config = {
        "data": {"name": "hdf5", "train": str(darcy / "train.h5"), "inputs": ["a"], "outputs": ["u"], "stride": 1},
        "model": {**model, "in_channels": 1, "out_channels": 1},
        "loss": [{"name": "rel_l2", "weight": 1.0}],
    }
    stats = {
        "x_mean": torch.tensor([3.0]),
        "x_std": torch.tensor([2.5]),
        "y_mean": torch.tensor([20.0]),
        "y_std": torch.tensor([3.0]),
    }
    torch.manual_seed(seed)
    module = OperatorModule(config, 1, 1, stats)
    with torch.no_grad():  # G-FNO / Galerkin spectral weights start tiny: make the Fourier branch matter
        for name, p in module.model.named_parameters():
            if "spectral" in name and "weight" in name:
                p.mul_(0.5 / max(float(p.abs().max()), 1e-12))
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "epoch": 1}, path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, darcy_tiny: Path) -> dict:
    """Every model as a checkpoint, exported to both formats through the CLI; eager outputs on a raw input."""
    root = tmp_path_factory.mktemp("export")
    x = 1.0 + 2.0 * torch.rand(1, 1, *GRID, generator=torch.Generator().manual_seed(3))  # raw, un-normalised
    cases = {}
    for name, model in MODELS.items():
        ckpt = write_checkpoint(root / f"{name}.ckpt", model, darcy_tiny)
        module, _ = load_module(ckpt)
        with torch.no_grad():
            eager = module(x)
        files = {}
        for fmt in ("pt2", "onnx"):
            out = root / f"{name}.{fmt}"
            argv = ["export", "-c", str(ckpt), "-o", str(out), "--format", fmt, "--no-check"]
            assert main(argv) == 0  # the grid: train.h5's
            files[fmt] = str(out)
        cases[name] = {"files": files, "eager": eager, "ckpt": ckpt}
    torch.save({"x": x, "eager": {k: v["eager"] for k, v in cases.items()}}, root / "eager.pt")
    return {"root": root, "cases": cases, "x": x}


SPECSOLVE_FREE = textwrap.dedent(
    """
    import json, sys
    try:
        import specsolve
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("specsolve is importable here: " + specsolve.__file__)
    import numpy as np
    import onnxruntime
    import torch

    files = json.loads(sys.argv[1])
    ref = torch.load(sys.argv[2], weights_only=True)
    x = ref["x"]
    diffs = {}
    for name, paths in files.items():
        eager = ref["eager"][name]
        with torch.no_grad():
            pt2 = torch.export.load(paths["pt2"]).module()(x)
        session = onnxruntime.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
        onnx = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
        diffs[name] = {
            "pt2": float((pt2 - eager).abs().max()),
            "onnx": float((onnx - eager).abs().max()),
            "scale": float(eager.abs().max()),
            "mean": float(eager.mean()),
        }
    print(json.dumps(diffs))
    """
)


def run_without_specsolve(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -I -S``: no PYTHONPATH, no user site, no ``.pth`` files (specsolve's editable finder is one);
    only the interpreter's site-packages directories are put back on ``sys.path``."""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    prelude = f"import sys; sys.path.extend({paths!r})\n"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        timeout=300,
    )


def test_exported_programs_equal_eager_in_a_python_without_specsolve(exported: dict) -> None:
    files = {name: case["files"] for name, case in exported["cases"].items()}
    proc = run_without_specsolve(
        SPECSOLVE_FREE, json.dumps(files), str(exported["root"] / "eager.pt"), cwd=exported["root"]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    diffs = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(diffs, indent=1))  # the figures of the closing note (pytest -s)
    assert set(diffs) == set(MODELS)
    for name, d in diffs.items():
        # physical units: the output is y_std * model + y_mean, far from the normalised range
        assert d["mean"] > 10.0, name
        assert d["pt2"] <= 1e-5 * d["scale"] and d["onnx"] <= 1e-5 * d["scale"], (name, d)


def test_the_subprocess_really_cannot_import_specsolve(tmp_path: Path) -> None:
    proc = run_without_specsolve("import specsolve", cwd=tmp_path)
    assert proc.returncode != 0 and "No module named 'specsolve'" in proc.stderr
    proc = run_without_specsolve("import torch, onnxruntime; print(torch.__version__)", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_exported_graphs_hold_no_complex_or_fft_ops(exported: dict) -> None:
    """The real-DFT export form replaced every FFT (FNO, G-FNO, Galerkin): no complex tensor in any graph."""
    for name, case in exported["cases"].items():
        program = torch.export.load(case["files"]["pt2"])
        nodes = [n for n in graph_nodes(program) if n.op == "call_function"]
        assert any("bmm" in str(n.target) for n in nodes), name  # the DFTs, inside the autocast subgraphs
        for node in nodes:
            value = node.meta.get("val")
            assert "fft" not in str(node.target) and "complex" not in str(node.target), (name, node.target)
            assert not (isinstance(value, torch.Tensor) and value.is_complex()), (name, node.target)


def test_api_reports_the_check_and_metadata(exported: dict, tmp_path: Path) -> None:
    import specsolve

    ckpt = exported["cases"]["gfno"]["ckpt"]
    result = specsolve.export_model(ckpt, tmp_path / "g.pt2", grid="12,12", batch_size=2)
    assert result["input_shape"] == [2, 1, 12, 12] and result["output_shape"] == [2, 1, 12, 12]
    assert result["max_abs_diff"] is not None and result["max_abs_diff"] < 1e-4
    extra = {"specsolve.json": ""}
    torch.export.load(tmp_path / "g.pt2", extra_files=extra)
    meta = json.loads(extra["specsolve.json"])
    assert meta["model"] == "gfno" and meta["inputs"] == ["a"] and meta["input_shape"] == [2, 1, 12, 12]
    with pytest.raises(Exception, match="already exists"):
        specsolve.export_model(ckpt, tmp_path / "g.pt2", grid="12,12")


def one_line_error(capsys: pytest.CaptureFixture, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("specsolve: error:"), err
    for needle in needles:
        assert needle in err, err
    return err


def test_bad_input_is_one_line_exit_2(exported: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = str(exported["cases"]["fno"]["ckpt"])
    one_line_error(capsys, ["export", "-c", ckpt, "-o", str(tmp_path / "a"), "--format", "zip"], "'zip'", "pt2")
    one_line_error(capsys, ["export", "-c", str(tmp_path / "none.ckpt"), "-o", str(tmp_path / "a")], "not found")
    one_line_error(capsys, ["export", "-c", ckpt, "-o", str(tmp_path / "a"), "--grid", "a,b"], "grid")
    one_line_error(capsys, ["export", "-c", ckpt, "-o", str(tmp_path / "a"), "--grid", "2,2"], "fno", "2, 2")
    assert not list(tmp_path.iterdir())


def test_a_model_with_complex_ffts_is_refused_for_onnx_in_one_line(
    tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture
) -> None:
    model = {"name": "gfno3d", "modes": 3, "time_modes": 2, "width": 2, "layers": 1}
    ckpt = write_checkpoint(tmp_path / "g3.ckpt", model, darcy_tiny)
    argv = ["export", "-c", str(ckpt), "-o", str(tmp_path / "g3.onnx"), "--format", "onnx", "--grid", "7,7,4"]
    one_line_error(capsys, argv, "gfno3d", "cannot be exported to ONNX", "complex FFT")
    assert not (tmp_path / "g3.onnx").exists()


def test_a_time_conditioned_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import specsolve.training.checkpoint as checkpoint
    from specsolve.inference.export import export_checkpoint

    class Conditioned(torch.nn.Module):
        time_conditioning = True

    class Module:
        model = Conditioned()

    hp = {"config": {"model": {"name": "scot"}}, "in_channels": 1, "out_channels": 1}
    monkeypatch.setattr(checkpoint, "load_module", lambda path: (Module(), hp))
    with pytest.raises(ConfigError, match="'scot' cannot be exported: it is time-conditioned"):
        export_checkpoint(tmp_path / "t.ckpt", tmp_path / "t.pt2", "pt2", grid=[8, 8])

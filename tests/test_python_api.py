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
    assert [Path(f).name for f in namespace["metrics"]["figures"]] == ["samples.png", "samples_spectrum.png"]
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


# -- the CLI is a rendering of the API -----------------------------------------------------------------------
def _verbs(parser) -> list[str]:
    """Every leaf verb of an argparse parser: 'train', 'data convert', 'plugins info', ..."""
    import argparse

    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [f"{name} {leaf}" for leaf in _verbs(sub)] or [name]
    return out


API_OF_VERB = {
    "train": "train",
    "solve": "solve",
    "predict": "predict",
    "export": "export_model",
    "evaluate": "evaluate",  # and evaluate_resolutions with -c
    "rollout": "rollout",
    "generate": "generate",
    "plugins list": "plugins_list",
    "plugins info": "plugins_info",
    "data inspect": "data_inspect",
    "data convert": "data_convert",
    "data export-well": "data_export_well",
}


def test_every_cli_verb_has_an_api_function() -> None:
    from specsolve import api
    from specsolve.cli.main import build_parser

    assert sorted(_verbs(build_parser())) == sorted(API_OF_VERB)
    names = [*API_OF_VERB.values(), "evaluate_resolutions", "resolve_config"]
    for name in names:
        assert name in api.__all__ and name in specsolve.__all__, name
        assert getattr(specsolve, name) is getattr(api, name) and callable(getattr(api, name))
    assert all(hasattr(api, name) for name in api.__all__)


class Recorder:
    """Stands in for one specsolve.api function: records its call, returns a canned result."""

    def __init__(self, result) -> None:
        self.result, self.calls = result, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result


EVAL = {"n_samples": 2, "variables": {"u": {"mean": {"rel_l2": 0.125}, "per_sample": {"rel_l2": [0.1, 0.15]}}}}
ROWS = {
    "train_grid": [8],
    "rows": [{"data": "d/t.h5", "stride": 2, "grid": [8], "n_samples": 3, "mean": {"rel_l2": 0.5}}],
}
CLI_CASES = {
    "train": (
        ["train", "c.yaml", "seed=3", "--resume"],
        "train",
        {"run_dir": "r", "best": "r/best.ckpt", "metrics": {"val/rel_l2": 0.0625}},
        (("c.yaml", ["seed=3"]), {"resume": True}),
        ["best checkpoint: r/best.ckpt", "val/rel_l2: 0.0625"],
    ),
    "solve": (
        ["solve", "g.yaml", "solver.steps=3", "--overwrite"],
        "solve",
        {"metrics": {"rel_l2": 0.25, "n_points": 7}, "seconds": 1.5, "output": "o.h5", "exact": "o.exact.h5"},
        (("g.yaml", ["solver.steps=3"]), {"overwrite": True, "progress": None}),
        ["rel_l2: 0.25", "n_points: 7", "posterior written to o.h5; exact solution in o.exact.h5"],
    ),
    "predict": (
        ["predict", "-c", "m.ckpt", "-d", "t.h5", "-o", "p.h5", "--lead-times", "0.5,1", "--stride", "2"],
        "predict",
        Path("p.h5"),
        (("m.ckpt", "t.h5", "p.h5"), {"lead_times": "0.5,1", "stride": 2, "overwrite": False}),
        ["predictions written to p.h5"],
    ),
    "evaluate": (
        ["evaluate", "-p", "p.h5", "-d", "t.h5", "--plot", "f.png", "--samples", "1", "--per-sample"],
        "evaluate",
        {**EVAL, "figures": ["f.png", "f_spectrum.png"]},
        (("p.h5", "t.h5", "rel_l2"), {"plot": "f.png", "samples": "1"}),
        ["0.125", "u[1] rel_l2=0.15", "figure written to f_spectrum.png"],
    ),
    "evaluate -c": (
        ["evaluate", "-c", "m.ckpt", "-d", "t.h5", "-d", "u.h5", "--strides", "1,2", "--json", "m.json"],
        "evaluate_resolutions",
        ROWS,
        (("m.ckpt", ["t.h5", "u.h5"], "1,2", "rel_l2"), {"json_out": "m.json"}),
        ["d/t.h5", "8 *", "0.5", "metrics written to m.json"],
    ),
    "rollout": (
        ["rollout", "-c", "m.ckpt", "-d", "t.h5", "--steps", "4", "--samples", "0,2"],
        "rollout",
        {"n_samples": 2, "time": [0.5, 1.0], "per_step": [0.01, 0.02], "mean": 0.015},
        (("m.ckpt", "t.h5"), {"steps": 4, "samples": "0,2"}),
        ["0.01", "0.02", "mean over steps: 0.015"],
    ),
    "generate": (
        ["generate", "r.yaml", "out_dir=x", "--shard", "1/2"],
        "generate",
        [Path("x/train-1.h5")],
        (("r.yaml", ["out_dir=x"]), {"shard": "1/2", "overwrite": False}),
        ["wrote x/train-1.h5"],
    ),
    "plugins list": (
        ["plugins", "list", "--kind", "loss"],
        "plugins_list",
        [{"kind": "loss", "name": "my_loss", "distribution": "mine", "loaded": False, "summary": ""}],
        (("loss",), {}),
        ["my_loss", "mine", "(plugin, loaded on first use)"],
    ),
    "plugins info": (
        ["plugins", "info", "my_loss"],
        "plugins_info",
        [
            {
                "kind": "loss",
                "name": "my_loss",
                "distribution": "mine",
                "object": "m.MyLoss",
                "doc": "A loss.",
                "parameters": [{"name": "alpha", "type": "float", "default": "0.5"}],
            }
        ],
        (("my_loss", None), {}),
        ["loss 'my_loss' from mine (m.MyLoss)", "A loss.", "alpha", "0.5"],
    ),
    "data inspect": (
        ["data", "inspect", "f.h5"],
        "data_inspect",
        "file: f.h5\nvariables: u",
        (("f.h5",), {}),
        ["variables: u"],
    ),
    "data convert": (
        ["data", "convert", "w.hdf5", "n.h5", "--from", "well"],
        "data_convert",
        {"path": Path("n.h5"), "n_samples": 2, "variables": {"u": ("sample", "time", "x")}},
        (("w.hdf5", "n.h5"), {"fmt": "well", "overwrite": False}),
        ["wrote n.h5: 2 samples; u(sample, time, x)"],
    ),
    "data export-well": (
        ["data", "export-well", "n.h5", "out", "--split", "valid"],
        "data_export_well",
        {"path": Path("out/data/valid/n.hdf5"), "stats": None},
        (("n.h5", "out"), {"split": "valid", "name": None}),
        ["wrote out/data/valid/n.hdf5"],
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES), ids=list(CLI_CASES))
def test_cli_calls_the_api_and_renders_its_result(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from specsolve import api
    from specsolve.cli.main import main

    argv, name, result, (args, kwargs), shown = CLI_CASES[case]
    recorder = Recorder(result)
    monkeypatch.setattr(api, name, recorder)
    assert main(argv) == 0
    assert len(recorder.calls) == 1, "the verb must call specsolve.api." + name
    called_args, called_kwargs = recorder.calls[0]
    assert called_args == args and kwargs.items() <= called_kwargs.items()
    out = capsys.readouterr().out
    for text in shown:
        assert text in out, (text, out)


# -- the API owns the behaviour ------------------------------------------------------------------------------
def _native(path: Path, values, dims: tuple[str, ...]) -> Path:
    import numpy as np

    from specsolve.data.native import NativeWriter, VariableSpec

    coords = {"sample": np.arange(values.shape[0])}
    for dim, n in zip(dims[1:], values.shape[1:]):
        coords[dim] = np.arange(n) * 0.1 if dim == "time" else np.linspace(0, 1, n)
    with NativeWriter(path, coords, {"u": VariableSpec(dims)}) as writer:
        writer.write("u", 0, values)
    return path


def test_evaluate_plot_writes_the_figures_of_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import numpy as np

    from specsolve.cli.main import main

    truth = np.random.default_rng(0).standard_normal((3, 4, 8, 8)).astype(np.float32)
    ref = _native(tmp_path / "ref.h5", truth, ("sample", "time", "x", "y"))
    pred = _native(tmp_path / "pred.h5", truth + 0.1, ("sample", "time", "x", "y"))
    result = specsolve.evaluate(pred, ref, "rel_l2,nrmse", plot=tmp_path / "api" / "f.png", samples="1,2")
    assert (
        main(
            ["evaluate", "-p", str(pred), "-d", str(ref), "--plot", str(tmp_path / "cli" / "f.png"), "--samples", "1,2"]
        )
        == 0
    )
    written = {"f.png", "f_spectrum.png", "f_time.png"}  # truth / prediction / error, energy spectra, time strip
    assert {p.name for p in (tmp_path / "api").iterdir()} == written == {p.name for p in (tmp_path / "cli").iterdir()}
    assert sorted(Path(f).name for f in result["figures"]) == sorted(written)
    out = capsys.readouterr().out.replace("\n", "")  # rich folds long paths
    assert all(f"figure written to {tmp_path / 'cli' / name}" in out for name in written)
    assert list(result["variables"]["u"]["mean"]) == ["rel_l2", "nrmse"]
    # without a time axis: no time strip
    ref2 = _native(tmp_path / "ref2.h5", truth[:, 0], ("sample", "x", "y"))
    assert [Path(f).name for f in specsolve.evaluate(ref2, ref2, plot=tmp_path / "s" / "g.png")["figures"]] == [
        "g.png",
        "g_spectrum.png",
    ]


def test_data_verbs_return_what_the_cli_prints(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import _format_builders as build

    from specsolve.cli.main import main

    build.well_file(tmp_path / "w.hdf5")
    converted = specsolve.data_convert(tmp_path / "w.hdf5", tmp_path / "api.h5", fmt="well")
    assert converted["path"] == tmp_path / "api.h5" and converted["n_samples"] == 2
    assert converted["variables"]["u"] == ("sample", "time", "x", "y")
    assert main(["data", "convert", str(tmp_path / "w.hdf5"), str(tmp_path / "cli.h5"), "--from", "well"]) == 0
    summary = ", ".join(f"{n}({', '.join(d)})" for n, d in converted["variables"].items())
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'cli.h5'}: 2 samples; {summary}"

    text = specsolve.data_inspect(tmp_path / "api.h5")
    assert main(["data", "inspect", str(tmp_path / "api.h5")]) == 0
    assert capsys.readouterr().out == text + "\n" and "u" in text

    exported = specsolve.data_export_well(tmp_path / "api.h5", tmp_path / "well")
    assert exported == {"path": tmp_path / "well/data/train/api.hdf5", "stats": tmp_path / "well/stats.yaml"}
    assert exported["path"].exists() and exported["stats"].exists()
    assert main(["data", "export-well", str(tmp_path / "api.h5"), str(tmp_path / "well2")]) == 0
    lines = capsys.readouterr().out.strip()
    assert lines == f"wrote {tmp_path / 'well2/data/train/api.hdf5'} and {tmp_path / 'well2/stats.yaml'}"
    valid = specsolve.data_export_well(tmp_path / "api.h5", tmp_path / "well", split="valid")
    assert valid["stats"] is None and valid["path"] == tmp_path / "well/data/valid/api.hdf5"
    with pytest.raises(specsolve.DataError, match="already exists"):
        specsolve.data_convert(tmp_path / "w.hdf5", tmp_path / "api.h5", fmt="well")


def test_plugins_verbs_return_the_registry(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from specsolve.cli.main import main
    from specsolve.registry import REGISTRY, Component

    specsolve.list_components("loss")  # built-ins registered first
    lazy = Component("loss", "zz_lazy", obj=None, distribution="a-plugin")  # an entry point not loaded yet
    monkeypatch.setitem(REGISTRY._components["loss"], "zz_lazy", lazy)
    row = next(r for r in specsolve.plugins_list("loss") if r["name"] == "zz_lazy")
    assert row == {"kind": "loss", "name": "zz_lazy", "distribution": "a-plugin", "loaded": False, "summary": ""}
    monkeypatch.delitem(REGISTRY._components["loss"], "zz_lazy")

    losses = specsolve.plugins_list("loss")
    assert [row["name"] for row in losses] == [c.name for c in specsolve.list_components("loss")]
    assert all(
        row["kind"] == "loss" and row["loaded"] and row["summary"]
        for row in losses
        if row["distribution"] == "specsolve"
    )
    (info,) = specsolve.plugins_info("fno", kind="model")
    assert info["object"] == "specsolve.models.fno.FNO" and info["doc"].startswith("Fourier")
    params = {p["name"]: p for p in info["parameters"]}
    assert params["modes"]["default"] == "required" and "width" in params
    assert main(["plugins", "info", "fno", "--kind", "model"]) == 0
    out = capsys.readouterr().out
    assert "model 'fno' from specsolve (specsolve.models.fno.FNO)" in out and all(name in out for name in params)
    with pytest.raises(specsolve.RegistryError, match="did you mean 'fno'"):
        specsolve.plugins_info("fnoo")


def test_solve_returns_what_the_cli_prints(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from specsolve.cli.main import main

    config = ROOT / "configs/gp/epgp_heat_1d.yaml"
    result = specsolve.solve(config, {"output.path": str(tmp_path / "a.h5")})
    assert Path(result["output"]).exists() and Path(result["exact"]) == tmp_path / "a.exact.h5"
    assert main(["solve", str(config), f"output.path={tmp_path / 'b.h5'}"]) == 0
    out = capsys.readouterr().out
    for key, value in result["metrics"].items():
        assert (f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}") in out
    # the same config as a mapping; refusing to clobber, in each front end's terms
    mapping = {
        "solver": {"name": "epgp", "problem": "heat_1d", "n_obs": 50, "steps": 0},
        "output": {"path": str(tmp_path / "a.h5")},
    }
    with pytest.raises(specsolve.DataError, match=r"pass overwrite=True to replace it\)$"):
        specsolve.solve(mapping)
    assert main(["solve", str(config), f"output.path={tmp_path / 'b.h5'}"]) == 2
    assert "(pass --overwrite to replace it)" in capsys.readouterr().err
    with pytest.raises(specsolve.ConfigError, match="did you mean 'output'"):
        specsolve.solve({**mapping, "outptu": {}})


def test_one_list_parser() -> None:
    from specsolve.api import _comma_list

    assert _comma_list("1, 2,,4", int, "strides") == [1, 2, 4]
    assert _comma_list("0.25,1e-1", float, "lead times") == [0.25, 0.1]
    assert _comma_list(" rel_l2 , nrmse", str, "metrics") == ["rel_l2", "nrmse"]
    assert _comma_list((3, 1), int, "samples") == [3, 1]
    assert _comma_list(None, int, "x") is None and _comma_list(" , ", int, "x") is None
    with pytest.raises(specsolve.ConfigError, match="strides must be comma-separated integers, got '1,x'"):
        _comma_list("1,x", int, "strides")
    with pytest.raises(specsolve.ConfigError, match="lead times must be comma-separated numbers"):
        _comma_list("0.5,abc", float, "lead times")


def test_library_errors_name_parameters_and_the_cli_shows_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from specsolve.cli.main import main
    from specsolve.cli.render import error_message

    config = tmp_path / "c.yaml"
    config.write_text((ROOT / "configs" / "demo_fno_darcy.yaml").read_text())
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt.partial").write_bytes(b"")
    with pytest.raises(
        specsolve.ConfigError, match="already holds checkpoints; pass resume=True to continue it"
    ) as info:
        specsolve.train(config, {"run_dir": str(tmp_path / "run")})
    assert "--" not in str(info.value)
    assert main(["train", str(config), f"run_dir={tmp_path / 'run'}"]) == 2
    assert "pass --resume to continue it" in capsys.readouterr().err
    with pytest.raises(specsolve.ConfigError, match="cannot resume: no checkpoint to resume from") as info:
        specsolve.train(config, {"run_dir": str(tmp_path / "new")}, resume=True)
    assert "--" not in str(info.value)
    assert (
        error_message("give lead times (pass lead_times, e.g. 0.5,1.0)")
        == "give lead times (pass --lead-times, e.g. 0.5,1.0)"
    )
    assert error_message("x (pass overwrite to replace it): f") == "x (pass --overwrite to replace it): f"
    assert error_message("pass overwrite_all") == "pass overwrite_all"

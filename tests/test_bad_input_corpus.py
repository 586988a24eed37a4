"""A corpus of malformed configs, data files and checkpoints, end to end through the CLI: every case ends with
exit code 2 and one line naming the problem, never a traceback, and touches nothing already on disk.
Plus property-based tests: random configs into the validator, random component specs into the registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import specsolve
from specsolve.cli.main import main
from specsolve.errors import SpecsolveError
from specsolve.registry.signature import validate_params

BASE = """
data: {{name: hdf5, train: {train}, test: {test}, inputs: [a], outputs: [u], batch_size: 8}}
model: {{name: fno, modes: [4, 4], width: 8, layers: 2}}
trainer: {{max_epochs: 1}}
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, darcy_tiny: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    files = {"root": root, "train": darcy_tiny / "train.h5", "test": darcy_tiny / "test.h5"}
    (root / "junk.h5").write_bytes(b"definitely not HDF5\n" * 50)
    raw = (darcy_tiny / "train.h5").read_bytes()
    (root / "truncated.h5").write_bytes(raw[: len(raw) // 2])
    (root / "a_dir.h5").mkdir()
    with h5py.File(root / "nodims.h5", "w") as f:  # variables without named dimensions
        f["a"] = np.zeros((4, 8, 8), np.float32)
        f["u"] = np.zeros((4, 8, 8), np.float32)
    from specsolve.data.native import NativeWriter, VariableSpec

    def native(name: str, n: int, values: Callable[[tuple[int, ...]], np.ndarray], space: int = 2) -> None:
        dims = ("x", "y")[:space]
        coords = {"sample": np.arange(n), **{d: np.linspace(0, 1, 8) for d in dims}}
        spec = {v: VariableSpec(("sample",) + dims) for v in ("a", "u")}
        with NativeWriter(root / name, coords, spec, compression=None) as w:
            for v in ("a", "u"):
                if n:
                    w._file[v][...] = values((n,) + (8,) * space)  # bypass the writer's own finiteness check

    native("nan.h5", 4, lambda s: np.full(s, np.nan, np.float32))
    native("empty.h5", 0, lambda s: np.zeros(s, np.float32))
    native("one_d.h5", 4, lambda s: np.ones(s, np.float32), space=1)
    # a trained checkpoint, and one whose weights do not match its config
    run = root / "run"
    cfg = root / "ok.yaml"
    cfg.write_text(f"run_dir: {run}\n" + BASE.format(train=files["train"], test=files["test"]))
    assert main(["train", str(cfg)]) == 0
    files["ckpt"] = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(files["ckpt"], weights_only=True)
    ckpt["state_dict"]["model.lift.weight"] = torch.zeros(3, 3)
    torch.save(ckpt, root / "mismatch.ckpt")
    (root / "random.ckpt").write_bytes(np.random.default_rng(0).bytes(2048))
    with h5py.File(files["test"]) as src, h5py.File(root / "other_var.h5", "w") as dst:
        for k in ("sample", "x", "y"):
            dst[k] = src[k][()]
            dst[k].make_scale(k)
        dst["v"] = src["u"][()]
        for i, k in enumerate(("sample", "x", "y")):
            dst["v"].dims[i].attach_scale(dst[k])
    return files


def config_case(overrides: list[str] | None = None, text: str | None = None, extra: list[str] | None = None):
    return {"overrides": overrides or [], "text": text, "extra": extra or []}


TRAIN_CASES = {
    "unknown model": (config_case(["model.name=fnoo"]), "unknown model 'fnoo'; did you mean 'fno'"),
    "misspelt model key": (config_case(["model.widht=8"]), "did you mean 'width'"),
    "wrong type": (config_case(["model.width=eight"]), "key 'width' expects int"),
    "negative width": (config_case(["model.width=-3"]), "must be positive"),
    "more modes than grid": (config_case(["model.modes=[40,40]"]), "modes"),
    "empty modes": (config_case(["model.modes=[]"]), "modes must list"),
    "bad literal": (config_case(["model.activation=tanh"]), "key 'activation' expects"),
    "unknown dataset": (config_case(["data.name=hdf6"]), "unknown dataset 'hdf6'"),
    "zero batch": (config_case(["data.batch_size=0"]), "batch_size must be >= 1"),
    "missing data file": (config_case(["data.train=/nonexistent/train.h5"]), "data file not found"),
    "directory as data": (config_case(["data.train={root}/a_dir.h5"]), "is a directory"),
    "missing variable": (config_case(["data.inputs=[nope]"]), "no variable 'nope'"),
    "zero stride": (config_case(["data.stride=0"]), "stride must be >= 1"),
    "n_train too big": (config_case(["data.n_train=100000"]), "n_train=100000"),
    "non-HDF5 data": (config_case(["data.train={root}/junk.h5"]), "not a valid HDF5 file"),
    "truncated HDF5": (config_case(["data.train={root}/truncated.h5"]), "truncated.h5"),
    "unlabelled dims": (config_case(["data.train={root}/nodims.h5"]), "no named dimension"),
    "NaN data": (config_case(["data.train={root}/nan.h5"]), "NaN or inf"),
    "empty dataset": (config_case(["data.train={root}/empty.h5"]), "empty"),
    "1-D data for 2-D model": (config_case(["data.train={root}/one_d.h5", "data.test=null"]), "expects"),
    "unknown optimizer": (config_case(["optimizer.name=adm"]), "unknown optimizer 'adm'"),
    "optimizer type": (config_case(["optimizer.lr=fast"]), "key 'lr' expects float"),
    "unknown scheduler": (config_case(["scheduler.name=cosin"]), "did you mean 'cosine'"),
    "scheduler type": (config_case(["scheduler.name=step", "scheduler.step_size=1.5"]), "key 'step_size' expects int"),
    "unknown loss": (config_case(text="loss: [{{name: rel_l3}}]\n"), "unknown loss 'rel_l3'"),
    "loss weight type": (config_case(text="loss: [{{name: rel_l2, weight: heavy}}]\n"), "weight must be a number"),
    "trainer typo": (config_case(["trainer.max_epoch=3"]), "did you mean 'max_epochs'"),
    "managed trainer key": (config_case(["trainer.default_root_dir=/tmp"]), "managed by specsolve"),
    "config version": (config_case(["config_version=2"]), "config_version 2 is not supported"),
    "top-level typo": (config_case(text="modle: {{name: fno}}\n"), "did you mean 'model'"),
    "override without =": (config_case(extra=["model.width"]), "not of the form key=value"),
    "list merged into dict": (config_case(["loss.0.name=x"]), "invalid config or override"),
    "resume without checkpoint": (config_case(extra=["--resume"]), "no checkpoint to resume from"),
    "model name not a string": (config_case(["model.name=null"]), "model.name must be a string"),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES), ids=list(TRAIN_CASES))
def test_bad_train_inputs(case: str, corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec, message = TRAIN_CASES[case]
    root = corpus["root"]
    text = f"run_dir: {tmp_path / 'run'}\n" + BASE.format(train=corpus["train"], test=corpus["test"])
    if spec["text"]:
        text += spec["text"].format(root=root).replace("{{", "{").replace("}}", "}")
    config = tmp_path / "c.yaml"
    config.write_text(text)
    overrides = [o.format(root=root) for o in spec["overrides"]]
    code = main(["train", str(config), *overrides, *spec["extra"]])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()


FILE_CASES = {
    "missing config": (["train", "{root}/missing.yaml"], "config file not found"),
    "config is a directory": (["train", "{root}"], "is a directory"),
    "checkpoint missing": (
        ["predict", "-c", "{root}/none.ckpt", "-d", "{test}", "-o", "{out}"],
        "checkpoint not found",
    ),
    "checkpoint random bytes": (["predict", "-c", "{root}/random.ckpt", "-d", "{test}", "-o", "{out}"], "random.ckpt"),
    "checkpoint shape mismatch": (
        ["predict", "-c", "{root}/mismatch.ckpt", "-d", "{test}", "-o", "{out}"],
        "does not match its model config",
    ),
    "predict on non-HDF5": (["predict", "-c", "{ckpt}", "-d", "{root}/junk.h5", "-o", "{out}"], "not a valid HDF5"),
    "predict onto input": (
        ["predict", "-c", "{ckpt}", "-d", "{test}", "-o", "{test}", "--overwrite"],
        "refusing to overwrite",
    ),
    "evaluate missing variable": (["evaluate", "-p", "{root}/other_var.h5", "-d", "{test}"], "no variable 'v'"),
    "evaluate junk": (["evaluate", "-p", "{root}/junk.h5", "-d", "{test}"], "not a valid HDF5"),
    "inspect truncated": (["data", "inspect", "{root}/truncated.h5"], "truncated.h5"),
    "generate unknown generator": (["generate", "{root}/bad_recipe.yaml"], "unknown generator 'dracy'"),
    "generate bad shard": (["generate", "{root}/bad_recipe.yaml", "--shard", "3/2"], "need 0 <= i < N"),
    "unknown plugin": (["plugins", "info", "fnoo"], "unknown"),
}


@pytest.mark.parametrize("case", list(FILE_CASES), ids=list(FILE_CASES))
def test_bad_files_and_checkpoints(
    case: str, corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (corpus["root"] / "bad_recipe.yaml").write_text(
        f"generator: {{name: dracy}}\nsplits: {{train: {{n: 2, seed: 0}}}}\nout_dir: {tmp_path / 'gen'}\n"
    )
    argv, message = FILE_CASES[case]
    before = corpus["test"].read_bytes()
    fields = {"root": corpus["root"], "test": corpus["test"], "ckpt": corpus["ckpt"], "out": tmp_path / "out.h5"}
    code = main([a.format(**fields) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "out.h5").exists()
    assert corpus["test"].read_bytes() == before


def test_corpus_size() -> None:
    assert len(TRAIN_CASES) + len(FILE_CASES) >= 30


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["in_channels", "out_channels", "modes", "width", "layers", "padding", "grid", "activation", "widht", "zzz"]
        ),
        JSONISH,
        max_size=6,
    )
)
def test_random_configs_only_raise_our_errors(params: dict) -> None:
    for name in ("fno", "gfno", "galerkin_transformer"):
        factory = specsolve.get("model", name)
        reasons = known_invalid(factory, params)
        try:
            validate_params(factory, params, where=name)
        except SpecsolveError:
            continue
        assert not reasons, f"{name} accepted {params!r} although {reasons}"


def known_invalid(factory, params: dict) -> list[str]:
    """Reasons, found without the validator, why ``params`` cannot be valid for ``factory``: an unknown key, a
    missing required key, or a value of the wrong kind for a parameter annotated plainly ``int`` or ``bool``."""
    import inspect
    import typing

    target = factory.__init__ if inspect.isclass(factory) else factory
    signature = inspect.signature(target).parameters
    named = {n: p for n, p in signature.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    hints = typing.get_type_hints(target)
    reasons = [f"'{k}' is not a parameter" for k in params if k not in named]
    reasons += [f"'{n}' is required" for n, p in named.items() if p.default is p.empty and n not in params]
    for key, value in params.items():
        if hints.get(key) is int and (isinstance(value, bool) or not isinstance(value, int)):
            reasons.append(f"'{key}' must be an int, got {value!r}")
        if hints.get(key) is bool and not isinstance(value, bool):
            reasons.append(f"'{key}' must be a bool, got {value!r}")
    return reasons


def test_known_invalid_oracle_sees_the_obvious_cases() -> None:
    fno = specsolve.get("model", "fno")
    valid = {"in_channels": 1, "out_channels": 1, "modes": [2, 2]}
    assert known_invalid(fno, valid) == []
    assert known_invalid(fno, {**valid, "widht": 8})
    assert known_invalid(fno, {**valid, "width": "8"})
    assert known_invalid(fno, {"modes": [2, 2]})  # channels missing


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.dictionaries(
        st.sampled_from(["modes", "width", "layers", "padding"]),
        st.integers(-2, 6) | st.lists(st.integers(-2, 6), max_size=4),
        max_size=4,
    )
)
def test_random_fno_configs_build_or_fail_cleanly(params: dict) -> None:
    spec = {"modes": [2, 2], **params}
    reasons = fno_known_invalid(spec)
    try:
        model = specsolve.create("model", "fno", in_channels=1, out_channels=1, **spec)
    except SpecsolveError:
        return
    try:
        model(torch.zeros(1, 1, 8, 8))
    except SpecsolveError:
        return
    assert not reasons, f"fno accepted {spec!r} on an 8x8 grid although {reasons}"


def fno_known_invalid(spec: dict) -> list[str]:
    """Why an FNO spec cannot run on a 2-D (1, 1, 8, 8) input, judged from the spec alone."""
    reasons = []
    modes = spec["modes"]
    if not isinstance(modes, list):
        reasons.append("modes is not a list")
    elif len(modes) != 2:
        reasons.append(f"{len(modes)} mode counts for a 2-D grid")
    elif any(m < 1 for m in modes):
        reasons.append("a mode count below 1")
    for key in ("width", "layers", "padding"):
        value = spec.get(key, 1)
        if not isinstance(value, int):
            reasons.append(f"{key} is not an int")
        elif value < (0 if key == "padding" else 1):
            reasons.append(f"{key}={value}")
    return reasons

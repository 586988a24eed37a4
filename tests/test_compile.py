"""``model.compile``: option parsing, training with a compiled network, checkpoints that load without compilation.

The training tests use the ``aot_eager`` backend (dynamo tracing + AOT autograd, no code generation): inductor works
on this machine too but needs ~40 s of C++ compilation even for a tiny FNO; benchmarks/compile_speedup.py uses it.
"""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest
import torch

from specsolve.config import load_config
from specsolve.errors import ConfigError
from specsolve.training.checkpoint import load_module, read_checkpoint
from specsolve.training.compile import compile_options, compile_settings, split_model_section
from specsolve.training.module import OperatorModule
from specsolve.training.run import train, validate_components

DEFAULTS = {"mode": None, "dynamic": None, "fullgraph": False, "backend": "inductor"}


def test_compile_values() -> None:
    assert compile_options(None) is None and compile_options(False) is None
    assert compile_options(True) == DEFAULTS == compile_settings()
    assert compile_options({"mode": "max-autotune", "dynamic": False}) == {
        **DEFAULTS,
        "mode": "max-autotune",
        "dynamic": False,
    }
    name, params, options = split_model_section({"name": "fno", "modes": [4], "compile": True})
    assert (name, params, options) == ("fno", {"modes": [4]}, {"compile": True})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "model.compile must be true, false or a mapping"),
        ({"mdoe": "default"}, "unknown key 'mdoe' (did you mean 'mode'?)"),
        ({"mode": "fastest"}, "key 'mode' expects"),
        ({"backend": "no_such_backend"}, "unknown backend 'no_such_backend'"),
    ],
)
def test_bad_compile_value_fails_at_validation(value: object, message: str) -> None:
    cfg = load_config(
        {
            "data": {"name": "hdf5", "train": "x.h5", "inputs": ["a"], "outputs": ["u"]},
            "model": {"name": "fno", "modes": [4, 4]},
        }
    )
    cfg.model.compile = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_components(cfg)


class Capture(L.Callback):
    """At the end of training: whether the network was compiled, and the module's outputs on a fixed input."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def on_train_end(self, trainer: L.Trainer, pl_module: OperatorModule) -> None:
        self.compiled = getattr(pl_module.model, "_compiled_call_impl", None) is not None
        pl_module.eval()
        with torch.no_grad():
            self.out = pl_module(self.x)


def run(tmp_path: Path, data: Path, name: str, compile_value: str) -> tuple[Capture, Path]:
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"""
seed: 3
data: {{name: hdf5, train: {data}/train.h5, test: {data}/test.h5, inputs: [a], outputs: [u], batch_size: 8,
        n_train: 16}}
model: {{name: fno, modes: [4, 4], width: 8, layers: 2, compile: {compile_value}}}
optimizer: {{name: adam, lr: 1.0e-2}}
trainer: {{max_epochs: 2, accelerator: cpu}}
"""
    )
    capture = Capture(torch.randn(3, 1, 17, 17, generator=torch.Generator().manual_seed(0)))
    result = train(load_config(config, [f"run_dir={tmp_path / name}"]), progress=False, callbacks=[capture])
    return capture, Path(result["last"])


def test_compiled_training_checkpoint_loads_eagerly(tmp_path: Path, darcy_tiny: Path) -> None:
    torch._dynamo.reset()
    compiled, compiled_last = run(tmp_path, darcy_tiny, "compiled", "{backend: aot_eager, dynamic: false}")
    assert compiled.compiled  # the network really ran through torch.compile
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0
    ckpt = read_checkpoint(compiled_last)
    assert ckpt["hyper_parameters"]["config"]["model"]["compile"] == {"backend": "aot_eager", "dynamic": False}
    module, _ = load_module(compiled_last)  # rebuilt eagerly: no compilation outside fit
    assert getattr(module.model, "_compiled_call_impl", None) is None
    assert set(ckpt["state_dict"]) == set(module.state_dict())  # no _orig_mod. prefixes
    with torch.no_grad():
        torch.testing.assert_close(module(compiled.x), compiled.out, rtol=0, atol=1e-6)

    eager, eager_last = run(tmp_path, darcy_tiny, "eager", "false")
    assert not eager.compiled
    eager_state = read_checkpoint(eager_last)["state_dict"]
    for key, value in eager_state.items():  # the same training run: compilation changes no result
        torch.testing.assert_close(ckpt["state_dict"][key], value, rtol=1e-4, atol=1e-5)


def test_cli_bad_compile_option_is_one_line(tmp_path: Path, darcy_tiny: Path, capsys: pytest.CaptureFixture) -> None:
    from specsolve.cli.main import main

    config = tmp_path / "run.yaml"
    config.write_text(
        f"data: {{name: hdf5, train: {darcy_tiny}/train.h5, inputs: [a], outputs: [u]}}\n"
        "model: {name: fno, modes: [4, 4], compile: {dynamc: true}}\n"
    )
    assert main(["train", str(config), f"run_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert "model.compile: unknown key 'dynamc' (did you mean 'dynamic'?)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()  # failed before anything was built or written

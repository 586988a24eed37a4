"""Experiment tracking through Lightning's loggers: a tiny Darcy run logged into a real SQLite-backed MLflow store
and read back with MLflow's own client; the options' validation; the model summary without its FLOPs line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specsolve.errors import ConfigError
from specsolve.training.loggers import LoggingOptions, MLflowOptions, WandbOptions, logging_options


def _config(tmp_path: Path, darcy_tiny: Path, logging: str, epochs: int = 2) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
run_dir: {tmp_path / "run"}
data: {{name: hdf5, train: {darcy_tiny}/train.h5, val: {darcy_tiny}/test.h5, inputs: [a], outputs: [u], batch_size: 8}}
model: {{name: fno, modes: [3, 3], width: 6, layers: 1, padding: 0}}
trainer: {{max_epochs: {epochs}}}
logging: {logging}
"""
    )
    return config


def test_mlflow_run_in_a_sqlite_store_read_back(tmp_path: Path, darcy_tiny: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from specsolve import api

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    config = _config(tmp_path, darcy_tiny, f"{{mlflow: {{tracking_uri: '{uri}', experiment: tiny, tags: {{k: v}}}}}}")
    result = api.train(config, progress=False)

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run" and run.data.tags["k"] == "v"
    params = run.data.params
    assert params["config/model/name"] == "fno" and params["config/model/width"] == "6"
    assert params["config/trainer/max_epochs"] == "2" and params["in_channels"] == "1"
    # per-epoch validation metrics: one point per epoch, equal to what the CSV log holds
    history = client.get_metric_history(run.info.run_id, "val/rel_l2")
    assert len(history) == 2
    from specsolve.training.curves import read_metrics_csv

    csv = [v for _, v in read_metrics_csv(Path(result["run_dir"]) / "logs" / "metrics.csv")["val/rel_l2"]]
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(csv)
    assert run.data.metrics["val/rel_l2"] == pytest.approx(csv[-1])

    def artifacts(path: str | None = None) -> set[str]:
        out = set()
        for f in client.list_artifacts(run.info.run_id, path):
            out |= artifacts(f.path) if f.is_dir else {f.path}
        return out

    assert artifacts() == {"config.yaml", "checkpoints.json", "logs/metrics.csv", "figures/training_curves.png"}
    local = Path(client.download_artifacts(run.info.run_id, "checkpoints.json", str(tmp_path / "dl")))
    record = json.loads(local.read_text())
    assert record["best"] == str(Path(result["best"]).resolve()) and record["last"] == str(
        Path(result["last"]).resolve()
    )
    assert run.data.tags["checkpoint.best"] == record["best"]
    yaml_text = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path / "dl"))).read_text()
    assert "width: 6" in yaml_text
    # artifacts live next to the database, not in the working directory
    assert (tmp_path / "store" / "mlartifacts").is_dir() and not Path("mlruns").exists()


def wandb_records(path: Path):
    """The protobuf records of an offline W&B run file (``run-*.wandb``): a 7-byte ``:W&B`` header, then LevelDB
    log blocks of 32 KiB whose chunks (4-byte CRC, 2-byte length, 1-byte type: full / first / middle / last) hold
    serialised ``wandb_internal_pb2.Record`` messages. wandb >= 0.19 ships no Python reader of its own."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, block, pos, pending = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # block trailer / padding
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def test_wandb_offline_run_read_back(tmp_path: Path, darcy_tiny: Path, monkeypatch) -> None:
    """``logging: {wandb: {mode: offline}}``: the run file under run_dir/wandb holds the config, one validation point
    per epoch (equal to the CSV log) and the run-files artifact; nothing is sent anywhere."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    from specsolve import api
    from specsolve.training.curves import read_metrics_csv

    result = api.train(_config(tmp_path, darcy_tiny, "{wandb: {mode: offline, project: tiny}}"), progress=False)
    (run_file,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    config, history, artifacts = {}, [], set()
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "history":
            items = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            if "val/rel_l2" in items:
                history.append(items["val/rel_l2"])
        elif kind == "artifact":
            artifacts |= {entry.path for entry in record.artifact.manifest.contents}
    model = config["config"]["model"]
    assert (model["name"], model["modes"], model["width"], model["in_channels"]) == ("fno", [3, 3], 6, 1)
    assert config["in_channels"] == 1 and config["config"]["trainer"]["max_epochs"] == 2
    csv = [v for _, v in read_metrics_csv(Path(result["run_dir"]) / "logs" / "metrics.csv")["val/rel_l2"]]
    assert len(history) == 2 and history == pytest.approx(csv)
    assert artifacts == {"config.yaml", "checkpoints.json", "logs/metrics.csv", "figures/training_curves.png"}


def test_tracking_options_are_validated() -> None:
    opts = logging_options({"logging": {"mlflow": {"tracking_uri": "sqlite:///x.db"}, "wandb": True}})
    assert opts.mlflow == MLflowOptions(tracking_uri="sqlite:///x.db") and opts.wandb == WandbOptions()
    assert logging_options({"logging": {"mlflow": False}}) == LoggingOptions()
    for section, match in (
        ({"mlflow": {"tracking_ur": "x"}}, "logging.mlflow: unknown key 'tracking_ur' \\(did you mean 'tracking_uri'"),
        ({"wandb": {"mode": "offlin"}}, "logging.wandb: key 'mode' expects"),
        ({"mlflow": "sqlite:///x.db"}, "logging.mlflow must be a mapping"),
        ({"mlflow": {"log_checkpoint": 1}}, "logging.mlflow: key 'log_checkpoint' expects bool"),
    ):
        with pytest.raises(ConfigError, match=match):
            logging_options({"logging": section})


def test_missing_tracker_package_is_a_one_line_config_error(tmp_path: Path, monkeypatch) -> None:
    import builtins

    from specsolve.training.loggers import build_loggers

    real_import = builtins.__import__

    def no_trackers(name, *args, **kwargs):
        if name.split(".")[0] in ("mlflow", "wandb"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_trackers)
    for key, options in (("mlflow", MLflowOptions()), ("wandb", WandbOptions())):
        with pytest.raises(ConfigError) as err:
            build_loggers(LoggingOptions(**{key: options}), tmp_path)
        assert str(err.value) == f"logging.{key} needs the {key} package: pip install 'specsolve[{key}]'"


def test_model_summary_has_no_flops_line(tmp_path: Path, darcy_tiny: Path, capsys) -> None:
    from specsolve import api

    api.train(_config(tmp_path, darcy_tiny, "{figures: false}", epochs=1), progress=True)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Total params" in text and "Trainable params" in text  # the summary is printed
    assert "FLOPs" not in text and "Flops" not in text

"""Pretrained models by name: ``hf://ORG/NAME[@REVISION]`` through huggingface_hub's cache, and specsolve's own hub
directory layout.

A specsolve hub directory (written by :func:`write_hub_dir`, uploaded with ``hf upload ORG/NAME DIR``)::

    specsolve.json     format_version, model name, in/out channels, data layout, the resolved config, SHA-256 of
                       the weights: what loading reads
    config.yaml        the same resolved run config as YAML (``specsolve train config.yaml`` retrains the model)
    model.safetensors  the OperatorModule's state dict (model tensors and normalisation buffers), bit for bit
    metrics.json       the evaluation metrics (``specsolve evaluate --json``), when given
    README.md          the model card: metrics table, how to load and fine-tune

``hf://`` names resolve with ``huggingface_hub.snapshot_download`` into its cache (``HF_HUB_CACHE``, read when the
name is resolved). With ``HF_HUB_OFFLINE=1`` only the cache is read; a model that is not there is one
:class:`~specsolve.errors.DataError` line saying how to download it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from specsolve.errors import ConfigError, DataError
from specsolve.io import read_json_object
from specsolve.version import __version__

HF_PREFIX = "hf://"
FORMAT_VERSION = 1
MANIFEST = "specsolve.json"
WEIGHTS = "model.safetensors"
TRUTHY = ("1", "on", "yes", "true")


def is_hub_name(path: Any) -> bool:
    return isinstance(path, str) and path.startswith(HF_PREFIX)


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it, but at call time (its constants are read at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUTHY


def parse_hub_name(name: str) -> tuple[str, str | None]:
    """``hf://ORG/NAME@REV`` -> ``("ORG/NAME", "REV")``; the revision is optional."""
    m = re.fullmatch(r"hf://([\w.-]+/[\w.-]+)(?:@([\w./-]+))?", name)
    if m is None:
        raise ConfigError(
            f"'{name}' is not a Hugging Face model name: expected hf://ORG/NAME or hf://ORG/NAME@REVISION"
        )
    return m.group(1), m.group(2)


def resolve_pretrained(path: str | os.PathLike[str]) -> Path:
    """A local path as it is; ``hf://ORG/NAME[@REV]`` -> its snapshot directory in the huggingface_hub cache
    (downloaded first unless ``HF_HUB_OFFLINE`` is set)."""
    if not is_hub_name(path):
        return Path(path)
    repo_id, revision = parse_hub_name(str(path))
    try:
        import huggingface_hub
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as exc:
        raise DataError(f"{path}: hf:// names need huggingface_hub (pip install 'specsolve[hub]')") from exc
    offline = hub_offline()
    cache = os.environ.get("HF_HUB_CACHE") or None
    how = f"download it with `hf download {repo_id}`" + (" (or unset HF_HUB_OFFLINE)" if offline else "")
    try:
        snapshot = huggingface_hub.snapshot_download(
            repo_id, revision=revision, cache_dir=cache, local_files_only=offline
        )
    except LocalEntryNotFoundError:
        where = cache or huggingface_hub.constants.HF_HUB_CACHE
        state = "HF_HUB_OFFLINE is set" if offline else "the Hub could not be reached"
        raise DataError(f"{path} is not in the Hugging Face cache ({where}) and {state}: {how}") from None
    except (HfHubHTTPError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} could not be fetched ({first}): {how}") from None
    return Path(snapshot)


def is_hub_dir(path: str | os.PathLike[str]) -> bool:
    """True for a specsolve hub directory (``specsolve.json`` and ``model.safetensors``)."""
    p = Path(path)
    return p.is_dir() and (p / MANIFEST).is_file() and (p / WEIGHTS).is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _metrics_table(metrics: Mapping[str, Any]) -> str:
    """Markdown rows ``| variable | metric | mean |`` of an ``evaluate --json`` result (empty if it has none)."""
    rows = []
    for var, stats in (metrics.get("variables") or {}).items():
        for name, value in ((stats or {}).get("mean") or {}).items():
            if isinstance(value, (int, float)):
                rows.append(f"| {var} | {name} | {value:.4g} |")
    if not rows:
        return ""
    return "| variable | metric | mean |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def model_card(manifest: Mapping[str, Any], metrics: Mapping[str, Any] | None) -> str:
    """The README.md of a hub directory: YAML front matter for the Hub, what the model is, its metrics."""
    name = manifest["model"]
    lines = [
        "---",
        "library_name: specsolve",
        f"tags: [specsolve, neural-operator, {name}]",
        "---",
        "",
        f"# {name} (specsolve {manifest['specsolve_version']})",
        "",
        f"A `{name}` model trained with specsolve: {manifest['in_channels']} input channel(s), "
        f"{manifest['out_channels']} output channel(s); the training run's resolved config is `config.yaml`, "
        "the weights `model.safetensors` (SHA-256 in `specsolve.json`).",
        "",
        "```python",
        "import specsolve",
        'model = specsolve.load_pretrained("hf://ORG/NAME")  # or the path of this directory',
        "```",
        "",
        "Fine-tune from it with `finetune: {checkpoint: hf://ORG/NAME}` in a run config.",
        "",
    ]
    if metrics is not None:
        n = metrics.get("n_samples")
        lines += ["## Metrics", "", f"From `metrics.json`{f' ({n} samples)' if n else ''}:", ""]
        lines += [_metrics_table(metrics) or "```json\n" + json.dumps(metrics, indent=2) + "\n```", ""]
    return "\n".join(lines)


def write_hub_dir(
    checkpoint: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    metrics: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the hub layout of a specsolve checkpoint into ``directory`` (built beside it, then renamed in place).

    Returns ``{"directory", "files", "sha256", "model"}``. The checkpoint is rebuilt first, so a file that does not
    load is refused before anything is written.
    """
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    from specsolve.training.checkpoint import load_module

    out = Path(directory)
    if out.exists() and not (overwrite and out.is_dir()):
        raise DataError(f"{out} already exists (pass overwrite to replace it)" if out.is_dir() else f"{out} is a file")
    module, hp = load_module(checkpoint)
    state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    metrics_data = read_json_object(metrics, "metrics file") if metrics is not None else None
    config = hp["config"]
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "library": "specsolve",
        "specsolve_version": __version__,
        "model": (config.get("model") or {}).get("name"),
        "in_channels": hp["in_channels"],
        "out_channels": hp["out_channels"],
        "layout": hp.get("layout") or {},
        "config": config,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "library": "specsolve"})
        manifest["sha256"] = {WEIGHTS: _sha256(tmp / WEIGHTS)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        (tmp / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
        if metrics_data is not None:
            (tmp / "metrics.json").write_text(json.dumps(metrics_data, indent=2) + "\n")
        (tmp / "README.md").write_text(model_card(manifest, metrics_data))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "directory": str(out),
        "files": sorted(p.name for p in out.iterdir()),
        "sha256": manifest["sha256"][WEIGHTS],
        "model": manifest["model"],
    }


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """``specsolve.json`` of a hub directory, checked (format version, weights checksum)."""
    p = Path(directory)
    try:
        manifest = json.loads((p / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{p / MANIFEST} is not readable JSON: {type(exc).__name__}") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise DataError(f"{p}: hub format_version {version!r}, this specsolve reads {FORMAT_VERSION}")
    expected = (manifest.get("sha256") or {}).get(WEIGHTS)
    if expected is not None and _sha256(p / WEIGHTS) != expected:
        raise DataError(f"{p / WEIGHTS} does not match the SHA-256 in {MANIFEST} (a corrupted or replaced file)")
    return manifest


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(directory / WEIGHTS))
    except Exception as exc:
        raise DataError(f"cannot read {directory / WEIGHTS}: {type(exc).__name__}: {str(exc)[:120]}") from None


def read_hub_dir(directory: str | os.PathLike[str]):
    """The :class:`OperatorModule` of a hub directory in eval mode; returns ``(module, hyper_parameters)``."""
    from specsolve.training.module import OperatorModule

    p = Path(directory)
    manifest = read_manifest(p)
    hp = {k: manifest[k] for k in ("config", "in_channels", "out_channels", "layout")}
    module = OperatorModule(hp["config"], hp["in_channels"], hp["out_channels"], layout=hp["layout"])
    try:
        module.load_state_dict(_read_weights(p))
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        first = (lines[1] if len(lines) > 1 else lines[0]).strip()
        raise DataError(f"{p}: weights do not match its config: {first}") from None
    module.eval()
    return module, hp


def hub_model_tensors(directory: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], str | None]:
    """The model tensors of a hub directory (``model.`` prefix removed, normalisation dropped) and the model name."""
    p = Path(directory)
    manifest = read_manifest(p)
    state = {k[len("model.") :]: v for k, v in _read_weights(p).items() if k.startswith("model.")}
    return state, manifest.get("model")

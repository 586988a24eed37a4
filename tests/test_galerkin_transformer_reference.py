"""specsolve.models.galerkin_transformer against the reference code (scaomath/galerkin-transformer, MIT licence).

Skipped unless ``SPECSOLVE_GALERKIN_REFERENCE`` names a local checkout of the reference (its ``libs/`` and
``config.yml``; the reference is only imported, never copied). The reference ``SimpleTransformer`` (1D,
``config.yml: ex1_burgers``) and ``FourierTransformer2D`` (2D, ``ex2_darcy`` shrunk to a tiny config) are built,
their weights copied into specsolve's model, and the outputs compared. The reference's always-on attention dropout
(``F.dropout`` with p=0.5 even in eval) and its extra ``1/sqrt(d_k)`` in the Fourier scores are switched off.
Measured: identical in 1D, within 1.5e-8 in 2D (float32).
"""

from __future__ import annotations

import math
import os
import re
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml

from specsolve.models.galerkin_transformer import GalerkinTransformer

REFERENCE = os.environ.get("SPECSOLVE_GALERKIN_REFERENCE")
pytestmark = pytest.mark.skipif(
    not REFERENCE, reason="set SPECSOLVE_GALERKIN_REFERENCE to a checkout of scaomath/galerkin-transformer"
)


@pytest.fixture(scope="module")
def reference():
    """The reference's ``libs/layers.py`` and ``libs/model.py`` (with dropout and the Fourier 1/sqrt(d_k) off) and
    its ``config.yml``; its modules are removed from ``sys.modules`` afterwards."""
    root = Path(REFERENCE)
    saved = {name: sys.modules.get(name) for name in ("torchinfo", "utils_ft", "layers", "model")}
    sys.modules.setdefault("torchinfo", types.SimpleNamespace(summary=lambda *a, **k: None))
    sys.modules["utils_ft"] = types.ModuleType("utils_ft")  # plotting/data helpers the models do not need
    sys.path.insert(0, str(root / "libs"))
    try:
        import layers
        import model

        layers.F = types.SimpleNamespace(**{k: getattr(torch.nn.functional, k) for k in dir(torch.nn.functional)})
        layers.F.dropout = lambda x, *a, **k: x
        layers.math = types.SimpleNamespace(sqrt=lambda x: 1.0, log=math.log)
        yield model, yaml.safe_load((root / "config.yml").read_text())
    finally:
        sys.path.remove(str(root / "libs"))
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def specsolve_key(key: str) -> str:
    key = key.replace("feat_extract.id", "feature")
    key = re.sub(r"downscaler\.downsample\.(conv\d)\.conv\.0", r"downsampler.\1.conv", key)
    key = key.replace("upscaler.upsample.conv.0.conv.0", "upsampler.conv.conv")
    key = re.sub(r"attn\.linears\.([012])", lambda m: "attn." + ("query", "key", "value")[int(m.group(1))], key)
    key = re.sub(r"norm_([QKV])\.(\d+)\.", lambda m: f"norm_{m.group(1).lower()}.{m.group(2)}.", key)
    return key.replace("fourier_weight.", "weight.").replace("fourier_weight", "weight.0")


def copy_weights(ref: torch.nn.Module, ours: torch.nn.Module) -> None:
    target = {k: v.clone() for k, v in ours.state_dict().items()}
    for key, value in ref.state_dict().items():
        mapped = specsolve_key(key)
        head = re.match(r"(.*norm_[qkv])\.(\d+)\.(weight|bias)$", mapped)
        if head:  # one nn.LayerNorm per head -> rows of our (h, d_k) parameters
            target[f"{head.group(1)}.{head.group(3)}"][int(head.group(2))] = value
        else:
            assert target[mapped].shape == value.shape, (key, mapped)
            target[mapped] = value
    ours.load_state_dict(target, strict=True)


@pytest.mark.parametrize("attention", ["galerkin", "fourier"])
def test_1d_paper_config_matches_reference(reference, attention):
    model, config = reference
    torch.manual_seed(0)
    ref = model.SimpleTransformer(**dict(config["ex1_burgers"], attention_type=attention)).eval()
    ours = GalerkinTransformer(1, 1, attention=attention).eval()
    copy_weights(ref, ours)
    n = 512
    x = torch.randn(4, n, 1)
    pos = torch.linspace(0, 1, n)[None, :, None].expand(4, n, 1)
    with torch.no_grad():
        expected = ref(x, None, pos, None)["preds"]
        torch.testing.assert_close(ours(x.transpose(1, 2)).transpose(1, 2), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("attention", ["galerkin", "fourier"])
def test_2d_tiny_config_matches_reference(reference, attention):
    model, config = reference
    torch.manual_seed(0)
    fine, coarse = 29, 8
    mid = round(math.sqrt(fine * coarse))  # our intermediate grid, imposed on the reference for the comparison
    tiny = dict(n_hidden=16, n_head=2, num_encoder_layers=2, dim_feedforward=32, freq_dim=8, fourier_modes=4)
    ref = model.FourierTransformer2D(
        **dict(config["ex2_darcy"], attention_type=attention, **tiny),
        downscaler_size=((mid, mid), (coarse, coarse)),
        upscaler_size=((mid, mid), (fine, fine)),
    ).eval()
    ours = GalerkinTransformer(
        1, 1, dim=2, attention=attention, n_hidden=16, num_heads=2, num_layers=2, dim_feedforward=32, freq_dim=8,
        modes=4, coarse_size=coarse, norm_eps=1e-7, zero_boundary=True,
    ).eval()  # fmt: skip
    copy_weights(ref, ours)
    x = torch.randn(2, fine, fine, 1)
    axis_c, axis_f = torch.linspace(0, 1, coarse), torch.linspace(0, 1, fine)
    pos = torch.stack(torch.meshgrid(axis_c, axis_c, indexing="ij"), -1).reshape(1, -1, 2).expand(2, -1, -1)
    grid = torch.stack(torch.meshgrid(axis_f, axis_f, indexing="ij"), -1)[None].expand(2, -1, -1, -1)
    with torch.no_grad():
        expected = ref(x, None, pos, grid)["preds"]
        torch.testing.assert_close(ours(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), expected, rtol=0, atol=1e-6)

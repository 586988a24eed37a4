"""Side-by-side check of ``galerkin_transformer`` against the reference code (scaomath/galerkin-transformer).

Builds the reference ``SimpleTransformer`` (1D, ``config.yml: ex1_burgers``) and ``FourierTransformer2D`` (2D,
``ex2_darcy`` shrunk to the tiny config) from a local checkout, copies their weights into specsolve's model and prints
the largest output difference. The reference's always-on attention dropout (``F.dropout`` with p=0.5 even in eval)
is switched off; ``--keep-sqrt`` keeps the reference's extra ``1/sqrt(d_k)`` in the Fourier scores (then the Fourier
rows differ, by design). The reference is only imported, never copied.

    .venv/bin/python scripts/compare_galerkin_transformer_reference.py /path/to/galerkin-transformer
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import types
from pathlib import Path

import torch
import yaml

from specsolve.models.galerkin_transformer import GalerkinTransformer


def import_reference(root: Path):
    sys.modules.setdefault("torchinfo", types.SimpleNamespace(summary=lambda *a, **k: None))
    sys.modules["utils_ft"] = types.ModuleType("utils_ft")  # plotting/data helpers the models do not need
    sys.path.insert(0, str(root / "libs"))
    import layers  # noqa: E402  (the reference's libs/layers.py)
    import model  # noqa: E402  (the reference's libs/model.py)

    return layers, model


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="checkout of scaomath/galerkin-transformer")
    parser.add_argument("--keep-sqrt", action="store_true", help="keep the reference's 1/sqrt(d_k) in Fourier scores")
    args = parser.parse_args()
    layers, model = import_reference(args.reference)
    layers.F = types.SimpleNamespace(**{k: getattr(torch.nn.functional, k) for k in dir(torch.nn.functional)})
    layers.F.dropout = lambda x, *a, **k: x
    if not args.keep_sqrt:
        layers.math = types.SimpleNamespace(sqrt=lambda x: 1.0, log=math.log)
    config = yaml.safe_load((args.reference / "config.yml").read_text())
    torch.manual_seed(0)

    for kind in ("galerkin", "fourier"):
        cfg = dict(config["ex1_burgers"], attention_type=kind)
        ref = model.SimpleTransformer(**cfg).eval()
        ours = GalerkinTransformer(1, 1, attention=kind).eval()
        copy_weights(ref, ours)
        n = 512
        x = torch.randn(4, n, 1)
        pos = torch.linspace(0, 1, n)[None, :, None].expand(4, n, 1)
        with torch.no_grad():
            diff = (ref(x, None, pos, None)["preds"] - ours(x.transpose(1, 2)).transpose(1, 2)).abs().max()
        count = sum(p.numel() for p in ours.parameters())
        print(f"1D {kind:8s} paper config ({count:,} params): max |diff| {diff:.3e}")

    fine, coarse = 29, 8
    mid = round(math.sqrt(fine * coarse))  # our intermediate grid, imposed on the reference for the comparison
    for kind in ("galerkin", "fourier"):
        cfg = dict(
            config["ex2_darcy"],
            attention_type=kind,
            n_hidden=16,
            n_head=2,
            num_encoder_layers=2,
            dim_feedforward=32,
            freq_dim=8,
            fourier_modes=4,
            downscaler_size=((mid, mid), (coarse, coarse)),
            upscaler_size=((mid, mid), (fine, fine)),
        )
        ref = model.FourierTransformer2D(**cfg).eval()
        ours = GalerkinTransformer(
            1,
            1,
            dim=2,
            attention=kind,
            n_hidden=16,
            num_heads=2,
            num_layers=2,
            dim_feedforward=32,
            freq_dim=8,
            modes=4,
            coarse_size=coarse,
            norm_eps=1e-7,
            zero_boundary=True,
        ).eval()
        copy_weights(ref, ours)
        x = torch.randn(2, fine, fine, 1)
        axis_c, axis_f = torch.linspace(0, 1, coarse), torch.linspace(0, 1, fine)
        pos = torch.stack(torch.meshgrid(axis_c, axis_c, indexing="ij"), -1).reshape(1, -1, 2).expand(2, -1, -1)
        grid = torch.stack(torch.meshgrid(axis_f, axis_f, indexing="ij"), -1)[None].expand(2, -1, -1, -1)
        with torch.no_grad():
            diff = (ref(x, None, pos, grid)["preds"] - ours(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)).abs().max()
        print(f"2D {kind:8s} tiny config ({sum(p.numel() for p in ours.parameters()):,} params): max |diff| {diff:.3e}")


if __name__ == "__main__":
    main()

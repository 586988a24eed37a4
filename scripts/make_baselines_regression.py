"""Write tests/data/{unet2d,deeponet}_regression.pt: tiny outputs of the specsolve-baselines plugin models.

Needs the plugin importable (``pip install -e plugins/specsolve-baselines``, or
``PYTHONPATH=plugins/specsolve-baselines/src``). Run once; refuses to overwrite unless ``--force``. Each file
stores the model config, the seed set right before constructing the model, the input and the float32 output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from specsolve_baselines.deeponet import DeepONet
from specsolve_baselines.unet2d import UNet2d

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

# name: (class, config, input shape); odd grids exercise U-Net's pad/crop and DeepONet's interpolation
CASES = {
    "unet2d": (UNet2d, dict(in_channels=2, out_channels=1, base_width=4, depth=2), (2, 2, 13, 10)),
    "deeponet": (DeepONet, dict(in_channels=1, out_channels=2, sensors=5, basis=6, width=8), (2, 1, 9, 7)),
}
SEED = 0


def build(name: str) -> torch.nn.Module:
    cls, config, _ = CASES[name]
    torch.manual_seed(SEED)
    return cls(**config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args()
    for name, (_, config, shape) in CASES.items():
        target = DATA / f"{name}_regression.pt"
        if target.exists() and not args.force:
            print(f"{target} exists; pass --force to overwrite")
            continue
        model = build(name)
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y = model(x)
        torch.save({"config": config, "seed": SEED, "input": x, "output": y}, target)
        print(f"wrote {target} ({target.stat().st_size} bytes), output norm {y.norm():.6f}")


if __name__ == "__main__":
    main()

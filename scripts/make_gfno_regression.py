"""Write tests/data/gfno_regression.pt: tiny G-FNO (2D p4, 2D p4m, 3D p4) outputs for the regression test.

Run once (``python scripts/make_gfno_regression.py``); refuses to overwrite unless ``--force``. Each case stores
the model config, the seed used right before constructing the model, the input and the float32 output; the
test rebuilds the model the same way and compares.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from specsolve.models.gfno import GFNO
from specsolve.models.gfno3d import GFNO3d

TARGET = Path(__file__).resolve().parents[1] / "tests" / "data" / "gfno_regression.pt"

CASES = {
    "gfno_p4": ("gfno", dict(in_channels=3, out_channels=1, modes=4, width=4, group="p4"), (2, 3, 16, 16)),
    "gfno_p4m": ("gfno", dict(in_channels=3, out_channels=1, modes=4, width=4, group="p4m"), (2, 3, 16, 16)),
    "gfno3d_p4": (
        "gfno3d",
        dict(in_channels=3, out_channels=1, modes=3, time_modes=2, width=3, group="p4", time_pad=2),
        (1, 3, 8, 8, 6),
    ),
}
MODELS = {"gfno": GFNO, "gfno3d": GFNO3d}


def build(name: str, config: dict, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MODELS[name](**config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args()
    if TARGET.exists() and not args.force:
        raise SystemExit(f"{TARGET} exists; pass --force to regenerate (only when the architecture changes on purpose)")
    cases = {}
    for seed, (key, (name, config, shape)) in enumerate(CASES.items()):
        model = build(name, config, seed)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(100 + seed))
        with torch.no_grad():
            y = model(x)
        cases[key] = {"model": name, "config": config, "seed": seed, "input": x, "output": y}
        print(f"{key}: input {tuple(x.shape)} output {tuple(y.shape)} |y|max {y.abs().max():.4f}")
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    tmp = TARGET.with_suffix(".tmp")
    torch.save(cases, tmp)
    tmp.replace(TARGET)
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

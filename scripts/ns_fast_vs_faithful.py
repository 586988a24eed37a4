"""Compare datasets/ns_v1e-3_fast.yaml with the FNO-faithful datasets/ns_v1e-3.yaml on the same samples.

Usage: ``python scripts/ns_fast_vs_faithful.py [--samples 1] [--final-time 10]``. Builds both generators from the
recipes (with ``final_time`` / ``record_steps`` shortened to keep the 256² fno_euler run affordable on a CPU:
~2.7 ms per sample-step, ``final_time / 1e-4`` steps), generates the same sample indices with the same seed, and
prints the relative L2 difference per frame, the max difference of ``a`` and the two run times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from specsolve.config.loading import component_spec, load_config
from specsolve.data.generation import RECIPE_KEYS
from specsolve.registry import create

ROOT = Path(__file__).resolve().parents[1]


def generator(recipe: str, final_time: float):
    cfg = load_config(ROOT / "datasets" / recipe, [], defaults=False, keys=RECIPE_KEYS)
    name, params = component_spec(cfg.generator, "generator")
    params.update(final_time=final_time, record_steps=int(final_time))
    return create("generator", name, **params)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--final-time", type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {}
    for recipe in ("ns_v1e-3_fast.yaml", "ns_v1e-3.yaml"):
        start = time.process_time()
        out[recipe] = generator(recipe, args.final_time).generate(np.arange(args.samples), seed=0)
        print(f"{recipe}: {time.process_time() - start:.1f} s CPU for {args.samples} sample(s)", flush=True)
    fast, ref = out["ns_v1e-3_fast.yaml"], out["ns_v1e-3.yaml"]
    print("max |a_fast - a_faithful| =", float(np.abs(fast["a"] - ref["a"]).max()))
    diff = np.linalg.norm((fast["u"] - ref["u"]).reshape(*ref["u"].shape[:2], -1), axis=-1)
    rel = (diff / np.linalg.norm(ref["u"].reshape(*ref["u"].shape[:2], -1), axis=-1)).mean(0)
    print("rel L2 per frame (t = 0, 1, ...):", ", ".join(f"{e:.2e}" for e in rel))


if __name__ == "__main__":
    main()

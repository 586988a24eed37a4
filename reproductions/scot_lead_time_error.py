"""Relative L2 of a lead-time prediction file against the stored trajectory frames at ``input_time + lead``.

For a file written by ``specsolve predict --lead-times ...`` on trajectory data: each lead time whose target time is
a stored frame is compared with it (mean over samples), next to the identity baseline ``u(t + tau) ~ u(t)``; lead
times without a stored frame are only checked for finite values. Usage::

    .venv/bin/python -m reproductions.scot_lead_time_error PRED.h5 DATA.h5 [--variable u] [--out FILE]

Prints only, unless ``--out FILE`` is given (the figures are part of docs/results/galerkin_scot.txt).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import xarray as xr

from reproductions.report import run
from specsolve.nn.norms import relative_lp_per_sample


def relative_l2(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over samples of the library's per-sample relative L2."""
    return float(relative_lp_per_sample(torch.from_numpy(pred), torch.from_numpy(truth)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pred")
    parser.add_argument("data")
    parser.add_argument("--variable", default="u")
    args = parser.parse_args()
    pred = xr.open_dataset(args.pred, engine="h5netcdf")
    ref = xr.open_dataset(args.data, engine="h5netcdf")
    name = args.variable
    print(f"{args.pred}: {name}{pred[name].dims} {dict(pred.sizes)}")
    t0 = float(pred.attrs["input_time"])
    start = ref[name].sel(time=t0).values[: pred.sizes["sample"]]
    times = ref["time"].values
    for tau in pred["lead_time"].values:
        p = pred[name].sel(lead_time=tau).values
        target = t0 + float(tau)
        match = np.flatnonzero(np.isclose(times, target, rtol=0, atol=1e-9 * max(1.0, abs(target))))
        if match.size:
            truth = ref[name].isel(time=int(match[0])).values[: len(p)]
            print(f"lead {tau:7.3f}: rel L2 {relative_l2(p, truth):.4f}   identity {relative_l2(start, truth):.4f}")
        else:
            print(f"lead {tau:7.3f}: no stored frame at t = {target:g} (finite: {bool(np.isfinite(p).all())})")


if __name__ == "__main__":
    run(main, None)

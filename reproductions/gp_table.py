"""Run the GP-solver paper problems (configs/gp/*.yaml) and print a table of relative L2 error and time.

GP-HM (Fang et al. 2024): 1-D Poisson family, 1-D Allen-Cahn, 2-D Poisson sin(100x)sin(100y), 2-D advection.
EPGP / S-EPGP (Haerkoenen et al. 2023): heat 1-D/2-D from initial data, wave 2-D from snapshots, Laplace from
boundary points. The error is that of the FINAL iterate on each problem's test grid (GP-HM: 300 points per axis).

Usage::

    python -m reproductions.gp_table                      # all configs, full settings (long: tens of CPU minutes)
    python -m reproductions.gp_table --quick              # pipeline smoke run: few steps, errors not meaningful
    python -m reproductions.gp_table --only poisson_1d_sin100 poisson_2d_sin100 --threads 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import yaml

from reproductions.report import run
from specsolve.registry import create
from specsolve.registry.signature import validate_params
from specsolve.solvers.epgp import EPGP
from specsolve.solvers.gp_hm import GPHM
from specsolve.solvers.sepgp import SEPGP

SOLVERS = {"gp_hm": GPHM, "epgp": EPGP, "sepgp": SEPGP}
ROOT = Path(__file__).resolve().parents[1]


def quick_overrides(name: str, params: dict) -> dict:
    """Few steps for a pipeline check (errors are then far from converged)."""
    out = dict(params)
    steps = int(out.get("steps", 0))
    if name == "gp_hm":
        out["steps"] = min(steps, 200)
    elif name == "sepgp":
        out["steps"] = min(steps, 200)
    elif name == "epgp":
        out["steps"] = min(steps, 20)
    return out


def uncertainty_scores(solver) -> dict[str, float]:
    """CRPS (Gaussian closed form) and the 90 % central-interval coverage of the posterior on the test grid, from
    the registered ``crps`` / ``coverage`` metrics; NaN for a solver without a posterior std (GP-HM unless its
    config sets ``posterior: laplace``: a MAP estimate otherwise)."""
    grid = solver.test_grid()
    mean, std = solver.predict(grid)
    if std is None:
        return {"crps": math.nan, "coverage_90": math.nan}
    exact = solver.problem.exact_on_grid([grid[a] for a in solver.problem.axes]).to(mean)
    flat = [t.reshape(1, -1) for t in (mean, exact, std)]
    crps = create("metric", "crps").per_sample(flat[0], flat[1], std=flat[2])
    cover = create("metric", "coverage", level=0.9).per_sample(flat[0], flat[1], std=flat[2])
    return {"crps": float(crps[0]), "coverage_90": float(cover[0])}


def run_one(path: Path, quick: bool, log_every: int, max_steps: int = 0) -> dict:
    cfg = yaml.safe_load(path.read_text())
    params = dict(cfg["solver"])
    name = params.pop("name")
    if quick:
        params = quick_overrides(name, params)
    if max_steps > 0 and int(params.get("steps", 0)) > max_steps:
        params["steps"] = max_steps
    cls = SOLVERS[name]
    params = validate_params(cls, params, where=f"{path.name}: solver '{name}'")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    solver = cls(**params)

    def progress(step: int, loss: float) -> None:
        if log_every and step % log_every == 0:
            print(f"  [{path.stem}] step {step} loss {loss:.4e} ({time.perf_counter() - wall0:.0f} s)", flush=True)

    stats = solver.fit(progress)
    res = solver.evaluate()
    res.update(uncertainty_scores(solver))
    return {
        "config": path.stem,
        "solver": name,
        "problem": params.get("problem", "?"),
        "steps": stats.get("steps", 0),
        "rel_l2": res["rel_l2"],
        "crps": res["crps"],
        "coverage_90": res["coverage_90"],
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": time.process_time() - cpu0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few steps per problem (pipeline smoke run)")
    ap.add_argument("--only", nargs="*", default=None, help="config names (file stems) to run")
    ap.add_argument("--configs", default=str(ROOT / "configs" / "gp"), help="folder of YAML configs")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    ap.add_argument("--log-every", type=int, default=0, help="print the loss every this many steps")
    ap.add_argument("--max-steps", type=int, default=0, help="cap every config's steps (0: no cap)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    paths = sorted(Path(args.configs).glob("*.yaml"))
    if args.only:
        wanted = set(args.only)
        missing = wanted - {p.stem for p in paths}
        if missing:
            print(f"unknown config(s): {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
        paths = [p for p in paths if p.stem in wanted]
    rows = []
    header = (
        f"{'config':26s} {'solver':6s} {'problem':24s} {'steps':>6s} {'rel L2 (final)':>15s} "
        f"{'CRPS':>10s} {'90% cover':>9s} {'wall s':>8s} {'CPU s':>8s}"
    )
    print(header, flush=True)
    for p in paths:
        r = run_one(p, args.quick, args.log_every, args.max_steps)
        rows.append(r)
        print(
            f"{r['config']:26s} {r['solver']:6s} {r['problem']:24s} {r['steps']:6d} {r['rel_l2']:15.3e} "
            f"{r['crps']:10.3e} {r['coverage_90']:9.3f} {r['wall_s']:8.1f} {r['cpu_s']:8.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    # a smoke run's errors mean nothing, and a partial (--only) run must not replace the curated docs/results file
    full = not {"--quick", "--only"} & set(sys.argv)
    run(main, "gp_table_full_run.txt" if full else None)

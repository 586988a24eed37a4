"""``specsolve train`` and ``specsolve solve``: a run from a config, through :func:`specsolve.api.train` and
:func:`specsolve.api.solve`."""

from __future__ import annotations

import argparse

from specsolve import api
from specsolve.cli import render


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config", help="run config (YAML)")
    p.add_argument("overrides", nargs="*", help="key=value overrides (OmegaConf dotlist)")
    p.add_argument("--resume", action="store_true", help="continue the run in run_dir from its last checkpoint")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=train)

    p = sub.add_parser("solve", help="fit a PDE solver (GP-HM, EPGP, ...) from a config; write mean and std")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=solve)


def train(args: argparse.Namespace) -> int:
    if args.print_config:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(api.resolve_config(args.config, args.overrides)), end="")
        return 0
    result = api.train(args.config, args.overrides, resume=args.resume)
    if not result.get("is_global_zero", True):  # DDP: the other ranks return too; rank 0 reports
        return 0
    console = render.console()
    console.print(f"run directory: {result['run_dir']}")
    console.print(f"best checkpoint: {result['best']}")
    for key, value in sorted(result["metrics"].items()):
        console.print(f"{key}: {value:.6g}")
    if result.get("training_curves"):
        console.print(f"training curves: {result['training_curves']}")
    return 0


def solve(args: argparse.Namespace) -> int:
    with render.progress_bars() as progress:
        result = api.solve(args.config, args.overrides, overwrite=args.overwrite, progress=progress)
    console = render.console()
    for key, value in result["metrics"].items():
        console.print(f"{key}: {render.number(value)}")
    console.print(f"fit time: {result['seconds']:.1f} s")
    console.print(f"posterior written to {result['output']}; exact solution in {result['exact']}")
    return 0

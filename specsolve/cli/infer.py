"""``specsolve predict``, ``evaluate`` and ``rollout``: a checkpoint on stored data, through :mod:`specsolve.api`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from specsolve import api
from specsolve.cli import render
from specsolve.cli.options import add_checkpoint_data_out, add_overwrite, forwarded
from specsolve.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="write predictions of a checkpoint on a stored dataset")
    add_checkpoint_data_out(p)
    p.add_argument(
        "--stride", type=int, default=None, help="spatial stride on the stored grid (default: training stride)"
    )
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default="cpu")
    add_overwrite(p)
    p.add_argument(
        "--lead-times",
        help="time-conditioned models (scot): comma-separated lead times, e.g. 0.25,0.5,1.3, in the units of the "
        "data's time coordinate (unseen values allowed); the output gets a lead_time dimension",
    )
    p.add_argument(
        "--input-time-index",
        type=int,
        default=None,
        help="with --lead-times on trajectory data: the stored time index of the input frame (default: the "
        "training's first snapshot)",
    )
    dist = p.add_argument_group(
        "distributed / resumable prediction (lightning.Trainer.predict; writes shards OUT_STEM-i-of-N.h5 beside --out)"
    )
    dist.add_argument("--devices", type=int, default=None, help="processes (devices) per node")
    dist.add_argument("--num-nodes", type=int, default=None)
    dist.add_argument("--strategy", default=None, help="a Lightning strategy, e.g. ddp")
    dist.add_argument("--accelerator", choices=["cpu", "gpu", "auto"], default=None)
    dist.add_argument("--shard-size", type=int, default=None, help="samples per shard (default: one shard per rank)")
    dist.add_argument("--resume", action="store_true", help="keep the shards already complete, compute the rest")
    p.set_defaults(func=predict)

    p = sub.add_parser(
        "evaluate",
        help="metrics of predictions against reference data, or of a checkpoint at several resolutions",
        description="evaluate -p PRED -d DATA: metrics of a prediction file. evaluate -c CKPT -d DATA [-d DATA2 ...] "
        "[--strides 1,2,4]: predict in memory and print an error-against-resolution table.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", "-p", help="a prediction file (from `specsolve predict` or `solve`)")
    source.add_argument("--checkpoint", "-c", help="a checkpoint: evaluate it at every file and stride given")
    p.add_argument("--data", "-d", required=True, action="append", help="reference data (repeat with -c)")
    p.add_argument("--strides", help="with -c: comma-separated strides on the stored grid (default: training stride)")
    p.add_argument("--metrics", default="rel_l2", help="comma-separated registered metrics")
    p.add_argument("--json", help="write the metrics to this JSON file")
    p.add_argument("--per-sample", action="store_true", help="print every sample's metrics")
    p.add_argument(
        "--plot",
        help="PNG: truth / prediction / error (+ _spectrum.png, _time.png); with -c the error-against-resolution curve",
    )
    p.add_argument("--samples", help="comma-separated sample indices to plot (default 0,1,2)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=evaluate)

    p = sub.add_parser("rollout", help="autoregressive rollout of a time-window checkpoint over stored trajectories")
    add_checkpoint_data_out(p, out=False)
    p.add_argument("--steps", type=int, default=None, help="predicted frames per trajectory (default: all)")
    p.add_argument("--stride", type=int, default=None, help="spatial stride (default: the training stride)")
    p.add_argument("--samples", help="comma-separated trajectory indices (default: all)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="write per-step and per-sample errors to this JSON file")
    p.add_argument("--plot", help="draw the error against rollout step to this PNG file")
    p.set_defaults(func=rollout)


def predict(args: argparse.Namespace) -> int:
    with render.progress_bars() as progress:
        out = api.predict(
            args.checkpoint,
            args.data,
            args.out,
            **forwarded(args, "stride", "batch_size", "overwrite", "device", "lead_times", "input_time_index"),
            **forwarded(args, "devices", "num_nodes", "strategy", "accelerator", "shard_size", "resume"),
            progress=progress,
        )
    if out is None:  # a rank other than 0 of a distributed run: rank 0 reports
        return 0
    print(f"predictions written to {out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    if args.checkpoint:
        return _evaluate_resolutions(args)
    if len(args.data) != 1:
        raise ConfigError("evaluate -p PRED takes exactly one reference file (-d); several -d need -c CHECKPOINT")
    if args.strides:
        raise ConfigError("--strides needs a checkpoint (-c): predictions in a file have one resolution")
    result = api.evaluate(
        args.pred, args.data[0], args.metrics, json_out=args.json, plot=args.plot, samples=args.samples
    )
    variables: dict[str, Any] = result["variables"]
    metrics = list(next(iter(variables.values()))["mean"])
    rows = [[name, *(f"{entry['mean'][m]:.6g}" for m in metrics)] for name, entry in variables.items()]
    console = render.console()
    console.print(
        render.table(f"{result['n_samples']} samples", ["variable", *(f"mean {m}" for m in metrics)], rows, left=1)
    )
    if args.per_sample:
        for name, entry in variables.items():
            for i in range(result["n_samples"]):
                console.print(f"{name}[{i}] " + " ".join(f"{m}={entry['per_sample'][m][i]:.6g}" for m in metrics))
    render.print_written(console, result, args.json)
    return 0


def _evaluate_resolutions(args: argparse.Namespace) -> int:
    """``evaluate -c CKPT -d DATA [-d ...] [--strides ...]``: the error-against-resolution table."""
    with render.progress_bars() as progress:
        result = api.evaluate_resolutions(
            args.checkpoint,
            args.data,
            args.strides,
            args.metrics,
            **forwarded(args, "device", "plot", json_out="json"),
            progress=progress,
        )
    train_grid = result["train_grid"]
    title = "error against resolution" + (f" (trained on {'x'.join(map(str, train_grid))})" if train_grid else "")
    names = list(result["rows"][0]["mean"])
    rows = [
        [
            "/".join(Path(row["data"]).parts[-2:]),
            str(row["stride"]),
            "x".join(map(str, row["grid"])) + (" *" if row["grid"] == train_grid else ""),
            str(row["n_samples"]),
            *(f"{row['mean'][m]:.6g}" for m in names),
        ]
        for row in result["rows"]
    ]
    console = render.console()
    console.print(
        render.table(title, ["data", "stride", "grid", "samples", *(f"mean {m}" for m in names)], rows, left=1)
    )
    if train_grid:
        console.print("* the training resolution")
    render.print_written(console, result, args.json)
    return 0


def rollout(args: argparse.Namespace) -> int:
    result = api.rollout(
        args.checkpoint, args.data, **forwarded(args, "steps", "samples", "stride", "device", "plot", json_out="json")
    )
    title = f"autoregressive rollout, {result['n_samples']} trajectories (context frames excluded)"
    rows = [[f"{t:.4g}", f"{err:.6g}"] for t, err in zip(result["time"], result["per_step"])]
    console = render.console()
    console.print(render.table(title, ["time", "mean rel_l2"], rows, left=0))
    console.print(f"mean over steps: {result['mean']:.6g}")
    render.print_written(console, result, args.json)
    return 0

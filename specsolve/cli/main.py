"""The ``specsolve`` command line: thin verbs over the Python API, one-line errors with exit code 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from specsolve.errors import SpecsolveError

EXIT_USER_ERROR = 2


def _quiet_libraries() -> None:
    import lightning.pytorch  # noqa: F401  (it sets its own log level on import: override it afterwards)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", category=UserWarning, message=".*does not have many workers.*")


def _console():
    from rich.console import Console

    return Console()


def _progress(description: str, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    """A rich progress bar when attached to a terminal; returns (advance, close)."""
    if not sys.stderr.isatty():
        return (lambda n: None), (lambda: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    task = bar.add_task(description, total=total)
    bar.start()
    return (lambda n: bar.advance(task, n)), bar.stop


# -- verbs ---------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from specsolve.config import load_config

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        print(OmegaConf.to_yaml(cfg), end="")
        return 0
    from specsolve.training.run import train

    result = train(cfg, resume=args.resume)
    console = _console()
    console.print(f"run directory: {result['run_dir']}")
    console.print(f"best checkpoint: {result['best']}")
    for key, value in sorted(result["metrics"].items()):
        console.print(f"{key}: {value:.6g}")
    if result.get("training_curves"):
        console.print(f"training curves: {result['training_curves']}")
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    from rich.table import Table

    from specsolve.inference.evaluate import write_json
    from specsolve.inference.rollout import rollout
    from specsolve.training.checkpoint import load_module

    module, _ = load_module(args.checkpoint)
    samples = _parse_ints(args.samples, "--samples")
    result = rollout(module, args.data, steps=args.steps, samples=samples, stride=args.stride, device=args.device)
    table = Table(title=f"autoregressive rollout, {result['n_samples']} trajectories (context frames excluded)")
    table.add_column("time", justify="right")
    table.add_column("mean rel_l2", justify="right")
    for t, err in zip(result["time"], result["per_step"]):
        table.add_row(f"{t:.4g}", f"{err:.6g}")
    console = _console()
    console.print(table)
    console.print(f"mean over steps: {result['mean']:.6g}")
    if args.json:
        write_json(result, args.json)
        console.print(f"metrics written to {args.json}")
    if args.plot:
        from specsolve.inference.plots import plot_rollout

        console.print(f"figure written to {plot_rollout(result, args.plot)}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from specsolve.config import load_config
    from specsolve.inference.solve import SOLVE_KEYS, solve

    cfg = load_config(args.config, args.overrides, defaults=False, keys=SOLVE_KEYS)
    state: dict = {}

    def progress(step: int, loss: float) -> None:
        if "advance" not in state:
            total = int(cfg.solver.get("steps", 0) or 0)
            state["advance"], state["close"] = _progress("solve", total)
        state["advance"](1)

    try:
        result = solve(cfg, progress, overwrite=args.overwrite)
    finally:
        if "close" in state:
            state["close"]()
    console = _console()
    for key, value in result["metrics"].items():
        console.print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    console.print(f"fit time: {result['seconds']:.1f} s")
    console.print(f"posterior written to {result['output']}; exact solution in {result['exact']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from specsolve.inference.predict import parse_lead_times, predict

    lead_times = parse_lead_times(args.lead_times) if args.lead_times is not None else None
    state: dict = {}

    def progress(done: int, total: int) -> None:
        if "advance" not in state:
            state["advance"], state["close"] = _progress("predict", total)
        state["advance"](done - state.get("done", 0))
        state["done"] = done

    try:
        out = predict(
            args.checkpoint,
            args.data,
            args.out,
            args.stride,
            args.batch_size,
            args.overwrite,
            args.device,
            progress,
            lead_times=lead_times,
            input_time_index=args.input_time_index,
        )
    finally:
        if "close" in state:
            state["close"]()
    print(f"predictions written to {out}")
    return 0


def _parse_ints(text: str | None, what: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SpecsolveError(f"{what} must be comma-separated integers, got '{text}'") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from specsolve.inference.evaluate import evaluate, write_json

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if args.checkpoint:
        return _evaluate_resolutions(args, metrics)
    if len(args.data) != 1:
        raise SpecsolveError("evaluate -p PRED takes exactly one reference file (-d); several -d need -c CHECKPOINT")
    if args.strides:
        raise SpecsolveError("--strides needs a checkpoint (-c): predictions in a file have one resolution")
    data = args.data[0]
    result = evaluate(args.pred, data, metrics)
    table = Table(title=f"{result['n_samples']} samples")
    table.add_column("variable")
    for m in metrics:
        table.add_column(f"mean {m}", justify="right")
    for name, entry in result["variables"].items():
        table.add_row(name, *(f"{entry['mean'][m]:.6g}" for m in metrics))
    console = _console()
    console.print(table)
    if args.per_sample:
        for name, entry in result["variables"].items():
            for i in range(result["n_samples"]):
                console.print(f"{name}[{i}] " + " ".join(f"{m}={entry['per_sample'][m][i]:.6g}" for m in metrics))
    if args.json:
        write_json(result, args.json)
        console.print(f"metrics written to {args.json}")
    if args.plot:
        from specsolve.inference import plots

        plot = Path(args.plot)
        samples = _parse_ints(args.samples, "--samples")
        figures = [plots.plot_samples(args.pred, data, plot, samples)]
        figures.append(plots.plot_spectrum(args.pred, data, plot.with_name(f"{plot.stem}_spectrum.png")))
        if plots.has_time_axis(args.pred):
            first = samples[0] if samples else 0
            figures.append(plots.plot_time_strip(args.pred, data, plot.with_name(f"{plot.stem}_time.png"), first))
        for figure in figures:
            console.print(f"figure written to {figure}")
    return 0


def _evaluate_resolutions(args: argparse.Namespace, metrics: list[str]) -> int:
    """``evaluate -c CKPT -d DATA [-d ...] [--strides ...]``: the error-against-resolution table."""
    from rich.table import Table

    from specsolve.inference.evaluate import write_json
    from specsolve.inference.resolution import evaluate_resolutions

    strides = _parse_ints(args.strides, "--strides")
    advance, close = _progress("evaluate", len(args.data) * len(strides or [1]))
    try:
        result = evaluate_resolutions(
            args.checkpoint, args.data, strides, metrics, device=args.device, progress=lambda: advance(1)
        )
    finally:
        close()
    train_grid = result["train_grid"]
    title = "error against resolution" + (f" (trained on {'x'.join(map(str, train_grid))})" if train_grid else "")
    table = Table(title=title)
    for col in ("data", "stride", "grid", "samples"):
        table.add_column(col, justify="left" if col == "data" else "right")
    names = list(result["rows"][0]["mean"])
    for m in names:
        table.add_column(f"mean {m}", justify="right")
    for row in result["rows"]:
        grid = "x".join(map(str, row["grid"])) + (" *" if row["grid"] == train_grid else "")
        table.add_row(
            "/".join(Path(row["data"]).parts[-2:]),
            str(row["stride"]),
            grid,
            str(row["n_samples"]),
            *(f"{row['mean'][m]:.6g}" for m in names),
        )
    console = _console()
    console.print(table)
    if train_grid:
        console.print("* the training resolution")
    if args.json:
        write_json(result, args.json)
        console.print(f"metrics written to {args.json}")
    if args.plot:
        from specsolve.inference.plots import plot_resolution

        console.print(f"figure written to {plot_resolution(result, args.plot)}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from specsolve.data.generation import run_recipe

    closers: list[Callable[[], None]] = []

    def factory(name: str, total: int) -> Callable[[int], None]:
        advance, close = _progress(f"generate {name}", total)
        closers.append(close)
        return advance

    try:
        paths = run_recipe(args.recipe, args.overrides, args.shard, args.overwrite, factory)
    finally:
        for close in closers:
            close()
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_plugins_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from specsolve.registry import list_components

    table = Table(title="specsolve components")
    for col in ("kind", "name", "distribution", "summary"):
        table.add_column(col)
    for c in list_components(args.kind):
        summary = c.summary if c.obj is not None else "(plugin, loaded on first use)"
        table.add_row(c.kind, c.name, c.distribution, summary)
    _console().print(table)
    return 0


def cmd_plugins_info(args: argparse.Namespace) -> int:
    import inspect

    from rich.table import Table

    from specsolve.registry import REGISTRY, get
    from specsolve.registry.signature import describe_parameters

    matches = [c for c in REGISTRY.find(args.name) if args.kind in (None, c.kind)]
    if not matches:
        get(args.kind or "model", args.name)  # raises the unknown-name error with suggestions
    console = _console()
    for c in matches:
        obj = c.load()
        console.print(f"[bold]{c.kind} '{c.name}'[/bold] from {c.distribution} ({obj.__module__}.{obj.__qualname__})")
        console.print(inspect.getdoc(obj) or "(no docstring)")
        table = Table()
        for col in ("parameter", "type", "default"):
            table.add_column(col)
        for row in describe_parameters(obj):
            table.add_row(*row)
        console.print(table)
    return 0


def cmd_data_convert(args: argparse.Namespace) -> int:
    from specsolve.data.convert import cmd_data_convert as run

    return run(args)


def cmd_data_export(args: argparse.Namespace) -> int:
    from specsolve.data.export import cmd_data_export as run

    return run(args)


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from specsolve.data.inspect import describe_file

    print(describe_file(args.file))
    return 0


# -- parser --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specsolve", description="Learn and solve PDEs: neural operators, GP solvers, spectral losses."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config", help="run config (YAML)")
    p.add_argument("overrides", nargs="*", help="key=value overrides (OmegaConf dotlist)")
    p.add_argument("--resume", action="store_true", help="continue the run in run_dir from its last checkpoint")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("solve", help="fit a PDE solver (GP-HM, EPGP, ...) from a config; write mean and std")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("predict", help="write predictions of a checkpoint on a stored dataset")
    p.add_argument("--checkpoint", "-c", required=True)
    p.add_argument("--data", "-d", required=True)
    p.add_argument("--out", "-o", required=True)
    p.add_argument(
        "--stride", type=int, default=None, help="spatial stride on the stored grid (default: training stride)"
    )
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
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
    p.set_defaults(func=cmd_predict)

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
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("rollout", help="autoregressive rollout of a time-window checkpoint over stored trajectories")
    p.add_argument("--checkpoint", "-c", required=True)
    p.add_argument("--data", "-d", required=True)
    p.add_argument("--steps", type=int, default=None, help="predicted frames per trajectory (default: all)")
    p.add_argument("--stride", type=int, default=None, help="spatial stride (default: the training stride)")
    p.add_argument("--samples", help="comma-separated trajectory indices (default: all)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="write per-step and per-sample errors to this JSON file")
    p.add_argument("--plot", help="draw the error against rollout step to this PNG file")
    p.set_defaults(func=cmd_rollout)

    p = sub.add_parser("generate", help="generate a dataset from a recipe in datasets/")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the recipe")
    p.add_argument("--shard", help="i/N: generate the i-th of N contiguous shards")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("plugins", help="list registered components or show one")
    psub = p.add_subparsers(dest="plugins_command", required=True)
    q = psub.add_parser("list")
    q.add_argument("--kind", default=None)
    q.set_defaults(func=cmd_plugins_list)
    q = psub.add_parser("info")
    q.add_argument("name")
    q.add_argument("--kind", default=None)
    q.set_defaults(func=cmd_plugins_info)

    p = sub.add_parser("data", help="inspect data files")
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("inspect", help="dims, coordinates, variables and attributes of a file")
    q.add_argument("file")
    q.set_defaults(func=cmd_data_inspect)
    q = dsub.add_parser("convert", help="PDEBench / The Well / FNO .mat files -> a native file (streamed)")
    q.add_argument("src", help="a file, a directory of shards or a glob pattern")
    q.add_argument("dst")
    q.add_argument("--from", dest="fmt", default="auto", choices=["auto", "pdebench", "well", "fno_mat"])
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_data_convert)
    q = dsub.add_parser(
        "export-well", help="a native file -> The Well's layout (DST_DIR/data/<split>/*.hdf5, stats.yaml)"
    )
    q.add_argument("src")
    q.add_argument("dst_dir")
    q.add_argument("--split", default="train")
    q.add_argument("--name", default=None, help="dataset_name attribute (default: from the source file)")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_data_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra  # overrides given after an option
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except SpecsolveError as exc:
        if os.environ.get("SPECSOLVE_DEBUG"):
            raise
        print(f"specsolve: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("specsolve: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `specsolve data inspect F | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

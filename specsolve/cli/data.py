"""``specsolve generate`` and ``specsolve data inspect | convert | export-well``, through :mod:`specsolve.api`."""

from __future__ import annotations

import argparse

from specsolve import api
from specsolve.cli import render


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a dataset from a recipe in datasets/")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the recipe")
    p.add_argument("--shard", help="i/N: generate the i-th of N contiguous shards")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=generate)

    p = sub.add_parser("data", help="inspect data files")
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("inspect", help="dims, coordinates, variables and attributes of a file")
    q.add_argument("file")
    q.set_defaults(func=inspect)
    q = dsub.add_parser("convert", help="PDEBench / The Well / FNO .mat files -> a native file (streamed)")
    q.add_argument("src", help="a file, a directory of shards or a glob pattern")
    q.add_argument("dst")
    q.add_argument("--from", dest="fmt", default="auto", choices=api.data_formats())
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=convert)
    q = dsub.add_parser(
        "export-well", help="a native file -> The Well's layout (DST_DIR/data/<split>/*.hdf5, stats.yaml)"
    )
    q.add_argument("src")
    q.add_argument("dst_dir")
    q.add_argument("--split", default="train")
    q.add_argument("--name", default=None, help="dataset_name attribute (default: from the source file)")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=export_well)


def generate(args: argparse.Namespace) -> int:
    with render.progress_bars() as progress:
        paths = api.generate(args.recipe, args.overrides, shard=args.shard, overwrite=args.overwrite, progress=progress)
    for path in paths:
        print(f"wrote {path}")
    return 0


def inspect(args: argparse.Namespace) -> int:
    print(api.data_inspect(args.file))
    return 0


def convert(args: argparse.Namespace) -> int:
    result = api.data_convert(args.src, args.dst, fmt=args.fmt, overwrite=args.overwrite)
    summary = ", ".join(f"{name}({', '.join(dims)})" for name, dims in result["variables"].items())
    print(f"wrote {result['path']}: {result['n_samples']} samples; {summary}")
    return 0


def export_well(args: argparse.Namespace) -> int:
    result = api.data_export_well(args.src, args.dst_dir, split=args.split, name=args.name, overwrite=args.overwrite)
    stats = f" and {result['stats']}" if result["stats"] else ""
    print(f"wrote {result['path']}{stats}")
    return 0

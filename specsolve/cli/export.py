"""``specsolve export``: a checkpoint as a program that runs without specsolve, through :mod:`specsolve.api`."""

from __future__ import annotations

import argparse

from specsolve import api
from specsolve.cli.options import add_checkpoint_data_out, add_overwrite, forwarded


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a checkpoint's model (normalisation included) as a torch.export .pt2 program, an ONNX model, "
        "or a hub directory (safetensors + config + model card) for load_pretrained / hf upload",
    )
    add_checkpoint_data_out(p, data=False)
    p.add_argument("--format", default="pt2", help="pt2 (torch.export.load), onnx, or hub (a directory; default: pt2)")
    p.add_argument("--metrics", help="hub: an `evaluate --json` file for the model card and metrics.json")
    p.add_argument(
        "--grid", help="comma-separated spatial shape to specialise to, e.g. 64,64 (default: the training grid)"
    )
    p.add_argument("--batch-size", type=int, default=1, help="batch size of the exported program (default 1)")
    p.add_argument("--no-check", action="store_true", help="skip running the written file against the checkpoint")
    add_overwrite(p)
    p.set_defaults(func=export)


def export(args: argparse.Namespace) -> int:
    if args.format == "hub":
        pushed = api.push_pretrained(args.checkpoint, args.out, metrics=args.metrics, overwrite=args.overwrite)
        print(f"{pushed['model']} written as a hub directory to {pushed['directory']} ({', '.join(pushed['files'])})")
        return 0
    result = api.export_model(
        args.checkpoint,
        args.out,
        **forwarded(args, "format", "grid", "batch_size", "overwrite"),
        check=not args.no_check,
    )
    shape = "x".join(str(n) for n in result["input_shape"])
    diff = result["max_abs_diff"]
    checked = "" if diff is None else f"; max |exported - eager| = {diff:.3g}"
    print(f"{result['model']} exported as {result['format']} to {result['path']} (input {shape}{checked})")
    return 0

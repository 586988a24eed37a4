"""Command-line options shared by several verbs, and the parsed options passed on to :mod:`specsolve.api`."""

from __future__ import annotations

import argparse
from typing import Any


def add_checkpoint_data_out(p: argparse.ArgumentParser, *, data: bool = True, out: bool = True) -> None:
    """The required ``--checkpoint/-c``, then ``--data/-d`` and ``--out/-o`` (each unless turned off)."""
    p.add_argument("--checkpoint", "-c", required=True)
    if data:
        p.add_argument("--data", "-d", required=True)
    if out:
        p.add_argument("--out", "-o", required=True)


def add_overwrite(p: argparse.ArgumentParser) -> None:
    """``--overwrite``: replace an existing output file."""
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def forwarded(args: argparse.Namespace, *names: str, **renamed: str) -> dict[str, Any]:
    """Keyword arguments for an :mod:`specsolve.api` call from the parsed options: ``name=args.name`` for each of
    ``names``, and ``keyword=args.option`` for each ``keyword="option"`` of ``renamed``."""
    kwargs = {name: getattr(args, name) for name in names}
    kwargs.update({keyword: getattr(args, option) for keyword, option in renamed.items()})
    return kwargs

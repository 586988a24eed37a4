"""The ``specsolve`` command line: parse, call :mod:`specsolve.api`, render; one-line errors with exit code 2.

Each verb lives in a module with an ``add_parser(subparsers)``: :mod:`~specsolve.cli.train` (train, solve),
:mod:`~specsolve.cli.infer` (predict, evaluate, rollout), :mod:`~specsolve.cli.export`,
:mod:`~specsolve.cli.data` (generate, data ...),
:mod:`~specsolve.cli.plugins`; :mod:`~specsolve.cli.render` holds tables, progress bars and error wording.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from specsolve.cli import data, export, infer, plugins, render, train
from specsolve.errors import SpecsolveError

EXIT_USER_ERROR = 2


def _quiet_libraries() -> None:
    import lightning.pytorch  # noqa: F401  (it sets its own log level on import: override it afterwards)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", category=UserWarning, message=".*does not have many workers.*")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specsolve", description="Learn and solve PDEs: neural operators, GP solvers, spectral losses."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for verbs in (train, infer, export, data, plugins):
        verbs.add_parser(sub)
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
        print(f"specsolve: error: {render.error_message(str(exc))}", file=sys.stderr)
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

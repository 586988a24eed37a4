"""What every reproduction shares: its output goes to the terminal and, when the run completes, to its
docs/results/ file, headed by the command that made it; and the libraries' log chatter is turned down.

A reproduction ends with ``run(main, "name.txt")``: ``--out FILE`` picks another file, ``--out -`` writes none. The
file is replaced atomically only after ``main`` returns (exit status 0), so a failed or interrupted run leaves the
stored results as they were.
"""

from __future__ import annotations

import argparse
import datetime
import io
import logging
import shlex
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from specsolve.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


class _Tee(io.TextIOBase):
    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream, self.buffer_ = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        return self.buffer_.write(text)

    def flush(self) -> None:
        self.stream.flush()


def quiet_libraries() -> None:
    """Lightning's info lines and warnings off (the tables are the output)."""
    import lightning.pytorch  # noqa: F401  (it sets its own log level on import: override it afterwards)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def run(main: Callable[[], object], name: str | None, argv: list[str] | None = None) -> None:
    """Run ``main`` (which parses ``sys.argv``) with its stdout copied to ``docs/results/<name>`` (or ``--out``;
    ``name=None``: to no file unless ``--out`` is given)."""
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--out", default=str(RESULTS / name) if name else "-")
    known, rest = pre.parse_known_args(argv)
    module = getattr(sys.modules["__main__"], "__spec__", None)
    command = ["python", "-m", module.name] if module is not None else ["python", sys.argv[0]]
    saved_argv, sys.argv = sys.argv, [sys.argv[0], *rest]
    if "-h" in rest or "--help" in rest:
        try:
            main()
        finally:
            print(
                f"\nwrites its output to --out FILE (default: {f'docs/results/{name}' if name else 'none'}; '-': none)"
            )
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        status = main()
    finally:
        sys.stdout, sys.argv = tee.stream, saved_argv
    if status not in (None, 0):
        raise SystemExit(status)
    if known.out != "-":
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        header = f"$ {' '.join(shlex.quote(a) for a in [*command, *argv])}\n# {stamp}\n"
        write_text_atomic(known.out, header + tee.buffer_.getvalue())
        print(f"wrote {known.out}", file=sys.stderr)

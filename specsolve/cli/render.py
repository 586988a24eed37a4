"""Rendering for the CLI: the console, rich tables, progress bars, and error messages in the CLI's terms."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# The library names an option as "pass <parameter>" (the Python keyword); the CLI shows its flag instead.
FLAGS = {"overwrite": "--overwrite", "resume": "--resume", "lead_times": "--lead-times"}
_PASS_PARAMETER = re.compile(r"\bpass (" + "|".join(FLAGS) + r")\b(=True)?")


def console():
    from rich.console import Console

    return Console()


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]], left: int | None = None) -> Any:
    """A rich table whose first ``left`` columns (default: all) are aligned left, the others (numbers) right."""
    from rich.table import Table

    out = Table(title=title)
    for i, column in enumerate(columns):
        out.add_column(column, justify="left" if left is None or i < left else "right")
    for row in rows:
        out.add_row(*row)
    return out


def number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int], Callable[[int], None]] | None]:
    """A :data:`specsolve.api.ProgressFactory` drawing rich progress bars when stderr is a terminal (``None``
    elsewhere); every bar it started is closed on exit."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    closers: list[Callable[[], None]] = []

    def start(description: str, total: int) -> Callable[[int], None]:
        bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        task = bar.add_task(description, total=total)
        bar.start()
        closers.append(bar.stop)
        return lambda n: bar.advance(task, n)

    try:
        yield start
    finally:
        for close in closers:
            close()


def error_message(message: str) -> str:
    """A library error in the CLI's terms: ``pass overwrite`` -> ``pass --overwrite``."""
    return _PASS_PARAMETER.sub(lambda m: f"pass {FLAGS[m.group(1)]}", message)


def print_written(console_: Any, result: dict[str, Any], json_out: str | None) -> None:
    """The files a verb wrote besides its table: the JSON metrics and ``result["figures"]``."""
    if json_out:
        console_.print(f"metrics written to {json_out}")
    for figure in result.get("figures", []):
        console_.print(f"figure written to {figure}")

"""Rendering for the CLI: the console, rich tables, progress bars, and error messages in the CLI's terms."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# The library names an option as "pass <parameter>" (the Python keyword); the CLI shows its flag instead.
FLAGS = {"overwrite": "--overwrite", "resume": "--resume", "lead_times": "--lead-times", "shard_size": "--shard-size"}
_PASS_PARAMETER = re.compile(r"\bpass (" + "|".join(FLAGS) + r")\b(=True)?")


def console():
    from rich.console import Console

    return Console()


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: int | None = None,
    one_line: str | None = None,
) -> Any:
    """A rich table whose first ``left`` columns (default: all) are aligned left, the others (numbers) right.
    ``one_line``: the name of a column cut with an ellipsis to fit the console width instead of wrapped (the other
    columns are then not wrapped either: one row per line)."""
    from rich.table import Table

    out = Table(title=title)
    if one_line is not None:  # what is left of the console width once the other columns are laid out
        widths = [max([len(column), *(len(str(row[i])) for row in rows)]) for i, column in enumerate(columns)]
        cut = columns.index(one_line)
        room = console().width - sum(w for i, w in enumerate(widths) if i != cut) - 3 * len(columns) - 1
    for i, column in enumerate(columns):
        justify = "left" if left is None or i < left else "right"
        if one_line is None:
            out.add_column(column, justify=justify)
        elif column == one_line:
            out.add_column(column, justify=justify, no_wrap=True, overflow="ellipsis", max_width=max(room, 10))
        else:
            out.add_column(column, justify=justify, no_wrap=True)
    for row in rows:
        out.add_row(*(escape(str(c)) for c in row) if one_line else row)
    return out


def reflow(text: str) -> str:
    """Docstring text for a terminal: the lines of each prose paragraph joined (the console wraps them at its
    width); indented blocks and lists keep their lines."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        prose = all(line and not line[0].isspace() and not line.lstrip().startswith(("- ", "* ")) for line in lines)
        paragraphs.append(" ".join(lines) if prose else paragraph)
    return "\n\n".join(paragraphs)


def escape(text: str) -> str:
    """``text`` shown literally by rich (square brackets are markup otherwise)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


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

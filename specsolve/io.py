"""Atomic file writes: every file specsolve writes goes to a temporary file beside its target and is renamed onto
it only when complete, so a kill, a full disk or a permission error never leaves a torn file or damages the
previous one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from specsolve.errors import DataError


@contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path ``.<name>.<random>.partial`` beside ``path``, renamed onto ``path`` if the block completes.

    On any exception the temporary file is removed and ``path`` is left as it was. With ``overwrite=False`` an
    existing ``path`` is a :class:`DataError`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"output file already exists (pass overwrite to replace it): {path}")
    if path.is_dir():
        raise DataError(f"output path is a directory: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)

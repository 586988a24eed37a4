"""File I/O. Atomic writes: every file specsolve writes goes to a temporary file beside its target and is renamed
onto it only when complete, so a kill, a full disk or a permission error never leaves a torn file or damages the
previous one. Checked JSON reads: :func:`read_json_object`; checked input paths: :func:`existing_file`."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from specsolve.errors import DataError

# errors of the write itself (disk full, quota, read-only or forbidden target): reported as one line naming the path
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO})


def existing_file(path: str | Path, what: str = "data file", what_path: str = "data path") -> Path:
    """``path`` as a :class:`~pathlib.Path` once it is known to name an existing file that is not a directory; else
    a :class:`DataError` ``"<what> not found: <path>"`` or ``"<what_path> is a directory, not a file: <path>"``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} not found: {p}")
    if p.is_dir():
        raise DataError(f"{what_path} is a directory, not a file: {p}")
    return p


def _write_failed(path: Path, exc: OSError) -> DataError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = exc.strerror or text
    return DataError(f"cannot write {path}: {reason} (nothing was replaced; the previous file, if any, is intact)")


def _is_write_error(exc: BaseException) -> bool:
    if not isinstance(exc, OSError):
        return False
    # h5py reports a failed low-level write as an OSError whose errno is unset but whose text names the cause
    return exc.errno in WRITE_ERRNOS or "No space left on device" in str(exc) or "Permission denied" in str(exc)


@contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path ``.<name>.<random>.partial`` beside ``path``, renamed onto ``path`` if the block completes.

    On any exception the temporary file is removed and ``path`` is left as it was. With ``overwrite=False`` an
    existing ``path`` is a :class:`DataError`; so is a write that fails for lack of space or permission
    (``ENOSPC``, ``EDQUOT``, ``EACCES``, ``EROFS``, ...), with one line naming ``path``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"output file already exists (pass overwrite to replace it): {path}")
    if path.is_dir():
        raise DataError(f"output path is a directory: {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_failed(path, exc) from exc
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
        if _is_write_error(exc):
            raise _write_failed(path, exc) from exc  # type: ignore[arg-type]
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json_object(path: str | Path, label: str | None = None) -> dict[str, Any]:
    """The JSON object stored in ``path``; an unreadable file or another JSON value is a :class:`DataError`
    naming the file (as ``label path`` when a label such as ``metrics file`` is given)."""
    p = Path(path)
    name = f"{label} {p}" if label else str(p)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {name}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{name} is not a JSON object")
    return data

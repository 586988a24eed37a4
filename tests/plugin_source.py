"""Importing a plugin of plugins/ from its source tree, without installing it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def source_on_path(plugin: Path) -> Iterator[None]:
    """``plugin/src`` first on ``sys.path`` inside the block, removed after it."""
    src = str(plugin / "src")
    sys.path.insert(0, src)
    try:
        yield
    finally:
        sys.path.remove(src)

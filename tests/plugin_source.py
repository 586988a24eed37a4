"""Importing a plugin of plugins/ from its source tree, without installing it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def source_on_path(plugin: Path) -> Iterator[None]:
    """``plugin/src`` first on ``sys.path`` inside the block, removed after it."""
    src = str(plugin / "src")
    sys.path.insert(0, src)
    try:
        yield
    finally:
        sys.path.remove(src)


def plugin_source_fixture(plugin: Path):
    """A module-scoped autouse fixture ``plugin_source_on_path``: the plugin importable from ``plugin/src`` for the
    tests of the module that assigns it (``plugin_source_on_path = plugin_source_fixture(PLUGIN)``)."""

    @pytest.fixture(scope="module", autouse=True)
    def plugin_source_on_path() -> Iterator[None]:
        with source_on_path(plugin):
            yield

    return plugin_source_on_path

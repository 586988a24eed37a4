"""Stored-output regression: one helper for every model's ``tests/data/<name>_regression.pt``.

A test computes its case (model outputs, and the inputs, seeds and configs that made them) as a nested mapping and
calls :func:`assert_matches_stored`. Normally the mapping is compared with the stored file: the same keys at every
level, tensors within the given tolerances, everything else equal. With ``pytest --regen-regression`` the mapping is
written to the file instead (the test then reports a skip naming the file), which is how a fixture is made or
updated; do that only after an intended change of the model, and commit the file. A missing file fails with a
message naming the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

DATA = Path(__file__).parent / "data"

# set from tests/conftest.py (``--regen-regression``); tests never set it
REGENERATE = False


def stored_path(name: str, directory: Path | None = None) -> Path:
    return (directory or DATA) / f"{name}_regression.pt"


def _compare(current: Any, stored: Any, where: str, tolerances: Mapping[str, tuple[float, float]]) -> None:
    if isinstance(current, Mapping):
        assert isinstance(stored, Mapping), f"{where}: stored value is a {type(stored).__name__}, not a mapping"
        assert set(current) == set(stored), f"{where}: keys {sorted(current)} != stored {sorted(stored)}"
        for key in current:
            _compare(current[key], stored[key], f"{where}/{key}", tolerances)
    elif isinstance(current, torch.Tensor):
        assert isinstance(stored, torch.Tensor), f"{where}: stored value is a {type(stored).__name__}, not a tensor"
        rtol, atol = next((tol for key, tol in tolerances.items() if f"/{key}/" in where + "/"), tolerances["*"])
        torch.testing.assert_close(current.detach(), stored, rtol=rtol, atol=atol, msg=lambda m: f"{where}: {m}")
    else:
        assert current == stored, f"{where}: {current!r} != stored {stored!r}"


def assert_matches_stored(
    name: str,
    current: Mapping[str, Any],
    *,
    rtol: float = 0.0,
    atol: float = 1e-5,
    tolerances: Mapping[str, tuple[float, float]] | None = None,
    directory: Path | None = None,
) -> None:
    """Compare ``current`` with ``tests/data/<name>_regression.pt`` (or write it under ``--regen-regression``).

    ``rtol`` / ``atol`` apply to every tensor, except those below a key named in ``tolerances`` (``{key: (rtol,
    atol)}``, matched against any level of the path, first match wins), e.g. ``{"input": (0.0, 0.0)}`` for an
    input that must be bit-identical. Dtypes must match too.
    """
    path = stored_path(name, directory)
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pt.tmp")
        torch.save(_detached(current), tmp)
        tmp.replace(path)
        pytest.skip(f"regenerated {path} ({path.stat().st_size} bytes): review and commit it")
    if not path.exists():
        pytest.fail(f"{path} is missing: run `pytest --regen-regression -k <this test>` once and commit the file")
    stored = torch.load(path, weights_only=True)
    _compare(current, stored, name, {**(tolerances or {}), "*": (rtol, atol)})


def _detached(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _detached(item) for key, item in value.items()}
    if isinstance(value, torch.Tensor):
        return value.detach()
    return value

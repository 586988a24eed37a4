"""tests/regression.py: the stored-output helper compares keys, tensors (with per-key tolerances) and values, and
writes the file only under ``--regen-regression``."""

from __future__ import annotations

import pytest
import regression
import torch
from regression import assert_matches_stored


def case(shift: float = 0.0) -> dict:
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    return {"input": x, "output": {"y": 2 * x + shift}, "seed": 3}


@pytest.fixture
def stored(tmp_path, monkeypatch):
    monkeypatch.setattr(regression, "REGENERATE", True)
    with pytest.raises(pytest.skip.Exception, match="regenerated"):
        assert_matches_stored("toy", case(), directory=tmp_path)
    monkeypatch.setattr(regression, "REGENERATE", False)
    return tmp_path


def test_regenerated_file_holds_the_case(stored):
    saved = torch.load(stored / "toy_regression.pt", weights_only=True)
    assert saved["seed"] == 3 and torch.equal(saved["output"]["y"], case()["output"]["y"])
    assert_matches_stored("toy", case(), directory=stored)
    assert_matches_stored("toy", case(shift=1e-6), directory=stored)  # within atol 1e-5


def test_mismatches_fail(stored):
    with pytest.raises(AssertionError, match="toy/output/y"):
        assert_matches_stored("toy", case(shift=1e-3), directory=stored)
    with pytest.raises(AssertionError, match="seed"):
        assert_matches_stored("toy", {**case(), "seed": 4}, directory=stored)
    with pytest.raises(AssertionError, match="keys"):
        assert_matches_stored("toy", {**case(), "extra": 1}, directory=stored)
    with pytest.raises(AssertionError, match="dtype"):
        assert_matches_stored("toy", {**case(), "input": case()["input"].double()}, directory=stored)


def test_per_key_tolerances(stored):
    nudged = {**case(), "input": case()["input"] + 1e-7}
    assert_matches_stored("toy", nudged, directory=stored)
    with pytest.raises(AssertionError, match="toy/input"):
        assert_matches_stored("toy", nudged, directory=stored, tolerances={"input": (0.0, 0.0)})
    assert_matches_stored("toy", case(shift=1e-3), directory=stored, tolerances={"output": (0.0, 1e-2)})


def test_missing_file_names_the_option(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="--regen-regression"):
        assert_matches_stored("absent", case(), directory=tmp_path)

"""Shared fixtures: tiny generated datasets (made once per test session); the ``--regen-regression`` option."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine OpenMP spinning can make them
# 100x slower; tests run single-threaded unless SPECSOLVE_TEST_THREADS says otherwise.
torch.set_num_threads(int(os.environ.get("SPECSOLVE_TEST_THREADS", "1")))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-regression",
        action="store_true",
        help="write the stored regression outputs (tests/data/*_regression.pt) instead of comparing with them",
    )


def pytest_configure(config: pytest.Config) -> None:
    import regression  # tests/regression.py: this folder is on sys.path (rootdir conftest)

    regression.REGENERATE = bool(config.getoption("--regen-regression"))


@pytest.fixture(scope="session")
def darcy_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 17x17 Darcy dataset (solved on 33x33): train (24) and test (8) files; returns the folder."""
    from specsolve.data.generation import run_recipe

    out = tmp_path_factory.mktemp("darcy_tiny")
    root = Path(__file__).resolve().parents[1]
    run_recipe(root / "datasets" / "darcy_tiny.yaml", [f"out_dir={out}", "splits.train.n=24"])
    return out


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path

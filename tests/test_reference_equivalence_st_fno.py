"""ST-FNO against the Spectral-Refiner reference ``SFNO`` (torch-cfd ``fno/``, MIT): see ``tests/st_fno_reference.py``.

The fixture route always runs (stored reference outputs for our stored weights, non-zero spectral bias); the live
route (the same cases and the paper configuration) runs when ``SPECSOLVE_TORCH_CFD`` points to a torch-cfd checkout
and the ``reference`` extra (torch-cfd, einops) is installed.
"""

from __future__ import annotations

import os

import pytest
import torch
from st_fno_reference import (
    ENV,
    FIXTURE,
    FIXTURE_CASES,
    PAPER_CASES,
    build_ours,
    make_input,
    reference_output,
    reference_sfno_class,
)

from specsolve.models.st_fno import STFNO

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope="module")
def stored() -> dict:
    return torch.load(FIXTURE, weights_only=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("name", list(FIXTURE_CASES))
def test_st_fno_matches_stored_reference_outputs(stored, name, dtype) -> None:
    config, _, _ = FIXTURE_CASES[name]
    case = stored[name]
    model = STFNO(1, 1, **config).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in case["state_dict"].items()})
    with torch.no_grad():
        got = model(case["input"].to(dtype), out_steps=int(case["out_steps"]))
    expected = case["reference_fp64" if dtype == torch.float64 else "reference_fp32"]
    assert got.shape == expected.shape and got.dtype == dtype
    assert rel_diff(got, expected.to(dtype)) <= TOL[dtype]


def test_stored_reference_exercises_the_spectral_bias(stored) -> None:
    """The fixture is only a check of the bias path if the bias moves the output well above the tolerance."""
    config, _, _ = FIXTURE_CASES["tiny"]
    case = stored["tiny"]
    model = STFNO(1, 1, **config).double()
    state = {k: v.double() for k, v in case["state_dict"].items()}
    for key in [k for k in state if k.startswith("output_conv.bias")]:
        state[key] = torch.zeros_like(state[key])
    model.load_state_dict(state)
    with torch.no_grad():
        no_bias = model(case["input"].double(), out_steps=int(case["out_steps"]))
    assert rel_diff(no_bias, case["reference_fp64"]) > 1e-4


@pytest.fixture(scope="module")
def sfno_class():
    checkout = os.environ.get(ENV)
    if not checkout:
        pytest.skip(f"set {ENV} to a torch-cfd checkout for the live comparison")
    pytest.importorskip("torch_cfd.spectral")
    pytest.importorskip("einops")
    return reference_sfno_class(checkout)


LIVE = {**FIXTURE_CASES, **PAPER_CASES}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("name", list(LIVE))
def test_st_fno_matches_reference_live(sfno_class, name, dtype) -> None:
    config, shape, out_steps = LIVE[name]
    model = build_ours(config).to(dtype)
    state = model.state_dict()
    x = make_input(shape).to(dtype)
    expected = reference_output(sfno_class, config, state, x, out_steps)
    with torch.no_grad():
        got = model(x, out_steps=out_steps)
    assert rel_diff(got, expected) <= TOL[dtype]

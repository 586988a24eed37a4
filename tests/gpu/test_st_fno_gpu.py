"""specsolve.models.st_fno on a CUDA device at the paper size (modes 12/5, width 20, 64^2, 10 -> 10 frames): autocast
keeps the FFTs and the output in float32, float64 agrees with float32, long outputs on a large grid, the
divergence-free projection and the enlarged output layer behave as on the CPU (tests/test_st_fno.py)."""

from __future__ import annotations

import copy

import pytest
import torch

from specsolve.models.st_fno import STFNO, enlarge_output_layer
from specsolve.nn.spacetime import helmholtz_project

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.fixture(scope="module")
def model_and_input():
    torch.manual_seed(0)
    model = STFNO(1, 1).cuda()
    x = torch.randn(4, 10, 1, 64, 64, device="cuda")
    with torch.no_grad():
        ref = model(x)
    return model, x, ref


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_output_is_float32_and_close(model_and_input, dtype) -> None:
    model, x, ref = model_and_input
    with torch.no_grad(), torch.autocast("cuda", dtype=dtype):
        out = model(x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert rel(out, ref) < 5e-2


def test_float64_agrees_with_float32(model_and_input) -> None:
    model, x, ref = model_and_input
    with torch.no_grad():
        y64 = copy.deepcopy(model).double()(x.double())
    assert rel(y64, ref) < 1e-4


def test_large_grid_and_long_output(model_and_input) -> None:
    model, _, _ = model_and_input
    with torch.no_grad():
        big = model(torch.randn(1, 10, 1, 256, 256, device="cuda"), out_steps=40)
    assert big.shape == (1, 40, 1, 256, 256) and torch.isfinite(big).all()


def test_divergence_free_output_is_a_fixed_point_of_the_projection() -> None:
    torch.manual_seed(0)
    free = STFNO(2, 2, divergence_free=True).cuda()
    with torch.no_grad():
        v = free(torch.randn(2, 10, 2, 64, 64, device="cuda"))
        assert rel(helmholtz_project(v, 2), v) < 1e-5
        plain = copy.deepcopy(free)
        plain.divergence_free = False
        w = plain(torch.randn(2, 10, 2, 64, 64, device="cuda"))
        assert rel(helmholtz_project(w, 2), w) > 1e-3  # the plain model's output is not solenoidal


def test_enlarged_output_layer_keeps_the_function(model_and_input) -> None:
    model, x, ref = model_and_input
    with torch.no_grad():
        enlarged = enlarge_output_layer(copy.deepcopy(model), 32, 6)
        change = rel(enlarged(x) - x[:, -1:], ref - x[:, -1:])
    assert change < 1e-5

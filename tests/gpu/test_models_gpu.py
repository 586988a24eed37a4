"""Every model at its paper configuration on a CUDA device: finite outputs, bf16 autocast close to fp32 with float32
outputs (the spectral layers keep their FFTs in float32, DESIGN §6), finite training steps in both precisions, and
the same float64 function on CPU and GPU. Run with ``make test-gpu`` (``pytest -m gpu``); skipped without CUDA.
Timings of these configurations: ``python -m benchmarks.fno_throughput --device cuda`` and the other benchmarks.
"""

from __future__ import annotations

import pytest
import torch
from paper_configs import GALERKIN_2D_DARCY

import specsolve

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

MODELS = {
    # label: (registered name, constructor parameters, input shape); measured bf16-vs-fp32 on an H100 <= 5.2e-3
    "fno_darcy_s85": ("fno", dict(in_channels=1, out_channels=1, modes=[12, 12], width=32, padding=9), (20, 1, 85, 85)),
    "gfno_p4_ns": ("gfno", dict(in_channels=10, out_channels=1, modes=12, width=10, group="p4"), (20, 10, 64, 64)),
    "gfno_p4m_ns": ("gfno", dict(in_channels=10, out_channels=1, modes=12, width=7, group="p4m"), (20, 10, 64, 64)),
    "gfno3d_p4": (
        "gfno3d",
        dict(in_channels=10, out_channels=1, modes=8, time_modes=6, width=11),
        (10, 10, 64, 64, 40),
    ),
    "st_fno_ns": ("st_fno", dict(in_channels=1, out_channels=1, modes=12, modes_t=5, width=20), (4, 10, 1, 64, 64)),
    "galerkin_1d_burgers": ("galerkin_transformer", dict(in_channels=1, out_channels=1), (8, 1, 2048)),
    "galerkin_2d_darcy": (
        "galerkin_transformer",
        dict(in_channels=1, out_channels=1, **GALERKIN_2D_DARCY),
        (8, 1, 141, 141),
    ),
}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.fixture(autouse=True)
def free_cuda_memory():
    yield
    torch.cuda.empty_cache()


@pytest.mark.parametrize("label", list(MODELS))
def test_paper_config_runs_in_fp32_and_bf16(label: str) -> None:
    name, params, shape = MODELS[label]
    torch.manual_seed(0)
    model = specsolve.create("model", name, **params).cuda()
    x = torch.randn(*shape, device="cuda")
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = model(x)
    assert torch.isfinite(ref).all() and ref.dtype == torch.float32
    assert torch.isfinite(low).all()
    assert rel(low, ref) < 2e-2
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    for dtype in (None, torch.bfloat16):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(x).float().square().mean()
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()


@pytest.mark.parametrize("label", ["fno_darcy_s85", "gfno_p4m_ns", "st_fno_ns", "galerkin_2d_darcy"])
def test_cpu_and_cuda_compute_the_same_function(label: str) -> None:
    name, params, shape = MODELS[label]
    torch.manual_seed(0)
    model = specsolve.create("model", name, **params).double().eval()
    x = torch.randn(2, *shape[1:], dtype=torch.float64)
    with torch.no_grad():
        cpu = model(x)
        cuda = model.cuda()(x.cuda()).cpu()
    assert rel(cuda, cpu) < 1e-10

"""The PDE-spec losses and field metrics on a CUDA device: the same float64 values as on the CPU, and under bf16
autocast a float32 loss close to the float64 one with finite gradients."""

from __future__ import annotations

import math

import pytest
import torch

from specsolve.losses.h1 import H1Loss
from specsolve.losses.nsm_residual import NSMResidualLoss
from specsolve.losses.pinn_residual import PINNResidualLoss
from specsolve.losses.sobolev import SobolevLoss
from specsolve.metrics.frmse import FRMSEMid
from specsolve.metrics.nrmse import NRMSE
from specsolve.metrics.vrmse import VRMSE
from specsolve.pde import get_pde

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def cases() -> dict[str, tuple[object, tuple[torch.Tensor, ...], dict]]:
    g = torch.Generator().manual_seed(0)
    field = torch.randn(4, 1, 32, 32, generator=g, dtype=torch.float64)
    rd = get_pde("reaction_diffusion")
    t, x = rd.domain.mesh([17, 32], dtype=torch.float64, spectral=True)
    u_rd = (rd.exact_solution((t, x)) + 0.01 * torch.sin(2 * math.pi * x) * t)[None, :, None]
    ns = get_pde("navier_stokes", nu=0.01)
    m = ns.domain.mesh([9, 16, 16], dtype=torch.float64, spectral=True)
    w = (ns.exact_solution(m) + 0.1 * torch.sin(2 * math.pi * m[1]) * torch.cos(4 * math.pi * m[2]))[None, :, None]
    return {
        "sobolev_h-1": (SobolevLoss(s=-1.0, alpha=0.1), (field, 0.9 * field), {}),
        "h1_periodic": (H1Loss(), (field, 0.9 * field), {}),
        "nsm_poisson": (NSMResidualLoss(pde="poisson"), (field,), {"inputs": field}),
        "pinn_poisson": (PINNResidualLoss(pde="poisson"), (field,), {"inputs": field}),
        "nsm_reaction_diffusion": (NSMResidualLoss(pde="reaction_diffusion"), (u_rd,), {}),
        "nsm_navier_stokes": (NSMResidualLoss(pde="navier_stokes", nu=0.01), (w,), {}),
    }


@pytest.mark.parametrize("name", list(cases()))
def test_loss_on_cuda_matches_cpu_and_is_bf16_safe(name: str) -> None:
    fn, args, kw = cases()[name]
    ref = fn(*args, **kw).item()
    on_cuda = fn(*[a.cuda() for a in args], **{k: v.cuda() for k, v in kw.items()}).item()
    assert abs(on_cuda - ref) <= 1e-10 * max(abs(ref), 1e-30)
    f32 = [a.float().cuda().requires_grad_(True) for a in args]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        val = fn(*f32, **{k: v.float().cuda() for k, v in kw.items()})
    val.backward()
    assert val.dtype == torch.float32
    assert abs(val.item() - ref) <= 1e-3 * max(abs(ref), 1e-30)
    assert torch.isfinite(f32[0].grad).all()


@pytest.mark.parametrize("cls", [NRMSE, VRMSE, FRMSEMid])
def test_field_metric_on_cuda_matches_cpu(cls) -> None:
    g = torch.Generator().manual_seed(1)
    p, q = torch.randn(2, 3, 2, 16, 16, generator=g), torch.randn(2, 3, 2, 16, 16, generator=g)
    cpu, cuda = cls(spatial_dims=2), cls(spatial_dims=2).cuda()
    cpu.update(p, q)
    cuda.update(p.cuda(), q.cuda())
    expected = cpu.compute().item()
    assert abs(cuda.compute().item() - expected) <= 1e-5 * abs(expected)

"""CUDA smoke check of the PDE-spec losses and field metrics: same values on CPU and GPU, bf16 autocast safe.

.venv/bin/python scripts/pde_losses_gpu_check.py     (prints one line per check, exits 1 on a mismatch)
"""

from __future__ import annotations

import math
import sys

import torch

from specsolve.losses.h1 import H1Loss
from specsolve.losses.nsm_residual import NSMResidualLoss
from specsolve.losses.pinn_residual import PINNResidualLoss
from specsolve.losses.sobolev import SobolevLoss
from specsolve.metrics.frmse import FRMSEMid
from specsolve.metrics.nrmse import NRMSE
from specsolve.metrics.vrmse import VRMSE
from specsolve.pde import get_pde


def cases() -> list[tuple[str, object, tuple[torch.Tensor, ...], dict]]:
    g = torch.Generator().manual_seed(0)
    field = torch.randn(4, 1, 32, 32, generator=g, dtype=torch.float64)
    rd = get_pde("reaction_diffusion")
    t, x = rd.domain.mesh([17, 32], dtype=torch.float64, spectral=True)
    u_rd = (rd.exact_solution((t, x)) + 0.01 * torch.sin(2 * math.pi * x) * t)[None, :, None]
    ns = get_pde("navier_stokes", nu=0.01)
    m = ns.domain.mesh([9, 16, 16], dtype=torch.float64, spectral=True)
    w = (ns.exact_solution(m) + 0.1 * torch.sin(2 * math.pi * m[1]) * torch.cos(4 * math.pi * m[2]))[None, :, None]
    return [
        ("sobolev H^-1", SobolevLoss(s=-1.0, alpha=0.1), (field, 0.9 * field), {}),
        ("h1 periodic", H1Loss(), (field, 0.9 * field), {}),
        ("nsm poisson", NSMResidualLoss(pde="poisson"), (field,), {"inputs": field}),
        ("pinn poisson", PINNResidualLoss(pde="poisson"), (field,), {"inputs": field}),
        ("nsm reaction_diffusion", NSMResidualLoss(pde="reaction_diffusion"), (u_rd,), {}),
        ("nsm navier_stokes", NSMResidualLoss(pde="navier_stokes", nu=0.01), (w,), {}),
    ]


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 0
    ok = True
    for name, fn, args, kw in cases():
        ref = fn(*args, **kw).item()
        dev = fn(*[a.cuda() for a in args], **{k: v.cuda() for k, v in kw.items()}).item()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            f32 = [a.float().cuda().requires_grad_(True) for a in args]
            val = fn(*f32, **{k: v.float().cuda() for k, v in kw.items()})
        val.backward()
        finite = all(torch.isfinite(a.grad).all().item() for a in f32[:1])
        rel = abs(dev - ref) / max(abs(ref), 1e-30)
        rel32 = abs(val.item() - ref) / max(abs(ref), 1e-30)
        good = rel < 1e-10 and rel32 < 1e-3 and finite and val.dtype == torch.float32
        ok &= good
        print(
            f"{name:<24} cpu64 {ref:.6e}  cuda64 rel {rel:.1e}  cuda-bf16-autocast rel {rel32:.1e} {val.dtype}  {'OK' if good else 'FAIL'}"
        )
    g = torch.Generator().manual_seed(1)
    p, q = torch.randn(2, 3, 2, 16, 16, generator=g), torch.randn(2, 3, 2, 16, 16, generator=g)
    for cls in (NRMSE, VRMSE, FRMSEMid):  # (16^2 has no |k| >= 12 modes)
        a, b = cls(spatial_dims=2), cls(spatial_dims=2).cuda()
        a.update(p, q)
        b.update(p.cuda(), q.cuda())
        rel = abs(a.compute().item() - b.compute().item()) / abs(a.compute().item())
        ok &= rel < 1e-5
        print(f"{cls.__name__:<24} cpu {a.compute().item():.6e}  cuda rel {rel:.1e}  {'OK' if rel < 1e-5 else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Print the measured properties of the ``st_fno`` model (parameter count, resolution consistency, projection,
enlarged output layer, spectral fine-tuning). Usage: ``python scripts/sfno_checks.py`` (CPU, ~1 min)."""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_sfno as t  # noqa: E402  (reuses the test helpers)

from specsolve.losses.sobolev import sobolev_norm  # noqa: E402
from specsolve.models.st_fno import STFNO, enlarge_output_layer  # noqa: E402


def main() -> None:
    print(f"params STFNO(1,1) modes 12/5 width 20: {t.n_params(STFNO(1, 1)):,}")
    print(f"params STFNO(2,2) modes 12/5 width 20: {t.n_params(STFNO(2, 2)):,}")
    model = t.tiny_model()
    inc = {n: model(t.smooth_window(n, 6)) - t.smooth_window(n, 6)[:, -1:] for n in (16, 32, 64)}
    for a, b in ((32, 16), (64, 32)):
        s = a // b
        rel = ((inc[a][..., ::s, ::s] - inc[b]).norm() / inc[b].norm()).item()
        print(f"resolution: rel. diff of predicted increments {a}^2 vs {b}^2: {rel:.2e}")
    for dtype in (torch.float64, torch.float32):
        torch.manual_seed(0)
        m = STFNO(2, 2, **t.TINY, divergence_free=True).to(dtype)
        x = torch.randn(2, 6, 2, 16, 16, dtype=dtype)
        plain = copy.deepcopy(m)
        plain.divergence_free = False
        d_free, d_plain = t.spectral_divergence(m(x)), t.spectral_divergence(plain(x))
        print(f"divergence ({dtype}): projected {d_free:.1e}, plain {d_plain:.1e}")
    x = torch.randn(2, 6, 1, 32, 32, dtype=torch.float64)
    y0 = model(x)
    big = enlarge_output_layer(copy.deepcopy(model), 16, 6)
    change = ((big(x) - y0).norm() / (y0 - x[:, -1:]).norm()).item()
    print(f"enlarge to (16, 6): rel. change of the increment {change:.1e}")

    nu, dt, n = 0.01, 0.1, 16
    x1 = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x1, x1, indexing="ij")
    tt = dt * torch.arange(12, dtype=torch.float64)[:, None, None]
    traj = (torch.exp(-4 * math.pi**2 * nu * tt) * (torch.cos(2 * math.pi * X) + torch.sin(2 * math.pi * Y)))[None]
    x, target = traj[:, :6, None], traj[:, 6:, None]

    def h_minus_1(w):
        return sobolev_norm(t.nse_vorticity_residual(w, nu, dt), -1.0, 10**-1.5).square().mean().sqrt()

    torch.manual_seed(0)
    m = enlarge_output_layer(STFNO(1, 1, **{**t.TINY, "out_steps": 6}).double(), n // 2, 6)
    latent = m.encode(x).detach()
    conv = m.output_conv
    opt = torch.optim.Adam([{"params": list(conv.weight), "lr": 1e-2}, {"params": list(conv.bias), "lr": 0.2}])

    def report(i):
        with torch.no_grad():
            res = h_minus_1(torch.cat([x[:, -1:, 0], m.decode(latent, x)[:, :, 0]], 1)).item()
            err = ((m(x) - target).norm() / target.norm()).item()
        print(f"fine-tune iter {i:3d}: H^-1 residual {res:.3e}  rel. L2 error {err:.3e}")

    report(0)
    for i in range(1, 101):
        opt.zero_grad()
        h_minus_1(torch.cat([x[:, -1:, 0], m.decode(latent, x)[:, :, 0]], 1)).backward()
        opt.step()
        if i in (30, 100):
            report(i)


if __name__ == "__main__":
    main()

"""Print G-FNO parameter counts and equivariance errors for the paper's NS configurations (CPU, ~10 s).

Usage: ``python scripts/gfno_check.py``. Paper counts: 2D 853,121 (p4, width 10) and 835,969 (p4m, width 7);
3D ~4.80 M (p4, width 11) and ~3.89 M (p4m, width 7).
"""

from __future__ import annotations

import torch

from specsolve.models.gfno import GFNO
from specsolve.models.gfno3d import GFNO3d


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def main() -> None:
    torch.manual_seed(0)
    for group, width in (("p4", 10), ("p4m", 7)):
        model = GFNO(10, 1, modes=12, width=width, group=group).eval()
        x = torch.randn(2, 10, 64, 64)
        with torch.no_grad():
            y = model(x)
            rot = max(rel(model(torch.rot90(x, k, (-2, -1))), torch.rot90(y, k, (-2, -1))) for k in (1, 2, 3))
            flip = rel(model(x.flip(-1)), y.flip(-1))
        n = sum(p.numel() for p in model.parameters())
        print(
            f"gfno   {group:4s} width {width:2d}: {n:,} params; fp32 64^2 rel. max error rot {rot:.1e}, flip {flip:.1e}"
        )
    for group, width in (("p4", 11), ("p4m", 7)):
        model = GFNO3d(10, 1, modes=8, time_modes=6, width=width, group=group)
        print(f"gfno3d {group:4s} width {width:2d}: {sum(p.numel() for p in model.parameters()):,} params")


if __name__ == "__main__":
    main()

"""GPU checks of the ``st_fno`` model: mixed precision (FFTs stay fp32), float64, divergence-free output, enlarged
output layer, and timings of the paper-size model (modes 12/5, width 20, batch 4, 64^2, 10 -> 10 steps).
Usage: ``PYTHONPATH=. python scripts/sfno_gpu_check.py`` on a CUDA machine."""

from __future__ import annotations

import copy
import time

import torch

from specsolve.models.st_fno import STFNO, enlarge_output_layer
from specsolve.nn.spacetime import helmholtz_project


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def timed(fn, iters: int = 20, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return 1e3 * (time.perf_counter() - t0) / iters


def main() -> None:
    dev = torch.device("cuda")
    print(torch.__version__, torch.cuda.get_device_name())
    torch.manual_seed(0)
    model = STFNO(1, 1).to(dev)
    print(f"params {sum(p.numel() for p in model.parameters()):,}")
    x = torch.randn(4, 10, 1, 64, 64, device=dev)
    y = torch.randn(4, 10, 1, 64, 64, device=dev)
    with torch.no_grad():
        ref = model(x)
        for dt in (torch.bfloat16, torch.float16):
            with torch.autocast("cuda", dtype=dt):
                out = model(x)
            finite = bool(torch.isfinite(out).all())
            print(f"autocast {dt}: out dtype {out.dtype}, finite {finite}, rel diff to fp32 {rel(out, ref):.2e}")
        m64 = copy.deepcopy(model).double()
        print(f"float64 vs float32 rel diff {rel(m64(x.double()), ref):.2e}")
        big = model(torch.randn(1, 10, 1, 256, 256, device=dev), out_steps=40)
        print(f"256^2, 10 -> 40 steps: {tuple(big.shape)}, finite {bool(torch.isfinite(big).all())}")
        v = STFNO(2, 2, divergence_free=True).to(dev)(torch.randn(2, 10, 2, 64, 64, device=dev))
        print(f"divergence-free: projection idempotent rel {rel(helmholtz_project(v, 2), v):.1e}")
        e = enlarge_output_layer(copy.deepcopy(model), 32, 6)
        inc = ref - x[:, -1:]
        print(f"enlarge (32, 6): rel change of increment {rel(e(x) - x[:, -1:], inc):.1e}")

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(dtype):
        def run():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                loss = (model(x) - y).square().mean()
            loss.backward()
            opt.step()

        return run

    for name, dt in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        ms = timed(step(dt))
        print(
            f"train step (fwd+bwd+adam), batch 4, 64^2, 10->10, {name}: {ms:.1f} ms "
            f"(~{ms * 288 / 1e3:.1f} s per 1152-sample epoch)"
        )
    print(f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()

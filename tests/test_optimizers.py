"""specsolve.training.optim.optimizers: the registered Adam/AdamW take torch's fused kernel where it applies."""

from __future__ import annotations

import pytest
import torch

from specsolve.registry import create
from specsolve.training.optim.optimizers import fused_kernel_applies


def _params(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(5, 3, generator=g, dtype=dtype)) for _ in range(3)]


def _losses_after_steps(name: str, params: list[torch.nn.Parameter], **options) -> list[torch.Tensor]:
    opt = create("optimizer", name, lr=1e-1, weight_decay=1e-2, **options)(params)
    for _ in range(5):
        opt.zero_grad()
        sum((p.abs() ** 1.5).sum() for p in params).backward()
        opt.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_kernel_is_chosen_for_real_cpu_parameters_and_matches_the_loop(name):
    params = _params(torch.float32)
    opt = create("optimizer", name)(params)
    assert opt.param_groups[0]["fused"] is True
    fused = _losses_after_steps(name, _params(torch.float64))
    loop = _losses_after_steps(name, _params(torch.float64), fused=False)
    for a, b in zip(fused, loop, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert create("optimizer", name, fused=False)(_params(torch.float32)).param_groups[0]["fused"] is None


def test_complex_parameters_fall_back_to_the_default_implementation():
    """The spectral weights of an FNO are complex: the fused kernel refuses them, so they take torch's loop."""
    params = _params(torch.float32) + [torch.nn.Parameter(torch.randn(4, 2, dtype=torch.cfloat))]
    assert not fused_kernel_applies(params) and fused_kernel_applies(params[:3])
    groups = [{"params": iter(params[:3]), "lr": 1e-2}, {"params": params[3]}]  # a generator and a lone tensor
    assert not fused_kernel_applies([{"params": p} for p in ([params[0]], [params[3]])])
    opt = create("optimizer", "adam")(groups)
    assert [len(g["params"]) for g in opt.param_groups] == [3, 1] and opt.param_groups[0]["fused"] is None
    sum(p.abs().sum() for p in params).backward()
    opt.step()

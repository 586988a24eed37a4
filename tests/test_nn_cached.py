"""specsolve.nn.cached: cached constants built outside inference mode, so that prediction then training works."""

from __future__ import annotations

import torch

from specsolve.nn.cached import cached_constant
from specsolve.nn.spectral_conv import SpectralConv
from specsolve.nn.swin import SwinV2Block


def test_cached_constant_is_built_outside_inference_mode_and_reused() -> None:
    calls = []

    @cached_constant
    def table(n: int) -> torch.Tensor:
        calls.append(n)
        return torch.arange(float(n)).requires_grad_(False)

    with torch.inference_mode():
        first = table(5)
    assert not first.is_inference() and not first.requires_grad
    assert table(5) is first and calls == [5]  # cached
    table.cache_clear()
    assert table(5) is not first and calls == [5, 5]


def train_after_inference(module: torch.nn.Module, *inputs: torch.Tensor) -> None:
    """``module`` first called under inference mode (its cached constants made there), then trained: same output,
    and a backward that reaches the input and every parameter."""
    with torch.inference_mode():
        expected = module(*inputs)
    x = inputs[0].clone().requires_grad_(True)
    out = module(x, *inputs[1:])
    out.square().sum().backward()
    torch.testing.assert_close(out.detach(), expected)
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in module.parameters() if p.requires_grad)


def test_fno_dft_spectral_conv_trains_after_inference_mode() -> None:
    # a grid and modes no other test uses, so that inference mode makes the cache entries
    train_after_inference(SpectralConv(2, 3, [3, 4], backend="dft"), torch.randn(2, 2, 13, 17))


def test_swin_block_trains_after_inference_mode() -> None:
    block = SwinV2Block(8, 2, 3, True, 2.0, 0.0, conditional=False)
    train_after_inference(block, torch.randn(2, 9, 9, 8), None)

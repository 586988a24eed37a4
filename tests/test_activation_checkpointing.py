"""``activation_checkpointing`` of FNO, ST-FNO and scOT: the same outputs, gradients and state dict, fewer saved bytes.

Float64, training mode (scOT with stochastic depth: the recomputation must draw the same masks; FNO with batch norm:
the running statistics must be updated once per step).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from benchmarks.harness import saved_activation_bytes
from specsolve.models.fno import FNO
from specsolve.models.scot import ScOT
from specsolve.models.st_fno import STFNO
from specsolve.registry import create

SCOT = dict(
    embed_dim=16,
    depths=(2, 2, 1),
    num_heads=(1, 2, 4),
    skip_connections=(1, 1, 0),
    patch_size=2,
    window_size=4,
    mlp_ratio=2.0,
    drop_path=0.3,
)
CASES: dict[str, tuple[Callable[..., nn.Module], tuple[int, ...], bool]] = {
    # name: (constructor taking activation_checkpointing, input shape, passes lead times t)
    "fno": (lambda **k: FNO(2, 1, [4, 4], width=8, layers=3, padding=3, **k), (3, 2, 16, 16), False),
    "fno_bn": (lambda **k: FNO(1, 1, [3, 3, 3], width=6, layers=2, batch_norm=True, **k), (2, 1, 8, 8, 6), False),
    "st_fno": (
        lambda **k: STFNO(2, 2, modes=4, modes_t=3, width=8, latent_steps=4, out_steps=5, num_spectral_layers=3, **k),
        (2, 6, 2, 12, 12),
        False,
    ),
    "scot": (lambda **k: ScOT(2, 3, **SCOT, **k), (2, 2, 32, 32), True),
}


def step(model: nn.Module, x: torch.Tensor, t: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Output and parameter gradients of ``sum(out * weights)``, drawn after seeding (stochastic depth)."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(7)
    out = model(x) if t is None else model(x, t)
    (out * torch.linspace(-1, 2, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
    return out.detach(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", list(CASES))
def test_checkpointing_changes_no_value_and_saves_memory(name: str) -> None:
    build, shape, timed = CASES[name]
    torch.manual_seed(0)
    plain = build().double().train()
    ckpt = build(activation_checkpointing=True).double().train()
    assert list(ckpt.state_dict()) == list(plain.state_dict())  # no new parameter or buffer
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.3, 0.9], dtype=torch.float64) if timed else None

    out_plain, grads_plain = step(plain, x, t)
    out_ckpt, grads_ckpt = step(ckpt, x, t)
    torch.testing.assert_close(out_ckpt, out_plain, rtol=0, atol=1e-12)
    assert grads_ckpt.keys() == grads_plain.keys()
    for key, grad in grads_plain.items():
        assert grad is not None, key
        torch.testing.assert_close(grads_ckpt[key], grad, rtol=0, atol=1e-12, msg=key)
    for key, buffer in plain.state_dict().items():  # batch-norm running statistics: updated once per step
        torch.testing.assert_close(ckpt.state_dict()[key], buffer, rtol=0, atol=1e-12, msg=key)

    def saved(model: nn.Module) -> int:
        args = (x,) if t is None else (x, t)
        return saved_activation_bytes(lambda: model(*args), exclude=list(model.parameters()))

    assert saved(ckpt) < 0.7 * saved(plain)
    with torch.no_grad():  # no autograd, no checkpointing: the plain call
        args = (x,) if t is None else (x, t)
        torch.testing.assert_close(ckpt.eval()(*args), plain.eval()(*args), rtol=0, atol=0)


def test_presets_take_the_option() -> None:
    with torch.device("meta"):  # shape-only: no 158 M random numbers
        model = create("model", "scot_b", in_channels=2, out_channels=2, activation_checkpointing=True)
    assert model.activation_checkpointing
    assert not create("model", "st_fno", in_channels=1, out_channels=1).activation_checkpointing

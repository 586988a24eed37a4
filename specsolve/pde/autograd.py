"""Derivatives of pointwise callables by autograd: the one derivative routine for exact solutions, manufactured
sources, boundary data and the GP benchmark problems (grid fields use :mod:`specsolve.pde.derivatives`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from specsolve.pde.keys import Derivatives, as_key


def autograd_derivatives(
    fn: Callable[[tuple[Tensor, ...]], Tensor], x: Sequence[Tensor], keys: Iterable[Any]
) -> Derivatives:
    """Derivatives of a pointwise callable ``fn(x)`` at coordinates ``x`` (tuple of equal-shape tensors) by autograd.

    Keys are multi-indices (or ``("u", alpha)``); results are detached, broadcast to the shape of ``x[0]``.
    """
    with torch.enable_grad():
        xs = tuple(xi.detach().clone().requires_grad_(True) for xi in x)
        u = fn(xs)
        out = Derivatives()
        for key in keys:
            f, alpha = as_key(key)
            if f != "u":
                raise ValueError(f"autograd derivatives are only defined for the solution, got field '{f}'")
            v: Tensor | None = u
            for i, m in enumerate(alpha):
                for _ in range(m):
                    if v is None or not v.requires_grad:
                        v = None
                        break
                    (v,) = torch.autograd.grad(v.sum(), xs[i], create_graph=True, allow_unused=True)
            out["u", alpha] = torch.zeros_like(xs[0]) if v is None else (v + torch.zeros_like(xs[0])).detach()
    return out

"""Derivative keys: ``(field, alpha)`` with ``alpha`` a multi-index of derivative orders per axis (domain order, time
first); a bare multi-index means the solution field ``"u"``. :class:`Derivatives` is the ``dict`` of derivative
tensors that every derivative routine returns and every residual reads (``d[0, 2]`` is ``u_xx`` on axes ``(t, x)``)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from specsolve.pde.operators import MultiIndex

Key = tuple[str, MultiIndex]


def as_key(key: Any) -> Key:
    """Normalise ``alpha`` or ``(field, alpha)`` to ``(field, alpha)``."""
    key = tuple(key)
    if key and isinstance(key[0], str):
        if len(key) != 2:
            raise KeyError(f"derivative key must be (field, multi_index), got {key}")
        return key[0], tuple(int(a) for a in key[1])
    return "u", tuple(int(a) for a in key)


class Derivatives(dict):
    """``dict`` of derivative tensors whose keys are normalised by :func:`as_key` (so ``d[0, 1]`` works)."""

    def __getitem__(self, key: Any) -> Tensor:
        return super().__getitem__(as_key(key))

    def __setitem__(self, key: Any, value: Tensor) -> None:
        super().__setitem__(as_key(key), value)

    def __contains__(self, key: object) -> bool:
        try:
            return super().__contains__(as_key(key))
        except (TypeError, KeyError):
            return False

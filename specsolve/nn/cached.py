"""Cached constant tensors of the building blocks (DFT matrices, position tables, masks)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def constant(build: Callable[[], T]) -> T:
    """``build()`` as an ordinary tensor outside autograd, also when called under ``torch.inference_mode`` (a
    cached constant is reused in training, where an inference tensor could not be saved for backward)."""
    with torch.inference_mode(False), torch.no_grad():
        return build()


def cached_constant(build: Callable[..., T]) -> Callable[..., T]:
    """``build(*args)`` cached per (hashable) arguments, 64 entries, each made by :func:`constant` (so one first
    made under ``torch.inference_mode``, in prediction, can still enter a training graph later); under
    ``torch.compile`` it is built in the graph instead of read from the cache. ``get.cache_clear()`` empties it."""

    def made(*args):  # type: ignore[no-untyped-def]
        return constant(lambda: build(*args))

    cached = functools.lru_cache(maxsize=64)(made)

    @functools.wraps(build)
    def get(*args):  # type: ignore[no-untyped-def]
        return made(*args) if torch.compiler.is_compiling() else cached(*args)

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get

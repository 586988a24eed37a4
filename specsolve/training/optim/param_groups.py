"""Per-parameter-group optimizer settings, for every model: ``optimizer.param_groups``.

::

    optimizer:
      name: adamw
      lr: 5.0e-5                 # the body (every parameter no group names)
      weight_decay: 1.0e-6
      param_groups:              # Poseidon's fine-tuning: embedding, recovery and time-conditioning norms at 10x
        - params: ["embedding.*", "recovery.*", "*norm*.weight.*", "*norm*.bias.*"]
          lr: 5.0e-4

``params``: ``fnmatch`` patterns over the model's parameter names (``model.named_parameters()``, e.g.
``encoder.0.1.attention.query.weight``); the other keys override the optimizer's own settings for that group and
must be keys of the optimizer (``lr``, ``weight_decay``, ``betas``, ``momentum``, ...). A parameter belongs to the
first group one of whose patterns it matches, else to the default group (the optimizer's settings). A pattern that
matches no parameter is an error (a typo would silently train at the wrong rate). Schedulers scale every group's
rate by the same factor.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torch import nn

from specsolve.errors import ConfigError
from specsolve.registry.signature import signature_parameters

KEY = "param_groups"


def check_param_groups(groups: Any, factory: Callable[..., Any], where: str = "optimizer") -> list[dict[str, Any]]:
    """Validate ``optimizer.param_groups`` against the optimizer ``factory``; returns the groups with lists of
    patterns."""
    if groups is None:
        return []
    if not isinstance(groups, (list, tuple)):
        raise ConfigError(f"{where}.{KEY} must be a list of {{params: [patterns], lr: ...}}, got {groups!r}")
    allowed = [k for k in signature_parameters(factory) if k != KEY]
    checked = []
    for i, group in enumerate(groups):
        if not isinstance(group, Mapping) or "params" not in group:
            raise ConfigError(f"{where}.{KEY}[{i}] must be a mapping with a 'params' list of name patterns")
        patterns = group["params"]
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if (
            not isinstance(patterns, (list, tuple))
            or not patterns
            or not all(isinstance(p, str) and p for p in patterns)
        ):
            raise ConfigError(f"{where}.{KEY}[{i}].params must be a non-empty list of name patterns, got {patterns!r}")
        settings = {k: v for k, v in group.items() if k != "params"}
        for key, value in settings.items():
            if key not in allowed:
                raise ConfigError(f"{where}.{KEY}[{i}]: unknown key '{key}'; valid keys: params, {', '.join(allowed)}")
            if isinstance(value, bool) or not isinstance(value, (int, float, list, tuple)):
                raise ConfigError(f"{where}.{KEY}[{i}].{key} must be a number (or a list of numbers), got {value!r}")
        checked.append(
            {"params": list(patterns), **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}}
        )
    return checked


def build_param_groups(named: Iterable[tuple[str, nn.Parameter]], groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Torch parameter groups: the default group (parameters no pattern matches) first, then one per config group."""
    named = list(named)
    for gi, group in enumerate(groups):
        for pattern in group["params"]:
            if not any(fnmatch.fnmatchcase(name, pattern) for name, _ in named):
                example = named[0][0] if named else "(none)"
                raise ConfigError(
                    f"optimizer.{KEY}[{gi}]: pattern '{pattern}' matches no parameter (names look like '{example}')"
                )
    members: list[list[nn.Parameter]] = [[] for _ in groups]
    default: list[nn.Parameter] = []
    for name, param in named:
        for gi, group in enumerate(groups):
            if any(fnmatch.fnmatchcase(name, p) for p in group["params"]):
                members[gi].append(param)
                break
        else:
            default.append(param)
    out = [{"params": default}] if default else []
    out += [{"params": m, **{k: v for k, v in g.items() if k != "params"}} for g, m in zip(groups, members)]
    return out


def optimizer_params(module: nn.Module, spec: dict[str, Any], factory: Callable[..., Any], prefix: str = "model."):
    """``(settings, params)`` for ``factory(**settings)(params)``: ``spec`` without ``param_groups``, and either
    ``module.parameters()`` or the torch parameter groups (names matched without ``prefix``)."""
    spec = dict(spec)
    groups = check_param_groups(spec.pop(KEY, None), factory)
    if not groups:
        return spec, module.parameters()
    named = ((n[len(prefix) :] if n.startswith(prefix) else n, p) for n, p in module.named_parameters())
    return spec, build_param_groups(named, groups)

"""Validation of config values against a component's signature (its config schema).

Rules: unknown keys are an error with a close-match suggestion; missing required keys are an error; every
value is checked against the parameter's type hint (``int``, ``float``, ``bool``, ``str``, ``list[int]``,
``tuple[...]``, ``Literal[...]``, ``Optional[...]``, unions). ``int`` is accepted where ``float`` is asked.
No ``**kwargs`` catch-all is accepted in a component's signature.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from specsolve.errors import ConfigError

_MISSING = inspect.Parameter.empty


def signature_parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """Named parameters of a class constructor or factory, without ``self`` and ``*args``/``**kwargs``."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = inspect.signature(target).parameters
    return {name: p for name, p in params.items() if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def type_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to no type checking
        return {}


def describe_type(tp: Any) -> str:
    if tp is _MISSING or tp is Any:
        return "any"
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__name__
    return str(tp).replace("typing.", "")


def _matches(value: Any, tp: Any) -> bool:
    if tp is Any or tp is _MISSING:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is type(None):
        return value is None
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)  # True must not pass for 1
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is bool:
        return isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, Sequence, typing.Sequence) or tp in (list, Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        return not args or all(_matches(v, args[0]) for v in value)
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(_matches(v, a) for v, a in zip(value, args))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return isinstance(value, Mapping)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # an exotic hint: do not guess


def _coerce(value: Any, tp: Any) -> Any:
    """Tuples are written as lists in YAML; turn them back into tuples where a tuple is asked for."""
    origin = typing.get_origin(tp)
    if (origin is tuple or tp is tuple) and isinstance(value, list):
        return tuple(value)
    return value


def validate_params(factory: Callable[..., Any], params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``params`` against the signature of ``factory``; return them ready to pass as keywords.

    Raises :class:`ConfigError` naming ``where`` and the offending key.
    """
    allowed = signature_parameters(factory)
    hints = type_hints(factory)
    checked: dict[str, Any] = {}
    for key, value in params.items():
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown key '{key}'{hint}; valid keys: {', '.join(allowed) or '(none)'}")
        tp = hints.get(key, _MISSING)
        if not _matches(value, tp):
            raise ConfigError(
                f"{where}: key '{key}' expects {describe_type(tp)}, got {value!r} ({type(value).__name__})"
            )
        checked[key] = _coerce(value, tp)
    missing = [n for n, p in allowed.items() if p.default is _MISSING and n not in checked]
    if missing:
        raise ConfigError(f"{where}: missing required key(s): {', '.join(missing)}")
    return checked


def describe_parameters(factory: Callable[..., Any]) -> list[tuple[str, str, str]]:
    """(name, type, default) rows for ``plugins info`` and the generated config reference."""
    hints = type_hints(factory)
    rows = []
    for name, p in signature_parameters(factory).items():
        default = "required" if p.default is _MISSING else repr(p.default)
        rows.append((name, describe_type(hints.get(name, p.annotation)), default))
    return rows

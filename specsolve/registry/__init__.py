"""Component registry: kinds, ``register`` / ``create`` / ``list``, lazy entry-point discovery.

Every component (model, solver, loss, metric, dataset, generator, optimizer, scheduler; and the PDEs and GP
benchmark problems, kinds ``pde`` and ``problem``) is a class or a typed factory function registered under
``(kind, name)``. Built-ins register with :func:`register`, the same decorator third parties use; third-party packages declare entry points in the group ``specsolve.<kind>s``
(e.g. ``[project.entry-points."specsolve.models"] unet = "my_pkg.unet:UNet"``), loaded lazily on first use.

The constructor signature of a component is its config schema: :func:`create` validates keys and types
against it (see :mod:`specsolve.registry.signature`) before anything is built.

A name that was renamed raises an error that names its successor (:data:`RENAMED`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

from specsolve.errors import RegistryError
from specsolve.registry.signature import validate_params

KINDS: tuple[str, ...] = (
    "model",
    "solver",
    "loss",
    "metric",
    "dataset",
    "generator",
    "optimizer",
    "scheduler",
    "pde",
    "problem",
    "reader",
)

# Packages whose every module is imported to register the built-in components (one component, one file).
BUILTIN_PACKAGES: tuple[str, ...] = (
    "specsolve.models",
    "specsolve.solvers",
    "specsolve.losses",
    "specsolve.metrics",
    "specsolve.data.modules",
    "specsolve.data.generators",
    "specsolve.training.optim",
    "specsolve.pde",
    "specsolve.data.readers",
)

T = TypeVar("T", bound=Callable[..., Any])

# (kind, old name) -> the message shown when a config still uses the old name
RENAMED: dict[tuple[str, str], str] = {
    ("model", "sfno"): (
        "model 'sfno' was renamed to 'st_fno' (the Spectral-Refiner spatiotemporal FNO); "
        "the spherical FNO of Bonev et al. is a separate component, 'spherical_fno'"
    ),
    ("dataset", "the_well"): "dataset 'the_well' was renamed to 'well' (the name of its file format)",
}


PLURALS = {"loss": "losses"}


def entry_point_group(kind: str) -> str:
    """The entry-point group of a kind: ``specsolve.models`` for ``model``, ``specsolve.losses`` for ``loss``."""
    return f"specsolve.{PLURALS.get(kind, kind + 's')}"


@dataclass
class Component:
    """One registered component. ``obj`` is None until a lazy entry point is loaded."""

    kind: str
    name: str
    obj: Callable[..., Any] | None = None
    distribution: str = "specsolve"
    entry_point: Any = field(default=None, repr=False)

    def load(self) -> Callable[..., Any]:
        if self.obj is None:
            try:
                self.obj = self.entry_point.load()
            except Exception as exc:  # a broken plugin must say which one
                raise RegistryError(
                    f"plugin {self.kind} '{self.name}' from '{self.distribution}' failed to load: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return self.obj

    @property
    def summary(self) -> str:
        """The first sentence of the docstring's first paragraph, as plain text (reStructuredText markup removed)."""
        doc = inspect.getdoc(self.obj) if self.obj is not None else None
        if not doc:
            return ""
        paragraph = " ".join(plain_text(doc).split("\n\n")[0].split())
        sentence = re.match(r"(.+?[.!?])(\s+[A-Z]|$)", paragraph)  # no cut inside "e.g." or "3.5"
        return sentence.group(1) if sentence else paragraph


_ROLE = re.compile(r":[\w:.-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")  # :class:`~a.B` -> B-ish, :func:`f <a.f>` -> f


def plain_text(doc: str) -> str:
    """``doc`` without reStructuredText markup: roles (``:class:`~pkg.Name``` -> ``Name``), double-backtick
    literals, and ``*emphasis*`` / ``**strong**``; a trailing ``::`` becomes ``:``."""

    def role(m: re.Match[str]) -> str:
        target = m.group(1).strip()
        return target.rsplit(".", 1)[-1] if m.group(0).split("`", 1)[1].startswith("~") else target

    text = _ROLE.sub(role, doc)
    text = re.sub(r"``(.+?)``", r"\1", text, flags=re.S)
    text = re.sub(r"(?<![\w*])\*\*(\S(?:.*?\S)?)\*\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])", r"\1", text)
    return re.sub(r"::(\s*)$", r":\1", text, flags=re.M)


class Registry:
    """Components by kind and name. Use the module-level functions rather than this class directly."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        self._builtins_loaded = False
        self._loading_builtins = False
        self._entry_points_loaded = False

    # -- registration -------------------------------------------------------------------------
    def add(self, kind: str, name: str, obj: Callable[..., Any], distribution: str = "specsolve") -> None:
        self._check_kind(kind)
        existing = self._components[kind].get(name)
        if existing is not None and existing.obj is not obj:
            raise RegistryError(f"duplicate {kind} name '{name}': already registered by '{existing.distribution}'")
        self._components[kind][name] = Component(kind, name, obj, distribution)

    def _add_entry_point(self, kind: str, ep: Any) -> None:
        dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown"
        existing = self._components[kind].get(ep.name)
        if existing is not None:
            if existing.entry_point is not None and existing.entry_point.value == ep.value:
                return  # the same entry point seen twice (e.g. editable installs)
            raise RegistryError(
                f"duplicate {kind} name '{ep.name}': '{dist}' and '{existing.distribution}' both register it"
            )
        self._components[kind][ep.name] = Component(kind, ep.name, None, dist, ep)

    # -- discovery ----------------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        if not self._builtins_loaded and not self._loading_builtins:
            self._loading_builtins = True
            try:
                for package_name in BUILTIN_PACKAGES:
                    package = importlib.import_module(package_name)
                    for info in pkgutil.iter_modules(package.__path__):
                        if not info.name.startswith("_"):
                            importlib.import_module(f"{package_name}.{info.name}")
            finally:
                self._loading_builtins = False
            self._builtins_loaded = True
        if not self._entry_points_loaded:
            for kind in KINDS:
                for ep in metadata.entry_points(group=entry_point_group(kind)):
                    self._add_entry_point(kind, ep)
            self._entry_points_loaded = True  # only once every group loaded: a duplicate error repeats, not hides

    # -- queries ------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Callable[..., Any]:
        self._check_kind(kind)
        self.ensure_loaded()
        component = self._components[kind].get(name)
        if component is None and (kind, name) in RENAMED:
            raise RegistryError(RENAMED[(kind, name)])
        if component is None:
            available = sorted(self._components[kind])
            close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
            raise RegistryError(f"unknown {kind} '{name}'; {hint}available: {', '.join(available) or '(none)'}")
        return component.load()

    def lookup(self, kind: str, name: str) -> Callable[..., Any] | None:
        """The component if it is registered already (its module imported), without discovery; else ``None``."""
        self._check_kind(kind)
        component = self._components[kind].get(name)
        return None if component is None or component.obj is None else component.obj

    def components(self, kind: str | None = None) -> list[Component]:
        self.ensure_loaded()
        kinds = KINDS if kind is None else (kind,)
        for k in kinds:
            self._check_kind(k)
        return [self._components[k][n] for k in kinds for n in sorted(self._components[k])]

    def find(self, name: str) -> list[Component]:
        """All components called ``name``, of any kind."""
        self.ensure_loaded()
        return [c for k in KINDS for n, c in self._components[k].items() if n == name]

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise RegistryError(f"unknown component kind '{kind}'; kinds: {', '.join(KINDS)}")


REGISTRY = Registry()


def register(kind: str, name: str) -> Callable[[T], T]:
    """Decorator registering a class or typed factory function as component ``name`` of ``kind``.

    >>> @register("model", "my_fno")
    ... class MyFNO(torch.nn.Module): ...
    """

    def decorator(obj: T) -> T:
        module = getattr(obj, "__module__", "") or ""
        distribution = "specsolve" if module.split(".")[0] == "specsolve" else module.split(".")[0]
        REGISTRY.add(kind, name, obj, distribution)
        return obj

    return decorator


def get(kind: str, name: str) -> Callable[..., Any]:
    """The class or factory registered as ``name`` of ``kind`` (loads plugins on first use)."""
    return REGISTRY.get(kind, name)


def create(kind: str, name: str, **params: Any) -> Any:
    """Build component ``name`` of ``kind`` after validating ``params`` against its signature."""
    factory = get(kind, name)
    checked = validate_params(factory, params, where=f"{kind} '{name}'")
    return factory(**checked)


def lookup(kind: str, name: str) -> Callable[..., Any] | None:
    """``name`` of ``kind`` if already registered (no plugin discovery: cheap), else ``None``; see :func:`get`."""
    return REGISTRY.lookup(kind, name)


def list_components(kind: str | None = None) -> list[Component]:
    """Every registered component, optionally of one kind, sorted by kind then name."""
    return REGISTRY.components(kind)


def is_registered(kind: str, name: str) -> bool:
    try:
        REGISTRY.get(kind, name)
    except RegistryError:
        return False
    return True

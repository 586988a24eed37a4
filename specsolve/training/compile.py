"""Model-wide options of the ``model:`` section that are not constructor arguments: ``compile``.

``model: {name: fno, ..., compile: true}`` or ``compile: {mode: max-autotune, dynamic: false}`` compiles the
network with ``torch.compile`` when training starts (:meth:`OperatorModule.setup` of the ``fit`` stage) through
``nn.Module.compile``, which compiles the module's call in place: no ``_orig_mod`` wrapper, so the state dict keys
are those of the eager model and checkpoints load with and without compilation. The option is kept in the saved
config; prediction, evaluation and export rebuild the model eagerly.
"""

from __future__ import annotations

from typing import Any, Literal

from specsolve.config.loading import component_spec
from specsolve.errors import ConfigError
from specsolve.registry.signature import validate_params

# keys of the model section read by the training module, never passed to the model's constructor
MODEL_OPTIONS = ("compile",)


def compile_settings(
    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None = None,
    dynamic: bool | None = None,
    fullgraph: bool = False,
    backend: str = "inductor",
) -> dict[str, Any]:
    """``model.compile`` as a mapping: the keywords of ``torch.compile`` (``compile: true`` = all defaults).

    ``mode``: inductor's preset (``reduce-overhead`` adds CUDA graphs); ``dynamic``: ``None`` specialises on the
    first shapes and recompiles once with symbolic shapes when they change, ``False`` always specialises;
    ``fullgraph``: an error instead of a graph break; ``backend``: a registered dynamo backend (``inductor``
    generates C++/OpenMP code on CPU and needs a C compiler; ``aot_eager`` traces without code generation).
    """
    return {"mode": mode, "dynamic": dynamic, "fullgraph": fullgraph, "backend": backend}


def compile_options(value: Any, where: str = "model.compile") -> dict[str, Any] | None:
    """The ``torch.compile`` keywords of a ``compile`` value (``None``: no compilation).

    ``false`` / ``null`` -> None, ``true`` -> defaults, a mapping -> checked against :func:`compile_settings`.
    """
    if value is None or value is False:
        return None
    if value is True:
        return compile_settings()
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be true, false or a mapping of torch.compile options, got {value!r}")
    options = compile_settings(**validate_params(compile_settings, value, where=where))
    import torch._dynamo

    backends = torch._dynamo.list_backends(exclude_tags=())
    if options["backend"] not in backends:
        raise ConfigError(f"{where}.backend: unknown backend {options['backend']!r}; available: {', '.join(backends)}")
    return options


def split_model_section(section: Any, where: str = "model") -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``{name, ...constructor keys, ...model options}`` -> ``(name, constructor params, model options)``;
    the options are validated here (a bad ``compile`` value fails before anything is built)."""
    name, params = component_spec(section, where)
    options = {key: params.pop(key) for key in MODEL_OPTIONS if key in params}
    compile_options(options.get("compile"), where=f"{where}.compile")
    return name, params, options

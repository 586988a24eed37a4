"""specsolve: a pluggable framework for learning and solving PDEs.

Public API::

    import specsolve
    model = specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[12, 12])
    specsolve.list_components("model")
    specsolve.register("model", "my_model")(MyModel)
    specsolve.train("configs/demo_fno_darcy.yaml", {"trainer.max_epochs": 2})   # and predict, evaluate, generate
"""

# light: specsolve.api imports torch / Lightning inside its functions only
from specsolve.api import evaluate, evaluate_resolutions, generate, predict, resolve_config, train  # noqa: E402
from specsolve.errors import ConfigError, DataError, RegistryError, SpecsolveError
from specsolve.registry import KINDS, create, get, is_registered, list_components, register
from specsolve.version import __version__

__all__ = [
    "KINDS",
    "ConfigError",
    "DataError",
    "RegistryError",
    "SpecsolveError",
    "__version__",
    "create",
    "evaluate",
    "evaluate_resolutions",
    "generate",
    "get",
    "is_registered",
    "list_components",
    "predict",
    "register",
    "resolve_config",
    "train",
]

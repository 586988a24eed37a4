"""specsolve: a pluggable framework for learning and solving PDEs.

Public API::

    import specsolve
    model = specsolve.create("model", "fno", in_channels=1, out_channels=1, modes=[12, 12])
    specsolve.list_components("model")
    specsolve.register("model", "my_model")(MyModel)
    specsolve.train("configs/demo_fno_darcy.yaml", {"trainer.max_epochs": 2})   # one function per CLI verb

The verbs (``specsolve.api``): train, resolve_config, solve, predict, export_model, evaluate, evaluate_resolutions,
rollout, generate, load_pretrained, data_inspect, data_convert (data_formats), data_export_well, plugins_list, plugins_info.
"""

# light: specsolve.api imports torch / Lightning inside its functions only; its __all__ (the verbs) is re-exported
from specsolve import api
from specsolve.api import *  # noqa: F403
from specsolve.errors import ConfigError, DataError, RegistryError, SpecsolveError
from specsolve.registry import KINDS, create, get, is_registered, list_components, register
from specsolve.version import __version__

__all__ = [
    *api.__all__,
    "KINDS",
    "ConfigError",
    "DataError",
    "RegistryError",
    "SpecsolveError",
    "__version__",
    "create",
    "get",
    "is_registered",
    "list_components",
    "register",
]

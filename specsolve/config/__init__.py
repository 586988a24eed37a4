"""Run configuration: OmegaConf YAML loading, overrides, schema and validation."""

from specsolve.config.loading import CONFIG_VERSION, load_config, to_container
from specsolve.registry.signature import validate_params

__all__ = ["CONFIG_VERSION", "load_config", "to_container", "validate_params"]

"""The one version source of specsolve (read by pyproject.toml and written into every file's provenance)."""

__version__ = "0.1.0"

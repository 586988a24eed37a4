"""Error types. Every user mistake raises a :class:`SpecsolveError`; the CLI turns it into one line and exit code 2."""

from __future__ import annotations


class SpecsolveError(Exception):
    """A problem the user can fix (bad config, unknown component, missing or malformed file)."""


class ConfigError(SpecsolveError):
    """A config key, value or type is wrong."""


class RegistryError(SpecsolveError):
    """A component name is unknown or registered twice."""


class DataError(SpecsolveError):
    """A data file is missing, unreadable or inconsistent."""

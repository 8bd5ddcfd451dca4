"""Exception types that fplab raises besides the built-in ``TypeError``/``ValueError``."""

from __future__ import annotations

__all__ = ["ConfigError", "NumericalError"]


class ConfigError(ValueError):
    """A spec file (grid or study TOML) is wrong; the message names the file, table and key."""


class NumericalError(RuntimeError):
    """A computation produced NaN/inf or lost probability mass beyond its tolerance."""

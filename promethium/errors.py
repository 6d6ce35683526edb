"""Exception types whose message is shown to the user as-is by ``run.py``."""

from __future__ import annotations


class PromethiumError(Exception):
    """Base class for user-facing errors: the message names the key or file at fault."""


class ConfigError(PromethiumError, ValueError):
    """A configuration value is invalid; the message names the key and the allowed values.

    Library code knows its parameters, not where a config put them: it raises
    :meth:`for_parameter`, and the config layer (``promethium.config.build_node``), which
    knows the node it was building, prefixes the key path with :meth:`at`.
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    @classmethod
    def for_parameter(cls, param: str, got: object, allowed: str) -> ConfigError:
        """``param: got X; allowed: ...`` for a constructor parameter ``param``."""
        return cls(f"{param}: got {got!r}; allowed: {allowed}", param=param)

    def renamed(self, key: str) -> ConfigError:
        """The same error with its parameter replaced by the full config ``key``."""
        if self.param is None:
            return self
        return ConfigError(f"{key}{str(self)[len(self.param) :]}")

    def at(self, node: str) -> ConfigError:
        """The same error named by its full config key, ``<node>.<param>``."""
        if self.param is None or not node:
            return self
        return ConfigError(f"{node}.{self}")


class DataError(PromethiumError, ValueError):
    """Input data (a file, store or array) is missing, malformed or unsuitable."""

"""Exception types whose message is shown to the user as-is by ``run.py``."""


class PromethiumError(Exception):
    """Base class for user-facing errors: the message names the key or file at fault."""


class ConfigError(PromethiumError, ValueError):
    """A configuration value is invalid; the message names the key and the allowed values."""


class DataError(PromethiumError, ValueError):
    """Input data (a file, store or array) is missing, malformed or unsuitable."""

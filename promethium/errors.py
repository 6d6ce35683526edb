"""Exception types whose message is shown to the user as-is by ``run.py``."""

from __future__ import annotations

import errno
import signal
from collections.abc import Iterator
from contextlib import contextmanager


class PromethiumError(Exception):
    """Base class for user-facing errors: the message names the key or file at fault."""


class ConfigError(PromethiumError, ValueError):
    """A configuration value is invalid; the message names the key and the allowed values.

    Library code knows its parameters, not where a config put them: it raises
    :meth:`for_parameter` or :meth:`about`, and the config layer names the key: a builder
    (``promethium.config.build_node``, ``build_model``) prefixes the node it was building
    with :meth:`at`; an error raised later, while the task runs, is named by
    ``promethium.config.locate_parameter`` (the one place that maps a parameter to a key).
    ``param`` is the key the message starts with (``None`` for a message about no key).
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    @classmethod
    def for_parameter(cls, param: str, got: object, allowed: str) -> ConfigError:
        """``param: got X; allowed: ...`` for a constructor parameter ``param``."""
        return cls(f"{param}: got {got!r}; allowed: {allowed}", param=param)

    @classmethod
    def about(cls, param: str, text: str) -> ConfigError:
        """``param: text`` for a constructor parameter ``param`` (a free-form complaint)."""
        return cls(f"{param}: {text}", param=param)

    def renamed(self, key: str) -> ConfigError:
        """The same error with its parameter replaced by the full config ``key``."""
        if self.param is None:
            return self
        return ConfigError(f"{key}{str(self)[len(self.param) :]}", param=key)

    def at(self, node: str) -> ConfigError:
        """The same error named by its key under ``node``, ``<node>.<param>``.

        The result keeps the longer key as its ``param``, so an enclosing builder can
        prefix its own node in turn (``backbone.depth`` -> ``model.backbone.depth``).
        """
        if self.param is None or not node:
            return self
        return ConfigError(f"{node}.{self}", param=f"{node}.{self.param}")


class DataError(PromethiumError, ValueError):
    """Input data (a file, store or array) is missing, malformed or unsuitable."""


class Interrupted(Exception):
    """A run stopped by a signal (``SIGTERM`` from a scheduler, ``SIGINT``: Ctrl-C).

    Not a :class:`PromethiumError`: nothing was wrong with the input, and the run folder
    keeps its checkpoints for a resume. ``run.py`` ends with :attr:`exit_status`
    (``128 + signal``, as a shell reports a process killed by it) and one line saying how
    to resume.
    """

    def __init__(self, signum: int, where: str) -> None:
        self.signum, self.where = int(signum), where
        name = signal.Signals(self.signum).name
        super().__init__(f"stopped by {name} {where}")

    @property
    def exit_status(self) -> int:
        """``128 + signal``."""
        return 128 + self.signum


#: file-system refusals of a write that are the environment's, not a bug: read-only,
#: no permission, file-size limit, disk or quota full
STORAGE_ERRNOS = ("EROFS", "EACCES", "EPERM", "EFBIG", "ENOSPC", "EDQUOT")


def storage_error(err: OSError) -> DataError | None:
    """A refused write as one :class:`DataError` naming the file, or ``None`` for others.

    Every writer publishes its output by renaming a complete temporary sibling
    (``promethium.files.atomic_path``), so when a write is refused the previous output,
    if any, is intact: the message says so.
    """
    name = errno.errorcode.get(err.errno or 0, "")
    if name not in STORAGE_ERRNOS:
        return None
    where = err.filename or "output"
    return DataError(
        f"{where}: {err.strerror or err} ({name}); nothing was replaced: choose a writable "
        "place with room for the output"
    )


@contextmanager
def refused_writes() -> Iterator[None]:
    """Raise a refused write (see :func:`storage_error`) as its :class:`DataError`.

    Other ``OSError`` s go on up unchanged: they are bugs, and their traceback is wanted.
    """
    try:
        yield
    except OSError as err:
        refused = storage_error(err)
        if refused is None:
            raise
        raise refused from err

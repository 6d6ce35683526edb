"""The private attributes of Hydra and Optuna that the sweeper needs, in one place.

Each is read through one function here, and ``tests/test_adapters.py`` checks that it
still exists, so a library upgrade that moves it fails one named test instead of a
sweep in the middle of the night.

- Hydra: a failed job's exception is kept in ``JobReturn._return_value`` (the public
  ``return_value`` re-raises it).
- Optuna: the study's storage (``Study._storage``) and a trial's storage id
  (``FrozenTrial._trial_id``, ``Trial._trial_id``) are needed to fail stale trials,
  record heartbeats and copy a duplicate's outcome; Optuna offers no public handle.
"""

from __future__ import annotations

from typing import Any

from hydra.core.utils import JobReturn


def job_exception(result: JobReturn) -> BaseException | None:
    """The exception a failed job raised (Hydra keeps it in ``_return_value``)."""
    value = result._return_value
    return value if isinstance(value, BaseException) else None


def study_storage(study: Any) -> Any:
    """The storage object behind an ``optuna.Study``."""
    return study._storage


def trial_id(trial: Any) -> int:
    """The storage id of an ``optuna.Trial`` or ``FrozenTrial`` (not its number)."""
    return int(trial._trial_id)

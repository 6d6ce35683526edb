"""Optuna pruning inside a launched sweep job (see ``hydra_plugins.promethium_optuna``).

The Optuna sweeper passes the trial's identity in the job's config (``optuna_trial``:
``study_name``, ``storage``, ``number``, ``trial_id``, ``pruner``). The job re-opens
that trial from the storage with the sweep's pruner, reports the monitored validation
metric each epoch through optuna-integration's Lightning callback, and raises
``optuna.TrialPruned`` when the pruner says so; the sweeper records the trial PRUNED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promethium.errors import ConfigError

PRUNERS = ("median", "successive_halving", "hyperband", "none")


def make_pruner(conf: Any) -> Any:
    """An Optuna pruner from ``{name: median|successive_halving|hyperband|none, **kwargs}``.

    The sweeper and every job build the same pruner from the same config: Optuna does
    not keep the pruner in the storage, and a job's ``should_prune`` uses its own.

    Raises:
        ConfigError: naming ``hydra.sweeper.pruner.name``.
    """
    import optuna

    classes = {
        "median": optuna.pruners.MedianPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "none": optuna.pruners.NopPruner,
    }
    kwargs = dict(conf or {})
    name = kwargs.pop("name", None)
    if name not in classes:
        raise ConfigError(f"hydra.sweeper.pruner.name: got {name!r}; allowed: {', '.join(PRUNERS)}")
    return classes[name](**kwargs)


def open_storage(url: str) -> Any:
    """An Optuna storage from its URL (``journal:///file`` for the journal file backend)."""
    import optuna

    if url.startswith("journal://"):
        backend = optuna.storages.journal.JournalFileBackend(url.removeprefix("journal://"))
        return optuna.storages.JournalStorage(backend)
    return url


def pruning_callback(trial: Mapping[str, Any] | None, monitor: str) -> Any | None:
    """The pruning callback for this job's trial, or ``None`` outside an Optuna sweep.

    Args:
        trial: the job's ``optuna_trial`` (plain values), or ``None``.
        monitor: the metric reported to the pruner each epoch.

    Multi-objective studies cannot prune (Optuna's ``Trial.report`` refuses them).
    """
    info = dict(trial or {})
    if info.get("trial_id") is None:
        return None
    import optuna
    from optuna_integration import PyTorchLightningPruningCallback

    pruner = make_pruner(info.get("pruner"))
    study = optuna.load_study(
        study_name=str(info["study_name"]), storage=open_storage(info["storage"]), pruner=pruner
    )
    if len(study.directions) > 1:
        return None
    return PyTorchLightningPruningCallback(
        optuna.trial.Trial(study, int(info["trial_id"])), monitor=monitor
    )

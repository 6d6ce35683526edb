"""Structured configs of ``hydra/sweeper=optuna`` and its sampler and pruner groups.

The keys follow the old ``hydra-optuna-sweeper`` plugin (``direction``, ``n_trials``,
``n_jobs``, ``study_name``, ``storage``, ``sampler``, ``params``, ``max_failure_rate``,
``custom_search_space``), plus ``pruner``, heartbeat settings and result plots.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

# No ``from __future__ import annotations`` and ``Optional`` rather than ``X | None``:
# Hydra loads plugin modules without registering them in ``sys.modules``, where
# dataclasses cannot resolve string annotations, and OmegaConf reads these types.

PACKAGE = "hydra.sweeper"


# Samplers and pruners are named (``name``) rather than ``_target_``-ed: Hydra builds a
# sweeper by recursive instantiation, and a grid sampler cannot be built before the
# search space is known. Every other key is passed to the Optuna class.


@dataclass
class SamplerConf:
    """Any Optuna sampler: ``name`` picks the class, the other keys are its arguments."""

    name: str = "tpe"
    seed: Optional[int] = None


@dataclass
class TPESamplerConf(SamplerConf):
    """``optuna.samplers.TPESampler``."""

    name: str = "tpe"
    n_startup_trials: int = 10
    multivariate: bool = False


@dataclass
class RandomSamplerConf(SamplerConf):
    """``optuna.samplers.RandomSampler``."""

    name: str = "random"


@dataclass
class CmaEsSamplerConf(SamplerConf):
    """``optuna.samplers.CmaEsSampler``."""

    name: str = "cmaes"
    n_startup_trials: int = 1


@dataclass
class GridSamplerConf(SamplerConf):
    """The grid comes from ``params`` (choices and ranges); intervals are refused."""

    name: str = "grid"


@dataclass
class NSGAIISamplerConf(SamplerConf):
    """``optuna.samplers.NSGAIISampler`` (multi-objective)."""

    name: str = "nsgaii"
    population_size: int = 50


@dataclass
class PrunerConf:
    """No pruning (``optuna.pruners.NopPruner``); ``name`` picks the class."""

    name: str = "none"


@dataclass
class MedianPrunerConf(PrunerConf):
    """``optuna.pruners.MedianPruner``."""

    name: str = "median"
    n_startup_trials: int = 2
    n_warmup_steps: int = 1
    interval_steps: int = 1


@dataclass
class SuccessiveHalvingPrunerConf(PrunerConf):
    """``optuna.pruners.SuccessiveHalvingPruner``."""

    name: str = "successive_halving"
    min_resource: Any = "auto"
    reduction_factor: int = 3


@dataclass
class HyperbandPrunerConf(PrunerConf):
    """``optuna.pruners.HyperbandPruner``."""

    name: str = "hyperband"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3


@dataclass
class OptunaSweeperConf:
    """``hydra.sweeper`` when ``hydra/sweeper=optuna``."""

    _target_: str = "hydra_plugins.promethium_optuna.sweeper.OptunaSweeper"
    defaults: list[Any] = field(
        default_factory=lambda: ["_self_", {"sampler": "tpe"}, {"pruner": "median"}]
    )
    sampler: Any = None
    pruner: Any = None
    #: ``minimize`` / ``maximize``, or a list of them (multi-objective: the job returns a list)
    direction: Any = "maximize"
    #: trials in the study when the sweep ends (completed + pruned + failed), resumes included
    n_trials: int = 20
    #: trials launched per batch through the configured Hydra launcher
    n_jobs: int = 1
    study_name: str = "promethium"
    #: Optuna storage URL; null: a SQLite file ``optuna.db`` in the sweep folder.
    #: ``journal:///path/file.log`` selects Optuna's journal file storage.
    storage: Optional[str] = None
    #: search space in Hydra's override grammar, e.g. ``{model.depth: choice(2,3)}``
    params: dict[str, Any] = field(default_factory=dict)
    #: ``module.function(trial)`` adding conditional parameters; returns overrides dict
    custom_search_space: Optional[str] = None
    #: stop the sweep when more than this fraction of the finished trials failed
    max_failure_rate: float = 0.25
    #: seconds between heartbeats of running trials; a trial silent for ``grace_period``
    #: seconds (its sweep was killed) is failed and retried with the same parameters
    heartbeat_interval: int = 5
    grace_period: int = 15
    #: write optimisation-history / parameter-importance figures (PNG) at the end
    plots: bool = True
    #: a trial whose parameters equal a completed trial's takes that trial's values instead
    #: of training again (jobs are seeded, so it would repeat the same run); it counts
    #: towards ``n_trials``. Samplers repeat themselves on small categorical spaces.
    skip_duplicates: bool = True


def register() -> None:
    """Register the sweeper and its sampler/pruner options with Hydra's ConfigStore."""
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="promethium")
    samplers = {
        "tpe": TPESamplerConf,
        "random": RandomSamplerConf,
        "cmaes": CmaEsSamplerConf,
        "grid": GridSamplerConf,
        "nsgaii": NSGAIISamplerConf,
    }
    for name, node in samplers.items():
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="promethium")
    pruners = {
        "median": MedianPrunerConf,
        "successive_halving": SuccessiveHalvingPrunerConf,
        "hyperband": HyperbandPrunerConf,
        "none": PrunerConf,
    }
    for name, node in pruners.items():
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="promethium")


register()

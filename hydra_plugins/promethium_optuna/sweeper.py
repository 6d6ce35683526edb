"""The Hydra Sweeper: ask Optuna for trials, launch them in batches, tell the outcomes.

Each launched job gets its trial's identity in its config (``optuna_trial.*``), so the
train task can report validation metrics to the study and stop when the pruner says
so (``promethium.ml.pruning``); the job then raises ``optuna.TrialPruned`` and the trial
is recorded PRUNED. A job that raises anything else, or returns NaN/inf, is recorded
FAIL and the sweep goes on, up to ``max_failure_rate``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.promethium_optuna.study import SweepRun
from promethium.errors import PromethiumError

log = logging.getLogger(__name__)


class OptunaSweeper(Sweeper):
    """``hydra/sweeper=optuna``: see :class:`~.config.OptunaSweeperConf` for the keys."""

    def __init__(self, **settings: Any) -> None:
        self.settings = {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in settings.items()
        }
        self.launcher = None
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        try:
            return SweepRun(self.settings, sweep_dir, self.launcher, arguments, self.config).run()
        except PromethiumError as err:
            # Hydra prints a traceback around any exception of a sweeper; a bad sweep
            # setting is one line on stderr and exit status 2, as a bad job setting is
            print(f"Error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

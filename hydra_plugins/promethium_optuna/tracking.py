"""A sweep in MLflow: one parent run named after the study, one child run per trial.

With ``logger=mlflow`` (or ``many``) the sweeper opens the parent run before the first
trial and passes its id to every job (``optuna_trial.mlflow_parent_run_id``); the
train task tags its own MLflow run as the parent's child (``mlflow.parentRunId``, which
``mlflow ui`` shows as one expandable entry). Once a trial is told, its child run gets
the trial number, parameters and final state (``optuna.state``: COMPLETE, PRUNED, FAIL
or DUPLICATE); trials that ran no job (a repeat of another's parameters, a job that
failed before its logger started) get a child run made here. At the end the parent
holds ``optimization_results.yaml``, the study's figures and the best value.

The parent is found again by its sweep key (storage URL and study name), so a killed
sweep started again appends to the same parent. Several trials at once write one SQLite
store: it is switched to write-ahead logging before the first trial (readers do not
block the writer; writers wait on each other instead of failing at once) and created
by the sweeper alone, so no two jobs race to build its schema.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

SWEEP_TAG = "promethium.sweep"
#: MLflow run status for each final trial state
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "DUPLICATE": "FINISHED"}
#: how long a writer waits for another's lock on the SQLite store (ms)
BUSY_TIMEOUT_MS = 30_000


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///FILE`` tracking URI; None for other stores."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def prepare_sqlite(path: Path) -> None:
    """Create the folder and switch the database to write-ahead logging (persistent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000) as db:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=WAL")


def trial_state(trial: optuna.trial.FrozenTrial, duplicate_attr: str) -> str:
    """``COMPLETE``, ``PRUNED``, ``FAIL`` or ``DUPLICATE`` (a repeat that reused a result)."""
    if duplicate_attr in trial.user_attrs:
        return "DUPLICATE"
    return trial.state.name


class SweepTracking:
    """The MLflow side of one sweep (see the module docstring).

    Args:
        tracking_uri: the MLflow store (``logger.mlflow.tracking_uri``).
        experiment_name: the MLflow experiment (``logger.mlflow.experiment_name``).
        artifact_location: where a new experiment keeps artifacts (or None).
        study_name: the Optuna study, the parent run's name.
        storage_url: the Optuna storage; with ``study_name`` it identifies the sweep.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment_name: str,
        artifact_location: str | None,
        study_name: str,
        storage_url: str,
    ) -> None:
        self.tracking_uri, self.experiment_name = tracking_uri, experiment_name
        self.artifact_location, self.study_name = artifact_location, study_name
        self.key = hashlib.sha256(f"{storage_url}|{study_name}".encode()).hexdigest()[:16]
        self.storage_url = storage_url
        self.parent_id: str | None = None
        self._client: Any = None
        self._experiment_id: str | None = None
        self._recorded: set[int] = set()

    @classmethod
    def from_config(
        cls, config: DictConfig, study_name: str, storage_url: str
    ) -> SweepTracking | None:
        """The tracking of a sweep whose jobs log to MLflow; None without ``logger.mlflow``."""
        node = OmegaConf.select(config, "logger.mlflow")
        if node is None:
            return None
        uri = str(OmegaConf.select(config, "logger.mlflow.tracking_uri"))
        name = str(OmegaConf.select(config, "logger.mlflow.experiment_name") or "promethium")
        artifacts = OmegaConf.select(config, "logger.mlflow.artifact_location")
        return cls(
            uri, name, None if artifacts is None else str(artifacts), study_name, storage_url
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def start(self) -> str:
        """Open (or find again) the parent run; returns its id."""
        db = sqlite_path(self.tracking_uri)
        if db is not None:
            prepare_sqlite(db)
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        self._experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self.client.create_experiment(
                self.experiment_name, artifact_location=self.artifact_location
            )
        )
        found = self.client.search_runs(
            [self._experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = '{self.key}'", max_results=1
        )
        if found:
            self.parent_id = found[0].info.run_id
            self.client.update_run(self.parent_id, status="RUNNING")
            log.info("MLflow: the sweep continues in parent run %s", self.parent_id)
        else:
            run = self.client.create_run(
                self._experiment_id,
                run_name=self.study_name,
                tags={
                    SWEEP_TAG: self.key,
                    "optuna.study": self.study_name,
                    "optuna.storage": self.storage_url,
                },
            )
            self.parent_id = run.info.run_id
            log.info("MLflow: sweep parent run %s (%s)", self.parent_id, self.study_name)
        return self.parent_id

    def job_overrides(self) -> list[str]:
        """What each job needs to make its run a child of the parent."""
        return [f"++optuna_trial.mlflow_parent_run_id={self.parent_id}"]

    def child_run(self, number: int) -> Any:
        """The child run of trial ``number`` (made by its job, or earlier here), or None."""
        found = self.client.search_runs(
            [self._experiment_id],
            filter_string=(
                f"tags.`mlflow.parentRunId` = '{self.parent_id}' "
                f"and tags.`optuna.trial` = '{number}'"
            ),
            max_results=1,
        )
        return found[0] if found else None

    def record(self, trial: optuna.trial.FrozenTrial, duplicate_attr: str) -> None:
        """Give trial ``trial``'s child run its number, parameters and final state."""
        state = trial_state(trial, duplicate_attr)
        run = self.child_run(trial.number)
        if run is None:  # no job ran (a duplicate) or it failed before logging
            run = self.client.create_run(
                self._experiment_id,
                run_name=f"trial-{trial.number}",
                tags={
                    "mlflow.parentRunId": self.parent_id,
                    "optuna.trial": str(trial.number),
                    "optuna.study": self.study_name,
                },
            )
            for name, value in trial.params.items():
                self.client.log_param(run.info.run_id, name, value)
        run_id = run.info.run_id
        for name, value in trial.params.items():
            self.client.set_tag(run_id, f"optuna.param.{name}", str(value))
        if state == "DUPLICATE":
            self.client.set_tag(
                run_id, "optuna.duplicate_of", str(trial.user_attrs[duplicate_attr])
            )
        if trial.values and len(trial.values) == 1:
            self.client.log_metric(run_id, "optuna/value", float(trial.values[0]))
        self.client.set_tag(run_id, "optuna.state", state)  # last: marks the run recorded
        self.client.set_terminated(run_id, status=RUN_STATUS[state])
        self._recorded.add(trial.number)

    def record_finished(self, study: optuna.Study, duplicate_attr: str, skip_attr: str) -> None:
        """Record every finished trial whose child run has no final state yet (idempotent).

        Trials with ``skip_attr`` (asked in a race and given back, never run) are not
        trials of this sweep and get no run.
        """
        for trial in study.get_trials(deepcopy=False):
            if not trial.state.is_finished() or trial.number in self._recorded:
                continue
            if skip_attr in trial.user_attrs:
                continue
            run = self.child_run(trial.number)
            if run is not None and "optuna.state" in run.data.tags:
                self._recorded.add(trial.number)  # recorded by an earlier sweep process
                continue
            self.record(trial, duplicate_attr)

    def finish(self, sweep_dir: Path, results: dict[str, Any], status: str = "FINISHED") -> None:
        """Attach the sweep's results and figures to the parent and close it."""
        for name in ("optimization_results.yaml", "trials.csv"):
            if (sweep_dir / name).is_file():
                self.client.log_artifact(self.parent_id, str(sweep_dir / name))
        for figure in sorted(sweep_dir.glob("*.png")):
            self.client.log_artifact(self.parent_id, str(figure), artifact_path="figures")
        if results.get("best_value") is not None:
            self.client.log_metric(self.parent_id, "best_value", float(results["best_value"]))
            self.client.set_tag(self.parent_id, "best_trial", str(results["best_trial"]["number"]))
        self.client.set_terminated(self.parent_id, status=status)

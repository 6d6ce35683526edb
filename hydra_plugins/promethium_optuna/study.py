"""One sweep: open (or resume) the study, run trials in batches, write the results."""

from __future__ import annotations

import importlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hydra_plugins.promethium_optuna import search_space
from hydra_plugins.promethium_optuna.adapters import study_storage, trial_id
from hydra_plugins.promethium_optuna.outcomes import outcome
from hydra_plugins.promethium_optuna.results import write_results
from hydra_plugins.promethium_optuna.tracking import SweepTracking
from promethium.errors import ConfigError
from promethium.ml.pruning import make_pruner, open_storage

log = logging.getLogger(__name__)


def _quiet_experimental(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Heartbeats and their retry callback are marked experimental; we use them knowingly."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return fn(*args, **kwargs)

    return wrapped


SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "grid": optuna.samplers.GridSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
}
#: trial attribute marking failures of the job itself (they count towards n_trials;
#: trials failed because their sweep died are retried instead)
JOB_FAILURE = "promethium:failure"
HEARTBEAT = "promethium:heartbeat"
#: trial attribute marking trials given back because another sweep took the last slots
SURPLUS = "promethium:surplus"
#: trial attribute: the number of the trial whose values a duplicate took (not launched)
DUPLICATE_OF = "promethium:duplicate_of"


def _named(kind: str, table: dict[str, Any], conf: dict[str, Any] | None, **extra: Any) -> Any:
    conf = dict(conf or {})
    name = conf.pop("name", None)
    if name not in table:
        raise ConfigError(f"hydra.sweeper.{kind}.name: got {name!r}; allowed: {', '.join(table)}")
    return table[name](**extra, **conf)


class SweepRun:
    """State of one ``sweep(arguments)`` call."""

    def __init__(
        self,
        settings: dict[str, Any],
        sweep_dir: Path,
        launcher: Any,
        arguments: list[str],
        config: Any = None,
    ) -> None:
        self.s = settings
        self.sweep_dir = sweep_dir
        self.launcher = launcher
        self.space, self.fixed = search_space.parse(settings.get("params"), arguments)
        self.custom = _load_custom(settings.get("custom_search_space"))
        self.config = config
        directions = settings["direction"]
        self.directions = [directions] if isinstance(directions, str) else list(directions)
        for d in self.directions:
            if d not in ("minimize", "maximize"):
                raise ConfigError(
                    f"hydra.sweeper.direction: got {d!r}; allowed: minimize, maximize, or a list"
                )
        n_trials, n_jobs = settings["n_trials"], settings["n_jobs"]
        if not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(f"hydra.sweeper.n_trials: got {n_trials!r}; allowed: an int >= 1")
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_jobs: got {n_jobs!r}; allowed: an int >= 1")
        self.tracking: SweepTracking | None = None

    # --- study -----------------------------------------------------------------------

    @_quiet_experimental
    def storage(self) -> tuple[Any, str]:
        """The storage object and its URL (default: ``optuna.db`` in the sweep folder)."""
        url = self.s.get("storage") or f"sqlite:///{(self.sweep_dir / 'optuna.db').resolve()}"
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        if url.startswith("journal://"):
            return open_storage(url), url
        if url.startswith(("sqlite:", "mysql", "postgresql")):
            storage = optuna.storages.RDBStorage(
                url,
                heartbeat_interval=self.s["heartbeat_interval"],
                grace_period=self.s["grace_period"],
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
            return storage, url
        raise ConfigError(
            f"hydra.sweeper.storage: got {url!r}; allowed: null (SQLite in the sweep folder), "
            "sqlite:///FILE, mysql://..., postgresql://..., journal:///FILE"
        )

    def open_study(self) -> optuna.Study:
        storage, self.storage_url = self.storage()
        extra = {"search_space": search_space.grid(self.space)} if self._sampler_is_grid() else {}
        sampler_conf = dict(self.s.get("sampler") or {})
        asked = self.trials_so_far(storage)
        if asked and sampler_conf.get("seed") is not None:
            # a resumed study: a sampler seeded as the first run was would propose the
            # first run's parameters again; continue its random stream instead
            sampler_conf["seed"] = int(sampler_conf["seed"]) + asked
            log.info(
                "Resumed study: sampler seed %d (seed + %d trials)", sampler_conf["seed"], asked
            )
        sampler = _named("sampler", SAMPLERS, sampler_conf, **extra)
        pruner = make_pruner(self.s.get("pruner"))
        return optuna.create_study(
            study_name=self.s["study_name"],
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            directions=self.directions,
            load_if_exists=True,
        )

    def trials_so_far(self, storage: Any) -> int:
        """How many trials the study already holds in ``storage`` (0 for a new study)."""
        try:
            existing = optuna.load_study(study_name=self.s["study_name"], storage=storage)
        except KeyError:  # no such study yet
            return 0
        return len(existing.get_trials(deepcopy=False))

    def _sampler_is_grid(self) -> bool:
        return (self.s.get("sampler") or {}).get("name") == "grid"

    # --- bookkeeping -------------------------------------------------------------------

    def tally(self, study: optuna.Study) -> tuple[int, int]:
        """``(counted, running)``: trials that count towards ``n_trials``, and running ones."""
        counted = running = 0
        for t in study.get_trials(deepcopy=False):
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                counted += 1
            elif t.state == TrialState.FAIL and JOB_FAILURE in t.user_attrs:
                counted += 1
            elif t.state == TrialState.RUNNING:
                running += 1
        return counted, running

    @_quiet_experimental
    def fail_stale(self, study: optuna.Study) -> None:
        """Fail trials whose sweep died (no heartbeat for ``grace_period``) and retry them."""
        storage = study_storage(study)
        if not isinstance(storage, optuna.storages.JournalStorage):
            optuna.storages.fail_stale_trials(study)  # RDB: Optuna's own heartbeat
            return
        # journal storage: Optuna has no heartbeat there; we keep our own in system attrs
        now = time.time()
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            beat = t.system_attrs.get(HEARTBEAT, t.datetime_start.timestamp())
            if now - beat > self.s["grace_period"]:
                try:
                    storage.set_trial_state_values(trial_id(t), state=TrialState.FAIL)
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue
                RetryHeartbeatStaleTrialCallback(max_retry=3)(study, storage.get_trial(trial_id(t)))

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> Any:
        study = self.open_study()
        self.tracking = SweepTracking.from_config(self.config, study.study_name, self.storage_url)
        if self.tracking is not None:
            self.tracking.start()  # before any job: the jobs' runs are its children
        self.fail_stale(study)
        counted, running = self.tally(study)
        if counted:
            log.info("Resuming study %r: %d trials already done", study.study_name, counted)
        failures = 0
        while True:
            counted, running = self.tally(study)
            todo = self.s["n_trials"] - counted - running
            if todo <= 0:
                if running == 0:
                    break
                time.sleep(self.s["heartbeat_interval"])  # others' trials: wait or fail stale
                self.fail_stale(study)
                continue
            batch = self.drop_surplus(
                study, [self.ask(study) for _ in range(min(self.s["n_jobs"], todo))]
            )
            batch, twins = self.split_duplicates(study, batch)
            if batch:
                waiting = [t for t, _ in batch] + [t for t, _ in twins]  # twins wait alive
                with _Heartbeats(study, waiting, self.s["heartbeat_interval"]):
                    launched = self.launch_numbered(batch)
                for (trial, _), result in zip(batch, launched, strict=True):
                    failures += self.tell(study, trial, result)
            for trial, original in twins:
                self.copy_outcome(study, trial, study_storage(study).get_trial(trial_id(original)))
            self.track(study)
            finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
            if failures and failures / max(finished, 1) > self.s["max_failure_rate"]:
                results = write_results(study, self.sweep_dir, self.directions, False)
                if self.tracking is not None:
                    self.tracking.finish(self.sweep_dir, results, status="FAILED")
                raise RuntimeError(
                    f"Optuna sweep: {failures} of {finished} trials failed, more than "
                    f"hydra.sweeper.max_failure_rate={self.s['max_failure_rate']}"
                )
        results = write_results(study, self.sweep_dir, self.directions, self.s.get("plots", True))
        self.track(study)
        if self.tracking is not None:
            self.tracking.finish(self.sweep_dir, results)
        return results

    def launch_numbered(self, batch: list[tuple[optuna.Trial, list[str]]]) -> list[Any]:
        """Launch the batch with ``hydra.job.num`` (and so the job folder) = trial number.

        The storage numbers trials once for the whole study, so a resumed sweep, or two
        sweep processes sharing one study and one sweep folder, can never give a new
        trial the folder of a finished one. Hydra numbers a launch's jobs consecutively
        from ``initial_job_idx``: trials with consecutive numbers go in one launch (in
        parallel with a parallel launcher), others in launches of their own.
        """
        results: list[Any] = []
        start = 0
        for end in range(1, len(batch) + 1):
            if end < len(batch) and batch[end][0].number == batch[end - 1][0].number + 1:
                continue
            group = batch[start:end]
            results += list(
                self.launcher.launch([o for _, o in group], initial_job_idx=group[0][0].number)
            )
            start = end
        return results

    def track(self, study: optuna.Study) -> None:
        """Give finished trials their MLflow child runs (with ``logger.mlflow``)."""
        if self.tracking is not None:
            self.tracking.record_finished(study, DUPLICATE_OF, SURPLUS)

    def drop_surplus(
        self, study: optuna.Study, batch: list[tuple[optuna.Trial, list[str]]]
    ) -> list[tuple[optuna.Trial, list[str]]]:
        """Give back trials beyond ``n_trials`` asked in a race with other sweep processes.

        Several sweeps sharing one study (one storage URL and study name, e.g. on several
        machines) may each see one slot left and ask at once. The storage numbers trials
        in order, so after asking every process sees the same live trials: those among
        the first ``n_trials`` live ones run, the others are closed as FAIL with the
        ``surplus`` attribute, never launched and not counted.
        """
        live = sorted(
            t.number
            for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
            or t.state == TrialState.WAITING
            or (t.state == TrialState.FAIL and JOB_FAILURE in t.user_attrs)
        )
        allowed = set(live[: self.s["n_trials"]])
        kept = []
        for trial, overrides in batch:
            if trial.number in allowed:
                kept.append((trial, overrides))
                continue
            trial.set_user_attr(SURPLUS, "asked in a race with another sweep process")
            study.tell(trial, state=TrialState.FAIL)
        return kept

    def split_duplicates(
        self, study: optuna.Study, batch: list[tuple[optuna.Trial, list[str]]]
    ) -> tuple[list[tuple[optuna.Trial, list[str]]], list[tuple[optuna.Trial, optuna.Trial]]]:
        """Close trials that repeat a completed trial's parameters; pair in-batch repeats.

        Returns the trials to launch, and ``(trial, original)`` pairs of trials asked in
        this batch with the parameters of another one in it: they take its outcome once
        it is known (:meth:`copy_outcome`). With ``skip_duplicates: false`` every trial runs.
        """
        if not self.s.get("skip_duplicates", True):
            return batch, []
        done = {
            _params_key(t.params): t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        }
        launch: list[tuple[optuna.Trial, list[str]]] = []
        twins: list[tuple[optuna.Trial, optuna.Trial]] = []
        leaders: dict[tuple, optuna.Trial] = {}
        for trial, overrides in batch:
            key = _params_key(trial.params)
            if key in done:
                self.copy_outcome(study, trial, done[key])
            elif key in leaders:
                twins.append((trial, leaders[key]))
            else:
                leaders[key] = trial
                launch.append((trial, overrides))
        return launch, twins

    def copy_outcome(
        self, study: optuna.Study, trial: optuna.Trial, original: optuna.trial.FrozenTrial
    ) -> None:
        """Finish ``trial`` with ``original``'s outcome, without launching a job."""
        trial.set_user_attr(DUPLICATE_OF, original.number)
        if "job_dir" in original.user_attrs:
            trial.set_user_attr("job_dir", original.user_attrs["job_dir"])
        if original.state == TrialState.COMPLETE:
            values = original.values
            study.tell(trial, values if len(values) > 1 else values[0])
            log.info(
                "Trial %d repeats the parameters of trial %d: its values reused, not run again",
                trial.number,
                original.number,
            )
        elif original.state == TrialState.PRUNED:
            study.tell(trial, state=TrialState.PRUNED)
        else:  # a failed original: counted as failed too, so that the sweep ends
            trial.set_user_attr(JOB_FAILURE, f"repeats failed trial {original.number}")
            study.tell(trial, state=TrialState.FAIL)

    def ask(self, study: optuna.Study) -> tuple[optuna.Trial, list[str]]:
        trial = study.ask(fixed_distributions=self.space)
        if self.custom:  # conditional parameters: it calls trial.suggest_*(...) itself
            self.custom(self.config, trial)
        overrides = list(self.fixed)
        overrides += [search_space.to_override(k, v) for k, v in trial.params.items()]
        overrides += [
            f"++optuna_trial.study_name='{self.s['study_name']}'",
            f"++optuna_trial.storage='{self.storage_url}'",
            f"++optuna_trial.number={trial.number}",
            f"++optuna_trial.trial_id={trial_id(trial)}",
            f"++optuna_trial.pruner={_as_override_dict(self.s.get('pruner') or {'name': 'none'})}",
        ]
        if self.tracking is not None:
            overrides += self.tracking.job_overrides()
        return trial, overrides

    def tell(self, study: optuna.Study, trial: optuna.Trial, result: Any) -> int:
        """Record one job's outcome; returns 1 if it failed."""
        kind, value = outcome(result)
        if getattr(result, "hydra_cfg", None) is not None:
            trial.set_user_attr("job_dir", str(result.hydra_cfg.hydra.runtime.output_dir))
        if kind == "complete" and len(value) != len(self.directions):
            kind, value = "fail", f"{len(value)} values for {len(self.directions)} directions"
        if kind == "complete":
            study.tell(trial, value if len(value) > 1 else value[0])
            return 0
        if kind == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
            return 0
        log.warning("Trial %d failed (recorded FAIL, the sweep goes on): %s", trial.number, value)
        trial.set_user_attr(JOB_FAILURE, str(value)[:500])
        study.tell(trial, state=TrialState.FAIL)
        return 1


class _Heartbeats:
    """Heartbeats for the running trials while their jobs run (any storage)."""

    def __init__(self, study: optuna.Study, trials: Sequence[optuna.Trial], interval: int) -> None:
        self.storage, self.trials, self.interval = study_storage(study), trials, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            for trial in self.trials:
                try:
                    if isinstance(self.storage, optuna.storages.JournalStorage):
                        self.storage.set_trial_system_attr(trial_id(trial), HEARTBEAT, time.time())
                    elif hasattr(self.storage, "record_heartbeat"):
                        self.storage.record_heartbeat(trial_id(trial))
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass
            if self.stop.wait(self.interval):
                return

    def __enter__(self) -> _Heartbeats:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _params_key(params: dict[str, Any]) -> tuple:
    """A hashable form of a trial's parameters (names and values)."""
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def _as_override_dict(conf: dict[str, Any]) -> str:
    """``{name:median,n_startup_trials:2}``: a flat mapping in Hydra's override grammar."""
    return "{" + ",".join(f"{k}:{'null' if v is None else v}" for k, v in conf.items()) + "}"


def _load_custom(path: str | None) -> Callable[[Any, optuna.Trial], None] | None:
    """``module.function(cfg, trial)``, as in the old plugin: it suggests more parameters."""
    if not path:
        return None
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(
            f"hydra.sweeper.custom_search_space: cannot import {path!r} ({err}); "
            "allowed: 'package.module.function'"
        ) from err

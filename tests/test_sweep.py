"""Optuna sweeper plugin: search-space grammar, pruning, results, resume after SIGKILL, joblib."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.promethium_optuna import search_space
from hydra_plugins.promethium_optuna.outcomes import outcome
from hydra_plugins.promethium_optuna.study import DUPLICATE_OF, SURPLUS
from promethium.errors import ConfigError
from tests.helpers import ROOT, cli_command, run_together

TINY = [
    "data.source.n_gathers=8",
    "data.source.n_traces=24",
    "data.source.n_samples=48",
    "data.patch_size=[16,32]",
    "data.samples_per_epoch=8",
    "data.batch_size=4",
    "model.depth=2",
    "model.base_channels=4",
    "trainer.max_epochs=4",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "~callbacks.qc_figures",
    "task.test=false",
    "logger=none",
]
# lr 1e-9 never improves on the first epoch's SNR, lr 3e-3 does: the median pruner has
# something to prune; the random sampler (seeded) mixes the two.
SWEEP = [
    "-m",
    "hydra/sweeper=optuna",
    "hydra/sweeper/sampler=random",
    "hydra.sweeper.sampler.seed=0",
    "hydra.sweeper.n_trials=6",
    "hydra.sweeper.pruner.n_startup_trials=2",
    "hydra.sweeper.heartbeat_interval=1",
    "hydra.sweeper.grace_period=2",
    "hydra.sweeper.plots=true",
    # these tests exercise launching, pruning and resuming: every trial must run
    "hydra.sweeper.skip_duplicates=false",
    "hydra.sweeper.params.task.optimizer.lr=choice(1e-9,0.003)",
]


def sweep_cmd(sweep_dir: Path, *extra: str) -> list[str]:
    return cli_command(*SWEEP, f"hydra.sweep.dir={sweep_dir}", *TINY, *extra)


def run_sweep(cmd: list[str]) -> None:
    """Run a sweep command line to completion; fail the test with its stderr otherwise."""
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]


def load(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="promethium", storage=f"sqlite:///{sweep_dir}/optuna.db")


def states(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def test_search_space_follows_hydra_grammar():
    space, fixed = search_space.parse(
        {"model": {"depth": "choice(2,3)"}, "task.optimizer.lr": "tag(log, interval(1e-4, 1e-2))"},
        [
            "a=interval(0, 1)",
            "b=tag(int, interval(1, 8))",
            "c=range(2, 9, 3)",
            "d=range(0.1, 0.5, 0.1)",
            "+e.f=7",
            "trainer.max_epochs=3",
        ],
    )
    assert space["model.depth"] == CategoricalDistribution(["2", "3"]) or space[
        "model.depth"
    ] == CategoricalDistribution([2, 3])
    assert space["task.optimizer.lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert space["a"] == FloatDistribution(0.0, 1.0)
    assert space["b"] == IntDistribution(1, 8)
    assert space["c"] == IntDistribution(2, 8, step=3)  # exclusive stop: 2, 5, 8
    assert space["d"].low == pytest.approx(0.1) and space["d"].high == pytest.approx(0.4)
    assert fixed == ["+e.f=7", "trainer.max_epochs=3"]
    assert search_space.grid({"c": space["c"], "m": space["model.depth"]})["c"] == [2, 5, 8]
    with pytest.raises(ConfigError, match="grid"):
        search_space.grid({"a": space["a"]})
    assert search_space.to_override("model.attention", True) == "model.attention=true"


def test_readme_command_line_is_rewritten_for_hydra():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run", ROOT / "run.py")
    run_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_module)
    quote_sweeper_params = run_module.quote_sweeper_params

    assert quote_sweeper_params(["hydra.sweeper.params.model.depth=choice(2,3)", "x=1"]) == [
        "++hydra.sweeper.params.model.depth='choice(2,3)'",
        "x=1",
    ]


def test_nan_and_errors_are_failures_not_crashes():
    def job(value=None, status=JobStatus.COMPLETED):
        result = JobReturn()
        result.status, result._return_value = status, value
        return result

    assert outcome(job(1.5)) == ("complete", [1.5])
    assert outcome(job(float("nan")))[0] == "fail"
    assert outcome(job(ValueError("boom"), JobStatus.FAILED))[0] == "fail"
    assert outcome(job(optuna.TrialPruned(), JobStatus.FAILED)) == ("pruned", None)


@pytest.mark.cli
def test_sweep_prunes_records_and_writes_results(tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_sweep(sweep_cmd(sweep_dir))
    study = load(sweep_dir)
    counts = states(study)
    assert len(study.trials) == 6 and counts.get("PRUNED", 0) >= 1, counts
    assert counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) == 6
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_value == pytest.approx(study.best_value)
    assert results.best_trial.run_dir == str(sweep_dir / str(study.best_trial.number))
    assert (sweep_dir / "trials.csv").read_text().count("\n") == 7
    assert (sweep_dir / "optimization_history.png").exists()
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert all(len(t.intermediate_values) < 4 for t in pruned)  # stopped before the end


@pytest.mark.cli
def test_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    sweep_dir = tmp_path / "sweep"
    cmd = sweep_cmd(
        sweep_dir,
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failure_rate=0.9",
        "hydra.sweeper.params.model.depth=choice(2,-1)",
        "trainer.max_epochs=1",
    )
    run_sweep(cmd)
    study = load(sweep_dir)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(study.trials) == 3 and failed
    assert all(t.params["model.depth"] in (-1, "-1") for t in failed)
    assert "model.depth" in failed[0].user_attrs["promethium:failure"]


@pytest.mark.cli
def test_killed_sweep_resumes_without_losing_or_duplicating_trials(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = subprocess.Popen(
        sweep_cmd(sweep_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while not (sweep_dir / "2" / ".hydra").exists():  # the third trial has started
        assert proc.poll() is None and time.time() < deadline, "sweep ended before the kill"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = states(load(sweep_dir))
    assert before.get("RUNNING") == 1
    run_sweep(sweep_cmd(sweep_dir))
    study = load(sweep_dir)
    counts = states(study)
    assert counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) == 6, counts
    assert counts.get("FAIL") == 1 and "RUNNING" not in counts  # the killed one, retried
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") is not None]
    assert len(retried) == 1 and retried[0].system_attrs["failed_trial"] == 2
    killed = study.trials[2]
    assert retried[0].params == killed.params
    # every trial in a folder of its own, numbered by the trial: the resumed sweep did not
    # reuse (overwrite) the folders of the trials finished before the kill
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    folders = [Path(t.user_attrs["job_dir"]) for t in finished]
    assert folders == [sweep_dir / str(t.number) for t in finished]
    for trial, folder in zip(finished, folders, strict=True):
        overrides = OmegaConf.load(folder / ".hydra" / "overrides.yaml")
        lr = next(o for o in overrides if o.startswith("task.optimizer.lr="))
        assert float(lr.split("=")[1]) == trial.params["task.optimizer.lr"], folder
        assert not list((folder / "checkpoints").glob("last-v*.ckpt"))  # no mixed runs
        if trial.state == TrialState.COMPLETE:
            assert (folder / "metrics.json").exists() and (
                folder / "checkpoints/last.ckpt"
            ).exists()


@pytest.mark.cli
def test_joblib_launcher_runs_trials_in_parallel_and_prunes(tmp_path):
    sweep_dir = tmp_path / "sweep"
    cmd = sweep_cmd(
        sweep_dir,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=6",
    )
    run_sweep(cmd)
    study = load(sweep_dir)
    counts = states(study)
    assert len(study.trials) == 6 and counts.get("PRUNED", 0) >= 1, counts
    # one batch, two processes: each job started before the other one ended
    spans = []
    for job in ("0", "1"):
        files = [p for p in (sweep_dir / job).rglob("*") if p.is_file()]
        spans.append(
            (
                (sweep_dir / job / ".hydra" / "config.yaml").stat().st_mtime,
                max(p.stat().st_mtime for p in files),
            )
        )
    (s0, e0), (s1, e1) = spans
    assert s1 < e0 and s0 < e1, spans


@pytest.mark.slow  # the optional cluster launcher; ~30 s of job start-up on 2 cores
def test_submitit_launcher_runs_the_optuna_sweep(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep_dir = tmp_path / "sweep"
    run_sweep(
        sweep_cmd(
            sweep_dir,
            "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=10",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.n_trials=2",
            "trainer.max_epochs=1",
        )
    )
    study = load(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert list((sweep_dir / ".submitit").iterdir())  # the jobs went through submitit
    for trial in study.trials:
        assert (Path(trial.user_attrs["job_dir"]) / "metrics.json").exists()


def test_slurm_launcher_preset_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert launcher.tasks_per_node == launcher.gpus_per_node == 1


@pytest.mark.cli
def test_journal_storage_sweeps_and_resumes(tmp_path):
    journal = tmp_path / "study.log"
    extra = [f"hydra.sweeper.storage=journal://{journal}", "trainer.max_epochs=1"]
    for n_trials in (2, 3):  # the second command continues the same study
        cmd = sweep_cmd(tmp_path / "sweep", *extra, f"hydra.sweeper.n_trials={n_trials}")
        run_sweep(cmd)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name="promethium", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


@pytest.mark.cli
def test_two_sweep_processes_share_one_study_and_finish_n_trials_together(tmp_path):
    journal = tmp_path / "shared.log"
    extra = [
        f"hydra.sweeper.storage=journal://{journal}",
        "hydra.sweeper.study_name=shared",
        "hydra.sweeper.n_trials=5",
        "trainer.max_epochs=1",
    ]
    workers = [
        sweep_cmd(tmp_path / f"worker{i}", *extra, f"hydra.sweeper.sampler.seed={i}")
        for i in range(2)
    ]
    run_together(workers, timeout=600, cwd=ROOT)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    complete = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(complete) == 5  # exactly n_trials, not one per worker more
    surplus = [t for t in trials if t.state == TrialState.FAIL]
    assert all(SURPLUS in t.user_attrs for t in surplus)
    jobs = [p for i in range(2) for p in (tmp_path / f"worker{i}").glob("[0-9]*") if p.is_dir()]
    assert len(jobs) == 5  # every launched job is a counted trial
    assert {t.user_attrs["job_dir"] for t in complete} == {str(p) for p in jobs}


@pytest.mark.cli
@pytest.mark.parametrize("n_jobs", [1, 3])
def test_repeated_parameters_reuse_the_completed_trial_instead_of_training_again(tmp_path, n_jobs):
    sweep_dir = tmp_path / "sweep"
    cmd = sweep_cmd(
        sweep_dir,
        "hydra.sweeper.skip_duplicates=true",
        "hydra/sweeper/pruner=none",
        "hydra.sweeper.params.task.optimizer.lr=choice(0.003)",
        "hydra.sweeper.params.model.depth=choice(1,2)",
        "hydra.sweeper.n_trials=5",
        f"hydra.sweeper.n_jobs={n_jobs}",
        "trainer.max_epochs=1",
    )
    run_sweep([arg for arg in cmd if "pruner.n_startup_trials" not in arg])
    study = load(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    ran = [t for t in study.trials if DUPLICATE_OF not in t.user_attrs]
    jobs = sorted(p.name for p in sweep_dir.glob("[0-9]*") if p.is_dir())
    assert len(jobs) == len(ran) <= 2  # two distinct configurations, each trained once
    assert len({t.params["model.depth"] for t in ran}) == len(ran)
    for t in study.trials:
        original = study.trials[t.user_attrs.get(DUPLICATE_OF, t.number)]
        assert original.params == t.params and original.values == t.values
        assert t.user_attrs["job_dir"] == original.user_attrs["job_dir"]


def test_hparams_recipe_composes_a_search_space():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", ["hparams_search=unet"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.pruner.name == "median"
    space, _ = search_space.parse(OmegaConf.to_container(sweeper.params), [])
    assert set(space) == {
        "task.optimizer.lr",
        "model.depth",
        "model.base_channels",
        "model.attention",
        "model.stem_stride",
        "augment.transforms.1.db_range",
        "augment.transforms.2.p",
    }
    assert space["task.optimizer.lr"].log


def conditional_space(cfg, trial):
    """``custom_search_space`` of the test below: attention only matters at depth 2."""
    if int(trial.params["model.depth"]) == 2:
        trial.suggest_categorical("model.attention", [True, False])


@pytest.mark.cli
def test_multi_objective_nsga2_with_custom_search_space(tmp_path):
    sweep_dir = tmp_path / "sweep"
    cmd = sweep_cmd(
        sweep_dir,
        "hydra/sweeper/sampler=nsgaii",
        "hydra/sweeper/pruner=none",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.direction=[maximize,minimize]",
        "objectives=[val/snr,val/loss]",
        "hydra.sweeper.params.model.depth=choice(1,2)",
        "hydra.sweeper.custom_search_space=tests.test_sweep.conditional_space",
        "trainer.max_epochs=1",
    )
    cmd = [arg for arg in cmd if "pruner.n_startup_trials" not in arg]  # no pruner here
    run_sweep(cmd)
    study = load(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(len(t.values) == 2 for t in study.trials)
    for t in study.trials:  # the conditional parameter exists exactly where it applies
        assert ("model.attention" in t.params) == (int(t.params["model.depth"]) == 2)
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert len(results.pareto_front) >= 1 and "best_value" not in results


@pytest.mark.cli
def test_sweep_is_one_mlflow_parent_run_with_a_child_run_per_trial(tmp_path):
    """Parallel trials, a SIGKILL and a resume: one parent run, a child per trial, no lock."""
    from mlflow.tracking import MlflowClient

    from hydra_plugins.promethium_optuna.tracking import SWEEP_TAG

    sweep_dir, db = tmp_path / "sweep", tmp_path / "mlflow.db"
    cmd = [
        *(c for c in sweep_cmd(sweep_dir) if c not in ("logger=none", "hydra.sweeper.n_trials=6")),
        "logger=mlflow",
        f"logger.mlflow.tracking_uri=sqlite:///{db}",
        f"logger.mlflow.artifact_location={tmp_path / 'artifacts'}",
        "logger.mlflow.log_model=false",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, cwd=ROOT
    )
    deadline = time.time() + 300
    while not (sweep_dir / "2" / ".hydra").exists():  # the second batch has started
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its joblib workers
    proc.wait()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "database is locked" not in run.stderr

    study = load(sweep_dir)
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("promethium")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if SWEEP_TAG in r.data.tags]
    assert len(parents) == 1, [r.data.tags for r in runs]
    parent = parents[0]
    assert parent.info.run_name == "promethium" and parent.info.status == "FINISHED"
    children = {
        int(r.data.tags["optuna.trial"]): r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert len(children) == len(runs) - 1  # no run outside the sweep's tree
    assert sorted(children) == [t.number for t in study.trials]  # the killed ones included
    for trial in study.trials:
        child = children[trial.number]
        expected = "DUPLICATE" if DUPLICATE_OF in trial.user_attrs else trial.state.name
        assert child.data.tags["optuna.state"] == expected, (trial.number, child.data.tags)
        assert child.data.tags["optuna.param.task.optimizer.lr"] == str(
            trial.params["task.optimizer.lr"]
        )
        assert child.info.status != "RUNNING"
    counted = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == 4 and any(t.state.name == "FAIL" for t in study.trials)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "optimization_results.yaml" in artifacts
    if any(t.state.name == "COMPLETE" for t in study.trials):
        assert client.get_run(parent.info.run_id).data.metrics["best_value"] == study.best_value

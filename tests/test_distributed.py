"""Data-parallel training under Hydra: 2 CPU processes (gloo), single runs and multiruns."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from promethium.data.dataset import EpochKeySampler, ShardSampler
from tests.helpers import TINY, TINY_DATA, TINY_MODEL, cli

# group norm: the same function of each sample on 1 or 2 ranks (BatchNorm statistics
# would be per rank on CPU, where torch has no SyncBatchNorm)
COMMON = [
    *TINY,
    *TINY_DATA["synthetic"],
    *TINY_MODEL["unet"],
    "model.norm=group",
    "data.samples_per_epoch=16",
    "trainer.max_epochs=2",
    "trainer.deterministic=true",
    "logger=tensorboard",
    "~callbacks.qc_figures",
]


def run_cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    proc = cli(*args, timeout=timeout, env={"PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_key_and_window_shards_partition_the_single_process_draw():
    whole = list(EpochKeySampler(20, seed=3))
    shards = [EpochKeySampler(20, seed=3, rank=r, num_replicas=3) for r in range(3)]
    for s in shards:
        s.set_epoch(0)
    assert sorted(k for s in shards for k in s) == sorted(whole)
    assert [len(s) for s in shards] == [7, 7, 6]
    # the ranks' first batches of 2 together are the single process's first batch of 6
    assert sorted(k for s in shards for k in list(s)[:2]) == sorted(whole[:6])
    windows = [list(ShardSampler(7, r, 2)) for r in range(2)]
    assert windows == [[0, 2, 4, 6], [1, 3, 5]]


@pytest.mark.cli
def test_ddp_two_processes_one_folder_same_metrics_as_one_process(tmp_path):
    cache = f"paths.cache_dir={tmp_path / 'cache'}"
    single, ddp = tmp_path / "single" / "run", tmp_path / "ddp" / "run"
    run_cli(*COMMON, cache, "data.batch_size=8", f"hydra.run.dir={single}")
    run_cli(
        *COMMON,
        cache,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "data.batch_size=4",  # the same global batch of 8
        f"hydra.run.dir={ddp}",
    )
    assert [p.name for p in ddp.parent.iterdir()] == ["run"]  # one run folder, not one per rank
    names = {p.name for p in (ddp / "checkpoints").iterdir()}
    assert names == {p.name for p in (single / "checkpoints").iterdir()}  # one checkpoint set
    events = [len(list((d / "tensorboard").glob("events.out.tfevents.*"))) for d in (single, ddp)]
    assert events[0] == events[1]  # rank 0 logs alone (fit and test), as one process does
    assert (ddp / ".hydra" / "ddp_job.yaml").exists()  # what the launched rank ran
    one, two = (json.loads((d / "metrics.json").read_text()) for d in (single, ddp))
    for key in ("val/snr_global", "val/snr", "test/snr_global"):
        assert abs(one[key] - two[key]) < 0.05, (key, one[key], two[key])
    assert one["val/snr_global_input"] == pytest.approx(two["val/snr_global_input"], abs=1e-4)


@pytest.mark.slow  # ~30 s; DDP inside a sweep is also tested by the Optuna test below
def test_ddp_inside_a_multirun_runs_each_job_once(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        "-m",
        *COMMON,
        f"paths.cache_dir={tmp_path / 'cache'}",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_epochs=1",
        "task.test=false",
        "seed=1,2",
        f"hydra.sweep.dir={sweep}",
        timeout=400,
    )
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]  # no second sweep started by a rank-1 process
    for job in jobs:
        assert (sweep / job / "metrics.json").exists()
        assert (sweep / job / ".hydra" / "ddp_job.yaml").exists()
    seeds = [json.loads((sweep / j / "run_info.json").read_text())["overrides"] for j in jobs]
    assert ["seed=1" in s for s in seeds] == [True, False] and "seed=2" in seeds[1]
    assert np.isfinite(json.loads((sweep / "0" / "metrics.json").read_text())["val/snr"])


@pytest.mark.cli
def test_ddp_inside_an_optuna_sweep_with_pruning(tmp_path):
    import optuna

    sweep = tmp_path / "sweep"
    run_cli(
        "-m",
        *COMMON,
        f"paths.cache_dir={tmp_path / 'cache'}",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "++hydra.sweeper.params.task.optimizer.lr='choice(1e-3,3e-3)'",
        # seeded, and every trial runs: an unseeded sampler repeats the first choice half
        # the time, and a repeat would reuse the first trial's folder
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.skip_duplicates=false",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "task.test=false",
        f"hydra.sweep.dir={sweep}",
        timeout=400,
    )
    study = optuna.load_study(study_name="promethium", storage=f"sqlite:///{sweep}/optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()) == ["0", "1"]

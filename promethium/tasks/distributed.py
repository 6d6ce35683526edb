"""Data-parallel training under Hydra: one run folder and one job per launch.

Lightning's DDP launcher starts ranks 1..n-1 by re-running the command line of rank 0
(with ``hydra.run.dir`` pointed at rank 0's folder). Under ``--multirun`` that command
line is the whole sweep, so every rank-1 process would start the sweep again in a new
folder (Lightning #11300, lightning-hydra-template #393). Instead, rank 0 writes its
resolved job config into the run folder and names it in an environment variable that
the launched ranks inherit; ``run.py`` sees it and runs that one job, whatever the
command line says. Single runs, multiruns, Optuna sweeps and joblib jobs all take the
same path. Processes started by torchrun or SLURM (one per rank, each with the user's
command line) do not see the variable and compose their config as usual; give them an
explicit ``hydra.run.dir`` so that all ranks share one folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

JOB_CONFIG_ENV = "PROMETHIUM_DDP_JOB_CONFIG"
"""Environment variable naming the resolved job config that launched ranks run."""


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (the one that writes run-folder files)."""
    return rank_zero_only.rank == 0


def launches_ranks(trainer: Any) -> bool:
    """Whether this process will start the other ranks of the trainer's job.

    True in rank 0 of a Lightning-launched DDP run; False for a single process and in
    every rank that torchrun, SLURM or Lightning itself started (Lightning's own test:
    the cluster environment "creates processes externally").
    """
    environment = getattr(trainer.strategy, "cluster_environment", None)
    return (
        trainer.world_size > 1
        and environment is not None
        and not environment.creates_processes_externally
    )


@contextmanager
def job_environment() -> Iterator[None]:
    """Leave no DDP state behind a job: restore ``os.environ``, end the process group.

    Lightning's DDP launcher sets ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` and
    ``NODE_RANK`` in the launching process and leaves its process group open; left in
    place, the next job of a multirun in that process would take itself for an externally
    launched rank, start no ranks, and talk to the previous job's exited ones.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        os.environ.clear()
        os.environ.update(saved)


def share_job_config(cfg: DictConfig, output_dir: Path) -> None:
    """Write the resolved job config for the ranks Lightning is about to launch."""
    path = output_dir / ".hydra" / "ddp_job.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    os.environ[JOB_CONFIG_ENV] = str(path)


def launched_job_config() -> DictConfig | None:
    """In a rank launched by :func:`share_job_config`'s process: its job config."""
    path = os.environ.get(JOB_CONFIG_ENV)
    if not path or int(os.environ.get("LOCAL_RANK", "0")) == 0:
        return None
    return OmegaConf.load(path)


__all__ = [
    "JOB_CONFIG_ENV",
    "is_rank_zero",
    "job_environment",
    "launched_job_config",
    "launches_ranks",
    "share_job_config",
]

"""Promethium's single entrypoint: compose the Hydra config and run the selected task.

python run.py                          # train the default experiment
python run.py model.depth=3 trainer=cpu
python run.py --cfg job                # print the composed config
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from promethium.config import register_resolvers
from promethium.errors import Interrupted, PromethiumError, refused_writes
from promethium.tasks.common import execute

# Let configs find the project from any working directory (`python /path/to/run.py`).
os.environ.setdefault("PROMETHIUM_ROOT", str(Path(__file__).resolve().parent))
register_resolvers()
log = logging.getLogger("promethium")
STARTED = time.time()  # before Hydra makes the run folder
# what a run writes before it does any work: Hydra's files, its log, the run's own record
SETUP_FILES = ("config_tree.log", "run_info.json")
FAILED = "failed.txt"  # the last failure of the run in a folder, removed when one succeeds


def quote_sweeper_params(argv: list[str]) -> list[str]:
    """Rewrite ``hydra.sweeper.params.KEY=choice(...)`` so that Hydra accepts it.

    Hydra refuses sweep syntax on ``hydra.*`` keys ("Sweeping over Hydra's configuration
    is not supported") and new keys in a struct node without ``+``. Quoted and added with
    ``++``, the value reaches the Optuna sweeper as text, which parses it with the same
    override grammar, so the old plugin's command lines work as written.
    """
    quoted = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if key.startswith("hydra.sweeper.params.") and sep:
            if value[:1] not in ("'", '"'):
                mark = '"' if "'" in value else "'"
                value = f"{mark}{value}{mark}"
            arg = f"++{key}={value}"
        quoted.append(arg)
    return quoted


def run_task(cfg: DictConfig) -> dict:
    """Run the task of ``cfg.task.fn`` through the one task wrapper; return its metrics."""
    return execute(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | list[float] | None:
    """Run one job; return the monitored metric (for multirun sweeps)."""
    folder = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None
    try:
        with refused_writes():  # read-only, full, size limit: one line, not a traceback
            metrics = run_task(cfg)
    except Interrupted as err:  # a signal: the folder keeps its checkpoints for a resume
        message = f"{err}; resume with: {resume_command(folder)}" if folder else str(err)
        log.error("%s", message)
        if folder is not None and folder.is_dir():
            mark_failed(folder, message)
        sys.exit(err.exit_status)
    except PromethiumError as err:
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # let the sweeper record the failed job and go on
        log.error("%s", err)
        if folder is not None:
            discard_refused_run(folder, str(err))
        sys.exit(2)
    except BaseException as err:  # a crash (or Ctrl-C): the folder says so, then it goes on up
        if folder is not None and folder.is_dir():
            mark_failed(folder, f"{type(err).__name__}: {err}")
        raise
    if folder is not None:
        (folder / FAILED).unlink(missing_ok=True)  # an earlier attempt's failure is over
    objectives = cfg.get("objectives")  # several metrics for a multi-objective sweep
    if objectives:
        return [float(metrics.get(name, float("nan"))) for name in objectives]
    monitor = cfg.task.get("monitor")
    value = metrics.get(monitor) if monitor else None
    return float(value) if value is not None else None


def resume_command(folder: Path) -> str:
    """The command line that resumes this run in ``folder`` from its last checkpoint."""
    overrides = [
        o
        for o in HydraConfig.get().overrides.task
        if not o.startswith(("ckpt_path=", "hydra.run.dir="))
    ]
    args = [*overrides, "ckpt_path=last", f"hydra.run.dir={folder}"]
    return "python run.py " + " ".join(shlex.quote(a) for a in args)


def discard_refused_run(folder: Path, error: str) -> None:
    """Leave no run folder for a run refused before it did any work.

    A folder this process made that holds only setup files is removed; one that holds
    work (checkpoints, outputs) is marked with ``failed.txt``. A folder that existed
    before (a resumed run) keeps its files and gets this failure's ``failed.txt``.
    """
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != FAILED]
    if any(p.stat().st_mtime < STARTED - 1 for p in files):
        mark_failed(folder, error)  # a resumed run: its work stays, marked with this failure
        return
    setup = all(
        p.relative_to(folder).parts[0] == ".hydra" or p.suffix == ".log" or p.name in SETUP_FILES
        for p in files
    )
    if setup:
        logging.shutdown()  # close the run's log file before its folder goes
        shutil.rmtree(folder, ignore_errors=True)
    else:
        mark_failed(folder, error)


def mark_failed(folder: Path, error: str) -> None:
    """Write ``failed.txt`` (this failure's message, replacing an earlier one's)."""
    (folder / FAILED).write_text(f"{error}\n")


def run_launched_rank() -> bool:
    """Run the job of a DDP rank launched by rank 0 (see promethium.tasks.distributed)."""
    from promethium.tasks.distributed import launched_job_config

    cfg = launched_job_config()
    if cfg is None:
        return False
    run_task(cfg)
    return True


if __name__ == "__main__":
    if not run_launched_rank():
        sys.argv = quote_sweeper_params(sys.argv)
        main()

"""The ``train`` task: fit the configured network, validate, test the best checkpoint."""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf, open_dict

from promethium.errors import ConfigError, Interrupted
from promethium.ml.callbacks import ModelCardWriter
from promethium.ml.checkpoints import check_resumable, read_checkpoint
from promethium.ml.datamodule import SeismicDataModule
from promethium.ml.model_card import new_card
from promethium.ml.tasks import BaseTask
from promethium.tasks.builders import build_datamodule, build_module, build_trainer
from promethium.tasks.common import trained_densities
from promethium.tasks.distributed import is_rank_zero, launches_ranks, share_job_config
from promethium.tasks.tracking import filter_unactionable_warnings, save_run_info, tag_mlflow_runs

log = logging.getLogger("promethium.train")


def resolve_checkpoint(cfg: DictConfig) -> str | None:
    """``ckpt_path``: ``last`` means this run folder's ``checkpoints/last.ckpt``.

    Checkpoints are written at the end of each epoch (``last.ckpt`` and the best one), so
    a run resumes from its last finished epoch; a run killed during its first epoch has
    nothing to resume and is started again. The checkpoint must be a readable Promethium
    checkpoint of the same model config. Resuming into the same run folder
    (``hydra.run.dir=<old run>``) also continues the same MLflow run, whose id the first
    start left in ``mlflow_run_id.txt``.

    Raises:
        ConfigError: no checkpoint there, or one of another model config.
        DataError: a file that is not a Promethium checkpoint.
    """
    ckpt = cfg.get("ckpt_path")
    if ckpt is None:
        return None
    output_dir = Path(cfg.paths.output_dir)
    path = output_dir / "checkpoints" / "last.ckpt" if ckpt == "last" else Path(ckpt)
    if not path.is_file():
        started = ckpt == "last" and (output_dir / ".hydra").is_dir()
        raise ConfigError(
            f"ckpt_path: no checkpoint at {path}; "
            + (
                "checkpoints are written at the end of each epoch, and this run ended before "
                "its first epoch did: start it again without ckpt_path"
                if started
                else "use a .ckpt file, or ckpt_path=last with hydra.run.dir set to the run "
                "folder to resume"
            )
        )
    check_resumable(read_checkpoint(path), path, OmegaConf.to_container(cfg.model, resolve=True))
    run_id_file = output_dir / "mlflow_run_id.txt"
    if OmegaConf.select(cfg, "logger.mlflow") is not None and run_id_file.exists():
        with open_dict(cfg):
            cfg.logger.mlflow.run_id = run_id_file.read_text().strip()
    return str(path)


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


def validation_metrics(
    trainer: pl.Trainer, module: BaseTask, datamodule: SeismicDataModule
) -> dict[str, float]:
    """The ``val/*`` metrics of the fitted weights.

    A resume of a run that had already finished trains no epoch and so logs no
    validation; the restored weights are then validated, so its metrics equal the
    finished run's instead of losing every ``val/`` key.
    """
    if not _logged_validation(trainer) and not trainer.interrupted:
        trainer.validate(module, datamodule=datamodule, verbose=False)
    return _logged_validation(trainer)


def _logged_validation(trainer: pl.Trainer) -> dict[str, float]:
    return _floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")})


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    """The best checkpoint to test, or None (the fitted weights) if it is not on disk."""
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and not Path(best).is_file():
        log.warning("best checkpoint %s is missing; testing the fitted weights instead", best)
        return None
    return best or None


def metrics_file(cfg: DictConfig, metrics: dict[str, Any]) -> str | None:
    """``metrics.json``, written by DDP rank 0 only."""
    return "metrics.json" if is_rank_zero() else None


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train (and test) the configured model; return the final metrics.

    The returned dict holds the last validation metrics (including ``cfg.task.monitor``),
    the best monitored value and the test metrics of the best checkpoint. Run it through
    :func:`promethium.tasks.common.execute`, which seeds and writes ``metrics.json``.
    """
    filter_unactionable_warnings()
    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = resolve_checkpoint(cfg)
    rank_zero = is_rank_zero()  # only rank 0 writes run-folder files (DDP)
    info = save_run_info(cfg, output_dir) if rank_zero else {}
    module = build_module(cfg)  # cheap config errors (model, optimiser) before data is made
    datamodule = build_datamodule(cfg)
    check_monitors(cfg, module, datamodule)
    trainer = build_trainer(cfg, [ModelCardWriter(model_card(cfg, module, info))])
    if launches_ranks(trainer):
        share_job_config(cfg, output_dir)  # the launched ranks run this job, not argv
    if rank_zero:
        tag_mlflow_runs(trainer.loggers, info, output_dir, cfg)
    with stopped_by_signals(trainer):
        # weights_only: never torch's default, which an environment variable can loosen
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics = final_metrics(cfg, trainer, module, datamodule)
    metrics.update(survey_densities(cfg, datamodule))
    if rank_zero:
        log_outcome(cfg, trainer, metrics)
        log_mlflow_models(trainer)
    return metrics


def log_mlflow_models(trainer: pl.Trainer) -> None:
    """The best checkpoint as an MLflow pyfunc model of each MLflow run (registered if asked)."""
    from lightning.pytorch.loggers import MLFlowLogger

    from promethium.tasks.mlflow_models import log_model

    checkpoint = best_checkpoint(trainer) or (
        trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
    )
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger) and checkpoint:
            register_as = getattr(logger, "register_as", None)
            log_model(Path(checkpoint), str(logger._tracking_uri), str(logger.run_id), register_as)


def model_card(cfg: DictConfig, module: BaseTask, info: dict[str, Any]) -> dict[str, Any]:
    """The card this run's checkpoints carry, as far as the config and git tell it."""
    config = OmegaConf.to_container(cfg, resolve=True)
    card = new_card(config, module.kind, info)
    card["overrides"] = list(info.get("overrides") or [])
    card["num_parameters"] = int(sum(p.numel() for p in module.net.parameters()))
    return card


@contextmanager
def stopped_by_signals(trainer: pl.Trainer) -> Iterator[None]:
    """Lightning's ends of a signalled run as :class:`~promethium.errors.Interrupted`.

    On ``SIGTERM`` Lightning finishes the step and raises ``SIGTERMException``, a
    ``SystemExit`` with status 0; on ``SIGINT`` it calls ``sys.exit(1)``. Either would
    tell a scheduler little (0: success) and the user nothing.
    """
    try:
        yield
    except SIGTERMException:
        raise Interrupted(signal.SIGTERM, f"in epoch {trainer.current_epoch}") from None
    except SystemExit:
        if trainer.interrupted:  # Lightning's KeyboardInterrupt path
            raise Interrupted(signal.SIGINT, f"in epoch {trainer.current_epoch}") from None
        raise


def survey_densities(cfg: DictConfig, datamodule: SeismicDataModule) -> dict[str, float]:
    """The trace densities of a survey with a ``trace_mask``, as fractions of its grid.

    ``density/survey``: its recorded traces; ``density/trained``: what the corruption
    leaves of them, the density the network trains and validates at.
    """
    train = datamodule.datasets.get("train")
    mask = train.trace_mask if train is not None else None  # read once, by the dataset
    if mask is None:
        return {}
    survey = float(mask.mean())
    config = OmegaConf.to_container(cfg, resolve=True)
    trained = trained_densities(config, survey).get("trained")
    return {"density/survey": survey, **({"density/trained": trained} if trained else {})}


def log_outcome(cfg: DictConfig, trainer: pl.Trainer, metrics: dict[str, float]) -> None:
    """One line with the monitored figure (last and best) and where the checkpoints are."""
    monitor = str(cfg.task.monitor)
    figures = f"{monitor} {metrics.get(monitor, float('nan')):.4g}"
    if f"{monitor}_best" in metrics:
        figures += f" (best {metrics[f'{monitor}_best']:.4g})"
    ckpt = trainer.checkpoint_callback
    paths = ""
    if isinstance(ckpt, ModelCheckpoint):
        best, last = ckpt.best_model_path, ckpt.last_model_path
        paths = "; checkpoints: " + ", ".join(
            f"{name} {path}" for name, path in (("best", best), ("last", last)) if path
        )
    epochs = trainer.current_epoch
    log.info("trained %d epoch%s: %s%s", epochs, "" if epochs == 1 else "s", figures, paths)


def check_monitors(cfg: DictConfig, module: BaseTask, datamodule: SeismicDataModule) -> None:
    """Refuse, before training, a monitored metric the run will never log.

    ``task.monitor`` (the scheduler's and checkpointing's) and the ``monitor`` of every
    callback (early stopping, an Optuna pruner) must be among the task's logged names;
    ``val/*`` needs validation data (``data.val_fraction > 0``). Lightning would find
    out only at the end of the first epoch, with a traceback.

    Raises:
        ConfigError: naming the key, the metric and the metrics that exist.
    """
    limit = OmegaConf.select(cfg, "trainer.limit_val_batches", default=None)
    validates = datamodule.val_fraction > 0 and limit != 0
    logged = module.logged_names(validates)
    monitors = {"task.monitor": str(cfg.task.monitor)}
    for name, callback in (cfg.get("callbacks") or {}).items():
        monitor = callback.get("monitor") if isinstance(callback, DictConfig) else None
        if isinstance(monitor, str) and monitor not in monitors.values():
            monitors[f"callbacks.{name}.monitor"] = monitor
    for key, name in monitors.items():
        if name in logged:
            continue
        if name.startswith("val/") and not validates:
            raise ConfigError(
                f"{key}: {name} needs validation data, and data.val_fraction="
                f"{datamodule.val_fraction} (or trainer.limit_val_batches=0) holds none out; "
                "set data.val_fraction > 0, or monitor a training metric: "
                "task.monitor=train/loss task.mode=min"
            )
        raise ConfigError(f"{key}: got {name!r}; the task logs: {', '.join(logged)}")


def final_metrics(
    cfg: DictConfig, trainer: pl.Trainer, module: BaseTask, datamodule: SeismicDataModule
) -> dict[str, float]:
    """Validation metrics, the best monitored value and the best checkpoint's test metrics."""
    metrics = validation_metrics(trainer, module, datamodule)
    if cfg.task.get("test", True) and not trainer.interrupted:
        best = best_checkpoint(trainer)
        results = trainer.test(
            module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True
        )
        metrics.update(_floats(results[0]) if results else {})
    ckpt = trainer.checkpoint_callback
    if ckpt is not None and ckpt.best_model_score is not None:
        metrics[f"{cfg.task.monitor}_best"] = float(ckpt.best_model_score)
    # metrics with nothing to measure (e.g. snr_missing when no trace was removed) are NaN
    monitor = cfg.task.monitor
    metrics = {k: v for k, v in metrics.items() if k == monitor or math.isfinite(v)}
    if monitor not in metrics or not math.isfinite(metrics[monitor]):
        log.warning(
            "Monitored metric %s is missing or not finite: %s", monitor, metrics.get(monitor)
        )
    return metrics

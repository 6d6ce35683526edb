"""Library objects of a training run, built from a composed config.

The data module, the Lightning module (network from the registry, optimiser, scheduler,
loss) and the trainer with its callbacks and loggers; the train task, the evaluate task
and ``scripts/bench_train.py`` build them the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from omegaconf import DictConfig, OmegaConf, open_dict

from promethium.config import build_collection, build_model, build_node
from promethium.errors import ConfigError
from promethium.ml.checkpoints import model_differences, network_from_checkpoint, read_checkpoint
from promethium.ml.datamodule import SeismicDataModule
from promethium.ml.pruning import pruning_callback
from promethium.ml.tasks import BaseTask, task_class
from promethium.models import PhysicsInformedNet
from promethium.tasks.common import resolve_checkpoint

log = logging.getLogger(__name__)


def build_datamodule(cfg: DictConfig) -> SeismicDataModule:
    """The data module of ``cfg.data``: corruption, augmentation and amplitude contract too.

    ``cfg.corruption``, ``cfg.augment`` and ``cfg.normalize`` (each ``None`` when absent).
    """
    return build_node(
        cfg,
        "data",
        corruption=build_node(cfg, "corruption"),
        augment=build_node(cfg, "augment"),
        contract=build_node(cfg, "normalize"),
    )


def build_module(cfg: DictConfig) -> BaseTask:
    """The task of ``task.kind``: network from the registry plus the optimiser and loss.

    Raises:
        ConfigError: an unknown ``task.kind``, or a network that does not suit it.
    """
    cls = task_class(str(cfg.task.get("kind", "interpolation")))
    net = build_model(cfg.model)
    if isinstance(net, PhysicsInformedNet) and cls.kind != "physics":
        raise ConfigError(
            f"task.kind: model=pinn trains with its wave-equation loss, task.kind=physics "
            f"(got {cls.kind!r}); experiment=pinn_wavefield sets it"
        )
    if cfg.get("init_from"):
        initial_weights(net, cfg)
    return cls(
        net=net,
        optimizer=build_node(cfg, "task.optimizer"),
        scheduler=build_node(cfg, "task.scheduler"),
        loss=build_node(cfg, "task.loss"),
        monitor=cfg.task.monitor,
        config=OmegaConf.to_container(cfg, resolve=True),
        contract=build_node(cfg, "normalize"),
    )


def contract_settings(node: Any) -> dict[str, Any]:
    """A ``normalize`` node's settings without its class path (renamed across releases)."""
    return {k: v for k, v in dict(node or {}).items() if k != "_target_"}


def initial_weights(net: torch.nn.Module, cfg: DictConfig) -> None:
    """Load ``init_from``'s network weights into ``net`` (fine-tuning a trained model).

    Raises:
        ConfigError: when the checkpoint's model or amplitude contract (``normalize``)
            differs from this run's, naming the keys.
    """
    path = str(
        resolve_checkpoint(
            str(cfg.init_from),
            cfg.paths.cache_dir,
            OmegaConf.select(cfg, "paths.mlflow_tracking_uri"),
        )
    )
    ckpt = read_checkpoint(path, key="init_from")
    saved = ckpt["hyper_parameters"]["config"]
    differences = model_differences(saved["model"], OmegaConf.to_container(cfg.model, resolve=True))
    current = OmegaConf.to_container(cfg.normalize, resolve=True) if "normalize" in cfg else None
    differences += model_differences(
        contract_settings(saved.get("normalize")), contract_settings(current), "normalize"
    )
    if differences:
        shown = "; ".join(differences[:5])
        raise ConfigError(
            f"init_from: {path} was trained with other settings ({shown}); fine-tune with "
            "the checkpoint's model and normalize settings"
        )
    trained = network_from_checkpoint(ckpt, path, key="init_from")
    net.load_state_dict(trained.state_dict())
    log.info("init_from: network weights of %s", path)


def build_trainer(cfg: DictConfig, extra_callbacks: Sequence[pl.Callback] = ()) -> pl.Trainer:
    """The Lightning ``Trainer`` with the configured callbacks (and ``extra_callbacks``)."""
    callbacks = [*build_collection(cfg, "callbacks"), *extra_callbacks]
    trial = cfg.get("optuna_trial")  # only inside an Optuna sweep job
    pruning = pruning_callback(
        OmegaConf.to_container(trial, resolve=True) if trial else None, str(cfg.task.monitor)
    )
    if pruning is not None:
        callbacks.append(pruning)
    loggers = build_collection(cfg, "logger")
    if not loggers:  # the LR monitor refuses a trainer without loggers; nothing to log to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if cfg.trainer.get("sync_batchnorm") and not torch.cuda.is_available():
        # torch's SyncBatchNorm runs on GPUs only; CPU ranks keep per-rank statistics
        log.info("trainer.sync_batchnorm: off (SyncBatchNorm needs CUDA)")
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.trainer.sync_batchnorm = False
    if not cfg.trainer.get("enable_progress_bar", True):
        # Lightning refuses a progress-bar callback when the bar is off; the flag wins
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return build_node(cfg, "trainer", callbacks=callbacks, logger=loggers or False)

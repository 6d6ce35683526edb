"""What every task shares: the wrapper that runs it, and the checkpoint-side helpers.

:func:`execute` is the one way a task runs, from ``run.py`` and from
:mod:`promethium.api` alike: it checks the config, seeds, isolates the job's
environment, runs the task's ``run(cfg) -> dict``, logs, and writes the metrics
atomically as strict JSON. A task module may define ``metrics_file(cfg, metrics)`` to
name its metrics file (``None``: this process writes none, e.g. DDP ranks other than 0).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from promethium import pretrained
from promethium.config import check_config, locate_parameter
from promethium.errors import ConfigError
from promethium.files import write_metrics
from promethium.inference.tta import TestTimeAugmentation
from promethium.ml.checkpoints import (
    KEEPS_OBSERVED,
    load_trained_network,
    task_kind,
    training_corruptions,
)
from promethium.ml.model_card import amplitude_mismatch, read_card, survey_amplitudes
from promethium.tasks.mlflow_models import (
    default_tracking_root,
    default_tracking_uri,
    is_model_uri,
    registered_checkpoint,
)

log = logging.getLogger("promethium.tasks")
TaskFn = Callable[[DictConfig], dict[str, Any]]


def task_function(cfg: DictConfig) -> tuple[TaskFn, Callable[[DictConfig, dict], str | None]]:
    """The task's ``run`` (``cfg.task.fn``) and its metrics-file naming."""
    module_name, _, name = str(cfg.task.fn).rpartition(".")
    try:
        module = importlib.import_module(module_name)
        fn = getattr(module, name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"task.fn: cannot import {cfg.task.fn!r} ({err})") from err
    return fn, getattr(module, "metrics_file", lambda cfg, metrics: "metrics.json")


def execute(cfg: DictConfig) -> dict[str, Any]:
    """Run the task of ``cfg`` (see the module docstring); returns its metrics."""
    from promethium.tasks.distributed import job_environment

    check_config(cfg)
    fn, metrics_file = task_function(cfg)
    if cfg.get("seed") is not None:
        from lightning.fabric.utilities.seed import seed_everything

        seed_everything(int(cfg.seed), workers=True)  # python, numpy, torch, loader workers
    start = time.perf_counter()
    with job_environment():  # a multirun's next job must not inherit DDP launcher state
        try:
            metrics = fn(cfg)
        except ConfigError as err:
            located = locate_parameter(cfg, err)
            if located is err:
                raise
            raise located from None
    name = metrics_file(cfg, metrics)
    if name is not None:
        write_metrics(Path(cfg.paths.output_dir) / name, metrics)
    log.info("task %s done in %.1f s", cfg.task.name, time.perf_counter() - start)
    return metrics


def checkpoint_path(cfg: DictConfig) -> Path:
    """``ckpt_path`` of an infer or evaluate task, which must name an existing file.

    Raises:
        ConfigError: when it is not set.
    """
    value = cfg.get("ckpt_path")
    if value in (None, "", "???"):
        raise ConfigError(
            f"ckpt_path: required for task={cfg.task.name}; e.g. "
            "ckpt_path=outputs/runs/<run>/checkpoints/last.ckpt"
        )
    return resolve_checkpoint(
        str(value),
        OmegaConf.select(cfg, "paths.cache_dir"),
        OmegaConf.select(cfg, "paths.mlflow_tracking_uri"),
    )


def resolve_checkpoint(
    reference: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    tracking_uri: str | None = None,
) -> Path:
    """The checkpoint file a ``ckpt_path`` or ``init_from`` value names.

    A file path as it is; ``pretrained:NAME[@VERSION]`` a model shipped in the package
    (:mod:`promethium.pretrained`); ``models:/NAME/VERSION`` or ``models:/NAME@alias``
    (the MLflow model registry at ``tracking_uri``, default :func:`default_tracking_uri`)
    downloaded into ``cache_dir``.

    Raises:
        ConfigError: a pretrained name or version that is not shipped, listing those that are.
        DataError: a registered model that does not resolve.
    """
    if pretrained.is_reference(reference):
        return pretrained.checkpoint_file(reference)
    if is_model_uri(reference):
        cache = Path(cache_dir) if cache_dir else Path(default_tracking_root()) / "outputs/cache"
        return registered_checkpoint(str(reference), cache, tracking_uri or default_tracking_uri())
    return Path(reference)


def load_network(
    cfg: DictConfig, tta: bool | None, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The checkpoint's network (wrapped in test-time augmentation when ``tta``) and config.

    ``tta=None`` takes the training recipe's choice (``task.tta``, e.g. ``field_interp``'s),
    off when it made none.

    Raises:
        DataError: a missing or unusable checkpoint (see :func:`load_trained_network`).
    """
    net, config = load_trained_network(checkpoint_path(cfg), map_location)
    if tta is None:
        tta = bool((config.get("task") or {}).get("tta", False))
    return (TestTimeAugmentation(net) if tta else net), config


def warn_if_amplitudes_differ(
    ckpt_path: str | Path,
    model: torch.nn.Module,
    volume: Any,
    dt: float | None,
    trace_stage: bool = True,
) -> str | None:
    """Warn (and return why) when a survey's amplitudes do not fit the model's card.

    The survey's RMS after the model's amplitude contract is compared with the training
    input's (:func:`promethium.ml.model_card.amplitude_mismatch`): beyond 10x either way
    the network sees amplitudes it never saw, e.g. raw F3 integers into a model trained on
    unit-scale synthetics without ``normalize``. ``trace_stage=False``: ``volume`` had the
    contract's trace stage applied already.
    """
    card = read_card(ckpt_path)
    observed = survey_amplitudes(
        volume, getattr(model, "contract", None), int(model.spatial_dims), dt, trace_stage
    )
    message = amplitude_mismatch(card, observed)
    if message:
        log.warning("%s: %s", ckpt_path, message)
    return message


def keeps_observed(setting: bool | None, train_config: dict[str, Any]) -> bool:
    """``keep_observed`` as set, or (``null``) the trained task kind's default.

    Interpolation and physics-informed networks keep recorded traces as they are, a
    denoiser replaces every sample (:data:`promethium.ml.checkpoints.KEEPS_OBSERVED`).
    """
    return KEEPS_OBSERVED[task_kind(train_config)] if setting is None else bool(setting)


def patch_size(value: Any, train_config: dict[str, Any], key: str) -> list[int] | int:
    """The tiling patch: ``value`` if set, else the patch the checkpoint was trained on.

    Raises:
        ConfigError: naming ``key`` when neither is known.
    """
    if value is None:
        value = train_config.get("data", {}).get("patch_size")
        if not value:
            raise ConfigError(f"{key}: the checkpoint has no training patch size; set one")
    return OmegaConf.to_object(value) if OmegaConf.is_config(value) else value


def trained_densities(train_config: Any, survey: float) -> dict[str, float]:
    """``trained``: the trace density the network trains and validates at on this survey.

    The checkpoint's ``MissingTraces`` corruption removes ``fraction`` of each patch's
    recorded traces (``of_live``; without it, of all positions): trained on the survey
    evaluated (the README's commands), the density is the survey's times what is kept.
    """
    corruption = training_corruptions(train_config or {})
    kept = 1.0
    for entry in corruption:
        if not str(entry.get("_target_", "")).endswith("MissingTraces"):
            return {}
        kept *= 1.0 - float(entry.get("fraction", 0.5))
    return {"trained": survey * kept} if corruption else {}

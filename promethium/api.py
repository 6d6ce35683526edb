"""Python API: the command line's tasks as functions, for notebooks and services.

    from promethium import api
    cfg = api.compose(["model=dae", "trainer.max_epochs=2"])
    metrics = api.train(cfg)
    net = api.load_model(f"{cfg.paths.output_dir}/checkpoints/last.ckpt")
    api.infer(api.compose(["task=infer", "ckpt_path=CKPT", "input=in.zarr", "output=out.zarr"]))

Each task runs through :func:`promethium.tasks.common.execute`, exactly as ``run.py``
runs it (config check, seeding, metrics written atomically).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, open_dict

from promethium.config import build_model, register_resolvers
from promethium.errors import ConfigError
from promethium.ml.checkpoints import load_trained_network
from promethium.models import PromethiumModel
from promethium.tasks.arrays import check_array, is_dataarray, predict_array
from promethium.tasks.common import execute, resolve_checkpoint, warn_if_amplitudes_differ

PROJECT_ROOT = Path(os.environ.get("PROMETHIUM_ROOT", Path(__file__).resolve().parents[1]))


def compose(
    overrides: list[str] | None = None, output_dir: str | os.PathLike | None = None
) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line style ``overrides``.

    Args:
        overrides: e.g. ``["model=dae", "data.batch_size=8"]``; ``task=infer`` or
            ``task=evaluate`` compose those tasks.
        output_dir: run folder (default ``outputs/api/<timestamp>`` under the project).

    Returns:
        The composed config, ready for :func:`train`, :func:`infer` or :func:`evaluate`
        (no Hydra runtime needed).
    """
    register_resolvers()
    os.environ.setdefault("PROMETHIUM_ROOT", str(PROJECT_ROOT))
    stamp = datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
    folder = Path(output_dir) if output_dir else PROJECT_ROOT / "outputs" / "api" / stamp
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides or []))
    with open_dict(cfg):
        cfg.paths.output_dir = str(folder)
    return cfg


def _run(cfg: DictConfig, task: str) -> dict[str, Any]:
    if cfg.task.name != task:
        raise ConfigError(
            f"task: api.{task} needs a config composed with task={task}; got "
            f"task={cfg.task.name} (api.compose([..., 'task={task}']))"
        )
    return execute(cfg)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run the ``train`` task on a composed config; returns its metrics."""
    return _run(cfg, "train")


def infer(
    source: DictConfig | Any,
    ckpt_path: str | os.PathLike | None = None,
    **settings: Any,
) -> Any:
    """Tiled inference: the ``infer`` task on a config, or a checkpoint on in-memory data.

    ``api.infer(cfg)`` runs ``task=infer`` (files in, files out) and returns its summary.
    ``api.infer(data, ckpt_path, ...)`` predicts a NumPy array, torch tensor or
    ``xarray.DataArray`` (e.g. ``mdio.open_mdio(path)["amplitude"]``) and returns the
    same kind, with the DataArray's dimensions, coordinates and attributes; settings as
    :func:`promethium.tasks.arrays.predict_array` (``patch``, ``overlap``, ``batch_size``,
    ``window``, ``device``, ``keep_observed``, ``dt``).
    """
    if isinstance(source, DictConfig):
        if ckpt_path is not None or settings:
            raise ConfigError("ckpt_path: api.infer(cfg) takes the checkpoint from cfg.ckpt_path")
        return _run(source, "infer")
    if ckpt_path is None:
        raise ConfigError("ckpt_path: api.infer(data, ckpt_path) needs the checkpoint to run")
    ckpt_path = resolve_checkpoint(ckpt_path)
    model, train_config = load_trained_network(ckpt_path)
    if isinstance(source, torch.Tensor):
        values = source.detach().cpu().numpy()
    else:  # a DataArray's samples, or an array
        values = np.asarray(source.values if is_dataarray(source) else source)
    check_array(values)  # refused before its amplitudes are looked at
    warn_if_amplitudes_differ(ckpt_path, model, values, settings.get("dt"))
    return predict_array(model, train_config, source, **settings)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the ``evaluate`` task (``task=evaluate ckpt_path=...``); returns its scores."""
    return _run(cfg, "evaluate")


def load_model(
    ckpt_path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> PromethiumModel:
    """Rebuild a trained network from a checkpoint, without executing pickled code.

    ``ckpt_path``: a ``.ckpt`` file, a shipped model (``pretrained:NAME[@VERSION]``) or a
    registered MLflow model (``models:/NAME/VERSION``, ``models:/NAME@alias``; the
    registry at ``MLFLOW_TRACKING_URI``, else ``outputs/mlflow.db``). The checkpoint is
    read with ``torch.load(weights_only=True)``; the network comes from the registry
    using the model config saved in the checkpoint (its card's resolved arguments where
    it has one), wrapped in its amplitude contract (``normalize``) when it was trained
    with one, so it takes and returns the survey's own units.

    Raises:
        DataError: if the file is missing, unreadable, or not a Promethium checkpoint
            (no training config, no weights, weights that do not fit the config).
    """
    return load_checkpoint(ckpt_path, map_location)[0]


def load_checkpoint(
    ckpt_path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[PromethiumModel, dict[str, Any]]:
    """Like :func:`load_model`, and also return the training run's config (a plain dict)."""
    return load_trained_network(resolve_checkpoint(ckpt_path), map_location)


__all__ = [
    "build_model",
    "compose",
    "evaluate",
    "infer",
    "load_checkpoint",
    "load_model",
    "train",
]

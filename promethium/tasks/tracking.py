"""Run provenance: git state, package versions, the config tree, and MLflow extras."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
PACKAGES = (
    "torch",
    "lightning",
    "torchmetrics",
    "hydra-core",
    "omegaconf",
    "zarr",
    "numpy",
    "scipy",
    "mlflow",
    "tensorboard",
    "optuna",
    "segyio",
    "promethium-hydra",
)


# Warnings from dependencies' internals that a user of this tool cannot act on.
_UNACTIONABLE = [
    r".*isinstance\(treespec, LeafSpec\).*",  # lightning's pytree shim on new torch
    r".*``noload`` loader strategy is deprecated.*",  # mlflow's SQLAlchemy store
    r".*Consider setting `persistent_workers=True`.*",
]


class _NoPromotions(logging.Filter):
    """Drops Lightning's "Tip: try installing ..." advertisements from the run's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


_NO_PROMOTIONS = _NoPromotions()


def filter_unactionable_warnings() -> None:
    """Silence dependency warnings and advertisements that users cannot act on."""
    for pattern in _UNACTIONABLE:
        warnings.filterwarnings("ignore", message=pattern)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _NO_PROMOTIONS not in rank_zero.filters:
        rank_zero.addFilter(_NO_PROMOTIONS)


def git_state(root: str | os.PathLike) -> dict[str, Any]:
    """Commit hash and dirty flag of the git checkout at ``root`` (``None`` if not a checkout)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hydra_overrides() -> list[str]:
    """The command-line overrides of this Hydra job (empty outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


def run_info(cfg: DictConfig) -> dict[str, Any]:
    """Everything needed to reproduce a run besides the config itself."""
    return {
        **git_state(cfg.paths.root_dir),
        "overrides": hydra_overrides(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "host": platform.node(),
        "seed": cfg.get("seed"),
    }


def print_config_tree(cfg: DictConfig, path: Path | None = None) -> None:
    """Print the composed config as a rich tree (and save its text to ``path``)."""
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        text = (
            OmegaConf.to_yaml(value, resolve=False) if isinstance(value, DictConfig) else str(value)
        )
        tree.add(str(key)).add(Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    Console().print(tree)
    if path is not None:
        with path.open("w") as fh:
            Console(file=fh, width=100, color_system=None).print(tree)


def save_run_info(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Write ``run_info.json`` and ``config_tree.log`` into the run folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    info = run_info(cfg)
    (output_dir / "run_info.json").write_text(json.dumps(info, indent=2))
    print_config_tree(cfg, output_dir / "config_tree.log")
    return info


def tag_mlflow_runs(
    loggers: list[Any], info: dict[str, Any], output_dir: Path, cfg: DictConfig
) -> None:
    """Give MLflow runs the git/override tags and the composed config as an artifact."""
    from lightning.pytorch.loggers import MLFlowLogger

    for logger in loggers:
        if not isinstance(logger, MLFlowLogger):
            continue
        client, run_id = logger.experiment, logger.run_id
        for key in ("git_commit", "git_dirty", "overrides", "host"):
            client.set_tag(
                run_id, key, json.dumps(info[key]) if key == "overrides" else str(info[key])
            )
        parent = OmegaConf.select(cfg, "optuna_trial.mlflow_parent_run_id")
        if parent:  # a sweep trial: a child of the sweep's run (hydra_plugins tracking)
            client.set_tag(run_id, "mlflow.parentRunId", str(parent))
            client.set_tag(run_id, "optuna.trial", str(cfg.optuna_trial.number))
            client.set_tag(run_id, "optuna.study", str(cfg.optuna_trial.study_name))
        config_file = output_dir / "config.yaml"
        config_file.write_text(OmegaConf.to_yaml(cfg, resolve=True))
        client.log_artifact(run_id, str(config_file))
        (output_dir / "mlflow_run_id.txt").write_text(run_id)

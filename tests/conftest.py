"""Shared fixtures: compose the real ``conf/`` and shrink it for CPU tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from promethium.config import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# A tiny data set and network: a few seconds per epoch on one CPU core.
TINY = [
    "data.source.n_gathers=8",
    "data.source.n_traces=24",
    "data.source.n_samples=48",
    "data.patch_size=[16,32]",
    "data.batch_size=4",
    "data.samples_per_epoch=8",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
    "model.depth=2",
    "model.base_channels=4",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.enable_progress_bar=false",
    "~callbacks.progress_bar",
]


def compose_config(tmp_path: Path, overrides: list[str] = (), tiny: bool = True) -> DictConfig:
    """Compose ``conf/config.yaml`` with ``overrides``, writing everything under ``tmp_path``."""
    register_resolvers()
    paths = [f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*(TINY if tiny else []), *paths, *overrides])


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> DictConfig:
    """The default config, shrunk."""
    return compose_config(tmp_path)

"""Shared fixtures (the helpers they use are in ``tests/helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers import compose_config


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> DictConfig:
    """The default config, shrunk."""
    return compose_config(tmp_path)

"""Training: the Lightning tasks and data module, losses, metrics, callbacks, checkpoints.

Inference is :mod:`promethium.inference`, which needs no Lightning. ``SeismicDataModule``
is imported on first use, so that ``import promethium.ml.checkpoints`` does not pull in
Lightning.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "SeismicDataModule":
        from promethium.ml.datamodule import SeismicDataModule

        return SeismicDataModule
    raise AttributeError(f"module 'promethium.ml' has no attribute {name!r}")

"""Training and inference.

Training: Lightning module and data module, losses, metrics, tracking, checkpoints.
Inference: :mod:`promethium.ml.inference`, which needs no Lightning.

``SeismicDataModule`` is imported on first use, so that ``promethium.ml.inference``
does not pull in Lightning.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "SeismicDataModule":
        from promethium.ml.datamodule import SeismicDataModule

        return SeismicDataModule
    raise AttributeError(f"module 'promethium.ml' has no attribute {name!r}")

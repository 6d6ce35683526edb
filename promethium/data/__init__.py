"""Data layer: Zarr store convention, lazy patch datasets, transforms, synthetic data.

Names are imported on first use, so that ``promethium.data.store`` (used by inference
and the scripts) does not import zarr-heavy modules it does not need. The Lightning data
module lives with training (:mod:`promethium.ml.datamodule`).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ZarrSource": "sources",
    "EpochKeySampler": "dataset",
    "SeismicDataset": "dataset",
    "open_store": "store",
    "store_attrs": "store",
    "validate_store": "store",
    "write_store": "store",
    "SyntheticGathers": "synthetic",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'promethium.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"promethium.data.{_WHERE[name]}"), name)

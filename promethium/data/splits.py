"""Train / validation / test splits of a store's regions, and patch-size sanity."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from promethium.errors import ConfigError
from promethium.tiling import Region

log = logging.getLogger(__name__)


def split_regions(
    regions: Sequence[Region], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[Region], list[Region], list[Region]]:
    """Shuffle whole regions with ``seed`` and split them into train / val / test."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError.for_parameter(key, value, "a fraction in [0, 1)")
    n = len(regions)
    n_val = max(int(round(val_fraction * n)), 1 if val_fraction > 0 else 0)
    n_test = max(int(round(test_fraction * n)), 1 if test_fraction > 0 else 0)
    if n - n_val - n_test < 1:
        raise ConfigError.about(
            "val_fraction",
            f"with test_fraction, {n} regions (gathers or blocks) cannot give "
            f"{n_val} validation and {n_test} test regions and still leave one for training",
        )
    order = np.random.default_rng(seed).permutation(n)
    pick = [regions[i] for i in order]
    return pick[n_val + n_test :], pick[:n_val], pick[n_val : n_val + n_test]


def warn_if_patch_exceeds(
    patch_size: Sequence[int], shape: Sequence[int], attrs: dict[str, Any], path: Any
) -> None:
    """Warn (once per data set) where a patch is larger than the data: zero padding trains."""
    trailing = shape[len(shape) - len(patch_size) :]
    names = list(attrs.get("axis_names") or [])[len(shape) - len(patch_size) :]
    names = names if len(names) == len(trailing) else [f"axis {i}" for i in range(len(trailing))]
    over = [
        f"{name} {p} > {n}" for name, p, n in zip(names, patch_size, trailing, strict=True) if p > n
    ]
    if over:
        log.warning(
            "data.patch_size %s is larger than the data of %s (%s): patches are zero-padded "
            "there, so the network trains partly on padding; choose a smaller patch",
            list(patch_size),
            path,
            ", ".join(over),
        )

"""Train / validation / test splits of a store's regions, and patch-size sanity."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promethium.errors import ConfigError
from promethium.tiling import Region

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Train / validation / test regions and, in words, what was held out.

    Attributes:
        train: regions training patches are drawn from.
        val: validation regions.
        test: test regions.
        held_out: what was held out, for the run log and the evaluation report.
        by: ``regions`` (whole gathers or blocks) or ``blocks`` (stretches of each one).
    """

    train: list[Region]
    val: list[Region]
    test: list[Region]
    held_out: str
    by: str = "regions"


def _counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """How many of ``n`` items validation and test take (at least one when asked for)."""
    n_val = max(int(round(val_fraction * n)), 1 if val_fraction > 0 else 0)
    n_test = max(int(round(test_fraction * n)), 1 if test_fraction > 0 else 0)
    return n_val, n_test


def split_regions(
    regions: Sequence[Region],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    patch_size: Sequence[int] | None = None,
    axis_name: str = "trace",
) -> Split:
    """Split whole regions, or, when there are too few, stretches of each region.

    With enough regions (gathers, or blocks of a store without leading axes) they are
    shuffled with ``seed`` and assigned whole. A survey with too few of them (a single
    2D line or shot, a small cube) is split along the first patch axis instead (see
    :func:`split_along_line`), so that the same command trains on any layout.

    Args:
        regions: the store's regions (:func:`promethium.data.dataset.make_regions`).
        val_fraction: share held out for validation.
        test_fraction: share held out for the final test.
        seed: shuffles whole regions.
        patch_size: the training patch; its first length sets the gap of a line split.
        axis_name: name of the first patch axis, for :attr:`Split.held_out`.

    Raises:
        ConfigError: fractions outside ``[0, 1)``, or a region too short to split.
    """
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError.for_parameter(key, value, "a fraction in [0, 1)")
    n = len(regions)
    n_val, n_test = _counts(n, val_fraction, test_fraction)
    if n - n_val - n_test >= 1:
        order = np.random.default_rng(seed).permutation(n)
        pick = [regions[i] for i in order]
        n_train = n - n_val - n_test
        return Split(
            pick[n_val + n_test :],
            pick[:n_val],
            pick[n_val : n_val + n_test],
            f"whole regions (gathers or blocks): {n_train} train, {n_val} validation and "
            f"{n_test} test",
        )
    gap = -(-int(patch_size[0]) // 2) if patch_size else 0
    return split_along_line(_whole_extent(regions), val_fraction, test_fraction, gap, axis_name)


def _whole_extent(regions: Sequence[Region]) -> list[Region]:
    """Blocks of a store without leading axes merged back into one region; others as given."""
    if not regions or regions[0].lead:
        return list(regions)
    lo = [min(r.lo[i] for r in regions) for i in range(len(regions[0].box))]
    hi = [max(r.hi[i] for r in regions) for i in range(len(regions[0].box))]
    return [Region.from_bounds((), lo, hi)]


def split_along_line(
    regions: Sequence[Region],
    val_fraction: float,
    test_fraction: float,
    gap: int,
    axis_name: str = "trace",
) -> Split:
    """Cut every region along its first patch axis: ``[train][gap][validation][test]``.

    Every region (gather, line or cube) gives a training stretch, then ``gap`` unused
    positions (half a patch: no validation or test window overlaps a training window,
    and none sits right beside one), then the validation and the test stretches at its
    end, each ``fraction`` of its length (at least one position when asked for).

    Raises:
        ConfigError: naming ``val_fraction`` when a region is too short for the split.
    """
    train: list[Region] = []
    val: list[Region] = []
    test: list[Region] = []
    held_out = ""
    for region in regions:
        lo, hi = region.lo[0], region.hi[0]
        length = hi - lo
        n_val, n_test = _counts(length, val_fraction, test_fraction)
        used_gap = gap if n_val + n_test else 0
        n_train = length - used_gap - n_val - n_test
        if n_train < 1:
            raise ConfigError.about(
                "val_fraction",
                f"with test_fraction, a region of {length} {axis_name}s cannot hold {n_val} "
                f"validation and {n_test} test {axis_name}s, a gap of {used_gap} (half the "
                "patch) and still leave one for training; lower the fractions or "
                "data.patch_size",
            )
        cuts = [lo, lo + n_train, lo + n_train + used_gap, hi - n_test, hi]
        for target, (a, b) in ((train, cuts[0:2]), (val, cuts[2:4]), (test, cuts[3:5])):
            if b > a:
                target.append(_stretch(region, a, b))
        held_out = held_out or (  # in words, as the first region is cut
            f"a stretch at the end of each of {len(regions)} region(s), too few to hold out "
            f"whole ones: of {length} {axis_name}s, {n_train} train, a gap of {used_gap}, "
            f"then {n_val} validation and {n_test} test"
        )
    return Split(train, val, test, held_out, by="blocks")


def _stretch(region: Region, lo: int, hi: int) -> Region:
    """``region`` limited to ``[lo, hi)`` on its first patch axis."""
    return Region(region.lead, (slice(lo, hi), *region.box[1:]), region.key)


def fit_patch_to_data(
    patch_size: Sequence[int], shape: Sequence[int], attrs: dict[str, Any], path: Any
) -> list[int]:
    """The training patch, each axis at most as long as the data along it.

    A patch longer than the data (traces of 75 samples under the default 128, gathers
    of 60 traces under 64) would train partly on zero padding and tile the survey with
    it at inference; clipped, the network sees only data, and the checkpoint records
    the patch it trained on (``BaseTask.setup``), which inference takes. Measured on the
    F3 line (75 samples): +0.08 dB and 40 % less training time (``docs/benchmarks.md``).
    """
    trailing = shape[len(shape) - len(patch_size) :]
    names = list(attrs.get("axis_names") or [])[len(shape) - len(patch_size) :]
    names = names if len(names) == len(trailing) else [f"axis {i}" for i in range(len(trailing))]
    fitted = [min(int(p), int(n)) for p, n in zip(patch_size, trailing, strict=True)]
    if fitted != [int(p) for p in patch_size]:
        over = [
            f"{name} {n}" for name, p, n in zip(names, patch_size, trailing, strict=True) if p > n
        ]
        log.info(
            "data.patch_size %s is longer than the data of %s (%s): training on %s patches "
            "(the checkpoint records them for inference)",
            list(patch_size),
            path,
            ", ".join(over),
            fitted,
        )
    return fitted

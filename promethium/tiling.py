"""Patch grids and blending windows for tiled inference.

The grid along one axis of length ``n`` with patch ``p`` and overlap ``o`` starts a patch
every ``p - o`` samples and adds one more patch that ends flush with the border, so every
sample is covered and none is left in a trailing strip. Where the axis is shorter than
the patch, the patch shrinks to the axis (the networks pad internally to the size they
need, see ``layers.pad_to_multiple``), so no sample is predicted from made-up context.

Windows are separable products of 1D windows that are strictly positive everywhere:
blending divides the weighted sum of patch predictions by the sum of the weights, so an
identity network returns its input exactly, borders and corners included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from typing import Any

import numpy as np

from promethium.errors import ConfigError

WINDOWS = ("cosine", "constant", "gaussian")
#: Gaussian sigma as a fraction of the patch length (MONAI's default ``sigma_scale``).
GAUSSIAN_SIGMA = 0.125


@dataclass(frozen=True, eq=False)
class Region:
    """A box of an array: ``lead`` indices over iterated axes, ``box`` over the patch axes.

    Training reads patches inside a region (``lead``: ints, one gather); inference
    predicts and writes one region at a time (``lead``: slices, ``key``: its output chunk).
    """

    lead: tuple[Any, ...]
    box: tuple[slice, ...]
    key: Any = None

    @classmethod
    def from_bounds(cls, lead: Sequence[int], lo: Sequence[int], hi: Sequence[int]) -> Region:
        """The region ``lead`` x ``[lo, hi)``."""
        return cls(tuple(lead), tuple(slice(a, b) for a, b in zip(lo, hi, strict=True)))

    @property
    def lo(self) -> tuple[int, ...]:
        """First index of the box on each patch axis."""
        return tuple(int(s.start or 0) for s in self.box)

    @property
    def hi(self) -> tuple[int, ...]:
        """One past the last index of the box on each patch axis."""
        return tuple(int(s.stop) for s in self.box)


def resolve_patch_size(patch_size: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    """One positive patch length per spatial axis (a scalar applies to all axes).

    Raises:
        ConfigError: naming ``infer.patch_size``.
    """
    sizes = [patch_size] * spatial_dims if isinstance(patch_size, int) else list(patch_size)
    if len(sizes) != spatial_dims or any(
        not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes
    ):
        raise ConfigError.for_parameter(
            "patch_size",
            patch_size,
            f"a positive integer or a list of {spatial_dims} positive integers (one per axis)",
        )
    return tuple(sizes)


def resolve_overlap(overlap: float | Sequence[int], patch_size: Sequence[int]) -> tuple[int, ...]:
    """Overlap in samples per axis.

    Args:
        overlap: a fraction of the patch in ``[0, 1)``, or a list of samples per axis
            (each ``0 <= o < patch``).
        patch_size: patch length per axis (before shrinking to short axes).

    Raises:
        ConfigError: naming ``infer.overlap`` and the allowed values.
    """
    allowed = "a fraction in [0, 1), or a list of samples per axis, each smaller than the patch"
    if isinstance(overlap, int | float) and not isinstance(overlap, bool):
        if not 0.0 <= float(overlap) < 1.0:
            raise ConfigError.for_parameter("overlap", overlap, allowed)
        return tuple(int(round(float(overlap) * p)) for p in patch_size)
    samples = list(overlap)  # type: ignore[arg-type]  # a sequence: numbers returned above
    if len(samples) != len(patch_size) or any(
        not isinstance(o, int) or isinstance(o, bool) or not 0 <= o < p
        for o, p in zip(samples, patch_size, strict=False)
    ):
        raise ConfigError.for_parameter(
            "overlap", overlap, f"for patch {list(patch_size)}, {allowed}"
        )
    return tuple(samples)


def axis_starts(n: int, patch: int, overlap: int) -> np.ndarray:
    """Patch start positions along one axis: stride ``patch - overlap``, last one flush.

    ``patch`` must already be ``<= n``. Returns a sorted int64 array whose patches cover
    ``[0, n)`` with the last patch ending exactly at ``n``.
    """
    stride = max(patch - overlap, 1)
    starts = np.arange(0, n - patch + 1, stride, dtype=np.int64)
    if starts[-1] != n - patch:
        starts = np.append(starts, n - patch)
    return starts


def window_1d(kind: str, n: int) -> np.ndarray:
    """A strictly positive 1D blending window of length ``n`` (float64).

    ``cosine``: Hann window sampled at half-sample offsets, ``sin^2(pi (i + 1/2) / n)``,
    which never reaches zero, so border samples covered by one patch keep a weight.
    ``gaussian``: ``exp(-x^2 / 2 sigma^2)``, sigma = 0.125 n, floored at 1e-3.
    ``constant``: all ones (plain averaging, shows seams with patch-dependent outputs).
    """
    if kind not in WINDOWS:
        raise ConfigError.for_parameter("window", kind, ", ".join(WINDOWS))
    i = np.arange(n, dtype=np.float64)
    if kind == "cosine":
        return np.sin(np.pi * (i + 0.5) / n) ** 2
    if kind == "gaussian":
        sigma = max(GAUSSIAN_SIGMA * n, 1e-6)
        return np.maximum(np.exp(-0.5 * ((i - (n - 1) / 2) / sigma) ** 2), 1e-3)
    return np.ones(n)


def make_window(kind: str, patch_size: Sequence[int]) -> np.ndarray:
    """Separable N-D window: the outer product of 1D windows, float32, shape ``patch_size``."""
    window = np.ones((), dtype=np.float64)
    for n in patch_size:
        window = np.multiply.outer(window, window_1d(kind, n))
    return window.astype(np.float32)


@dataclass(frozen=True)
class TileGrid:
    """The global patch grid over the spatial axes of a volume.

    Args:
        shape: spatial shape (the axes the network sees, time last by convention).
        patch_size: requested patch per axis; shrunk to the axis where it is longer.
        overlap: overlap in samples per axis (see :func:`resolve_overlap`).
        window: window kind (see :data:`WINDOWS`).
    """

    shape: tuple[int, ...]
    patch_size: tuple[int, ...]
    overlap: tuple[int, ...]
    window_kind: str = "cosine"

    @cached_property
    def patch(self) -> tuple[int, ...]:
        """Effective patch per axis: ``min(requested, axis length)``."""
        return tuple(min(p, n) for p, n in zip(self.patch_size, self.shape, strict=True))

    @cached_property
    def starts(self) -> tuple[np.ndarray, ...]:
        """Start positions per axis (see :func:`axis_starts`)."""
        return tuple(
            axis_starts(n, p, min(o, p - 1))
            for n, p, o in zip(self.shape, self.patch, self.overlap, strict=True)
        )

    @cached_property
    def window(self) -> np.ndarray:
        """Blending window of shape :attr:`patch`."""
        return make_window(self.window_kind, self.patch)

    @property
    def n_patches(self) -> int:
        """Patches covering the whole spatial extent."""
        return int(np.prod([len(s) for s in self.starts]))

    def touching(self, box: Sequence[slice]) -> tuple[np.ndarray, ...]:
        """Per axis, the starts of patches that overlap ``box`` (half-open slices)."""
        return tuple(
            s[(s < b.stop) & (s + p > b.start)]
            for s, p, b in zip(self.starts, self.patch, box, strict=True)
        )

    def halo(self, box: Sequence[slice]) -> tuple[tuple[slice, ...], tuple[np.ndarray, ...]]:
        """The input region that the patches touching ``box`` read, and those patches.

        Returns:
            ``(halo, starts)``: halo slices in volume coordinates, and per axis the
            patch starts relative to the halo origin.
        """
        starts = self.touching(box)
        halo = tuple(
            slice(int(s[0]), int(s[-1]) + p) for s, p in zip(starts, self.patch, strict=True)
        )
        return halo, tuple(s - h.start for s, h in zip(starts, halo, strict=True))

    def patch_slices(self, local_starts: Sequence[np.ndarray]) -> list[tuple[slice, ...]]:
        """All patch slices (raster order) from per-axis start lists."""
        return [
            tuple(slice(int(a), int(a) + p) for a, p in zip(corner, self.patch, strict=True))
            for corner in product(*local_starts)
        ]

    def weight_sum(
        self, halo_shape: Sequence[int], slices: Sequence[tuple[slice, ...]]
    ) -> np.ndarray:
        """Sum of the windows of ``slices`` over an array of ``halo_shape`` (float64)."""
        total = np.zeros(tuple(halo_shape), dtype=np.float64)
        for sl in slices:
            total[sl] += self.window
        return total

"""Half-overlapping, cosine-blended windows for the classical methods.

Curved events are locally linear, and the classical methods assume linear events (f-x
prediction, sparse FK spectra), so they run window by window. The windows overlap by
half and are blended with the cosine window of tiled inference, an exact partition of
unity, so a method that returns its input returns it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product

import numpy as np

from promethium.tiling import axis_starts, window_1d


def blend_windows(
    method: Callable[[tuple[slice, ...]], np.ndarray],
    shape: Sequence[int],
    window: Sequence[int],
) -> np.ndarray:
    """Run ``method`` on windows of the trailing ``len(window)`` axes and blend the results.

    Args:
        method: ``box -> result``: the result for ``array[..., *box]`` (the caller slices).
        shape: full shape ``(..., *axes)`` of the result.
        window: window size per trailing axis (clipped to the axis).

    Returns:
        The blended float64 result of ``shape``.
    """
    axes = list(shape[len(shape) - len(window) :])
    sizes = [min(int(w), n) for w, n in zip(window, axes, strict=True)]
    taper = np.ones(())
    for size in sizes:
        taper = np.multiply.outer(taper, window_1d("cosine", size))
    out = np.zeros(shape, dtype=np.float64)
    weight = np.zeros(axes)
    for starts in product(*(axis_starts(n, s, s // 2) for n, s in zip(axes, sizes, strict=True))):
        box = tuple(slice(a, a + s) for a, s in zip(starts, sizes, strict=True))
        out[(..., *box)] += method(box) * taper
        weight[box] += taper
    return out / weight


__all__ = ["blend_windows"]

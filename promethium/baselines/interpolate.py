"""Classical trace-interpolation baselines: linear interpolation and POCS.

Gathers are ``(..., trace, time)``; ``mask`` is ``(..., trace)`` (or broadcastable,
e.g. ``(..., trace, 1)`` as the ``MissingTraces`` corruption returns), 1 for live and 0
for missing traces. Missing traces in ``x`` may hold anything; live ones are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from promethium.baselines.windows import blend_windows
from promethium.errors import ConfigError


def _trace_mask(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == x.ndim:
        mask = mask[..., 0]
    return np.broadcast_to(mask, x.shape[:-1]).astype(bool)


def linear_interpolation(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill missing traces sample by sample from the nearest live traces on either side.

    Each missing trace is the distance-weighted mean of the closest live trace to its
    left and to its right (the nearest one beyond the first/last live trace): the
    baseline any interpolation method has to beat (e.g. Yilmaz 2001, Seismic Data
    Analysis, section 6). Vectorised over gathers and time.

    Args:
        x: ``(..., trace, time)``.
        mask: live traces, ``(..., trace)``.
    """
    live = _trace_mask(x, mask)
    n = x.shape[-2]
    flat_x = x.reshape(-1, n, x.shape[-1])
    flat_live = live.reshape(-1, n)
    out = flat_x.copy()
    position = np.arange(n)
    for g in range(flat_x.shape[0]):  # per gather: live sets differ; vectorised inside
        idx = np.flatnonzero(flat_live[g])
        if idx.size == 0:
            out[g] = 0.0
            continue
        after = np.searchsorted(idx, position)  # idx[after - 1] < position <= idx[after]
        # clipping makes both neighbours the first (last) live trace before (beyond) them
        lo = idx[np.clip(after - 1, 0, idx.size - 1)]
        hi = idx[np.clip(after, 0, idx.size - 1)]
        span = np.maximum(hi - lo, 1)
        w_hi = np.where(hi == lo, 0.0, (position - lo) / span)[:, None]
        filled = (1 - w_hi) * flat_x[g, lo] + w_hi * flat_x[g, hi]
        out[g] = np.where(flat_live[g][:, None], flat_x[g], filled)
    return out.reshape(x.shape).astype(x.dtype)


def pocs(
    x: np.ndarray,
    mask: np.ndarray,
    n_iter: int = 100,
    p_max: float = 0.99,
    p_min: float = 0.01,
    schedule: str = "exponential",
    pad: float = 0.25,
    window: Sequence[int] | None = (64, 256),
) -> np.ndarray:
    """POCS interpolation: iterative thresholding of the FK spectrum, in windows.

    Abma and Kabir (2006), "3D interpolation of irregularly sampled data by projection
    onto convex sets", Geophysics 71(6), E91-E97. Starting from the zero-filled gather,
    each iteration keeps the 2D Fourier coefficients above a threshold that decreases
    from ``p_max`` to ``p_min`` times the largest amplitude, transforms back, and
    re-inserts the observed traces: ``d <- d_obs + (1 - M) F^-1 T_k F d``.

    Args:
        x: ``(..., trace, time)``; missing traces are ignored.
        mask: live traces, ``(..., trace)``.
        n_iter: iterations.
        p_max: first threshold, as a fraction of the largest spectral amplitude.
        p_min: last threshold, likewise.
        schedule: ``exponential`` or ``linear`` decrease of the threshold.
        pad: unknown traces added on each side, as a fraction of the trace count: the
            FFT treats the gather as periodic, and a dipping event wraps into a jump at
            the edges that smears the spectrum (``docs/benchmarks.md``).
        window: ``(traces, samples)`` of the windows processed separately, overlapping
            by half and blended with the cosine window of tiled inference (an exact
            partition of unity); ``None``: the whole gather at once. Curved events are
            locally linear, hence sparse in a window's spectrum but not in the whole
            gather's (the gain on Marmousi shots is in ``docs/benchmarks.md``).
    """
    if window is None:
        return _pocs(x, mask, n_iter, p_max, p_min, schedule, pad)
    live = _trace_mask(x, mask)
    out = blend_windows(
        lambda box: _pocs(x[(..., *box)], live[..., box[0]], n_iter, p_max, p_min, schedule, pad),
        x.shape,
        window,
    )
    # observed traces pass through exactly; the blend only fills the missing ones
    return np.where(live[..., None], x, out).astype(x.dtype)


def _pocs(
    x: np.ndarray,
    mask: np.ndarray,
    n_iter: int,
    p_max: float,
    p_min: float,
    schedule: str,
    pad: float,
) -> np.ndarray:
    """:func:`pocs` on whole gathers (no windows)."""
    if schedule not in ("exponential", "linear"):
        raise ConfigError.for_parameter("schedule", schedule, "exponential, linear")
    if not 0 < p_min <= p_max <= 1 or n_iter < 1:
        raise ConfigError.about(
            "p_min", f"need 0 < p_min <= p_max <= 1 and n_iter >= 1; got {p_min}, {p_max}, {n_iter}"
        )
    n_pad = int(round(pad * x.shape[-2]))
    widths = [(0, 0)] * (x.ndim - 2) + [(n_pad, n_pad), (0, 0)]
    live = np.pad(_trace_mask(x, mask)[..., None].astype(x.dtype), widths)
    observed = np.pad(x, widths) * live
    steps = np.arange(n_iter) / max(n_iter - 1, 1)
    if schedule == "exponential":
        fractions = p_max * (p_min / p_max) ** steps
    else:
        fractions = p_max + (p_min - p_max) * steps
    scale = np.abs(np.fft.fft2(observed, axes=(-2, -1))).max(axis=(-2, -1), keepdims=True)
    estimate = observed.copy()
    for fraction in fractions:
        spectrum = np.fft.fft2(estimate, axes=(-2, -1))
        spectrum[np.abs(spectrum) < fraction * scale] = 0
        estimate = observed + (1 - live) * np.real(np.fft.ifft2(spectrum, axes=(-2, -1)))
    return estimate[..., n_pad : n_pad + x.shape[-2], :].astype(x.dtype)

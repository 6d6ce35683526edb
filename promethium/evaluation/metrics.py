"""Per-gather quality metrics of a reconstruction against the clean reference.

All functions take ``(..., trace, time)`` arrays and return one value per gather
(shape ``(...)``), so that tables can report a mean and a spread over gathers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from promethium import quality

_TINY = 1e-30


def _axes(x: np.ndarray) -> tuple[int, int]:
    return (x.ndim - 2, x.ndim - 1)


def _ratio_db(signal: np.ndarray, error: np.ndarray) -> np.ndarray:
    """``10 log10(signal / error)``; NaN (undefined) where the signal is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10 * np.log10(signal / np.maximum(error, _TINY))
    return np.where(signal > 0, db, np.nan)


def snr_db(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """SNR per gather of ``(..., trace, time)`` arrays (dB; NaN for a zero reference)."""
    return quality.snr_db(estimate, reference, item_dims=reference.ndim - 2)


def snr_missing_db(estimate: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """SNR over the missing traces only (``mask``: ``(..., trace)``, 1 = live), dB."""
    missing = (1 - np.asarray(mask, dtype=np.float64))[..., None]
    return snr_db(estimate * missing, reference * missing)


def psnr_db(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Peak SNR per gather: ``10 log10(range^2 / MSE)``, range = ref max - ref min (dB).

    NaN (undefined) for a constant reference.
    """
    axes = _axes(reference)
    peak = np.ptp(reference, axis=axes).astype(np.float64)
    mse = np.mean(np.square(estimate - reference, dtype=np.float64), axis=axes)
    return _ratio_db(peak**2, mse)


def _ssim_kernel(shape: tuple[int, ...]) -> tuple[list[int], list[float]]:
    """The Gaussian 11x11 window (sigma 1.5), narrowed (odd) on axes shorter than 11."""
    sizes = [min(11, n if n % 2 else n - 1) for n in shape]
    return sizes, [1.5 * k / 11 for k in sizes]


def ssim(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Structural similarity per gather (torchmetrics, data range of ref; NaN if constant).

    The Gaussian window is 11x11 (sigma 1.5), narrowed on gathers with fewer than 11
    traces or samples (torchmetrics pads by reflection, which needs the window to fit).
    """
    lead = reference.shape[:-2]
    est = torch.from_numpy(np.ascontiguousarray(estimate, dtype=np.float64)).reshape(
        -1, 1, *reference.shape[-2:]
    )
    ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float64)).reshape(
        -1, 1, *reference.shape[-2:]
    )
    kernel, sigma = _ssim_kernel(reference.shape[-2:])
    values = []
    for e, r in zip(est, ref, strict=True):  # per gather: each its own data range
        span = float(r.max() - r.min())
        if span == 0:
            values.append(float("nan"))
            continue
        value = structural_similarity_index_measure(
            e[None], r[None], data_range=span, kernel_size=kernel, sigma=sigma
        )
        values.append(float(value))
    return np.asarray(values).reshape(lead)


def fk_error_db(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Error of the FK amplitude spectrum relative to the reference's, in dB.

    ``10 log10(sum (|F est| - |F ref|)^2 / sum |F ref|^2)`` over the 2D (trace, time)
    spectrum: lower is better; it ignores phase, so it scores the frequency and dip
    content a method restores (or the noise it leaves) rather than exact waveforms.
    """
    axes = _axes(reference)
    f_est = np.abs(np.fft.rfft2(estimate, axes=axes))
    f_ref = np.abs(np.fft.rfft2(reference, axes=axes))
    error = np.sum((f_est - f_ref) ** 2, axis=axes)
    energy = np.sum(f_ref**2, axis=axes)
    return np.where(energy > 0, -_ratio_db(energy, error), np.nan)


#: metric name -> (function, higher is better)
METRICS = {
    "snr_db": (snr_db, True),
    "psnr_db": (psnr_db, True),
    "ssim": (ssim, True),
    "fk_error_db": (fk_error_db, False),
}


def score(
    estimate: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every metric per gather; ``snr_missing_db`` too when a trace ``mask`` is given."""
    scores = {name: fn(estimate, reference) for name, (fn, _) in METRICS.items()}
    if mask is not None:
        scores["snr_missing_db"] = snr_missing_db(estimate, reference, mask)
    return scores


def summarise(scores: Mapping[str, np.ndarray]) -> dict[str, dict[str, float | None]]:
    """Mean and standard deviation over the gathers where each metric is defined.

    A metric undefined on every gather (NaN) has ``None`` for both.
    """
    summary: dict[str, dict[str, float | None]] = {}
    for name, values in scores.items():
        defined = np.asarray(values, dtype=np.float64)
        defined = defined[np.isfinite(defined)]
        summary[name] = (
            {"mean": float(defined.mean()), "std": float(defined.std())}
            if defined.size
            else {"mean": None, "std": None}
        )
    return summary

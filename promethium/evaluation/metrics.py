"""Per-gather quality metrics of a reconstruction against the clean reference.

All functions take ``(..., trace, time)`` arrays and return one value per gather
(shape ``(...)``), so that tables can report a mean and a spread over gathers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

_TINY = 1e-30


def _axes(x: np.ndarray) -> tuple[int, int]:
    return (x.ndim - 2, x.ndim - 1)


def snr_db(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``10 log10(sum ref^2 / sum (est - ref)^2)`` per gather (dB)."""
    axes = _axes(reference)
    signal = np.sum(np.square(reference, dtype=np.float64), axis=axes)
    error = np.sum(np.square(estimate - reference, dtype=np.float64), axis=axes)
    return 10 * np.log10(np.maximum(signal, _TINY) / np.maximum(error, _TINY))


def snr_missing_db(estimate: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """SNR over the missing traces only (``mask``: ``(..., trace)``, 1 = live), dB."""
    missing = (1 - np.asarray(mask, dtype=np.float64))[..., None]
    return snr_db(estimate * missing, reference * missing)


def psnr_db(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Peak SNR per gather: ``10 log10(range^2 / MSE)``, range = ref max - ref min (dB)."""
    axes = _axes(reference)
    peak = np.ptp(reference, axis=axes).astype(np.float64)
    mse = np.mean(np.square(estimate - reference, dtype=np.float64), axis=axes)
    return 10 * np.log10(np.maximum(peak**2, _TINY) / np.maximum(mse, _TINY))


def ssim(estimate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Structural similarity per gather (torchmetrics, Gaussian 11x11, data range of ref)."""
    lead = reference.shape[:-2]
    est = torch.from_numpy(np.ascontiguousarray(estimate, dtype=np.float64)).reshape(
        -1, 1, *reference.shape[-2:]
    )
    ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float64)).reshape(
        -1, 1, *reference.shape[-2:]
    )
    values = []
    for e, r in zip(est, ref, strict=True):  # per gather: each its own data range
        span = float(r.max() - r.min()) or 1.0
        values.append(float(structural_similarity_index_measure(e[None], r[None], data_range=span)))
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
    return 10 * np.log10(np.maximum(error, _TINY) / np.maximum(np.sum(f_ref**2, axis=axes), _TINY))


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


def summarise(scores: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over gathers of each metric."""
    return {
        name: {"mean": float(np.mean(v)), "std": float(np.std(v))} for name, v in scores.items()
    }

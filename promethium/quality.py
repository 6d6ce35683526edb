"""The signal-to-noise ratio, the one quality measure training and evaluation share.

One definition for NumPy arrays (evaluation reports, float64 sums) and torch tensors
(training metrics, on any device), so a validation SNR and an evaluation SNR of the
same prediction agree.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def snr_db(
    estimate: ArrayT, reference: ArrayT, weight: ArrayT | None = None, item_dims: int = 1
) -> ArrayT:
    """``10 log10(sum w ref^2 / sum w (est - ref)^2)`` per item, in dB.

    Args:
        estimate: ``(*items, ...)`` the reconstruction.
        reference: the clean reference, same shape.
        weight: optional weights broadcastable to ``reference`` (e.g. 1 on missing traces).
        item_dims: leading axes that index items; the sums run over all the others.

    Returns:
        ``(*items)`` values: NaN where the (weighted) reference has no energy, ``+inf``
        where the error is exactly zero. NumPy in, float64 NumPy out; torch in, torch
        out (input dtype and device).
    """
    if isinstance(reference, torch.Tensor):
        w = torch.ones_like(reference) if weight is None else weight.expand_as(reference)
        signal = (w * reference.square()).flatten(item_dims).sum(-1)
        error = (w * (reference - estimate).square()).flatten(item_dims).sum(-1)
        db = 10.0 * torch.log10(signal / error)
        return torch.where(signal > 0, db, torch.full_like(db, float("nan")))
    ref = np.asarray(reference, dtype=np.float64)
    w = np.ones_like(ref) if weight is None else np.broadcast_to(weight, ref.shape)
    axes = tuple(range(item_dims, ref.ndim))
    signal = np.sum(w * np.square(ref), axis=axes)
    error = np.sum(w * np.square(np.asarray(estimate, dtype=np.float64) - ref), axis=axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(signal / error)
    return np.where(signal > 0, db, np.nan)

"""Seismic quality metrics (SNR in dB) as functions and torchmetrics aggregators."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from promethium.quality import snr_db


class _MaskedSNRMetric(Metric):
    """What both SNR aggregators share: float64 sum states and the missing-trace weight."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, missing_only: bool = False) -> None:
        super().__init__()
        self.missing_only = missing_only

    def _add_sum_state(self, name: str) -> None:
        self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def _skips(self, mask: torch.Tensor | None) -> bool:
        """A ``missing_only`` metric has nothing to measure in a batch without a mask."""
        return self.missing_only and mask is None

    def _weight(self, mask: torch.Tensor | None) -> torch.Tensor | None:
        """``1 - mask`` (the filled-in samples) for ``missing_only``, else ``None`` (all)."""
        return 1.0 - mask if self.missing_only and mask is not None else None


class MeanSNR(_MaskedSNRMetric):
    """Mean per-patch SNR (dB), optionally restricted to the unobserved samples.

    torchmetrics' ``SignalNoiseRatio`` measures along the last axis only and has no mask;
    this aggregates :func:`snr_db` over whole patches, which is what seismic papers report.

    Args:
        missing_only: measure on ``1 - mask`` (the traces the model had to fill in).

    """

    def __init__(self, missing_only: bool = False) -> None:
        super().__init__(missing_only)
        self._add_sum_state("total")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> None:
        """Accumulate the SNR of each patch in the batch (patches with no signal are skipped)."""
        if self._skips(mask):
            return
        values = snr_db(pred.detach().float(), target.float(), self._weight(mask))  # (B,)
        values = values[torch.isfinite(values)]
        self.total += values.double().sum()
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        """Mean SNR over the accumulated patches (NaN if none)."""
        return (self.total / self.count).float() if self.count > 0 else torch.tensor(float("nan"))


class EnergySNR(_MaskedSNRMetric):
    """SNR (dB) of everything seen: total signal energy over total error energy.

    Unlike :class:`MeanSNR`, patches count by their energy, so near-empty patches (above
    the first arrival of a shot gather, far offsets) cannot dominate the result; it is
    the SNR of the whole validation set as one signal, comparable to the evaluate task's
    per-gather SNR.

    Args:
        missing_only: measure on ``1 - mask`` (the traces the model had to fill in).

    """

    def __init__(self, missing_only: bool = False) -> None:
        super().__init__(missing_only)
        self._add_sum_state("signal")
        self._add_sum_state("error")

    def update(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> None:
        """Accumulate the signal and error energy of the batch."""
        if self._skips(mask):
            return
        target, pred = target.double(), pred.detach().double()
        missing = self._weight(mask)
        weight = missing.expand_as(target).double() if missing is not None else 1.0
        self.signal += (weight * target.square()).sum()
        self.error += (weight * (target - pred).square()).sum()

    def compute(self) -> torch.Tensor:
        """``10 log10(signal / error)`` (NaN if no signal was seen)."""
        if self.signal <= 0:
            return torch.tensor(float("nan"))
        return (10.0 * torch.log10(self.signal / self.error)).float()

"""The data loss of training (the physics loss is :mod:`promethium.physics.wave_loss`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from promethium.errors import ConfigError

LOSS_KINDS = ("l1", "l2", "huber")


class DataLoss(nn.Module):
    """Pointwise L1 / L2 / Huber loss, weighted by what was observed and what was recorded.

    Each sample is weighted ``(observed_weight * mask + missing_weight * (1 - mask)) *
    live`` and the weighted sum is divided by the weight sum, where ``mask`` is the
    corruption's (1 observed, 0 removed or blind-spotted) and ``live`` the record's own
    trace mask (0 on dead or absent traces and on padding, which are never a target).

    - supervised: ``observed_weight = missing_weight = 1`` (``missing_weight > 1``
      emphasises the traces the network has to invent);
    - self-supervised (the recorded data are the target, a further decimation or a
      blind-spot mask the input): ``observed_weight = 0``, so only the hidden recorded
      samples count.

    Shapes: ``pred, target: (B, C, *S)``; ``mask``, ``live`` broadcastable -> scalar.

    Args:
        kind: ``l1``, ``l2`` or ``huber``.
        missing_weight: weight of removed samples (>= 0).
        observed_weight: weight of observed samples (>= 0; 0 for self-supervision).
        huber_delta: transition point of the Huber loss.

    """

    def __init__(
        self,
        kind: str = "l1",
        missing_weight: float = 1.0,
        huber_delta: float = 1.0,
        observed_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if kind not in LOSS_KINDS:
            raise ConfigError.for_parameter("kind", kind, ", ".join(LOSS_KINDS))
        for name, value in (
            ("missing_weight", missing_weight),
            ("observed_weight", observed_weight),
        ):
            if value < 0:
                raise ConfigError.for_parameter(name, value, ">= 0")
        if missing_weight == observed_weight == 0:
            raise ConfigError.for_parameter("missing_weight", 0, "> 0 when observed_weight is 0")
        self.kind, self.missing_weight, self.huber_delta = kind, missing_weight, huber_delta
        self.observed_weight = observed_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
        live: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weighted mean pointwise loss."""
        match self.kind:
            case "l1":
                pointwise = F.l1_loss(pred, target, reduction="none")
            case "l2":
                pointwise = F.mse_loss(pred, target, reduction="none")
            case _:
                pointwise = F.huber_loss(pred, target, reduction="none", delta=self.huber_delta)
        weight = torch.ones_like(pointwise) if live is None else live.expand_as(pointwise)
        if mask is not None and not self.missing_weight == self.observed_weight == 1.0:
            weight = weight * (
                self.observed_weight * mask + self.missing_weight * (1.0 - mask)
            ).expand_as(pointwise)
        if live is None and (mask is None or self.missing_weight == self.observed_weight == 1.0):
            return pointwise.mean()
        # zero-weight samples are excluded exactly: a huge value there (a poisoned absent
        # trace) contributes nothing, not 0 * inf
        pointwise = torch.where(weight > 0, pointwise, torch.zeros_like(pointwise))
        return (pointwise * weight).sum() / weight.sum().clamp_min(1e-12)

"""The data loss of training (the physics loss is :mod:`promethium.physics.wave_loss`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from promethium.errors import ConfigError

LOSS_KINDS = ("l1", "l2", "huber")


class DataLoss(nn.Module):
    """Pointwise L1 / L2 / Huber loss with an optional extra weight on missing samples.

    With a mask (1 observed, 0 missing), each sample is weighted ``mask + missing_weight
    * (1 - mask)`` and the weighted sum is divided by the weight sum, so
    ``missing_weight > 1`` emphasises the traces the network has to invent.

    Shapes: ``pred, target, mask: (B, C, *S)`` (mask broadcastable) -> scalar.

    Args:
        kind: ``l1``, ``l2`` or ``huber``.
        missing_weight: relative weight of missing samples (>= 0).
        huber_delta: transition point of the Huber loss.

    """

    def __init__(
        self, kind: str = "l1", missing_weight: float = 1.0, huber_delta: float = 1.0
    ) -> None:
        super().__init__()
        if kind not in LOSS_KINDS:
            raise ConfigError.for_parameter("kind", kind, ", ".join(LOSS_KINDS))
        if missing_weight < 0:
            raise ConfigError.for_parameter("missing_weight", missing_weight, ">= 0")
        self.kind, self.missing_weight, self.huber_delta = kind, missing_weight, huber_delta

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Weighted mean pointwise loss."""
        match self.kind:
            case "l1":
                pointwise = F.l1_loss(pred, target, reduction="none")
            case "l2":
                pointwise = F.mse_loss(pred, target, reduction="none")
            case _:
                pointwise = F.huber_loss(pred, target, reduction="none", delta=self.huber_delta)
        if mask is None or self.missing_weight == 1.0:
            return pointwise.mean()
        weight = mask + self.missing_weight * (1.0 - mask)
        weight = weight.expand_as(pointwise)
        return (pointwise * weight).sum() / weight.sum().clamp_min(1e-12)

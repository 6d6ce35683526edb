"""The amplitude contract: scale patches to unit amplitude for the network, and back.

Networks are not scale-equivariant, and surveys come in any units (raw integer counts,
pressure, gained and not). A model is trained on scaled patches and the same scaling is
applied, and undone, wherever it runs (``task=infer``, ``task=evaluate``, ``api``), so
results are in the survey's own units and ``predict(k * x) == k * predict(x)`` for
``k > 0``. The scaler is chosen by the ``normalize`` config group and saved with the
training config in every checkpoint.

Statistics come from the network's *input* only (never the target) and ignore traces
that are entirely zero (dead, absent or removed by a corruption), so a decimated patch
is scaled like the complete one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from promethium.errors import ConfigError

KINDS = ("none", "rms", "std", "peak", "agc")
PER = ("patch", "trace")


class AmplitudeScaler(nn.Module):
    """Per-patch or per-trace amplitude scale of ``(B, C, *S)`` patches, time last.

    Args:
        kind: ``none``; ``rms`` (root mean square of the live traces); ``std`` (their
            standard deviation); ``peak`` (largest absolute value); ``agc`` (automatic
            gain control: a sliding RMS along time over ``window`` samples, per trace).
        per: ``patch`` (one scale per patch) or ``trace`` (one per trace: trace
            balancing). ``agc`` is always per trace and per sample.
        window: AGC window in samples (odd; ``agc`` only).
        eps: relative floor of a scale, against division by (near) zero.
    """

    def __init__(
        self, kind: str = "rms", per: str = "patch", window: int | None = None, eps: float = 1e-6
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError.for_parameter("kind", kind, ", ".join(KINDS))
        if per not in PER:
            raise ConfigError.for_parameter("per", per, ", ".join(PER))
        if kind == "agc" and (not isinstance(window, int) or window < 1):
            raise ConfigError.for_parameter("window", window, "a positive number of samples")
        self.kind, self.per, self.window, self.eps = kind, per, window, eps

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """The positive scale of ``x``, broadcastable to it (1 where nothing is live)."""
        if self.kind == "none":
            return torch.ones_like(x[..., :1])
        live = (x.abs().amax(dim=-1, keepdim=True) > 0).to(x.dtype)  # (B, C, *traces, 1)
        if self.kind == "agc":
            return self._agc(x)
        axes = (-1,) if self.per == "trace" else tuple(range(1, x.ndim))
        if self.kind == "peak":
            value = x.abs().amax(dim=axes, keepdim=True)
        else:
            count = (live.sum(dim=axes, keepdim=True) * x.shape[-1]).clamp_min(1)
            mean = (x.sum(dim=axes, keepdim=True) / count) if self.kind == "std" else 0.0
            centred = (x - mean) * live
            value = (centred.square().sum(dim=axes, keepdim=True) / count).sqrt()
        return self._floor(value)

    def _agc(self, x: torch.Tensor) -> torch.Tensor:
        width = int(self.window or 1) | 1  # odd, centred
        flat = x.reshape(-1, 1, x.shape[-1]).square()
        power = F.avg_pool1d(flat, width, stride=1, padding=width // 2, count_include_pad=False)
        return self._floor(power.reshape(x.shape).sqrt())

    def _floor(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` floored at ``eps`` times its patch maximum; all-zero patches get 1."""
        top = value.flatten(1).amax(dim=1).view(-1, *([1] * (value.ndim - 1)))
        floored = torch.maximum(value, top * self.eps)
        return torch.where(floored > 0, floored, torch.ones_like(floored))

    def extra_repr(self) -> str:
        return f"kind={self.kind}, per={self.per}, window={self.window}"


class NormalizedNetwork(nn.Module):
    """``net`` wrapped in its amplitude contract: ``s * net(x / s)`` with ``s`` from ``x``.

    Shapes: ``(B, C, *S) -> (B, C, *S)``, like ``net``; ``spatial_dims`` is ``net``'s.
    """

    def __init__(self, net: nn.Module, scaler: AmplitudeScaler) -> None:
        super().__init__()
        self.net, self.scaler = net, scaler
        self.spatial_dims = net.spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scaler.scale(x)
        return self.net(x / s) * s

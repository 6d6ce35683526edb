"""The amplitude contract: scale patches to unit amplitude for the network, and back.

Networks are not scale-equivariant, and surveys come in any units (raw integer counts,
pressure, gained and not). A model is trained on scaled patches and the same scaling is
applied, and undone, wherever it runs (``task=infer``, ``task=evaluate``, ``api``), so
results are in the survey's own units and ``predict(k * x) == k * predict(x)`` for
``k > 0``. The contract is chosen by the ``normalize`` config group and saved with the
training config in every checkpoint.

Statistics come from the network's *input* only (never the target) and ignore traces
that are entirely zero (dead, absent or removed by a corruption), so a decimated patch
is scaled like the complete one.

Two stages make the contract. The *patch* stage (:class:`NormalizedNetwork`) sees one
patch: ``rms``/``std``/``peak`` per patch or per trace, and ``agc``. The *trace* stage
(:class:`TraceAmplitude`) needs where a patch lies in its survey, so it works on whole
volumes: a time-power gain ``t^p`` (``gain``, the classical spherical-divergence
correction; ``p = 2`` is the usual one) and one scale per gather (``per: gather``). A
gather is one index of the first axis of an array with more axes than the model's (a
shot, an inline); an array with only the model's axes is one gather. Training applies
the trace stage as it reads patches, inference as it reads its input, and undoes it
on the output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from promethium.errors import ConfigError, DataError

KINDS = ("none", "rms", "std", "peak", "agc")
PER = ("patch", "trace", "gather")
#: Most first-axis indices read to scale an array that is one gather (a cube).
WHOLE_ARRAY_SAMPLES = 8


class AmplitudeContract(nn.Module):
    """The amplitude contract's settings, and its patch stage on ``(B, C, *S)`` patches.

    Args:
        kind: ``none``; ``rms`` (root mean square of the live traces); ``std`` (their
            standard deviation); ``peak`` (largest absolute value); ``agc`` (automatic
            gain control: a sliding RMS along time over ``window`` samples, per trace).
        per: ``patch`` (one scale per patch), ``trace`` (one per trace: trace
            balancing) or ``gather`` (one per gather, see the module docstring).
            ``agc`` is always per trace and per sample.
        window: AGC window in samples (odd; ``agc`` only).
        gain: power ``p`` of a ``t^p`` time gain (t in s) applied before scaling; 0: none.
        eps: relative floor of a scale, against division by (near) zero.
    """

    def __init__(
        self,
        kind: str = "rms",
        per: str = "patch",
        window: int | None = None,
        gain: float = 0.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError.for_parameter("kind", kind, ", ".join(KINDS))
        if per not in PER or (kind == "agc" and per == "gather"):
            allowed = "patch, trace (agc is per trace)" if kind == "agc" else ", ".join(PER)
            raise ConfigError.for_parameter("per", per, allowed)
        if kind == "agc" and (not isinstance(window, int) or window < 1):
            raise ConfigError.for_parameter("window", window, "a positive number of samples")
        if isinstance(gain, bool) or not isinstance(gain, int | float) or not 0 <= gain <= 8:
            raise ConfigError.for_parameter("gain", gain, "a power p in [0, 8] of t^p (0: none)")
        self.kind, self.per, self.window, self.eps = kind, per, window, eps
        self.gain = float(gain)

    @property
    def per_patch(self) -> bool:
        """Whether the patch stage scales anything (a network wrapper is needed)."""
        return self.kind != "none" and self.per != "gather"

    @property
    def per_gather(self) -> bool:
        """Whether the trace stage scales each gather."""
        return self.kind != "none" and self.per == "gather"

    @property
    def trace_stage(self) -> bool:
        """Whether the trace stage (gain or per-gather scale) does anything."""
        return self.gain != 0 or self.per_gather

    def without_trace_stage(self) -> AmplitudeContract:
        """The same contract for data its trace stage was already applied to."""
        kind = "none" if self.per_gather else self.kind
        per = "patch" if self.per_gather else self.per
        return AmplitudeContract(kind, per, self.window, 0.0, self.eps)

    def describe(self) -> str:
        """The trace stage in words, e.g. ``t^2 gain, rms per gather``."""
        parts = [f"t^{self.gain:g} gain"] if self.gain else []
        parts += [f"{self.kind} per gather"] if self.per_gather else []
        return ", ".join(parts) or "none"

    def gain_curve(self, t0: int, n: int, dt: float) -> np.ndarray:
        """``t^p`` at samples ``t0 .. t0 + n - 1`` (t floored at ``dt / 2``), float64."""
        t = np.maximum(np.arange(t0, t0 + n, dtype=np.float64) * dt, dt / 2)
        return t**self.gain if self.gain else np.ones(n)

    def statistic(self, traces: np.ndarray) -> float:
        """The ``kind`` of ``(..., time)`` samples over their live traces (1 if none)."""
        x = np.asarray(traces, dtype=np.float64).reshape(-1, traces.shape[-1])
        x = x[np.abs(x).max(axis=1) > 0]
        if not x.size:
            return 1.0
        if self.kind == "peak":
            value = float(np.abs(x).max())
        else:
            centred = x - x.mean() if self.kind == "std" else x
            value = float(np.sqrt(np.mean(np.square(centred))))
        return value if value > 0 else 1.0

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """The positive scale of ``x``, broadcastable to it (1 where nothing is live)."""
        if not self.per_patch:
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
        return f"kind={self.kind}, per={self.per}, window={self.window}, gain={self.gain}"


class NormalizedNetwork(nn.Module):
    """``net`` wrapped in its amplitude contract: ``s * net(x / s)`` with ``s`` from ``x``.

    Shapes: ``(B, C, *S) -> (B, C, *S)``, like ``net``; ``spatial_dims`` is ``net``'s.
    """

    def __init__(self, net: nn.Module, contract: AmplitudeContract) -> None:
        super().__init__()
        self.net, self.contract = net, contract
        self.spatial_dims = net.spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.contract.per_patch:  # the trace stage is applied to the volume
            return self.net(x)
        s = self.contract.scale(x)
        return self.net(x / s) * s


def sample_interval(attrs: dict[str, Any]) -> float | None:
    """The sample interval (s) in store attributes; None where time is in samples."""
    dt, units = attrs.get("dt"), (attrs.get("units") or {}).get("dt", "s")
    return float(dt) if dt and units == "s" else None


def gather_sample(volume: Any, gather: int | None) -> np.ndarray:
    """The samples that scale one gather of ``volume``.

    ``volume[gather]``; for ``None`` (the array is one gather), up to
    :data:`WHOLE_ARRAY_SAMPLES` evenly spaced first-axis slices.
    """
    rest = (slice(None),) * (len(volume.shape) - 1)

    def first_axis(i: int) -> np.ndarray:  # full slice keys: lazy volume views take those
        return np.asarray(volume[(slice(i, i + 1), *rest)], dtype=np.float32)[0]

    if gather is not None:
        return first_axis(gather)
    n = int(volume.shape[0])
    picks = np.unique(np.linspace(0, n - 1, min(n, WHOLE_ARRAY_SAMPLES)).round().astype(int))
    return np.stack([first_axis(int(i)) for i in picks])


class TraceAmplitude:
    """The trace stage of a contract: ``x * t^p / s_gather`` on blocks of a volume.

    Args:
        contract: the contract's settings (``gain``, ``kind`` and ``per``).
        dt: the sample interval (s) of the data the gain is evaluated on (``None``:
            unknown, refused when there is a gain).
        read_gather: raw samples of gather ``g`` (``None``: the whole array), e.g.
            ``lambda g: gather_sample(volume, g)``; called once per gather and cached.
        by_first_axis: gathers are first-axis indices (else the array is one gather).
    """

    def __init__(
        self,
        contract: AmplitudeContract,
        dt: float | None,
        read_gather: Callable[[int | None], np.ndarray],
        by_first_axis: bool,
    ) -> None:
        if contract.gain and not (isinstance(dt, int | float) and dt > 0):
            raise DataError(
                f"the amplitude contract's t^{contract.gain:g} gain needs the data's sample "
                f"interval in s; this data has none (dt={dt}): give a Zarr store or SEG-Y "
                "file, or pass dt"
            )
        self.contract, self.dt, self.read_gather = contract, float(dt or 1.0), read_gather
        self.by_first_axis = by_first_axis
        self._scales: dict[int | None, float] = {}

    def gather_scale(self, gather: int | None) -> float:
        """The scale of one gather after the gain (1 without ``per: gather``)."""
        if not self.contract.per_gather:
            return 1.0
        if gather not in self._scales:
            x = self.read_gather(gather)
            gained = x * self.contract.gain_curve(0, x.shape[-1], self.dt)
            self._scales[gather] = self.contract.statistic(gained)
        return self._scales[gather]

    def factors(self, gathers: Sequence[int] | None, t0: int, n: int) -> np.ndarray:
        """``(len(gathers) or 1, n)`` multipliers for samples ``t0 ..`` of ``gathers``."""
        curve = self.contract.gain_curve(t0, n, self.dt)
        chosen: Sequence[int | None] = [None] if gathers is None else gathers
        scales = np.array([self.gather_scale(g) for g in chosen])
        return curve[None, :] / scales[:, None]

    def on_patch(self, patch: np.ndarray, gather: int | None, t0: int) -> np.ndarray:
        """A training patch ``(*S)`` of ``gather`` starting at sample ``t0``, scaled."""
        f = self.factors(None if gather is None else [gather], t0, patch.shape[-1])[0]
        return (patch * f).astype(np.float32)

    def block_factors(self, key: tuple[slice, ...], shape: Sequence[int]) -> np.ndarray:
        """Multipliers broadcastable to ``volume[key]`` (a block of source axes)."""
        t = key[-1].indices(shape[-1])
        n = len(range(*t))
        if not self.by_first_axis:
            return self.factors(None, t[0], n)[0].astype(np.float32)
        gathers = list(range(*key[0].indices(shape[0])))
        f = self.factors(gathers, t[0], n)
        return f.reshape(len(gathers), *([1] * (len(shape) - 2)), n).astype(np.float32)

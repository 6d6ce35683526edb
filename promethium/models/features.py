"""Input features a network can be given besides the data: where traces are, a classical fill.

Every feature is computed from the (corrupted) input patch itself, so training and
inference derive it the same way and a checkpoint needs nothing but its model config:

- ``data``: the input.
- ``mask``: 1 on recorded traces, 0 on missing ones (a trace that is zero at every
  sample, which is how missing, dead and absent traces reach the network).
- ``linear``: the missing traces filled by linear interpolation across traces from the
  recorded ones, sample by sample (recorded traces unchanged); for cubes, the mean of the
  fills along each spatial axis. On post-stack lines, where neighbouring traces are
  alike, this classical fill is strong; given it, the network learns what it gets wrong.

Shapes: patches ``(B, 1, *S)`` with time last; features ``(B, len(inputs), *S)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from promethium.errors import ConfigError

FEATURES = ("data", "mask", "linear")


def check_inputs(inputs: Sequence[str], spatial_dims: int) -> tuple[str, ...]:
    """Validate ``model.inputs`` (names from :data:`FEATURES`, ``data`` first).

    Raises:
        ConfigError: naming ``inputs`` and the allowed values.
    """
    names = tuple(str(n) for n in inputs)
    allowed = f"a list starting with data, of {', '.join(FEATURES)}"
    if not names or names[0] != "data" or len(set(names)) != len(names):
        raise ConfigError.for_parameter("inputs", list(names), allowed)
    for name in names:
        if name not in FEATURES:
            raise ConfigError.for_parameter("inputs", name, allowed)
    if spatial_dims == 1 and len(names) > 1:
        raise ConfigError.about("inputs", "mask and linear need a trace axis (spatial_dims >= 2)")
    return names


def trace_mask(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, *S) -> (B, 1, *S[:-1], 1)``: 1 where a trace has a non-zero sample."""
    return (x.abs().amax(dim=(1, -1), keepdim=True) > 0).to(x.dtype)


def _fill_along(
    x: torch.Tensor, live: torch.Tensor, axis: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear fill of ``x`` along ``axis``, and where it is defined (a recorded trace on it)."""
    n = x.shape[axis]
    shape = [1] * x.ndim
    shape[axis] = n
    position = torch.arange(n, device=x.device).view(shape).expand_as(live)
    is_live = live > 0
    previous = torch.where(is_live, position, torch.full_like(position, -1))
    previous = torch.cummax(previous, dim=axis).values
    following = torch.where(is_live, position, torch.full_like(position, n))
    following = torch.flip(torch.cummin(torch.flip(following, (axis,)), dim=axis).values, (axis,))
    # beyond the first (last) recorded trace both neighbours are the nearest recorded one
    lo = torch.where(previous < 0, following, previous)
    hi = torch.where(following >= n, previous, following)
    defined = (lo >= 0) & (lo < n)
    lo, hi = lo.clamp(0, n - 1), hi.clamp(0, n - 1)
    span = (hi - lo).clamp(min=1).to(x.dtype)
    w_hi = torch.where(hi == lo, torch.zeros_like(span), (position - lo).to(x.dtype) / span)
    time = x.shape[-1]
    values_lo = torch.gather(x, axis, lo.expand(*lo.shape[:-1], time))
    values_hi = torch.gather(x, axis, hi.expand(*hi.shape[:-1], time))
    filled = (1 - w_hi) * values_lo + w_hi * values_hi
    filled = torch.where(is_live, x, filled * defined)
    return filled, defined.to(x.dtype)


def linear_fill(x: torch.Tensor, live: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, 1, *S) -> (B, 1, *S)``: missing traces filled linearly across traces.

    The same fill as :func:`promethium.baselines.linear_interpolation` in 2D (the nearest
    recorded trace beyond the first or last one); in 3D the mean over the spatial axes
    along which a trace has recorded neighbours. A patch with no recorded trace stays zero.

    Args:
        x: patches, time last.
        live: :func:`trace_mask` of ``x`` (computed when ``None``).
    """
    live = trace_mask(x) if live is None else live
    total, weight = torch.zeros_like(x), torch.zeros_like(live)
    for axis in range(2, x.ndim - 1):
        filled, defined = _fill_along(x, live, axis)
        total, weight = total + filled * defined, weight + defined
    return torch.where(weight > 0, total / weight.clamp(min=1), x)


def input_features(x: torch.Tensor, inputs: Sequence[str]) -> torch.Tensor:
    """``(B, 1, *S) -> (B, len(inputs), *S)``: the named features of the input, in order."""
    if tuple(inputs) == ("data",):
        return x
    live = trace_mask(x)
    features = {"data": x}
    if "mask" in inputs:
        features["mask"] = live.expand_as(x)
    if "linear" in inputs:
        features["linear"] = linear_fill(x, live)
    return torch.cat([features[name] for name in inputs], dim=1)


__all__ = ["FEATURES", "check_inputs", "input_features", "linear_fill", "trace_mask"]

"""Views that the engine reads through: dead-trace masking and axis reordering.

Both wrap anything indexable by a tuple of slices (NumPy array, memory map, Zarr
array, torch tensor on any device) and read lazily, one block at a time. Torch tensors
give torch blocks on their own device, so a volume already on the GPU never leaves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from promethium.errors import ConfigError, DataError
from promethium.models.amplitude import TraceAmplitude

AXIS_ALIASES = {"inline": 0, "crossline": 1, "time": -1}


class MaskedVolume:
    """Zero dead traces on read, as the ``MissingTraces`` corruption does in training.

    Args:
        volume: array of shape ``(..., time)``.
        trace_mask: 1 for live, 0 for dead traces, shape ``volume.shape[:-1]``.
    """

    def __init__(self, volume: Any, trace_mask: np.ndarray) -> None:
        if tuple(trace_mask.shape) != tuple(volume.shape[:-1]):
            raise DataError(
                f"trace mask shape {trace_mask.shape} does not match the "
                f"input's traces {tuple(volume.shape[:-1])}"
            )
        self.volume, self.trace_mask = volume, trace_mask.astype(np.float32)
        self.shape = tuple(volume.shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray | torch.Tensor:
        block = self.volume[key]
        live = self.trace_mask[key[:-1]][..., None]
        # where, not a product: a dead trace may hold NaN (MDIO's fill value)
        if isinstance(block, torch.Tensor):
            dead = torch.from_numpy(live == 0).to(block.device)
            return block.float().masked_fill(dead, 0.0)
        return np.where(live > 0, np.asarray(block, dtype=np.float32), np.float32(0))


class AmplifiedVolume:
    """The amplitude contract's trace stage on read: ``x * t^p / s_gather``.

    Args:
        volume: array of shape ``(..., time)`` (source axis order).
        stage: the trace stage (``promethium.models.amplitude.TraceAmplitude``).
    """

    def __init__(self, volume: Any, stage: TraceAmplitude) -> None:
        self.volume, self.stage = volume, stage
        self.shape = tuple(volume.shape)

    def factors(self, key: tuple[slice, ...]) -> np.ndarray:
        """The multipliers of ``volume[key]`` (broadcastable to the block)."""
        return self.stage.block_factors(key, self.shape)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray | torch.Tensor:
        block = self.volume[key]
        if isinstance(block, torch.Tensor):
            return block.float() * torch.from_numpy(self.factors(key)).to(block.device)
        return np.asarray(block, dtype=np.float32) * self.factors(key)

    def undo(
        self, values: np.ndarray | torch.Tensor, key: tuple[slice, ...]
    ) -> np.ndarray | torch.Tensor:
        """Network output for ``volume[key]`` back in the input's units."""
        f = self.factors(key)
        if isinstance(values, torch.Tensor):
            return values / torch.from_numpy(f).to(values.device)
        return (values / f).astype(np.float32)


class ObservedTraces:
    """Recorded traces pass through: the output is the input wherever a trace is live.

    An interpolation network predicts only what is missing; its version of a recorded
    trace is never better than the recording, so (as every classical interpolation
    does) recorded traces are kept and only dead or absent ones are filled.

    Args:
        volume: the input, shape ``(..., time)``.
        trace_mask: 1 for recorded, 0 for dead traces over ``volume.shape[:-1]``; ``None``:
            every trace is recorded.
    """

    def __init__(self, volume: Any, trace_mask: np.ndarray | None) -> None:
        self.volume, self.trace_mask = volume, trace_mask

    def keep(self, key: tuple[slice, ...], values: np.ndarray) -> np.ndarray:
        """``values`` (input axis order, at ``key``) with the recorded traces restored."""
        observed = np.asarray(self.volume[key], dtype=np.float32)
        live = ~np.isnan(observed).all(axis=-1, keepdims=True)  # absent traces: filled
        if self.trace_mask is not None:
            live &= np.asarray(self.trace_mask[key[:-1]], dtype=bool)[..., None]
        return np.where(live, observed, values)


def combine_masks(*masks: np.ndarray | None) -> np.ndarray | None:
    """The traces live in every mask (``None`` means all live)."""
    given = [np.asarray(m, dtype=bool) for m in masks if m is not None]
    if not given:
        return None
    live = np.logical_and.reduce(given)
    return None if live.all() else live


class AxisView:
    """A transposed view: engine axis ``j`` is axis ``order[j]`` of ``volume``."""

    def __init__(self, volume: Any, order: Sequence[int]) -> None:
        self.volume, self.order = volume, tuple(order)
        self.inverse = tuple(int(i) for i in np.argsort(self.order))
        self.shape = tuple(volume.shape[i] for i in self.order)

    def source_key(self, key: Sequence[slice]) -> tuple[slice, ...]:
        """The key in the wrapped volume's axis order."""
        return tuple(key[j] for j in self.inverse)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray | torch.Tensor:
        return transpose(self.volume[self.source_key(key)], self.order)

    def to_source(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Reorder an engine-ordered block back to the wrapped volume's axes."""
        return transpose(values, self.inverse)


def transpose(block: Any, order: Sequence[int]) -> np.ndarray | torch.Tensor:
    """Axes of ``block`` in ``order``: a permuted view of a tensor, else a NumPy view."""
    if isinstance(block, torch.Tensor):
        return block.permute(*order)
    return np.asarray(block).transpose(order)


def axis_order(ndim: int, spatial_dims: int, slice_axis: int | str | None) -> tuple[int, ...]:
    """Engine axis order: iterated (leading) axes first, then the model's axes.

    Without ``slice_axis`` the leading ``ndim - spatial_dims`` axes are iterated. With it
    (a 2D model on a cube), that axis is iterated and the others, in order, are the
    model's axes: ``0``/``inline``, ``1``/``crossline``, ``-1``/``2``/``time`` slices.

    Raises:
        DataError: if the model has more axes than the input.
        ConfigError: naming ``infer.slice_axis``.
    """
    if spatial_dims > ndim:
        raise DataError(
            f"input has {ndim} axes but the checkpoint's model is {spatial_dims}D; it needs "
            f"inputs with at least {spatial_dims} axes (time last)"
        )
    if slice_axis is None:
        return tuple(range(ndim))
    if ndim == spatial_dims:
        raise ConfigError.for_parameter(
            "slice_axis", slice_axis, f"null: the input has only the model's {spatial_dims} axes"
        )
    axis = AXIS_ALIASES.get(slice_axis, slice_axis) if isinstance(slice_axis, str) else slice_axis
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ConfigError.for_parameter(
            "slice_axis",
            slice_axis,
            f"null, an axis index in [{-ndim}, {ndim}), or one of {', '.join(AXIS_ALIASES)}",
        )
    axis %= ndim
    return (axis, *[i for i in range(ndim) if i != axis])


def trace_mask(
    shape: Sequence[int],
    traces: Sequence[int] = (),
    header: np.ndarray | None = None,
    dead_values: Sequence[int] = (),
) -> np.ndarray | None:
    """A live-trace mask over ``shape[:-1]``, or ``None`` when nothing is dead.

    Args:
        shape: input shape, time last.
        traces: flat (C-order) indices of dead traces over the non-time axes.
        header: a trace-header array of shape ``shape[:-1]``; traces whose value is in
            ``dead_values`` are dead (SEG-Y ``TraceIdentificationCode`` 2 = dead).
        dead_values: header values that mark a dead trace.

    Raises:
        DataError: for out-of-range indices or a header of the wrong shape.
    """
    positions = tuple(shape[:-1])
    n = int(np.prod(positions, dtype=np.int64))
    live = np.ones(n, dtype=bool)
    idx = np.asarray(list(traces), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ConfigError.for_parameter("mask.traces", idx.tolist(), f"indices in [0, {n})")
    live[idx] = False
    if header is not None:
        if tuple(header.shape) != positions:
            raise ConfigError.about(
                "mask.header", f"header shape {header.shape} does not match traces {positions}"
            )
        live &= ~np.isin(np.asarray(header).ravel(), list(dead_values))
    return None if live.all() else live.reshape(positions)

"""The common base class of every Promethium network."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from promethium.errors import ConfigError


class PromethiumModel(nn.Module):
    """An ``nn.Module`` that knows its dimensionality and channel counts.

    Tensors are ``(B, C, *spatial)`` with ``len(spatial) == spatial_dims``; by the data
    convention the last axis is time (samples), e.g. ``(B, 1, trace, time)`` for a 2D
    gather patch or ``(B, 1, inline, crossline, time)`` for a 3D cube patch.

    Args:
        spatial_dims: 1 (trace), 2 (gather) or 3 (cube).
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out``.

    """

    registry_name: str = ""
    #: keyword arguments of a small instance, used by tests and smoke checks
    tiny_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(self, spatial_dims: int, in_channels: int = 1, out_channels: int = 1) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ConfigError.for_parameter("spatial_dims", spatial_dims, "1, 2, 3")
        for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError.for_parameter(key, value, "a positive integer")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels

    @classmethod
    def tiny(cls, spatial_dims: int, **overrides: Any) -> PromethiumModel:
        """A small instance (``tiny_kwargs`` plus ``overrides``) for tests and smoke runs."""
        return cls(spatial_dims=spatial_dims, **{**cls.tiny_kwargs, **overrides})

    def example_input(self, batch: int = 1, size: int = 32) -> torch.Tensor:
        """A random input of shape ``(batch, in_channels, *[size] * spatial_dims)``."""
        param = next(self.parameters(), None)
        device = param.device if param is not None else None
        shape = (batch, self.in_channels, *([size] * self.spatial_dims))
        return torch.randn(shape, device=device)

    @property
    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error if ``x`` is not ``(B, in_channels, *spatial)``."""
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects (B, {self.in_channels}, "
                f"{', '.join(['*'] * self.spatial_dims)}) input; got shape {tuple(x.shape)}"
            )


PAD_MODES = ("constant", "reflect", "replicate")


def check_positive_int(key: str, value: object) -> None:
    """Raise :class:`ConfigError` naming parameter ``key`` unless ``value`` is an int >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError.for_parameter(key, value, "a positive integer")


def check_encoder_decoder(
    depth: int, base_channels: int, pad_mode: str, residual_output: bool, in_ch: int, out_ch: int
) -> None:
    """Checks shared by the encoder-decoder families (U-Net, autoencoder)."""
    check_positive_int("depth", depth)
    check_positive_int("base_channels", base_channels)
    if pad_mode not in PAD_MODES:
        raise ConfigError.for_parameter("pad_mode", pad_mode, ", ".join(PAD_MODES))
    if residual_output and in_ch != out_ch:
        raise ConfigError.about("residual_output", "needs in_channels == out_channels")


def level_channels(base_channels: int, multiplier: float, depth: int) -> list[int]:
    """Channels at each resolution level ``0..depth``: ``base * multiplier**level``."""
    return [int(round(base_channels * multiplier**i)) for i in range(depth + 1)]

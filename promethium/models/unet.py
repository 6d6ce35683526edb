"""Residual attention U-Net for reconstruction and missing-trace interpolation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from promethium.errors import ConfigError
from promethium.models import layers
from promethium.models.base import PromethiumModel, check_encoder_decoder, level_channels
from promethium.models.blocks import AttentionGate, Upsample, conv_block
from promethium.models.features import check_inputs, input_features, linear_fill
from promethium.models.registry import ModelRegistry


@ModelRegistry.register("unet")
class UNet(PromethiumModel):
    """Encoder-decoder with skip connections, optional residual blocks and attention gates.

    Level ``i`` (0 = full resolution) has ``base_channels * channel_multiplier**i``
    channels; there are ``depth`` downsamplings. Inputs of any size are padded at the
    end of each spatial axis to a multiple of ``stem_stride * 2**depth`` and the output
    is cropped back, so output shape equals input shape.

    ``stem_stride=2`` (default) runs every level at half the resolution: a strided 3x3
    convolution enters level 0 and a transposed convolution leaves it before the 1x1 head
    (the design of MONAI's ``UNet``): in 2D a quarter of the FLOPs for nearly the same
    parameters. ``stem_stride=1`` keeps level 0 at full resolution (the original U-Net),
    worth its cost where sample-level detail matters, as in the Marmousi interpolation
    recipe, which sets it (figures: ``docs/benchmarks.md``).

    Shapes: ``(B, in_channels, *S) -> (B, out_channels, *S)``, e.g.
    2D gathers ``(8, 1, 128, 128)`` or 3D cubes ``(2, 1, 33, 34, 35)``.

    Example:
        >>> net = UNet(spatial_dims=3, depth=2, base_channels=8)
        >>> net(torch.randn(2, 1, 33, 34, 35)).shape
        torch.Size([2, 1, 33, 34, 35])

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        depth: number of 2x downsamplings.
        base_channels: channels at full resolution.
        channel_multiplier: channel growth per level.
        residual: residual blocks (True) or plain double convolutions (False).
        attention: gate skip connections with :class:`AttentionGate`.
        norm: ``batch``, ``instance``, ``group`` or ``none``.
        act: activation name (see :data:`promethium.models.layers.ACTIVATIONS`).
        dropout: dropout probability in each block.
        upsample: ``transpose`` (transposed conv) or ``interp`` (interpolation + 1x1 conv).
        residual_output: ``False``; ``True``: predict a correction added to the input
            (needs ``in == out`` channels); ``linear``: a correction added to the input's
            linear fill across traces (:func:`promethium.models.features.linear_fill`).
        pad_mode: ``constant`` (zeros), ``reflect`` or ``replicate`` padding to the multiple.
        stem_stride: 2 (level 0 at half resolution, default) or 1 (full resolution).
        inputs: what the network sees (:mod:`promethium.models.features`): ``data``
            first, then optionally ``mask`` (where traces are recorded) and ``linear``
            (the classical fill of the missing traces); more than ``data`` needs
            ``in_channels == 1`` and a trace axis.

    """

    tiny_kwargs = {"depth": 2, "base_channels": 4}

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        depth: int = 4,
        base_channels: int = 32,
        channel_multiplier: float = 2.0,
        residual: bool = True,
        attention: bool = False,
        norm: str = "batch",
        act: str = "leaky_relu",
        dropout: float = 0.0,
        upsample: str = "transpose",
        residual_output: bool | str = False,
        pad_mode: str = "constant",
        stem_stride: int = 2,
        inputs: Sequence[str] = ("data",),
    ) -> None:
        super().__init__(spatial_dims, in_channels, out_channels)
        if residual_output not in (False, True, "linear"):
            raise ConfigError.for_parameter(
                "residual_output", residual_output, "false, true, linear"
            )
        check_encoder_decoder(
            depth, base_channels, pad_mode, bool(residual_output), in_channels, out_channels
        )
        if stem_stride not in (1, 2):
            raise ConfigError.for_parameter("stem_stride", stem_stride, "1, 2")
        self.inputs = check_inputs(inputs, spatial_dims)
        if (len(self.inputs) > 1 or residual_output == "linear") and in_channels != 1:
            raise ConfigError.about(
                "inputs", "mask, linear and residual_output=linear need in_channels 1"
            )
        if residual_output == "linear" and spatial_dims == 1:
            raise ConfigError.about(
                "residual_output", "linear needs a trace axis (spatial_dims >= 2)"
            )
        self.depth, self.residual_output, self.pad_mode = depth, residual_output, pad_mode
        self.stem_stride = stem_stride
        chans = level_channels(base_channels, channel_multiplier, depth)
        block = dict(norm=norm, act=act, dropout=dropout)
        stem_in = in_channels * len(self.inputs)
        self.entry: nn.Module = nn.Identity()
        self.exit: nn.Module = nn.Identity()
        if stem_stride == 2:
            conv = layers.conv(spatial_dims)
            self.entry = conv(stem_in, chans[0], 3, stride=2, padding=1)
            self.exit = layers.conv_transpose(spatial_dims)(chans[0], chans[0], 2, stride=2)
            stem_in = chans[0]
        self.stem = conv_block(residual, spatial_dims, stem_in, chans[0], **block)
        self.down_pools = nn.ModuleList(layers.pool(spatial_dims)(2) for _ in range(depth))
        self.encoders = nn.ModuleList(
            conv_block(residual, spatial_dims, chans[i], chans[i + 1], **block)
            for i in range(depth)
        )
        self.ups = nn.ModuleList(
            Upsample(spatial_dims, chans[i + 1], chans[i], upsample) for i in range(depth)
        )
        self.gates = nn.ModuleList(
            AttentionGate(spatial_dims, chans[i], chans[i]) if attention else nn.Identity()
            for i in range(depth)
        )
        self.decoders = nn.ModuleList(
            conv_block(residual, spatial_dims, 2 * chans[i], chans[i], **block)
            for i in range(depth)
        )
        self.head = layers.conv(spatial_dims)(chans[0], out_channels, 1)
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *S)``."""
        self.check_input(x)
        multiple = self.stem_stride * 2**self.depth
        features = input_features(x, self.inputs)
        padded, spatial = layers.pad_to_multiple(features, multiple, self.pad_mode)
        skips = [self.stem(self.entry(padded))]
        for pool, encoder in zip(self.down_pools, self.encoders, strict=True):
            skips.append(encoder(pool(skips[-1])))
        h = skips.pop()
        for level in reversed(range(self.depth)):
            h = self.ups[level](h)
            skip = skips[level]
            if self.attention:
                skip = self.gates[level](skip, h)
            h = self.decoders[level](torch.cat([skip, h], dim=1))
        out = layers.crop_to(self.head(self.exit(h)), spatial)
        if self.residual_output == "linear":
            return out + linear_fill(x)
        return out + x if self.residual_output else out

"""Deep convolutional denoising autoencoder with a real bottleneck (no skip connections)."""

from __future__ import annotations

import torch
from torch import nn

from promethium.models import layers
from promethium.models.base import (
    PromethiumModel,
    check_encoder_decoder,
    check_positive_int,
    level_channels,
)
from promethium.models.blocks import ConvNormAct, Upsample, conv_block
from promethium.models.registry import ModelRegistry


@ModelRegistry.register("dae")
class DenoisingAutoencoder(PromethiumModel):
    """Encoder -> latent code -> decoder; everything must pass the bottleneck.

    The encoder halves every spatial axis ``depth`` times (strided convolutions) and a
    1x1 convolution squeezes the features to ``latent_channels``; the decoder mirrors it.
    With no skip connections the network cannot copy its input, so it learns a compact
    representation of coherent signal and drops incoherent noise. The code holds
    :attr:`compression` times fewer values than the input (``in_channels * prod(S)``).
    Inputs of any size are padded to a multiple of ``2**depth`` and cropped back.

    Shapes: ``(B, in_channels, *S) -> (B, out_channels, *S)``, e.g. gathers
    ``(8, 1, 64, 128)`` (code ``(8, latent, 8, 16)`` for ``depth=3``) or cubes
    ``(2, 1, 33, 34, 35)``.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        depth: number of 2x downsamplings (downsampling factor ``2**depth`` per axis).
        base_channels: channels at full resolution.
        channel_multiplier: channel growth per level.
        latent_channels: channels of the bottleneck code.
        residual: residual blocks (True) or plain double convolutions (False).
        norm: ``batch``, ``instance``, ``group`` or ``none``.
        act: activation name.
        dropout: dropout probability in each block.
        upsample: ``transpose`` or ``interp``.
        residual_output: predict the noise and subtract it (``y = x - net(x)``; denoising
            by residual learning, DnCNN-style).
        pad_mode: ``constant``, ``reflect`` or ``replicate``.

    """

    tiny_kwargs = {"depth": 2, "base_channels": 4, "latent_channels": 2}

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        depth: int = 3,
        base_channels: int = 32,
        channel_multiplier: float = 2.0,
        latent_channels: int = 8,
        residual: bool = True,
        norm: str = "batch",
        act: str = "leaky_relu",
        dropout: float = 0.0,
        upsample: str = "transpose",
        residual_output: bool = False,
        pad_mode: str = "constant",
    ) -> None:
        super().__init__(spatial_dims, in_channels, out_channels)
        check_encoder_decoder(
            depth, base_channels, pad_mode, residual_output, in_channels, out_channels
        )
        check_positive_int("latent_channels", latent_channels)
        self.depth, self.pad_mode, self.residual_output = depth, pad_mode, residual_output
        self.latent_channels = latent_channels
        chans = level_channels(base_channels, channel_multiplier, depth)
        block = dict(norm=norm, act=act, dropout=dropout)
        encoder: list[nn.Module] = [
            conv_block(residual, spatial_dims, in_channels, chans[0], **block)
        ]
        for i in range(depth):
            encoder += [
                ConvNormAct(spatial_dims, chans[i], chans[i + 1], stride=2, norm=norm, act=act),
                conv_block(residual, spatial_dims, chans[i + 1], chans[i + 1], **block),
            ]
        encoder.append(layers.conv(spatial_dims)(chans[depth], latent_channels, 1))
        self.encoder = nn.Sequential(*encoder)
        decoder: list[nn.Module] = [
            ConvNormAct(spatial_dims, latent_channels, chans[depth], 1, norm=norm, act=act)
        ]
        for i in reversed(range(depth)):
            decoder += [
                Upsample(spatial_dims, chans[i + 1], chans[i], upsample),
                conv_block(residual, spatial_dims, chans[i], chans[i], **block),
            ]
        decoder.append(layers.conv(spatial_dims)(chans[0], out_channels, 1))
        self.decoder = nn.Sequential(*decoder)

    @property
    def compression(self) -> float:
        """Input values per code value: ``in_channels * 2**(depth * dims) / latent``."""
        return self.in_channels * 2 ** (self.depth * self.spatial_dims) / self.latent_channels

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, latent, *ceil(S / 2**depth))``."""
        padded, _ = layers.pad_to_multiple(x, 2**self.depth, self.pad_mode)
        return self.encoder(padded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *S)``."""
        self.check_input(x)
        out = layers.crop_to(self.decoder(self.encode(x)), x.shape[2:])
        return x - out if self.residual_output else out

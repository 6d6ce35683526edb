"""Dimension-generic building blocks shared by the model families.

All blocks take ``spatial_dims`` first and map ``(B, C_in, *spatial)`` to
``(B, C_out, *spatial')``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from promethium.errors import ConfigError
from promethium.models import layers

UPSAMPLE_MODES = ("transpose", "interp")


class ConvNormAct(nn.Sequential):
    """Convolution -> normalisation -> activation (-> dropout), ``same`` padding.

    Shapes: ``(B, C_in, *S) -> (B, C_out, *S / stride)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        norm: str = "batch",
        act: str | None = "relu",
        dropout: float = 0.0,
    ) -> None:
        conv = layers.conv(spatial_dims)(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=norm in ("none", "instance"),
        )
        parts = [conv, layers.norm(norm, spatial_dims, out_channels)]
        if act is not None:
            parts.append(layers.activation(act))
        parts.append(layers.dropout(spatial_dims, dropout))
        super().__init__(*parts)


class DoubleConv(nn.Sequential):
    """Two :class:`ConvNormAct` layers (plain U-Net stage): ``(B, C_in, *S) -> (B, C_out, *S)``."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        norm: str = "batch",
        act: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            ConvNormAct(spatial_dims, in_channels, out_channels, norm=norm, act=act),
            ConvNormAct(
                spatial_dims, out_channels, out_channels, norm=norm, act=act, dropout=dropout
            ),
        )


class ResidualBlock(nn.Module):
    """Two convolutions with norm and activation plus an identity or projected skip.

    ``y = act(norm(conv(act(norm(conv(x))))) + skip(x))``, where ``skip`` is a 1x1
    convolution with norm when the channel count changes, identity otherwise.
    Shapes: ``(B, C_in, *S) -> (B, C_out, *S)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        norm: str = "batch",
        act: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(
                spatial_dims, in_channels, out_channels, norm=norm, act=act, dropout=dropout
            ),
            ConvNormAct(spatial_dims, out_channels, out_channels, norm=norm, act=None),
        )
        if in_channels == out_channels:
            self.skip: nn.Module = nn.Identity()
        else:
            self.skip = ConvNormAct(spatial_dims, in_channels, out_channels, 1, norm=norm, act=None)
        self.act = layers.activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *S)``."""
        return self.act(self.body(x) + self.skip(x))


def conv_block(residual: bool, spatial_dims: int, in_ch: int, out_ch: int, **kwargs) -> nn.Module:
    """A :class:`ResidualBlock` if ``residual`` else a :class:`DoubleConv`."""
    return (ResidualBlock if residual else DoubleConv)(spatial_dims, in_ch, out_ch, **kwargs)


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018, "Attention U-Net").

    The skip features ``x`` are weighted by ``alpha = sigmoid(psi(relu(W_x x + W_g g)))``,
    where the gating signal ``g`` comes from the decoder at the same resolution.
    Shapes: ``x: (B, C_x, *S)``, ``g: (B, C_g, *S) -> (B, C_x, *S)``.
    """

    def __init__(self, spatial_dims: int, skip_channels: int, gate_channels: int) -> None:
        super().__init__()
        inter = max(skip_channels // 2, 1)
        conv = layers.conv(spatial_dims)
        self.theta_x = conv(skip_channels, inter, 1, bias=False)
        self.phi_g = conv(gate_channels, inter, 1, bias=True)
        self.psi = conv(inter, 1, 1, bias=True)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Gate ``x`` by ``g``; returns a tensor shaped like ``x``."""
        alpha = torch.sigmoid(self.psi(F.relu(self.theta_x(x) + self.phi_g(g))))
        return x * alpha


class Upsample(nn.Module):
    """Upsampling by 2 along every spatial axis, then a projection to ``out_channels``.

    ``mode="transpose"`` uses a stride-2 transposed convolution; ``mode="interp"`` uses
    (bi/tri)linear interpolation followed by a 1x1 convolution (no checkerboard artefacts).
    Shapes: ``(B, C_in, *S) -> (B, C_out, *2S)``.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, mode: str) -> None:
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ConfigError.for_parameter("upsample", mode, ", ".join(UPSAMPLE_MODES))
        if mode == "transpose":
            self.up: nn.Module = layers.conv_transpose(spatial_dims)(
                in_channels, out_channels, 2, stride=2
            )
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=layers.interp_mode(spatial_dims)),
                layers.conv(spatial_dims)(in_channels, out_channels, 1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *S) -> (B, C_out, *2S)``."""
        return self.up(x)

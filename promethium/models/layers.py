"""Dimension-generic layer lookup, in the spirit of MONAI's ``Conv[dim]`` factories.

Model code asks for ``conv(spatial_dims)`` instead of naming ``nn.Conv2d``, so a single
implementation serves traces (1D), gathers (2D) and cubes (3D).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from promethium.errors import ConfigError

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCE_NORM = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_DROPOUT = {1: nn.Dropout, 2: nn.Dropout2d, 3: nn.Dropout3d}
_INTERP_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}

NORMS = ("batch", "instance", "group", "none")
ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.1, inplace=True),
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
    "tanh": nn.Tanh,
}


def conv(spatial_dims: int) -> type[nn.Module]:
    """``nn.Conv{1,2,3}d`` for ``spatial_dims``."""
    return _CONV[spatial_dims]


def conv_transpose(spatial_dims: int) -> type[nn.Module]:
    """``nn.ConvTranspose{1,2,3}d`` for ``spatial_dims``."""
    return _CONV_T[spatial_dims]


def pool(spatial_dims: int, kind: str = "max") -> type[nn.Module]:
    """``nn.MaxPool{1,2,3}d`` or ``nn.AvgPool{1,2,3}d``."""
    return (_MAX_POOL if kind == "max" else _AVG_POOL)[spatial_dims]


def interp_mode(spatial_dims: int) -> str:
    """The (bi/tri)linear interpolation mode name for ``spatial_dims``."""
    return _INTERP_MODE[spatial_dims]


def dropout(spatial_dims: int, p: float) -> nn.Module:
    """Channel dropout (``nn.Dropout{2,3}d``; plain dropout in 1D) or identity if ``p == 0``."""
    if not 0.0 <= p < 1.0:
        raise ConfigError.for_parameter("dropout", p, "a float in [0, 1)")
    return _DROPOUT[spatial_dims](p) if p > 0 else nn.Identity()


def norm(kind: str, spatial_dims: int, channels: int) -> nn.Module:
    """Normalisation layer by name: ``batch``, ``instance``, ``group`` or ``none``.

    Group norm uses up to 8 groups, the largest count that divides ``channels``.
    """
    match kind:
        case "batch":
            return _BATCH_NORM[spatial_dims](channels)
        case "instance":
            return _INSTANCE_NORM[spatial_dims](channels, affine=True)
        case "group":
            groups = max(g for g in range(1, 9) if channels % g == 0)
            return nn.GroupNorm(groups, channels)
        case "none":
            return nn.Identity()
    raise ConfigError.for_parameter("norm", kind, ", ".join(NORMS))


def activation(kind: str) -> nn.Module:
    """Activation layer by name (one of :data:`ACTIVATIONS`)."""
    if kind not in ACTIVATIONS:
        raise ConfigError.for_parameter("act", kind, ", ".join(ACTIVATIONS))
    return ACTIVATIONS[kind]()


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "constant"
) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Pad the spatial axes of ``(B, C, *spatial)`` at their ends up to a multiple.

    Returns:
        The padded tensor and the original spatial shape, for :func:`crop_to`.

    """
    spatial = tuple(x.shape[2:])
    extra = [(-n) % multiple for n in spatial]
    if not any(extra):
        return x, spatial
    pad: list[int] = []
    for e in reversed(extra):  # F.pad lists the last axis first
        pad += [0, e]
    if mode == "reflect" and any(e >= n for e, n in zip(extra, spatial, strict=True)):
        mode = "replicate"  # reflect needs pad < size; replicate is the closest safe mode
    return F.pad(x, pad, mode=mode), spatial


def crop_to(x: torch.Tensor, spatial: Sequence[int]) -> torch.Tensor:
    """Crop the spatial axes of ``(B, C, *spatial')`` back to ``spatial`` (from the start)."""
    return x[(slice(None), slice(None), *(slice(0, n) for n in spatial))]

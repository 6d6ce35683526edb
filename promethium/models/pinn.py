"""Physics-informed model: a registry backbone trained with a wave-equation penalty."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from promethium.errors import ConfigError
from promethium.models.base import PromethiumModel
from promethium.models.registry import ModelRegistry

TIME_NAMES = ("t", "time")
#: store axis names that mark recorded gathers rather than a wavefield on a spatial grid
GATHER_AXES = ("trace", "offset", "receiver", "channel")


@ModelRegistry.register("pinn")
class PhysicsInformedNet(PromethiumModel):
    """A backbone network with the settings of its wave-equation loss.

    Training with ``task.kind=physics`` (:class:`~promethium.ml.tasks.PhysicsInformedTask`)
    adds ``physics_weight * WaveEquationLoss`` of the output to the data loss.

    The input is a wavefield patch ``u(space..., t)``: ``axes`` names the input's axes,
    spatial ones first and time (``t``) last, e.g. ``["z", "x", "t"]`` for 2D snapshots
    over time, which the backbone treats as a 3D volume. The physics term needs the
    sampling ``dt`` and ``dx`` (taken from the data store when ``null``) and the velocity:
    a constant in m/s, or ``"field"`` for a velocity patch the dataset delivers with each
    sample (batch key ``velocity``, shaped like the spatial axes).

    Shapes: ``(B, C, *space, T) -> (B, C, *space, T)`` (the backbone's shapes).

    Args:
        spatial_dims: number of input axes (space + time); 1 only with ``physics_weight=0``.
        in_channels: input channels.
        out_channels: output channels.
        backbone: registry config of the backbone, e.g. ``{"name": "unet", "depth": 3}``
            (default :attr:`default_backbone`).
        axes: input axis names, time last (default ``x[, y], t``).
        physics_weight: weight of the physics term (0 disables it).
        velocity: constant velocity (m/s) or ``"field"``.
        dt: time sampling (s) or ``None`` to read it from the data.
        dx: spatial sampling (m; scalar or per spatial axis) or ``None`` for the data's.
        order: Laplacian accuracy order (2, 4, 6, 8).
        normalize: normalise the residual by the scale of ``u_tt``.
        allow_gathers: accept data whose axes are traces/offsets (see
            :class:`~promethium.ml.loss.WaveEquationLoss` for why this is usually wrong).

    """

    #: the physics term differentiates the output sample by sample: a U-Net backbone keeps
    #: level 0 at full resolution unless told otherwise
    default_backbone: ClassVar[dict[str, Any]] = {"name": "unet", "stem_stride": 1}
    tiny_kwargs = {"backbone": {**default_backbone, "depth": 1, "base_channels": 4}}

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 1,
        backbone: Mapping[str, Any] | None = None,
        axes: Sequence[str] | None = None,
        physics_weight: float = 0.1,
        velocity: float | str = "field",
        dt: float | None = None,
        dx: float | Sequence[float] | None = None,
        order: int = 4,
        normalize: bool = True,
        allow_gathers: bool = False,
    ) -> None:
        super().__init__(spatial_dims, in_channels, out_channels)
        if spatial_dims == 1 and physics_weight > 0:
            raise ConfigError.about(
                "physics_weight",
                "a 1D input is a single trace u(t) with no spatial axis, so the wave equation "
                "cannot be evaluated; use 2D (x, t) or 3D (z, x, t) patches, or physics_weight=0",
            )
        axes = list(axes) if axes is not None else [*"xyz"[: spatial_dims - 1], "t"]
        if len(axes) != spatial_dims or axes[-1] not in TIME_NAMES:
            raise ConfigError.for_parameter(
                "axes", axes, f"{spatial_dims} names with time ('t') last"
            )
        if not (isinstance(velocity, int | float) and velocity > 0) and velocity != "field":
            raise ConfigError.for_parameter("velocity", velocity, "m/s > 0, or 'field'")
        if physics_weight < 0:
            raise ConfigError.for_parameter("physics_weight", physics_weight, ">= 0")
        spec = dict(backbone or self.default_backbone)
        name = spec.pop("name", "unet")
        if str(name).lower() == "pinn":
            raise ConfigError.about("backbone.name", "a pinn cannot be its own backbone")
        try:
            self.backbone = ModelRegistry.build(
                name,
                spatial_dims=spatial_dims,
                in_channels=in_channels,
                out_channels=out_channels,
                **spec,
            )
        except ConfigError as err:
            raise err.at("backbone") from None
        self.axes, self.physics_weight, self.velocity = axes, float(physics_weight), velocity
        self.dt, self.dx, self.order, self.normalize = dt, dx, order, normalize
        self.allow_gathers = allow_gathers

    @property
    def space_axes(self) -> list[int]:
        """Tensor axes (of ``(B, C, *axes)``) that are spatial."""
        return list(range(2, 2 + self.spatial_dims - 1))

    @property
    def time_axis(self) -> int:
        """Tensor axis of time (always the last)."""
        return 1 + self.spatial_dims

    @classmethod
    def tiny(cls, spatial_dims: int, **overrides: Any) -> PhysicsInformedNet:
        """A small instance; physics off in 1D, where it cannot apply."""
        if spatial_dims == 1:
            overrides.setdefault("physics_weight", 0.0)
        return super().tiny(spatial_dims, **overrides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *space, T) -> (B, C_out, *space, T)``."""
        return self.backbone(x)

    def configure_physics(
        self, dt: float, dx: Sequence[float | None], axis_names: Sequence[str]
    ) -> None:
        """Take missing sampling from the data store and check the data is a wavefield.

        Args:
            dt: store time sampling (s).
            dx: store spacing per non-time axis (m, ``None`` for index axes).
            axis_names: store axis names (time last).

        Raises:
            ConfigError: for gather data (unless ``allow_gathers``) or missing sampling.

        """
        patch_axes = list(axis_names[-self.spatial_dims :])
        if any(a in GATHER_AXES for a in patch_axes[:-1]) and not self.allow_gathers:
            raise ConfigError(
                f"model=pinn: the data's patch axes are {patch_axes}, a recorded gather, not a "
                "wavefield u(space..., t) on a spatial grid; the wave-equation loss does not hold "
                "there. Use wavefield data (e.g. experiment=pinn_wavefield) or set "
                "model.allow_gathers=true to apply it anyway."
            )
        self.dt = self.dt or dt
        if self.dx is None:
            spacing = list(dx[-(self.spatial_dims - 1) :])
            known = [float(v) for v in spacing if v is not None]
            self.dx = known if len(known) == len(spacing) else None
        if self.dt is None or self.dx is None or any(v is None for v in _as_list(self.dx)):
            raise ConfigError.about("dt", f"sampling unknown (dt={self.dt}, dx={self.dx})")


def _as_list(value: float | Sequence[float]) -> list[float]:
    return [value] if isinstance(value, int | float) else list(value)

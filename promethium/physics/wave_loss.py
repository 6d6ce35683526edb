"""The physics loss: a finite-difference penalty on the acoustic wave equation."""

from __future__ import annotations

import torch
from torch import nn

from promethium.errors import ConfigError
from promethium.physics.stencils import (
    crop_interior,
    laplacian,
    second_time_derivative,
    stencil_radius,
)

REDUCTIONS = ("mean", "sum", "none")


class WaveEquationLoss(nn.Module):
    """Finite-difference penalty on the acoustic wave equation ``u_tt = c^2 lap u``.

    The residual ``u_tt - c^2 lap u`` is evaluated on the interior that the stencils
    reach (``order // 2`` samples are dropped at both ends of each spatial axis, one at
    each end of time): edges are excluded, never zero-padded. ``u_tt`` is 2nd order
    (the leapfrog stencil of the modelling), the Laplacian ``order``-accurate.

    The loss applies to *wavefields* ``u(space..., t)`` sampled on a full spatial grid
    (e.g. snapshots ``u(z, x, t)``). A surface shot gather ``u(x, t)`` recorded at fixed
    depth does not satisfy the 1D wave equation in general (energy arrives from below,
    ``u_zz`` is unknown), so applying this loss to gathers penalises correct data.

    Shapes: ``u: (B, C, *space, T)`` with 1 to 3 spatial axes and time last;
    ``velocity`` broadcastable to ``(B, C, *space)`` (or ``(*space)``), in m/s;
    ``mask`` broadcastable to ``u``. Returns a scalar (``mean``/``sum``) or ``(B,)``.

    Args:
        dt: time sampling (s).
        dx: spatial sampling (m), scalar or one value per spatial axis.
        velocity: default velocity (scalar or tensor); ``forward`` may pass its own.
        order: accuracy order of the Laplacian (2, 4, 6, 8).
        reduction: ``mean`` over the batch, ``sum``, or ``none`` (per sample).
        normalize: divide the mean squared residual by the batch's mean square of
            ``u_tt`` (detached; of ``reference`` if given), so the value is dimensionless
            and independent of amplitude units: ~0 for a solution, ~1 or more for an
            unrelated field.
        eps: floor of the normalising scale.

    """

    def __init__(
        self,
        dt: float,
        dx: float | list[float],
        velocity: float | torch.Tensor | None = None,
        order: int = 4,
        reduction: str = "mean",
        normalize: bool = True,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        if not dt or dt <= 0:
            raise ConfigError.for_parameter("dt", dt, "a positive time step in s")
        dxs = [dx] if isinstance(dx, int | float) else list(dx)
        if not dxs or any(v is None or v <= 0 for v in dxs):
            raise ConfigError.for_parameter("dx", dx, "positive spacing(s) in m")
        if reduction not in REDUCTIONS:
            raise ConfigError.for_parameter("reduction", reduction, ", ".join(REDUCTIONS))
        stencil_radius(order)
        self.dt, self.dx, self.order = float(dt), [float(v) for v in dxs], order
        self.reduction, self.normalize, self.eps = reduction, normalize, eps
        self.velocity = velocity

    def _spacing(self, n_space: int) -> list[float]:
        if len(self.dx) == 1:
            return self.dx * n_space
        if len(self.dx) != n_space:
            raise ValueError(f"physics.dx has {len(self.dx)} values for {n_space} spatial axes")
        return self.dx

    def residual(
        self, u: torch.Tensor, velocity: float | torch.Tensor | None = None
    ) -> torch.Tensor:
        """``u_tt - c^2 lap u`` on the interior: ``(B, C, *space - 2r, T - 2)``."""
        n_space = u.ndim - 3
        if not 1 <= n_space <= 3:
            raise ValueError(
                f"WaveEquationLoss expects (B, C, *space, T) with 1-3 spatial axes, "
                f"got shape {tuple(u.shape)}"
            )
        c = self.velocity if velocity is None else velocity
        if c is None:
            raise ValueError("WaveEquationLoss: no velocity given (constructor or forward)")
        radius = stencil_radius(self.order)
        space_axes = list(range(2, 2 + n_space))
        lap = laplacian(u, self._spacing(n_space), self.order)[..., 1:-1]
        u_tt = crop_interior(second_time_derivative(u, self.dt), [(a, radius) for a in space_axes])
        if isinstance(c, torch.Tensor) and c.ndim > 0:  # a velocity model on the grid
            c = c.to(u)
            c = c[None, None] if c.ndim == n_space else c  # (*space) -> (1, 1, *space)
            c = crop_interior(c, [(a, radius) for a in space_axes if c.shape[a] > 1])[..., None]
        return u_tt - c**2 * lap

    def forward(
        self,
        u: torch.Tensor,
        velocity: float | torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean squared (optionally normalised, masked) residual.

        Args:
            u: wavefield ``(B, C, *space, T)``.
            velocity: overrides the constructor's velocity.
            mask: where to evaluate (broadcastable to ``u``).
            reference: field whose ``u_tt`` sets the normalising scale (e.g. the training
                target); default ``u`` itself. Normalising a prediction by its own scale
                rewards shrinking it towards zero, so pass the target when training.
        """
        res = self.residual(u, velocity)
        radius = stencil_radius(self.order)
        interior = [(a, radius) for a in range(2, u.ndim - 1)] + [(u.ndim - 1, 1)]
        weight = (
            torch.ones_like(res)
            if mask is None
            else crop_interior(mask.to(u).expand_as(u), interior)
        )
        per_sample = (weight * res.square()).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(
            1
        )
        if self.normalize:
            ref = u if reference is None else reference
            u_tt = crop_interior(second_time_derivative(ref, self.dt), interior[:-1]).detach()
            # one scale for the whole batch: a patch the wave has barely reached would
            # otherwise get a tiny scale and dominate the batch
            scale = (weight * u_tt.square()).sum() / weight.sum().clamp_min(1)
            per_sample = per_sample / scale.clamp_min(self.eps)
        if self.reduction == "none":
            return per_sample
        return per_sample.mean() if self.reduction == "mean" else per_sample.sum()

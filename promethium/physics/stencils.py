"""Central finite-difference stencils for second derivatives, on ``(B, C, *space, time)``.

Each operator is the *valid* convolution of the array with a fixed symmetric kernel
along one axis: the result is shorter by the stencil radius at each end of that axis,
so no edge is padded with zeros. The convolution is evaluated as a sum of shifted
slices, one per kernel tap (at most 9), which is vectorised over the whole grid,
differentiable, device-agnostic, and avoids the transposed copy that ``F.conv1d`` along
an inner axis needs. The same functions drive the acoustic modelling and
:class:`~promethium.ml.loss.WaveEquationLoss`, so modelled wavefields satisfy the
discrete equation the loss checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction as Fr

import torch

from promethium.errors import ConfigError

#: Central-difference weights of d^2/dx^2 (times dx^2) by accuracy order.
SECOND_DERIVATIVE: dict[int, tuple[float, ...]] = {
    2: (1.0, -2.0, 1.0),
    4: tuple(float(v) for v in (Fr(-1, 12), Fr(4, 3), Fr(-5, 2), Fr(4, 3), Fr(-1, 12))),
    6: tuple(
        float(v)
        for v in (Fr(1, 90), Fr(-3, 20), Fr(3, 2), Fr(-49, 18), Fr(3, 2), Fr(-3, 20), Fr(1, 90))
    ),
    8: tuple(
        float(v)
        for v in (
            Fr(-1, 560),
            Fr(8, 315),
            Fr(-1, 5),
            Fr(8, 5),
            Fr(-205, 72),
            Fr(8, 5),
            Fr(-1, 5),
            Fr(8, 315),
            Fr(-1, 560),
        )
    ),
}


def stencil_radius(order: int) -> int:
    """Half-width of the ``order``-accurate second-derivative stencil."""
    if order not in SECOND_DERIVATIVE:
        raise ConfigError.for_parameter("order", order, ", ".join(map(str, SECOND_DERIVATIVE)))
    return order // 2


def second_derivative(u: torch.Tensor, axis: int, spacing: float, order: int = 4) -> torch.Tensor:
    """``d^2 u / d axis^2`` by a central stencil, valid part only.

    Args:
        u: tensor of any shape.
        axis: axis to differentiate along (negative values allowed).
        spacing: grid spacing along ``axis`` (physical units).
        order: accuracy order (2, 4, 6 or 8).

    Returns:
        ``u``'s shape, shorter by ``2 * order // 2`` along ``axis``.

    """
    radius = stencil_radius(order)
    n = u.shape[axis]
    if n <= 2 * radius:
        raise ValueError(f"axis {axis} has {n} samples; order-{order} stencil needs > {2 * radius}")
    out = None
    for tap, weight in enumerate(SECOND_DERIVATIVE[order]):
        term = weight * u.narrow(axis, tap, n - 2 * radius)
        out = term if out is None else out + term
    assert out is not None  # every stencil has taps
    return out / spacing**2


def crop_interior(u: torch.Tensor, margins: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Crop ``margins[i] = (axis, width)`` samples from both ends of each listed axis."""
    for axis, width in margins:
        if width:
            u = u.narrow(axis, width, u.shape[axis] - 2 * width)
    return u


def laplacian(
    u: torch.Tensor, spacing: Sequence[float], order: int = 4, time_axis: bool = True
) -> torch.Tensor:
    """Laplacian over the spatial axes of ``(B, C, *space[, time])``, on the common interior.

    Args:
        u: ``(B, C, *space, T)`` if ``time_axis`` else ``(B, C, *space)``.
        spacing: one grid spacing per spatial axis.
        order: accuracy order of each second derivative.
        time_axis: whether the last axis is time (left whole).

    Returns:
        The Laplacian, cropped by the stencil radius at both ends of every spatial axis.

    """
    n_space = u.ndim - 2 - int(time_axis)
    if len(spacing) != n_space:
        raise ValueError(f"{n_space} spatial axes but {len(spacing)} spacings given")
    radius = stencil_radius(order)
    axes = list(range(2, 2 + n_space))
    total = None
    for axis, h in zip(axes, spacing, strict=True):
        term = crop_interior(
            second_derivative(u, axis, h, order), [(a, radius) for a in axes if a != axis]
        )
        total = term if total is None else total + term
    return total


def second_time_derivative(u: torch.Tensor, dt: float) -> torch.Tensor:
    """``u_tt`` along the last axis, 2nd order (the leapfrog stencil), valid part only."""
    return second_derivative(u, -1, dt, order=2)

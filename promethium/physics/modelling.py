"""2D acoustic finite-difference modelling (batched shots, torch, CPU or CUDA).

Leapfrog in time (2nd order) and the ``order``-accurate Laplacian of
:mod:`promethium.physics.stencils` in space, so the wavefields it produces satisfy the
discrete wave equation that :class:`~promethium.ml.loss.WaveEquationLoss` evaluates.
Absorbing boundaries are Cerjan et al. (1985) sponge layers: the field is damped by a
Gaussian taper in a strip around the model, which is cropped off the outputs.

    u[n+1] = 2 u[n] - u[n-1] + (c dt)^2 lap(u[n]) + dt^2 s[n] delta(x - x_s)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from promethium.errors import ConfigError
from promethium.physics.stencils import SECOND_DERIVATIVE, laplacian, stencil_radius
from promethium.physics.wavelets import ricker


def cfl_limit(order: int, ndim: int = 2) -> float:
    """Largest stable Courant number ``c_max dt / dx`` of leapfrog with this stencil.

    Von Neumann analysis: the highest-wavenumber mode is stable while
    ``(c dt / dx)^2 * ndim * sum|w_k| <= 4``.
    """
    weights = SECOND_DERIVATIVE[order]
    return 2.0 / math.sqrt(ndim * sum(abs(w) for w in weights))


def sponge_profile(n: int, width: int, strength: float = 0.0053) -> torch.Tensor:
    """Cerjan damping factors along one padded axis: 1 inside, ``exp(-(a d)^2)`` in the strip."""
    profile = torch.ones(n + 2 * width, dtype=torch.float64)
    depth = torch.arange(width, 0, -1, dtype=torch.float64)
    taper = torch.exp(-((strength * depth) ** 2))
    profile[:width] = taper
    profile[n + width :] = taper.flip(0)
    return profile


@dataclass
class ModellingResult:
    """Outputs of :func:`model_shots` (numpy, float32).

    Attributes:
        gathers: ``(S, nx, nt)`` pressure at the receiver depth (all columns).
        snapshots: ``(S, nz, nx, n_snap)`` wavefield every ``snapshot_every`` steps from
            ``snapshot_start``, or ``None``.
        dt: time step (s).
        dx: grid spacing (m).

    """

    gathers: np.ndarray
    snapshots: np.ndarray | None
    dt: float
    dx: float


def model_shots(
    velocity: np.ndarray | torch.Tensor,
    dx: float,
    dt: float,
    nt: int,
    sources: Sequence[tuple[int, int]],
    freq_hz: float = 15.0,
    receiver_depth: int = 0,
    order: int = 4,
    absorb: int = 40,
    free_surface: bool = False,
    snapshot_every: int = 0,
    snapshot_start: int = 0,
    device: str | torch.device = "cpu",
) -> ModellingResult:
    """Model all ``sources`` at once (one batch entry per shot) on a 2D velocity grid.

    Args:
        velocity: ``(nz, nx)`` P-wave velocity (m/s).
        dx: grid spacing (m), both axes.
        dt: time step (s); refused above the stencil's CFL limit.
        nt: number of time steps.
        sources: ``(iz, ix)`` cell of each shot (a Ricker point source, delayed 1.2/f).
        freq_hz: Ricker peak frequency.
        receiver_depth: row where gathers are recorded.
        order: spatial accuracy order (4 or higher recommended; 2 allowed).
        absorb: sponge width in cells (on every side, or not on top with ``free_surface``).
        free_surface: no sponge on top (pressure-release surface, ``u = 0`` above row 0).
        snapshot_every: keep the whole wavefield every this many steps (0: never).
        snapshot_start: first step of the snapshots.
        device: torch device.

    Raises:
        ConfigError: if ``dt`` breaks the CFL limit, or a source lies outside the grid.

    """
    vel = torch.as_tensor(np.asarray(velocity), dtype=torch.float32, device=device)
    nz, nx = vel.shape
    courant = float(vel.max()) * dt / dx
    limit = cfl_limit(order)
    if courant > limit:
        raise ConfigError(
            f"modelling dt={dt:g} s is unstable: c_max*dt/dx = {courant:.3f} exceeds the CFL "
            f"limit {limit:.3f} of the order-{order} stencil; "
            f"use dt <= {limit * dx / float(vel.max()):.3g} s"
        )
    for iz, ix in sources:
        if not (0 <= iz < nz and 0 <= ix < nx):
            raise ConfigError(f"modelling source ({iz}, {ix}) lies outside the {nz} x {nx} grid")
    top = 0 if free_surface else absorb
    damp_z = sponge_profile(nz, absorb)[absorb - top :].to(device, torch.float32)
    damp = damp_z[:, None] * sponge_profile(nx, absorb).to(device, torch.float32)[None, :]
    padded_vel = F.pad(vel[None, None], (absorb, absorb, top, absorb), mode="replicate")[0, 0]
    coef = (padded_vel * dt) ** 2
    radius = stencil_radius(order)
    n_shots = len(sources)
    u_prev = torch.zeros(n_shots, 1, *padded_vel.shape, device=device)
    u = torch.zeros_like(u_prev)
    src_z = torch.tensor([s[0] + top for s in sources], device=device)
    src_x = torch.tensor([s[1] + absorb for s in sources], device=device)
    shot_idx = torch.arange(n_shots, device=device)
    t = np.arange(nt) * dt
    wavelet = torch.as_tensor(ricker(t - 1.2 / freq_hz, freq_hz), dtype=torch.float32)
    gathers = torch.zeros(n_shots, nx, nt, device=device)
    snaps = []
    rz = receiver_depth + top
    for step in range(nt):  # u holds the field at time step * dt
        gathers[:, :, step] = u[:, 0, rz, absorb : absorb + nx]
        if (
            snapshot_every
            and step >= snapshot_start
            and (step - snapshot_start) % snapshot_every == 0
        ):
            snaps.append(u[:, 0, top : top + nz, absorb : absorb + nx].clone())
        lap = laplacian(F.pad(u, (radius,) * 4), [dx, dx], order, time_axis=False)
        u_next = 2 * u - u_prev + coef * lap
        u_next[shot_idx, 0, src_z, src_x] += dt**2 * float(wavelet[step]) / dx**2
        u_prev, u = u * damp, u_next * damp
    snapshots = torch.stack(snaps, -1).cpu().numpy() if snaps else None
    return ModellingResult(gathers.cpu().numpy(), snapshots, dt, dx)

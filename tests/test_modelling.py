"""Acoustic FD modelling against the analytic 2D Green's function, and its consistency
with the wave-equation loss."""

import math

import numpy as np
import pytest
import torch

from promethium.errors import ConfigError
from promethium.physics.modelling import cfl_limit, model_shots
from promethium.physics.wave_loss import WaveEquationLoss
from promethium.physics.wavelets import ricker


def analytic_2d(r, t, c, freq, dt, fine=20):
    """Ricker-sourced solution of ``u_tt = c^2 lap u + w(t) delta(x)`` in 2D.

    ``u = w * G / c^2`` with ``G = c H(ct - r) / (2 pi sqrt(c^2 t^2 - r^2))``; the
    integrable singularity is handled by integrating G exactly over fine time bins.
    """
    tau = np.arange(len(t) * fine + 1) * dt / fine
    acosh = np.arccosh(np.clip(c * tau / r, 1.0, None))
    kernel = (acosh[1:] - acosh[:-1]) / (2 * math.pi)
    centres = 0.5 * (tau[1:] + tau[:-1])
    wave = ricker(t[:, None] - centres[None, :] - 1.2 / freq, freq)
    return (wave * kernel).sum(1) / c**2


def test_matches_analytic_green_function_of_homogeneous_medium():
    c, dx, freq, n = 2000.0, 5.0, 10.0, 161
    dt, nt, offset = 0.5 * dx / c, 400, 50
    result = model_shots(
        np.full((n, n), c, np.float32),
        dx,
        dt,
        nt,
        [(80, 80)],
        freq_hz=freq,
        receiver_depth=80,
        order=8,
        absorb=60,
    )
    numeric = result.gathers[0, 80 + offset]
    exact = analytic_2d(offset * dx, np.arange(nt) * dt, c, freq, dt)
    assert numeric.max() / exact.max() == pytest.approx(1.0, abs=0.03)
    assert numeric.min() / exact.min() == pytest.approx(1.0, abs=0.03)
    assert abs(int(numeric.argmax()) - int(exact.argmax())) <= 1
    assert abs(int(numeric.argmin()) - int(exact.argmin())) <= 1
    assert np.linalg.norm(numeric - exact) / np.linalg.norm(exact) < 0.05


def test_refuses_unstable_time_step():
    vel = np.full((20, 20), 3000.0, np.float32)
    dt = 1.01 * cfl_limit(4) * 10.0 / 3000.0
    with pytest.raises(ConfigError, match="CFL"):
        model_shots(vel, 10.0, dt, 10, [(5, 5)])
    stable = model_shots(vel, 10.0, 0.99 * cfl_limit(4) * 10.0 / 3000.0, 400, [(10, 10)])
    assert np.isfinite(stable.gathers).all() and np.abs(stable.gathers).max() < 1.0


def test_rejects_source_outside_grid():
    with pytest.raises(ConfigError, match="outside"):
        model_shots(np.full((10, 10), 2000.0, np.float32), 10.0, 1e-3, 5, [(3, 12)])


def test_modelled_wavefield_satisfies_loss_with_true_velocity_only():
    rng = np.random.default_rng(0)
    vel = np.full((60, 60), 2000.0, np.float32)
    vel[30:] = 2800.0
    vel += rng.uniform(-50, 50, vel.shape).astype(np.float32)
    dx = 10.0
    dt = 0.5 * cfl_limit(4) * dx / vel.max()
    # snapshots start once the source wavelet (2.4 / f long) has ended
    res = model_shots(
        vel, dx, dt, 260, [(10, 20)], freq_hz=15.0, snapshot_every=1, snapshot_start=200
    )
    u = torch.from_numpy(res.snapshots)[:, None].double()  # (1, 1, z, x, t)
    loss = WaveEquationLoss(dt=dt, dx=dx, order=4)
    true = loss(u, velocity=torch.from_numpy(vel).double())
    constant = loss(u, velocity=float(vel.mean()))
    smooth = torch.nn.functional.avg_pool2d(
        torch.from_numpy(vel)[None, None].double(), 15, stride=1, padding=7, count_include_pad=False
    )[0, 0]
    smoothed = loss(u, velocity=smooth)
    assert true < 1e-6
    assert constant > 100 * true and smoothed > 100 * true


def test_marmousi_gathers_split_spread_as_recorded():
    """Raw modelled pressure: gain and scaling belong to the amplitude contract."""
    from promethium.data.marmousi import MarmousiGathers
    from promethium.models.amplitude import AmplitudeContract, TraceAmplitude

    small = dict(n_shots=2, decimate=8, receiver_step=1, n_samples=96, shots_per_batch=2)
    raw, attrs, _, _ = MarmousiGathers(**small, max_offset_m=400.0).build()
    assert raw.shape == (2, 11, 96)  # +-400 m at 80 m: 11 receivers
    assert attrs["receiver_offsets_m"] == [-400.0 + 80.0 * i for i in range(11)]
    assert attrs["source_x_m"][0] == (5 + 5) * 80.0  # the first shot's spread fits the model
    assert "no gain" in attrs["units"]["data"]
    assert np.sqrt(np.mean(np.square(raw, dtype=np.float64))) == pytest.approx(1, rel=1e-4)
    # normalize=gained (the recipes' contract): t^2, then one unit RMS per shot
    stage = TraceAmplitude(
        AmplitudeContract("rms", "gather", gain=2.0), 0.004, raw.__getitem__, True
    )
    gained = raw * stage.block_factors((slice(None),) * 3, raw.shape)
    t2 = np.maximum(np.arange(96) * 0.004, 0.002) ** 2
    by_formula = raw * t2 / np.sqrt(np.mean(np.square(raw * t2), axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(gained, by_formula, rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="max_offset_m"):
        MarmousiGathers(**small, max_offset_m=6000.0).build()

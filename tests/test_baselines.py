"""Classical baselines on synthetic gathers whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from promethium.baselines import bandpass, fk_dip_filter, fx_decon, linear_interpolation, pocs
from promethium.errors import ConfigError

DT = 0.004


def snr_db(estimate: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean**2) / np.sum((estimate - clean) ** 2)))


def events(n_traces=64, n_samples=256, arrivals=((0.3, 0.0), (0.6, 2e-3)), f0=25.0, dx=1.0):
    """Ricker events arriving at ``t0 + slope * trace`` (s), shape (trace, time)."""
    t = np.arange(n_samples) * DT
    out = np.zeros((n_traces, n_samples))
    for t0, slope in arrivals:
        tau = t[None, :] - (t0 + slope * np.arange(n_traces) * dx)[:, None]
        arg = (np.pi * f0 * tau) ** 2
        out += (1 - 2 * arg) * np.exp(-arg)
    return out.astype(np.float32)


def test_bandpass_keeps_the_band_and_removes_the_rest():
    t = np.arange(1000) * DT
    inside, outside = np.sin(2 * np.pi * 20 * t), np.sin(2 * np.pi * 100 * t)
    y = bandpass(np.stack([inside, outside])[None].astype(np.float32), DT, 8, 50)[0]
    core = slice(200, 800)
    assert np.abs(y[0, core] - inside[core]).max() < 0.05
    assert np.abs(y[1, core]).max() < 0.01
    with pytest.raises(ConfigError, match="Nyquist"):
        bandpass(y, DT, 10, 200)


def test_fx_decon_removes_white_noise_from_linear_events():
    clean = events()
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(clean.shape).astype(np.float32)
    noisy = clean + noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2))  # 0 dB
    batch = np.stack([noisy, noisy])  # leading batch axes are handled
    out = fx_decon(batch, DT, f_min=2, f_max=80)
    assert out.shape == batch.shape
    gain = snr_db(out[0], clean) - snr_db(noisy, clean)
    assert gain >= 8.0, gain


def test_fk_filter_removes_slow_events_and_keeps_fast_ones():
    fast = events(arrivals=((0.3, 0.0005),))  # 0.5 ms per 1 m trace: 2000 m/s
    slow = events(arrivals=((0.5, 0.004),))  # 250 m/s, as strong: input SNR 0 dB
    out = fk_dip_filter(fast + slow, DT, dx=1.0, v_min=500.0)
    assert snr_db(out, fast) > 15.0


def test_linear_interpolation_is_exact_for_a_linear_field():
    x = np.add.outer(np.arange(20.0), np.zeros(30)).astype(np.float32)  # value = trace
    mask = np.ones(20, bool)
    mask[[0, 3, 4, 5, 10, 19]] = False
    y = linear_interpolation(np.where(mask[:, None], x, 0), mask)
    inner = slice(1, 19)
    np.testing.assert_allclose(y[inner], x[inner], atol=1e-5)
    assert y[0, 0] == x[1, 0] and y[19, 0] == x[18, 0]  # nearest live beyond the ends


def test_pocs_recovers_a_dipping_event_with_30_percent_missing():
    clean = events(arrivals=((0.3, 1.5e-3),))
    rng = np.random.default_rng(1)
    mask = np.ones(clean.shape[0], bool)
    mask[rng.choice(clean.shape[0], size=int(0.3 * clean.shape[0]), replace=False)] = False
    out = pocs(clean * mask[:, None], mask, n_iter=100)
    missing = ~mask
    assert snr_db(out[missing], clean[missing]) >= 15.0
    assert np.array_equal(out[mask], clean[mask])  # observed traces are kept
    linear = linear_interpolation(clean * mask[:, None], mask)
    assert snr_db(out, clean) > snr_db(linear, clean)


def test_windowed_pocs_follows_curved_events_and_reduces_to_one_window():
    t = np.arange(512) * DT
    offsets = (np.arange(128) - 64) * 12.5
    tau = t[None, :] - np.sqrt(0.4**2 + (offsets / 2000.0) ** 2)[:, None]  # a hyperbola
    clean = ((1 - 2 * (np.pi * 25 * tau) ** 2) * np.exp(-((np.pi * 25 * tau) ** 2))).astype(
        np.float32
    )
    mask = np.random.default_rng(0).random(128) > 0.5
    x = clean * mask[:, None]
    whole = pocs(x, mask, window=None)
    windowed = pocs(x, mask, window=(32, 128))
    assert np.array_equal(windowed[mask], clean[mask])  # observed traces pass through
    assert snr_db(windowed, clean) > snr_db(whole, clean) + 10.0  # measured 25.3 vs 6.3 dB
    # one window covering the gather: the blend is an exact identity
    np.testing.assert_allclose(pocs(x, mask, window=(500, 1000)), whole, atol=1e-5)


def test_fk_then_fx_removes_coherent_and_random_noise_better_than_either():
    from promethium.baselines import fk_fx_decon

    fast = events(arrivals=((0.2, 0.0002), (0.6, 0.0005)))  # 5000 and 2000 m/s at dx 1 m
    slow = events(arrivals=((0.4, 0.004),))  # 250 m/s ground roll
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(fast.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(fast**2) / np.mean(noise**2))
    noisy = fast + slow + noise
    fk, fx = {"v_min": 500.0}, {"f_min": 2.0, "f_max": 80.0}
    both = snr_db(fk_fx_decon(noisy, DT, 1.0, fk, fx), fast)
    assert both > snr_db(fk_dip_filter(noisy, DT, dx=1.0, **fk), fast) + 3.0
    assert both > snr_db(fx_decon(noisy, DT, **fx), fast) + 3.0


def test_fx_decon_time_windows_reduce_to_whole_traces():
    noisy = events() + np.random.default_rng(3).standard_normal((64, 256)).astype(np.float32)
    whole = fx_decon(noisy, DT)
    np.testing.assert_allclose(fx_decon(noisy, DT, time_window=300), whole, atol=1e-5)
    windowed = fx_decon(noisy, DT, time_window=128)
    assert windowed.shape == noisy.shape and windowed.dtype == noisy.dtype
    assert snr_db(windowed, events()) > snr_db(noisy, events()) + 5.0

"""Classical denoising baselines: band-pass, f-x deconvolution, FK dip filtering, FK + f-x.

Gathers are ``(..., trace, time)`` float arrays (any leading batch axes), time sampled
every ``dt`` seconds. Every function is vectorised over the batch and returns an array
of the input's shape and dtype.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from promethium.baselines.windows import blend_windows
from promethium.errors import ConfigError
from promethium.tiling import axis_starts, window_1d


def bandpass(
    x: np.ndarray, dt: float, f_low: float = 5.0, f_high: float = 60.0, order: int = 4
) -> np.ndarray:
    """Zero-phase Butterworth band-pass along time.

    Butterworth (1930), "On the theory of filter amplifiers"; applied forward and
    backward (``sosfiltfilt``) so that events keep their timing.

    Args:
        x: ``(..., trace, time)``.
        dt: sampling interval in seconds.
        f_low: low corner (Hz); ``0`` for a low-pass.
        f_high: high corner (Hz), below Nyquist.
        order: filter order (per pass).
    """
    nyquist = 0.5 / dt
    if not 0 <= f_low < f_high < nyquist:
        raise ConfigError.about(
            "f_high",
            f"need 0 <= f_low < f_high < Nyquist ({nyquist:g} Hz); "
            f"got f_low={f_low}, f_high={f_high}",
        )
    if f_low > 0:
        sos = signal.butter(order, [f_low, f_high], btype="bandpass", fs=1 / dt, output="sos")
    else:
        sos = signal.butter(order, f_high, btype="lowpass", fs=1 / dt, output="sos")
    return signal.sosfiltfilt(sos, x, axis=-1).astype(x.dtype)


def _prediction(s: np.ndarray, length: int, damping: float) -> np.ndarray:
    """Forward-predicted traces of frequency slices ``s: (F, N)`` (complex), ``(F, N)``.

    Solves, for every frequency at once, the damped least-squares prediction filter
    ``w`` with ``s[j] ~ sum_k w[k] s[j - 1 - k]``; the first ``length`` traces, which
    have no past, come back as NaN.
    """
    n_freq, n = s.shape
    rows = np.arange(length, n)[:, None] - 1 - np.arange(length)[None, :]  # (N-L, L)
    a = s[:, rows]  # (F, N-L, L)
    b = s[:, length:]  # (F, N-L)
    ah = np.conj(np.swapaxes(a, 1, 2))
    gram = ah @ a
    scale = np.real(np.trace(gram, axis1=1, axis2=2)) / length
    gram += (damping * scale + 1e-12)[:, None, None] * np.eye(length)
    w = np.linalg.solve(gram, (ah @ b[..., None]))[..., 0]  # (F, L)
    out = np.full(s.shape, np.nan, dtype=s.dtype)
    out[:, length:] = np.einsum("fnl,fl->fn", a, w)
    return out


def fx_decon(
    x: np.ndarray,
    dt: float,
    f_min: float = 1.0,
    f_max: float | None = None,
    window: int = 32,
    filter_length: int = 3,
    damping: float = 0.1,
    time_window: int | None = None,
) -> np.ndarray:
    """f-x deconvolution (Canales-type prediction filtering) in sliding trace windows.

    Canales (1984), "Random noise reduction", SEG Expanded Abstracts 525-527; Gulunay
    (1986). Linear events are predictable from trace to trace at each frequency, random
    noise is not: every frequency slice of each trace window is replaced by the average
    of its forward and backward complex prediction (damped least squares, filter of
    ``filter_length`` traces). Windows overlap by half and are blended with a cosine
    window (the same blending as tiled inference), so the result has no seams.

    Args:
        x: ``(..., trace, time)``.
        dt: sampling interval (s).
        f_min: lowest frequency filtered (Hz).
        f_max: highest frequency filtered (Hz; default Nyquist); above it the output is 0.
        window: traces per window (clipped to the gather).
        filter_length: prediction filter length in traces.
        damping: pre-whitening, as a fraction of the mean diagonal of the normal equations.
        time_window: samples per time window (half-overlapping, cosine-blended), so
            that curved events are near-linear within each; ``None``: whole traces
            (the gain on Marmousi shots is in ``docs/benchmarks.md``).
    """
    if x.shape[-2] < 3:  # no neighbouring traces to predict a trace from: nothing to do
        return x.copy()
    if time_window is not None:
        return blend_windows(
            lambda box: fx_decon(x[..., box[0]], dt, f_min, f_max, window, filter_length, damping),
            x.shape,
            (time_window,),
        ).astype(x.dtype)
    shape, n_traces, n_time = x.shape, x.shape[-2], x.shape[-1]
    gathers = x.reshape(-1, n_traces, n_time)
    spectrum = np.fft.rfft(gathers, axis=-1)  # (G, N, F)
    freqs = np.fft.rfftfreq(n_time, dt)
    band = (freqs >= f_min) & (freqs <= (f_max if f_max is not None else freqs[-1]))
    window = min(window, n_traces)
    length = min(filter_length, max(window // 2 - 1, 1))
    taper = window_1d("cosine", window)
    out = np.zeros((gathers.shape[0], n_traces, int(band.sum())), dtype=complex)
    weight = np.zeros(n_traces)
    for start in axis_starts(n_traces, window, window // 2):
        part = spectrum[:, start : start + window][..., band]  # (G, W, Fb)
        s = np.moveaxis(part, 1, -1).reshape(-1, window)  # (G*Fb, W)
        forward = _prediction(s, length, damping)
        backward = _prediction(s[:, ::-1], length, damping)[:, ::-1]
        predicted = np.nanmean(np.stack([forward, backward]), axis=0)
        predicted = np.moveaxis(predicted.reshape(part.shape[0], -1, window), -1, 1)
        out[:, start : start + window] += predicted * taper[None, :, None]
        weight[start : start + window] += taper
    filtered = np.zeros_like(spectrum)
    filtered[..., band] = out / weight[None, :, None]
    return np.fft.irfft(filtered, n=n_time, axis=-1).reshape(shape).astype(x.dtype)


def fk_dip_filter(
    x: np.ndarray,
    dt: float,
    dx: float = 1.0,
    v_min: float = 1500.0,
    taper: float = 0.2,
    pad: float = 0.25,
) -> np.ndarray:
    """FK (velocity) filter: remove energy with apparent velocity below ``v_min``.

    Embree, Burg and Backus (1963), "Wide-band velocity filtering - the pie-slice
    process", Geophysics 28(6). Slow coherent noise (ground roll, guided waves) plots at
    large ``|k| / |f|``; a fan mask with a cosine taper of relative width ``taper`` keeps
    ``|f| / |k| >= v_min`` in the 2D spectrum of each gather.

    Args:
        x: ``(..., trace, time)``.
        dt: sampling interval (s).
        dx: trace spacing (m).
        v_min: lowest apparent velocity kept (m/s).
        taper: relative width of the transition band in velocity.
        pad: zero traces added on each side (fraction of the trace count), so that the
            FFT's periodic wrap does not join the gather's edges (``docs/benchmarks.md``).
    """
    n_pad = int(round(pad * x.shape[-2]))
    original = x.shape[-2]
    x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(n_pad, n_pad), (0, 0)])
    n_traces, n_time = x.shape[-2:]
    f = np.fft.fftfreq(n_time, dt)[None, :]
    k = np.fft.fftfreq(n_traces, dx)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        velocity = np.where(k == 0, np.inf, np.abs(f) / np.abs(k))
    low, high = v_min * (1 - taper), v_min
    ramp = np.clip((velocity - low) / max(high - low, 1e-9), 0.0, 1.0)
    mask = np.sin(0.5 * np.pi * ramp) ** 2
    spectrum = np.fft.fft2(x, axes=(-2, -1))
    out = np.real(np.fft.ifft2(spectrum * mask, axes=(-2, -1)))
    return out[..., n_pad : n_pad + original, :].astype(x.dtype)


def fk_fx_decon(
    x: np.ndarray, dt: float, dx: float, fk: dict | None = None, fx: dict | None = None
) -> np.ndarray:
    """FK dip filter, then f-x deconvolution: the usual flow for mixed noise.

    Slow coherent noise (ground roll) is predictable from trace to trace, so f-x
    deconvolution keeps it; the FK fan filter removes it first, and f-x deconvolution
    then attenuates the random noise (e.g. Yilmaz 2001, Seismic Data Analysis, 6.2).

    Args:
        x: ``(..., trace, time)``.
        dt: sampling interval (s).
        dx: trace spacing (m).
        fk: keyword arguments of :func:`fk_dip_filter`.
        fx: keyword arguments of :func:`fx_decon`.
    """
    return fx_decon(fk_dip_filter(x, dt, dx=dx, **(fk or {})), dt, **(fx or {}))

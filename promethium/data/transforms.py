"""On-the-fly augmentations and task corruptions for seismic patches.

All operators work on numpy arrays with time on the last axis and take an explicit
``np.random.Generator``; the dataset derives that generator from the sample key, so a
run is reproducible whatever the number of workers.

* Augmentations map a clean patch to a clean patch (input and target alike).
* Corruptions map a clean patch to ``(corrupted, mask)``, where ``mask`` is 1 where the
  sample was observed and 0 where it was removed (broadcastable to the patch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from promethium.errors import ConfigError
from promethium.physics.wavelets import ricker


class Augmentation(Protocol):
    """A random clean-to-clean patch transform."""

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


class Corruption(Protocol):
    """A random clean-to-``(corrupted, mask)`` patch transform."""

    def __call__(
        self, x: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]: ...


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ConfigError.for_parameter("p", p, "a probability in [0, 1]")


class Compose:
    """Apply augmentations in order. ``Compose([])`` is the identity."""

    def __init__(self, transforms: Sequence[Augmentation] = ()) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply every transform to ``x`` with the shared generator."""
        for transform in self.transforms:
            x = transform(x, rng)
        return x


class RandomPolarityFlip:
    """Negate the patch with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        _check_probability(p)
        self.p = p

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return ``-x`` with probability ``p``, else ``x``."""
        return -x if rng.random() < self.p else x


class RandomGain:
    """Scale the patch by ``10**(g/20)``, ``g ~ U(db_range)``, with probability ``p``."""

    def __init__(self, p: float = 0.5, db_range: Sequence[float] = (-6.0, 6.0)) -> None:
        _check_probability(p)
        if len(db_range) != 2 or db_range[0] > db_range[1]:
            raise ConfigError.for_parameter("db_range", db_range, "[low, high] with low <= high")
        self.p, self.db_range = p, (float(db_range[0]), float(db_range[1]))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the scaled patch (or ``x`` unchanged)."""
        if rng.random() >= self.p:
            return x
        return (x * 10.0 ** (rng.uniform(*self.db_range) / 20.0)).astype(x.dtype)


class RandomTimeShift:
    """Shift along time by up to ``max_shift`` samples with zero fill (no wrap-around)."""

    def __init__(self, p: float = 0.3, max_shift: int = 16) -> None:
        _check_probability(p)
        if max_shift < 0:
            raise ConfigError.for_parameter("max_shift", max_shift, "an integer >= 0")
        self.p, self.max_shift = p, int(max_shift)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return ``x`` moved by a random signed number of samples, zeros shifted in."""
        if rng.random() >= self.p or self.max_shift == 0:
            return x
        return shift_time(x, int(rng.integers(-self.max_shift, self.max_shift + 1)))


def shift_time(x: np.ndarray, shift: int) -> np.ndarray:
    """Move ``x`` by ``shift`` samples along the last axis (positive = later), zero fill."""
    out = np.zeros_like(x)
    n = x.shape[-1]
    if abs(shift) >= n:
        return out
    if shift >= 0:
        out[..., shift:] = x[..., : n - shift]
    else:
        out[..., :shift] = x[..., -shift:]
    return out


# --------------------------------------------------------------------------- corruptions

MISSING_MODES = ("random", "regular", "gaps")


class MissingTraces:
    """Zero whole traces (all time samples at a spatial position) and return the mask.

    A trace is one position of the non-time axes: the trace axis of a gather patch
    ``(trace, time)``, or an (inline, crossline) column of a cube patch.

    Modes:
        ``random``: exactly ``round(fraction * n_positions)`` positions are removed, drawn
        without replacement over all positions (with ``of_live``: ``fraction`` of the
        traces that are not already all zero, i.e. a further decimation of a record).
        ``regular``: decimation along the trace axis (the one before time): keep every
        ``k``-th trace, ``k = round(1 / (1 - fraction))``, random phase.
        ``gaps``: contiguous gaps of ``gap_width`` traces along the trace axis removing
        about ``fraction``.

    Shapes: ``x: (..., trace, time)`` -> ``(x * mask, mask)`` with ``mask: (..., trace, 1)``.
    """

    def __init__(
        self, fraction: float = 0.5, mode: str = "random", gap_width: int = 4, of_live: bool = False
    ) -> None:
        if not 0.0 <= fraction < 1.0:
            raise ConfigError.for_parameter("fraction", fraction, "[0, 1)")
        if mode not in MISSING_MODES:
            raise ConfigError.for_parameter("mode", mode, ", ".join(MISSING_MODES))
        self.fraction, self.mode, self.gap_width = fraction, mode, max(int(gap_width), 1)
        self.of_live = bool(of_live)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return the corrupted patch and the trace mask."""
        if x.ndim < 2:
            raise ConfigError.about(
                "corruption", "missing traces need 2D or 3D patches (trace axis)"
            )
        positions = x.shape[:-1]
        if self.mode == "random":
            keep = np.ones(int(np.prod(positions)), dtype=bool)
            pool = (
                np.flatnonzero(np.abs(x).reshape(keep.size, -1).max(axis=1) > 0)
                if self.of_live
                else np.arange(keep.size)
            )
            drop = int(round(self.fraction * pool.size))
            keep[rng.choice(pool, size=drop, replace=False)] = False
            keep = keep.reshape(positions)
        else:
            keep = np.broadcast_to(self._keep_along_traces(positions[-1], rng), positions)
        mask = keep[..., None].astype(x.dtype)
        return x * mask, mask

    def _keep_along_traces(self, n: int, rng: np.random.Generator) -> np.ndarray:
        keep = np.ones(n, dtype=bool)
        if self.mode == "regular":
            step = max(int(round(1.0 / (1.0 - self.fraction))), 1)
            keep[:] = False
            keep[int(rng.integers(step)) :: step] = True
        else:
            n_gaps = max(int(round(self.fraction * n / self.gap_width)), 0)
            for start in rng.integers(0, max(n - self.gap_width, 1), n_gaps):
                keep[start : start + self.gap_width] = False
        return keep


def scale_to_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale ``noise`` so that ``10 log10(sum s^2 / sum n^2) == snr_db`` exactly."""
    p_signal, p_noise = float(np.sum(signal**2)), float(np.sum(noise**2))
    if p_signal == 0.0 or p_noise == 0.0:
        return np.zeros_like(noise)
    return noise * np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))


def _draw(value: float | Sequence[float], rng: np.random.Generator) -> float:
    """A fixed value, or a uniform draw from ``[low, high]``."""
    if isinstance(value, int | float):
        return float(value)
    return float(rng.uniform(value[0], value[1]))


class AdditiveNoise:
    """Random noise at a target SNR (dB, measured over the patch), white or band-limited.

    Band-limited noise is white Gaussian noise filtered along time to ``band_hz`` (a
    zero-phase box filter in the frequency domain), the typical swell/wind noise band.

    Args:
        snr_db: target SNR, or ``[low, high]`` to draw one per patch.
        band_hz: ``[f_low, f_high]`` pass band in Hz, or ``None`` for white noise.
        dt: time sampling (s) of the patches (needed for ``band_hz``).
    """

    def __init__(
        self,
        snr_db: float | Sequence[float] = 0.0,
        band_hz: Sequence[float] | None = None,
        dt: float | None = None,
    ) -> None:
        if band_hz is not None and (dt is None or dt <= 0):
            raise ConfigError.about("dt", "band-limited noise needs the sampling dt (s)")
        if band_hz is not None and not 0 <= band_hz[0] < band_hz[1]:
            raise ConfigError.for_parameter("band_hz", band_hz, "[low, high]")
        self.snr_db, self.band_hz, self.dt = snr_db, band_hz, dt

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x + noise, ones)``."""
        noise = rng.standard_normal(x.shape).astype(np.float32)
        if self.band_hz is not None:
            spectrum = np.fft.rfft(noise, axis=-1)
            freqs = np.fft.rfftfreq(x.shape[-1], self.dt)
            spectrum[..., (freqs < self.band_hz[0]) | (freqs > self.band_hz[1])] = 0
            noise = np.fft.irfft(spectrum, n=x.shape[-1], axis=-1).astype(np.float32)
        noise = scale_to_snr(x, noise, _draw(self.snr_db, rng))
        return (x + noise).astype(x.dtype), np.ones((*x.shape[:-1], 1), x.dtype)


class CoherentNoise:
    """Ground-roll-like coherent noise: slow, low-frequency linear events from a source point.

    Each event is a Ricker wavelet on the moveout ``t0 + |x - x_s| / v`` across the trace
    axis (the axis before time), broadcast over any other spatial axes.

    Args:
        snr_db: target SNR of signal to this noise (or ``[low, high]``).
        dt: time sampling (s); ``None``: the store's, bound by the data module
            (:meth:`bind_sampling`).
        dx: trace spacing (m); ``None``: the store's, likewise.
        velocity: apparent velocity range (m/s).
        freq_hz: Ricker peak-frequency range (Hz).
        n_events: events per patch.
    """

    def __init__(
        self,
        snr_db: float | Sequence[float] = 0.0,
        dt: float | None = None,
        dx: float | None = None,
        velocity: Sequence[float] = (250.0, 700.0),
        freq_hz: Sequence[float] = (4.0, 12.0),
        n_events: int = 2,
    ) -> None:
        self.snr_db, self.dt, self.dx = snr_db, None, None
        self.velocity, self.freq_hz, self.n_events = velocity, freq_hz, int(n_events)
        self.bind_sampling(dt, dx, override=True)

    def bind_sampling(self, dt: float | None, dx: float | None, override: bool = False) -> None:
        """Set the sampling where it is unset (or always, with ``override``)."""
        for key, value in (("dt", dt), ("dx", dx)):
            if value is not None and value <= 0:
                raise ConfigError.about(
                    key,
                    f"got {value!r}; coherent noise needs a positive "
                    f"{'time sampling (s)' if key == 'dt' else 'trace spacing (m)'} or null "
                    "(the store's)",
                )
            if value is not None and (override or getattr(self, key) is None):
                setattr(self, key, float(value))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x + coherent noise, ones)``."""
        if self.dt is None or self.dx is None:
            raise ConfigError.about(
                "corruption",
                "CoherentNoise needs dt and dx; set them, or read a store "
                "whose attributes give the trace spacing (its dx is null for index axes)",
            )
        n_traces = x.shape[-2] if x.ndim >= 2 else 1
        offsets = (np.arange(n_traces) - rng.uniform(0, n_traces)) * self.dx
        t = np.arange(x.shape[-1]) * self.dt
        noise = np.zeros((n_traces, x.shape[-1]), np.float32)
        for _ in range(self.n_events):
            arrival = rng.uniform(0, 0.3 * t[-1]) + np.abs(offsets) / _draw(self.velocity, rng)
            noise += ricker(t[None, :] - arrival[:, None], _draw(self.freq_hz, rng)).astype(
                np.float32
            )
        noise = np.broadcast_to(noise if x.ndim >= 2 else noise[0], x.shape)
        noise = scale_to_snr(x, noise, _draw(self.snr_db, rng))
        return (x + noise).astype(x.dtype), np.ones((*x.shape[:-1], 1), x.dtype)


class CorruptionChain:
    """Apply corruptions in order; the masks multiply (a sample is observed if kept by all).

    The ``corruption`` config group builds one (``transforms``, as ``Compose`` for
    augmentation); an empty chain leaves the patch as it is.
    """

    def __init__(self, transforms: Sequence[Corruption] = ()) -> None:
        self.corruptions = list(transforms)

    def bind_sampling(self, dt: float | None, dx: float | None) -> None:
        """Hand the store's sampling to the corruptions that use it."""
        for corruption in self.corruptions:
            if hasattr(corruption, "bind_sampling"):
                corruption.bind_sampling(dt, dx)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return the corrupted patch and the combined mask."""
        mask = np.ones((*x.shape[:-1], 1), x.dtype)
        for corruption in self.corruptions:
            x, m = corruption(x, rng)
            mask = mask * m
        return x, mask


BLIND_SPOT_MODES = ("samples", "traces")


class BlindSpot:
    """Blind spots for self-supervised denoising: the Noise2Void family.

    A few positions of the patch are hidden from the network and replaced by the value
    of a random neighbour within ``radius``; with the loss counting only hidden
    positions (``DataLoss(observed_weight=0)``) the network learns to predict each
    sample from its surroundings, which carries the signal but not the sample's own
    independent noise: it denoises without a clean target.

    Modes:
        ``samples``: Noise2Void (Krull, Buchholz and Jug, CVPR 2019): a ``fraction`` of
        single samples, each replaced by a random other sample within ``radius`` along
        every axis (uniform pixel selection).
        ``traces``: whole traces, for noise that is coherent along a trace (spikes,
        bad-channel noise), as StructN2V masks the noise's structure (Broaddus et al.,
        ISBI 2020); each hidden trace is replaced by a random trace within ``radius``.

    Shapes: ``x: (..., trace, time)`` -> ``(x with blind spots, mask)``; ``mask`` is 0
    at the hidden positions, ``(..., trace, time)`` for samples, ``(..., trace, 1)`` for
    traces.

    Args:
        fraction: share of samples (or traces) hidden per patch, in (0, 0.5].
        mode: ``samples`` or ``traces``.
        radius: largest neighbour offset per axis (>= 1).
    """

    def __init__(self, fraction: float = 0.02, mode: str = "samples", radius: int = 3) -> None:
        if not 0.0 < fraction <= 0.5:
            raise ConfigError.for_parameter("fraction", fraction, "(0, 0.5]")
        if mode not in BLIND_SPOT_MODES:
            raise ConfigError.for_parameter("mode", mode, ", ".join(BLIND_SPOT_MODES))
        if not isinstance(radius, int) or radius < 1:
            raise ConfigError.for_parameter("radius", radius, "an integer >= 1")
        self.fraction, self.mode, self.radius = fraction, mode, radius

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return the patch with blind spots and the mask (0 where hidden)."""
        shape = x.shape if self.mode == "samples" else x.shape[:-1]
        if self.mode == "traces" and x.ndim < 2:
            raise ConfigError.for_parameter(
                "mode", self.mode, "samples (1D patches have no traces)"
            )
        n = max(1, int(round(self.fraction * int(np.prod(shape)))))
        hidden = rng.choice(int(np.prod(shape)), size=n, replace=False)
        where = np.unravel_index(hidden, shape)
        source = tuple(self._neighbour(w, size, rng) for w, size in zip(where, shape, strict=True))
        out = x.copy()
        out[where] = x[source]
        mask = np.ones(shape, dtype=x.dtype)
        mask[where] = 0
        return out, mask if self.mode == "samples" else mask[..., None]

    def _neighbour(self, index: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """Indices moved by a random non-zero offset in ``[-radius, radius]``, kept inside."""
        if size == 1:
            return index
        offset = rng.integers(1, self.radius + 1, size=index.shape) * rng.choice(
            [-1, 1], index.shape
        )
        moved = index + offset
        moved = np.where((moved < 0) | (moved >= size), index - offset, moved)
        return np.clip(moved, 0, size - 1)


def make_corruption(corruption: Corruption | Sequence[Corruption] | None) -> Corruption | None:
    """One corruption from a config value: a list chains its entries; empty means none."""
    if isinstance(corruption, Sequence):
        return CorruptionChain(corruption) if corruption else None
    if isinstance(corruption, CorruptionChain) and not corruption.corruptions:
        return None
    return corruption


def bind_store_sampling(corruption: Corruption | None, attrs: Mapping[str, Any]) -> None:
    """Give corruptions with unset sampling the store's ``dt`` and trace spacing.

    The trace axis is the last non-time axis, so its spacing is the last entry of the
    store's ``dx`` (``None`` for index axes).
    """
    bind = getattr(corruption, "bind_sampling", None)
    if bind is not None:
        bind(attrs.get("dt"), (attrs.get("dx") or [None])[-1])
